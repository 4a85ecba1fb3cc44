//! Deals in SQLite.

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::{
    contact_changes::{ContactChange, ContactChangeStore, apply_once_in_sqlite, relink_rows},
    identity::{TenantId, UserId},
};
use rapport_store::{
    Linked, Outbox, OutboxMessage, StoreError,
    sqlite::{
        Migration, OUTBOX_MIGRATION, SqliteDb, contact_fates::CONTACT_FATES_MIGRATION,
        insert_outbox, query_all,
    },
};
use uuid::Uuid;

use super::{DealStore, pipeline_doc};
use crate::domain::{
    Deal, Money,
    pipeline::{Pipeline, default_pipeline_id},
};

const MIGRATIONS: &[Migration] = &[
    OUTBOX_MIGRATION,
    CONTACT_FATES_MIGRATION,
    Migration {
        version: "0001_deals",
        sql: include_str!("../../migrations/sqlite/0001_deals.sql"),
    },
    Migration {
        version: "0002_contact_links",
        sql: include_str!("../../migrations/sqlite/0002_contact_links.sql"),
    },
    Migration {
        version: "0003_holding",
        sql: include_str!("../../migrations/sqlite/0003_holding.sql"),
    },
    Migration {
        version: "0004_pipelines",
        sql: include_str!("../../migrations/sqlite/0004_pipelines.sql"),
    },
    Migration {
        version: "0005_deal_pipeline",
        sql: include_str!("../../migrations/sqlite/0005_deal_pipeline.sql"),
    },
];

const COLUMNS: &str = "tenant_id, id, title, contact_id, currency_code, amount_units, amount_nanos, stage, version, create_time, created_by, owner, team, shared_with, pipeline_id";

/// The SQLite backend.
#[derive(Debug)]
pub struct SqliteDealStore {
    db: Arc<SqliteDb>,
}

impl SqliteDealStore {
    /// Opens the database file, applying migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteDealStore {
            db: Arc::new(SqliteDb::open(path, MIGRATIONS).await?),
        })
    }
}

#[async_trait]
impl DealStore for SqliteDealStore {
    async fn create(
        &self,
        d: &Deal,
        event: &OutboxMessage,
        audit: &OutboxMessage,
    ) -> Result<Linked, StoreError> {
        self.db
            .insert_linked(
                d.contact_id.map(|c| (d.tenant.as_str().to_owned(), c)),
            format!("INSERT INTO deals ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"),
            libsql::params![
                d.tenant.as_str(),
                d.id.to_string(),
                d.title.as_str(),
                d.contact_id.map(|c| c.to_string()),
                d.amount.as_ref().map(|m| m.currency.clone()),
                d.amount.as_ref().map(|m| m.units),
                d.amount.as_ref().map(|m| m.nanos as i64),
                d.stage.as_str(),
                d.version as i64,
                d.create_time.to_rfc3339(),
                d.created_by.as_str(),
                d.owner.as_str(),
                d.team.as_str(),
                serde_json::to_string(&d.shared_with).unwrap_or_else(|_| "[]".into()),
                d.pipeline_id.to_string(),
            ],
                vec![event.clone(), audit.clone()],
            )
            .await
    }

    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Deal>, StoreError> {
        let params = [tenant.as_str().to_owned(), id.to_string()];
        let sql = format!("SELECT {COLUMNS} FROM deals WHERE tenant_id = ?1 AND id = ?2");
        let found = self
            .db
            .read(move |conn| async move { query_all(&conn, &sql, params, decode).await })
            .await?;
        Ok(found.into_iter().next())
    }

    async fn list_by_contact(
        &self,
        tenant: &TenantId,
        contact_id: Uuid,
    ) -> Result<Vec<Deal>, StoreError> {
        let params = [tenant.as_str().to_owned(), contact_id.to_string()];
        let sql = format!(
            "SELECT {COLUMNS} FROM deals WHERE tenant_id = ?1 AND contact_id = ?2
             ORDER BY create_time, id"
        );
        self.db
            .read(move |conn| async move { query_all(&conn, &sql, params, decode).await })
            .await
    }

