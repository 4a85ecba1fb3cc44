//! `/v1/auth/...`: browser sign-in through the company's OpenID provider
//! (authorization code flow with PKCE), the session it leaves in a cookie,
//! and sign-out.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use rapport_platform::{
    audit::{AuditDraft, Change, Origin, diff},
    events::sources,
    identity::AuthError,
};
use serde::{Deserialize, Serialize};

use super::query;
use crate::{
    AppState,
    live_sessions::public_id,
    oidc::OidcVerifier,
    problem::Problem,
    session::{
        CSRF_COOKIE, CSRF_HEADER, LOGIN_COOKIE, NewSession, SESSION_COOKIE, Session, cookie,
        pkce_challenge, set_cookie,
    },
    store::StoredSession,
};

/// The gateway as an OIDC client of the provider.
pub(crate) struct SignIn {
    /// The provider.
    pub(crate) oidc: Arc<OidcVerifier>,
    /// The gateway's client id.
    pub(crate) client_id: String,
    /// Its client secret.
    pub(crate) client_secret: String,
    /// The callback URL registered at the provider, if configured.
    pub(crate) redirect_url: Option<String>,
}

fn not_configured() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "SIGN_IN_NOT_CONFIGURED",
        "browser sign-in needs auth.oidc_issuer, auth.oidc_client_id and auth.oidc_client_secret",
    )
}

fn refused(e: AuthError) -> Problem {
    match e {
        AuthError::Unavailable(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "IDENTITY_PROVIDER_UNAVAILABLE",
            e.to_string(),
        ),
        e => Problem::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", e.to_string()),
    }
}

/// The callback URL: configured, or this request's own origin.
fn redirect_url(sign_in: &SignIn, headers: &HeaderMap) -> String {
    if let Some(url) = &sign_in.redirect_url {
        return url.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let loopback = host.starts_with("127.0.0.1") || host.starts_with("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or(if loopback { "http" } else { "https" });
    format!("{scheme}://{host}/v1/auth/callback")
}

/// Only a path of this site: never `//evil.example`, an absolute URL, or
/// one browsers turn into either (they drop tabs and line breaks, and read
/// `\` as `/`).
fn safe_return_to(path: Option<String>) -> String {
    match path {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            p
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn return_to_stays_on_this_site() {
        assert_eq!(
            safe_return_to(Some("/contacts?q=a".into())),
            "/contacts?q=a"
        );
        for evil in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "evil",
        ] {
            assert_eq!(safe_return_to(Some(evil.into())), "/", "{evil:?}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}

/// Query of `GET /v1/auth/login`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginQuery {
    return_to: Option<String>,
}

/// `GET /v1/auth/login`: to the provider, with state, nonce and a PKCE
/// challenge; their secrets stay in an HttpOnly login cookie.
pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<LoginQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let sign_in = state.sign_in.as_ref().ok_or_else(not_configured)?;
    let q = query(q)?;
    let endpoint = sign_in
        .oidc
        .discovery()
        .await
        .map_err(refused)?
        .authorization_endpoint
        .ok_or_else(|| {
            refused(AuthError::Unavailable(
                "the provider names no authorization endpoint".into(),
            ))
        })?;
    let (login_cookie, login) = state.sessions.start_login(safe_return_to(q.return_to));
    let mut url = url::Url::parse(&endpoint)
        .map_err(|_| refused(AuthError::Unavailable("bad authorization endpoint".into())))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &sign_in.client_id)
        .append_pair("redirect_uri", &redirect_url(sign_in, &headers))
        .append_pair("scope", "openid rapport")
        .append_pair("state", &login.state)
        .append_pair("nonce", &login.nonce)
        .append_pair("code_challenge", &pkce_challenge(&login.verifier))
        .append_pair("code_challenge_method", "S256");
    Ok((
        StatusCode::FOUND,
        [
            (
                header::LOCATION,
                axum::http::HeaderValue::from_str(url.as_str()).map_err(|_| {
                    refused(AuthError::Unavailable("bad authorization endpoint".into()))
                })?,
            ),
            (
                header::SET_COOKIE,
                set_cookie(LOGIN_COOKIE, &login_cookie, Duration::from_secs(600), true),
            ),
        ],
    )
        .into_response())
}

/// Query of `GET /v1/auth/callback`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /v1/auth/callback`: the provider sends the browser back with a
/// code; with the login cookie's state and verifier it becomes a session.
pub(crate) async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let sign_in = state.sign_in.as_ref().ok_or_else(not_configured)?;
    let q = query(q)?;
    if let Some(error) = q.error {
        return Err(refused(AuthError::Refused(format!(
            "the provider ended the sign-in: {error} {}",
            q.error_description.unwrap_or_default()
        ))));
    }
    let login = cookie(&headers, LOGIN_COOKIE)
        .and_then(|c| state.sessions.open_login(c))
        .ok_or_else(|| {
            refused(AuthError::Refused(
                "no sign-in in progress in this browser (or it took over 10 minutes)".into(),
            ))
        })?;
    // The state ties the callback to the sign-in this browser started: a
    // code injected from another sign-in is refused here.
    if q.state.as_deref() != Some(login.state.as_str()) {
        return Err(refused(AuthError::Refused(
            "the sign-in state does not match".into(),
        )));
    }
    let code = q
        .code
        .ok_or_else(|| refused(AuthError::Refused("no code".into())))?;
    let id_token = sign_in
        .oidc
        .exchange_code(
            &sign_in.client_id,
            &sign_in.client_secret,
            &code,
            &login.verifier,
            &redirect_url(sign_in, &headers),
        )
        .await
        .map_err(refused)?;
    let principal = sign_in
        .oidc
        .id_token_principal(&id_token, &sign_in.client_id, &login.nonce)
        .await
        .map_err(refused)?;
    let new = state.sessions.create(&principal);
    record(&state, &principal, &new).await?;
    let (session, csrf) = (new.cookie, new.csrf);
    let ttl = state.sessions.ttl();
    let mut resp = (
        StatusCode::FOUND,
        [(
            header::LOCATION,
            axum::http::HeaderValue::from_str(&login.return_to)
                .unwrap_or_else(|_| axum::http::HeaderValue::from_static("/")),
        )],
    )
        .into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &session, ttl, true),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(CSRF_COOKIE, &csrf, ttl, false),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, "", Duration::ZERO, true),
    );
    Ok(resp)
}

