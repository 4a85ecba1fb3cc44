//! Deals in ScyllaDB.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::identity::{TenantId, UserId};
use rapport_store::{
    Outbox, OutboxMessage, StoreError,
    scylla::{CqlMigration, ScyllaSettings, connect},
    scylla_outbox::{self, OUTBOX_CQL_MIGRATION, ScyllaOutbox},
};
use scylla::{
    client::session::Session,
    statement::{batch::Batch, prepared::PreparedStatement},
};
use uuid::Uuid;

use super::DealStore;
use crate::domain::{Deal, Money};

const MIGRATIONS: &[CqlMigration] = &[
    OUTBOX_CQL_MIGRATION,
    CqlMigration {
        version: "0001_deals",
        cql: include_str!("../../migrations/scylla/0001_deals.cql"),
    },
];

const COLUMNS: &str = "tenant_id, id, title, contact_id, currency_code, amount_units, amount_nanos, stage, version, create_time, created_by";

type Row = (
    String,
    Uuid,
    String,
    Option<Uuid>,
    Option<String>,
    Option<i64>,
    Option<i32>,
    String,
    i64,
    DateTime<Utc>,
    String,
);

/// The ScyllaDB backend.
pub struct ScyllaDealStore {
    session: Arc<Session>,
    create: Batch,
    get: PreparedStatement,
    outbox: Arc<ScyllaOutbox>,
}

impl ScyllaDealStore {
    /// Connects, migrates and prepares statements.
    pub async fn connect(settings: &ScyllaSettings) -> Result<Self, StoreError> {
        let session = connect(settings, MIGRATIONS).await?;
        let insert_deal =
            format!("INSERT INTO deals ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        // The entity rows and the outbox row go in one LOGGED batch.
        let create = scylla_outbox::logged_batch_with_outbox(&session, &[&insert_deal]).await?;
        let mut get = session
            .prepare(format!(
                "SELECT {COLUMNS} FROM deals WHERE tenant_id = ? AND id = ?"
            ))
            .await?;
        get.set_is_idempotent(true);
        let outbox = Arc::new(ScyllaOutbox::new(session.clone()).await?);
        Ok(ScyllaDealStore {
            session,
            create,
            get,
            outbox,
        })
    }
}

#[async_trait]
impl DealStore for ScyllaDealStore {
    async fn create(&self, d: &Deal, event: &OutboxMessage) -> Result<(), StoreError> {
        let row: Row = (
            d.tenant.to_string(),
            d.id,
            d.title.clone(),
            d.contact_id,
            d.amount.as_ref().map(|m| m.currency.clone()),
            d.amount.as_ref().map(|m| m.units),
            d.amount.as_ref().map(|m| m.nanos),
            d.stage.clone(),
            d.version as i64,
            d.create_time,
            d.created_by.to_string(),
        );
        self.session
            .batch(&self.create, (row, ScyllaOutbox::values(event)))
            .await?;
        Ok(())
    }

    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Deal>, StoreError> {
        let result = self
            .session
            .execute_unpaged(&self.get, (tenant.as_str(), id))
            .await?
            .into_rows_result()?;
        let Some(row) = result
            .maybe_first_row::<Row>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
        else {
            return Ok(None);
        };
        let (tenant, id, title, contact_id, currency, units, nanos, stage, version, ct, cb) = row;
        let corrupt = |what: &str| StoreError::Corrupt(format!("deals.{what}"));
        Ok(Some(Deal {
            tenant: TenantId::parse(&tenant).map_err(|_| corrupt("tenant_id"))?,
            id,
            title,
            contact_id,
            amount: currency.map(|currency| Money {
                currency,
                units: units.unwrap_or(0),
                nanos: nanos.unwrap_or(0),
            }),
            stage,
            version: version as u64,
            create_time: ct,
            created_by: UserId::parse(&cb).map_err(|_| corrupt("created_by"))?,
        }))
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.outbox.clone()
    }
}
