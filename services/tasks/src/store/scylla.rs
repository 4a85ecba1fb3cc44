//! Tasks in ScyllaDB.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::{
    contact_changes::{ContactChange, ContactChangeStore},
    identity::{TenantId, UserId},
};
use rapport_store::{
    Linked, Outbox, OutboxMessage, StoreError,
    scylla::{CqlMigration, ScyllaSettings, connect, prepare_idempotent},
    scylla_contact_fates::{CONTACT_FATES_CQL_MIGRATION, ScyllaContactFates},
    scylla_outbox::{self, OUTBOX_CQL_MIGRATION, ScyllaOutbox},
};
use scylla::{
    client::session::Session,
    response::{PagingState, PagingStateResponse},
    statement::{
        batch::{Batch, BatchType},
        prepared::PreparedStatement,
    },
};
use uuid::Uuid;

use super::TaskStore;
use crate::domain::Task;

const MIGRATIONS: &[CqlMigration] = &[
    OUTBOX_CQL_MIGRATION,
    CONTACT_FATES_CQL_MIGRATION,
    CqlMigration {
        version: "0001_tasks",
        cql: include_str!("../../migrations/scylla/0001_tasks.cql"),
    },
    CqlMigration {
        version: "0002_contact_links",
        cql: include_str!("../../migrations/scylla/0002_contact_links.cql"),
    },
    CqlMigration {
        version: "0003_holding",
        cql: include_str!("../../migrations/scylla/0003_holding.cql"),
    },
];

/// Marker row in `schema_migrations` once tasks written before
/// `0002_contact_links` are in `tasks_by_contact`.
const BACKFILL_MARKER: &str = "0002_contact_links_backfill";

const COLUMNS: &str = "tenant_id, id, title, contact_id, due_time, assignee, version, create_time, created_by, team, shared_with";

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
    Option<String>,
    Option<Vec<String>>,
);

/// The ScyllaDB backend.
pub struct ScyllaTaskStore {
    session: Arc<Session>,
    create: Batch,
    create_linked: Batch,
    get: PreparedStatement,
    by_contact: PreparedStatement,
    link: PreparedStatement,
    unlink: PreparedStatement,
    set_contact: PreparedStatement,
    is_applied: PreparedStatement,
    mark_applied: PreparedStatement,
    outbox: Arc<ScyllaOutbox>,
    fates: ScyllaContactFates,
}

const INSERT_LINK: &str =
    "INSERT INTO tasks_by_contact (tenant_id, contact_id, task_id) VALUES (?, ?, ?)";

