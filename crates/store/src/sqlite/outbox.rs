//! The outbox of a SQLite database, as the relay reads and clears it.

use async_trait::async_trait;

use super::SqliteDb;
use crate::{
    StoreError,
    outbox::{Outbox, OutboxMessage, PendingMessage, decode_headers},
};

fn seq_of(position: &[u8]) -> Result<i64, StoreError> {
    position
        .try_into()
        .map(i64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt("outbox position".into()))
}

#[async_trait]
impl Outbox for SqliteDb {
    async fn pending(&self, limit: usize) -> Result<Vec<PendingMessage>, StoreError> {
        self.read(move |conn| async move {
            let mut rows = conn
                .query(
                    "SELECT seq, event_id, topic, key, payload, headers FROM outbox ORDER BY seq LIMIT ?1",
                    [limit as i64],
                )
                .await?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().await? {
                let seq: i64 = row.get(0)?;
                out.push(PendingMessage {
                    position: seq.to_be_bytes().to_vec(),
                    message: OutboxMessage {
                        event_id: row.get(1)?,
                        topic: row.get(2)?,
                        key: row.get(3)?,
                        payload: row.get(4)?,
                        headers: decode_headers(&row.get::<String>(5)?)?,
                        aggregate_version: None,
                    },
                });
            }
            Ok(out)
        })
        .await
    }

    async fn mark_sent(&self, positions: &[Vec<u8>]) -> Result<(), StoreError> {
        let seqs = positions
            .iter()
            .map(|p| seq_of(p))
            .collect::<Result<Vec<_>, _>>()?;
        self.write(move |conn| async move {
            let delete = conn.prepare("DELETE FROM outbox WHERE seq = ?1").await?;
            for seq in seqs {
                delete.execute([seq]).await?;
                delete.reset();
            }
            Ok(())
        })
        .await
    }

    async fn backlog(&self) -> Result<u64, StoreError> {
        self.read(|conn| async move {
            let mut rows = conn.query("SELECT COUNT(*) FROM outbox", ()).await?;
            let n: i64 = match rows.next().await? {
                Some(row) => row.get(0)?,
                None => 0,
            };
            Ok(n as u64)
        })
        .await
    }
}
