//! gRPC handlers of the deals service.

mod deals;
mod personal_data;

pub use deals::DealsApi;
pub use personal_data::PersonalDataApi;
