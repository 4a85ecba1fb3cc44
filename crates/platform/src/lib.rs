//! The shared runtime of Rapport services.
//!
//! Configuration, telemetry, the gRPC server bootstrap and peer channels,
//! Kafka producer and consumers, the outbox relay, identity and the error
//! mapping. Services use these and never each other.

pub mod config;
pub mod error;
pub mod events;
pub mod grpc;
pub mod identity;
pub mod kafka;
pub mod metrics;
pub mod outbox_relay;
pub mod proto_time;
pub mod service;
pub mod telemetry;

pub use service::{LatePeer, PeerDirectory, ServiceContext, StartError, Started, StoreSettings};
