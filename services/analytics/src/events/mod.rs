//! What analytics consumes: every published event, applied once.
//!
//! Erasure (`ContactErased`) and merges (`ContactsMerged`) of people need no
//! work here. Analytics keeps no per-contact data: only per-tenant counts of
//! created records (`tenant_counts`, or `counted_events` rows keyed by event
//! id on ScyllaDB) and the ids of applied events, none of which identifies a
//! person. Counts are of records *created*, so a merge or an erasure leaves
//! them as they are. Both events are recorded as applied like any other.
//! Should analytics ever keep figures per contact, `ContactErased` must
//! delete them (see docs/adr/0110-relink-and-erasure-by-events.md).

use std::sync::Arc;

use async_trait::async_trait;
use rapport_platform::{
    identity::TenantId,
    kafka::{ConsumedEvent, EventHandler, HandleError},
};

use crate::{
    domain::Metric,
    store::{CountedEvent, SummaryStore},
};

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

/// What `event` counts, or `None` when it is not ours to count.
fn counted(event: &ConsumedEvent) -> Option<CountedEvent> {
    let env = &event.envelope;
    let Ok(tenant) = TenantId::parse(&env.tenant_id) else {
        // Applying it as a no-op keeps the stream moving.
        tracing::warn!(parent: &event.span, event_id = %env.event_id, "event without a valid tenant ignored");
        return None;
    };
    Some(CountedEvent {
        tenant,
        event_id: env.event_id.clone(),
        metric: Metric::counted_by(&env.event_type),
    })
}

#[async_trait]
impl EventHandler for Projector {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandleError> {
        self.handle_batch(std::slice::from_ref(event)).await
    }

    /// The whole batch in one store transaction.
    async fn handle_batch(&self, events: &[ConsumedEvent]) -> Result<(), HandleError> {
        let counted: Vec<CountedEvent> = events.iter().filter_map(counted).collect();
        let total = counted.len();
        let new = self
            .store
            .apply_all(counted)
            .await
            .map_err(|e| HandleError(e.to_string()))?;
        if new < total {
            tracing::debug!(duplicates = total - new, "duplicate events ignored");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prost::Name;
    use rapport_platform::{events::topics, kafka::ConsumedEvent};
    use rapport_proto::events::v1::{ContactCreated, ContactErased, ContactsMerged, EventEnvelope};

    use super::*;
    use crate::store::SqliteSummaryStore;

    fn consumed<M: Name>(tenant: &str, payload: &M) -> ConsumedEvent {
        ConsumedEvent {
            topic: topics::CONTACTS.into(),
            partition: 0,
            offset: 0,
            key: format!("{tenant}/x"),
            envelope: EventEnvelope {
                event_id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tenant.into(),
                event_type: M::full_name(),
                payload: Some(prost_types::Any::from_msg(payload).unwrap()),
                ..Default::default()
            },
            span: tracing::Span::none(),
        }
    }

    async fn store() -> (tempfile::TempDir, Arc<SqliteSummaryStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteSummaryStore::open(&dir.path().join("analytics.db"))
            .await
            .unwrap();
        (dir, Arc::new(store))
    }

    #[tokio::test]
    async fn a_batch_delivered_again_changes_nothing() {
        let (_dir, store) = store().await;
        let projector = Projector::new(store.clone());
        let batch: Vec<ConsumedEvent> = (0..5)
            .map(|_| consumed("acme", &ContactCreated::default()))
            .chain([consumed("globex", &ContactCreated::default())])
            .collect();
        projector.handle_batch(&batch).await.unwrap();
        // As after `kill -9` between the apply and the offset commit: the
        // same batch, and a batch overlapping it, again.
        projector.handle_batch(&batch).await.unwrap();
        projector.handle_batch(&batch[3..]).await.unwrap();
        let acme = TenantId::parse("acme").unwrap();
        let globex = TenantId::parse("globex").unwrap();
        assert_eq!(store.summary(&acme).await.unwrap().contacts, 5);
        assert_eq!(store.summary(&globex).await.unwrap().contacts, 1);
    }

    #[tokio::test]
    async fn erasures_and_merges_are_applied_without_changing_figures() {
        let (_dir, store) = store().await;
        let projector = Projector::new(store.clone());
        let acme = TenantId::parse("acme").unwrap();
        projector
            .handle(&consumed("acme", &ContactCreated::default()))
            .await
            .unwrap();
        let before = store.summary(&acme).await.unwrap();
        let erased = consumed(
            "acme",
            &ContactErased {
                contact_id: uuid::Uuid::now_v7().to_string(),
                erasure_id: "audit-1".into(),
            },
        );
        let merged = consumed(
            "acme",
            &ContactsMerged {
                survivor_id: uuid::Uuid::now_v7().to_string(),
                merged_ids: vec![uuid::Uuid::now_v7().to_string()],
                object_type: "person".into(),
            },
        );
        for event in [&erased, &merged, &erased] {
            projector.handle(event).await.unwrap();
        }
        assert_eq!(store.summary(&acme).await.unwrap(), before);
        // Recorded as applied: applying again reports a duplicate.
        assert!(
            !store
                .apply(&acme, &erased.envelope.event_id, None)
                .await
                .unwrap()
        );
    }
}
