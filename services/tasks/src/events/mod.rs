//! What the tasks service publishes. What it consumes, people merged or
//! erased in the contacts service, is followed through
//! [`rapport_platform::contact_changes`] (see [`crate::start`]).

use rapport_platform::{
    audit::{AuditDraft, Change, diff},
    events::{NewEvent, topics},
    identity::Principal,
    proto_time::to_timestamp,
};
use rapport_proto::events::v1::TaskCreated;
use rapport_store::OutboxMessage;

use crate::domain::Task;

/// CloudEvents `source` of every tasks event.
pub const SOURCE: &str = rapport_platform::events::sources::TASKS;

/// The `TaskCreated` event.
pub fn task_created(principal: &Principal, t: &Task) -> OutboxMessage {
    NewEvent {
        topic: topics::TASKS,
        source: SOURCE,
        principal,
        aggregate_type: "task",
        aggregate_id: &t.id.to_string(),
        aggregate_version: t.version,
        occurred_at: t.create_time,
        payload: TaskCreated {
            task_id: t.id.to_string(),
            title: t.title.clone(),
            contact_id: t.contact_id.map(|c| c.to_string()).unwrap_or_default(),
            due_time: t.due_time.map(to_timestamp),
            assignee: t.assignee.to_string(),
            team: t.team.clone(),
        },
    }
    .into_outbox()
}

/// The audit entry of a created task: every field it was created with.
pub fn task_audit(principal: &Principal, t: &Task) -> OutboxMessage {
    let fields = serde_json::json!({
        "title": t.title,
        "contact_id": t.contact_id.map(|c| c.to_string()),
        "due_time": t.due_time.map(|d| d.to_rfc3339()),
        "assignee": t.assignee.to_string(),
        "team": t.team,
        "shared_with": t.shared_with,
    });
    let mut draft = AuditDraft::new(format!("tasks/{}", t.id), Change::Created)
        .with_fields(diff(None, Some(&fields)));
    if let Some(contact) = t.contact_id {
        draft = draft.about(contact);
    }
    draft.into_outbox(principal, SOURCE, t.create_time)
}
