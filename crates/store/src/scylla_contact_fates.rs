//! The fates of merged and erased people on ScyllaDB (the SQLite version
//! and the reasons are in `sqlite::contact_fates`).
//!
//! `contact_fates` holds, per gone id, its live survivor or nothing (erased);
//! `contact_fates_by_survivor` finds the ids that point at a survivor, so a
//! survivor merged on or erased later takes them along. There is no
//! transaction across partitions: every write is an idempotent upsert and
//! the consumer applies an event again until it is recorded as applied, so
//! a half-applied change is completed by the redelivery.
//!
//! A write against a person is checked before and after it is stored
//! ([`ScyllaContactFates::link`]): an erasure records the fate first and
//! then deletes what it finds, so a record stored meanwhile is either found
//! by the erasure or sees the fate on its second check and is removed by
//! its writer.

use std::sync::Arc;

use scylla::{client::session::Session, statement::prepared::PreparedStatement};
use uuid::Uuid;

use crate::{Fate, Linked, StoreError, scylla::CqlMigration};

/// The tables every service that links records to people includes.
pub const CONTACT_FATES_CQL_MIGRATION: CqlMigration = CqlMigration {
    version: "0000_contact_fates",
    cql: "CREATE TABLE IF NOT EXISTS {ks}.contact_fates (
            tenant_id text,
            contact_id uuid,
            survivor_id uuid,
            erased boolean,
            PRIMARY KEY ((tenant_id, contact_id))
          );
          CREATE TABLE IF NOT EXISTS {ks}.contact_fates_by_survivor (
            tenant_id text,
            survivor_id uuid,
            contact_id uuid,
            PRIMARY KEY ((tenant_id, survivor_id), contact_id)
          )",
};

/// Prepared statements over the fates tables of one keyspace.
pub struct ScyllaContactFates {
    session: Arc<Session>,
    get: PreparedStatement,
    set_survivor: PreparedStatement,
    set_erased: PreparedStatement,
    index: PreparedStatement,
    pointing_at: PreparedStatement,
}

async fn prepare(session: &Session, cql: &str) -> Result<PreparedStatement, StoreError> {
    let mut statement = session.prepare(cql).await?;
    // Every statement here reads or upserts: replaying one changes nothing.
    statement.set_is_idempotent(true);
    Ok(statement)
}

impl ScyllaContactFates {
    /// Prepares the statements (after the migration ran).
    pub async fn prepare(session: Arc<Session>) -> Result<Self, StoreError> {
        Ok(ScyllaContactFates {
            get: prepare(
                &session,
                "SELECT survivor_id, erased FROM contact_fates WHERE tenant_id = ? AND contact_id = ?",
            )
            .await?,
            set_survivor: prepare(
                &session,
                "UPDATE contact_fates SET survivor_id = ? WHERE tenant_id = ? AND contact_id = ?",
            )
            .await?,
            set_erased: prepare(
                &session,
                "UPDATE contact_fates SET erased = true, survivor_id = null WHERE tenant_id = ? AND contact_id = ?",
            )
            .await?,
            index: prepare(
                &session,
                "INSERT INTO contact_fates_by_survivor (tenant_id, survivor_id, contact_id) VALUES (?, ?, ?)",
            )
            .await?,
            pointing_at: prepare(
                &session,
                "SELECT contact_id FROM contact_fates_by_survivor WHERE tenant_id = ? AND survivor_id = ?",
            )
            .await?,
            session,
        })
    }

    /// Where the records of `contact` belong now.
    pub async fn resolve(&self, tenant: &str, contact: Uuid) -> Result<Fate, StoreError> {
        let rows = self
            .session
            .execute_unpaged(&self.get, (tenant, contact))
            .await?
            .into_rows_result()?;
        Ok(
            match rows
                .maybe_first_row::<(Option<Uuid>, Option<bool>)>()
                .map_err(|e| StoreError::Corrupt(format!("contact_fates: {e}")))?
            {
                Some((_, Some(true))) => Fate::Erased,
                Some((Some(survivor), _)) => Fate::Live(survivor),
                _ => Fate::Live(contact),
            },
        )
    }

    /// Whether a record for `contact` may be stored as it is (ask before
    /// storing, and again after: see the module).
    pub async fn link(&self, tenant: &str, contact: Uuid) -> Result<Linked, StoreError> {
        Ok(Linked::of(contact, self.resolve(tenant, contact).await?))
    }

    /// Records that `merged` were merged into `survivor`; returns the live id
    /// their records go to, or `None` when the survivor was erased.
    pub async fn record_relink(
        &self,
        tenant: &str,
        survivor: Uuid,
        merged: &[Uuid],
    ) -> Result<Option<Uuid>, StoreError> {
        let target = match self.resolve(tenant, survivor).await? {
            Fate::Live(id) => Some(id),
            Fate::Erased => None,
        };
        for id in merged {
            if Some(*id) == target {
                continue;
            }
            match target {
                Some(to) => self.point(tenant, *id, to).await?,
                None => self.erase(tenant, *id).await?,
            }
        }
        Ok(target)
    }

    /// Records that `contact` was erased, with the ids merged into it.
    pub async fn record_erasure(&self, tenant: &str, contact: Uuid) -> Result<(), StoreError> {
        self.erase(tenant, contact).await
    }

    /// `id` (and whatever pointed at it) now points at `to`, unless erased.
    async fn point(&self, tenant: &str, id: Uuid, to: Uuid) -> Result<(), StoreError> {
        if self.resolve(tenant, id).await? == Fate::Erased {
            return Ok(());
        }
        let mut ids = self.pointing(tenant, id).await?;
        ids.push(id);
        for id in ids {
            // Index first: a crash between the two leaves an index row the
            // redelivery completes, never a fate nobody can find.
            self.session
                .execute_unpaged(&self.index, (tenant, to, id))
                .await?;
            self.session
                .execute_unpaged(&self.set_survivor, (to, tenant, id))
                .await?;
        }
        Ok(())
    }

    /// `id` and whatever pointed at it are erased.
    async fn erase(&self, tenant: &str, id: Uuid) -> Result<(), StoreError> {
        let mut ids = self.pointing(tenant, id).await?;
        ids.push(id);
        for id in ids {
            self.session
                .execute_unpaged(&self.set_erased, (tenant, id))
                .await?;
        }
        Ok(())
    }

    async fn pointing(&self, tenant: &str, survivor: Uuid) -> Result<Vec<Uuid>, StoreError> {
        let rows = self
            .session
            .execute_unpaged(&self.pointing_at, (tenant, survivor))
            .await?
            .into_rows_result()?;
        let mut out = Vec::new();
        for row in rows.rows::<(Uuid,)>()? {
            out.push(row?.0);
        }
        Ok(out)
    }
}
