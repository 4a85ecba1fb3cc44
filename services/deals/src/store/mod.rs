//! Where deals live: [`DealStore`] and its backends.

#[cfg(test)]
mod contract;
mod pipeline_doc;
mod scylla;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use rapport_platform::{StoreSettings, contact_changes::ContactChangeStore, identity::TenantId};
use rapport_store::{Linked, Outbox, OutboxMessage, StoreError};
use uuid::Uuid;

use crate::domain::{Deal, pipeline::Pipeline};

pub use self::scylla::ScyllaDealStore;
pub use self::sqlite::SqliteDealStore;

/// Storage of deals, scoped by tenant. Deals follow people merged or erased
/// in the contacts service ([`ContactChangeStore`]): a re-link points every
/// deal of a merged person at the survivor; an erasure clears the deals'
/// contact link (the deals themselves, amounts and stages, stay for
/// reporting). Either change bumps the deal's version, so its etag changes.
#[async_trait]
pub trait DealStore: ContactChangeStore {
    /// Stores a new deal and its event atomically, unless its person was merged
    /// or erased (then nothing is stored, see [`Linked`]).
    async fn create(
        &self,
        deal: &Deal,
        event: &OutboxMessage,
        audit: &OutboxMessage,
    ) -> Result<Linked, StoreError>;
    /// The deal of `tenant` with `id`, if any.
    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Deal>, StoreError>;
    /// Every deal of `tenant` linked to `contact_id`, oldest first.
    async fn list_by_contact(
        &self,
        tenant: &TenantId,
        contact_id: Uuid,
    ) -> Result<Vec<Deal>, StoreError>;
    /// Stores `pipeline` (at its version) with `messages` atomically, if
    /// the stored version is still `expected` (0: none stored yet).
    /// `false`, and nothing written, when another change came first.
    async fn put_pipeline(
        &self,
        pipeline: &Pipeline,
        expected: u64,
        messages: &[OutboxMessage],
    ) -> Result<bool, StoreError>;
    /// The stored pipeline of `tenant` with `id`, if any.
    async fn get_pipeline(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Option<Pipeline>, StoreError>;
    /// Every stored pipeline of `tenant`, by id.
    async fn list_pipelines(&self, tenant: &TenantId) -> Result<Vec<Pipeline>, StoreError>;
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
