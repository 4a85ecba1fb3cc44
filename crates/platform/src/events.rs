//! Building published events: the envelope, the Kafka key and the
//! CloudEvents headers, ready for the outbox.

use chrono::{DateTime, Utc};
use prost::{Message, Name};
use rapport_proto::events::v1::EventEnvelope;
use rapport_store::OutboxMessage;
use uuid::Uuid;

use crate::{identity::Principal, telemetry};

/// Topic names: one per aggregate, versioned with the schema.
pub mod topics {
    /// Contact events (`ContactCreated`, ...).
    pub const CONTACTS: &str = "rapport.contacts.v1";
    /// Interaction events (`InteractionLogged`, ...).
    pub const INTERACTIONS: &str = "rapport.interactions.v1";
    /// Deal events.
    pub const DEALS: &str = "rapport.deals.v1";
    /// Task events.
    pub const TASKS: &str = "rapport.tasks.v1";
    /// The audit trail: one `AuditEntry` per change, from every service.
    pub const AUDIT: &str = "rapport.audit.v1";
    /// The domain topics (what analytics counts).
    pub const DOMAIN: &[&str] = &[CONTACTS, INTERACTIONS, DEALS, TASKS];
    /// Every topic Rapport publishes.
    pub const ALL: &[&str] = &[CONTACTS, INTERACTIONS, DEALS, TASKS, AUDIT];
}

/// The `source` of each producing service: a topic is written by exactly
/// one of them, and consumers refuse events of a topic from any other.
pub mod sources {
    /// The contacts service.
    pub const CONTACTS: &str = "/rapport/contacts";
    /// The comms service.
    pub const COMMS: &str = "/rapport/comms";
    /// The deals service.
    pub const DEALS: &str = "/rapport/deals";
    /// The tasks service.
    pub const TASKS: &str = "/rapport/tasks";
    /// The gateway (audit entries of API key changes).
    pub const GATEWAY: &str = "/rapport/gateway";
    /// Every producing service: the sources an audit entry may come from.
    pub const ALL: &[&str] = &[CONTACTS, COMMS, DEALS, TASKS, GATEWAY];
}

/// The only `source` that may publish on `topic`, for Rapport's topics.
pub fn producer_of(topic: &str) -> Option<&'static str> {
    match topic {
        topics::CONTACTS => Some(sources::CONTACTS),
        topics::INTERACTIONS => Some(sources::COMMS),
        topics::DEALS => Some(sources::DEALS),
        topics::TASKS => Some(sources::TASKS),
        _ => None,
    }
}

/// Why a consumed event is not what Rapport itself would have published.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForgedEvent {
    /// The record key is not `<envelope tenant>/<aggregate id>`.
    #[error("record key {key:?} does not match tenant {tenant:?} and aggregate {aggregate:?}")]
    KeyMismatch {
        /// The record key.
        key: String,
        /// The envelope's tenant.
        tenant: String,
        /// The envelope's aggregate id.
        aggregate: String,
    },
    /// The envelope names another producer than the topic's.
    #[error("source {producer:?} does not publish on {topic}")]
    WrongSource {
        /// The topic.
        topic: String,
        /// The envelope's source.
        producer: String,
    },
}

/// Checks that an event read from `topic` under record `key` is consistent
/// with how Rapport publishes: keyed by its own tenant and aggregate, and
/// from the topic's one producer (the audit topic: from one of Rapport's
/// services). An event that fails is never applied: a
/// record whose key says one tenant and whose envelope says another could
/// otherwise change the wrong tenant's data.
pub fn check_origin(topic: &str, key: &str, envelope: &EventEnvelope) -> Result<(), ForgedEvent> {
    // Compared in place: this runs for every consumed event.
    let keyed_right = key
        .strip_prefix(envelope.tenant_id.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
        == Some(envelope.aggregate_id.as_str());
    if envelope.tenant_id.is_empty() || !keyed_right {
        return Err(ForgedEvent::KeyMismatch {
            key: key.to_owned(),
            tenant: envelope.tenant_id.clone(),
            aggregate: envelope.aggregate_id.clone(),
        });
    }
    let known = match producer_of(topic) {
        Some(producer) => envelope.source == producer,
        None => topic != topics::AUDIT || sources::ALL.contains(&envelope.source.as_str()),
    };
    if !known {
        return Err(ForgedEvent::WrongSource {
            topic: topic.to_owned(),
            producer: envelope.source.clone(),
        });
    }
    Ok(())
}

/// CloudEvents spec version of the binary-mode headers.
pub const CLOUDEVENTS_SPEC_VERSION: &str = "1.0";
/// Content type of every record value.
pub const CONTENT_TYPE: &str = "application/protobuf";

/// An event about to be written to the outbox with its entity.
#[derive(Debug)]
pub struct NewEvent<'a, M> {
    /// Topic to publish to.
    pub topic: &'static str,
    /// Producing service as a URI reference, e.g. `/rapport/contacts`.
    pub source: &'static str,
    /// Who caused the change (tenant and user).
    pub principal: &'a Principal,
    /// Aggregate kind, e.g. `contact`.
    pub aggregate_type: &'static str,
    /// Aggregate id.
    pub aggregate_id: &'a str,
    /// Aggregate version after the change.
    pub aggregate_version: u64,
    /// When the change happened.
    pub occurred_at: DateTime<Utc>,
    /// The payload.
    pub payload: M,
}

