//! What the deals service publishes. What it consumes, people merged or
//! erased in the contacts service, is followed through
//! [`rapport_platform::contact_changes`] (see [`crate::start`]).

use rapport_platform::{
    audit::{AuditDraft, Change, diff},
    events::{NewEvent, topics},
    identity::Principal,
};
use rapport_proto::events::v1::{DealCreated, PipelineChanged, pipeline_changed};
use rapport_store::OutboxMessage;

use crate::domain::{Deal, pipeline::Pipeline};

/// CloudEvents `source` of every deals event.
pub const SOURCE: &str = rapport_platform::events::sources::DEALS;

/// The `DealCreated` event.
pub fn deal_created(principal: &Principal, d: &Deal) -> OutboxMessage {
    NewEvent {
        topic: topics::DEALS,
        source: SOURCE,
        principal,
        aggregate_type: "deal",
        aggregate_id: &d.id.to_string(),
        aggregate_version: d.version,
        occurred_at: d.create_time,
        payload: DealCreated {
            deal_id: d.id.to_string(),
            title: d.title.clone(),
            contact_id: d.contact_id.map(|c| c.to_string()).unwrap_or_default(),
            currency_code: d
                .amount
                .as_ref()
                .map(|m| m.currency.clone())
                .unwrap_or_default(),
            amount_units: d.amount.as_ref().map(|m| m.units).unwrap_or_default(),
            amount_nanos: d.amount.as_ref().map(|m| m.nanos).unwrap_or_default(),
            stage: d.stage.clone(),
            owner: d.owner.clone(),
            team: d.team.clone(),
            pipeline_id: d.pipeline_id.to_string(),
        },
    }
    .into_outbox()
}

/// The audit entry of a created deal: every field it was created with.
pub fn deal_audit(principal: &Principal, d: &Deal) -> OutboxMessage {
    let fields = serde_json::json!({
        "title": d.title,
        "contact_id": d.contact_id.map(|c| c.to_string()),
        "amount": d.amount.as_ref().map(|m| serde_json::json!({
            "currency_code": m.currency, "units": m.units, "nanos": m.nanos
        })),
        "pipeline_id": d.pipeline_id.to_string(),
        "stage": d.stage,
        "owner": d.owner,
        "team": d.team,
        "shared_with": d.shared_with,
    });
    let mut draft = AuditDraft::new(format!("deals/{}", d.id), Change::Created)
        .with_fields(diff(None, Some(&fields)));
    if let Some(contact) = d.contact_id {
        draft = draft.about(contact);
    }
    draft.into_outbox(principal, SOURCE, d.create_time)
}

/// The `PipelineChanged` event: the pipeline's whole new state.
pub fn pipeline_changed(principal: &Principal, p: &Pipeline) -> OutboxMessage {
    NewEvent {
        topic: topics::DEALS,
        source: SOURCE,
        principal,
        aggregate_type: "pipeline",
        aggregate_id: &p.id.to_string(),
        aggregate_version: p.version,
        occurred_at: p.update_time,
        payload: PipelineChanged {
            pipeline_id: p.id.to_string(),
            name: p.name.clone(),
            stages: p
                .stages
                .iter()
                .map(|s| pipeline_changed::Stage {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    probability_basis_points: s.probability_bp,
                    rotting_days: s.rotting_days.unwrap_or(0),
                })
                .collect(),
            moved_stages: p.moved.clone().into_iter().collect(),
            is_default: p.is_default,
        },
    }
    .into_outbox()
}

/// A pipeline's audited fields.
fn pipeline_fields(p: &Pipeline) -> serde_json::Value {
    serde_json::json!({
        "name": p.name,
        "stages": p.stages.iter().map(|s| serde_json::json!({
            "id": s.id,
            "name": s.name,
            "probability_basis_points": s.probability_bp,
            "rotting_days": s.rotting_days,
        })).collect::<Vec<_>>(),
        "moved_stages": p.moved,
    })
}

/// The audit entry of a pipeline created (`before` is `None`) or changed.
pub fn pipeline_audit(
    principal: &Principal,
    before: Option<&Pipeline>,
    p: &Pipeline,
) -> OutboxMessage {
    let change = if before.is_some() {
        Change::Updated
    } else {
        Change::Created
    };
    let old = before.map(pipeline_fields);
    AuditDraft::new(format!("pipelines/{}", p.id), change)
        .with_fields(diff(old.as_ref(), Some(&pipeline_fields(p))))
        .into_outbox(principal, SOURCE, p.update_time)
}
