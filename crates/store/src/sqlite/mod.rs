//! The embedded SQLite backend (libsql in local-file mode).
//!
//! One database file per service, WAL journal, `synchronous=FULL`: a write
//! acknowledged to a client is on disk and survives `kill -9` and power loss.
//! The connections live on threads of their own (see [`worker`]): one
//! writer that commits the writes waiting at the same moment together (one
//! fsync for all, each write all-or-nothing in its own savepoint), and
//! read-only connections beside it. Stores hand them closures through
//! [`SqliteDb::write`] and [`SqliteDb::read`]; no SQLite call ever runs on
//! the async workers.

pub mod contact_fates;
mod outbox;
mod worker;

use std::{future::Future, path::Path, time::Duration};

use crate::{
    StoreError,
    outbox::{OutboxMessage, encode_headers},
};

use self::worker::Workers;
pub use self::worker::WriteStats;

/// Read-only connections per database: one per core of the machines the
/// monolith is sized for.
const READERS: usize = 2;

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
    workers: Workers,
    // Kept alive for as long as its connections are used.
    _db: libsql::Database,
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDb").finish_non_exhaustive()
    }
}

impl SqliteDb {
    /// Opens (creating if needed) the database at `path` and applies the
    /// migrations not yet applied, each in its own transaction. The work is
    /// done on a blocking thread: a migration over millions of rows must
    /// not stall the runtime.
    pub async fn open(path: &Path, migrations: &'static [Migration]) -> Result<Self, StoreError> {
        let path = path.to_owned();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || handle.block_on(open_blocking(&path, migrations)))
            .await
            .map_err(|e| StoreError::Unavailable(format!("sqlite open: {e}")))?
    }

    /// Runs `f` on the writer connection, inside a transaction it may share
    /// with other writes (group commit), and answers once that transaction
    /// is durable. `f` must not begin or commit a transaction itself. When
    /// `f` fails, nothing it did is applied; the other writes are not
    /// affected.
    pub async fn write<T, E, F, Fut>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(libsql::Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.workers.write(f).await
    }

    /// Runs `f` on a read-only connection; it sees every write answered
    /// before it was called.
    pub async fn read<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(libsql::Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + 'static,
        T: Send + 'static,
    {
        self.workers.read(f).await
    }

    /// How many writes and commits the writer has done.
    pub fn write_stats(&self) -> WriteStats {
        self.workers.stats()
    }
}

async fn open_blocking(path: &Path, migrations: &[Migration]) -> Result<SqliteDb, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("create {}: {e}", dir.display())))?;
    }
    let db = libsql::Builder::new_local(path).build().await?;
    let writer = connect(&db).await?;
    // PRAGMAs that return a row must go through `query`.
    writer.query("PRAGMA journal_mode=WAL", ()).await?;
    migrate(&writer, migrations).await?;
    let mut readers = Vec::with_capacity(READERS);
    for _ in 0..READERS {
        let reader = connect(&db).await?;
        reader.execute("PRAGMA query_only=ON", ()).await?;
        readers.push(reader);
    }
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(SqliteDb {
        workers: Workers::start(&name, writer, readers)?,
        _db: db,
    })
}

async fn connect(db: &libsql::Database) -> Result<libsql::Connection, StoreError> {
    let conn = db.connect()?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute("PRAGMA synchronous=FULL", ()).await?;
    conn.execute("PRAGMA foreign_keys=ON", ()).await?;
    // 32 MiB of page cache (the default is 2 MiB): bulk imports and
    // index scans over millions of rows stay in memory.
    conn.execute("PRAGMA cache_size=-32768", ()).await?;
    Ok(conn)
}

async fn migrate(conn: &libsql::Connection, migrations: &[Migration]) -> Result<(), StoreError> {
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
        drop(rows);
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
    Ok(())
}

