//! `/v1/roles`: the tenant's custom roles (tenant admins). A custom role is
//! a name and the permissions it grants; people get it from the identity
//! provider's role claim (or a dev token) like a built-in role.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{SecondsFormat, Utc};
use rapport_platform::{
    audit::{AuditDraft, Change, diff},
    error::FieldViolation,
    events::sources,
    identity::{CustomRoleName, Permission, Principal, Role},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{merge_patch::precondition, store_problem};
use crate::{
    AppState,
    auth::Caller,
    json::JsonBody,
    problem::Problem,
    store::{CustomRole, RoleWrite},
};

/// Longest description.
const MAX_DESCRIPTION: usize = 500;

/// A new role as REST takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewRoleJson {
    name: String,
    #[serde(default)]
    description: String,
    permissions: Vec<String>,
}

/// A change of a role: what is given replaces what is stored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RolePatchJson {
    description: Option<String>,
    permissions: Option<Vec<String>>,
    etag: Option<String>,
}

/// A role as REST shows it.
#[derive(Debug, Serialize)]
pub(crate) struct RoleJson {
    name: String,
    description: String,
    permissions: Vec<&'static str>,
    built_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    create_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    update_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_by: Option<String>,
}

fn etag(r: &CustomRole) -> String {
    format!("\"{}\"", r.version)
}

impl From<&CustomRole> for RoleJson {
    fn from(r: &CustomRole) -> Self {
        let time = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        RoleJson {
            name: r.name.to_string(),
            description: r.description.clone(),
            permissions: r.permissions.iter().map(|p| p.as_str()).collect(),
            built_in: false,
            etag: Some(etag(r)),
            create_time: Some(time(r.create_time)),
            created_by: Some(r.created_by.to_string()),
            update_time: Some(time(r.update_time)),
            updated_by: Some(r.updated_by.to_string()),
        }
    }
}

/// A built-in role, with what it grants (not editable).
fn built_in(role: Role, description: &str) -> RoleJson {
    RoleJson {
        name: role.as_str().to_owned(),
        description: description.to_owned(),
        permissions: Permission::all()
            .filter(|p| role.grants(*p))
            .map(Permission::as_str)
            .collect(),
        built_in: true,
        etag: None,
        create_time: None,
        created_by: None,
        update_time: None,
        updated_by: None,
    }
}

/// The tenant's roles: built-in first, then custom ones by name.
#[derive(Debug, Serialize)]
pub(crate) struct RolesJson {
    roles: Vec<RoleJson>,
    /// Every permission a custom role may grant.
    permissions: Vec<&'static str>,
}

fn require_admin(p: &Principal) -> Result<(), Problem> {
    p.require(Permission::ManageRoles)
        .map_err(|denied| Problem::denied(&denied))
}

fn not_found(name: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "ROLE_NOT_FOUND",
        format!(
            "no custom role {:?}",
            name.chars().take(64).collect::<String>()
        ),
    )
}

fn invalid(errors: Vec<FieldViolation>) -> Problem {
    Problem::invalid("INVALID_ROLE", "the role is invalid", errors)
}

fn name_of(name: &str) -> Result<CustomRoleName, Problem> {
    CustomRoleName::parse(name).map_err(|_| not_found(name))
}

/// Permission names into a set; each unknown one is reported.
fn permissions(names: &[String], errors: &mut Vec<FieldViolation>) -> Vec<Permission> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match Permission::parse_many(name.trim()) {
            Ok(ps) => out.extend(ps),
            Err(_) => errors.push(FieldViolation::new(
                format!("permissions[{i}]"),
                format!("unknown permission {name:?}; GET /v1/roles lists them"),
            )),
        }
    }
    out.sort();
    out.dedup();
    out
}

fn description(text: &str, errors: &mut Vec<FieldViolation>) -> String {
    let text = text.trim();
    if text.chars().count() > MAX_DESCRIPTION || text.chars().any(char::is_control) {
        errors.push(FieldViolation::new(
            "description",
            format!("at most {MAX_DESCRIPTION} characters, no control characters"),
        ));
    }
    text.to_owned()
}

/// The version an `If-Match` (or body `etag`) names; `None` for any.
fn expected_version(headers: &HeaderMap, body: Option<String>) -> Result<Option<u64>, Problem> {
    let etag = precondition(headers, body)?;
    let bare = etag.trim_start_matches("W/").trim_matches('"');
    if bare.is_empty() {
        return Ok(None);
    }
    // An etag that is not a version matches nothing.
    Ok(Some(bare.parse().unwrap_or(u64::MAX)))
}

fn stale() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "ETAG_MISMATCH",
        "the role changed since it was read; read it again",
    )
}

/// `GET /v1/roles`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<axum::Json<RolesJson>, Problem> {
    require_admin(&principal)?;
    let custom = state
        .roles
        .store()
        .roles(&principal.tenant)
        .await
        .map_err(store_problem)?;
    let mut roles = vec![
        built_in(Role::Admin, "administers the tenant; sees every record"),
        built_in(
            Role::Manager,
            "sees the records of their teams and sub-teams; merges, hands over, imports, exports",
        ),
        built_in(Role::Rep, "sees and edits own and shared records"),
        built_in(
            Role::ReadOnly,
            "reads what a manager would see; changes nothing",
        ),
        built_in(
            Role::System,
            "partner systems (API keys): reads, writes, imports and exports every record",
        ),
    ];
    roles.extend(custom.iter().map(RoleJson::from));
    Ok(axum::Json(RolesJson {
        roles,
        permissions: Permission::all().map(Permission::as_str).collect(),
    }))
}

