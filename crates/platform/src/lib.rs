//! The shared runtime of Rapport services.
//!
//! Configuration, telemetry, the gRPC server bootstrap and peer channels,
//! Kafka producer and consumers, the outbox relay, identity and the error
//! mapping; and what every service holding records of people shares:
//! following merges and erasures of people ([`contact_changes`]) and the
//! data-protection export ([`personal_data`]). Services use these and never
//! each other.

pub mod audit;
pub mod config;
pub mod contact_changes;
pub mod error;
pub mod events;
pub mod grpc;
pub mod identity;
pub mod kafka;
pub mod lease;
pub mod metrics;
pub mod outbox_relay;
pub mod personal_data;
pub mod proto_time;
pub mod service;
pub mod telemetry;
pub mod text;

pub use service::{LatePeer, PeerDirectory, ServiceContext, StartError, Started, StoreSettings};
