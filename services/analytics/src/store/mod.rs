//! Where analytics keeps its figures: [`SummaryStore`] and its backends.

#[cfg(test)]
mod contract;
mod scylla;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use rapport_platform::{StoreSettings, identity::TenantId};
use rapport_store::StoreError;

use crate::domain::{Metric, Summary};

pub use self::scylla::ScyllaSummaryStore;
pub use self::sqlite::SqliteSummaryStore;

/// One consumed event as analytics counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountedEvent {
    /// The event's tenant.
    pub tenant: TenantId,
    /// The event id (applied once).
    pub event_id: String,
    /// What it counts towards, if anything.
    pub metric: Option<Metric>,
}

/// Storage of the per-tenant figures.
#[async_trait]
pub trait SummaryStore: Send + Sync + 'static {
    /// Counts each event into its metric (when it has one) unless it was
    /// applied before. On SQLite the whole batch is recorded and counted in
    /// one transaction, or none of it; on ScyllaDB each event is a distinct
    /// row written idempotently, so a batch retried after a partial failure
    /// counts each event once. Returns how many events were new; ScyllaDB
    /// cannot tell and reports every event as new.
    async fn apply_all(&self, events: Vec<CountedEvent>) -> Result<usize, StoreError>;

    /// [`SummaryStore::apply_all`] of one event; `false` when it was
    /// applied before.
    async fn apply(
        &self,
        tenant: &TenantId,
        event_id: &str,
        metric: Option<Metric>,
    ) -> Result<bool, StoreError> {
        let event = CountedEvent {
            tenant: tenant.clone(),
            event_id: event_id.to_owned(),
            metric,
        };
        Ok(self.apply_all(vec![event]).await? == 1)
    }
    /// The tenant's figures.
    async fn summary(&self, tenant: &TenantId) -> Result<Summary, StoreError>;
}

/// Opens the configured backend, applying pending migrations.
pub async fn open(settings: &StoreSettings) -> Result<Arc<dyn SummaryStore>, StoreError> {
    Ok(match settings {
        StoreSettings::Sqlite(path) => Arc::new(SqliteSummaryStore::open(path).await?),
        StoreSettings::Scylla(s) => Arc::new(ScyllaSummaryStore::connect(s).await?),
    })
}
