//! Analytics figures in ScyllaDB.

use std::sync::Arc;

use async_trait::async_trait;
use rapport_platform::identity::TenantId;
use rapport_store::{
    StoreError,
    scylla::{CqlMigration, ScyllaSettings, connect},
};
use scylla::{client::session::Session, statement::prepared::PreparedStatement};

use super::{CountedEvent, SummaryStore};
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
    async fn apply_all(&self, events: Vec<CountedEvent>) -> Result<usize, StoreError> {
        // Each row is a plain idempotent upsert, so the batch needs no
        // atomicity: a partly applied batch is retried whole and converges.
        // Events that count nothing need no record.
        let inserts = events.iter().filter_map(|e| {
            let metric = e.metric?;
            Some(self.session.execute_unpaged(
                &self.insert,
                (e.tenant.as_str(), metric.as_str(), e.event_id.as_str()),
            ))
        });
        for result in futures::future::join_all(inserts).await {
            result?;
        }
        Ok(events.len())
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
