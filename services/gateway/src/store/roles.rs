//! Custom roles: what a tenant's admins define beside the built-in roles.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::identity::{CustomRoleName, Permission, TenantId, UserId};
use rapport_store::{OutboxMessage, StoreError};

/// A tenant-defined role: a name and the permissions it grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomRole {
    /// The tenant that defined it.
    pub tenant: TenantId,
    /// Its name, as identity providers and dev tokens give it.
    pub name: CustomRoleName,
    /// What it is for ("deal desk: prices deals, reads contacts").
    pub description: String,
    /// What it grants, in name order.
    pub permissions: Vec<Permission>,
    /// Incremented by each change; the etag.
    pub version: u64,
    /// Who defined it, and when.
    pub created_by: UserId,
    /// When it was defined.
    pub create_time: DateTime<Utc>,
    /// Who changed it last.
    pub updated_by: UserId,
    /// When it was changed last.
    pub update_time: DateTime<Utc>,
}

/// How a write of a role went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleWrite {
    /// Stored, with its audit entry.
    Done,
    /// A create found the name taken, or a change found no role.
    Conflict,
    /// A change found another version than the caller read.
    Stale,
}

/// Storage of custom roles, scoped by tenant (one partition per tenant: a
/// tenant defines tens of roles, not millions). Every change is written
/// with its audit entry, or not at all.
#[async_trait]
pub trait RoleStore: Send + Sync + 'static {
    /// Every role of `tenant`, by name.
    async fn roles(&self, tenant: &TenantId) -> Result<Vec<CustomRole>, StoreError>;
    /// Stores `role`: a new one when `expected` is `None` (refused when the
    /// name is taken), else a change of the stored `expected` version.
    async fn put_role(
        &self,
        role: &CustomRole,
        expected: Option<u64>,
        audit: &OutboxMessage,
    ) -> Result<RoleWrite, StoreError>;
    /// Deletes the role if it is at version `expected` (any when `None`).
    async fn delete_role(
        &self,
        tenant: &TenantId,
        name: &CustomRoleName,
        expected: Option<u64>,
        audit: &OutboxMessage,
    ) -> Result<RoleWrite, StoreError>;
}

/// The permissions as stored: comma-separated names, as API-key scopes.
pub(super) fn permissions_text(permissions: &[Permission]) -> String {
    super::scopes_text(permissions)
}

/// Why a write expecting version `expected` (`None`: a create) cannot
/// apply to a role stored at `stored`, if it cannot.
pub(super) fn refusal(expected: Option<u64>, stored: Option<u64>) -> Option<RoleWrite> {
    match (expected, stored) {
        (None, Some(_)) | (Some(_), None) => Some(RoleWrite::Conflict),
        (Some(want), Some(have)) if want != have => Some(RoleWrite::Stale),
        _ => None,
    }
}

/// Reads stored permissions back; a name this version does not know (a
/// newer one wrote it) is skipped rather than failing every sign-in.
pub(super) fn parse_permissions(text: &str) -> Vec<Permission> {
    let mut out: Vec<Permission> = text
        .split(',')
        .filter_map(|name| Permission::parse_many(name).ok())
        .flatten()
        .collect();
    out.sort();
    out.dedup();
    out
}
