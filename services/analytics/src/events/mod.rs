//! What analytics consumes: every published event, applied once.

use std::sync::Arc;

use async_trait::async_trait;
use rapport_platform::{
    identity::TenantId,
    kafka::{ConsumedEvent, EventHandler, HandleError},
};

use crate::{domain::Metric, store::SummaryStore};

/// Applies events to the summary store.
pub struct Projector {
    store: Arc<dyn SummaryStore>,
}

impl Projector {
    /// A projector writing to `store`.
    pub fn new(store: Arc<dyn SummaryStore>) -> Self {
        Projector { store }
    }
}

#[async_trait]
impl EventHandler for Projector {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandleError> {
        let env = &event.envelope;
        let Ok(tenant) = TenantId::parse(&env.tenant_id) else {
            // Not ours to count; applying it as a no-op keeps the stream moving.
            tracing::warn!(event_id = %env.event_id, "event without a valid tenant ignored");
            return Ok(());
        };
        let new = self
            .store
            .apply(&tenant, &env.event_id, Metric::counted_by(&env.event_type))
            .await
            .map_err(|e| HandleError(e.to_string()))?;
        if !new {
            tracing::debug!(event_id = %env.event_id, "duplicate event ignored");
        }
        Ok(())
    }
}
