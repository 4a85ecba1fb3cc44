//! Data protection: `GET /v1/contacts/{id}:personal-data` (everything
//! stored about a person, as one JSON document) and
//! `POST /v1/contacts/{id}:erase`.

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use rapport_proto::contacts::v1::{ErasePersonRequest, ExportPersonalDataRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rfc3339;
use crate::{AppState, auth::Caller, json, problem::Problem};

/// The document as the body, as the contacts service assembled it
/// (`{"contact": ..., "comms": ..., "deals": ..., "tasks": ...}`).
pub(crate) async fn export(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Response, Problem> {
    let resp = state
        .peers
        .contacts
        .clone()
        .export_personal_data(caller.0.request(ExportPersonalDataRequest {
            contact_id: id.to_owned(),
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        resp.document_json,
    )
        .into_response())
}

/// Body of `POST /v1/contacts/{id}:erase`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseBody {
    /// Why, e.g. "GDPR art. 17 request 2026-118"; kept in the audit entry.
    reason: Option<String>,
}

/// The receipt of an erasure.
#[derive(Debug, Serialize)]
struct ErasureJson {
    erasure_id: String,
    erase_time: Option<String>,
}

/// Erases the person; other services follow from the `ContactErased` event.
pub(crate) async fn erase(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: Value,
) -> Result<Response, Problem> {
    let body: EraseBody = json::from_value(body)?;
    let resp = state
        .peers
        .contacts
        .clone()
        .erase_person(caller.0.request(ErasePersonRequest {
            contact_id: id.to_owned(),
            reason: body.reason.unwrap_or_default(),
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(ErasureJson {
        erasure_id: resp.erasure_id,
        erase_time: rfc3339(resp.erase_time.as_ref()),
    })
    .into_response())
}
