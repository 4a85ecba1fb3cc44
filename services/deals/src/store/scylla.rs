//! Deals in ScyllaDB.

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
    scylla_outbox::{self, INSERT_CQL, OUTBOX_CQL_MIGRATION, ScyllaOutbox},
};
use scylla::{
    client::session::Session,
    response::{PagingState, PagingStateResponse},
    statement::{
        batch::{Batch, BatchType},
        prepared::PreparedStatement,
    },
    value::CqlValue,
};
use uuid::Uuid;

use super::{DealStore, pipeline_doc};
use crate::domain::{
    Deal, Money,
    pipeline::{Pipeline, default_pipeline_id},
};

const MIGRATIONS: &[CqlMigration] = &[
    OUTBOX_CQL_MIGRATION,
    CONTACT_FATES_CQL_MIGRATION,
    CqlMigration {
        version: "0001_deals",
        cql: include_str!("../../migrations/scylla/0001_deals.cql"),
    },
    CqlMigration {
        version: "0002_contact_links",
        cql: include_str!("../../migrations/scylla/0002_contact_links.cql"),
    },
    CqlMigration {
        version: "0003_holding",
        cql: include_str!("../../migrations/scylla/0003_holding.cql"),
    },
    CqlMigration {
        version: "0004_pipelines",
        cql: include_str!("../../migrations/scylla/0004_pipelines.cql"),
    },
    CqlMigration {
        version: "0005_deal_pipeline",
        cql: include_str!("../../migrations/scylla/0005_deal_pipeline.cql"),
    },
];

/// Marker row in `schema_migrations` once deals written before
/// `0002_contact_links` are in `deals_by_contact`.
const BACKFILL_MARKER: &str = "0002_contact_links_backfill";

const COLUMNS: &str = "tenant_id, id, title, contact_id, currency_code, amount_units, amount_nanos, stage, version, create_time, created_by, owner, team, shared_with, pipeline_id";

type Row = (
    String,
    Uuid,
    String,
    Option<Uuid>,
    Option<String>,
    Option<i64>,
    Option<i32>,
    String,
    i64,
    DateTime<Utc>,
    String,
    Option<String>,
    Option<String>,
    Option<Vec<String>>,
    Option<Uuid>,
);

/// The ScyllaDB backend.
pub struct ScyllaDealStore {
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
    pipeline: PreparedStatement,
    pipelines: PreparedStatement,
    put_pipeline: PreparedStatement,
    outbox_insert: PreparedStatement,
    outbox: Arc<ScyllaOutbox>,
    fates: ScyllaContactFates,
}

const INSERT_LINK: &str =
    "INSERT INTO deals_by_contact (tenant_id, contact_id, deal_id) VALUES (?, ?, ?)";

