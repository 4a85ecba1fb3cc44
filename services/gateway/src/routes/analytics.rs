//! `/v1/analytics/summary`.

use axum::extract::State;
use rapport_proto::analytics::v1::GetSummaryRequest;
use serde::Serialize;

use crate::{AppState, auth::Caller, problem::Problem};

/// The caller's tenant's figures, as built from events so far.
#[derive(Debug, Serialize)]
pub(crate) struct SummaryJson {
    contacts: i64,
    interactions: i64,
    deals: i64,
    tasks: i64,
}

/// `GET /v1/analytics/summary`.
pub(crate) async fn summary(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<axum::Json<SummaryJson>, Problem> {
    let s = state
        .peers
        .analytics
        .clone()
        .get_summary(principal.request(GetSummaryRequest {}))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(SummaryJson {
        contacts: s.contacts,
        interactions: s.interactions,
        deals: s.deals,
        tasks: s.tasks,
    }))
}