impl ScyllaTaskStore {
    /// Connects, migrates and prepares statements.
    pub async fn connect(settings: &ScyllaSettings) -> Result<Self, StoreError> {
        let session = connect(settings, MIGRATIONS).await?;
        let insert_task =
            format!("INSERT INTO tasks ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        // The entity rows and the outbox row go in one LOGGED batch.
        // A task with a contact also gets its tasks_by_contact row.
        let create = scylla_outbox::logged_batch_with_outbox(&session, &[&insert_task], 2).await?;
        let create_linked =
            scylla_outbox::logged_batch_with_outbox(&session, &[&insert_task, INSERT_LINK], 2)
                .await?;
        let get = prepare_idempotent(
            &session,
            &format!("SELECT {COLUMNS} FROM tasks WHERE tenant_id = ? AND id = ?"),
        )
        .await?;
        let by_contact = prepare_idempotent(
            &session,
            "SELECT task_id FROM tasks_by_contact WHERE tenant_id = ? AND contact_id = ?",
        )
        .await?;
        let link = prepare_idempotent(&session, INSERT_LINK).await?;
        let unlink = prepare_idempotent(
            &session,
            "DELETE FROM tasks_by_contact WHERE tenant_id = ? AND contact_id = ? AND task_id = ?",
        )
        .await?;
        // Sets an absolute version read just before, so a replay writes the
        // same values again.
        let set_contact = prepare_idempotent(
            &session,
            "UPDATE tasks SET contact_id = ?, version = ? WHERE tenant_id = ? AND id = ?",
        )
        .await?;
        let is_applied = prepare_idempotent(
            &session,
            "SELECT event_id FROM applied_events WHERE tenant_id = ? AND event_id = ?",
        )
        .await?;
        let mark_applied = prepare_idempotent(
            &session,
            "INSERT INTO applied_events (tenant_id, event_id) VALUES (?, ?)",
        )
        .await?;
        let outbox = Arc::new(ScyllaOutbox::new(session.clone()).await?);
        let fates = ScyllaContactFates::prepare(session.clone()).await?;
        let store = ScyllaTaskStore {
            session,
            create,
            create_linked,
            get,
            by_contact,
            link,
            unlink,
            set_contact,
            is_applied,
            mark_applied,
            outbox,
            fates,
        };
        store.backfill_contact_links().await?;
        Ok(store)
    }

    /// Indexes tasks written before `tasks_by_contact` existed, once: a
    /// full scan of `tasks` (token-range paging, no filtering), then a
    /// marker row. Upserts only, so concurrent or repeated runs are harmless.
    async fn backfill_contact_links(&self) -> Result<(), StoreError> {
        let done = self
            .session
            .query_unpaged(
                "SELECT version FROM schema_migrations WHERE version = ?",
                (BACKFILL_MARKER,),
            )
            .await?
            .into_rows_result()?
            .rows_num()
            > 0;
        if done {
            return Ok(());
        }
        let mut scan = self
            .session
            .prepare("SELECT tenant_id, id, contact_id FROM tasks")
            .await?;
        scan.set_page_size(1000);
        let mut state = PagingState::start();
        loop {
            let (result, paging) = self.session.execute_single_page(&scan, (), state).await?;
            for row in result
                .into_rows_result()?
                .rows::<(String, Uuid, Option<Uuid>)>()?
            {
                if let (tenant, id, Some(contact)) = row? {
                    self.session
                        .execute_unpaged(&self.link, (tenant, contact, id))
                        .await?;
                }
            }
            match paging {
                PagingStateResponse::HasMorePages { state: next } => state = next,
                PagingStateResponse::NoMorePages => break,
            }
        }
        self.session
            .query_unpaged(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, toTimestamp(now()))",
                (BACKFILL_MARKER,),
            )
            .await?;
        Ok(())
    }

    /// Ids in `tasks_by_contact` for the contact.
    async fn linked_ids(&self, tenant: &TenantId, contact: Uuid) -> Result<Vec<Uuid>, StoreError> {
        Ok(self
            .session
            .execute_unpaged(&self.by_contact, (tenant.as_str(), contact))
            .await?
            .into_rows_result()?
            .rows::<(Uuid,)>()?
            .map(|r| r.map(|(id,)| id))
            .collect::<Result<_, _>>()?)
    }

