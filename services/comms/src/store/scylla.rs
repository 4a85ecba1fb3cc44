//! Interactions in ScyllaDB: month-bucketed time series per contact.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Utc};
use rapport_platform::{
    contact_changes::{ContactChange, ContactChangeStore},
    identity::{TenantId, UserId},
};
use rapport_store::{
    Fate, Linked, Outbox, OutboxMessage, PageToken, StoreError,
    scylla::{CqlMigration, ScyllaSettings, connect, prepare_idempotent},
    scylla_contact_fates::{CONTACT_FATES_CQL_MIGRATION, ScyllaContactFates},
    scylla_outbox::{self, INSERT_CQL, OUTBOX_CQL_MIGRATION, ScyllaOutbox},
};
use scylla::{
    client::session::Session,
    response::{PagingState, PagingStateResponse},
    serialize::row::SerializeRow,
    statement::{
        batch::{Batch, BatchType},
        prepared::PreparedStatement,
    },
};
use uuid::Uuid;

use super::{InteractionStore, TimelinePage};
use crate::{
    domain::{Channel, Direction, Interaction, InteractionId, PageSize},
    events,
};

const MIGRATIONS: &[CqlMigration] = &[
    OUTBOX_CQL_MIGRATION,
    CONTACT_FATES_CQL_MIGRATION,
    CqlMigration {
        version: "0001_interactions",
        cql: include_str!("../../migrations/scylla/0001_interactions.cql"),
    },
    CqlMigration {
        version: "0002_applied_events",
        cql: include_str!("../../migrations/scylla/0002_applied_events.cql"),
    },
];

/// Rows moved or deleted per logged batch: a summary is at most 4,000
/// characters, so a batch stays well under ScyllaDB's batch size limit.
const ROWS_PER_BATCH: usize = 32;

/// Bound values of one statement in a batch of mixed statements.
type Values = Box<dyn SerializeRow + Send + Sync>;

const COLUMNS: &str = "tenant_id, contact_id, bucket, occurred_at, id, channel, direction, summary, create_time, created_by";

type Row = (
    String,
    Uuid,
    i32,
    DateTime<Utc>,
    Uuid,
    String,
    String,
    String,
    DateTime<Utc>,
    String,
);

/// The ScyllaDB backend.
pub struct ScyllaInteractionStore {
    session: Arc<Session>,
    create: Batch,
    buckets: PreparedStatement,
    page: PreparedStatement,
    insert_interaction: PreparedStatement,
    insert_bucket: PreparedStatement,
    delete_interaction: PreparedStatement,
    delete_bucket: PreparedStatement,
    insert_outbox: PreparedStatement,
    is_applied: PreparedStatement,
    mark_applied: PreparedStatement,
    outbox: Arc<ScyllaOutbox>,
    fates: ScyllaContactFates,
}

/// The month bucket (yyyymm) of a time.
fn bucket_of(t: DateTime<Utc>) -> i32 {
    t.year() * 100 + t.month() as i32
}

