//! The error every backend maps its failures into.

/// A failure of the storage backend itself, as opposed to a rule of the
/// domain (those are the services' own errors).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or refused the operation.
    #[error("storage backend unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded; the row is left untouched.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A schema migration failed; the service must not start.
    #[error("migration {version} failed: {reason}")]
    Migration {
        /// The migration's version name.
        version: String,
        /// What went wrong.
        reason: String,
    },
    /// A page token that this store did not issue, or for another query.
    #[error("invalid page token")]
    InvalidPageToken,
    /// This backend cannot answer the query (its schema has no table for
    /// it); the caller must narrow it.
    #[error("not supported by this store: {0}")]
    Unsupported(String),
}

impl From<libsql::Error> for StoreError {
    fn from(e: libsql::Error) -> Self {
        StoreError::Unavailable(format!("sqlite: {e}"))
    }
}

impl From<::scylla::errors::ExecutionError> for StoreError {
    fn from(e: ::scylla::errors::ExecutionError) -> Self {
        StoreError::Unavailable(format!("scylla: {e}"))
    }
}

impl From<::scylla::errors::PrepareError> for StoreError {
    fn from(e: ::scylla::errors::PrepareError) -> Self {
        StoreError::Unavailable(format!("scylla prepare: {e}"))
    }
}

impl From<::scylla::errors::IntoRowsResultError> for StoreError {
    fn from(e: ::scylla::errors::IntoRowsResultError) -> Self {
        StoreError::Corrupt(format!("scylla result: {e}"))
    }
}

impl From<::scylla::errors::RowsError> for StoreError {
    fn from(e: ::scylla::errors::RowsError) -> Self {
        StoreError::Corrupt(format!("scylla rows: {e}"))
    }
}

impl From<::scylla::errors::DeserializationError> for StoreError {
    fn from(e: ::scylla::errors::DeserializationError) -> Self {
        StoreError::Corrupt(format!("scylla row: {e}"))
    }
}
