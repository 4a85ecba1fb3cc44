//! gRPC handlers of the tasks service.

mod tasks;

pub use tasks::TasksApi;
