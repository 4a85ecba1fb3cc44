//! `/v1/api-keys`: the tenant's API keys for partner systems (tenant
//! admins). A key's token is shown once, in the answer that creates it.

use axum::{
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{SecondsFormat, Utc};
use rapport_platform::{
    audit::{AuditDraft, Change, diff},
    error::FieldViolation,
    events::sources,
    identity::{Permission, Principal, Role},
};
use rapport_store::StoreError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{AppState, api_keys, auth::Caller, json::JsonBody, problem::Problem, store::ApiKey};

/// Longest display name.
const MAX_NAME: usize = 100;

/// A new key as REST takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewApiKeyJson {
    /// What the key is for ("ERP sync").
    display_name: String,
    /// Permission names the key may use (`records.read`, ...).
    scopes: Vec<String>,
}

/// A key as REST shows it.
#[derive(Debug, Serialize)]
pub(crate) struct ApiKeyJson {
    name: String,
    id: String,
    display_name: String,
    scopes: Vec<&'static str>,
    state: &'static str,
    created_by: String,
    create_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoke_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_use_time: Option<String>,
    /// The token, only when the key was just created.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl From<&ApiKey> for ApiKeyJson {
    fn from(k: &ApiKey) -> Self {
        let time = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        ApiKeyJson {
            name: format!("api-keys/{}", k.id),
            id: k.id.to_string(),
            display_name: k.display_name.clone(),
            scopes: Permission::names(&k.scopes),
            state: if k.revoke_time.is_some() {
                "REVOKED"
            } else {
                "ACTIVE"
            },
            created_by: k.created_by.to_string(),
            create_time: time(k.create_time),
            revoke_time: k.revoke_time.map(time),
            last_use_time: k.last_use_time.map(time),
            key: None,
        }
    }
}

/// The keys of a tenant.
#[derive(Debug, Serialize)]
pub(crate) struct ApiKeysJson {
    api_keys: Vec<ApiKeyJson>,
}

fn require_admin(p: &Principal) -> Result<(), Problem> {
    p.require(Permission::ManageApiKeys)
        .map_err(|denied| Problem::denied(&denied))
}

pub(crate) fn store_problem(e: StoreError) -> Problem {
    tracing::error!(error = %e, "gateway store");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
        "the gateway's store is temporarily unavailable; retry later",
    )
}

fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such API key")
}

/// Scopes a key may hold: the record actions the system role grants
/// (reads, writes, imports, exports), never tenant administration.
/// `records.<action>` stands for the action on every object.
fn parse_scopes(scopes: &[String]) -> Result<Vec<Permission>, Vec<FieldViolation>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    if scopes.is_empty() {
        errors.push(FieldViolation::new("scopes", "give at least one scope"));
    }
    let may_hold = |p: &Permission| matches!(p, Permission::Record(..)) && Role::System.grants(*p);
    let allowed = Permission::all()
        .filter(may_hold)
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    for (i, s) in scopes.iter().enumerate() {
        match Permission::parse_many(s.trim()) {
            Ok(ps) if ps.iter().all(may_hold) => {
                for p in ps {
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
            _ => errors.push(FieldViolation::new(
                format!("scopes[{i}]"),
                format!(
                    "{s:?} is not a scope an API key may hold; use records.read, records.write, records.import, records.export (every object) or one of {allowed}"
                ),
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// `POST /v1/api-keys`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<NewApiKeyJson>,
) -> Result<Response, Problem> {
    require_admin(&principal)?;
    let mut errors = Vec::new();
    let display_name = body.display_name.trim().to_owned();
    if display_name.is_empty() || display_name.chars().count() > MAX_NAME {
        errors.push(FieldViolation::new(
            "display_name",
            format!("give a name of 1 to {MAX_NAME} characters"),
        ));
    }
    let scopes = parse_scopes(&body.scopes).unwrap_or_else(|mut e| {
        errors.append(&mut e);
        Vec::new()
    });
    if !errors.is_empty() {
        return Err(Problem::invalid(
            "INVALID_ARGUMENT",
            "the API key is invalid",
            errors,
        ));
    }
    let id = Uuid::now_v7();
    let (token, secret_sha256) = api_keys::generate(&principal.tenant, id);
    let key = ApiKey {
        tenant: principal.tenant.clone(),
        id,
        display_name,
        scopes,
        secret_sha256,
        created_by: principal.user.clone(),
        create_time: Utc::now(),
        revoke_time: None,
        last_use_time: None,
    };
    let audit = AuditDraft::new(format!("apiKeys/{id}"), Change::Created)
        .with_fields(diff(
            None,
            Some(&serde_json::json!({
                "display_name": key.display_name,
                "scopes": Permission::names(&key.scopes),
            })),
        ))
        .into_outbox(&principal, sources::GATEWAY, key.create_time);
    state
        .api_keys
        .store()
        .create(&key, &audit)
        .await
        .map_err(store_problem)?;
    state.outbox.notify();
    let mut json = ApiKeyJson::from(&key);
    json.key = Some(token);
    let location = format!("/v1/api-keys/{id}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(json),
    )
        .into_response())
}

/// `GET /v1/api-keys`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<axum::Json<ApiKeysJson>, Problem> {
    require_admin(&principal)?;
    let keys = state
        .api_keys
        .store()
        .list(&principal.tenant)
        .await
        .map_err(store_problem)?;
    Ok(axum::Json(ApiKeysJson {
        api_keys: keys.iter().map(ApiKeyJson::from).collect(),
    }))
}

fn key_id(id: &str) -> Result<Uuid, Problem> {
    Uuid::try_parse(id).map_err(|_| not_found())
}

/// `GET /v1/api-keys/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<ApiKeyJson>, Problem> {
    require_admin(&principal)?;
    let key = state
        .api_keys
        .store()
        .get(&principal.tenant, key_id(&id)?)
        .await
        .map_err(store_problem)?
        .ok_or_else(not_found)?;
    Ok(axum::Json(ApiKeyJson::from(&key)))
}

/// `POST /v1/api-keys/{id}:revoke`: the key stops working at once on this
/// replica and within seconds on every other; the record stays.
pub(crate) async fn post_action(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(segment): Path<String>,
) -> Result<axum::Json<ApiKeyJson>, Problem> {
    let (id, Some("revoke")) = super::split_action(&segment) else {
        return Err(super::no_route());
    };
    require_admin(&principal)?;
    let id = key_id(id)?;
    let now = Utc::now();
    let audit = AuditDraft::new(format!("apiKeys/{id}"), Change::Updated)
        .with_fields(diff(
            None,
            Some(&serde_json::json!({ "revoke_time": now.to_rfc3339() })),
        ))
        .into_outbox(&principal, sources::GATEWAY, now);
    let key = state
        .api_keys
        .store()
        .revoke(&principal.tenant, id, now, &audit)
        .await
        .map_err(store_problem)?
        .ok_or_else(not_found)?;
    state.outbox.notify();
    state.api_keys.forget(&principal.tenant, id);
    Ok(axum::Json(ApiKeyJson::from(&key)))
}
