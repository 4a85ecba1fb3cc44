//! The gateway's ScyllaDB keyspace (custom roles, sessions and the audit
//! trail in their own modules): API keys (one partition per tenant: a
//! tenant has tens of keys, not millions) and their outbox here, the audit
//! trail in `scylla_audit`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::identity::{TenantId, UserId};
use rapport_store::{
    Outbox, OutboxMessage, StoreError,
    scylla::{CqlMigration, ScyllaSettings, connect, prepare_idempotent},
    scylla_outbox::{self, OUTBOX_CQL_MIGRATION, ScyllaOutbox},
};
use scylla::{
    client::session::Session,
    statement::{batch::Batch, prepared::PreparedStatement},
};
use uuid::Uuid;

use super::{ApiKey, ApiKeyStore, digest, parse_scopes, scopes_text};

const MIGRATIONS: &[CqlMigration] = &[
    CqlMigration {
        version: "0001_api_keys",
        cql: include_str!("../../migrations/scylla/0001_api_keys.cql"),
    },
    OUTBOX_CQL_MIGRATION,
    CqlMigration {
        version: "0002_audit",
        cql: include_str!("../../migrations/scylla/0002_audit.cql"),
    },
    CqlMigration {
        version: "0003_roles",
        cql: include_str!("../../migrations/scylla/0003_roles.cql"),
    },
    CqlMigration {
        version: "0004_sessions",
        cql: include_str!("../../migrations/scylla/0004_sessions.cql"),
    },
    CqlMigration {
        version: "0005_audit_links",
        cql: include_str!("../../migrations/scylla/0005_audit_links.cql"),
    },
];

const COLUMNS: &str = "tenant_id, id, display_name, scopes, secret_sha256, created_by, create_time, revoke_time, last_use_time";

type Row = (
    String,
    Uuid,
    String,
    String,
    Vec<u8>,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// The ScyllaDB backend.
pub struct ScyllaGatewayStore {
    pub(super) session: Arc<Session>,
    /// A key's row and its audit entry, in one logged batch.
    insert: Batch,
    get: PreparedStatement,
    list: PreparedStatement,
    /// The revoke time and its audit entry, in one logged batch.
    revoke: Batch,
    touch: PreparedStatement,
    outbox: Arc<ScyllaOutbox>,
    pub(super) audit: super::scylla_audit::Statements,
    pub(super) roles: super::scylla_roles::Statements,
    pub(super) sessions: super::scylla_sessions::Statements,
}

impl ScyllaGatewayStore {
    /// Connects, migrates and prepares statements; audit entries expire
    /// after `retention`.
    pub async fn connect(
        settings: &ScyllaSettings,
        retention: chrono::Duration,
    ) -> Result<Self, StoreError> {
        let session = connect(settings, MIGRATIONS).await?;
        let mut insert = scylla_outbox::logged_batch_with_outbox(
            &session,
            &[&format!(
                "INSERT INTO api_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )],
            1,
        )
        .await?;
        insert.set_is_idempotent(true);
        let mut revoke = scylla_outbox::logged_batch_with_outbox(
            &session,
            &["UPDATE api_keys SET revoke_time = ? WHERE tenant_id = ? AND id = ?"],
            1,
        )
        .await?;
        revoke.set_is_idempotent(true);
        Ok(ScyllaGatewayStore {
            insert,
            outbox: Arc::new(ScyllaOutbox::new(session.clone()).await?),
            audit: super::scylla_audit::Statements::prepare(&session, retention).await?,
            roles: super::scylla_roles::Statements::prepare(&session).await?,
            sessions: super::scylla_sessions::Statements::prepare(&session).await?,
            get: prepare_idempotent(
                &session,
                &format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = ? AND id = ?"),
            )
            .await?,
            list: prepare_idempotent(
                &session,
                &format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = ?"),
            )
            .await?,
            revoke,
            touch: prepare_idempotent(
                &session,
                "UPDATE api_keys SET last_use_time = ? WHERE tenant_id = ? AND id = ?",
            )
            .await?,
            session,
        })
    }

    /// The outbox of the API keys' audit entries.
    pub fn outbox(&self) -> Arc<dyn Outbox> {
        self.outbox.clone()
    }
}

fn decode(row: Row) -> Result<ApiKey, StoreError> {
    let (tenant, id, display_name, scopes, secret, created_by, ct, rt, lt) = row;
    let corrupt = |what: &str| StoreError::Corrupt(format!("api_keys.{what}"));
    Ok(ApiKey {
        tenant: TenantId::parse(&tenant).map_err(|_| corrupt("tenant_id"))?,
        id,
        display_name,
        scopes: parse_scopes(&scopes)?,
        secret_sha256: digest(&secret)?,
        created_by: UserId::parse(&created_by).map_err(|_| corrupt("created_by"))?,
        create_time: ct,
        revoke_time: rt,
        last_use_time: lt,
    })
}

#[async_trait]
impl ApiKeyStore for ScyllaGatewayStore {
    async fn create(&self, k: &ApiKey, audit: &OutboxMessage) -> Result<(), StoreError> {
        self.session
            .batch(
                &self.insert,
                (
                    (
                        k.tenant.as_str(),
                        k.id,
                        k.display_name.as_str(),
                        scopes_text(&k.scopes),
                        k.secret_sha256.to_vec(),
                        k.created_by.as_str(),
                        k.create_time,
                        k.revoke_time,
                        k.last_use_time,
                    ),
                    ScyllaOutbox::values(audit),
                ),
            )
            .await?;
        Ok(())
    }

    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<ApiKey>, StoreError> {
        let result = self
            .session
            .execute_unpaged(&self.get, (tenant.as_str(), id))
            .await?
            .into_rows_result()?;
        result
            .maybe_first_row::<Row>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
            .map(decode)
            .transpose()
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, StoreError> {
        let mut keys = self
            .session
            .execute_unpaged(&self.list, (tenant.as_str(),))
            .await?
            .into_rows_result()?
            .rows::<Row>()?
            .map(|r| decode(r?))
            .collect::<Result<Vec<_>, StoreError>>()?;
        keys.sort_by_key(|k| (k.create_time, k.id));
        Ok(keys)
    }

    async fn revoke(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
        audit: &OutboxMessage,
    ) -> Result<Option<ApiKey>, StoreError> {
        // Read first: an UPDATE of a missing key would create a row, and
        // a second revoke keeps the first time. Two revokes racing both
        // write a revoke time; either is right.
        let Some(mut key) = self.get(tenant, id).await? else {
            return Ok(None);
        };
        if key.revoke_time.is_none() {
            self.session
                .batch(
                    &self.revoke,
                    ((at, tenant.as_str(), id), ScyllaOutbox::values(audit)),
                )
                .await?;
            key.revoke_time = Some(at);
        }
        Ok(Some(key))
    }

    async fn touch(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Only called for a key that just authenticated, so the row exists.
        self.session
            .execute_unpaged(&self.touch, (at, tenant.as_str(), id))
            .await?;
        Ok(())
    }
}
