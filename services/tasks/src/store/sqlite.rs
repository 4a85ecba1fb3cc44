//! Tasks in SQLite.

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
        Migration, OUTBOX_MIGRATION, SqliteDb, contact_fates::CONTACT_FATES_MIGRATION, query_all,
    },
};
use uuid::Uuid;

use super::TaskStore;
use crate::domain::Task;

const MIGRATIONS: &[Migration] = &[
    OUTBOX_MIGRATION,
    CONTACT_FATES_MIGRATION,
    Migration {
        version: "0001_tasks",
        sql: include_str!("../../migrations/sqlite/0001_tasks.sql"),
    },
    Migration {
        version: "0002_contact_links",
        sql: include_str!("../../migrations/sqlite/0002_contact_links.sql"),
    },
    Migration {
        version: "0003_holding",
        sql: include_str!("../../migrations/sqlite/0003_holding.sql"),
    },
];

const COLUMNS: &str = "tenant_id, id, title, contact_id, due_time, assignee, version, create_time, created_by, team, shared_with";

/// The SQLite backend.
#[derive(Debug)]
pub struct SqliteTaskStore {
    db: Arc<SqliteDb>,
}

impl SqliteTaskStore {
    /// Opens the database file, applying migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteTaskStore {
            db: Arc::new(SqliteDb::open(path, MIGRATIONS).await?),
        })
    }
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt("tasks time".into()))
}

#[async_trait]
impl TaskStore for SqliteTaskStore {
    async fn create(
        &self,
        t: &Task,
        event: &OutboxMessage,
        audit: &OutboxMessage,
    ) -> Result<Linked, StoreError> {
        self.db
            .insert_linked(
                t.contact_id.map(|c| (t.tenant.as_str().to_owned(), c)),
                format!(
                    "INSERT INTO tasks ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ),
                libsql::params![
                    t.tenant.as_str(),
                    t.id.to_string(),
                    t.title.as_str(),
                    t.contact_id.map(|c| c.to_string()),
                    t.due_time.map(|d| d.to_rfc3339()),
                    t.assignee.as_str(),
                    t.version as i64,
                    t.create_time.to_rfc3339(),
                    t.created_by.as_str(),
                    t.team.as_str(),
                    serde_json::to_string(&t.shared_with).unwrap_or_else(|_| "[]".into()),
                ],
                vec![event.clone(), audit.clone()],
            )
            .await
    }

    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Task>, StoreError> {
        let params = [tenant.as_str().to_owned(), id.to_string()];
        let sql = format!("SELECT {COLUMNS} FROM tasks WHERE tenant_id = ?1 AND id = ?2");
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
    ) -> Result<Vec<Task>, StoreError> {
        let params = [tenant.as_str().to_owned(), contact_id.to_string()];
        let sql = format!(
            "SELECT {COLUMNS} FROM tasks WHERE tenant_id = ?1 AND contact_id = ?2
             ORDER BY create_time, id"
        );
        self.db
            .read(move |conn| async move { query_all(&conn, &sql, params, decode).await })
            .await
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.db.clone()
    }
}

#[async_trait]
impl ContactChangeStore for SqliteTaskStore {
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
            |tx, tenant, change| async move { relink_rows(&tx, "tasks", &tenant, &change).await },
        )
        .await
    }
}

fn decode(row: &libsql::Row) -> Result<Task, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("tasks.{what}"));
    Ok(Task {
        tenant: TenantId::parse(&row.get::<String>(0)?).map_err(|_| corrupt("tenant_id"))?,
        id: Uuid::parse_str(&row.get::<String>(1)?).map_err(|_| corrupt("id"))?,
        title: row.get(2)?,
        contact_id: row
            .get::<Option<String>>(3)?
            .map(|c| Uuid::parse_str(&c).map_err(|_| corrupt("contact_id")))
            .transpose()?,
        due_time: row
            .get::<Option<String>>(4)?
            .map(|d| parse_time(&d))
            .transpose()?,
        assignee: UserId::parse(&row.get::<String>(5)?).map_err(|_| corrupt("assignee"))?,
        version: row.get::<i64>(6)? as u64,
        create_time: parse_time(&row.get::<String>(7)?)?,
        created_by: UserId::parse(&row.get::<String>(8)?).map_err(|_| corrupt("created_by"))?,
        team: row.get(9)?,
        shared_with: serde_json::from_str(&row.get::<String>(10)?)
            .map_err(|_| corrupt("shared_with"))?,
    })
}
