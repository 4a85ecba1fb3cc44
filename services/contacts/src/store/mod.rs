//! Where contacts live: the [`ContactStore`] trait and its backends.

#[cfg(test)]
mod contract;
mod scylla;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use rapport_platform::{StoreSettings, identity::TenantId};
use rapport_store::{Outbox, OutboxMessage, StoreError};

use crate::domain::{Contact, ContactId};

pub use self::scylla::ScyllaContactStore;
pub use self::sqlite::SqliteContactStore;

/// Storage of contacts. Every method is scoped by tenant.
#[async_trait]
pub trait ContactStore: Send + Sync + 'static {
    /// Stores a new contact and its event atomically: both or neither.
    async fn create(&self, contact: &Contact, event: &OutboxMessage) -> Result<(), StoreError>;
    /// The contact of `tenant` with `id`, if any.
    async fn get(&self, tenant: &TenantId, id: &ContactId) -> Result<Option<Contact>, StoreError>;
    /// The outbox the relay publishes from.
    fn outbox(&self) -> Arc<dyn Outbox>;
}

/// Opens the configured backend, applying pending migrations.
pub async fn open(settings: &StoreSettings) -> Result<Arc<dyn ContactStore>, StoreError> {
    Ok(match settings {
        StoreSettings::Sqlite(path) => Arc::new(SqliteContactStore::open(path).await?),
        StoreSettings::Scylla(s) => Arc::new(ScyllaContactStore::connect(s).await?),
    })
}
