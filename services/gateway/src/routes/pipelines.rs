//! `/v1/pipelines`: deal pipelines and their stages.
//!
//! Probabilities are JSON numbers between 0 and 1 with at most four
//! decimals (a basis point); the deals service keeps them as exact basis
//! points, so forecasts never round through floating point.

use std::collections::BTreeMap;

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use rapport_platform::error::FieldViolation;
use rapport_proto::deals::v1::{
    self as pb, CreatePipelineRequest, GetPipelineRequest, ListPipelinesRequest,
    UpdatePipelineRequest,
};
use serde::{Deserialize, Serialize};

use super::{merge_patch::precondition, rfc3339};
use crate::{AppState, auth::Caller, json::JsonBody, problem::Problem};

/// A stage as JSON.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StageJson {
    /// Id of a stage to keep; absent for a new stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    name: String,
    /// Win probability, 0 to 1.
    #[serde(default)]
    probability: f64,
    /// Days without activity before a deal rots; 0 or absent for never.
    #[serde(default)]
    rotting_days: u32,
}

/// Body of `POST /v1/pipelines` and `PATCH /v1/pipelines/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PipelineBody {
    name: String,
    stages: Vec<StageJson>,
    /// For an edit: removed stage id -> the kept stage its deals move to.
    #[serde(default)]
    stage_moves: BTreeMap<String, String>,
    /// For an edit, instead of `If-Match`.
    #[serde(default)]
    etag: Option<String>,
}

/// A pipeline as REST returns it.
#[derive(Debug, Serialize)]
pub(crate) struct PipelineJson {
    id: String,
    name: String,
    stages: Vec<StageJson>,
    is_default: bool,
    moved_stages: BTreeMap<String, String>,
    etag: String,
    create_time: Option<String>,
    update_time: Option<String>,
    updated_by: String,
}

impl From<pb::Pipeline> for PipelineJson {
    fn from(p: pb::Pipeline) -> Self {
        let audit = p.audit.unwrap_or_default();
        PipelineJson {
            id: p.id,
            name: p.name,
            stages: p
                .stages
                .into_iter()
                .map(|s| StageJson {
                    id: Some(s.id),
                    name: s.name,
                    probability: f64::from(s.probability_basis_points) / 10_000.0,
                    rotting_days: s.rotting_days,
                })
                .collect(),
            is_default: p.is_default,
            moved_stages: p.moved_stages.into_iter().collect(),
            etag: p.etag,
            create_time: rfc3339(audit.create_time.as_ref()),
            update_time: rfc3339(audit.update_time.as_ref()),
            updated_by: audit.updated_by,
        }
    }
}

/// A probability in basis points, if it is one (0 to 1, at most four
/// decimals).
fn basis_points(p: f64) -> Option<u32> {
    let bp = p * 10_000.0;
    let rounded = bp.round();
    ((0.0..=10_000.0).contains(&rounded) && (bp - rounded).abs() < 1e-6).then_some(rounded as u32)
}

/// The pipeline of a body, or every probability that is not one.
fn pipeline_of(body: PipelineBody, id: String) -> Result<pb::Pipeline, Problem> {
    let mut errors = Vec::new();
    let stages = body
        .stages
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let bp = basis_points(s.probability).unwrap_or_else(|| {
                errors.push(FieldViolation::new(
                    format!("stages[{i}].probability"),
                    "a number from 0 to 1 with at most four decimals",
                ));
                0
            });
            pb::Stage {
                id: s.id.unwrap_or_default(),
                name: s.name,
                probability_basis_points: bp,
                rotting_days: s.rotting_days,
            }
        })
        .collect();
    if !errors.is_empty() {
        return Err(Problem::invalid(
            "INVALID_PIPELINE",
            "invalid pipeline",
            errors,
        ));
    }
    Ok(pb::Pipeline {
        id,
        name: body.name,
        stages,
        ..Default::default()
    })
}

fn with_etag(status: StatusCode, p: pb::Pipeline) -> Response {
    let etag = p.etag.clone();
    (
        status,
        [(header::ETAG, etag)],
        axum::Json(PipelineJson::from(p)),
    )
        .into_response()
}

/// `GET /v1/pipelines`: the default first, then by name.
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> Result<axum::Json<serde_json::Value>, Problem> {
    let all = state
        .peers
        .deals
        .clone()
        .list_pipelines(principal.request(ListPipelinesRequest {}))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    let pipelines: Vec<PipelineJson> = all.pipelines.into_iter().map(Into::into).collect();
    Ok(axum::Json(serde_json::json!({ "pipelines": pipelines })))
}

/// `GET /v1/pipelines/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let p = state
        .peers
        .deals
        .clone()
        .get_pipeline(principal.request(GetPipelineRequest { id }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(with_etag(StatusCode::OK, p))
}

/// `POST /v1/pipelines` -> 201 with the pipeline.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<PipelineBody>,
) -> Result<Response, Problem> {
    if !body.stage_moves.is_empty() || body.etag.is_some() {
        return Err(Problem::invalid(
            "INVALID_PIPELINE",
            "invalid pipeline",
            vec![FieldViolation::new(
                "stage_moves",
                "a new pipeline has no stages to move from (and no etag)",
            )],
        ));
    }
    let pipeline = pipeline_of(body, String::new())?;
    let p = state
        .peers
        .deals
        .clone()
        .create_pipeline(principal.request(CreatePipelineRequest {
            pipeline: Some(pipeline),
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(with_etag(StatusCode::CREATED, p))
}

/// `PATCH /v1/pipelines/{id}`: replaces the name and stages; removed
/// stages name where their deals go in `stage_moves`.
pub(crate) async fn patch(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(mut body): JsonBody<PipelineBody>,
) -> Result<Response, Problem> {
    let etag = precondition(&headers, body.etag.take())?;
    let moves = std::mem::take(&mut body.stage_moves);
    let mut pipeline = pipeline_of(body, id)?;
    pipeline.etag = etag;
    let p = state
        .peers
        .deals
        .clone()
        .update_pipeline(principal.request(UpdatePipelineRequest {
            pipeline: Some(pipeline),
            stage_moves: moves.into_iter().collect(),
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(with_etag(StatusCode::OK, p))
}

#[cfg(test)]
mod tests {
    use super::basis_points;

    #[test]
    fn probabilities_become_exact_basis_points() {
        assert_eq!(basis_points(0.1), Some(1000));
        assert_eq!(basis_points(0.0725), Some(725));
        assert_eq!(basis_points(1.0), Some(10_000));
        assert_eq!(basis_points(0.0), Some(0));
        for bad in [1.5, -0.1, 0.12345, f64::NAN] {
            assert_eq!(basis_points(bad), None, "{bad}");
        }
    }
}
