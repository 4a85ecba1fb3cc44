//! gRPC handlers of the deals service.

mod deals;

pub use deals::DealsApi;
