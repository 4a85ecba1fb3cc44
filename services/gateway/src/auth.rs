//! Authentication: a bearer token in, a principal out, charged to its
//! tenant's rate limit (and its API key's) for the route's class. Tokens
//! starting `rk_` are API keys, checked against the gateway's store;
//! anything else goes to the configured [`Authenticator`](rapport_platform::identity::Authenticator).

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{Method, header, request::Parts},
};
use rapport_platform::identity::{AuthError, Principal};

use std::time::Instant;

use crate::{
    AppState,
    api_keys::{KeyError, TOKEN_PREFIX},
    problem::Problem,
    rate_limit::{Limited, RouteClass},
    routes::store_problem,
    session::{CSRF_HEADER, SESSION_COOKIE, cookie},
};

/// The authenticated caller of a request.
pub(crate) struct Caller(pub(crate) Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let unauthorized = |e: AuthError| {
            Problem::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                e.to_string(),
            )
        };
        let Some(header) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            // No bearer token: a browser's session cookie, if any.
            let principal = resolve(state, session_principal(parts, state).await?).await?;
            return charge(state, &parts.method, parts.uri.path(), principal, None);
        };
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::Malformed(
                "expected 'Authorization: Bearer <token>'",
            ))
            .map_err(unauthorized)?;
        let token = token.trim();
        let (principal, key) = if token.starts_with(TOKEN_PREFIX) {
            match state.api_keys.authenticate(token).await {
                Ok((principal, key)) => (principal, Some(key)),
                Err(KeyError::Auth(e)) => return Err(unauthorized(e)),
                Err(KeyError::Store(e)) => return Err(store_problem(e)),
            }
        } else {
            let principal = match state.authenticator.authenticate(token).await {
                Ok(p) => p,
                // The provider's keys could not be fetched: not the caller's fault.
                Err(e @ AuthError::Unavailable(_)) => {
                    return Err(Problem::new(
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        "IDENTITY_PROVIDER_UNAVAILABLE",
                        e.to_string(),
                    ));
                }
                Err(e) => return Err(unauthorized(e)),
            };
            (resolve(state, principal).await?, None)
        };
        charge(state, &parts.method, parts.uri.path(), principal, key)
    }
}

/// The principal with its custom roles resolved into grants.
async fn resolve(state: &AppState, principal: Principal) -> Result<Principal, Problem> {
    state
        .roles
        .resolve(principal)
        .await
        .map_err(crate::routes::store_problem)
}

/// The principal of the request's session cookie, if the session is still
/// live; a request that changes something must also carry the session's
/// CSRF token.
async fn session_principal(parts: &Parts, state: &AppState) -> Result<Principal, Problem> {
    let unauthorized = |e: AuthError| {
        Problem::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            e.to_string(),
        )
    };
    let session = cookie(&parts.headers, SESSION_COOKIE)
        .ok_or(AuthError::Missing)
        .map_err(unauthorized)?;
    let session = state
        .sessions
        .open_session(session)
        .ok_or_else(|| unauthorized(AuthError::Expired))?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let token = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !state.sessions.csrf_matches(&session.sid, token) {
            return Err(csrf_problem());
        }
    }
    let id = crate::live_sessions::public_id(&session.sid);
    if !state
        .live_sessions
        .is_live(&session.principal, &id)
        .await
        .map_err(store_problem)?
    {
        return Err(unauthorized(AuthError::Refused(
            "the session was ended (signed out); sign in again".into(),
        )));
    }
    Ok(session.principal)
}

/// 403 for a cookie-authenticated change without the session's CSRF token.
pub(crate) fn csrf_problem() -> Problem {
    Problem::new(
        axum::http::StatusCode::FORBIDDEN,
        "CSRF_TOKEN_INVALID",
        format!(
            "a change made with a session cookie needs the session's CSRF token in {CSRF_HEADER}"
        ),
    )
}

/// Charges the request to its tenant's (and API key's) rate limit.
fn charge(
    state: &AppState,
    method: &Method,
    path: &str,
    principal: Principal,
    key: Option<uuid::Uuid>,
) -> Result<Caller, Problem> {
    {
        tracing::Span::current().record("tenant", principal.tenant.as_str());
        let class = RouteClass::of(method, path);
        let now = Instant::now();
        // The key's own bucket first: a key over its rate does not take
        // from its tenant's.
        if let Some(key) = key {
            state
                .key_limits
                .charge(&key.to_string(), class, now)
                .map_err(|l| limited(l, "API key"))?;
        }
        state
            .limits
            .charge(principal.tenant.as_str(), class, now)
            .map_err(|l| limited(l, "tenant"))?;
        Ok(Caller(principal))
    }
}

fn limited(limited: Limited, whose: &str) -> Problem {
    let mut p = Problem::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        format!(
            "too many {} requests for this {whose}; retry in {} s",
            limited.class, limited.retry_after
        ),
    );
    p.extensions
        .insert("route_class".into(), limited.class.into());
    p.retry_after = Some(limited.retry_after);
    p
}

impl OptionalFromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Problem> {
        Ok(
            <Caller as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}
