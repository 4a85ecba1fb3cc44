//! Liveness, readiness and the OpenAPI document.

use std::time::Duration;

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use serde_json::json;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use crate::{AppState, problem::Problem};

/// How long readiness waits for each peer's health answer.
const PEER_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process is up and serving HTTP.
pub(crate) async fn live() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// `GET /readyz`: every peer service answers its gRPC health check with
/// SERVING, so requests can succeed.
pub(crate) async fn ready(State(state): State<AppState>) -> Result<impl IntoResponse, Problem> {
    let checks = state.peers.health.iter().map(|(name, client)| {
        let mut client = client.clone();
        async move {
            let answer = tokio::time::timeout(
                PEER_CHECK_TIMEOUT,
                client.check(HealthCheckRequest {
                    service: String::new(),
                }),
            )
            .await;
            let serving = matches!(
                answer,
                Ok(Ok(ref r)) if r.get_ref().status == ServingStatus::Serving as i32
            );
            (*name, serving)
        }
    });
    let results = futures::future::join_all(checks).await;
    let down: Vec<&str> = results
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect();
    if down.is_empty() {
        Ok(axum::Json(json!({"status": "ready"})))
    } else {
        Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            format!("not serving: {}", down.join(", ")),
        ))
    }
}

/// `GET /v1/openapi.yaml`: the REST API's OpenAPI document.
pub(crate) async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/yaml")],
        include_str!("../../../../docs/openapi.yaml"),
    )
}
