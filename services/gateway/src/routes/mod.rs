//! REST routes, one file per resource.

mod analytics;
mod contacts;
mod deals;
mod health;
mod interactions;
mod tasks;

use std::sync::Arc;

use axum::{
    Router,
    http::StatusCode,
    middleware,
    routing::{get, post},
};
use chrono::{DateTime, SecondsFormat, Utc};
use rapport_platform::{
    metrics::{Metrics, metrics_router},
    proto_time::from_timestamp,
};

use crate::{AppState, problem::Problem};

/// The whole REST surface.
pub(crate) fn router(state: AppState, metrics: Arc<Metrics>) -> Router {
    let api = Router::new()
        .route("/v1/contacts", post(contacts::create))
        .route("/v1/contacts/{id}", get(contacts::get))
        .route("/v1/contacts/{id}/interactions", post(interactions::log))
        .route("/v1/contacts/{id}/timeline", get(interactions::timeline))
        .route("/v1/deals", post(deals::create))
        .route("/v1/deals/{id}", get(deals::get))
        .route("/v1/tasks", post(tasks::create))
        .route("/v1/tasks/{id}", get(tasks::get))
        .route("/v1/analytics/summary", get(analytics::summary))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/v1/openapi.yaml", get(health::openapi))
        .fallback(not_found)
        .with_state(state);
    // The observe layer wraps routes (so it sees the matched route) and the
    // metrics endpoint; it runs before any handler or extractor.
    api.merge(metrics_router(metrics.clone()))
        .layer(middleware::from_fn_with_state(
            metrics,
            crate::http_layer::observe,
        ))
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND", "no such route")
}

/// RFC 3339 in UTC with milliseconds, as every REST time is written.
pub(crate) fn rfc3339(t: Option<&prost_types::Timestamp>) -> Option<String> {
    t.and_then(from_timestamp)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Parses an RFC 3339 time from a request.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Empty strings become `null` in JSON.
pub(crate) fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}
