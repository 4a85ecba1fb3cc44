//! Analytics figures in SQLite.

use std::path::Path;

use async_trait::async_trait;
use rapport_platform::identity::TenantId;
use rapport_store::{
    StoreError,
    sqlite::{Migration, SqliteDb},
};

use super::SummaryStore;
use crate::domain::{Metric, Summary};

const MIGRATIONS: &[Migration] = &[Migration {
    version: "0001_summary",
    sql: include_str!("../../migrations/sqlite/0001_summary.sql"),
}];

/// The SQLite backend.
#[derive(Debug)]
pub struct SqliteSummaryStore {
    db: SqliteDb,
}

impl SqliteSummaryStore {
    /// Opens the database file, applying migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteSummaryStore {
            db: SqliteDb::open(path, MIGRATIONS).await?,
        })
    }
}

#[async_trait]
impl SummaryStore for SqliteSummaryStore {
    async fn apply(
        &self,
        tenant: &TenantId,
        event_id: &str,
        metric: Option<Metric>,
    ) -> Result<bool, StoreError> {
        let conn = self.db.conn().await;
        let tx = conn.transaction().await?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO applied_events (tenant_id, event_id) VALUES (?1, ?2)",
                [tenant.as_str(), event_id],
            )
            .await?;
        if inserted == 1
            && let Some(metric) = metric
        {
            tx.execute(
                "INSERT INTO tenant_counts (tenant_id, metric, value) VALUES (?1, ?2, 1)
                 ON CONFLICT (tenant_id, metric) DO UPDATE SET value = value + 1",
                [tenant.as_str(), metric.as_str()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(inserted == 1)
    }

    async fn summary(&self, tenant: &TenantId) -> Result<Summary, StoreError> {
        let conn = self.db.conn().await;
        let mut rows = conn
            .query(
                "SELECT metric, value FROM tenant_counts WHERE tenant_id = ?1",
                [tenant.as_str()],
            )
            .await?;
        let mut summary = Summary::default();
        while let Some(row) = rows.next().await? {
            let name: String = row.get(0)?;
            if let Some(metric) = Metric::ALL.into_iter().find(|m| m.as_str() == name) {
                summary.set(metric, row.get(1)?);
            }
        }
        Ok(summary)
    }
}
