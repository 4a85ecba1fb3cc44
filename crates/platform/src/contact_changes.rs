//! Following people merged or erased in the contacts service.
//!
//! Services whose records point at people (comms, deals, tasks) consume
//! `ContactsMerged` and `ContactErased` from `rapport.contacts.v1`. All of
//! that but the service's own storage lives here: the [`ContactChange`] an
//! event asks for, the [`ContactChangeHandler`] that applies it through the
//! service's [`ContactChangeStore`] once per event id and only in the event's
//! tenant, and [`spawn_consumer`] that runs the handler in the service's
//! consumer group. A service implements [`ContactChangeStore`] (what a
//! re-link and an erasure do to its records) and names its group.

use std::sync::Arc;

use async_trait::async_trait;
use prost::Name;
use rapport_proto::events::v1::{ContactErased, ContactsMerged, EventEnvelope};
use rapport_store::{
    Linked, StoreError,
    sqlite::{
        SqliteDb,
        contact_fates::{record_erasure, record_relink},
        first_application, repoint_contact_links,
    },
};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{
    ServiceContext,
    events::{payload_of, topics},
    identity::TenantId,
    kafka::{ConsumedEvent, EventHandler, HandleError},
    outbox_relay::OutboxSignal,
};

/// `object_type` of merged people (companies are merged as "company").
const PERSON: &str = "person";

/// A change to people that records pointing at them must follow, decoded
/// from the contacts service's `ContactsMerged` and `ContactErased` events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContactChange {
    /// People were merged: every record of a `merged` id now belongs to
    /// `survivor`.
    Relink {
        /// The person that remains.
        survivor: Uuid,
        /// The people merged into it (never empty, never `survivor`).
        merged: Vec<Uuid>,
    },
    /// A person was erased (data protection).
    Erase {
        /// The erased person.
        contact: Uuid,
    },
}

impl ContactChange {
    /// A re-link of `merged` into `survivor`. Drops the survivor itself and
    /// repeated ids (re-linking the survivor onto itself would move its own
    /// history away on backends that copy rows); `None` when nothing is left.
    pub fn relink(survivor: Uuid, merged: impl IntoIterator<Item = Uuid>) -> Option<Self> {
        let mut ids: Vec<Uuid> = Vec::new();
        for id in merged {
            if id != survivor && !ids.contains(&id) {
                ids.push(id);
            }
        }
        (!ids.is_empty()).then_some(ContactChange::Relink {
            survivor,
            merged: ids,
        })
    }

    /// What a contacts event asks of the records pointing at people, if
    /// anything. Merges of companies and every other event type ask
    /// nothing; ids that are not UUIDs cannot match a stored record, so they
    /// are dropped.
    pub fn from_event(envelope: &EventEnvelope) -> Option<Self> {
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
}

/// A store whose records point at people and follow their changes.
#[async_trait]
pub trait ContactChangeStore: Send + Sync + 'static {
    /// Applies `change` to the records of `tenant` (and no other tenant's)
    /// and records `event_id` as applied in `tenant`; what a re-link and an
    /// erasure do to the records is the service's own. Returns `false`,
    /// having changed nothing, when `event_id` was applied before.
    async fn apply_contact_change(
        &self,
        tenant: &TenantId,
        event_id: &str,
        change: &ContactChange,
    ) -> Result<bool, StoreError>;
}

/// Applies contacts events to a [`ContactChangeStore`]: each event's change,
/// in the event's tenant, once per event id.
pub struct ContactChangeHandler {
    store: Arc<dyn ContactChangeStore>,
    outbox: Option<OutboxSignal>,
}

impl ContactChangeHandler {
    /// A handler writing to `store`.
    pub fn new(store: Arc<dyn ContactChangeStore>) -> Self {
        ContactChangeHandler {
            store,
            outbox: None,
        }
    }

    /// Also wakes the outbox relay through `outbox` after each applied
    /// change: for stores whose changes write events (erasure tombstones).
    pub fn waking(self, outbox: OutboxSignal) -> Self {
        ContactChangeHandler {
            outbox: Some(outbox),
            ..self
        }
    }
}

#[async_trait]
impl EventHandler for ContactChangeHandler {
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandleError> {
        let env = &event.envelope;
        let Some(change) = ContactChange::from_event(env) else {
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
            if let Some(outbox) = &self.outbox {
                outbox.notify();
            }
            tracing::info!(event_id = %env.event_id, tenant = %tenant, change = ?change, "contact change applied");
        } else {
            tracing::debug!(event_id = %env.event_id, "duplicate contacts event ignored");
        }
        Ok(())
    }
}

/// Consumes `rapport.contacts.v1` in consumer group `group` with `handler`
/// until shutdown, in a task of its own (one of `service`'s tasks).
pub fn spawn_consumer(
    ctx: &ServiceContext,
    service: &str,
    group: &'static str,
    handler: ContactChangeHandler,
) -> JoinHandle<Result<(), String>> {
    ctx.spawn_consumer(
        &format!("{service} contacts consumer"),
        group,
        &[topics::CONTACTS],
        Arc::new(handler),
    )
}

