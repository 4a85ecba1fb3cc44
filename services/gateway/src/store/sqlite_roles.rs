//! Custom roles in SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::identity::{CustomRoleName, TenantId, UserId};
use rapport_store::{
    OutboxMessage, StoreError,
    sqlite::{insert_outbox, query_all},
};

use super::{
    CustomRole, RoleStore, RoleWrite,
    roles::{parse_permissions, permissions_text, refusal},
    sqlite::{SqliteGatewayStore, time},
};

const COLUMNS: &str = "tenant_id, name, description, permissions, version, created_by, create_time, updated_by, update_time";

fn decode(row: &libsql::Row) -> Result<CustomRole, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("custom_roles.{what}"));
    let at = |i: i32, what: &str| -> Result<DateTime<Utc>, StoreError> {
        DateTime::parse_from_rfc3339(&row.get::<String>(i)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| corrupt(what))
    };
    Ok(CustomRole {
        tenant: TenantId::parse(&row.get::<String>(0)?).map_err(|_| corrupt("tenant_id"))?,
        name: CustomRoleName::parse(&row.get::<String>(1)?).map_err(|_| corrupt("name"))?,
        description: row.get(2)?,
        permissions: parse_permissions(&row.get::<String>(3)?),
        version: row.get::<i64>(4)? as u64,
        created_by: UserId::parse(&row.get::<String>(5)?).map_err(|_| corrupt("created_by"))?,
        create_time: at(6, "create_time")?,
        updated_by: UserId::parse(&row.get::<String>(7)?).map_err(|_| corrupt("updated_by"))?,
        update_time: at(8, "update_time")?,
    })
}

#[async_trait]
impl RoleStore for SqliteGatewayStore {
    async fn roles(&self, tenant: &TenantId) -> Result<Vec<CustomRole>, StoreError> {
        let params = [tenant.as_str().to_owned()];
        let sql = format!("SELECT {COLUMNS} FROM custom_roles WHERE tenant_id = ?1 ORDER BY name");
        self.db
            .read(move |conn| async move { query_all(&conn, &sql, params, decode).await })
            .await
    }

    async fn put_role(
        &self,
        r: &CustomRole,
        expected: Option<u64>,
        audit: &OutboxMessage,
    ) -> Result<RoleWrite, StoreError> {
        let audit = audit.clone();
        let params = libsql::params![
            r.tenant.as_str(),
            r.name.as_str(),
            r.description.as_str(),
            permissions_text(&r.permissions),
            r.version as i64,
            r.created_by.as_str(),
            time(r.create_time),
            r.updated_by.as_str(),
            time(r.update_time),
            expected.map(|v| v as i64),
        ];
        let tenant = r.tenant.as_str().to_owned();
        let name = r.name.as_str().to_owned();
        self.db
            .write(move |conn| async move {
                let stored: Option<i64> = conn
                    .query(
                        "SELECT version FROM custom_roles WHERE tenant_id = ?1 AND name = ?2",
                        [tenant, name],
                    )
                    .await?
                    .next()
                    .await?
                    .map(|row| row.get(0))
                    .transpose()?;
                let outcome = match refusal(expected, stored.map(|v| v as u64)) {
                    Some(refused) => refused,
                    None if expected.is_none() => {
                        conn.execute(
                            &format!(
                                "INSERT INTO custom_roles ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                            ),
                            params.into_iter().take(9).collect::<Vec<_>>(),
                        )
                        .await?;
                        RoleWrite::Done
                    }
                    None => {
                        conn.execute(
                            "UPDATE custom_roles SET description = ?3, permissions = ?4,
                                 version = ?5, updated_by = ?8, update_time = ?9
                             WHERE tenant_id = ?1 AND name = ?2 AND version = ?10",
                            params,
                        )
                        .await?;
                        RoleWrite::Done
                    }
                };
                if outcome == RoleWrite::Done {
                    insert_outbox(&conn, &audit).await?;
                }
                Ok(outcome)
            })
            .await
    }

    async fn delete_role(
        &self,
        tenant: &TenantId,
        name: &CustomRoleName,
        expected: Option<u64>,
        audit: &OutboxMessage,
    ) -> Result<RoleWrite, StoreError> {
        let audit = audit.clone();
        let (tenant, name) = (tenant.as_str().to_owned(), name.as_str().to_owned());
        let expected = expected.map(|v| v as i64);
        self.db
            .write(move |conn| async move {
                let deleted = conn
                    .execute(
                        "DELETE FROM custom_roles WHERE tenant_id = ?1 AND name = ?2
                         AND (?3 IS NULL OR version = ?3)",
                        libsql::params![tenant.as_str(), name.as_str(), expected],
                    )
                    .await?;
                if deleted == 1 {
                    insert_outbox(&conn, &audit).await?;
                    return Ok(RoleWrite::Done);
                }
                let exists = conn
                    .query(
                        "SELECT 1 FROM custom_roles WHERE tenant_id = ?1 AND name = ?2",
                        [tenant, name],
                    )
                    .await?
                    .next()
                    .await?
                    .is_some();
                Ok(if exists {
                    RoleWrite::Stale
                } else {
                    RoleWrite::Conflict
                })
            })
            .await
    }
}
