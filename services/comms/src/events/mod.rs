//! What the comms service publishes. What it consumes, people merged or
//! erased in the contacts service, is followed through
//! [`rapport_platform::contact_changes`] (see [`crate::start`]).

use rapport_platform::{
    audit::{AuditDraft, Change, diff},
    events::{NewEvent, tombstone, topics},
    identity::{Principal, TenantId},
    proto_time::to_timestamp,
};
use rapport_proto::events::v1::InteractionLogged;
use rapport_store::OutboxMessage;

use crate::domain::{Interaction, InteractionId};

/// CloudEvents `source` of every comms event.
pub const SOURCE: &str = rapport_platform::events::sources::COMMS;

/// The `InteractionLogged` event.
pub fn interaction_logged(principal: &Principal, i: &Interaction) -> OutboxMessage {
    NewEvent {
        topic: topics::INTERACTIONS,
        source: SOURCE,
        principal,
        aggregate_type: "interaction",
        aggregate_id: &i.id.to_string(),
        aggregate_version: 1,
        occurred_at: i.create_time,
        payload: InteractionLogged {
            interaction_id: i.id.to_string(),
            contact_id: i.contact_id.to_string(),
            channel: i.channel.as_str().to_owned(),
            direction: i.direction.as_str().to_owned(),
            occurred_at: Some(to_timestamp(i.occurred_at)),
            summary: i.summary.clone(),
        },
    }
    .into_outbox()
}

/// The audit entry of an interaction erased with its person: it masks the
/// interaction's history in the audit trail (the erasure itself is on
/// record in the contacts service).
pub fn interaction_erased_audit(tenant: &TenantId, id: InteractionId) -> OutboxMessage {
    let mut draft = AuditDraft::new(format!("interactions/{id}"), Change::Erased)
        .with_note("erased with its contact");
    draft.masked = [
        "contact_id",
        "channel",
        "direction",
        "occurred_at",
        "summary",
    ]
    .map(str::to_owned)
    .to_vec();
    draft.into_system_outbox(tenant, SOURCE, chrono::Utc::now())
}

/// The tombstone of an erased interaction: a null value under the key of its
/// `InteractionLogged`, so partners' compacted copies forget its summary.
pub fn interaction_erased(tenant: &TenantId, id: InteractionId) -> OutboxMessage {
    tombstone(topics::INTERACTIONS, tenant, &id.to_string())
}

/// The audit entry of a logged interaction: every field it was logged with.
pub fn interaction_audit(principal: &Principal, i: &Interaction) -> OutboxMessage {
    let fields = serde_json::json!({
        "contact_id": i.contact_id.to_string(),
        "channel": i.channel.as_str(),
        "direction": i.direction.as_str(),
        "occurred_at": i.occurred_at.to_rfc3339(),
        "summary": i.summary,
    });
    AuditDraft::new(format!("interactions/{}", i.id), Change::Created)
        .with_fields(diff(None, Some(&fields)))
        .about(i.contact_id)
        .into_outbox(principal, SOURCE, i.create_time)
}
