//! Authentication: a bearer token in, a principal out.

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};
use rapport_platform::identity::{AuthError, Principal};

use crate::{AppState, problem::Problem};

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
