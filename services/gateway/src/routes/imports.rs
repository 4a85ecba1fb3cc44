//! `/v1/imports`: CSV imports of people. `POST` sets the mapping and the
//! duplicate policy, `PUT /v1/imports/{id}/data` streams the file (of any
//! size) to the contacts service chunk by chunk, `GET` reports progress.

use std::collections::HashMap;

use axum::{
    body::Body,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use rapport_platform::error::FieldViolation;
use rapport_proto::{
    common::v1::PageRequest,
    contacts::v1::{
        self as pb, CreateImportRequest, GetImportRequest, ListImportErrorsRequest,
        UploadImportDataRequest,
    },
};
use serde::{Deserialize, Serialize};

use super::{
    enums::{DuplicatePolicy, ImportState, ObjectType, empty_as_none, opt_to_proto},
    non_empty, query, rfc3339,
};
use crate::{AppState, auth::Caller, json::JsonBody, problem::Problem};

/// Body of `POST /v1/imports`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportOptionsJson {
    /// CSV header -> field path (`given_name`, `tags`, `custom_fields.tier`).
    /// Unmapped columns match by header name; unknown headers are ignored.
    #[serde(default)]
    column_mapping: HashMap<String, String>,
    /// `skip` (default), `update` or `create`.
    #[serde(default, deserialize_with = "empty_as_none")]
    on_duplicate: Option<DuplicatePolicy>,
    /// One character; detected from the header line when absent.
    #[serde(default, deserialize_with = "empty_as_none")]
    delimiter: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    file_name: Option<String>,
    /// Size of the file, for progress and ETA.
    expected_bytes: Option<i64>,
    /// Only `person` in this version.
    #[serde(default, deserialize_with = "empty_as_none")]
    object_type: Option<ObjectType>,
}

impl ImportOptionsJson {
    fn into_proto(self) -> pb::ImportOptions {
        pb::ImportOptions {
            column_mapping: self.column_mapping,
            on_duplicate: opt_to_proto(self.on_duplicate, DuplicatePolicy::to_proto),
            delimiter: self.delimiter.unwrap_or_default(),
            file_name: self.file_name.unwrap_or_default(),
            expected_bytes: self.expected_bytes.unwrap_or(0),
            object_type: opt_to_proto(self.object_type, ObjectType::to_proto),
        }
    }

    fn from_proto(o: pb::ImportOptions) -> Self {
        ImportOptionsJson {
            column_mapping: o.column_mapping,
            on_duplicate: DuplicatePolicy::from_proto(o.on_duplicate),
            delimiter: non_empty(o.delimiter),
            file_name: non_empty(o.file_name),
            expected_bytes: Some(o.expected_bytes).filter(|n| *n > 0),
            object_type: ObjectType::from_proto(o.object_type),
        }
    }
}

/// An import and its progress.
#[derive(Debug, Serialize)]
pub(crate) struct ImportJson {
    id: String,
    state: Option<ImportState>,
    options: ImportOptionsJson,
    rows_processed: i64,
    rows_created: i64,
    rows_updated: i64,
    rows_skipped: i64,
    rows_failed: i64,
    bytes_processed: i64,
    rows_per_second: f64,
    /// Estimated seconds left; `null` when unknown.
    eta_seconds: Option<i64>,
    /// Why it failed, when it did.
    failure: Option<String>,
    create_time: Option<String>,
    update_time: Option<String>,
    created_by: Option<String>,
}

impl From<pb::Import> for ImportJson {
    fn from(i: pb::Import) -> Self {
        ImportJson {
            id: i.id,
            state: ImportState::from_proto(i.state),
            options: ImportOptionsJson::from_proto(i.options.unwrap_or_default()),
            rows_processed: i.rows_processed,
            rows_created: i.rows_created,
            rows_updated: i.rows_updated,
            rows_skipped: i.rows_skipped,
            rows_failed: i.rows_failed,
            bytes_processed: i.bytes_processed,
            rows_per_second: i.rows_per_second,
            eta_seconds: Some(i.eta_seconds).filter(|n| *n >= 0),
            failure: non_empty(i.failure),
            create_time: rfc3339(i.create_time.as_ref()),
            update_time: rfc3339(i.update_time.as_ref()),
            created_by: non_empty(i.created_by),
        }
    }
}

