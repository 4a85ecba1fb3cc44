//! Where interactions live: the [`InteractionStore`] trait and its backends.

#[cfg(test)]
mod contract;
mod scylla;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use rapport_platform::{StoreSettings, identity::TenantId};
use rapport_store::{Outbox, OutboxMessage, PageToken, StoreError};
use uuid::Uuid;

use crate::domain::{Interaction, PageSize};

pub use self::scylla::ScyllaInteractionStore;
pub use self::sqlite::SqliteInteractionStore;

/// One page of a timeline, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimelinePage {
    /// The interactions.
    pub interactions: Vec<Interaction>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<PageToken>,
}

/// Storage of interactions. Every method is scoped by tenant.
#[async_trait]
pub trait InteractionStore: Send + Sync + 'static {
    /// Stores an interaction and its event atomically.
    async fn create(&self, i: &Interaction, event: &OutboxMessage) -> Result<(), StoreError>;
    /// A page of the contact's timeline, newest first.
    async fn timeline(
        &self,
        tenant: &TenantId,
        contact_id: Uuid,
        size: PageSize,
        token: Option<PageToken>,
    ) -> Result<TimelinePage, StoreError>;
    /// The outbox the relay publishes from.
    fn outbox(&self) -> Arc<dyn Outbox>;
}

/// Opens the configured backend, applying pending migrations.
pub async fn open(settings: &StoreSettings) -> Result<Arc<dyn InteractionStore>, StoreError> {
    Ok(match settings {
        StoreSettings::Sqlite(path) => Arc::new(SqliteInteractionStore::open(path).await?),
        StoreSettings::Scylla(s) => Arc::new(ScyllaInteractionStore::connect(s).await?),
    })
}
