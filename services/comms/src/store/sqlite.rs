//! Interactions in SQLite.

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::{
    contact_changes::{ContactChange, ContactChangeStore, apply_once_in_sqlite},
    identity::{TenantId, UserId},
};
use rapport_store::{
    Fate, Linked, Outbox, OutboxMessage, PageToken, StoreError,
    sqlite::{
        Migration, OUTBOX_MIGRATION, SqliteDb,
        contact_fates::{CONTACT_FATES_MIGRATION, record_erasure, record_relink, resolve_contact},
        insert_outbox, query_all,
    },
};
use uuid::Uuid;

use super::{InteractionStore, TimelinePage};
use crate::{
    domain::{Channel, Direction, Interaction, InteractionId, PageSize},
    events,
};

const MIGRATIONS: &[Migration] = &[
    OUTBOX_MIGRATION,
    CONTACT_FATES_MIGRATION,
    Migration {
        version: "0001_interactions",
        sql: include_str!("../../migrations/sqlite/0001_interactions.sql"),
    },
    Migration {
        version: "0002_applied_events",
        sql: include_str!("../../migrations/sqlite/0002_applied_events.sql"),
    },
];

const COLUMNS: &str =
    "tenant_id, contact_id, occurred_at, id, channel, direction, summary, create_time, created_by";

/// The SQLite backend.
#[derive(Debug)]
pub struct SqliteInteractionStore {
    db: Arc<SqliteDb>,
}

impl SqliteInteractionStore {
    /// Opens the database file, applying migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteInteractionStore {
            db: Arc::new(SqliteDb::open(path, MIGRATIONS).await?),
        })
    }
}

/// A keyset position: the last row of the previous page.
fn encode_position(occurred_at: i64, id: &InteractionId) -> PageToken {
    let mut bytes = occurred_at.to_be_bytes().to_vec();
    bytes.extend_from_slice(id.0.as_bytes());
    PageToken::from_bytes(bytes)
}

fn decode_position(token: &PageToken) -> Result<(i64, String), StoreError> {
    let b = token.as_bytes();
    if b.len() != 24 {
        return Err(StoreError::InvalidPageToken);
    }
    let at = i64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
    let id = Uuid::from_slice(&b[8..]).map_err(|_| StoreError::InvalidPageToken)?;
    Ok((at, id.to_string()))
}

#[async_trait]
impl InteractionStore for SqliteInteractionStore {
    async fn create(
        &self,
        i: &Interaction,
        event: &OutboxMessage,
        audit: &OutboxMessage,
    ) -> Result<Linked, StoreError> {
        self.db
            .insert_linked(
                Some((i.tenant.as_str().to_owned(), i.contact_id)),
            format!(
                "INSERT INTO interactions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            libsql::params![
                i.tenant.as_str(),
                i.contact_id.to_string(),
                i.occurred_at.timestamp_micros(),
                i.id.to_string(),
                i.channel.as_str(),
                i.direction.as_str(),
                i.summary.as_str(),
                i.create_time.to_rfc3339(),
                i.created_by.as_str(),
            ],
                vec![event.clone(), audit.clone()],
            )
            .await
    }

    async fn timeline(
        &self,
        tenant: &TenantId,
        contact_id: Uuid,
        size: PageSize,
        token: Option<PageToken>,
    ) -> Result<TimelinePage, StoreError> {
        let (after_at, after_id) = match &token {
            Some(t) => decode_position(t)?,
            // Past the newest possible row.
            None => (i64::MAX, String::new()),
        };
        let limit = size.get() as i64 + 1;
        let params = libsql::params![
            tenant.as_str(),
            contact_id.to_string(),
            after_at,
            after_id,
            token.is_none(),
            limit,
        ];
        let mut interactions = self
            .db
            .read(move |conn| async move {
                let sql = format!(
                    "SELECT {COLUMNS} FROM interactions
                     WHERE tenant_id = ?1 AND contact_id = ?2
                       AND (occurred_at < ?3 OR (occurred_at = ?3 AND id < ?4) OR ?5)
                     ORDER BY occurred_at DESC, id DESC LIMIT ?6"
                );
                query_all(&conn, &sql, params, decode).await
            })
            .await?;
        let next = if interactions.len() > size.get() as usize {
            interactions.truncate(size.get() as usize);
            interactions
                .last()
                .map(|last| encode_position(last.occurred_at.timestamp_micros(), &last.id))
        } else {
            None
        };
        Ok(TimelinePage { interactions, next })
    }

