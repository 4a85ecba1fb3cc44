//! Who is calling: tenants, principals and how they travel.
//!
//! The gateway authenticates a caller (dev tokens now, OIDC and API keys
//! later, all behind [`crate::identity::Authenticator`]) and passes the
//! resulting [`Principal`] to services in gRPC metadata. Services read it
//! back with [`Principal::from_metadata`]; every store key they write starts
//! with the principal's tenant.

mod dev_token;
mod permission;
mod principal;

pub use dev_token::{DevTokenKey, DevTokenKeyError};
pub use permission::{AccessError, Denied, Permission, caller};
pub use principal::{
    IdentityError, PRINCIPAL_HEADER, Principal, ROLES_HEADER, Role, TENANT_HEADER, TenantId, UserId,
};

/// Why a bearer token was refused. The messages are safe to show callers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Not a well-formed token.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The signature does not match.
    #[error("token signature is invalid")]
    BadSignature,
    /// The token has expired.
    #[error("token has expired")]
    Expired,
    /// The claims do not name a valid tenant, user or role.
    #[error("invalid token claims: {0}")]
    InvalidClaims(String),
}

/// Turns a bearer token into a principal. The dev-token key implements it
/// now; an OIDC verifier will implement it next to it.
pub trait Authenticator: Send + Sync + 'static {
    /// Verifies `token` and returns who it speaks for.
    fn authenticate(&self, token: &str) -> Result<Principal, AuthError>;
}
