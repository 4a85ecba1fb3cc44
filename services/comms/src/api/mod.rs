//! gRPC handlers of the comms service.

mod interactions;

pub use interactions::CommsApi;
