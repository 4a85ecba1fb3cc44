//! gRPC handlers of the comms service.

mod interactions;
mod personal_data;

pub use interactions::CommsApi;
pub use personal_data::PersonalDataApi;