/// `POST /v1/imports` -> 201 with the pending import.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    JsonBody(body): JsonBody<ImportOptionsJson>,
) -> Result<Response, Problem> {
    if let Some(d) = &body.delimiter
        && d.chars().count() != 1
    {
        return Err(Problem::invalid(
            "INVALID_FIELD",
            "delimiter must be one character",
            vec![FieldViolation::new("delimiter", "expected one character")],
        ));
    }
    let import = state
        .peers
        .contacts
        .clone()
        .create_import(principal.request(CreateImportRequest {
            options: Some(body.into_proto()),
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    let location = format!("/v1/imports/{}", import.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(ImportJson::from(import)),
    )
        .into_response())
}

/// `GET /v1/imports/{id}`: progress and result.
pub(crate) async fn get(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<ImportJson>, Problem> {
    let import = state
        .peers
        .contacts
        .clone()
        .get_import(principal.request(GetImportRequest { id }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(import.into()))
}

/// Media types accepted for the file.
const CSV_TYPES: &[&str] = &[
    "text/csv",
    "text/plain",
    "application/csv",
    "application/octet-stream",
    "application/vnd.ms-excel",
];

/// `PUT /v1/imports/{id}/data`: the CSV file as the body, of any size.
///
/// The body is forwarded chunk by chunk into the client-streaming
/// `UploadImportData` as it arrives, so memory does not grow with the file
/// and the 64 KiB JSON limit does not apply. If the upload breaks off, the
/// gRPC stream is reset (not half-closed), so the service marks the import
/// failed instead of taking a truncated file as complete. Answers with the
/// final import.
pub(crate) async fn upload(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<ImportJson>, Problem> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !CSV_TYPES.contains(&essence.as_str()) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                format!("content-type must be text/csv, not {ct}"),
            ));
        }
    }
    let (broke_tx, broke_rx) = tokio::sync::oneshot::channel::<String>();
    let mut req = principal.request(());
    let cancel = req.cancellation_handle();
    let req = req.map(|()| {
        upload_messages(body, id, move |why| {
            let _ = broke_tx.send(why);
            cancel.cancel();
        })
    });
    let result = state
        .peers
        .contacts_streaming
        .clone()
        .upload_import_data(req)
        .await;
    match result {
        Ok(resp) => Ok(axum::Json(resp.into_inner().into())),
        Err(status) => match broke_rx.await {
            // The client's upload broke off; it likely won't read this.
            Ok(why) => Err(Problem::invalid(
                "UPLOAD_INTERRUPTED",
                format!("the upload broke off: {why}"),
                Vec::new(),
            )),
            Err(_) => Err(Problem::from_status(&status)),
        },
    }
}

/// The upload as gRPC messages: the first carries the import id (also
/// for an empty file); empty chunks are dropped. A body error calls
/// `broke` and then never ends the stream: the call is cancelled instead.
fn upload_messages(
    body: Body,
    import_id: String,
    broke: impl FnOnce(String) + Send + 'static,
) -> UploadMessages {
    UploadMessages {
        body: body.into_data_stream(),
        id: Some(import_id),
        broke: Some(Box::new(broke)),
        stalled: false,
        done: false,
    }
}

/// See [`upload_messages`].
struct UploadMessages {
    body: axum::body::BodyDataStream,
    /// Until the first message is sent.
    id: Option<String>,
    broke: Option<Box<dyn FnOnce(String) + Send>>,
    /// The body failed: pending for ever (the call is cancelled instead).
    stalled: bool,
    /// The final message (`last`) was sent.
    done: bool,
}