    async fn put_pipeline(
        &self,
        pipeline: &Pipeline,
        expected: u64,
        messages: &[OutboxMessage],
    ) -> Result<bool, StoreError> {
        let (tenant, id) = (pipeline.tenant.to_string(), pipeline.id.to_string());
        let (version, doc) = (pipeline.version as i64, pipeline_doc::encode(pipeline));
        let messages = messages.to_vec();
        self.db
            .write(move |tx| async move {
                let stored = query_all(
                    &tx,
                    "SELECT version FROM pipelines WHERE tenant_id = ?1 AND id = ?2",
                    [tenant.clone(), id.clone()],
                    |row| Ok(row.get::<i64>(0)?),
                )
                .await?;
                if stored.first().copied().unwrap_or(0) != expected as i64 {
                    return Ok(false);
                }
                tx.execute(
                    "INSERT INTO pipelines (tenant_id, id, version, doc) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant_id, id) DO UPDATE SET version = ?3, doc = ?4",
                    libsql::params![tenant, id, version, doc],
                )
                .await?;
                for m in &messages {
                    insert_outbox(&tx, m).await?;
                }
                Ok::<_, StoreError>(true)
            })
            .await
    }

    async fn get_pipeline(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Option<Pipeline>, StoreError> {
        let t = tenant.clone();
        let params = [tenant.to_string(), id.to_string()];
        let found = self
            .db
            .read(move |conn| async move {
                query_all(
                    &conn,
                    "SELECT id, version, doc FROM pipelines WHERE tenant_id = ?1 AND id = ?2",
                    params,
                    |row| decode_pipeline(&t, row),
                )
                .await
            })
            .await?;
        Ok(found.into_iter().next())
    }

    async fn list_pipelines(&self, tenant: &TenantId) -> Result<Vec<Pipeline>, StoreError> {
        let t = tenant.clone();
        let params = [tenant.to_string()];
        self.db
            .read(move |conn| async move {
                query_all(
                    &conn,
                    "SELECT id, version, doc FROM pipelines WHERE tenant_id = ?1 ORDER BY id",
                    params,
                    |row| decode_pipeline(&t, row),
                )
                .await
            })
            .await
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.db.clone()
    }
}

fn decode_pipeline(tenant: &TenantId, row: &libsql::Row) -> Result<Pipeline, StoreError> {
    let id = Uuid::parse_str(&row.get::<String>(0)?)
        .map_err(|_| StoreError::Corrupt("pipelines.id".into()))?;
    pipeline_doc::decode(
        tenant.clone(),
        id,
        row.get::<i64>(1)? as u64,
        &row.get::<String>(2)?,
    )
}

#[async_trait]
impl ContactChangeStore for SqliteDealStore {
    async fn apply_contact_change(
        &self,
        tenant: &TenantId,
        event_id: &str,
        change: &ContactChange,
    ) -> Result<bool, StoreError> {
        apply_once_in_sqlite(
            &self.db,
            tenant,
            event_id,
            change,
            |tx, tenant, change| async move { relink_rows(&tx, "deals", &tenant, &change).await },
        )
        .await
    }
}

fn decode(row: &libsql::Row) -> Result<Deal, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("deals.{what}"));
    let amount = match row.get::<Option<String>>(4)? {
        Some(currency) => Some(Money {
            currency,
            units: row.get(5)?,
            nanos: row.get::<i64>(6)? as i32,
        }),
        None => None,
    };
    let tenant = TenantId::parse(&row.get::<String>(0)?).map_err(|_| corrupt("tenant_id"))?;
    let pipeline_id = match row.get::<Option<String>>(14)? {
        Some(id) => Uuid::parse_str(&id).map_err(|_| corrupt("pipeline_id"))?,
        None => default_pipeline_id(&tenant),
    };
    Ok(Deal {
        tenant,
        pipeline_id,
        id: Uuid::parse_str(&row.get::<String>(1)?).map_err(|_| corrupt("id"))?,
        title: row.get(2)?,
        contact_id: row
            .get::<Option<String>>(3)?
            .map(|c| Uuid::parse_str(&c).map_err(|_| corrupt("contact_id")))
            .transpose()?,
        amount,
        stage: row.get(7)?,
        version: row.get::<i64>(8)? as u64,
        create_time: DateTime::parse_from_rfc3339(&row.get::<String>(9)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| corrupt("create_time"))?,
        created_by: UserId::parse(&row.get::<String>(10)?).map_err(|_| corrupt("created_by"))?,
        owner: row.get(11)?,
        team: row.get(12)?,
        shared_with: serde_json::from_str(&row.get::<String>(13)?)
            .map_err(|_| corrupt("shared_with"))?,
    })
}