impl ScyllaInteractionStore {
    /// Connects, migrates and prepares statements.
    pub async fn connect(settings: &ScyllaSettings) -> Result<Self, StoreError> {
        let session = connect(settings, MIGRATIONS).await?;
        let insert_interaction = format!(
            "INSERT INTO interactions_by_contact ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        let insert_bucket =
            "INSERT INTO interaction_buckets (tenant_id, contact_id, bucket) VALUES (?, ?, ?)";
        // The entity rows, the event and the audit entry go in one LOGGED batch.
        let create = scylla_outbox::logged_batch_with_outbox(
            &session,
            &[&insert_interaction, insert_bucket],
            2,
        )
        .await?;
        let mut buckets = session
            .prepare(
                "SELECT bucket FROM interaction_buckets WHERE tenant_id = ? AND contact_id = ?",
            )
            .await?;
        buckets.set_is_idempotent(true);
        let mut page = session
            .prepare(format!(
                "SELECT {COLUMNS} FROM interactions_by_contact WHERE tenant_id = ? AND contact_id = ? AND bucket = ?"
            ))
            .await?;
        page.set_is_idempotent(true);
        let outbox = Arc::new(ScyllaOutbox::new(session.clone()).await?);
        Ok(ScyllaInteractionStore {
            fates: ScyllaContactFates::prepare(session.clone()).await?,
            insert_interaction: prepare_idempotent(&session, &insert_interaction).await?,
            insert_bucket: prepare_idempotent(&session, insert_bucket).await?,
            delete_interaction: prepare_idempotent(
                &session,
                "DELETE FROM interactions_by_contact WHERE tenant_id = ? AND contact_id = ? AND bucket = ? AND occurred_at = ? AND id = ?",
            )
            .await?,
            delete_bucket: prepare_idempotent(
                &session,
                "DELETE FROM interaction_buckets WHERE tenant_id = ? AND contact_id = ? AND bucket = ?",
            )
            .await?,
            insert_outbox: session.prepare(INSERT_CQL).await?,
            is_applied: prepare_idempotent(
                &session,
                "SELECT event_id FROM applied_events WHERE tenant_id = ? AND event_id = ?",
            )
            .await?,
            mark_applied: prepare_idempotent(
                &session,
                "INSERT INTO applied_events (tenant_id, event_id) VALUES (?, ?)",
            )
            .await?,
            session,
            create,
            buckets,
            page,
            outbox,
        })
    }

    /// The contact's month buckets, newest first.
    async fn buckets_of(&self, tenant: &TenantId, contact: Uuid) -> Result<Vec<i32>, StoreError> {
        Ok(self
            .session
            .execute_unpaged(&self.buckets, (tenant.as_str(), contact))
            .await?
            .into_rows_result()?
            .rows::<(i32,)>()?
            .map(|r| r.map(|(b,)| b))
            .collect::<Result<_, _>>()?)
    }

    /// Every row of one (tenant, contact, month) partition.
    async fn partition(
        &self,
        tenant: &TenantId,
        contact: Uuid,
        bucket: i32,
    ) -> Result<Vec<Row>, StoreError> {
        let mut rows = Vec::new();
        let mut state = PagingState::start();
        loop {
            let (result, paging) = self
                .session
                .execute_single_page(&self.page, (tenant.as_str(), contact, bucket), state)
                .await?;
            for row in result.into_rows_result()?.rows::<Row>()? {
                rows.push(row?);
            }
            match paging {
                PagingStateResponse::HasMorePages { state: next } => state = next,
                PagingStateResponse::NoMorePages => return Ok(rows),
            }
        }
    }

    /// Moves every interaction of `from` to `to`'s timeline, or (`to` =
    /// `None`) deletes it with a tombstone in the outbox. Works month by
    /// month in logged batches: each row is removed in the same batch that
    /// copies it (or tombstones it), so no row is ever lost or shown twice;
    /// a month's bucket row goes once the month is empty. A crash half-way
    /// leaves the rest where a redelivery finds it.
    async fn drain(
        &self,
        tenant: &TenantId,
        from: Uuid,
        to: Option<Uuid>,
    ) -> Result<(), StoreError> {
        for bucket in self.buckets_of(tenant, from).await? {
            let rows = self.partition(tenant, from, bucket).await?;
            for chunk in rows.chunks(ROWS_PER_BATCH) {
                let mut batch = Batch::new(BatchType::Logged);
                let mut values: Vec<Values> = Vec::new();
                if let Some(to) = to {
                    batch.append_statement(self.insert_bucket.clone());
                    values.push(Box::new((tenant.to_string(), to, bucket)));
                }
                for row in chunk {
                    let (_, _, _, occurred_at, id, ..) = row.clone();
                    match to {
                        Some(to) => {
                            let mut moved = row.clone();
                            moved.1 = to;
                            batch.append_statement(self.insert_interaction.clone());
                            values.push(Box::new(moved));
                        }
                        None => {
                            let tombstone = events::interaction_erased(tenant, InteractionId(id));
                            batch.append_statement(self.insert_outbox.clone());
                            values.push(Box::new(ScyllaOutbox::values(&tombstone)));
                            let audit = events::interaction_erased_audit(tenant, InteractionId(id));
                            batch.append_statement(self.insert_outbox.clone());
                            values.push(Box::new(ScyllaOutbox::values(&audit)));
                        }
                    }
                    batch.append_statement(self.delete_interaction.clone());
                    values.push(Box::new((
                        tenant.to_string(),
                        from,
                        bucket,
                        occurred_at,
                        id,
                    )));
                }
                self.session.batch(&batch, values).await?;
            }
            self.session
                .execute_unpaged(&self.delete_bucket, (tenant.as_str(), from, bucket))
                .await?;
        }
        Ok(())
    }
}

/// Token bytes: the bucket, then the driver's paging state within it.
fn encode_token(bucket: i32, state: Option<&[u8]>) -> PageToken {
    let mut bytes = bucket.to_be_bytes().to_vec();
    bytes.extend_from_slice(state.unwrap_or_default());
    PageToken::from_bytes(bytes)
}

fn decode_token(token: &PageToken) -> Result<(i32, PagingState), StoreError> {
    let b = token.as_bytes();
    if b.len() < 4 {
        return Err(StoreError::InvalidPageToken);
    }
    let bucket = i32::from_be_bytes(b[..4].try_into().expect("4 bytes"));
    let state = if b.len() == 4 {
        PagingState::start()
    } else {
        PagingState::new_from_raw_bytes(&b[4..])
    };
    Ok((bucket, state))
}

#[async_trait]
impl InteractionStore for ScyllaInteractionStore {
    async fn create(
        &self,
        i: &Interaction,
        event: &OutboxMessage,
        audit: &OutboxMessage,
    ) -> Result<Linked, StoreError> {
        let tenant = i.tenant.as_str();
        let linked = self.fates.link(tenant, i.contact_id).await?;
        if linked != Linked::Stored {
            return Ok(linked);
        }
        let bucket = bucket_of(i.occurred_at);
        let row: Row = (
            i.tenant.to_string(),
            i.contact_id,
            bucket,
            i.occurred_at,
            i.id.0,
            i.channel.as_str().to_owned(),
            i.direction.as_str().to_owned(),
            i.summary.clone(),
            i.create_time,
            i.created_by.to_string(),
        );
        self.session
            .batch(
                &self.create,
                (
                    row,
                    (i.tenant.as_str(), i.contact_id, bucket),
                    ScyllaOutbox::values(event),
                    ScyllaOutbox::values(audit),
                ),
            )
            .await?;
        // Checked again after the write: a merge or an erasure applied in
        // between did not see this interaction, so it is moved or erased here.
        match self.fates.link(tenant, i.contact_id).await? {
            Linked::Stored => {}
            Linked::Merged { survivor } => {
                self.drain(&i.tenant, i.contact_id, Some(survivor)).await?
            }
            Linked::Erased => self.drain(&i.tenant, i.contact_id, None).await?,
        }
        Ok(Linked::Stored)
    }

