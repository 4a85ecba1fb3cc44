//! API keys in SQLite.

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rapport_platform::identity::{TenantId, UserId};
use rapport_store::{
    StoreError,
    sqlite::{Migration, SqliteDb, query_all},
};
use uuid::Uuid;

use super::{ApiKey, ApiKeyStore, digest, parse_scopes, scopes_text};

const MIGRATIONS: &[Migration] = &[Migration {
    version: "0001_api_keys",
    sql: include_str!("../../migrations/sqlite/0001_api_keys.sql"),
}];

const COLUMNS: &str = "tenant_id, id, display_name, scopes, secret_sha256, created_by, create_time, revoke_time, last_use_time";

/// The SQLite backend.
#[derive(Debug)]
pub struct SqliteApiKeyStore {
    db: Arc<SqliteDb>,
}

impl SqliteApiKeyStore {
    /// Opens the database file, applying migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteApiKeyStore {
            db: Arc::new(SqliteDb::open(path, MIGRATIONS).await?),
        })
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[async_trait]
impl ApiKeyStore for SqliteApiKeyStore {
    async fn create(&self, k: &ApiKey) -> Result<(), StoreError> {
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
                Ok::<_, StoreError>(())
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
    ) -> Result<Option<ApiKey>, StoreError> {
        let params = [tenant.as_str().to_owned(), id.to_string(), time(at)];
        let select = format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = ?1 AND id = ?2");
        let found = self
            .db
            .write(move |conn| async move {
                conn.execute(
                    "UPDATE api_keys SET revoke_time = COALESCE(revoke_time, ?3)
                     WHERE tenant_id = ?1 AND id = ?2",
                    params.clone(),
                )
                .await?;
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
