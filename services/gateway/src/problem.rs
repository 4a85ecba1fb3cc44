//! `application/problem+json` responses (RFC 9457).

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use rapport_platform::error::{FieldViolation, status_details};
use serde::Serialize;
use tonic::Code;

/// A problem document.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// URI reference identifying the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong in this occurrence, for a human.
    pub detail: String,
    /// Stable machine-readable reason (UPPER_SNAKE_CASE).
    pub reason: String,
    /// The invalid fields, when the input was invalid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Facts about the conflict or failure from the service's `ErrorInfo`
    /// metadata, as extension members (e.g. `existing_id` on a duplicate).
    #[serde(flatten)]
    pub extensions: std::collections::BTreeMap<String, String>,
    /// Seconds to wait before retrying, sent as `Retry-After`.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

/// One invalid field.
#[derive(Clone, Debug, Serialize)]
pub struct FieldError {
    /// Field path, e.g. `contact.email`.
    pub field: String,
    /// Why it is invalid.
    pub description: String,
}

impl From<FieldViolation> for FieldError {
    fn from(v: FieldViolation) -> Self {
        FieldError {
            field: v.field,
            description: v.description,
        }
    }
}

impl Problem {
    /// A problem with `status`, `reason` and `detail`.
    pub fn new(status: StatusCode, reason: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!(
                "urn:rapport:problem:{}",
                reason.to_ascii_lowercase().replace('_', "-")
            ),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            reason: reason.to_owned(),
            errors: Vec::new(),
            extensions: Default::default(),
            retry_after: None,
        }
    }

    /// 403 for a permission the caller lacks, naming it (`permission`).
    pub fn denied(denied: &rapport_platform::identity::Denied) -> Self {
        let mut p = Problem::new(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            denied.to_string(),
        );
        p.extensions
            .insert("permission".into(), denied.permission.as_str().into());
        p
    }

    /// 400 for invalid input, listing the fields.
    pub fn invalid(reason: &str, detail: impl Into<String>, errors: Vec<FieldViolation>) -> Self {
        let mut p = Problem::new(StatusCode::BAD_REQUEST, reason, detail);
        p.errors = errors.into_iter().map(FieldError::from).collect();
        p
    }

    /// Maps a service's gRPC status: its code picks the HTTP status, its
    /// `ErrorInfo` the reason, its `BadRequest` the field errors.
    pub fn from_status(s: &tonic::Status) -> Self {
        const QUOTA_RETRY_AFTER_SECS: u64 = 30;
        let status = match s.code() {
            Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
                StatusCode::BAD_REQUEST
            }
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            // tonic reports its own client timeout as CANCELLED.
            Code::DeadlineExceeded | Code::Cancelled => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let s_message = s.message().to_owned();
        let details = status_details(s);
        let reason = details.reason.unwrap_or_else(|| match s.code() {
            Code::Unavailable => "SERVICE_UNAVAILABLE".into(),
            Code::DeadlineExceeded | Code::Cancelled => "DEADLINE_EXCEEDED".into(),
            _ => "INTERNAL".into(),
        });
        // Never leak internals (backend errors, addresses); the service
        // logged the cause.
        let detail = match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                "a service is temporarily unavailable; retry later".to_owned()
            }
            StatusCode::GATEWAY_TIMEOUT => {
                "a service did not answer in time; retry later".to_owned()
            }
            code if code.is_server_error() => "internal error".to_owned(),
            _ => s_message,
        };
        let mut p = Problem::new(status, &reason, detail);
        // A tenant quota (imports running at once): worth trying again soon.
        if status == StatusCode::TOO_MANY_REQUESTS {
            p.retry_after = Some(QUOTA_RETRY_AFTER_SECS);
        }
        // Only for client errors: a 5xx never leaks a service's internals.
        if status.is_client_error() {
            p.extensions = details.metadata.into_iter().collect();
        }
        p.errors = details
            .field_violations
            .into_iter()
            .map(FieldError::from)
            .collect();
        p
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(&self)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
