//! Where tasks live: [`TaskStore`] and its backends.

#[cfg(test)]
mod contract;
mod scylla;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use rapport_platform::{StoreSettings, contact_changes::ContactChangeStore, identity::TenantId};
use rapport_store::{Linked, Outbox, OutboxMessage, StoreError};
use uuid::Uuid;

use crate::domain::Task;

pub use self::scylla::ScyllaTaskStore;
pub use self::sqlite::SqliteTaskStore;

/// Storage of tasks, scoped by tenant. Tasks follow people merged or erased
/// in the contacts service ([`ContactChangeStore`]): a re-link points every
/// task of a merged person at the survivor; an erasure clears the tasks'
/// contact link (the tasks themselves stay: they are staff's work, not the
/// person's data). Either change bumps the task's version, so its etag
/// changes.
#[async_trait]
pub trait TaskStore: ContactChangeStore {
    /// Stores a new task and its event atomically, unless its person was merged
    /// or erased (then nothing is stored, see [`Linked`]).
    async fn create(
        &self,
        task: &Task,
        event: &OutboxMessage,
        audit: &OutboxMessage,
    ) -> Result<Linked, StoreError>;
    /// The task of `tenant` with `id`, if any.
    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Task>, StoreError>;
    /// Every task of `tenant` linked to `contact_id`, oldest first.
    async fn list_by_contact(
        &self,
        tenant: &TenantId,
        contact_id: Uuid,
    ) -> Result<Vec<Task>, StoreError>;
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
