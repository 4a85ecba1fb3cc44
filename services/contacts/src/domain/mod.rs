//! Contacts' rules: no I/O, no transport types.

mod contact;
mod email;

pub use contact::{Contact, ContactDraft, ContactError, ContactId};
pub use email::Email;
