//! The audit entries of the contacts service's changes and audited reads
//! (see `rapport_platform::audit`): derived from what a change set writes,
//! so no use case can forget them.

use chrono::{DateTime, Utc};
use rapport_platform::{
    audit::{AuditDraft, Change, diff},
    identity::Principal,
};
use rapport_store::OutboxMessage;
use serde_json::Value;

use crate::{
    domain::{Kind, Record},
    events::SOURCE,
    store::ChangeSet,
};

/// The resource name of a record: `contacts/{id}` or `companies/{id}`.
pub(super) fn resource(r: &Record) -> String {
    match r.kind() {
        Kind::Person => format!("contacts/{}", r.id),
        Kind::Company => format!("companies/{}", r.id),
    }
}

fn fields_json(r: &Record) -> Value {
    serde_json::to_value(r.fields()).unwrap_or(Value::Null)
}

/// One entry per record the change set creates, changes, deletes or erases.
/// Erased records are named with their field names only; merged duplicates
/// name their survivor.
pub(super) fn of_changes(p: &Principal, changes: &ChangeSet) -> Vec<OutboxMessage> {
    let at = Utc::now();
    let survivor = changes.puts.first().map(|put| resource(&put.record));
    let mut out = Vec::with_capacity(changes.puts.len() + changes.deletes.len());
    for put in &changes.puts {
        let old = put.previous.as_ref().map(fields_json);
        let fields = diff(old.as_ref(), Some(&fields_json(&put.record)));
        let change = match put.previous {
            None => Change::Created,
            Some(_) => Change::Updated,
        };
        out.push(entry(
            p,
            AuditDraft::new(resource(&put.record), change).with_fields(fields),
            at,
        ));
    }
    for gone in &changes.deletes {
        let draft = match changes.erasures.iter().find(|e| e.record_id == gone.id) {
            Some(erasure) => {
                let mut draft = AuditDraft::new(resource(gone), Change::Erased)
                    .with_note(format!("erasure {}: {}", erasure.id, erasure.reason));
                draft.masked = diff(Some(&fields_json(gone)), None)
                    .into_iter()
                    .map(|f| f.field)
                    .collect();
                draft
            }
            None => {
                let draft = AuditDraft::new(resource(gone), Change::Deleted)
                    .with_fields(diff(Some(&fields_json(gone)), None));
                match &survivor {
                    Some(s) => draft
                        .with_note(format!("merged into {s}"))
                        .merged_into(s.clone()),
                    None => draft,
                }
            }
        };
        out.push(entry(p, draft, at));
    }
    out
}

/// An entry as an outbox message of the contacts service.
pub(super) fn entry(p: &Principal, draft: AuditDraft, at: DateTime<Utc>) -> OutboxMessage {
    draft.into_outbox(p, SOURCE, at)
}

/// An entry written now.
pub(super) fn now(p: &Principal, draft: AuditDraft) -> OutboxMessage {
    entry(p, draft, Utc::now())
}
