//! The transactional outbox (see docs/adr/0002-transactional-outbox.md).
//!
//! A service writes an entity and the event describing the change in one
//! atomic write (a SQLite transaction, a ScyllaDB logged batch). The relay in
//! `rapport-platform` reads pending messages through [`Outbox`], publishes
//! them, and only then marks them sent. A crash between publish and mark
//! re-publishes the same event id, which consumers ignore: the effect
//! downstream happens exactly once.

use async_trait::async_trait;

use crate::StoreError;

/// An event ready to publish, exactly as it goes on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The event id (UUIDv7 as text); also the CloudEvents `ce_id`.
    pub event_id: String,
    /// Kafka topic.
    pub topic: String,
    /// Kafka record key: `<tenant>/<aggregate id>`.
    pub key: String,
    /// Encoded `rapport.events.v1.EventEnvelope`.
    pub payload: Vec<u8>,
    /// Kafka headers (CloudEvents attributes and `traceparent` of the write).
    pub headers: Vec<(String, String)>,
    /// The aggregate's version after the change (`None` for a tombstone,
    /// which comes after every event of its key). Backends whose write
    /// order is not the aggregate's order (ScyllaDB) publish by it.
    pub aggregate_version: Option<u64>,
}

impl OutboxMessage {
    /// The aggregate the message is about: its events keep their order
    /// within one (topic, key).
    pub fn topic_key(&self) -> (String, String) {
        (self.topic.clone(), self.key.clone())
    }
}

/// A stored message not yet confirmed as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingMessage {
    /// Backend position of the message, used to mark it sent.
    pub position: Vec<u8>,
    /// The message.
    pub message: OutboxMessage,
}

/// What the relay needs from a service's store.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Up to `limit` unsent messages, oldest first.
    async fn pending(&self, limit: usize) -> Result<Vec<PendingMessage>, StoreError>;
    /// Marks messages as published (removes them from the backlog).
    async fn mark_sent(&self, positions: &[Vec<u8>]) -> Result<(), StoreError>;
    /// How many messages wait to be published.
    async fn backlog(&self) -> Result<u64, StoreError>;
}

/// Encodes headers for storage: one `name=value` pair per line. Header names
/// are fixed by the platform (no `=` or newline); values are percent-free
/// ASCII (ids, timestamps, traceparent), so the format needs no escaping,
/// which `encode_headers` enforces.
pub fn encode_headers(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .filter(|(k, v)| !k.contains(['=', '\n']) && !v.contains('\n'))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Decodes what [`encode_headers`] wrote.
pub fn decode_headers(text: &str) -> Result<Vec<(String, String)>, StoreError> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| StoreError::Corrupt(format!("outbox header line {l:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let h = vec![
            ("ce_id".to_owned(), "0193-abc".to_owned()),
            ("traceparent".to_owned(), "00-aa-bb-01".to_owned()),
            ("ce_time".to_owned(), "2026-01-01T00:00:00Z".to_owned()),
        ];
        assert_eq!(decode_headers(&encode_headers(&h)).unwrap(), h);
    }
}
