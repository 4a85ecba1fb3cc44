//! Where interactions live: the [`InteractionStore`] trait and its backends.

#[cfg(test)]
mod contract;
mod scylla;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use rapport_platform::{StoreSettings, contact_changes::ContactChangeStore, identity::TenantId};
use rapport_store::{Fate, Linked, Outbox, OutboxMessage, PageToken, StoreError};
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

/// Storage of interactions. Every method is scoped by tenant. Interactions
/// follow people merged or erased in the contacts service
/// ([`ContactChangeStore`]): a re-link moves every interaction of a merged
/// person to the survivor's timeline (keeping `occurred_at`, so the timeline
/// stays in time order); an erasure deletes the person's interactions and
/// writes a tombstone per interaction to the outbox (see
/// [`crate::events::interaction_erased`]).
#[async_trait]
pub trait InteractionStore: ContactChangeStore {
    /// Stores an interaction and its event atomically, unless its person
    /// was merged or erased (then nothing is stored, see [`Linked`]).
    async fn create(
        &self,
        i: &Interaction,
        event: &OutboxMessage,
        audit: &OutboxMessage,
    ) -> Result<Linked, StoreError>;
    /// Where interactions of person `contact` go now, as far as the merges
    /// and erasures comms has applied tell.
    async fn contact_fate(&self, tenant: &TenantId, contact: Uuid) -> Result<Fate, StoreError>;
    /// A page of the contact's timeline, newest first.
    async fn timeline(
        &self,
        tenant: &TenantId,
        contact_id: Uuid,
        size: PageSize,
        token: Option<PageToken>,
    ) -> Result<TimelinePage, StoreError>;
    /// Every interaction of the contact, newest first (the personal-data
    /// export): the timeline, read to its end.
    async fn contact_history(
        &self,
        tenant: &TenantId,
        contact_id: Uuid,
    ) -> Result<Vec<Interaction>, StoreError> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let size = PageSize::parse(PageSize::MAX as i32).expect("the maximum is valid");
            let page = self.timeline(tenant, contact_id, size, token).await?;
            all.extend(page.interactions);
            match page.next {
                Some(next) => token = Some(next),
                None => return Ok(all),
            }
        }
    }
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