impl ScyllaDealStore {
    /// Connects, migrates and prepares statements.
    pub async fn connect(settings: &ScyllaSettings) -> Result<Self, StoreError> {
        let session = connect(settings, MIGRATIONS).await?;
        let insert_deal = format!(
            "INSERT INTO deals ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        // The entity rows and the outbox row go in one LOGGED batch.
        // A deal with a contact also gets its deals_by_contact row.
        let create = scylla_outbox::logged_batch_with_outbox(&session, &[&insert_deal], 2).await?;
        let create_linked =
            scylla_outbox::logged_batch_with_outbox(&session, &[&insert_deal, INSERT_LINK], 2)
                .await?;
        let get = prepare_idempotent(
            &session,
            &format!("SELECT {COLUMNS} FROM deals WHERE tenant_id = ? AND id = ?"),
        )
        .await?;
        let by_contact = prepare_idempotent(
            &session,
            "SELECT deal_id FROM deals_by_contact WHERE tenant_id = ? AND contact_id = ?",
        )
        .await?;
        let link = prepare_idempotent(&session, INSERT_LINK).await?;
        let unlink = prepare_idempotent(
            &session,
            "DELETE FROM deals_by_contact WHERE tenant_id = ? AND contact_id = ? AND deal_id = ?",
        )
        .await?;
        // Sets an absolute version read just before, so a replay writes the
        // same values again.
        let set_contact = prepare_idempotent(
            &session,
            "UPDATE deals SET contact_id = ?, version = ? WHERE tenant_id = ? AND id = ?",
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
        let pipeline = prepare_idempotent(
            &session,
            "SELECT id, version, doc FROM pipelines WHERE tenant_id = ? AND id = ?",
        )
        .await?;
        let pipelines = prepare_idempotent(
            &session,
            "SELECT id, version, doc FROM pipelines WHERE tenant_id = ?",
        )
        .await?;
        let put_pipeline = prepare_idempotent(
            &session,
            "INSERT INTO pipelines (tenant_id, id, version, doc) VALUES (?, ?, ?, ?)",
        )
        .await?;
        let outbox_insert = session.prepare(INSERT_CQL).await?;
        let outbox = Arc::new(ScyllaOutbox::new(session.clone()).await?);
        let fates = ScyllaContactFates::prepare(session.clone()).await?;
        let store = ScyllaDealStore {
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
            pipeline,
            pipelines,
            put_pipeline,
            outbox_insert,
            outbox,
            fates,
        };
        store.backfill_contact_links().await?;
        Ok(store)
    }

    /// Indexes deals written before `deals_by_contact` existed, once: a
    /// full scan of `deals` (token-range paging, no filtering), then a
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
            .prepare("SELECT tenant_id, id, contact_id FROM deals")
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

    /// Ids in `deals_by_contact` for the contact.
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

    /// Moves every deal of `from` to `to` (`None`: unlinks it). Each deal
    /// moves in its own logged batch (row and index together), so a crash
    /// leaves every deal either moved or not; a redelivery finds the rest in
    /// the index and moves them.
    async fn move_deals(
        &self,
        tenant: &TenantId,
        from: Uuid,
        to: Option<Uuid>,
    ) -> Result<(), StoreError> {
        for id in self.linked_ids(tenant, from).await? {
            let Some(deal) = self.get(tenant, id).await? else {
                // An index row without its deal: drop it.
                self.session
                    .execute_unpaged(&self.unlink, (tenant.as_str(), from, id))
                    .await?;
                continue;
            };
            let mut batch = Batch::new(BatchType::Logged);
            batch.append_statement(self.unlink.clone());
            if deal.contact_id != Some(from) {
                // A stale index row: the deal points elsewhere already.
                self.session
                    .batch(&batch, ((tenant.as_str(), from, id),))
                    .await?;
                continue;
            }
            batch.append_statement(self.set_contact.clone());
            let version = deal.version as i64 + 1;
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
impl DealStore for ScyllaDealStore {
    async fn create(
        &self,
        d: &Deal,
        event: &OutboxMessage,
        audit: &OutboxMessage,
    ) -> Result<Linked, StoreError> {
        let tenant = d.tenant.as_str();
        if let Some(contact) = d.contact_id {
            let linked = self.fates.link(tenant, contact).await?;
            if linked != Linked::Stored {
                return Ok(linked);
            }
        }
        let row: Row = (
            d.tenant.to_string(),
            d.id,
            d.title.clone(),
            d.contact_id,
            d.amount.as_ref().map(|m| m.currency.clone()),
            d.amount.as_ref().map(|m| m.units),
            d.amount.as_ref().map(|m| m.nanos),
            d.stage.clone(),
            d.version as i64,
            d.create_time,
            d.created_by.to_string(),
            Some(d.owner.clone()),
            Some(d.team.clone()),
            Some(d.shared_with.clone()),
            Some(d.pipeline_id),
        );
        match d.contact_id {
            Some(contact) => {
                let link = (tenant, contact, d.id);
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
        // between did not see this deal, so it is moved or unlinked here.
        if let Some(contact) = d.contact_id {
            match self.fates.link(tenant, contact).await? {
                Linked::Stored => {}
                Linked::Merged { survivor } => {
                    self.move_deals(&d.tenant, contact, Some(survivor)).await?
                }
                Linked::Erased => self.move_deals(&d.tenant, contact, None).await?,
            }
        }
        Ok(Linked::Stored)
    }

    async fn get(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Deal>, StoreError> {
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
        let (
            tenant,
            id,
            title,
            contact_id,
            currency,
            units,
            nanos,
            stage,
            version,
            ct,
            cb,
            owner,
            team,
            shared_with,
            pipeline_id,
        ) = row;
        let corrupt = |what: &str| StoreError::Corrupt(format!("deals.{what}"));
        let tenant = TenantId::parse(&tenant).map_err(|_| corrupt("tenant_id"))?;
        Ok(Some(Deal {
            pipeline_id: pipeline_id.unwrap_or_else(|| default_pipeline_id(&tenant)),
            tenant,
            id,
            title,
            contact_id,
            amount: currency.map(|currency| Money {
                currency,
                units: units.unwrap_or(0),
                nanos: nanos.unwrap_or(0),
            }),
            stage,
            version: version as u64,
            create_time: ct,
            // Deals written before owners belong to their creator.
            owner: owner
                .filter(|o| !o.is_empty())
                .unwrap_or_else(|| cb.clone()),
            created_by: UserId::parse(&cb).map_err(|_| corrupt("created_by"))?,
            team: team.unwrap_or_default(),
            shared_with: shared_with.unwrap_or_default(),
        }))
    }

    async fn list_by_contact(
        &self,
        tenant: &TenantId,
        contact_id: Uuid,
    ) -> Result<Vec<Deal>, StoreError> {
        let mut deals = Vec::new();
        // Ids are UUIDv7, so the clustering order is creation order.
        for id in self.linked_ids(tenant, contact_id).await? {
            match self.get(tenant, id).await? {
                Some(d) if d.contact_id == Some(contact_id) => deals.push(d),
                _ => {}
            }
        }
        Ok(deals)
    }

    /// Reads the stored version, then writes the pipeline and its messages
    /// in one logged batch. Two admins saving the same pipeline in the same
    /// instant can both pass the check (last write wins): a lightweight
    /// transaction cannot share a batch with the outbox rows of another
    /// partition, and a change without its audit entry is worse.
    async fn put_pipeline(
        &self,
        pipeline: &Pipeline,
        expected: u64,
        messages: &[OutboxMessage],
    ) -> Result<bool, StoreError> {
        let stored = self
            .get_pipeline(&pipeline.tenant, pipeline.id)
            .await?
            .map(|p| p.version)
            .unwrap_or(0);
        if stored != expected {
            return Ok(false);
        }
        let mut batch = Batch::new(BatchType::Logged);
        batch.append_statement(self.put_pipeline.clone());
        let mut rows = vec![vec![
            CqlValue::Text(pipeline.tenant.to_string()),
            CqlValue::Uuid(pipeline.id),
            CqlValue::BigInt(pipeline.version as i64),
            CqlValue::Text(pipeline_doc::encode(pipeline)),
        ]];
        for m in messages {
            batch.append_statement(self.outbox_insert.clone());
            rows.push(ScyllaOutbox::cql_values(m));
        }
        self.session.batch(&batch, rows).await?;
        Ok(true)
    }

    async fn get_pipeline(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Option<Pipeline>, StoreError> {
        let rows = self
            .session
            .execute_unpaged(&self.pipeline, (tenant.as_str(), id))
            .await?
            .into_rows_result()?;
        let mut out = pipeline_rows(tenant, rows)?;
        Ok(out.pop())
    }

    async fn list_pipelines(&self, tenant: &TenantId) -> Result<Vec<Pipeline>, StoreError> {
        let rows = self
            .session
            .execute_unpaged(&self.pipelines, (tenant.as_str(),))
            .await?
            .into_rows_result()?;
        pipeline_rows(tenant, rows)
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.outbox.clone()
    }
}

fn pipeline_rows(
    tenant: &TenantId,
    rows: scylla::response::query_result::QueryRowsResult,
) -> Result<Vec<Pipeline>, StoreError> {
    rows.rows::<(Uuid, i64, String)>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .map(|r| {
            let (id, version, doc) = r.map_err(|e| StoreError::Corrupt(e.to_string()))?;
            pipeline_doc::decode(tenant.clone(), id, version as u64, &doc)
        })
        .collect()
}

#[async_trait]
impl ContactChangeStore for ScyllaDealStore {
    async fn apply_contact_change(
        &self,
        tenant: &TenantId,
        event_id: &str,
        change: &ContactChange,
    ) -> Result<bool, StoreError> {
        // No transaction spans many partitions here: each deal moves
        // atomically (see `move_deals`) and the event is recorded only after
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
                    self.move_deals(tenant, *from, to).await?;
                }
            }
            ContactChange::Erase { contact } => {
                self.fates.record_erasure(tenant.as_str(), *contact).await?;
                self.move_deals(tenant, *contact, None).await?
            }
        }
        self.session
            .execute_unpaged(&self.mark_applied, (tenant.as_str(), event_id))
            .await?;
        Ok(true)
    }
}
