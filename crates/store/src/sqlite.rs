//! The embedded SQLite backend (libsql in local-file mode).
//!
//! One database file per service, WAL journal, `synchronous=FULL`: a write
//! acknowledged to a client is on disk and survives `kill -9` and power loss.
//! SQLite allows one writer at a time, so the database hands out one shared
//! connection behind an async mutex: writes are short transactions, and
//! serialising them in the process avoids `SQLITE_BUSY` retries entirely.

use std::{path::Path, time::Duration};

use async_trait::async_trait;
use tokio::sync::{Mutex, MutexGuard};

use crate::{
    StoreError,
    outbox::{Outbox, OutboxMessage, PendingMessage, decode_headers, encode_headers},
};

/// A schema migration: a version name and the SQL that applies it.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Unique, ordered name such as `0001_contacts`.
    pub version: &'static str,
    /// One or more SQL statements.
    pub sql: &'static str,
}

/// The outbox table every producing service includes in its migrations.
pub const OUTBOX_MIGRATION: Migration = Migration {
    version: "0000_outbox",
    sql: "CREATE TABLE IF NOT EXISTS outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            topic TEXT NOT NULL,
            key TEXT NOT NULL,
            payload BLOB NOT NULL,
            headers TEXT NOT NULL
          );",
};

/// An open SQLite database of one service.
pub struct SqliteDb {
    // Kept alive for as long as the connection is used.
    _db: libsql::Database,
    conn: Mutex<libsql::Connection>,
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDb").finish_non_exhaustive()
    }
}

