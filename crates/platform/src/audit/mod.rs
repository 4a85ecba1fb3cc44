//! The audit trail: who changed which record, when, from where, and which
//! fields from what to what.
//!
//! A service builds an [`AuditDraft`] for each record a request changes (or
//! for an audited read: exports, data-protection documents) and writes it,
//! as an outbox message on [`topics::AUDIT`], in the **same transaction** as
//! the change: a change that rolls back leaves no entry, and an entry never
//! goes missing for a change that committed. The relay publishes it for the
//! partners' SIEM; the gateway indexes it for `/v1/audit` and keeps it for
//! the configured period (docs/adr/0123-audit-trail.md).

mod origin;

use chrono::{DateTime, Utc};
use rapport_proto::events::v1::{AuditEntry, AuditFieldChange};
use rapport_store::OutboxMessage;
use serde_json::Value;

pub use origin::{
    CLIENT_IP_HEADER, FORWARDED_FOR_HEADER, ORIGIN_HEADERS, Origin, USER_AGENT_HEADER,
};

use crate::{
    events::{NewEvent, topics},
    identity::{Permission, Principal},
};

/// Longest value an entry keeps of one field (JSON text); longer ones are
/// cut, with the cut marked, so one e-mail body cannot bloat the trail.
pub const MAX_VALUE_LEN: usize = 4096;

/// What happened to the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// It was created.
    Created,
    /// Fields of it changed.
    Updated,
    /// It was deleted (a merged duplicate, a custom field definition).
    Deleted,
    /// It was erased for data protection: field names only, no values.
    Erased,
    /// It was read in an audited way (an export, a data-protection
    /// document).
    Read,
}

impl Change {
    /// The name in entries: `created`, `updated`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Deleted => "deleted",
            Change::Erased => "erased",
            Change::Read => "read",
        }
    }
}

/// One field's old and new value (`None`: absent).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    /// The field, dotted for nested ones (`custom_fields.vip`).
    pub field: String,
    /// Before.
    pub old: Option<Value>,
    /// After.
    pub new: Option<Value>,
}

/// The fields that differ between two JSON renderings of a record, in
/// field order. Objects are compared one level deep (`address.city`,
/// `custom_fields.vip`), so a change of one custom field names that field;
/// arrays and scalars are compared whole. Nulls count as absent.
pub fn diff(old: Option<&Value>, new: Option<&Value>) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let as_map = |v: Option<&Value>| match v {
        Some(Value::Object(m)) => m.clone(),
        _ => empty.clone(),
    };
    let (old, new) = (as_map(old), as_map(new));
    let mut changes = Vec::new();
    diff_maps("", &old, &new, 0, &mut changes);
    changes
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null() && *v != &Value::String(String::new()) && *v != &Value::Array(vec![]))
}

fn diff_maps(
    prefix: &str,
    old: &serde_json::Map<String, Value>,
    new: &serde_json::Map<String, Value>,
    depth: usize,
    out: &mut Vec<FieldChange>,
) {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let field = format!("{prefix}{key}");
        let (o, n) = (present(old.get(key)), present(new.get(key)));
        if o == n {
            continue;
        }
        match (o, n) {
            (Some(Value::Object(a)), Some(Value::Object(b))) if depth == 0 => {
                diff_maps(&format!("{field}."), a, b, depth + 1, out)
            }
            (Some(Value::Object(a)), None) if depth == 0 => diff_maps(
                &format!("{field}."),
                a,
                &serde_json::Map::new(),
                depth + 1,
                out,
            ),
            (None, Some(Value::Object(b))) if depth == 0 => diff_maps(
                &format!("{field}."),
                &serde_json::Map::new(),
                b,
                depth + 1,
                out,
            ),
            _ => out.push(FieldChange {
                field,
                old: o.cloned(),
                new: n.cloned(),
            }),
        }
    }
}

/// An audit entry about to be written with the change it records.
#[derive(Clone, Debug)]
pub struct AuditDraft {
    /// The record's resource name (`contacts/{id}`, ...).
    pub resource: String,
    /// What happened to it.
    pub change: Change,
    /// The fields that changed (see [`diff`]).
    pub fields: Vec<FieldChange>,
    /// Fields named without values (an erasure).
    pub masked: Vec<String>,
    /// Context in words (the survivor of a merge, a request reference).
    pub note: String,
    /// People (`contacts/{id}`) whose data the entry holds besides its
    /// resource; erasing one masks the entry.
    pub subjects: Vec<String>,
    /// The survivor a deleted duplicate was merged into.
    pub merged_into: String,
}

impl AuditDraft {
    /// An entry of `change` on `resource` with no field details.
    pub fn new(resource: impl Into<String>, change: Change) -> Self {
        AuditDraft {
            resource: resource.into(),
            change,
            fields: Vec::new(),
            masked: Vec::new(),
            note: String::new(),
            subjects: Vec::new(),
            merged_into: String::new(),
        }
    }

    /// Naming a person whose data the entry holds (a linked contact).
    pub fn about(mut self, contact_id: impl std::fmt::Display) -> Self {
        self.subjects.push(format!("contacts/{contact_id}"));
        self
    }

    /// The deletion of a duplicate merged into `survivor` (a resource name).
    pub fn merged_into(mut self, survivor: impl Into<String>) -> Self {
        self.merged_into = survivor.into();
        self
    }

    /// With the fields that changed.
    pub fn with_fields(mut self, fields: Vec<FieldChange>) -> Self {
        self.fields = fields;
        self
    }

