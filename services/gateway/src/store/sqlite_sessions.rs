//! Browser sessions in SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::identity::{TenantId, UserId};
use rapport_store::{
    OutboxMessage, StoreError,
    sqlite::{insert_outbox, query_all},
};

use super::{
    SessionStore, StoredSession,
    sqlite::{SqliteGatewayStore, time},
};

const COLUMNS: &str =
    "tenant_id, user_id, id, create_time, expire_time, revoke_time, user_agent, address";

fn decode(row: &libsql::Row) -> Result<StoredSession, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("sessions.{what}"));
    let at = |text: String, what: &str| -> Result<DateTime<Utc>, StoreError> {
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| corrupt(what))
    };
    Ok(StoredSession {
        tenant: TenantId::parse(&row.get::<String>(0)?).map_err(|_| corrupt("tenant_id"))?,
        user: UserId::parse(&row.get::<String>(1)?).map_err(|_| corrupt("user_id"))?,
        id: row.get(2)?,
        create_time: at(row.get(3)?, "create_time")?,
        expire_time: at(row.get(4)?, "expire_time")?,
        revoke_time: row
            .get::<Option<String>>(5)?
            .map(|t| at(t, "revoke_time"))
            .transpose()?,
        user_agent: row.get(6)?,
        address: row.get(7)?,
    })
}

#[async_trait]
impl SessionStore for SqliteGatewayStore {
    async fn create_session(
        &self,
        s: &StoredSession,
        audit: &OutboxMessage,
    ) -> Result<(), StoreError> {
        let audit = audit.clone();
        let params = libsql::params![
            s.tenant.as_str(),
            s.user.as_str(),
            s.id.as_str(),
            time(s.create_time),
            time(s.expire_time),
            s.revoke_time.map(time),
            s.user_agent.as_str(),
            s.address.as_str(),
        ];
        let (tenant, user, now) = (
            s.tenant.as_str().to_owned(),
            s.user.as_str().to_owned(),
            time(s.create_time),
        );
        self.db
            .write(move |conn| async move {
                conn.execute(
                    "DELETE FROM sessions WHERE tenant_id = ?1 AND user_id = ?2 AND expire_time <= ?3",
                    [tenant, user, now],
                )
                .await?;
                conn.execute(
                    &format!(
                        "INSERT INTO sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                    ),
                    params,
                )
                .await?;
                insert_outbox(&conn, &audit).await
            })
            .await
    }

    async fn session(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &str,
    ) -> Result<Option<StoredSession>, StoreError> {
        let params = [
            tenant.as_str().to_owned(),
            user.as_str().to_owned(),
            id.to_owned(),
        ];
        let sql = format!(
            "SELECT {COLUMNS} FROM sessions WHERE tenant_id = ?1 AND user_id = ?2 AND id = ?3"
        );
        let found = self
            .db
            .read(move |conn| async move { query_all(&conn, &sql, params, decode).await })
            .await?;
        Ok(found.into_iter().next())
    }

    async fn sessions(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Vec<StoredSession>, StoreError> {
        let params = [
            tenant.as_str().to_owned(),
            user.as_str().to_owned(),
            time(Utc::now()),
        ];
        let sql = format!(
            "SELECT {COLUMNS} FROM sessions WHERE tenant_id = ?1 AND user_id = ?2
             AND expire_time > ?3 ORDER BY create_time DESC, id"
        );
        self.db
            .read(move |conn| async move { query_all(&conn, &sql, params, decode).await })
            .await
    }

    async fn revoke_sessions(
        &self,
        tenant: &TenantId,
        user: &UserId,
        ids: &[String],
        at: DateTime<Utc>,
        audits: &[OutboxMessage],
    ) -> Result<Vec<String>, StoreError> {
        let (tenant, user) = (tenant.as_str().to_owned(), user.as_str().to_owned());
        let work: Vec<(String, OutboxMessage)> =
            ids.iter().cloned().zip(audits.iter().cloned()).collect();
        self.db
            .write(move |conn| async move {
                let mut ended = Vec::new();
                for (id, audit) in work {
                    let changed = conn
                        .execute(
                            "UPDATE sessions SET revoke_time = ?4
                             WHERE tenant_id = ?1 AND user_id = ?2 AND id = ?3
                             AND revoke_time IS NULL",
                            [tenant.clone(), user.clone(), id.clone(), time(at)],
                        )
                        .await?;
                    if changed == 1 {
                        insert_outbox(&conn, &audit).await?;
                        ended.push(id);
                    }
                }
                Ok(ended)
            })
            .await
    }
}
