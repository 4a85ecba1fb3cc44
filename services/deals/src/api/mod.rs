//! gRPC handlers of the deals service.

mod deals;
mod personal_data;
mod pipelines;

pub use deals::DealsApi;
pub use personal_data::PersonalDataApi;
