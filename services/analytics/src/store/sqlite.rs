//! Analytics figures in SQLite.

use std::path::Path;

use async_trait::async_trait;
use rapport_platform::identity::TenantId;
use rapport_store::{
    StoreError,
    sqlite::{Migration, SqliteDb},
};

use super::{CountedEvent, SummaryStore};
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
    async fn apply_all(&self, events: Vec<CountedEvent>) -> Result<usize, StoreError> {
        self.db
            .write(move |conn| async move {
                let record = conn
                    .prepare(
                        "INSERT OR IGNORE INTO applied_events (tenant_id, event_id) VALUES (?1, ?2)",
                    )
                    .await?;
                let count = conn
                    .prepare(
                        "INSERT INTO tenant_counts (tenant_id, metric, value) VALUES (?1, ?2, 1)
                         ON CONFLICT (tenant_id, metric) DO UPDATE SET value = value + 1",
                    )
                    .await?;
                let mut new = 0;
                for e in &events {
                    let inserted = record.execute([e.tenant.as_str(), &e.event_id]).await?;
                    record.reset();
                    if inserted == 0 {
                        continue;
                    }
                    new += 1;
                    if let Some(metric) = e.metric {
                        count.execute([e.tenant.as_str(), metric.as_str()]).await?;
                        count.reset();
                    }
                }
                Ok(new)
            })
            .await
    }

    async fn summary(&self, tenant: &TenantId) -> Result<Summary, StoreError> {
        let tenant = tenant.clone();
        self.db
            .read(move |conn| async move {
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
            })
            .await
    }
}
