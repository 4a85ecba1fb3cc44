//! Who is calling: tenants, principals and how they travel.
//!
//! The gateway authenticates a caller (OIDC tokens, browser sessions, API
//! keys, and dev tokens in monolithic mode) and passes the
//! resulting [`Principal`] to services in gRPC metadata, sealed with the
//! deployment's [`PrincipalKey`]. Every gRPC server checks the seal before
//! a handler runs; handlers read the principal back with [`caller`]. Every
//! store key they write starts with the principal's tenant.

mod dev_token;
mod key_file;
mod permission;
mod principal;
mod scope;
mod seal;

pub use dev_token::DevTokenKey;
pub use key_file::KeyFileError;
pub use permission::{
    AccessError, Action, Denied, Object, Permission, RECORD_PERMISSIONS, caller, caller_any,
};
pub use principal::{
    BUILT_IN_ROLES, CustomRoleName, GRANTS_HEADER, IdentityError, PRINCIPAL_HEADER, Principal,
    ROLES_HEADER, Role, SCOPES_HEADER, TEAMS_HEADER, TENANT_HEADER, TeamId, TenantId, UserId,
};
pub use scope::{
    MAX_SHARES, SHARE_TEAM, SHARE_USER, Scope, Share, normalize_holding, record_viewers,
};
pub use seal::{PrincipalKey, SEAL_EXPIRES_HEADER, SEAL_HEADER, SealError};

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
    /// The token was not issued for Rapport: another issuer or audience, an
    /// algorithm that is not allowed, a key the issuer does not publish.
    #[error("token refused: {0}")]
    Refused(String),
    /// The identity provider could not be asked for its keys.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
}

/// Turns a bearer token into a principal: the dev-token key (monolithic
/// mode) and the gateway's OIDC verifier implement it.
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// Verifies `token` and returns who it speaks for.
    async fn authenticate(&self, token: &str) -> Result<Principal, AuthError>;
}
