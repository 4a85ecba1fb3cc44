//! Authentication: a bearer token in, a principal out, charged to its
//! tenant's rate limit for the route's class.

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};
use rapport_platform::identity::{AuthError, Principal};

use std::time::Instant;

use crate::{AppState, problem::Problem, rate_limit::RouteClass};

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
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthError::Missing)
            .map_err(unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::Malformed(
                "expected 'Authorization: Bearer <token>'",
            ))
            .map_err(unauthorized)?;
        let principal = state
            .authenticator
            .authenticate(token.trim())
            .map_err(unauthorized)?;
        tracing::Span::current().record("tenant", principal.tenant.as_str());
        let class = RouteClass::of(&parts.method, parts.uri.path());
        if let Err(limited) = state
            .limits
            .charge(&principal.tenant, class, Instant::now())
        {
            let mut p = Problem::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                format!(
                    "too many {} requests for this tenant; retry in {} s",
                    limited.class, limited.retry_after
                ),
            );
            p.extensions
                .insert("route_class".into(), limited.class.into());
            p.retry_after = Some(limited.retry_after);
            return Err(p);
        }
        Ok(Caller(principal))
    }
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