impl<M: Message + Name> NewEvent<'_, M> {
    /// Encodes the event as an outbox message. The current span's trace
    /// context is stored with it, so the relay's publish (possibly after a
    /// restart) continues the trace of the request that made the change.
    pub fn into_outbox(self) -> OutboxMessage {
        let event_id = Uuid::now_v7().to_string();
        let event_type = M::full_name();
        let time = self
            .occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let envelope = EventEnvelope {
            event_id: event_id.clone(),
            tenant_id: self.principal.tenant.to_string(),
            aggregate_type: self.aggregate_type.to_owned(),
            aggregate_id: self.aggregate_id.to_owned(),
            aggregate_version: self.aggregate_version,
            event_type: event_type.clone(),
            occurred_at: Some(crate::proto_time::to_timestamp(self.occurred_at)),
            source: self.source.to_owned(),
            principal: self.principal.user.to_string(),
            payload: Some(prost_types::Any {
                type_url: M::type_url(),
                value: self.payload.encode_to_vec(),
            }),
        };
        let mut headers = vec![
            (
                "ce_specversion".to_owned(),
                CLOUDEVENTS_SPEC_VERSION.to_owned(),
            ),
            ("ce_id".to_owned(), event_id.clone()),
            ("ce_type".to_owned(), event_type),
            ("ce_source".to_owned(), self.source.to_owned()),
            ("ce_time".to_owned(), time),
            ("ce_subject".to_owned(), self.aggregate_id.to_owned()),
            ("content-type".to_owned(), CONTENT_TYPE.to_owned()),
        ];
        if let Some(tp) = telemetry::traceparent(&tracing::Span::current()) {
            headers.push(("traceparent".to_owned(), tp));
        }
        OutboxMessage {
            event_id,
            topic: self.topic.to_owned(),
            key: format!("{}/{}", self.principal.tenant, self.aggregate_id),
            payload: envelope.encode_to_vec(),
            headers,
            aggregate_version: Some(self.aggregate_version),
        }
    }
}

/// A tombstone for `key` on `topic`: published with a null value, so a
/// compacted copy of the topic forgets every earlier record of the key (data
/// protection erasure). Stored in the outbox with an empty payload.
pub fn tombstone(
    topic: &str,
    tenant: &crate::identity::TenantId,
    aggregate_id: &str,
) -> OutboxMessage {
    OutboxMessage {
        event_id: Uuid::now_v7().to_string(),
        topic: topic.to_owned(),
        key: format!("{tenant}/{aggregate_id}"),
        payload: Vec::new(),
        headers: Vec::new(),
        aggregate_version: None,
    }
}

/// Decodes the payload of an envelope as `M`, if it is one.
pub fn payload_of<M: Message + Name + Default>(envelope: &EventEnvelope) -> Option<M> {
    let any = envelope.payload.as_ref()?;
    if any.type_url != M::type_url() {
        return None;
    }
    M::decode(any.value.as_slice()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Role, TenantId, UserId};
    use rapport_proto::events::v1::ContactCreated;

    #[test]
    fn envelope_key_and_headers_agree() {
        let principal = Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user: UserId::parse("alice").unwrap(),
            roles: vec![Role::Rep],
            teams: Vec::new(),
            scopes: None,
            grants: Vec::new(),
        };
        let msg = NewEvent {
            topic: topics::CONTACTS,
            source: "/rapport/contacts",
            principal: &principal,
            aggregate_type: "contact",
            aggregate_id: "c1",
            aggregate_version: 1,
            occurred_at: Utc::now(),
            payload: ContactCreated::default(),
        }
        .into_outbox();
        assert_eq!(msg.key, "acme/c1");
        let env = EventEnvelope::decode(msg.payload.as_slice()).unwrap();
        assert_eq!(env.event_id, msg.event_id);
        assert_eq!(env.event_type, "rapport.events.v1.ContactCreated");
        let header = |k: &str| {
            msg.headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("ce_id"), Some(msg.event_id.clone()));
        assert_eq!(header("ce_type"), Some(env.event_type.clone()));
        assert!(payload_of::<ContactCreated>(&env).is_some());
        assert_eq!(check_origin(topics::CONTACTS, &msg.key, &env), Ok(()));
    }

    fn envelope(tenant: &str, aggregate: &str, source: &str) -> EventEnvelope {
        EventEnvelope {
            tenant_id: tenant.into(),
            aggregate_id: aggregate.into(),
            source: source.into(),
            ..Default::default()
        }
    }

    #[test]
    fn events_keyed_for_another_tenant_or_aggregate_are_forged() {
        let env = envelope("globex", "c1", sources::CONTACTS);
        assert!(matches!(
            check_origin(topics::CONTACTS, "acme/c1", &env),
            Err(ForgedEvent::KeyMismatch { .. })
        ));
        assert!(check_origin(topics::CONTACTS, "globex/c2", &env).is_err());
        assert!(
            check_origin(
                topics::CONTACTS,
                "/c1",
                &envelope("", "c1", sources::CONTACTS)
            )
            .is_err()
        );
        assert_eq!(check_origin(topics::CONTACTS, "globex/c1", &env), Ok(()));
    }

    #[test]
    fn events_from_another_producer_are_forged() {
        let env = envelope("acme", "c1", sources::COMMS);
        assert!(matches!(
            check_origin(topics::CONTACTS, "acme/c1", &env),
            Err(ForgedEvent::WrongSource { .. })
        ));
        assert_eq!(check_origin(topics::INTERACTIONS, "acme/c1", &env), Ok(()));
    }
}
