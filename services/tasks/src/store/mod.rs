//! Where tasks live: [`TaskStore`] and its backends.

#[cfg(test)]
mod contract;
mod scylla;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use rapport_platform::{StoreSettings, identity::TenantId};
use rapport_store::{Outbox, OutboxMessage, StoreError};
use uuid::Uuid;

use crate::domain::Task;

pub use self::scylla::ScyllaTaskStore;
pub use self::sqlite::SqliteTaskStore;

/// Storage of tasks, scoped by tenant.
#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Stores a new task and its event atomically.
    async fn create(&self, task: &Task, event: &OutboxMessage) -> Result<(), StoreError>;
    /// The task of `tenant` with `id`, if any.
    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Task>, StoreError>;
    /// The outbox the relay publishes from.
    fn outbox(&self) -> Arc<dyn Outbox>;
}

/// Opens the configured backend, applying pending migrations.
pub async fn open(settings: &StoreSettings) -> Result<Arc<dyn TaskStore>, StoreError> {
    Ok(match settings {
        StoreSettings::Sqlite(path) => Arc::new(SqliteTaskStore::open(path).await?),
        StoreSettings::Scylla(s) => Arc::new(ScyllaTaskStore::connect(s).await?),
    })
}