    async fn timeline(
        &self,
        tenant: &TenantId,
        contact_id: Uuid,
        size: PageSize,
        token: Option<PageToken>,
    ) -> Result<TimelinePage, StoreError> {
        let buckets: Vec<i32> = self
            .session
            .execute_unpaged(&self.buckets, (tenant.as_str(), contact_id))
            .await?
            .into_rows_result()?
            .rows::<(i32,)>()?
            .map(|r| r.map(|(b,)| b))
            .collect::<Result<_, _>>()?;
        let (start_bucket, mut state) = match &token {
            Some(t) => decode_token(t)?,
            None => match buckets.first() {
                Some(b) => (*b, PagingState::start()),
                None => return Ok(TimelinePage::default()),
            },
        };
        let Some(mut index) = buckets.iter().position(|b| *b == start_bucket) else {
            return Err(StoreError::InvalidPageToken);
        };
        let mut interactions = Vec::new();
        loop {
            let bucket = buckets[index];
            let mut statement = self.page.clone();
            statement.set_page_size((size.get() as usize - interactions.len()) as i32);
            let (result, paging) = self
                .session
                .execute_single_page(&statement, (tenant.as_str(), contact_id, bucket), state)
                .await?;
            for row in result.into_rows_result()?.rows::<Row>()? {
                interactions.push(decode(row?)?);
            }
            match paging {
                PagingStateResponse::HasMorePages { state } => {
                    let token = encode_token(bucket, state.as_bytes_slice().map(|b| &b[..]));
                    return Ok(TimelinePage {
                        interactions,
                        next: Some(token),
                    });
                }
                PagingStateResponse::NoMorePages => {
                    index += 1;
                    state = PagingState::start();
                    let Some(next_bucket) = buckets.get(index) else {
                        return Ok(TimelinePage {
                            interactions,
                            next: None,
                        });
                    };
                    if interactions.len() >= size.get() as usize {
                        return Ok(TimelinePage {
                            interactions,
                            next: Some(encode_token(*next_bucket, None)),
                        });
                    }
                }
            }
        }
    }

    async fn contact_fate(&self, tenant: &TenantId, contact: Uuid) -> Result<Fate, StoreError> {
        self.fates.resolve(tenant.as_str(), contact).await
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.outbox.clone()
    }
}

#[async_trait]
impl ContactChangeStore for ScyllaInteractionStore {
    async fn apply_contact_change(
        &self,
        tenant: &TenantId,
        event_id: &str,
        change: &ContactChange,
    ) -> Result<bool, StoreError> {
        // No transaction spans a contact's months here: rows move in logged
        // batches (see `drain`) and the event is recorded after the last one.
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
        // last survivor is (or erased, when it was erased).
        match change {
            ContactChange::Relink { survivor, merged } => {
                let to = self
                    .fates
                    .record_relink(tenant.as_str(), *survivor, merged)
                    .await?;
                for from in merged {
                    self.drain(tenant, *from, to).await?;
                }
            }
            ContactChange::Erase { contact } => {
                self.fates.record_erasure(tenant.as_str(), *contact).await?;
                self.drain(tenant, *contact, None).await?
            }
        }
        self.session
            .execute_unpaged(&self.mark_applied, (tenant.as_str(), event_id))
            .await?;
        Ok(true)
    }
}

fn decode(row: Row) -> Result<Interaction, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("interactions_by_contact.{what}"));
    let (tenant, contact_id, _bucket, occurred_at, id, channel, direction, summary, ct, cb) = row;
    Ok(Interaction {
        tenant: TenantId::parse(&tenant).map_err(|_| corrupt("tenant_id"))?,
        id: InteractionId(id),
        contact_id,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel"))?,
        direction: Direction::parse(&direction).ok_or_else(|| corrupt("direction"))?,
        occurred_at,
        summary,
        create_time: ct,
        created_by: UserId::parse(&cb).map_err(|_| corrupt("created_by"))?,
    })
}
