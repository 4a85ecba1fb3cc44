//! The gateway's SQLite database: API keys and their outbox here, the audit
//! trail in `sqlite_audit`.

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rapport_platform::identity::{TenantId, UserId};
use rapport_store::{
    Outbox, OutboxMessage, StoreError,
    sqlite::{Migration, OUTBOX_MIGRATION, SqliteDb, insert_outbox, query_all},
};
use uuid::Uuid;

use super::{ApiKey, ApiKeyStore, digest, parse_scopes, scopes_text};

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: "0001_api_keys",
        sql: include_str!("../../migrations/sqlite/0001_api_keys.sql"),
    },
    OUTBOX_MIGRATION,
    Migration {
        version: "0002_audit",
        sql: include_str!("../../migrations/sqlite/0002_audit.sql"),
    },
    Migration {
        version: "0003_roles",
        sql: include_str!("../../migrations/sqlite/0003_roles.sql"),
    },
    Migration {
        version: "0004_sessions",
        sql: include_str!("../../migrations/sqlite/0004_sessions.sql"),
    },
    Migration {
        version: "0005_audit_links",
        sql: include_str!("../../migrations/sqlite/0005_audit_links.sql"),
    },
];

const COLUMNS: &str = "tenant_id, id, display_name, scopes, secret_sha256, created_by, create_time, revoke_time, last_use_time";

/// The SQLite backend.
#[derive(Debug)]
pub struct SqliteGatewayStore {
    pub(super) db: Arc<SqliteDb>,
}

impl SqliteGatewayStore {
    /// Opens the database file, applying migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteGatewayStore {
            db: Arc::new(SqliteDb::open(path, MIGRATIONS).await?),
        })
    }

    /// The outbox of the API keys' audit entries.
    pub fn outbox(&self) -> Arc<dyn Outbox> {
        self.db.clone()
    }
}

pub(super) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[async_trait]
impl ApiKeyStore for SqliteGatewayStore {
    async fn create(&self, k: &ApiKey, audit: &OutboxMessage) -> Result<(), StoreError> {
        let audit = audit.clone();
        let params = libsql::params![
            k.tenant.as_str(),
            k.id.to_string(),
            k.display_name.as_str(),
            scopes_text(&k.scopes),
            k.secret_sha256.to_vec(),
            k.created_by.as_str(),
            time(k.create_time),
            k.revoke_time.map(time),
            k.last_use_time.map(time),
        ];
        let sql =
            format!("INSERT INTO api_keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
        self.db
            .write(move |conn| async move {
                conn.execute(&sql, params).await?;
                insert_outbox(&conn, &audit).await
            })
            .await
    }

    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<ApiKey>, StoreError> {
        let params = [tenant.as_str().to_owned(), id.to_string()];
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = ?1 AND id = ?2");
        let found = self
            .db
            .read(move |conn| async move { query_all(&conn, &sql, params, decode).await })
            .await?;
        Ok(found.into_iter().next())
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, StoreError> {
        let params = [tenant.as_str().to_owned()];
        let sql =
            format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = ?1 ORDER BY create_time, id");
        self.db
            .read(move |conn| async move { query_all(&conn, &sql, params, decode).await })
            .await
    }

    async fn revoke(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
        audit: &OutboxMessage,
    ) -> Result<Option<ApiKey>, StoreError> {
        let params = [tenant.as_str().to_owned(), id.to_string(), time(at)];
        let select = format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = ?1 AND id = ?2");
        let audit = audit.clone();
        let found = self
            .db
            .write(move |conn| async move {
                let revoked = conn
                    .execute(
                        "UPDATE api_keys SET revoke_time = ?3
                         WHERE tenant_id = ?1 AND id = ?2 AND revoke_time IS NULL",
                        params.clone(),
                    )
                    .await?;
                if revoked == 1 {
                    insert_outbox(&conn, &audit).await?;
                }
                query_all(
                    &conn,
                    &select,
                    [params[0].clone(), params[1].clone()],
                    decode,
                )
                .await
            })
            .await?;
        Ok(found.into_iter().next())
    }

    async fn touch(
        &self,
        tenant: &TenantId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let params = [tenant.as_str().to_owned(), id.to_string(), time(at)];
        self.db
            .write(move |conn| async move {
                conn.execute(
                    "UPDATE api_keys SET last_use_time = ?3 WHERE tenant_id = ?1 AND id = ?2",
                    params,
                )
                .await?;
                Ok::<_, StoreError>(())
            })
            .await
    }
}

fn decode(row: &libsql::Row) -> Result<ApiKey, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("api_keys.{what}"));
    let parse_time = |text: String, what: &str| {
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| corrupt(what))
    };
    Ok(ApiKey {
        tenant: TenantId::parse(&row.get::<String>(0)?).map_err(|_| corrupt("tenant_id"))?,
        id: Uuid::parse_str(&row.get::<String>(1)?).map_err(|_| corrupt("id"))?,
        display_name: row.get(2)?,
        scopes: parse_scopes(&row.get::<String>(3)?)?,
        secret_sha256: digest(&row.get::<Vec<u8>>(4)?)?,
        created_by: UserId::parse(&row.get::<String>(5)?).map_err(|_| corrupt("created_by"))?,
        create_time: parse_time(row.get(6)?, "create_time")?,
        revoke_time: row
            .get::<Option<String>>(7)?
            .map(|t| parse_time(t, "revoke_time"))
            .transpose()?,
        last_use_time: row
            .get::<Option<String>>(8)?
            .map(|t| parse_time(t, "last_use_time"))
            .transpose()?,
    })
}
