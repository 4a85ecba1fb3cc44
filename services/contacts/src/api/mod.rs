//! gRPC handlers: decode, identify the caller, call the domain and store,
//! encode. One file per resource.

mod contacts;

pub use contacts::ContactsApi;
