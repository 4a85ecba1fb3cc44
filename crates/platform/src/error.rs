//! Errors as types, mapped once at the edge (after quickwit's `ServiceError`).
//!
//! Each service's error enum implements [`ServiceError`], choosing one of a
//! deliberately small set of [`ErrorCode`]s, a stable UPPER_SNAKE_CASE reason
//! and, for invalid input, the failing fields. [`to_status`] turns it into a
//! `google.rpc.Status` with an `ErrorInfo` (and a `BadRequest` when there are
//! field violations), as AIP-193 asks; the gateway maps that status to
//! `application/problem+json`. Unexpected errors are logged with their cause
//! chain and returned opaque.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The codes a service may answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is malformed or a field is invalid.
    InvalidArgument,
    /// The record does not exist for this tenant.
    NotFound,
    /// A record with the same identity exists.
    AlreadyExists,
    /// Optimistic concurrency failed (stale etag).
    Aborted,
    /// The system is not in a state the request needs.
    FailedPrecondition,
    /// No valid credentials.
    Unauthenticated,
    /// Authenticated, but not allowed.
    PermissionDenied,
    /// A quota of the tenant is used up; retry later.
    ResourceExhausted,
    /// A dependency (store, broker, peer) is unavailable; retry later.
    Unavailable,
    /// A bug or an unexpected failure.
    Internal,
}

impl ErrorCode {
    /// The gRPC code.
    pub fn grpc(self) -> Code {
        match self {
            ErrorCode::InvalidArgument => Code::InvalidArgument,
            ErrorCode::NotFound => Code::NotFound,
            ErrorCode::AlreadyExists => Code::AlreadyExists,
            ErrorCode::Aborted => Code::Aborted,
            ErrorCode::FailedPrecondition => Code::FailedPrecondition,
            ErrorCode::Unauthenticated => Code::Unauthenticated,
            ErrorCode::PermissionDenied => Code::PermissionDenied,
            ErrorCode::ResourceExhausted => Code::ResourceExhausted,
            ErrorCode::Unavailable => Code::Unavailable,
            ErrorCode::Internal => Code::Internal,
        }
    }
}

/// A field that failed validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Dotted path of the field, e.g. `contact.email`.
    pub field: String,
    /// Why it is invalid, for a developer.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// An error a service returns to its callers.
pub trait ServiceError: std::error::Error {
    /// The code to answer with.
    fn code(&self) -> ErrorCode;
    /// Stable UPPER_SNAKE_CASE reason, e.g. `CONTACT_NOT_FOUND`.
    fn reason(&self) -> &'static str;
    /// The failing fields of an invalid request.
    fn field_violations(&self) -> Vec<FieldViolation> {
        Vec::new()
    }
    /// Extra facts for the caller, sent as `ErrorInfo.metadata` (e.g. the
    /// id of the record a create collided with: `existing_id`).
    fn metadata(&self) -> HashMap<String, String> {
        HashMap::new()
    }
}

/// Converts a service error into a gRPC status with details. `domain` names
/// the service, e.g. `contacts.rapport`.
pub fn to_status(err: &dyn ServiceError, domain: &str) -> Status {
    let code = err.code();
    let message = match code {
        ErrorCode::Internal => {
            log_unexpected(err);
            "internal error".to_owned()
        }
        // The cause (a backend's error text) stays in the logs.
        ErrorCode::Unavailable => {
            tracing::warn!(error = %err, "dependency unavailable");
            "temporarily unavailable, retry later".to_owned()
        }
        _ => err.to_string(),
    };
    let mut details = ErrorDetails::new();
    details.set_error_info(err.reason(), domain, err.metadata());
    for v in err.field_violations() {
        details.add_bad_request_violation(v.field, v.description);
    }
    Status::with_error_details(code.grpc(), message, details)
}

fn log_unexpected(err: &dyn std::error::Error) {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %chain, "unexpected error");
}

/// The details a caller reads back from a status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusDetails {
    /// `ErrorInfo.reason`, if any.
    pub reason: Option<String>,
    /// `ErrorInfo.domain`, if any.
    pub domain: Option<String>,
    /// `BadRequest` violations.
    pub field_violations: Vec<FieldViolation>,
    /// `ErrorInfo.metadata`.
    pub metadata: HashMap<String, String>,
}

/// Reads the rich error details of a status.
pub fn status_details(status: &Status) -> StatusDetails {
    let details = status.get_error_details();
    StatusDetails {
        reason: details.error_info().map(|i| i.reason.clone()),
        domain: details.error_info().map(|i| i.domain.clone()),
        metadata: details
            .error_info()
            .map(|i| i.metadata.clone())
            .unwrap_or_default(),
        field_violations: details
            .bad_request()
            .map(|b| {
                b.field_violations
                    .iter()
                    .map(|v| FieldViolation::new(v.field.clone(), v.description.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Example {
        #[error("email is invalid")]
        Invalid,
        #[error("database on fire")]
        Boom,
    }

    impl ServiceError for Example {
        fn code(&self) -> ErrorCode {
            match self {
                Example::Invalid => ErrorCode::InvalidArgument,
                Example::Boom => ErrorCode::Internal,
            }
        }
        fn reason(&self) -> &'static str {
            match self {
                Example::Invalid => "INVALID_CONTACT",
                Example::Boom => "INTERNAL",
            }
        }
        fn field_violations(&self) -> Vec<FieldViolation> {
            match self {
                Example::Invalid => vec![FieldViolation::new("contact.email", "not an address")],
                Example::Boom => vec![],
            }
        }
    }

    #[test]
    fn invalid_argument_carries_reason_domain_and_fields() {
        let status = to_status(&Example::Invalid, "contacts.rapport");
        assert_eq!(status.code(), Code::InvalidArgument);
        let d = status_details(&status);
        assert_eq!(d.reason.as_deref(), Some("INVALID_CONTACT"));
        assert_eq!(d.domain.as_deref(), Some("contacts.rapport"));
        assert_eq!(d.field_violations[0].field, "contact.email");
    }

    #[test]
    fn internal_errors_are_opaque() {
        let status = to_status(&Example::Boom, "contacts.rapport");
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("fire"));
    }
}
