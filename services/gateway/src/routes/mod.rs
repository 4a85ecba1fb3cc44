//! REST routes, one file per resource.

mod address;
mod analytics;
mod api_keys;
mod audit;
pub(crate) use api_keys::store_problem;
mod companies;
mod contacts;
mod custom_fields;
mod deals;
mod enums;
mod exports;
mod filter;
mod handover;
mod health;
mod imports;
mod interactions;
mod merge_patch;
mod personal_data;
mod pipelines;
mod roles;
mod sessions;
mod settings;
mod sign_in;
mod tasks;
mod values;

use std::sync::Arc;

use axum::{
    Router,
    extract::{Query, rejection::QueryRejection},
    http::StatusCode,
    middleware,
    routing::{delete, get, post, put},
};
use chrono::{DateTime, SecondsFormat, Utc};
use rapport_platform::{
    metrics::{Metrics, metrics_router},
    proto_time::from_timestamp,
};

use crate::{AppState, problem::Problem};

/// The whole REST surface.
pub(crate) use sign_in::SignIn;

pub(crate) fn router(state: AppState, metrics: Arc<Metrics>) -> Router {
    let api = Router::new()
        // AIP-136 custom methods (`/v1/contacts:search`) are routes of
        // their own; `{id}:action` cannot be matched inside one segment,
        // so `/v1/contacts/{id}` takes the whole segment and splits it.
        .route("/v1/contacts", post(contacts::create))
        .route("/v1/contacts:search", post(contacts::search))
        .route("/v1/contacts:lookup", get(contacts::lookup))
        .route("/v1/contacts:duplicates", get(contacts::contact_duplicates))
        .route("/v1/contacts:merge", post(contacts::merge))
        .route("/v1/contacts:reassign-owner", post(handover::reassign))
        .route(
            "/v1/contacts/{id}",
            get(contacts::get_or_action)
                .patch(contacts::patch)
                .post(contacts::post_action),
        )
        .route(
            "/v1/companies",
            post(companies::create).get(companies::list),
        )
        .route("/v1/companies:search", post(companies::search))
        .route("/v1/companies:merge", post(companies::merge))
        .route(
            "/v1/companies:duplicates",
            get(companies::company_duplicates),
        )
        .route(
            "/v1/companies/{id}",
            get(companies::get).patch(companies::patch),
        )
        .route(
            "/v1/custom-fields",
            get(custom_fields::list).post(custom_fields::create),
        )
        .route(
            "/v1/custom-fields/{object_type}/{key}",
            delete(custom_fields::delete),
        )
        .route("/v1/imports", post(imports::create))
        .route("/v1/imports/{id}", get(imports::get))
        .route("/v1/imports/{id}/data", put(imports::upload))
        .route("/v1/imports/{id}/errors", get(imports::errors))
        .route("/v1/exports", post(exports::export))
        .route(
            "/v1/contact-settings",
            get(settings::get).patch(settings::patch),
        )
        .route("/v1/contacts/{id}/interactions", post(interactions::log))
        .route("/v1/contacts/{id}/timeline", get(interactions::timeline))
        .route("/v1/deals", post(deals::create))
        .route("/v1/deals/{id}", get(deals::get))
        .route(
            "/v1/pipelines",
            get(pipelines::list).post(pipelines::create),
        )
        .route(
            "/v1/pipelines/{id}",
            get(pipelines::get).patch(pipelines::patch),
        )
        .route("/v1/tasks", post(tasks::create))
        .route("/v1/tasks/{id}", get(tasks::get))
        .route("/v1/analytics/summary", get(analytics::summary))
        .route("/v1/api-keys", post(api_keys::create).get(api_keys::list))
        .route(
            "/v1/api-keys/{id}",
            get(api_keys::get).post(api_keys::post_action),
        )
        .route("/v1/roles", get(roles::list).post(roles::create))
        .route(
            "/v1/roles/{name}",
            get(roles::get).patch(roles::patch).delete(roles::delete),
        )
        .route("/v1/audit", get(audit::list))
        .route("/v1/auth/login", get(sign_in::login))
        .route("/v1/auth/callback", get(sign_in::callback))
        .route("/v1/auth/session", get(sign_in::session))
        .route("/v1/auth/logout", post(sign_in::logout))
        .route("/v1/users/{user}/sessions", get(sessions::list))
        .route(
            "/v1/users/{user}/sessions:revoke",
            post(sessions::revoke_all),
        )
        .route("/v1/users/{user}/sessions/{id}", delete(sessions::delete))
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
    no_route()
}

/// 404 for a path no route serves (also an unknown `:action`).
pub(crate) fn no_route() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND", "no such route")
}

/// Splits `id:action` (AIP-136 custom method on a resource).
pub(crate) fn split_action(segment: &str) -> (&str, Option<&str>) {
    match segment.split_once(':') {
        Some((id, action)) => (id, Some(action)),
        None => (segment, None),
    }
}

/// A query string as `T`, or 400 `INVALID_QUERY`.
pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    q.map(|Query(q)| q).map_err(|e| {
        Problem::invalid(
            "INVALID_QUERY",
            format!("invalid query: {}", e.body_text()),
            Vec::new(),
        )
    })
}

/// A search's `total_size`: `None` when not computed (-1).
pub(crate) fn total_size(n: i64) -> Option<i64> {
    (n >= 0).then_some(n)
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