/// [`ContactChangeStore::apply_contact_change`] on SQLite: records
/// `event_id` as applied and runs `apply` in one write, or does nothing when
/// the event was applied before (`false`).
pub async fn apply_once_in_sqlite<F, Fut>(
    db: &SqliteDb,
    tenant: &TenantId,
    event_id: &str,
    change: &ContactChange,
    apply: F,
) -> Result<bool, StoreError>
where
    F: FnOnce(libsql::Connection, TenantId, ContactChange) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), StoreError>> + 'static,
{
    let (tenant, event_id, change) = (tenant.clone(), event_id.to_owned(), change.clone());
    db.write(move |tx| async move {
        let new = first_application(&tx, tenant.as_str(), &event_id).await?;
        if new {
            apply(tx, tenant, change).await?;
        }
        Ok(new)
    })
    .await
}

/// What a change does to a SQLite table whose rows point at a person
/// through `contact_id` (and carry a `version`): a merge points them at
/// where the survivor lives now (through the fates table, so merges applied
/// out of order end in the same place), an erasure unlinks them.
pub async fn relink_rows(
    tx: &libsql::Connection,
    table: &'static str,
    tenant: &TenantId,
    change: &ContactChange,
) -> Result<(), StoreError> {
    let t = tenant.as_str();
    let (from, to) = match change {
        ContactChange::Relink { survivor, merged } => {
            let to = record_relink(tx, t, *survivor, merged).await?;
            (merged.clone(), to)
        }
        ContactChange::Erase { contact } => {
            record_erasure(tx, t, *contact).await?;
            (vec![*contact], None)
        }
    };
    let from: Vec<String> = from.iter().map(Uuid::to_string).collect();
    let to = to.map(|t| t.to_string());
    repoint_contact_links(tx, table, t, &from, to.as_deref()).await
}

/// How often a write follows a merge to the next survivor before giving up:
/// fates are kept resolved, so one step is the rule and a second means a
/// merge ran concurrently.
const MAX_REDIRECTS: usize = 4;

/// Why a record could not be linked to a person.
#[derive(Debug, thiserror::Error)]
pub enum LinkError<E> {
    /// The person was erased; nothing may be stored for them.
    #[error("contact {0} was erased")]
    Erased(Uuid),
    /// The person kept being merged on while the record was written.
    #[error("contact {0} keeps being merged; try again")]
    Unsettled(Uuid),
    /// The store failed.
    #[error(transparent)]
    Store(E),
}

/// Stores a new record linked to `contact` with `attempt`, which must store
/// it for the id it is given and report what the store found. When the
/// person was merged, the record is stored for the survivor instead (the
/// merge may not have reached the caller yet); when erased, it is refused.
/// Returns the id it was stored for.
pub async fn link_following_merges<F, Fut, E>(
    contact: Uuid,
    mut attempt: F,
) -> Result<Uuid, LinkError<E>>
where
    F: FnMut(Uuid) -> Fut,
    Fut: std::future::Future<Output = Result<Linked, E>>,
{
    let mut contact = contact;
    for _ in 0..MAX_REDIRECTS {
        match attempt(contact).await.map_err(LinkError::Store)? {
            Linked::Stored => return Ok(contact),
            Linked::Erased => return Err(LinkError::Erased(contact)),
            Linked::Merged { survivor } => contact = survivor,
        }
    }
    Err(LinkError::Unsettled(contact))
}

