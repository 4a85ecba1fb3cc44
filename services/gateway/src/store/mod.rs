//! Where the gateway keeps what it owns: the tenants' API keys, custom
//! roles and browser sessions (with the outbox that publishes their audit
//! entries) and the audit trail it indexes for `/v1/audit`.

mod audit;
#[cfg(test)]
mod contract;
mod roles;
mod scylla;
mod scylla_audit;
mod scylla_roles;
mod scylla_sessions;
mod sessions;
mod sqlite;
mod sqlite_audit;
mod sqlite_roles;
mod sqlite_sessions;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::{
    StoreSettings,
    identity::{Permission, TenantId, UserId},
};
use rapport_store::{Outbox, OutboxMessage, StoreError};
use uuid::Uuid;

pub use self::audit::{AuditCursor, AuditFilter, AuditRecord, AuditStore, masked};
pub use self::roles::{CustomRole, RoleStore, RoleWrite};
pub use self::scylla::ScyllaGatewayStore;
pub use self::sessions::{SessionStore, StoredSession};
pub use self::sqlite::SqliteGatewayStore;

/// An API key as stored: everything but the secret, of which only a
/// SHA-256 digest is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    /// The tenant the key acts for.
    pub tenant: TenantId,
    /// The key's id (the middle part of the token).
    pub id: Uuid,
    /// What the admin called it ("ERP sync").
    pub display_name: String,
    /// The permissions the key is limited to.
    pub scopes: Vec<Permission>,
    /// SHA-256 of the secret part of the token.
    pub secret_sha256: [u8; 32],
    /// The admin who created it.
    pub created_by: UserId,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// When it was revoked; a revoked key authenticates nothing.
    pub revoke_time: Option<DateTime<Utc>>,
    /// When it last authenticated a request (to the minute).
    pub last_use_time: Option<DateTime<Utc>>,
}

/// Storage of API keys, scoped by tenant.
#[async_trait]
pub trait ApiKeyStore: Send + Sync + 'static {
    /// Stores a new key with its audit entry.
    async fn create(&self, key: &ApiKey, audit: &OutboxMessage) -> Result<(), StoreError>;
    /// The key of `tenant` with `id`, if any.
    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<ApiKey>, StoreError>;
    /// Every key of `tenant`, revoked ones too, oldest first.
    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, StoreError>;
    /// Revokes the key with its audit entry (keeping the first revoke time,
    /// and writing no entry, when revoked already) and returns it; `None`
    /// when there is no such key.
    async fn revoke(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
        audit: &OutboxMessage,
    ) -> Result<Option<ApiKey>, StoreError>;
    /// Records that the key authenticated a request at `at`.
    async fn touch(&self, tenant: &TenantId, id: Uuid, at: DateTime<Utc>)
    -> Result<(), StoreError>;
}

/// The gateway's stores, over one database.
#[derive(Clone)]
pub struct Stores {
    /// The tenants' API keys.
    pub api_keys: Arc<dyn ApiKeyStore>,
    /// The indexed audit trail.
    pub audit: Arc<dyn AuditStore>,
    /// The tenants' custom roles.
    pub roles: Arc<dyn RoleStore>,
    /// The browser sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// The audit entries of API key changes, waiting to be published.
    pub outbox: Arc<dyn Outbox>,
}

/// Opens the configured backend, applying pending migrations; `retention`
/// is how long audit entries are kept.
pub async fn open(
    settings: &StoreSettings,
    retention: chrono::Duration,
) -> Result<Stores, StoreError> {
    Ok(match settings {
        StoreSettings::Sqlite(path) => {
            let s = Arc::new(SqliteGatewayStore::open(path).await?);
            Stores {
                api_keys: s.clone(),
                audit: s.clone(),
                roles: s.clone(),
                sessions: s.clone(),
                outbox: s.outbox(),
            }
        }
        StoreSettings::Scylla(settings) => {
            let s = Arc::new(ScyllaGatewayStore::connect(settings, retention).await?);
            Stores {
                api_keys: s.clone(),
                audit: s.clone(),
                roles: s.clone(),
                sessions: s.clone(),
                outbox: s.outbox(),
            }
        }
    })
}

/// Scopes as stored: permission names, comma-separated.
fn scopes_text(scopes: &[Permission]) -> String {
    Permission::names(scopes).join(",")
}

/// Keys stored before permissions were per object hold `records.read`
/// and the like: each such name stands for that action on every object.
fn parse_scopes(text: &str) -> Result<Vec<Permission>, StoreError> {
    let mut out: Vec<Permission> = Vec::new();
    for name in text.split(',').filter(|s| !s.is_empty()) {
        for p in Permission::parse_many(name)
            .map_err(|_| StoreError::Corrupt("api_keys.scopes".into()))?
        {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

fn digest(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("api_keys.secret_sha256".into()))
}
