//! Custom roles in ScyllaDB: one partition per tenant.
//!
//! A create or change reads the stored version first, then writes the row
//! and its audit entry in one logged batch. Two admins changing the same
//! role in the same instant can both pass the check (last write wins);
//! a lightweight transaction would close that, but cannot share a batch
//! with the outbox row in another partition, and an audit entry without
//! its change (or the reverse) is worse than a lost concurrent edit.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::identity::{CustomRoleName, TenantId, UserId};
use rapport_store::{
    OutboxMessage, StoreError, scylla::prepare_idempotent, scylla_outbox,
    scylla_outbox::ScyllaOutbox,
};
use scylla::{
    client::session::Session,
    statement::{batch::Batch, prepared::PreparedStatement},
};

use super::{
    CustomRole, RoleStore, RoleWrite,
    roles::{parse_permissions, permissions_text, refusal},
    scylla::ScyllaGatewayStore,
};

const COLUMNS: &str = "tenant_id, name, description, permissions, version, created_by, create_time, updated_by, update_time";

type Row = (
    String,
    String,
    String,
    String,
    i64,
    String,
    DateTime<Utc>,
    String,
    DateTime<Utc>,
);

/// The prepared statements of the roles table.
pub(super) struct Statements {
    list: PreparedStatement,
    /// The role's row and its audit entry.
    upsert: Batch,
    /// The delete and its audit entry.
    delete: Batch,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, StoreError> {
        let mut upsert = scylla_outbox::logged_batch_with_outbox(
            session,
            &[&format!(
                "INSERT INTO custom_roles ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )],
            1,
        )
        .await?;
        upsert.set_is_idempotent(true);
        let mut delete = scylla_outbox::logged_batch_with_outbox(
            session,
            &["DELETE FROM custom_roles WHERE tenant_id = ? AND name = ?"],
            1,
        )
        .await?;
        delete.set_is_idempotent(true);
        Ok(Statements {
            list: prepare_idempotent(
                session,
                &format!("SELECT {COLUMNS} FROM custom_roles WHERE tenant_id = ?"),
            )
            .await?,
            upsert,
            delete,
        })
    }
}

fn decode(row: Row) -> Result<CustomRole, StoreError> {
    let (tenant, name, description, permissions, version, cb, ct, ub, ut) = row;
    let corrupt = |what: &str| StoreError::Corrupt(format!("custom_roles.{what}"));
    Ok(CustomRole {
        tenant: TenantId::parse(&tenant).map_err(|_| corrupt("tenant_id"))?,
        name: CustomRoleName::parse(&name).map_err(|_| corrupt("name"))?,
        description,
        permissions: parse_permissions(&permissions),
        version: version as u64,
        created_by: UserId::parse(&cb).map_err(|_| corrupt("created_by"))?,
        create_time: ct,
        updated_by: UserId::parse(&ub).map_err(|_| corrupt("updated_by"))?,
        update_time: ut,
    })
}

impl ScyllaGatewayStore {
    async fn stored_version(
        &self,
        tenant: &TenantId,
        name: &CustomRoleName,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self
            .roles(tenant)
            .await?
            .into_iter()
            .find(|r| &r.name == name)
            .map(|r| r.version))
    }
}

#[async_trait]
impl RoleStore for ScyllaGatewayStore {
    async fn roles(&self, tenant: &TenantId) -> Result<Vec<CustomRole>, StoreError> {
        let mut roles = self
            .session
            .execute_unpaged(&self.roles.list, (tenant.as_str(),))
            .await?
            .into_rows_result()?
            .rows::<Row>()?
            .map(|r| decode(r?))
            .collect::<Result<Vec<_>, StoreError>>()?;
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(roles)
    }

    async fn put_role(
        &self,
        r: &CustomRole,
        expected: Option<u64>,
        audit: &OutboxMessage,
    ) -> Result<RoleWrite, StoreError> {
        if let Some(refused) = refusal(expected, self.stored_version(&r.tenant, &r.name).await?) {
            return Ok(refused);
        }
        self.session
            .batch(
                &self.roles.upsert,
                (
                    (
                        r.tenant.as_str(),
                        r.name.as_str(),
                        r.description.as_str(),
                        permissions_text(&r.permissions),
                        r.version as i64,
                        r.created_by.as_str(),
                        r.create_time,
                        r.updated_by.as_str(),
                        r.update_time,
                    ),
                    ScyllaOutbox::values(audit),
                ),
            )
            .await?;
        Ok(RoleWrite::Done)
    }

    async fn delete_role(
        &self,
        tenant: &TenantId,
        name: &CustomRoleName,
        expected: Option<u64>,
        audit: &OutboxMessage,
    ) -> Result<RoleWrite, StoreError> {
        match (expected, self.stored_version(tenant, name).await?) {
            (_, None) => return Ok(RoleWrite::Conflict),
            (Some(want), Some(have)) if want != have => return Ok(RoleWrite::Stale),
            _ => {}
        }
        self.session
            .batch(
                &self.roles.delete,
                (
                    (tenant.as_str(), name.as_str()),
                    ScyllaOutbox::values(audit),
                ),
            )
            .await?;
        Ok(RoleWrite::Done)
    }
}
