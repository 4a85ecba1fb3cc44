//! Tasks in ScyllaDB.

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

use super::TaskStore;
use crate::domain::Task;

const MIGRATIONS: &[CqlMigration] = &[
    OUTBOX_CQL_MIGRATION,
    CqlMigration {
        version: "0001_tasks",
        cql: include_str!("../../migrations/scylla/0001_tasks.cql"),
    },
];

const COLUMNS: &str =
    "tenant_id, id, title, contact_id, due_time, assignee, version, create_time, created_by";

type Row = (
    String,
    Uuid,
    String,
    Option<Uuid>,
    Option<DateTime<Utc>>,
    String,
    i64,
    DateTime<Utc>,
    String,
);

/// The ScyllaDB backend.
pub struct ScyllaTaskStore {
    session: Arc<Session>,
    create: Batch,
    get: PreparedStatement,
    outbox: Arc<ScyllaOutbox>,
}

impl ScyllaTaskStore {
    /// Connects, migrates and prepares statements.
    pub async fn connect(settings: &ScyllaSettings) -> Result<Self, StoreError> {
        let session = connect(settings, MIGRATIONS).await?;
        let insert_task =
            format!("INSERT INTO tasks ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
        // The entity rows and the outbox row go in one LOGGED batch.
        let create = scylla_outbox::logged_batch_with_outbox(&session, &[&insert_task]).await?;
        let mut get = session
            .prepare(format!(
                "SELECT {COLUMNS} FROM tasks WHERE tenant_id = ? AND id = ?"
            ))
            .await?;
        get.set_is_idempotent(true);
        let outbox = Arc::new(ScyllaOutbox::new(session.clone()).await?);
        Ok(ScyllaTaskStore {
            session,
            create,
            get,
            outbox,
        })
    }
}

#[async_trait]
impl TaskStore for ScyllaTaskStore {
    async fn create(&self, t: &Task, event: &OutboxMessage) -> Result<(), StoreError> {
        let row: Row = (
            t.tenant.to_string(),
            t.id,
            t.title.clone(),
            t.contact_id,
            t.due_time,
            t.assignee.to_string(),
            t.version as i64,
            t.create_time,
            t.created_by.to_string(),
        );
        self.session
            .batch(&self.create, (row, ScyllaOutbox::values(event)))
            .await?;
        Ok(())
    }

    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Task>, StoreError> {
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
        let (tenant, id, title, contact_id, due_time, assignee, version, ct, cb) = row;
        let corrupt = |what: &str| StoreError::Corrupt(format!("tasks.{what}"));
        Ok(Some(Task {
            tenant: TenantId::parse(&tenant).map_err(|_| corrupt("tenant_id"))?,
            id,
            title,
            contact_id,
            due_time,
            assignee: UserId::parse(&assignee).map_err(|_| corrupt("assignee"))?,
            version: version as u64,
            create_time: ct,
            created_by: UserId::parse(&cb).map_err(|_| corrupt("created_by"))?,
        }))
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.outbox.clone()
    }
}
