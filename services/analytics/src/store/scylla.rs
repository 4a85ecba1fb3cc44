//! Analytics figures in ScyllaDB.

use std::sync::Arc;

use async_trait::async_trait;
use rapport_platform::identity::TenantId;
use rapport_store::{
    StoreError,
    scylla::{CqlMigration, ScyllaSettings, connect},
};
use scylla::{client::session::Session, statement::prepared::PreparedStatement};

use super::SummaryStore;
use crate::domain::{Metric, Summary};

const MIGRATIONS: &[CqlMigration] = &[CqlMigration {
    version: "0001_summary",
    cql: include_str!("../../migrations/scylla/0001_summary.cql"),
}];

/// The ScyllaDB backend.
pub struct ScyllaSummaryStore {
    session: Arc<Session>,
    insert: PreparedStatement,
    count: PreparedStatement,
}

impl ScyllaSummaryStore {
    /// Connects, migrates and prepares statements.
    pub async fn connect(settings: &ScyllaSettings) -> Result<Self, StoreError> {
        let session = connect(settings, MIGRATIONS).await?;
        let mut insert = session
            .prepare("INSERT INTO counted_events (tenant_id, metric, event_id) VALUES (?, ?, ?)")
            .await?;
        // A plain upsert: replaying it cannot change the count.
        insert.set_is_idempotent(true);
        let mut count = session
            .prepare("SELECT COUNT(*) FROM counted_events WHERE tenant_id = ? AND metric = ?")
            .await?;
        count.set_is_idempotent(true);
        Ok(ScyllaSummaryStore {
            session,
            insert,
            count,
        })
    }
}

#[async_trait]
impl SummaryStore for ScyllaSummaryStore {
    async fn apply(
        &self,
        tenant: &TenantId,
        event_id: &str,
        metric: Option<Metric>,
    ) -> Result<bool, StoreError> {
        // Events that count nothing need no record: applying them is a no-op.
        if let Some(metric) = metric {
            self.session
                .execute_unpaged(&self.insert, (tenant.as_str(), metric.as_str(), event_id))
                .await?;
        }
        Ok(true)
    }

    async fn summary(&self, tenant: &TenantId) -> Result<Summary, StoreError> {
        let mut summary = Summary::default();
        for metric in Metric::ALL {
            let (n,): (i64,) = self
                .session
                .execute_unpaged(&self.count, (tenant.as_str(), metric.as_str()))
                .await?
                .into_rows_result()?
                .single_row()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            summary.set(metric, n);
        }
        Ok(summary)
    }
}