impl futures::Stream for UploadMessages {
    type Item = UploadImportDataRequest;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.stalled {
            return Poll::Pending;
        }
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            match futures::ready!(self.body.poll_next_unpin(cx)) {
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    return Poll::Ready(Some(UploadImportDataRequest {
                        import_id: self.id.take().unwrap_or_default(),
                        data: chunk.to_vec(),
                        last: false,
                    }));
                }
                Some(Err(e)) => {
                    self.stalled = true;
                    if let Some(broke) = self.broke.take() {
                        broke(e.to_string());
                    }
                    return Poll::Pending;
                }
                // The body ended normally: say so, so the service can tell
                // a complete file from a stream cut short.
                None => {
                    self.done = true;
                    return Poll::Ready(Some(UploadImportDataRequest {
                        import_id: self.id.take().unwrap_or_default(),
                        data: Vec::new(),
                        last: true,
                    }));
                }
            }
        }
    }
}

/// Query of `GET /v1/imports/{id}/errors`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ErrorsQuery {
    page_size: Option<i32>,
    page_token: Option<String>,
}

/// A refused row.
#[derive(Debug, Serialize)]
pub(crate) struct RowErrorJson {
    /// 1-based data row (the header is row 0).
    row: i64,
    field: Option<String>,
    message: String,
}

/// A page of refused rows.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorsPage {
    errors: Vec<RowErrorJson>,
    next_page_token: Option<String>,
}

/// `GET /v1/imports/{id}/errors`: the rows the import refused, and why.
pub(crate) async fn errors(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Path(id): Path<String>,
    q: Result<Query<ErrorsQuery>, QueryRejection>,
) -> Result<axum::Json<ErrorsPage>, Problem> {
    let q = query(q)?;
    let resp = state
        .peers
        .contacts
        .clone()
        .list_import_errors(principal.request(ListImportErrorsRequest {
            import_id: id,
            page: Some(PageRequest {
                page_size: q.page_size.unwrap_or(0),
                page_token: q.page_token.unwrap_or_default(),
            }),
        }))
        .await
        .map_err(|s| Problem::from_status(&s))?
        .into_inner();
    Ok(axum::Json(ErrorsPage {
        errors: resp
            .errors
            .into_iter()
            .map(|e| RowErrorJson {
                row: e.row,
                field: non_empty(e.field),
                message: e.message,
            })
            .collect(),
        next_page_token: non_empty(resp.next_page_token),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_message_carries_the_id() {
        let body = Body::from_stream(futures::stream::iter(vec![
            Ok::<_, std::io::Error>(bytes_of("a,b\n")),
            Ok(bytes_of("")),
            Ok(bytes_of("1,2\n")),
        ]));
        let msgs: Vec<_> = upload_messages(body, "imp".into(), |_| {}).collect().await;
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0].import_id, "imp");
        assert_eq!(msgs[0].data, b"a,b\n");
        assert_eq!(msgs[1].import_id, "");
        // The end of the body is said explicitly.
        assert!(!msgs[0].last && !msgs[1].last);
        assert!(msgs[2].last && msgs[2].data.is_empty());
    }

    #[tokio::test]
    async fn an_empty_file_still_names_the_import() {
        let msgs: Vec<_> = upload_messages(Body::empty(), "imp".into(), |_| {})
            .collect()
            .await;
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].import_id, "imp");
        assert!(msgs[0].data.is_empty());
        assert!(msgs[0].last);
    }

    #[tokio::test]
    async fn a_broken_body_never_ends_the_stream() {
        let body = Body::from_stream(futures::stream::iter(vec![
            Ok(bytes_of("a\n")),
            Err(std::io::Error::other("reset by peer")),
        ]));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut msgs = upload_messages(body, "imp".into(), move |why| {
            let _ = tx.send(why);
        });
        assert!(msgs.next().await.is_some());
        let next = tokio::time::timeout(std::time::Duration::from_millis(100), msgs.next()).await;
        assert!(next.is_err(), "the stream ended");
        assert!(rx.await.unwrap().contains("reset by peer"));
    }

    fn bytes_of(s: &str) -> axum::body::Bytes {
        axum::body::Bytes::copy_from_slice(s.as_bytes())
    }
}
