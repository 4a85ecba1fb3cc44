//! Indexes the audit trail: consumes `rapport.audit.v1` (every service's
//! entries, written in the same transaction as their change) into the
//! gateway's store for `/v1/audit`, and deletes entries past retention.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::Utc;
use rapport_platform::{
    events::{payload_of, topics},
    kafka::{ConsumedEvent, EventHandler, HandleError},
    proto_time::from_timestamp,
};
use rapport_proto::events::v1::AuditEntry;
use tokio_util::sync::CancellationToken;

use crate::store::{AuditRecord, AuditStore};

/// Consumer group of the audit index.
pub(crate) const CONSUMER_GROUP: &str = "rapport-gateway-audit";
/// How often retention runs.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Applies consumed audit entries to the store.
pub(crate) struct AuditIndexer {
    store: Arc<dyn AuditStore>,
}

impl AuditIndexer {
    /// An indexer writing to `store`.
    pub(crate) fn new(store: Arc<dyn AuditStore>) -> Self {
        AuditIndexer { store }
    }
}

/// The stored form of a consumed entry; `None` for anything else on the
/// topic (a newer event type this release does not know).
fn record(event: &ConsumedEvent) -> Option<AuditRecord> {
    if event.topic != topics::AUDIT {
        return None;
    }
    let e = &event.envelope;
    let entry: AuditEntry = payload_of(e)?;
    Some(AuditRecord {
        tenant: rapport_platform::identity::TenantId::parse(&e.tenant_id).ok()?,
        id: e.event_id.clone(),
        time: e
            .occurred_at
            .as_ref()
            .and_then(from_timestamp)
            .unwrap_or_else(Utc::now),
        actor: e.principal.clone(),
        source: e.source.clone(),
        entry,
    })
}

#[async_trait]
impl EventHandler for AuditIndexer {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandleError> {
        self.handle_batch(std::slice::from_ref(event)).await
    }

    async fn handle_batch(&self, events: &[ConsumedEvent]) -> Result<(), HandleError> {
        let records: Vec<AuditRecord> = events.iter().filter_map(record).collect();
        if records.is_empty() {
            return Ok(());
        }
        self.store
            .append(&records)
            .await
            .map_err(|e| HandleError(format!("audit index: {e}")))
    }
}

/// Deletes entries older than `retention`, hourly, until shutdown.
pub(crate) async fn run_retention(
    store: Arc<dyn AuditStore>,
    retention: chrono::Duration,
    shutdown: CancellationToken,
) -> Result<(), String> {
    loop {
        match store.purge(Utc::now() - retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "audit entries past retention deleted"),
            Err(e) => tracing::warn!(error = %e, "audit retention failed; retrying next round"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(PURGE_EVERY) => {}
        }
    }
}
