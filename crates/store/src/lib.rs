//! Store plumbing shared by Rapport services.
//!
//! Each service defines its own store trait (in its `store` module) with an
//! embedded SQLite backend and a ScyllaDB backend. What those backends have in
//! common lives here: opening databases and applying migrations, the
//! transactional outbox tables, and the opaque page-token codec.

pub mod contact_fate;
pub mod error;
pub mod outbox;
pub mod page_token;
pub mod scylla;
pub mod scylla_contact_fates;
pub mod scylla_outbox;
pub mod sqlite;

pub use contact_fate::{Fate, Linked};
pub use error::StoreError;
pub use outbox::{Outbox, OutboxMessage, PendingMessage};
pub use page_token::PageToken;
