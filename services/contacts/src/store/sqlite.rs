//! Contacts in SQLite.

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::identity::{TenantId, UserId};
use rapport_store::{
    Outbox, OutboxMessage, StoreError,
    sqlite::{Migration, OUTBOX_MIGRATION, SqliteDb},
};

use super::ContactStore;
use crate::domain::{Contact, ContactId, Email};

const MIGRATIONS: &[Migration] = &[
    OUTBOX_MIGRATION,
    Migration {
        version: "0001_contacts",
        sql: include_str!("../../migrations/sqlite/0001_contacts.sql"),
    },
];

const COLUMNS: &str = "tenant_id, id, given_name, family_name, display_name, email, phone, company_name, version, create_time, created_by, update_time, updated_by";

/// The SQLite backend.
#[derive(Debug)]
pub struct SqliteContactStore {
    db: Arc<SqliteDb>,
}

impl SqliteContactStore {
    /// Opens the database file, applying migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteContactStore {
            db: Arc::new(SqliteDb::open(path, MIGRATIONS).await?),
        })
    }
}

#[async_trait]
impl ContactStore for SqliteContactStore {
    async fn create(&self, c: &Contact, event: &OutboxMessage) -> Result<(), StoreError> {
        self.db
            .execute_with_outbox(
            &format!("INSERT INTO contacts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
            libsql::params![
                c.tenant.as_str(),
                c.id.to_string(),
                c.given_name.as_str(),
                c.family_name.as_str(),
                c.display_name.as_str(),
                c.email.as_ref().map(|e| e.as_str().to_owned()),
                c.phone.clone(),
                c.company_name.as_str(),
                c.version as i64,
                c.create_time.to_rfc3339(),
                c.created_by.as_str(),
                c.update_time.to_rfc3339(),
                c.updated_by.as_str(),
            ],
                event,
            )
            .await
    }

    async fn get(&self, tenant: &TenantId, id: &ContactId) -> Result<Option<Contact>, StoreError> {
        let conn = self.db.conn().await;
        let mut rows = conn
            .query(
                &format!("SELECT {COLUMNS} FROM contacts WHERE tenant_id = ?1 AND id = ?2"),
                [tenant.as_str().to_owned(), id.to_string()],
            )
            .await?;
        match rows.next().await? {
            Some(row) => Ok(Some(decode(&row)?)),
            None => Ok(None),
        }
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.db.clone()
    }
}

fn decode(row: &libsql::Row) -> Result<Contact, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("contacts.{what}"));
    let time = |i: i32, what: &str| -> Result<DateTime<Utc>, StoreError> {
        DateTime::parse_from_rfc3339(&row.get::<String>(i)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| corrupt(what))
    };
    Ok(Contact {
        tenant: TenantId::parse(&row.get::<String>(0)?).map_err(|_| corrupt("tenant_id"))?,
        id: ContactId::parse(&row.get::<String>(1)?).map_err(|_| corrupt("id"))?,
        given_name: row.get(2)?,
        family_name: row.get(3)?,
        display_name: row.get(4)?,
        email: row
            .get::<Option<String>>(5)?
            .map(|e| Email::parse(&e).map_err(|_| corrupt("email")))
            .transpose()?,
        phone: row.get(6)?,
        company_name: row.get(7)?,
        version: row.get::<i64>(8)? as u64,
        create_time: time(9, "create_time")?,
        created_by: UserId::parse(&row.get::<String>(10)?).map_err(|_| corrupt("created_by"))?,
        update_time: time(11, "update_time")?,
        updated_by: UserId::parse(&row.get::<String>(12)?).map_err(|_| corrupt("updated_by"))?,
    })
}
