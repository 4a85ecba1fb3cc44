//! Generated protobuf messages and gRPC stubs for every Rapport API, plus the
//! encoded file descriptor set (for gRPC reflection and schema checks).
//!
//! Nothing but generated code lives here, so every service can depend on it
//! without pulling in another service.
#![allow(missing_docs, unreachable_pub, clippy::all)]

pub mod event_schema;

/// The encoded `FileDescriptorSet` of every `.proto` in `proto/`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/rapport_descriptor.bin"));

/// `rapport.common.v1`: money, audit stamps, paging.
pub mod common {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("rapport.common.v1");
    }
}

/// `rapport.events.v1`: the event envelope and payloads published to Kafka.
pub mod events {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("rapport.events.v1");
    }
}

/// `rapport.contacts.v1`.
pub mod contacts {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("rapport.contacts.v1");
    }
}

/// `rapport.deals.v1`.
pub mod deals {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("rapport.deals.v1");
    }
}

/// `rapport.tasks.v1`.
pub mod tasks {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("rapport.tasks.v1");
    }
}

/// `rapport.comms.v1`.
pub mod comms {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("rapport.comms.v1");
    }
}

/// `rapport.analytics.v1`.
pub mod analytics {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("rapport.analytics.v1");
    }
}
