//! Contacts in ScyllaDB.

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

use super::ContactStore;
use crate::domain::{Contact, ContactId, Email};

const MIGRATIONS: &[CqlMigration] = &[
    OUTBOX_CQL_MIGRATION,
    CqlMigration {
        version: "0001_contacts",
        cql: include_str!("../../migrations/scylla/0001_contacts.cql"),
    },
];

const COLUMNS: &str = "tenant_id, id, given_name, family_name, display_name, email, phone, company_name, version, create_time, created_by, update_time, updated_by";

type Row = (
    String,
    Uuid,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    DateTime<Utc>,
    String,
    DateTime<Utc>,
    String,
);

/// The ScyllaDB backend.
pub struct ScyllaContactStore {
    session: Arc<Session>,
    create: Batch,
    get: PreparedStatement,
    outbox: Arc<ScyllaOutbox>,
}

impl ScyllaContactStore {
    /// Connects, migrates the keyspace and prepares statements.
    pub async fn connect(settings: &ScyllaSettings) -> Result<Self, StoreError> {
        let session = connect(settings, MIGRATIONS).await?;
        let insert_contact = format!(
            "INSERT INTO contacts ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        // The entity rows and the outbox row go in one LOGGED batch.
        let create = scylla_outbox::logged_batch_with_outbox(&session, &[&insert_contact]).await?;
        let mut get = session
            .prepare(format!(
                "SELECT {COLUMNS} FROM contacts WHERE tenant_id = ? AND id = ?"
            ))
            .await?;
        get.set_is_idempotent(true);
        let outbox = Arc::new(ScyllaOutbox::new(session.clone()).await?);
        Ok(ScyllaContactStore {
            session,
            create,
            get,
            outbox,
        })
    }
}

#[async_trait]
impl ContactStore for ScyllaContactStore {
    async fn create(&self, c: &Contact, event: &OutboxMessage) -> Result<(), StoreError> {
        let row: Row = (
            c.tenant.to_string(),
            uuid(&c.id),
            c.given_name.clone(),
            c.family_name.clone(),
            c.display_name.clone(),
            c.email.as_ref().map(|e| e.as_str().to_owned()),
            c.phone.clone(),
            c.company_name.clone(),
            c.version as i64,
            c.create_time,
            c.created_by.to_string(),
            c.update_time,
            c.updated_by.to_string(),
        );
        self.session
            .batch(&self.create, (row, ScyllaOutbox::values(event)))
            .await?;
        Ok(())
    }

    async fn get(&self, tenant: &TenantId, id: &ContactId) -> Result<Option<Contact>, StoreError> {
        let result = self
            .session
            .execute_unpaged(&self.get, (tenant.as_str(), uuid(id)))
            .await?
            .into_rows_result()?;
        let Some(row) = result
            .maybe_first_row::<Row>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
        else {
            return Ok(None);
        };
        decode(row).map(Some)
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.outbox.clone()
    }
}

fn uuid(id: &ContactId) -> Uuid {
    Uuid::parse_str(&id.to_string()).expect("contact ids are UUIDs")
}

fn decode(row: Row) -> Result<Contact, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("contacts.{what}"));
    let (tenant, id, given, family, display, email, phone, company, version, ct, cb, ut, ub) = row;
    Ok(Contact {
        tenant: TenantId::parse(&tenant).map_err(|_| corrupt("tenant_id"))?,
        id: ContactId::parse(&id.to_string()).map_err(|_| corrupt("id"))?,
        given_name: given,
        family_name: family,
        display_name: display,
        email: email
            .map(|e| Email::parse(&e).map_err(|_| corrupt("email")))
            .transpose()?,
        phone,
        company_name: company,
        version: version as u64,
        create_time: ct,
        created_by: UserId::parse(&cb).map_err(|_| corrupt("created_by"))?,
        update_time: ut,
        updated_by: UserId::parse(&ub).map_err(|_| corrupt("updated_by"))?,
    })
}
