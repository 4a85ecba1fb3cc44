//! gRPC handlers of the analytics service.

mod summary;

pub use summary::{AnalyticsApi, AnalyticsError};
