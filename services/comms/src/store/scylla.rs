//! Interactions in ScyllaDB: month-bucketed time series per contact.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Utc};
use rapport_platform::identity::{TenantId, UserId};
use rapport_store::{
    Outbox, OutboxMessage, PageToken, StoreError,
    scylla::{CqlMigration, ScyllaSettings, connect},
    scylla_outbox::{self, OUTBOX_CQL_MIGRATION, ScyllaOutbox},
};
use scylla::{
    client::session::Session,
    response::{PagingState, PagingStateResponse},
    statement::{batch::Batch, prepared::PreparedStatement},
};
use uuid::Uuid;

use super::{InteractionStore, TimelinePage};
use crate::domain::{Channel, Direction, Interaction, InteractionId, PageSize};

const MIGRATIONS: &[CqlMigration] = &[
    OUTBOX_CQL_MIGRATION,
    CqlMigration {
        version: "0001_interactions",
        cql: include_str!("../../migrations/scylla/0001_interactions.cql"),
    },
];

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
    outbox: Arc<ScyllaOutbox>,
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
        // The entity rows and the outbox row go in one LOGGED batch.
        let create = scylla_outbox::logged_batch_with_outbox(
            &session,
            &[&insert_interaction, insert_bucket],
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
            session,
            create,
            buckets,
            page,
            outbox,
        })
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
    async fn create(&self, i: &Interaction, event: &OutboxMessage) -> Result<(), StoreError> {
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
                ),
            )
            .await?;
        Ok(())
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

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.outbox.clone()
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
