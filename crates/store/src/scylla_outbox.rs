//! The outbox on ScyllaDB.
//!
//! Services write their entity rows and the outbox row in one LOGGED batch,
//! which ScyllaDB applies all-or-nothing (the batch log replays it after a
//! coordinator failure). The table is split into [`SHARDS`] partitions by a
//! hash of the record key so no single partition grows without bound, and
//! each partition is clustered by key, then aggregate version, so the relay
//! reads one aggregate's events in the aggregate's order. (Clustering by
//! `now()` ordered them by whichever coordinator's clock wrote them: a newer
//! update could leave before an older one.) A tombstone sorts after every
//! event of its key.

use std::sync::Arc;

use async_trait::async_trait;
use scylla::{
    client::session::Session,
    statement::{
        batch::{Batch, BatchType},
        prepared::PreparedStatement,
    },
};

use crate::{
    StoreError,
    outbox::{Outbox, OutboxMessage, PendingMessage, decode_headers, encode_headers},
    scylla::CqlMigration,
};

/// Number of outbox partitions.
pub const SHARDS: i32 = 16;

/// The outbox table; every producing service lists it in its migrations.
/// It replaced a first `outbox` table clustered by `now()` before
/// distributed mode ever ran, so there is nothing to drain from that one.
pub const OUTBOX_CQL_MIGRATION: CqlMigration = CqlMigration {
    version: "0000_outbox_by_key",
    cql: include_str!("../migrations/scylla/0000_outbox_by_key.cql"),
};

/// The insert a service appends to its logged batch, with
/// [`ScyllaOutbox::values`] as its bound values.
pub const INSERT_CQL: &str = "INSERT INTO outbox_by_key (shard, key, version, event_id, topic, payload, headers) VALUES (?, ?, ?, ?, ?, ?, ?)";

/// The clustering version of `message`: its aggregate version, or the end
/// of the key for a tombstone.
fn version_of(message: &OutboxMessage) -> i64 {
    message
        .aggregate_version
        .map_or(i64::MAX, |v| i64::try_from(v).unwrap_or(i64::MAX - 1))
}

/// A prepared LOGGED batch that writes an entity (`entity_cql`, one or
/// more statements) and then `outbox_rows` outbox rows ([`INSERT_CQL`]: the
/// event, the audit entry): ScyllaDB applies a logged batch all-or-nothing.
/// Bind the entity values followed by one [`ScyllaOutbox::values`] per row.
pub async fn logged_batch_with_outbox(
    session: &Session,
    entity_cql: &[&str],
    outbox_rows: usize,
) -> Result<Batch, StoreError> {
    let mut batch = Batch::new(BatchType::Logged);
    for cql in entity_cql {
        batch.append_statement(session.prepare(*cql).await?);
    }
    let insert = session.prepare(INSERT_CQL).await?;
    for _ in 0..outbox_rows {
        batch.append_statement(insert.clone());
    }
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
pub type OutboxValues = (i32, String, i64, String, String, Vec<u8>, String);

impl ScyllaOutbox {
    /// Prepares the statements against a session already using the keyspace.
    pub async fn new(session: Arc<Session>) -> Result<Self, StoreError> {
        let select = session
            .prepare("SELECT key, version, event_id, topic, payload, headers FROM outbox_by_key WHERE shard = ? LIMIT ?")
            .await?;
        let mut delete = session
            .prepare("DELETE FROM outbox_by_key WHERE shard = ? AND key = ? AND version = ? AND event_id = ?")
            .await?;
        delete.set_is_idempotent(true);
        let count = session
            .prepare("SELECT COUNT(*) FROM outbox_by_key WHERE shard = ?")
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
            message.key.clone(),
            version_of(message),
            message.event_id.clone(),
            message.topic.clone(),
            message.payload.clone(),
            encode_headers(&message.headers),
        )
    }

    /// [`ScyllaOutbox::values`] as untyped CQL values, for statement lists
    /// built at run time.
    pub fn cql_values(message: &OutboxMessage) -> Vec<scylla::value::CqlValue> {
        use scylla::value::CqlValue;
        let (shard, key, version, event_id, topic, payload, headers) = Self::values(message);
        vec![
            CqlValue::Int(shard),
            CqlValue::Text(key),
            CqlValue::BigInt(version),
            CqlValue::Text(event_id),
            CqlValue::Text(topic),
            CqlValue::Blob(payload),
            CqlValue::Text(headers),
        ]
    }
}

/// A row's primary key as the relay hands it back: shard, version, then
/// the key and the event id as length-prefixed text.
fn encode_position(shard: i32, key: &str, version: i64, event_id: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(16 + key.len() + event_id.len());
    p.extend_from_slice(&shard.to_be_bytes());
    p.extend_from_slice(&version.to_be_bytes());
    p.extend_from_slice(&(key.len() as u32).to_be_bytes());
    p.extend_from_slice(key.as_bytes());
    p.extend_from_slice(event_id.as_bytes());
    p
}

fn decode_position(p: &[u8]) -> Result<(i32, String, i64, String), StoreError> {
    let corrupt = || StoreError::Corrupt("outbox position".into());
    let shard = i32::from_be_bytes(
        p.get(..4)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?,
    );
    let version = i64::from_be_bytes(
        p.get(4..12)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?,
    );
    let len = u32::from_be_bytes(
        p.get(12..16)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?,
    ) as usize;
    let key = p.get(16..16 + len).ok_or_else(corrupt)?;
    let event_id = p.get(16 + len..).ok_or_else(corrupt)?;
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| corrupt());
    Ok((shard, text(key)?, version, text(event_id)?))
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
            for row in rows.rows::<(String, i64, String, String, Vec<u8>, String)>()? {
                let (key, version, event_id, topic, payload, headers) = row?;
                out.push(PendingMessage {
                    position: encode_position(shard, &key, version, &event_id),
                    message: OutboxMessage {
                        event_id,
                        topic,
                        key,
                        payload,
                        headers: decode_headers(&headers)?,
                        aggregate_version: u64::try_from(version)
                            .ok()
                            .filter(|_| version != i64::MAX),
                    },
                });
            }
        }
        Ok(out)
    }

    async fn mark_sent(&self, positions: &[Vec<u8>]) -> Result<(), StoreError> {
        for p in positions {
            let (shard, key, version, event_id) = decode_position(p)?;
            self.session
                .execute_unpaged(&self.delete, (shard, key, version, event_id))
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
    fn positions_round_trip_and_refuse_garbage() {
        let p = encode_position(7, "acme/c1", 42, "0193-e");
        assert_eq!(
            decode_position(&p).unwrap(),
            (7, "acme/c1".to_owned(), 42, "0193-e".to_owned())
        );
        assert!(decode_position(&p[..10]).is_err());
        let mut long = p.clone();
        long[15] = 200;
        assert!(decode_position(&long).is_err());
    }

    #[test]
    fn a_tombstone_sorts_after_every_event_of_its_key() {
        let mut m = OutboxMessage {
            event_id: "e".into(),
            topic: "t".into(),
            key: "acme/c1".into(),
            payload: Vec::new(),
            headers: Vec::new(),
            aggregate_version: None,
        };
        let tombstone = version_of(&m);
        m.aggregate_version = Some(7);
        assert!(version_of(&m) < tombstone);
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        assert_eq!(shard_of("acme/1"), shard_of("acme/1"));
        for k in ["", "a", "acme/0193", "другой/ключ"] {
            assert!((0..SHARDS).contains(&shard_of(k)));
        }
    }
}
