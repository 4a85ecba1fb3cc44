//! gRPC handlers of the tasks service.

mod personal_data;
mod tasks;

pub use personal_data::PersonalDataApi;
pub use tasks::TasksApi;