/// Records a new session (so it can be ended on the server) with the
/// sign-in's audit entry.
async fn record(
    state: &AppState,
    principal: &rapport_platform::identity::Principal,
    new: &NewSession,
) -> Result<(), Problem> {
    let origin = Origin::current();
    let now = Utc::now();
    let stored = StoredSession {
        tenant: principal.tenant.clone(),
        user: principal.user.clone(),
        id: public_id(&new.sid),
        create_time: now,
        expire_time: new.expire_time,
        revoke_time: None,
        user_agent: origin.user_agent.clone(),
        address: origin.client_ip.clone(),
    };
    let audit = AuditDraft::new(
        super::sessions::resource(&stored.user, &stored.id),
        Change::Created,
    )
    .with_fields(diff(
        None,
        Some(&serde_json::json!({
            "expire_time": stored.expire_time.to_rfc3339(),
            "user_agent": stored.user_agent,
        })),
    ))
    .into_outbox(principal, sources::GATEWAY, now);
    state
        .live_sessions
        .store()
        .create_session(&stored, &audit)
        .await
        .map_err(super::store_problem)?;
    state.outbox.notify();
    Ok(())
}

/// Who a session is, for the frontend.
#[derive(Debug, Serialize)]
pub(crate) struct SessionJson {
    /// The session's id in `/v1/users/{user}/sessions`.
    id: String,
    tenant: String,
    user: String,
    roles: Vec<String>,
    teams: Vec<String>,
    /// Send it back in `X-CSRF-Token` on every change.
    csrf_token: String,
    expire_time: String,
}

/// The request's session, if its cookie holds one that is still live.
async fn live_session(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, Problem> {
    let Some(s) = cookie(headers, SESSION_COOKIE).and_then(|c| state.sessions.open_session(c))
    else {
        return Ok(None);
    };
    let live = state
        .live_sessions
        .is_live(&s.principal, &public_id(&s.sid))
        .await
        .map_err(super::store_problem)?;
    Ok(live.then_some(s))
}

/// `GET /v1/auth/session`: the signed-in user, or 401 (also once the
/// session was ended on the server).
pub(crate) async fn session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<axum::Json<SessionJson>, Problem> {
    let s = live_session(&state, &headers)
        .await?
        .ok_or_else(|| refused(AuthError::Missing))?;
    let p = &s.principal;
    Ok(axum::Json(SessionJson {
        id: public_id(&s.sid),
        tenant: p.tenant.to_string(),
        user: p.user.to_string(),
        roles: p.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        teams: p.teams.iter().map(ToString::to_string).collect(),
        csrf_token: state.sessions.csrf_token(&s.sid),
        expire_time: chrono::DateTime::from_timestamp(s.exp, 0)
            .unwrap_or_default()
            .to_rfc3339(),
    }))
}

/// `POST /v1/auth/logout`: ends the session on the server, so a copy of
/// the cookie stops working too, and clears it from this browser (needs
/// the CSRF token, so another site cannot sign people out).
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    if let Some(s) = live_session(&state, &headers).await? {
        let token = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !state.sessions.csrf_matches(&s.sid, token) {
            return Err(crate::auth::csrf_problem());
        }
        let p = &s.principal;
        super::sessions::end(&state, p, &p.tenant, &p.user, &[public_id(&s.sid)]).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", Duration::ZERO, true),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(CSRF_COOKIE, "", Duration::ZERO, false),
    );
    Ok(resp)
}