/// `payload` as the contacts consumer hands it over: in an envelope of
/// `tenant` with a fresh event id. For tests of services that follow
/// contacts.
pub fn consumed_event<M: Name>(tenant: &str, payload: &M) -> ConsumedEvent {
    let envelope = EventEnvelope {
        event_id: Uuid::now_v7().to_string(),
        tenant_id: tenant.into(),
        event_type: M::full_name(),
        payload: Some(
            prost_types::Any::from_msg(payload).expect("encoding into a Vec does not fail"),
        ),
        ..Default::default()
    };
    ConsumedEvent {
        topic: topics::CONTACTS.into(),
        partition: 0,
        offset: 0,
        key: format!("{}/x", envelope.tenant_id),
        envelope,
        span: tracing::Span::none(),
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashSet, sync::Mutex};

    use rapport_proto::events::v1::ContactCreated;

    use super::*;

    fn merged(survivor: Uuid, merged: &[Uuid], object_type: &str) -> ContactsMerged {
        ContactsMerged {
            survivor_id: survivor.to_string(),
            merged_ids: merged.iter().map(Uuid::to_string).collect(),
            object_type: object_type.into(),
        }
    }

    fn change_of<M: Name>(payload: &M) -> Option<ContactChange> {
        ContactChange::from_event(&consumed_event("acme", payload).envelope)
    }

    #[test]
    fn relink_drops_the_survivor_and_repeats() {
        let (s, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            ContactChange::relink(s, [a, s, b, a]),
            Some(ContactChange::Relink {
                survivor: s,
                merged: vec![a, b]
            })
        );
        assert_eq!(ContactChange::relink(s, [s]), None);
        assert_eq!(ContactChange::relink(s, []), None);
    }

    #[test]
    fn person_merges_and_erasures_are_changes() {
        let (s, a) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            change_of(&merged(s, &[a], "person")),
            ContactChange::relink(s, [a])
        );
        let erased = ContactErased {
            contact_id: a.to_string(),
            erasure_id: "e1".into(),
        };
        assert_eq!(
            change_of(&erased),
            Some(ContactChange::Erase { contact: a })
        );
    }

    #[test]
    fn company_merges_and_other_events_ask_nothing() {
        let (s, a) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(change_of(&merged(s, &[a], "company")), None);
        assert_eq!(change_of(&ContactCreated::default()), None);
        let bad = ContactErased {
            contact_id: "not-a-uuid".into(),
            erasure_id: String::new(),
        };
        assert_eq!(change_of(&bad), None);
    }

    /// Records what it is asked to apply; applies each event id once per
    /// tenant, or fails every call when `failing`.
    #[derive(Default)]
    struct Recorder {
        applied: Mutex<HashSet<(String, String)>>,
        changes: Mutex<Vec<(String, ContactChange)>>,
        failing: bool,
    }

    #[async_trait]
    impl ContactChangeStore for Recorder {
        async fn apply_contact_change(
            &self,
            tenant: &TenantId,
            event_id: &str,
            change: &ContactChange,
        ) -> Result<bool, StoreError> {
            if self.failing {
                return Err(StoreError::Unavailable("down".into()));
            }
            let key = (tenant.to_string(), event_id.to_owned());
            let new = self.applied.lock().unwrap().insert(key);
            if new {
                let mut changes = self.changes.lock().unwrap();
                changes.push((tenant.to_string(), change.clone()));
            }
            Ok(new)
        }
    }

    #[tokio::test]
    async fn applies_each_change_in_the_event_tenant_once() {
        let store = Arc::new(Recorder::default());
        let handler = ContactChangeHandler::new(store.clone()).waking(OutboxSignal::default());
        let (s, a) = (Uuid::now_v7(), Uuid::now_v7());
        let event = consumed_event("acme", &merged(s, &[a], "person"));
        handler.handle(&event).await.unwrap();
        handler.handle(&event).await.unwrap();
        let expected = ("acme".to_owned(), ContactChange::relink(s, [a]).unwrap());
        assert_eq!(*store.changes.lock().unwrap(), vec![expected]);
    }

    #[tokio::test]
    async fn events_asking_nothing_or_without_a_tenant_touch_nothing() {
        let store = Arc::new(Recorder::default());
        let handler = ContactChangeHandler::new(store.clone());
        let (s, a) = (Uuid::now_v7(), Uuid::now_v7());
        for event in [
            consumed_event("acme", &merged(s, &[a], "company")),
            consumed_event("acme", &ContactCreated::default()),
            consumed_event("", &merged(s, &[a], "person")),
        ] {
            handler.handle(&event).await.unwrap();
        }
        assert!(store.changes.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn writes_follow_merges_and_stop_at_erasures() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        // a was merged into b, b into c: the write lands on c.
        let tried = Mutex::new(Vec::new());
        let stored = link_following_merges(a, |id| {
            tried.lock().unwrap().push(id);
            async move {
                Ok::<_, StoreError>(if id == a {
                    Linked::Merged { survivor: b }
                } else if id == b {
                    Linked::Merged { survivor: c }
                } else {
                    Linked::Stored
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(stored, c);
        assert_eq!(*tried.lock().unwrap(), vec![a, b, c]);

        let erased =
            link_following_merges(a, |_| async { Ok::<_, StoreError>(Linked::Erased) }).await;
        assert!(matches!(erased, Err(LinkError::Erased(id)) if id == a));

        let endless = link_following_merges(a, |_| async move {
            Ok::<_, StoreError>(Linked::Merged {
                survivor: Uuid::now_v7(),
            })
        })
        .await;
        assert!(matches!(endless, Err(LinkError::Unsettled(_))));
    }

    #[tokio::test]
    async fn store_failures_are_retried() {
        let store = Arc::new(Recorder {
            failing: true,
            ..Recorder::default()
        });
        let handler = ContactChangeHandler::new(store);
        let erased = ContactErased {
            contact_id: Uuid::now_v7().to_string(),
            erasure_id: "e1".into(),
        };
        assert!(
            handler
                .handle(&consumed_event("acme", &erased))
                .await
                .is_err()
        );
    }
}
