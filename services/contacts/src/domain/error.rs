//! What can go wrong in the contacts service, and how callers see it.

use std::collections::HashMap;

use rapport_platform::error::{ErrorCode, FieldViolation, ServiceError};

/// Errors of the contacts service.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    /// Fields of the request are invalid.
    #[error("invalid request: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldViolation>),
    /// The id is not a record id.
    #[error("invalid id {0:?}")]
    InvalidId(String),
    /// No such record for this tenant.
    #[error("{kind} {id} not found")]
    NotFound {
        /// `contact`, `company`, `custom field`, `import`.
        kind: &'static str,
        /// What was asked for.
        id: String,
    },
    /// The etag is stale: someone changed the record first.
    #[error("{0} was changed by someone else; get it again and retry")]
    Conflict(String),
    /// Another record has the same e-mail, phone or external id.
    #[error("a record with this {key} already exists: {existing_id}")]
    Duplicate {
        /// `email`, `phone` or `external_id`.
        key: String,
        /// The existing record.
        existing_id: String,
    },
    /// Something with this name exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The request is valid but the state does not allow it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The tenant's quota (of imports running at once) is used up.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The caller's roles do not allow this.
    #[error("{0}")]
    PermissionDenied(#[from] rapport_platform::identity::Denied),
    /// A peer service failed (data-protection export).
    #[error("{service} unavailable: {message}")]
    Peer {
        /// The peer.
        service: &'static str,
        /// Its error.
        message: String,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] rapport_store::StoreError),
}

impl ServiceError for ContactError {
    fn code(&self) -> ErrorCode {
        use rapport_store::StoreError;
        match self {
            ContactError::Invalid(_)
            | ContactError::InvalidId(_)
            | ContactError::Store(StoreError::InvalidPageToken) => ErrorCode::InvalidArgument,
            ContactError::NotFound { .. } => ErrorCode::NotFound,
            ContactError::Conflict(_) => ErrorCode::Aborted,
            ContactError::Duplicate { .. } | ContactError::AlreadyExists(_) => {
                ErrorCode::AlreadyExists
            }
            ContactError::FailedPrecondition(_)
            | ContactError::Store(StoreError::Unsupported(_)) => ErrorCode::FailedPrecondition,
            ContactError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            ContactError::QuotaExceeded(_) => ErrorCode::ResourceExhausted,
            ContactError::Peer { .. } | ContactError::Store(StoreError::Unavailable(_)) => {
                ErrorCode::Unavailable
            }
            ContactError::Store(_) => ErrorCode::Internal,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            ContactError::Invalid(_) => "INVALID_CONTACT",
            ContactError::InvalidId(_) => "INVALID_ID",
            ContactError::NotFound {
                kind: "contact", ..
            } => "CONTACT_NOT_FOUND",
            ContactError::NotFound {
                kind: "company", ..
            } => "COMPANY_NOT_FOUND",
            ContactError::NotFound { .. } => "NOT_FOUND",
            ContactError::Conflict(_) => "ETAG_MISMATCH",
            ContactError::Duplicate { .. } => "DUPLICATE_RECORD",
            ContactError::AlreadyExists(_) => "ALREADY_EXISTS",
            ContactError::FailedPrecondition(_) => "FAILED_PRECONDITION",
            ContactError::PermissionDenied(_) => "PERMISSION_DENIED",
            ContactError::QuotaExceeded(_) => "IMPORT_QUOTA_EXCEEDED",
            ContactError::Peer { .. } => "PEER_UNAVAILABLE",
            ContactError::Store(rapport_store::StoreError::InvalidPageToken) => {
                "INVALID_PAGE_TOKEN"
            }
            ContactError::Store(rapport_store::StoreError::Unsupported(_)) => "NOT_SUPPORTED",
            ContactError::Store(_) => "STORE_FAILURE",
        }
    }

    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            ContactError::Invalid(v) => v.clone(),
            ContactError::InvalidId(_) => vec![FieldViolation::new("id", "not a valid id")],
            ContactError::Store(rapport_store::StoreError::InvalidPageToken) => {
                vec![FieldViolation::new(
                    "page.page_token",
                    "not a token this API issued",
                )]
            }
            _ => Vec::new(),
        }
    }

    fn metadata(&self) -> HashMap<String, String> {
        match self {
            ContactError::Duplicate { key, existing_id } => HashMap::from([
                ("existing_id".to_owned(), existing_id.clone()),
                ("duplicate_key".to_owned(), key.clone()),
            ]),
            ContactError::PermissionDenied(d) => {
                HashMap::from([("permission".to_owned(), d.permission.as_str().to_owned())])
            }
            _ => HashMap::new(),
        }
    }
}

/// Shorthand for an invalid single field.
pub fn invalid(field: impl Into<String>, why: impl Into<String>) -> ContactError {
    ContactError::Invalid(vec![FieldViolation::new(field, why)])
}
