//! The outbox on ScyllaDB.
//!
//! Services write their entity rows and the outbox row in one LOGGED batch,
//! which ScyllaDB applies all-or-nothing (the batch log replays it after a
//! coordinator failure). The table is split into [`SHARDS`] partitions by a
//! hash of the record key so no single partition grows without bound, and
//! each partition is clustered by `seq` (a timeuuid) so the relay reads in
//! write order.

use std::sync::Arc;

use async_trait::async_trait;
use scylla::{
    client::session::Session,
    statement::{
        batch::{Batch, BatchType},
        prepared::PreparedStatement,
    },
    value::CqlTimeuuid,
};

use crate::{
    StoreError,
    outbox::{Outbox, OutboxMessage, PendingMessage, decode_headers, encode_headers},
    scylla::CqlMigration,
};

/// Number of outbox partitions.
pub const SHARDS: i32 = 16;

/// The outbox table; every producing service lists it in its migrations.
pub const OUTBOX_CQL_MIGRATION: CqlMigration = CqlMigration {
    version: "0000_outbox",
    cql: include_str!("../migrations/scylla/0000_outbox.cql"),
};

/// The insert a service appends to its logged batch, with
/// [`ScyllaOutbox::values`] as its bound values.
pub const INSERT_CQL: &str = "INSERT INTO outbox (shard, seq, event_id, topic, key, payload, headers) VALUES (?, now(), ?, ?, ?, ?, ?)";

/// A prepared LOGGED batch that writes an entity (`entity_cql`, one or
/// more statements) and then its outbox row ([`INSERT_CQL`]): ScyllaDB
/// applies a logged batch all-or-nothing. Bind the entity values followed by
/// [`ScyllaOutbox::values`].
pub async fn logged_batch_with_outbox(
    session: &Session,
    entity_cql: &[&str],
) -> Result<Batch, StoreError> {
    let mut batch = Batch::new(BatchType::Logged);
    for cql in entity_cql {
        batch.append_statement(session.prepare(*cql).await?);
    }
    batch.append_statement(session.prepare(INSERT_CQL).await?);
    Ok(batch)
}

/// Reads and clears the outbox of one keyspace.
pub struct ScyllaOutbox {
    session: Arc<Session>,
    select: PreparedStatement,
    delete: PreparedStatement,
    count: PreparedStatement,
}

/// Bound values of [`INSERT_CQL`].
pub type OutboxValues = (i32, String, String, String, Vec<u8>, String);

impl ScyllaOutbox {
    /// Prepares the statements against a session already using the keyspace.
    pub async fn new(session: Arc<Session>) -> Result<Self, StoreError> {
        let select = session
            .prepare("SELECT seq, event_id, topic, key, payload, headers FROM outbox WHERE shard = ? LIMIT ?")
            .await?;
        let mut delete = session
            .prepare("DELETE FROM outbox WHERE shard = ? AND seq = ?")
            .await?;
        delete.set_is_idempotent(true);
        let count = session
            .prepare("SELECT COUNT(*) FROM outbox WHERE shard = ?")
            .await?;
        Ok(ScyllaOutbox {
            session,
            select,
            delete,
            count,
        })
    }

    /// The values to bind to [`INSERT_CQL`] for `message`.
    pub fn values(message: &OutboxMessage) -> OutboxValues {
        (
            shard_of(&message.key),
            message.event_id.clone(),
            message.topic.clone(),
            message.key.clone(),
            message.payload.clone(),
            encode_headers(&message.headers),
        )
    }
}

/// Stable shard of a record key (FNV-1a, so it never changes between builds).
pub fn shard_of(key: &str) -> i32 {
    let mut h: u32 = 0x811c9dc5;
    for b in key.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x01000193);
    }
    (h % SHARDS as u32) as i32
}

#[async_trait]
impl Outbox for ScyllaOutbox {
    async fn pending(&self, limit: usize) -> Result<Vec<PendingMessage>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..SHARDS {
            if out.len() >= limit {
                break;
            }
            let rows = self
                .session
                .execute_unpaged(&self.select, (shard, (limit - out.len()) as i32))
                .await?
                .into_rows_result()?;
            for row in rows.rows::<(CqlTimeuuid, String, String, String, Vec<u8>, String)>()? {
                let (seq, event_id, topic, key, payload, headers) = row?;
                let mut position = shard.to_be_bytes().to_vec();
                position.extend_from_slice(seq.as_bytes());
                out.push(PendingMessage {
                    position,
                    message: OutboxMessage {
                        event_id,
                        topic,
                        key,
                        payload,
                        headers: decode_headers(&headers)?,
                    },
                });
            }
        }
        Ok(out)
    }

    async fn mark_sent(&self, positions: &[Vec<u8>]) -> Result<(), StoreError> {
        for p in positions {
            if p.len() != 20 {
                return Err(StoreError::Corrupt("outbox position".into()));
            }
            let shard = i32::from_be_bytes(p[..4].try_into().expect("4 bytes"));
            let seq = CqlTimeuuid::from_bytes(p[4..].try_into().expect("16 bytes"));
            self.session
                .execute_unpaged(&self.delete, (shard, seq))
                .await?;
        }
        Ok(())
    }

    async fn backlog(&self) -> Result<u64, StoreError> {
        let mut total = 0u64;
        for shard in 0..SHARDS {
            let (n,): (i64,) = self
                .session
                .execute_unpaged(&self.count, (shard,))
                .await?
                .into_rows_result()?
                .single_row()
                .map_err(|e| StoreError::Corrupt(format!("outbox count: {e}")))?;
            total += n as u64;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_in_range() {
        assert_eq!(shard_of("acme/1"), shard_of("acme/1"));
        for k in ["", "a", "acme/0193", "другой/ключ"] {
            assert!((0..SHARDS).contains(&shard_of(k)));
        }
    }
}