    /// Moves every task of `from` to `to` (`None`: unlinks it). Each task
    /// moves in its own logged batch (row and index together), so a crash
    /// leaves every task either moved or not; a redelivery finds the rest in
    /// the index and moves them.
    async fn move_tasks(
        &self,
        tenant: &TenantId,
        from: Uuid,
        to: Option<Uuid>,
    ) -> Result<(), StoreError> {
        for id in self.linked_ids(tenant, from).await? {
            let Some(task) = self.get(tenant, id).await? else {
                // An index row without its task: drop it.
                self.session
                    .execute_unpaged(&self.unlink, (tenant.as_str(), from, id))
                    .await?;
                continue;
            };
            let mut batch = Batch::new(BatchType::Logged);
            batch.append_statement(self.unlink.clone());
            if task.contact_id != Some(from) {
                // A stale index row: the task points elsewhere already.
                self.session
                    .batch(&batch, ((tenant.as_str(), from, id),))
                    .await?;
                continue;
            }
            batch.append_statement(self.set_contact.clone());
            let version = task.version as i64 + 1;
            match to {
                Some(to) => {
                    batch.append_statement(self.link.clone());
                    self.session
                        .batch(
                            &batch,
                            (
                                (tenant.as_str(), from, id),
                                (Some(to), version, tenant.as_str(), id),
                                (tenant.as_str(), to, id),
                            ),
                        )
                        .await?;
                }
                None => {
                    self.session
                        .batch(
                            &batch,
                            (
                                (tenant.as_str(), from, id),
                                (None::<Uuid>, version, tenant.as_str(), id),
                            ),
                        )
                        .await?;
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl TaskStore for ScyllaTaskStore {
    async fn create(
        &self,
        t: &Task,
        event: &OutboxMessage,
        audit: &OutboxMessage,
    ) -> Result<Linked, StoreError> {
        let tenant = t.tenant.as_str();
        if let Some(contact) = t.contact_id {
            let linked = self.fates.link(tenant, contact).await?;
            if linked != Linked::Stored {
                return Ok(linked);
            }
        }
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
            Some(t.team.clone()),
            Some(t.shared_with.clone()),
        );
        match t.contact_id {
            Some(contact) => {
                let link = (tenant, contact, t.id);
                self.session
                    .batch(
                        &self.create_linked,
                        (
                            row,
                            link,
                            ScyllaOutbox::values(event),
                            ScyllaOutbox::values(audit),
                        ),
                    )
                    .await?
            }
            None => {
                self.session
                    .batch(
                        &self.create,
                        (
                            row,
                            ScyllaOutbox::values(event),
                            ScyllaOutbox::values(audit),
                        ),
                    )
                    .await?
            }
        };
        // Checked again after the write: a merge or an erasure applied in
        // between did not see this task, so it is moved or unlinked here.
        if let Some(contact) = t.contact_id {
            match self.fates.link(tenant, contact).await? {
                Linked::Stored => {}
                Linked::Merged { survivor } => {
                    self.move_tasks(&t.tenant, contact, Some(survivor)).await?
                }
                Linked::Erased => self.move_tasks(&t.tenant, contact, None).await?,
            }
        }
        Ok(Linked::Stored)
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
        let (tenant, id, title, contact_id, due_time, assignee, version, ct, cb, team, shared_with) =
            row;
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
            team: team.unwrap_or_default(),
            shared_with: shared_with.unwrap_or_default(),
        }))
    }

    async fn list_by_contact(
        &self,
        tenant: &TenantId,
        contact_id: Uuid,
    ) -> Result<Vec<Task>, StoreError> {
        let mut tasks = Vec::new();
        // Ids are UUIDv7, so the clustering order is creation order.
        for id in self.linked_ids(tenant, contact_id).await? {
            match self.get(tenant, id).await? {
                Some(d) if d.contact_id == Some(contact_id) => tasks.push(d),
                _ => {}
            }
        }
        Ok(tasks)
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.outbox.clone()
    }
}

#[async_trait]
impl ContactChangeStore for ScyllaTaskStore {
    async fn apply_contact_change(
        &self,
        tenant: &TenantId,
        event_id: &str,
        change: &ContactChange,
    ) -> Result<bool, StoreError> {
        // No transaction spans many partitions here: each task moves
        // atomically (see `move_tasks`) and the event is recorded only after
        // the last one, so a crash half-way is finished by the redelivery.
        let seen = self
            .session
            .execute_unpaged(&self.is_applied, (tenant.as_str(), event_id))
            .await?
            .into_rows_result()?
            .rows_num()
            > 0;
        if seen {
            return Ok(false);
        }
        // Through the fates, so merges applied out of order end where the
        // last survivor is (or unlinked, when it was erased).
        match change {
            ContactChange::Relink { survivor, merged } => {
                let to = self
                    .fates
                    .record_relink(tenant.as_str(), *survivor, merged)
                    .await?;
                for from in merged {
                    self.move_tasks(tenant, *from, to).await?;
                }
            }
            ContactChange::Erase { contact } => {
                self.fates.record_erasure(tenant.as_str(), *contact).await?;
                self.move_tasks(tenant, *contact, None).await?
            }
        }
        self.session
            .execute_unpaged(&self.mark_applied, (tenant.as_str(), event_id))
            .await?;
        Ok(true)
    }
}
