//! gRPC plumbing: the server bootstrap every service uses and client
//! channels to peers.

mod client;
mod layer;
mod server;

pub use client::{PeerChannel, PeerInterceptor, connect_peer};
pub use layer::{RpcLayer, RpcService};
pub use server::{GrpcServer, ServeError};
