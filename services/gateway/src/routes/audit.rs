//! `GET /v1/audit`: the tenant's audit trail per record or per user, newest
//! first (tenant admins).

use axum::extract::{Query, State, rejection::QueryRejection};
use chrono::{DateTime, SecondsFormat, Utc};
use rapport_platform::{error::FieldViolation, identity::Permission};
use rapport_store::page_token::PageToken;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{api_keys::store_problem, query};
use crate::{
    AppState,
    auth::Caller,
    problem::Problem,
    store::{AuditFilter, AuditRecord},
};

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 1000;

/// Query of `GET /v1/audit`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// A record's resource name (`contacts/{id}`).
    resource: Option<String>,
    /// A user id, or `apikey:{id}` for an API key.
    actor: Option<String>,
    page_size: Option<usize>,
    page_token: Option<String>,
}

/// One field of an entry: old and new values as JSON.
#[derive(Debug, Serialize)]
pub(crate) struct FieldChangeJson {
    field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_value: Option<Value>,
    masked: bool,
}

/// An entry as REST returns it.
#[derive(Debug, Serialize)]
pub(crate) struct AuditEntryJson {
    id: String,
    time: String,
    actor: String,
    roles: Vec<String>,
    scopes: Vec<String>,
    source: String,
    resource: String,
    change: String,
    operation: String,
    client_ip: String,
    forwarded_for: String,
    user_agent: String,
    changes: Vec<FieldChangeJson>,
    note: String,
}

/// A page of entries.
#[derive(Debug, Serialize)]
pub(crate) struct AuditPage {
    entries: Vec<AuditEntryJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

fn value(text: &str) -> Option<Value> {
    if text.is_empty() {
        return None;
    }
    // A cut value is no longer valid JSON: shown as the text it is.
    Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
}

impl From<AuditRecord> for AuditEntryJson {
    fn from(r: AuditRecord) -> Self {
        let e = r.entry;
        AuditEntryJson {
            id: r.id,
            time: r.time.to_rfc3339_opts(SecondsFormat::Micros, true),
            actor: r.actor,
            roles: e.roles,
            scopes: e.scopes,
            source: r.source,
            resource: e.resource,
            change: e.change,
            operation: e.operation,
            client_ip: e.client_ip,
            forwarded_for: e.forwarded_for,
            user_agent: e.user_agent,
            changes: e
                .changes
                .into_iter()
                .map(|c| FieldChangeJson {
                    old_value: value(&c.old_value),
                    new_value: value(&c.new_value),
                    field: c.field,
                    masked: c.masked,
                })
                .collect(),
            note: e.note,
        }
    }
}

fn invalid(field: &str, description: &str) -> Problem {
    Problem::invalid(
        "INVALID_ARGUMENT",
        format!("{field}: {description}"),
        vec![FieldViolation::new(field, description)],
    )
}

/// The cursor in a page token: the last entry's time (microseconds) and id.
fn encode_cursor(r: &AuditRecord) -> String {
    let mut bytes = r.time.timestamp_micros().to_be_bytes().to_vec();
    bytes.extend_from_slice(r.id.as_bytes());
    PageToken::from_bytes(bytes).encode()
}

fn decode_cursor(token: &str) -> Result<Option<(DateTime<Utc>, String)>, Problem> {
    let bad = || invalid("page_token", "not a token this list returned");
    let Some(token) = PageToken::decode(token).map_err(|_| bad())? else {
        return Ok(None);
    };
    let bytes = token.as_bytes();
    if bytes.len() < 8 {
        return Err(bad());
    }
    let micros = i64::from_be_bytes(bytes[..8].try_into().map_err(|_| bad())?);
    let time = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    let id = String::from_utf8(bytes[8..].to_vec()).map_err(|_| bad())?;
    Ok(Some((time, id)))
}

/// `GET /v1/audit?resource=|actor=&page_size=&page_token=`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<axum::Json<AuditPage>, Problem> {
    principal
        .require(Permission::ReadAudit)
        .map_err(|denied| Problem::denied(&denied))?;
    let q = query(q)?;
    let filter = match (q.resource, q.actor) {
        (Some(r), None) if !r.trim().is_empty() => AuditFilter::Resource(r.trim().to_owned()),
        (None, Some(a)) if !a.trim().is_empty() => AuditFilter::Actor(a.trim().to_owned()),
        _ => {
            return Err(invalid(
                "resource",
                "give exactly one of resource (a record, e.g. contacts/{id}) or actor (a user id)",
            ));
        }
    };
    let size = match q.page_size {
        None | Some(0) => DEFAULT_PAGE,
        Some(n) => n.min(MAX_PAGE),
    };
    let after = decode_cursor(q.page_token.as_deref().unwrap_or(""))?;
    // One more than asked: whether another page exists.
    let mut records = state
        .audit
        .entries(&principal.tenant, &filter, after.as_ref(), size + 1)
        .await
        .map_err(store_problem)?;
    let next_page_token = if records.len() > size {
        records.truncate(size);
        records.last().map(encode_cursor)
    } else {
        None
    };
    Ok(axum::Json(AuditPage {
        entries: records.into_iter().map(AuditEntryJson::from).collect(),
        next_page_token,
    }))
}
