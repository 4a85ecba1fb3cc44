//! What the comms service consumes: `ContactsMerged` and `ContactErased` from
//! `rapport.contacts.v1`, applied once per event id.

use std::sync::Arc;

use async_trait::async_trait;
use rapport_platform::{
    events::payload_of,
    identity::TenantId,
    kafka::{ConsumedEvent, EventHandler, HandleError},
    outbox_relay::OutboxSignal,
};
use rapport_proto::events::v1::{ContactErased, ContactsMerged, EventEnvelope};
use uuid::Uuid;

use crate::{domain::ContactChange, store::InteractionStore};

/// `object_type` of merged people (companies are merged as "company").
const PERSON: &str = "person";

/// What a contacts event asks of this service, if anything. Merges of
/// companies and every other event type ask nothing; ids that are not UUIDs
/// cannot match a stored record, so they are dropped.
pub fn contact_change(envelope: &EventEnvelope) -> Option<ContactChange> {
    if let Some(merged) = payload_of::<ContactsMerged>(envelope) {
        if merged.object_type != PERSON {
            return None;
        }
        let survivor = Uuid::parse_str(&merged.survivor_id).ok()?;
        let ids = merged
            .merged_ids
            .iter()
            .filter_map(|id| Uuid::parse_str(id).ok());
        return ContactChange::relink(survivor, ids);
    }
    let erased = payload_of::<ContactErased>(envelope)?;
    let contact = Uuid::parse_str(&erased.contact_id).ok()?;
    Some(ContactChange::Erase { contact })
}

/// Applies contacts events to the comms store.
pub struct ContactEventHandler {
    store: Arc<dyn InteractionStore>,
    outbox: OutboxSignal,
}

impl ContactEventHandler {
    /// A handler writing to `store`; `outbox` wakes the relay after an
    /// erasure wrote tombstones.
    pub fn new(store: Arc<dyn InteractionStore>, outbox: OutboxSignal) -> Self {
        ContactEventHandler { store, outbox }
    }
}

#[async_trait]
impl EventHandler for ContactEventHandler {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandleError> {
        let env = &event.envelope;
        let Some(change) = contact_change(env) else {
            return Ok(());
        };
        let Ok(tenant) = TenantId::parse(&env.tenant_id) else {
            // No tenant, no records to touch; a no-op keeps the stream moving.
            tracing::warn!(event_id = %env.event_id, "contacts event without a valid tenant ignored");
            return Ok(());
        };
        let new = self
            .store
            .apply_contact_change(&tenant, &env.event_id, &change)
            .await
            .map_err(|e| HandleError(e.to_string()))?;
        if new {
            self.outbox.notify();
            tracing::info!(event_id = %env.event_id, tenant = %tenant, change = ?change, "contact change applied");
        } else {
            tracing::debug!(event_id = %env.event_id, "duplicate contacts event ignored");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prost::Name;
    use rapport_proto::events::v1::ContactCreated;

    use super::*;

    pub(crate) fn envelope<M: Name>(tenant: &str, payload: &M) -> EventEnvelope {
        EventEnvelope {
            event_id: Uuid::now_v7().to_string(),
            tenant_id: tenant.into(),
            event_type: M::full_name(),
            payload: Some(prost_types::Any::from_msg(payload).unwrap()),
            ..Default::default()
        }
    }

    pub(crate) fn consumed(envelope: EventEnvelope) -> ConsumedEvent {
        ConsumedEvent {
            topic: rapport_platform::events::topics::CONTACTS.into(),
            partition: 0,
            offset: 0,
            key: format!("{}/x", envelope.tenant_id),
            envelope,
        }
    }

    pub(crate) fn merged(survivor: Uuid, merged: &[Uuid], object_type: &str) -> ContactsMerged {
        ContactsMerged {
            survivor_id: survivor.to_string(),
            merged_ids: merged.iter().map(Uuid::to_string).collect(),
            object_type: object_type.into(),
        }
    }

    #[test]
    fn person_merges_and_erasures_are_changes() {
        let (s, a) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            contact_change(&envelope("acme", &merged(s, &[a], "person"))),
            ContactChange::relink(s, [a])
        );
        let erased = ContactErased {
            contact_id: a.to_string(),
            erasure_id: "e1".into(),
        };
        assert_eq!(
            contact_change(&envelope("acme", &erased)),
            Some(ContactChange::Erase { contact: a })
        );
    }

    #[test]
    fn company_merges_and_other_events_ask_nothing() {
        let (s, a) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            contact_change(&envelope("acme", &merged(s, &[a], "company"))),
            None
        );
        assert_eq!(
            contact_change(&envelope("acme", &ContactCreated::default())),
            None
        );
        let bad = ContactErased {
            contact_id: "not-a-uuid".into(),
            erasure_id: String::new(),
        };
        assert_eq!(contact_change(&envelope("acme", &bad)), None);
    }
}

#[cfg(test)]
mod handler_tests {
    use chrono::{SubsecRound, Utc};
    use rapport_platform::identity::UserId;
    use rapport_store::OutboxMessage;

    use super::tests::{consumed, envelope};
    use super::*;
    use crate::{
        domain::{Channel, Direction, InteractionDraft, PageSize},
        store::{InteractionStore, SqliteInteractionStore},
    };

    #[tokio::test]
    async fn erases_once_and_only_in_the_event_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteInteractionStore::open(&dir.path().join("comms.db"))
                .await
                .unwrap(),
        );
        let ada = Uuid::now_v7();
        for tenant in ["acme", "globex"] {
            let now = Utc::now().trunc_subsecs(3);
            let i = InteractionDraft {
                contact_id: ada.to_string(),
                channel: Some(Channel::Note),
                direction: Some(Direction::Internal),
                occurred_at: Some(now),
                summary: "Prefers calls after 5pm".into(),
            }
            .validate(
                TenantId::parse(tenant).unwrap(),
                UserId::parse("alice").unwrap(),
                now,
            )
            .unwrap();
            let event = OutboxMessage {
                event_id: Uuid::now_v7().to_string(),
                topic: "rapport.interactions.v1".into(),
                key: "k".into(),
                payload: vec![1],
                headers: vec![],
            };
            store.create(&i, &event).await.unwrap();
        }
        let signal = OutboxSignal::default();
        let handler = ContactEventHandler::new(store.clone(), signal);
        let erased = ContactErased {
            contact_id: ada.to_string(),
            erasure_id: "audit-1".into(),
        };
        let event = consumed(envelope("acme", &erased));
        handler.handle(&event).await.unwrap();
        let backlog = store.outbox().backlog().await.unwrap();
        handler.handle(&event).await.unwrap();
        assert_eq!(store.outbox().backlog().await.unwrap(), backlog);
        let size = PageSize::parse(10).unwrap();
        for (tenant, left) in [("acme", 0), ("globex", 1)] {
            let tenant = TenantId::parse(tenant).unwrap();
            let page = store.timeline(&tenant, ada, size, None).await.unwrap();
            assert_eq!(page.interactions.len(), left, "{tenant}");
        }
    }
}