    /// With a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    /// The entry as an outbox message on [`topics::AUDIT`], keyed by the
    /// tenant and resource, made by `principal` at `at` in the request this
    /// task serves ([`Origin::current`]).
    pub fn into_outbox(
        self,
        principal: &Principal,
        source: &'static str,
        at: DateTime<Utc>,
    ) -> OutboxMessage {
        let origin = Origin::current();
        let mut changes: Vec<AuditFieldChange> = self
            .fields
            .into_iter()
            .map(|f| AuditFieldChange {
                field: f.field,
                old_value: f.old.as_ref().map(json_text).unwrap_or_default(),
                new_value: f.new.as_ref().map(json_text).unwrap_or_default(),
                masked: false,
            })
            .collect();
        changes.extend(self.masked.into_iter().map(|field| AuditFieldChange {
            field,
            masked: true,
            ..AuditFieldChange::default()
        }));
        let entry = AuditEntry {
            resource: self.resource.clone(),
            change: self.change.as_str().to_owned(),
            operation: origin.operation,
            roles: principal
                .roles
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            scopes: Permission::names(principal.scopes.as_deref().unwrap_or_default())
                .into_iter()
                .map(str::to_owned)
                .collect(),
            client_ip: origin.client_ip,
            forwarded_for: origin.forwarded_for,
            user_agent: origin.user_agent,
            changes,
            note: self.note,
            subjects: self.subjects,
            merged_into: self.merged_into,
        };
        NewEvent {
            topic: topics::AUDIT,
            source,
            principal,
            aggregate_type: "audit_entry",
            aggregate_id: &self.resource,
            // Entries of one resource are published in id (time) order.
            aggregate_version: 0,
            occurred_at: at,
            payload: entry,
        }
        .into_outbox()
    }
}

/// The user Rapport's own follow-up changes are recorded under (a service
/// erasing what it held about a person erased in the contacts service).
pub const SYSTEM_ACTOR: &str = "system:rapport";

impl AuditDraft {
    /// The entry of a change Rapport made by itself for `tenant`, following
    /// a change a person made elsewhere (recorded there).
    pub fn into_system_outbox(
        self,
        tenant: &crate::identity::TenantId,
        source: &'static str,
        at: DateTime<Utc>,
    ) -> OutboxMessage {
        let system = Principal {
            tenant: tenant.clone(),
            user: crate::identity::UserId::parse(SYSTEM_ACTOR).expect("a valid user id"),
            roles: vec![crate::identity::Role::System],
            teams: Vec::new(),
            scopes: None,
            grants: Vec::new(),
        };
        self.into_outbox(&system, source, at)
    }
}

/// A value as JSON text, cut at [`MAX_VALUE_LEN`].
fn json_text(v: &Value) -> String {
    let text = v.to_string();
    if text.len() <= MAX_VALUE_LEN {
        return text;
    }
    let mut end = MAX_VALUE_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…(cut)", &text[..end])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::identity::{Role, TenantId, UserId};

    #[test]
    fn diff_names_each_changed_field_with_old_and_new_values() {
        let old = json!({"given_name": "Ada", "tags": ["vip"], "custom_fields": {"tier": "gold", "size": 3}, "email": ""});
        let new = json!({"given_name": "Ada", "tags": ["vip", "new"], "custom_fields": {"tier": "silver", "size": 3}, "email": "ada@example.com"});
        let changes = diff(Some(&old), Some(&new));
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["custom_fields.tier", "email", "tags"]);
        assert_eq!(changes[0].old, Some(json!("gold")));
        assert_eq!(changes[0].new, Some(json!("silver")));
        // An empty string is absent, not a value that changed.
        assert_eq!(changes[1].old, None);
    }

    #[test]
    fn a_created_record_lists_every_present_field() {
        let new = json!({"given_name": "Ada", "address": {"city": "Pune"}, "phone": null});
        let fields: Vec<String> = diff(None, Some(&new))
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(fields, ["address.city", "given_name"]);
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        let text = json_text(&json!("é".repeat(MAX_VALUE_LEN)));
        assert!(text.ends_with("…(cut)"));
        assert!(text.len() <= MAX_VALUE_LEN + "…(cut)".len());
    }

    #[tokio::test]
    async fn the_entry_records_principal_origin_and_fields() {
        use prost::Message;
        let p = Principal {
            tenant: TenantId::parse("acme").unwrap(),
            user: UserId::parse("alice").unwrap(),
            roles: vec![Role::Rep],
            teams: vec![],
            scopes: None,
            grants: Vec::new(),
        };
        let origin = Origin {
            client_ip: "203.0.113.7".into(),
            operation: "UpdateContact".into(),
            ..Origin::default()
        };
        let msg = origin
            .scope(async {
                AuditDraft::new("contacts/c1", Change::Updated)
                    .with_fields(diff(Some(&json!({"a": 1})), Some(&json!({"a": 2}))))
                    .into_outbox(&p, crate::events::sources::CONTACTS, Utc::now())
            })
            .await;
        assert_eq!(msg.topic, topics::AUDIT);
        assert_eq!(msg.key, "acme/contacts/c1");
        let envelope = rapport_proto::events::v1::EventEnvelope::decode(&*msg.payload).unwrap();
        assert_eq!(envelope.principal, "alice");
        let entry: AuditEntry = crate::events::payload_of(&envelope).unwrap();
        assert_eq!(entry.operation, "UpdateContact");
        assert_eq!(entry.client_ip, "203.0.113.7");
        assert_eq!(entry.roles, ["rep"]);
        assert_eq!(entry.changes[0].old_value, "1");
        assert_eq!(entry.changes[0].new_value, "2");
    }
}