/// `POST /v1/roles`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<NewRoleJson>,
) -> Result<Response, Problem> {
    require_admin(&principal)?;
    let mut errors = Vec::new();
    let name = CustomRoleName::parse(body.name.trim())
        .map_err(|e| errors.push(FieldViolation::new("name", e.to_string())))
        .ok();
    let description = description(&body.description, &mut errors);
    let permissions = permissions(&body.permissions, &mut errors);
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(invalid(errors));
    };
    let now = Utc::now();
    let role = CustomRole {
        tenant: principal.tenant.clone(),
        name,
        description,
        permissions,
        version: 1,
        created_by: principal.user.clone(),
        create_time: now,
        updated_by: principal.user.clone(),
        update_time: now,
    };
    let audit = AuditDraft::new(format!("roles/{}", role.name), Change::Created)
        .with_fields(diff(None, Some(&fields(&role))))
        .into_outbox(&principal, sources::GATEWAY, now);
    match state
        .roles
        .store()
        .put_role(&role, None, &audit)
        .await
        .map_err(store_problem)?
    {
        RoleWrite::Done => {}
        RoleWrite::Conflict | RoleWrite::Stale => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "ROLE_EXISTS",
                format!("a custom role {} exists already", role.name),
            ));
        }
    }
    changed(&state, &principal);
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, format!("/v1/roles/{}", role.name)),
            (header::ETAG, etag(&role)),
        ],
        axum::Json(RoleJson::from(&role)),
    )
        .into_response())
}

/// What an audit entry compares.
fn fields(r: &CustomRole) -> serde_json::Value {
    json!({
        "description": r.description,
        "permissions": r.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
    })
}

/// This replica sees the change at once; the others within the cache time.
fn changed(state: &AppState, principal: &Principal) {
    state.roles.forget(&principal.tenant);
    state.outbox.notify();
}

async fn stored(
    state: &AppState,
    principal: &Principal,
    name: &CustomRoleName,
) -> Result<CustomRole, Problem> {
    state
        .roles
        .store()
        .roles(&principal.tenant)
        .await
        .map_err(store_problem)?
        .into_iter()
        .find(|r| &r.name == name)
        .ok_or_else(|| not_found(name.as_str()))
}

/// The role as JSON with its `ETag`.
fn with_etag(role: &CustomRole) -> Response {
    (
        [(header::ETAG, etag(role))],
        axum::Json(RoleJson::from(role)),
    )
        .into_response()
}

/// `GET /v1/roles/{name}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    require_admin(&principal)?;
    let role = stored(&state, &principal, &name_of(&name)?).await?;
    Ok(with_etag(&role))
}

/// `PATCH /v1/roles/{name}`: people holding the role get the new
/// permissions within seconds, on their next request.
pub(crate) async fn patch(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RolePatchJson>,
) -> Result<Response, Problem> {
    require_admin(&principal)?;
    let expected = expected_version(&headers, body.etag)?;
    let current = stored(&state, &principal, &name_of(&name)?).await?;
    if expected.is_some_and(|v| v != current.version) {
        return Err(stale());
    }
    let mut errors = Vec::new();
    let mut next = current.clone();
    if let Some(d) = &body.description {
        next.description = description(d, &mut errors);
    }
    if let Some(p) = &body.permissions {
        next.permissions = permissions(p, &mut errors);
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    if next == current {
        return Ok(with_etag(&current));
    }
    let now = Utc::now();
    next.version += 1;
    next.updated_by = principal.user.clone();
    next.update_time = now;
    let audit = AuditDraft::new(format!("roles/{}", next.name), Change::Updated)
        .with_fields(diff(Some(&fields(&current)), Some(&fields(&next))))
        .into_outbox(&principal, sources::GATEWAY, now);
    match state
        .roles
        .store()
        .put_role(&next, Some(current.version), &audit)
        .await
        .map_err(store_problem)?
    {
        RoleWrite::Done => {}
        RoleWrite::Stale => return Err(stale()),
        RoleWrite::Conflict => return Err(not_found(&name)),
    }
    changed(&state, &principal);
    Ok(with_etag(&next))
}

/// `DELETE /v1/roles/{name}`: people holding the role lose what it
/// granted within seconds.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    require_admin(&principal)?;
    let expected = expected_version(&headers, None)?;
    let current = stored(&state, &principal, &name_of(&name)?).await?;
    let now = Utc::now();
    let audit = AuditDraft::new(format!("roles/{}", current.name), Change::Deleted)
        .with_fields(diff(Some(&fields(&current)), None))
        .into_outbox(&principal, sources::GATEWAY, now);
    match state
        .roles
        .store()
        .delete_role(&principal.tenant, &current.name, expected, &audit)
        .await
        .map_err(store_problem)?
    {
        RoleWrite::Done => {}
        RoleWrite::Stale => return Err(stale()),
        RoleWrite::Conflict => return Err(not_found(&name)),
    }
    changed(&state, &principal);
    Ok(StatusCode::NO_CONTENT)
}