    async fn contact_fate(&self, tenant: &TenantId, contact: Uuid) -> Result<Fate, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.db
            .read(move |conn| async move { resolve_contact(&conn, &tenant, contact).await })
            .await
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.db.clone()
    }
}

#[async_trait]
impl ContactChangeStore for SqliteInteractionStore {
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
            |tx, tenant, change| async move { apply_change(&tx, &tenant, &change).await },
        )
        .await
    }
}

/// What a merge or an erasure does to interactions. The fates table turns
/// merges applied out of order into the same end state: a late merge into
/// a survivor merged on since moves the interactions to where it went, and
/// one into an erased survivor erases them.
async fn apply_change(
    tx: &libsql::Connection,
    tenant: &TenantId,
    change: &ContactChange,
) -> Result<(), StoreError> {
    let t = tenant.as_str();
    match change {
        ContactChange::Relink { survivor, merged } => {
            match record_relink(tx, t, *survivor, merged).await? {
                // The key orders the timeline by (occurred_at, id), so moved
                // rows interleave with the survivor's by time.
                Some(target) => {
                    for id in merged {
                        tx.execute(
                            "UPDATE interactions SET contact_id = ?3
                             WHERE tenant_id = ?1 AND contact_id = ?2",
                            [t.to_owned(), id.to_string(), target.to_string()],
                        )
                        .await?;
                    }
                }
                None => {
                    for id in merged {
                        erase_interactions(tx, tenant, &id.to_string()).await?;
                    }
                }
            }
        }
        ContactChange::Erase { contact } => {
            record_erasure(tx, t, *contact).await?;
            erase_interactions(tx, tenant, &contact.to_string()).await?;
        }
    }
    Ok(())
}

/// Deletes the interactions of `contact`, with a tombstone and an `erased`
/// audit entry for each.
async fn erase_interactions(
    tx: &libsql::Connection,
    tenant: &TenantId,
    contact: &str,
) -> Result<(), StoreError> {
    let params = [tenant.as_str().to_owned(), contact.to_owned()];
    let mut ids = Vec::new();
    let mut rows = tx
        .query(
            "SELECT id FROM interactions WHERE tenant_id = ?1 AND contact_id = ?2",
            params.clone(),
        )
        .await?;
    while let Some(row) = rows.next().await? {
        let id = Uuid::parse_str(&row.get::<String>(0)?)
            .map_err(|_| StoreError::Corrupt("interactions.id".into()))?;
        ids.push(InteractionId(id));
    }
    drop(rows);
    tx.execute(
        "DELETE FROM interactions WHERE tenant_id = ?1 AND contact_id = ?2",
        params,
    )
    .await?;
    for id in ids {
        insert_outbox(tx, &events::interaction_erased(tenant, id)).await?;
        insert_outbox(tx, &events::interaction_erased_audit(tenant, id)).await?;
    }
    Ok(())
}

fn decode(row: &libsql::Row) -> Result<Interaction, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("interactions.{what}"));
    Ok(Interaction {
        tenant: TenantId::parse(&row.get::<String>(0)?).map_err(|_| corrupt("tenant_id"))?,
        contact_id: Uuid::parse_str(&row.get::<String>(1)?).map_err(|_| corrupt("contact_id"))?,
        occurred_at: DateTime::from_timestamp_micros(row.get::<i64>(2)?)
            .ok_or_else(|| corrupt("occurred_at"))?,
        id: InteractionId(Uuid::parse_str(&row.get::<String>(3)?).map_err(|_| corrupt("id"))?),
        channel: Channel::parse(&row.get::<String>(4)?).ok_or_else(|| corrupt("channel"))?,
        direction: Direction::parse(&row.get::<String>(5)?).ok_or_else(|| corrupt("direction"))?,
        summary: row.get(6)?,
        create_time: DateTime::parse_from_rfc3339(&row.get::<String>(7)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| corrupt("create_time"))?,
        created_by: UserId::parse(&row.get::<String>(8)?).map_err(|_| corrupt("created_by"))?,
    })
}
