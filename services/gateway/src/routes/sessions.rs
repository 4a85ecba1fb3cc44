//! `/v1/users/{user}/sessions`: a person's browser sessions, listed and
//! ended on the server. Anyone may see and end their own ("sign out
//! everywhere" after a lost laptop); ending someone else's needs
//! `sessions.manage` (an admin, when a person leaves or a device is
//! stolen). An ended session fails within seconds on every replica.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, SecondsFormat, Utc};
use rapport_platform::{
    audit::{AuditDraft, Change, diff},
    events::sources,
    identity::{Permission, Principal, TenantId, UserId},
};
use serde::Serialize;
use serde_json::json;

use super::store_problem;
use crate::{AppState, auth::Caller, problem::Problem, store::StoredSession};

/// A session as REST shows it.
#[derive(Debug, Serialize)]
pub(crate) struct SessionJson {
    id: String,
    user: String,
    create_time: String,
    expire_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoke_time: Option<String>,
    user_agent: String,
    address: String,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl From<&StoredSession> for SessionJson {
    fn from(s: &StoredSession) -> Self {
        SessionJson {
            id: s.id.clone(),
            user: s.user.to_string(),
            create_time: time(s.create_time),
            expire_time: time(s.expire_time),
            revoke_time: s.revoke_time.map(time),
            user_agent: s.user_agent.clone(),
            address: s.address.clone(),
        }
    }
}

/// `GET /v1/users/{user}/sessions`.
#[derive(Debug, Serialize)]
pub(crate) struct SessionsJson {
    sessions: Vec<SessionJson>,
}

/// The user a path names, if the caller may manage their sessions.
fn whose(p: &Principal, user: &str) -> Result<UserId, Problem> {
    let user = UserId::parse(user)
        .map_err(|_| Problem::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such user"))?;
    if user != p.user {
        p.require(Permission::ManageSessions)
            .map_err(|denied| Problem::denied(&denied))?;
    }
    Ok(user)
}

/// The audit resource of a session.
pub(crate) fn resource(user: &UserId, id: &str) -> String {
    format!("users/{user}/sessions/{id}")
}

/// Ends `user`'s sessions among `ids` on behalf of `actor`, each with its
/// audit entry, and forgets them on this replica; returns those ended.
pub(crate) async fn end(
    state: &AppState,
    actor: &Principal,
    tenant: &TenantId,
    user: &UserId,
    ids: &[String],
) -> Result<Vec<String>, Problem> {
    let now = Utc::now();
    let audits: Vec<_> = ids
        .iter()
        .map(|id| {
            AuditDraft::new(resource(user, id), Change::Updated)
                .with_fields(diff(None, Some(&json!({ "revoke_time": time(now) }))))
                .into_outbox(actor, sources::GATEWAY, now)
        })
        .collect();
    let ended = state
        .live_sessions
        .store()
        .revoke_sessions(tenant, user, ids, now, &audits)
        .await
        .map_err(store_problem)?;
    state.live_sessions.forget(tenant, user, ids);
    if !ended.is_empty() {
        state.outbox.notify();
    }
    Ok(ended)
}

/// `GET /v1/users/{user}/sessions`: sessions that have not expired, ended
/// ones with their revoke time, newest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(user): Path<String>,
) -> Result<axum::Json<SessionsJson>, Problem> {
    let user = whose(&p, &user)?;
    let sessions = state
        .live_sessions
        .store()
        .sessions(&p.tenant, &user)
        .await
        .map_err(store_problem)?;
    Ok(axum::Json(SessionsJson {
        sessions: sessions.iter().map(SessionJson::from).collect(),
    }))
}

/// `DELETE /v1/users/{user}/sessions/{id}`: ends one session (204, also
/// when it had ended already; 404 when there is no such session).
pub(crate) async fn delete(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((user, id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let user = whose(&p, &user)?;
    let known = state
        .live_sessions
        .store()
        .session(&p.tenant, &user, &id)
        .await
        .map_err(store_problem)?;
    if known.is_none() {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such session (or it expired)",
        ));
    }
    end(&state, &p, &p.tenant.clone(), &user, &[id]).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What `POST /v1/users/{user}/sessions:revoke` answers.
#[derive(Debug, Serialize)]
pub(crate) struct RevokedJson {
    /// The sessions this call ended.
    revoked: Vec<String>,
}

/// `POST /v1/users/{user}/sessions:revoke`: ends every live session of the
/// user ("sign out everywhere"), the caller's own included.
pub(crate) async fn revoke_all(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(user): Path<String>,
) -> Result<axum::Json<RevokedJson>, Problem> {
    let user = whose(&p, &user)?;
    let now = Utc::now();
    let live: Vec<String> = state
        .live_sessions
        .store()
        .sessions(&p.tenant, &user)
        .await
        .map_err(store_problem)?
        .into_iter()
        .filter(|s| s.live(now))
        .map(|s| s.id)
        .collect();
    let revoked = end(&state, &p, &p.tenant.clone(), &user, &live).await?;
    Ok(axum::Json(RevokedJson { revoked }))
}
