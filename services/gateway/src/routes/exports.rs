//! `POST /v1/exports`: people or companies as CSV, streamed.

use axum::{
    body::Body,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use rapport_proto::contacts::v1::ExportContactsRequest;
use serde::Deserialize;

use super::{
    enums::{ObjectType, empty_as_none},
    filter::FilterJson,
};
use crate::{AppState, auth::Caller, json::JsonBody, problem::Problem};

/// Body of `POST /v1/exports`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportBody {
    /// `person` (default) or `company`.
    #[serde(default, deserialize_with = "empty_as_none")]
    object_type: Option<ObjectType>,
    filter: Option<FilterJson>,
}

/// `POST /v1/exports` -> 200 `text/csv` as an attachment.
///
/// The CSV is relayed chunk by chunk from the server-streaming
/// `ExportContacts`, so nothing is buffered. An error before the first
/// chunk is a problem response; one after it can only cut the body short
/// (the status is already sent), which the client sees as a broken
/// transfer, never as a complete file.
pub(crate) async fn export(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<ExportBody>,
) -> Result<Response, Problem> {
    let object_type = body.object_type.unwrap_or(ObjectType::Person);
    let mut stream = state
        .peers
        .contacts_streaming
        .clone()
        .export_contacts(principal.request(ExportContactsRequest {
            object_type: object_type.to_proto(),
            filter: body.filter.map(FilterJson::into_proto),
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    // Wait for the first chunk so that an early failure (a bad filter,
    // the store down) still answers with a status and a problem.
    let first = stream
        .message()
        .await
        .map_err(|s| Problem::from_status(&s))?;
    let rest = stream.map(|chunk| {
        chunk.map(|c| axum::body::Bytes::from(c.data)).map_err(|s| {
            tracing::warn!(code = ?s.code(), "export broke off: {}", s.message());
            std::io::Error::other(s.message().to_owned())
        })
    });
    let head = futures::stream::iter(first.map(|c| Ok(axum::body::Bytes::from(c.data))));
    let file = match object_type {
        ObjectType::Company => "companies.csv",
        ObjectType::Person => "contacts.csv",
    };
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        Body::from_stream(head.chain(rest)),
    )
        .into_response())
}
