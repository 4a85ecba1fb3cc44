//! Indexes the audit trail: consumes `rapport.audit.v1` (every service's
//! entries, written in the same transaction as their change) into the
//! gateway's store for `/v1/audit`, and deletes entries past retention.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::Utc;
use rapport_platform::{
    events::{payload_of, sources, topics},
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

/// The resources each service writes entries about (`""` = exactly the
/// name), and which of them it may erase. An entry claiming another
/// service's records, or an erasure from a service that erases nothing, is
/// not what Rapport publishes, signed or not: it is refused.
const OWNED: &[(&str, &[&str], &[&str])] = &[
    (
        sources::CONTACTS,
        &[
            "contacts/",
            "companies/",
            "customFields/",
            "contactSettings",
            "imports/",
            "exports/",
        ],
        &["contacts/"],
    ),
    (sources::COMMS, &["interactions/"], &["interactions/"]),
    (sources::DEALS, &["deals/", "pipelines/"], &[]),
    (sources::TASKS, &["tasks/"], &[]),
    (sources::GATEWAY, &["apiKeys/", "roles/", "users/"], &[]),
];

/// Why a consumed entry is not one Rapport would have written, if it is not.
fn refusal(source: &str, aggregate_id: &str, entry: &AuditEntry) -> Option<String> {
    if aggregate_id != entry.resource {
        return Some(format!(
            "keyed for {aggregate_id:?} but about {:?}",
            entry.resource
        ));
    }
    let covers = |prefixes: &[&str]| {
        prefixes.iter().any(|p| {
            entry.resource == p.trim_end_matches('/')
                || (p.ends_with('/') && entry.resource.starts_with(p))
        })
    };
    let Some((_, owned, erases)) = OWNED.iter().find(|(s, _, _)| *s == source) else {
        return Some(format!("{source:?} writes no audit entries"));
    };
    if !covers(owned) {
        return Some(format!("{source} does not own {:?}", entry.resource));
    }
    if entry.change == "erased" && !covers(erases) {
        return Some(format!("{source} does not erase {:?}", entry.resource));
    }
    None
}

/// The stored form of a consumed entry; `None` for anything else on the
/// topic (a newer event type this release does not know) and for entries
/// that no Rapport service would write.
fn record(event: &ConsumedEvent) -> Option<AuditRecord> {
    if event.topic != topics::AUDIT {
        return None;
    }
    let e = &event.envelope;
    let entry: AuditEntry = payload_of(e)?;
    if let Some(why) = refusal(&e.source, &e.aggregate_id, &entry) {
        tracing::error!(event_id = %e.event_id, source = %e.source, reason = %why, "audit entry refused");
        return None;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(resource: &str, change: &str) -> AuditEntry {
        AuditEntry {
            resource: resource.into(),
            change: change.into(),
            ..AuditEntry::default()
        }
    }

    #[test]
    fn entries_are_taken_only_from_the_service_that_owns_the_record() {
        let ok = |source: &str, id: &str, resource: &str, change: &str| {
            refusal(source, id, &entry(resource, change)).is_none()
        };
        assert!(ok(sources::CONTACTS, "contacts/c", "contacts/c", "erased"));
        assert!(ok(
            sources::CONTACTS,
            "contactSettings",
            "contactSettings",
            "updated"
        ));
        assert!(ok(
            sources::COMMS,
            "interactions/i",
            "interactions/i",
            "erased"
        ));
        assert!(ok(sources::DEALS, "deals/d", "deals/d", "created"));
        assert!(ok(
            sources::GATEWAY,
            "users/ada/sessions/s",
            "users/ada/sessions/s",
            "updated"
        ));
        // Keyed for one record, about another.
        assert!(!ok(
            sources::CONTACTS,
            "contacts/a",
            "contacts/b",
            "updated"
        ));
        // Another service's records, or an erasure it never makes.
        assert!(!ok(sources::DEALS, "contacts/c", "contacts/c", "erased"));
        assert!(!ok(sources::DEALS, "deals/d", "deals/d", "erased"));
        assert!(!ok(sources::COMMS, "contacts/c", "contacts/c", "updated"));
        assert!(!ok(
            sources::CONTACTS,
            "contactSettingsX",
            "contactSettingsX",
            "updated"
        ));
        assert!(!ok("/someone/else", "deals/d", "deals/d", "created"));
    }
}