impl SqliteDb {
    /// Opens (creating if needed) the database at `path` and applies the
    /// migrations not yet applied, each in its own transaction.
    pub async fn open(path: &Path, migrations: &[Migration]) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("create {}: {e}", dir.display())))?;
        }
        let db = libsql::Builder::new_local(path).build().await?;
        let conn = db.connect()?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // PRAGMAs that return a row must go through `query`.
        conn.query("PRAGMA journal_mode=WAL", ()).await?;
        conn.execute("PRAGMA synchronous=FULL", ()).await?;
        conn.execute("PRAGMA foreign_keys=ON", ()).await?;
        // 32 MiB of page cache (the default is 2 MiB): bulk imports and
        // index scans over millions of rows stay in memory.
        conn.execute("PRAGMA cache_size=-32768", ()).await?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY)",
            (),
        )
        .await?;
        for m in migrations {
            let mut rows = conn
                .query(
                    "SELECT 1 FROM schema_migrations WHERE version = ?1",
                    [m.version],
                )
                .await?;
            if rows.next().await?.is_some() {
                continue;
            }
            let tx = conn.transaction().await?;
            let applied = async {
                tx.execute_batch(m.sql).await?;
                tx.execute(
                    "INSERT INTO schema_migrations (version) VALUES (?1)",
                    [m.version],
                )
                .await?;
                Ok::<_, libsql::Error>(())
            }
            .await;
            match applied {
                Ok(()) => tx.commit().await?,
                Err(e) => {
                    tx.rollback().await.ok();
                    return Err(StoreError::Migration {
                        version: m.version.to_owned(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(SqliteDb {
            _db: db,
            conn: Mutex::new(conn),
        })
    }

    /// The shared connection; hold the guard only for one short operation.
    pub async fn conn(&self) -> MutexGuard<'_, libsql::Connection> {
        self.conn.lock().await
    }

    /// Writes an entity (`sql` with `params`) and its event to the outbox
    /// in one transaction: both are stored, or neither.
    pub async fn execute_with_outbox(
        &self,
        sql: &str,
        params: impl libsql::params::IntoParams,
        event: &OutboxMessage,
    ) -> Result<(), StoreError> {
        let conn = self.conn().await;
        let tx = conn.transaction().await?;
        tx.execute(sql, params).await?;
        insert_outbox(&tx, event).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Records, inside the caller's transaction, that consumed event `event_id`
/// of `tenant` is applied (table `applied_events`); `false` when it already
/// was, so the caller skips it: consumers apply each event once.
pub async fn first_application(
    tx: &libsql::Connection,
    tenant: &str,
    event_id: &str,
) -> Result<bool, StoreError> {
    let inserted = tx
        .execute(
            "INSERT OR IGNORE INTO applied_events (tenant_id, event_id) VALUES (?1, ?2)",
            [tenant, event_id],
        )
        .await?;
    Ok(inserted == 1)
}

/// Points the rows of `table` linked to any contact in `from` at `to`, or
/// unlinks them when `to` is `None`, bumping their `version` (contact merges
/// and erasures in services that link records to contacts).
pub async fn repoint_contact_links(
    tx: &libsql::Connection,
    table: &'static str,
    tenant: &str,
    from: &[String],
    to: Option<&str>,
) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE {table} SET contact_id = ?3, version = version + 1 \
         WHERE tenant_id = ?1 AND contact_id = ?2"
    );
    for contact in from {
        tx.execute(
            &sql,
            libsql::params![tenant, contact.as_str(), to.map(str::to_owned)],
        )
        .await?;
    }
    Ok(())
}

/// Writes an outbox message inside the caller's transaction.
pub async fn insert_outbox(
    tx: &libsql::Connection,
    message: &OutboxMessage,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO outbox (event_id, topic, key, payload, headers) VALUES (?1, ?2, ?3, ?4, ?5)",
        libsql::params![
            message.event_id.as_str(),
            message.topic.as_str(),
            message.key.as_str(),
            message.payload.clone(),
            encode_headers(&message.headers),
        ],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl Outbox for SqliteDb {
    async fn pending(&self, limit: usize) -> Result<Vec<PendingMessage>, StoreError> {
        let conn = self.conn().await;
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
                },
            });
        }
        Ok(out)
    }

    async fn mark_sent(&self, positions: &[Vec<u8>]) -> Result<(), StoreError> {
        let conn = self.conn().await;
        let tx = conn.transaction().await?;
        for p in positions {
            let seq = i64::from_be_bytes(
                p.as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("outbox position".into()))?,
            );
            tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn backlog(&self) -> Result<u64, StoreError> {
        let conn = self.conn().await;
        let mut rows = conn.query("SELECT COUNT(*) FROM outbox", ()).await?;
        let n: i64 = match rows.next().await? {
            Some(row) => row.get(0)?,
            None => 0,
        };
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str) -> OutboxMessage {
        OutboxMessage {
            event_id: id.into(),
            topic: "t".into(),
            key: "tenant/1".into(),
            payload: vec![1, 2, 3],
            headers: vec![("ce_id".into(), id.into())],
        }
    }

    #[tokio::test]
    async fn outbox_survives_reopen_until_marked_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let db = SqliteDb::open(&path, &[OUTBOX_MIGRATION]).await.unwrap();
            let conn = db.conn().await;
            insert_outbox(&conn, &message("a")).await.unwrap();
            insert_outbox(&conn, &message("b")).await.unwrap();
        }
        let db = SqliteDb::open(&path, &[OUTBOX_MIGRATION]).await.unwrap();
        let pending = db.pending(10).await.unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].message, message("a"));
        db.mark_sent(&[pending[0].position.clone()]).await.unwrap();
        assert_eq!(db.backlog().await.unwrap(), 1);
        assert_eq!(db.pending(10).await.unwrap()[0].message, message("b"));
    }

    #[tokio::test]
    async fn failed_migration_is_reported_and_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let bad = Migration {
            version: "0001_bad",
            sql: "CREATE TABLE x (a INT); THIS IS NOT SQL;",
        };
        let err = SqliteDb::open(&dir.path().join("s.db"), &[bad])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Migration { .. }), "{err}");
        // The partial migration was rolled back, so a fixed one applies cleanly.
        let good = Migration {
            version: "0001_bad",
            sql: "CREATE TABLE x (a INT);",
        };
        SqliteDb::open(&dir.path().join("s.db"), &[good])
            .await
            .unwrap();
    }
}
