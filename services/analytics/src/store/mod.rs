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

/// Storage of the per-tenant figures.
#[async_trait]
pub trait SummaryStore: Send + Sync + 'static {
    /// Counts event `event_id` into `metric` (when given) unless it was
    /// applied before. Atomic: the event is either recorded and counted, or
    /// neither. Returns `false` when the backend saw the event before;
    /// ScyllaDB counts distinct rows and cannot tell, so it returns `true`.
    async fn apply(
        &self,
        tenant: &TenantId,
        event_id: &str,
        metric: Option<Metric>,
    ) -> Result<bool, StoreError>;
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