/// Runs `sql` and decodes every row it returns with `decode`.
pub async fn query_all<T>(
    conn: &libsql::Connection,
    sql: &str,
    params: impl libsql::params::IntoParams,
    decode: impl Fn(&libsql::Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut rows = conn.query(sql, params).await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(decode(&row)?);
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use std::pin::Pin;

    use super::*;
    use crate::Outbox;

    const TABLE: &[Migration] = &[
        OUTBOX_MIGRATION,
        Migration {
            version: "0001_items",
            sql: "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);",
        },
    ];

    type Queued<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + 'a>>;

    fn message(id: &str) -> OutboxMessage {
        OutboxMessage {
            event_id: id.into(),
            topic: "t".into(),
            key: "tenant/1".into(),
            payload: vec![1, 2, 3],
            headers: vec![("ce_id".into(), id.into())],
            aggregate_version: None,
        }
    }

    async fn names(db: &SqliteDb) -> Vec<String> {
        db.read(|conn| async move {
            let mut rows = conn
                .query("SELECT name FROM items ORDER BY name", ())
                .await?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().await? {
                out.push(row.get::<String>(0)?);
            }
            Ok(out)
        })
        .await
        .unwrap()
    }

    fn insert<'a>(
        db: &'a SqliteDb,
        name: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + 'a {
        let name = name.to_owned();
        db.write(move |conn| async move {
            conn.execute("INSERT INTO items (name) VALUES (?1)", [name])
                .await?;
            Ok(())
        })
    }

    /// A write that holds the writer until `release` fires, so the writes
    /// sent meanwhile queue up behind it.
    async fn hold_writer(
        db: &SqliteDb,
    ) -> (
        impl Future<Output = Result<(), StoreError>> + '_,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let mut held = Box::pin(db.write(move |_conn| async move {
            let _ = started_tx.send(());
            let _ = release_rx.await;
            Ok::<_, StoreError>(())
        }));
        assert!(futures::poll!(held.as_mut()).is_pending());
        started_rx.await.unwrap();
        (held, release_tx)
    }

    #[tokio::test]
    async fn outbox_survives_reopen_until_marked_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let db = SqliteDb::open(&path, &[OUTBOX_MIGRATION]).await.unwrap();
            db.write(|conn| async move {
                insert_outbox(&conn, &message("a")).await?;
                insert_outbox(&conn, &message("b")).await
            })
            .await
            .unwrap();
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
        const BAD: &[Migration] = &[Migration {
            version: "0001_bad",
            sql: "CREATE TABLE x (a INT); THIS IS NOT SQL;",
        }];
        let err = SqliteDb::open(&dir.path().join("s.db"), BAD)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Migration { .. }), "{err}");
        // The partial migration was rolled back, so a fixed one applies cleanly.
        const GOOD: &[Migration] = &[Migration {
            version: "0001_bad",
            sql: "CREATE TABLE x (a INT);",
        }];
        SqliteDb::open(&dir.path().join("s.db"), GOOD)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn writes_waiting_together_share_one_commit_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("s.db"), TABLE)
            .await
            .unwrap();
        insert(&db, "taken").await.unwrap();
        let before = db.write_stats();

        let (held, release) = hold_writer(&db).await;
        let mut queued: Vec<Queued<'_>> = Vec::new();
        for name in ["a", "b", "taken", "c"] {
            queued.push(Box::pin(insert(&db, name)));
        }
        // A write that stores a row, then fails: none of it may remain.
        queued.push(Box::pin(db.write(|conn| async move {
            conn.execute("INSERT INTO items (name) VALUES ('half')", ())
                .await?;
            Err(StoreError::Unavailable("refused after writing".into()))
        })));
        for write in &mut queued {
            assert!(futures::poll!(write.as_mut()).is_pending());
        }
        release.send(()).unwrap();
        held.await.unwrap();
        let results = futures::future::join_all(queued).await;

        assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok());
        assert!(results[2].is_err(), "the duplicate name is refused");
        assert!(results[4].is_err());
        assert_eq!(names(&db).await, ["a", "b", "c", "taken"]);
        let after = db.write_stats();
        assert_eq!(after.writes - before.writes, 6);
        assert_eq!(
            after.commits - before.commits,
            2,
            "the held write, then the five queued behind it in one commit"
        );
    }

    #[tokio::test]
    async fn reads_do_not_wait_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("s.db"), TABLE)
            .await
            .unwrap();
        insert(&db, "visible").await.unwrap();
        let (held, release) = hold_writer(&db).await;
        // The writer is busy until released; the read answers meanwhile.
        assert_eq!(names(&db).await, ["visible"]);
        release.send(()).unwrap();
        held.await.unwrap();
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone_and_the_store_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("s.db"), TABLE)
            .await
            .unwrap();
        let panicked = db
            .write(|conn| async move {
                conn.execute("INSERT INTO items (name) VALUES ('lost')", ())
                    .await?;
                if conn.is_autocommit() {
                    return Ok::<_, StoreError>(());
                }
                panic!("a bug in a store");
            })
            .await;
        assert!(panicked.is_err());
        insert(&db, "after").await.unwrap();
        assert_eq!(names(&db).await, ["after"]);
    }

    #[tokio::test]
    async fn reads_refuse_to_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("s.db"), TABLE)
            .await
            .unwrap();
        let wrote = db
            .read(|conn| async move {
                conn.execute("INSERT INTO items (name) VALUES ('x')", ())
                    .await?;
                Ok(())
            })
            .await;
        assert!(wrote.is_err());
    }
}
