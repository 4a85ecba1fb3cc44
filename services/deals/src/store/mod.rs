//! Where deals live: [`DealStore`] and its backends.

#[cfg(test)]
mod contract;
mod scylla;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use rapport_platform::{StoreSettings, identity::TenantId};
use rapport_store::{Outbox, OutboxMessage, StoreError};
use uuid::Uuid;

use crate::domain::Deal;

pub use self::scylla::ScyllaDealStore;
pub use self::sqlite::SqliteDealStore;

/// Storage of deals, scoped by tenant.
#[async_trait]
pub trait DealStore: Send + Sync + 'static {
    /// Stores a new deal and its event atomically.
    async fn create(&self, deal: &Deal, event: &OutboxMessage) -> Result<(), StoreError>;
    /// The deal of `tenant` with `id`, if any.
    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Deal>, StoreError>;
    /// The outbox the relay publishes from.
    fn outbox(&self) -> Arc<dyn Outbox>;
}

/// Opens the configured backend, applying pending migrations.
pub async fn open(settings: &StoreSettings) -> Result<Arc<dyn DealStore>, StoreError> {
    Ok(match settings {
        StoreSettings::Sqlite(path) => Arc::new(SqliteDealStore::open(path).await?),
        StoreSettings::Scylla(s) => Arc::new(ScyllaDealStore::connect(s).await?),
    })
}
