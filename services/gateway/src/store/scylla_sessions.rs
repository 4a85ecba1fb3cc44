//! Browser sessions in ScyllaDB: one partition per user, each row written
//! with a TTL of the session's remaining lifetime, so ended sessions leave
//! by themselves and no sweep is needed.
//!
//! A revocation reads the row first, then writes the revoke time and its
//! audit entry in one logged batch; two revocations of the same session in
//! the same instant may both write (the later revoke time wins and both
//! entries stay), which costs a duplicate audit line, never a live session.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::identity::{TenantId, UserId};
use rapport_store::{
    OutboxMessage, StoreError, scylla::prepare_idempotent, scylla_outbox,
    scylla_outbox::ScyllaOutbox,
};
use scylla::{
    client::session::Session,
    statement::{batch::Batch, prepared::PreparedStatement},
};

use super::{SessionStore, StoredSession, scylla::ScyllaGatewayStore};

const COLUMNS: &str =
    "tenant_id, user_id, id, create_time, expire_time, revoke_time, user_agent, address";

type Row = (
    String,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
    String,
);

/// The prepared statements of the sessions table.
pub(super) struct Statements {
    get: PreparedStatement,
    list: PreparedStatement,
    /// The session's row and its audit entry.
    insert: Batch,
    /// The revoke time and its audit entry.
    revoke: Batch,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, StoreError> {
        let mut insert = scylla_outbox::logged_batch_with_outbox(
            session,
            &[&format!(
                "INSERT INTO sessions ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
            )],
            1,
        )
        .await?;
        insert.set_is_idempotent(true);
        let mut revoke = scylla_outbox::logged_batch_with_outbox(
            session,
            &["UPDATE sessions USING TTL ? SET revoke_time = ?
               WHERE tenant_id = ? AND user_id = ? AND id = ?"],
            1,
        )
        .await?;
        revoke.set_is_idempotent(true);
        Ok(Statements {
            get: prepare_idempotent(
                session,
                &format!(
                    "SELECT {COLUMNS} FROM sessions WHERE tenant_id = ? AND user_id = ? AND id = ?"
                ),
            )
            .await?,
            list: prepare_idempotent(
                session,
                &format!("SELECT {COLUMNS} FROM sessions WHERE tenant_id = ? AND user_id = ?"),
            )
            .await?,
            insert,
            revoke,
        })
    }
}

fn decode(row: Row) -> Result<StoredSession, StoreError> {
    let (tenant, user, id, create_time, expire_time, revoke_time, user_agent, address) = row;
    let corrupt = |what: &str| StoreError::Corrupt(format!("sessions.{what}"));
    Ok(StoredSession {
        tenant: TenantId::parse(&tenant).map_err(|_| corrupt("tenant_id"))?,
        user: UserId::parse(&user).map_err(|_| corrupt("user_id"))?,
        id,
        create_time,
        expire_time,
        revoke_time,
        user_agent,
        address,
    })
}

/// Seconds until `expire_time` (at least 1: CQL refuses a TTL of 0).
fn ttl(expire_time: DateTime<Utc>, now: DateTime<Utc>) -> i32 {
    (expire_time - now).num_seconds().clamp(1, i32::MAX as i64) as i32
}

#[async_trait]
impl SessionStore for ScyllaGatewayStore {
    async fn create_session(
        &self,
        s: &StoredSession,
        audit: &OutboxMessage,
    ) -> Result<(), StoreError> {
        self.session
            .batch(
                &self.sessions.insert,
                (
                    (
                        s.tenant.as_str(),
                        s.user.as_str(),
                        s.id.as_str(),
                        s.create_time,
                        s.expire_time,
                        s.revoke_time,
                        s.user_agent.as_str(),
                        s.address.as_str(),
                        ttl(s.expire_time, s.create_time),
                    ),
                    ScyllaOutbox::values(audit),
                ),
            )
            .await?;
        Ok(())
    }

    async fn session(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: &str,
    ) -> Result<Option<StoredSession>, StoreError> {
        self.session
            .execute_unpaged(&self.sessions.get, (tenant.as_str(), user.as_str(), id))
            .await?
            .into_rows_result()?
            .rows::<Row>()?
            .map(|r| decode(r?))
            .next()
            .transpose()
    }

    async fn sessions(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Vec<StoredSession>, StoreError> {
        let now = Utc::now();
        let mut out = self
            .session
            .execute_unpaged(&self.sessions.list, (tenant.as_str(), user.as_str()))
            .await?
            .into_rows_result()?
            .rows::<Row>()?
            .map(|r| decode(r?))
            .filter(|s| s.as_ref().map_or(true, |s| s.expire_time > now))
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by(|a, b| (b.create_time, &a.id).cmp(&(a.create_time, &b.id)));
        Ok(out)
    }

    async fn revoke_sessions(
        &self,
        tenant: &TenantId,
        user: &UserId,
        ids: &[String],
        at: DateTime<Utc>,
        audits: &[OutboxMessage],
    ) -> Result<Vec<String>, StoreError> {
        let mut ended = Vec::new();
        for (id, audit) in ids.iter().zip(audits) {
            let Some(stored) = self.session(tenant, user, id).await? else {
                continue;
            };
            if stored.revoke_time.is_some() {
                continue;
            }
            self.session
                .batch(
                    &self.sessions.revoke,
                    (
                        (
                            ttl(stored.expire_time, at),
                            at,
                            tenant.as_str(),
                            user.as_str(),
                            id.as_str(),
                        ),
                        ScyllaOutbox::values(audit),
                    ),
                )
                .await?;
            ended.push(id.clone());
        }
        Ok(ended)
    }
}
