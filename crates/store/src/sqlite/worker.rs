//! The threads that own a database's connections.
//!
//! libsql's local calls are synchronous behind `async fn`: awaited on the
//! process's Tokio workers, an fsync would stall every request, timer and
//! the embedded broker's answers with it. So each database owns threads of
//! its own, each with a current-thread runtime to drive libsql's futures:
//!
//! - one **writer**, the only connection that writes. It takes every write
//!   waiting at that moment into one transaction (group commit: one fsync
//!   for all of them), each write inside its own savepoint, so a failing
//!   write is rolled back alone and the others still commit. Each caller is
//!   answered only after the commit, with its own result.
//! - a few **readers** on read-only connections. WAL lets them read beside
//!   the writer, so a read never waits for a commit.

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
};

use futures::FutureExt as _;
use libsql::Connection;
use tokio::sync::oneshot;

use crate::StoreError;

/// Writes gathered into one transaction at most; bounds one commit's work.
const MAX_GROUP: usize = 512;

/// A future driven on a connection's own thread (it need not be `Send`).
type Local<T> = Pin<Box<dyn Future<Output = T>>>;

/// Hands a write's outcome to its caller once the group's fate is known:
/// `None` when the group committed, else why it did not.
type Deliver = Box<dyn FnOnce(Option<StoreError>) + Send>;

/// A write: run on the writer's connection inside the group transaction
/// (`Ok`), or told that the group could not start (`Err`). Returns whether
/// it succeeded (its savepoint is kept) and how to answer its caller.
type WriteJob = Box<dyn FnOnce(Result<Connection, StoreError>) -> Local<(bool, Deliver)> + Send>;

/// A read, run on a reader's connection.
type ReadJob = Box<dyn FnOnce(Connection) -> Local<()> + Send>;

/// Counts of the writer's work, for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Writes applied or refused.
    pub writes: u64,
    /// Transactions committed (each one fsync).
    pub commits: u64,
}

#[derive(Default)]
struct Counters {
    writes: AtomicU64,
    commits: AtomicU64,
}

/// The sending ends of a database's threads. Dropping it ends the threads
/// once their queued work is done.
pub(super) struct Workers {
    writer: mpsc::Sender<WriteJob>,
    readers: mpsc::Sender<ReadJob>,
    counters: Arc<Counters>,
}

fn closed() -> StoreError {
    StoreError::Unavailable("sqlite: the database is closed".into())
}

fn panicked() -> StoreError {
    StoreError::Unavailable("sqlite: a store operation panicked".into())
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

impl Workers {
    /// Starts the writer on `writer` and one reader per connection of
    /// `readers`; threads are named after `name`.
    pub(super) fn start(
        name: &str,
        writer: Connection,
        readers: Vec<Connection>,
    ) -> Result<Self, StoreError> {
        let spawn_err = |e: std::io::Error| StoreError::Unavailable(format!("sqlite thread: {e}"));
        let counters = Arc::new(Counters::default());
        let (write_tx, write_rx) = mpsc::channel::<WriteJob>();
        let rt = runtime().map_err(spawn_err)?;
        let c = counters.clone();
        std::thread::Builder::new()
            .name(format!("sqlite-w-{name}"))
            .spawn(move || {
                while let Ok(first) = write_rx.recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match write_rx.try_recv() {
                            Ok(job) => group.push(job),
                            Err(_) => break,
                        }
                    }
                    rt.block_on(commit_group(&writer, group, &c));
                }
            })
            .map_err(spawn_err)?;
        let (read_tx, read_rx) = mpsc::channel::<ReadJob>();
        let read_rx = Arc::new(Mutex::new(read_rx));
        for (i, conn) in readers.into_iter().enumerate() {
            let rx = read_rx.clone();
            let rt = runtime().map_err(spawn_err)?;
            std::thread::Builder::new()
                .name(format!("sqlite-r{i}-{name}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next
                        // job, never while running one.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        rt.block_on(job(conn.clone()));
                    }
                })
                .map_err(spawn_err)?;
        }
        Ok(Workers {
            writer: write_tx,
            readers: read_tx,
            counters,
        })
    }

    /// Runs `f` on the writer inside a transaction shared with the writes
    /// queued beside it, and answers after the commit. `f` must not open a
    /// transaction of its own. When `f` fails, its changes are rolled back
    /// and the others' are kept; when the commit fails, every write of the
    /// group fails and none is applied.
    pub(super) async fn write<T, E, F, Fut>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, E>>();
        let job: WriteJob = Box::new(move |conn| {
            Box::pin(async move {
                let result = match conn {
                    Ok(conn) => AssertUnwindSafe(f(conn))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|_| Err(E::from(panicked()))),
                    Err(e) => Err(E::from(e)),
                };
                let ok = result.is_ok();
                let deliver: Deliver = Box::new(move |failure| {
                    let _ = tx.send(match failure {
                        Some(e) => Err(E::from(e)),
                        None => result,
                    });
                });
                (ok, deliver)
            })
        });
        self.writer.send(job).map_err(|_| E::from(closed()))?;
        rx.await.map_err(|_| E::from(closed()))?
    }

    /// Runs `f` on a read-only connection.
    pub(super) async fn read<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            Box::pin(async move {
                let result = AssertUnwindSafe(f(conn))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err(panicked()));
                let _ = tx.send(result);
            })
        });
        self.readers.send(job).map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    pub(super) fn stats(&self) -> WriteStats {
        WriteStats {
            writes: self.counters.writes.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
        }
    }
}

/// Runs `group` in one transaction, each write in a savepoint, then commits
/// and answers every caller.
async fn commit_group(conn: &Connection, group: Vec<WriteJob>, counters: &Counters) {
    counters
        .writes
        .fetch_add(group.len() as u64, Ordering::Relaxed);
    if let Err(e) = conn.execute("BEGIN IMMEDIATE", ()).await {
        let reason = format!("sqlite begin: {e}");
        for job in group {
            let (_, deliver) = job(Err(StoreError::Unavailable(reason.clone()))).await;
            deliver(None);
        }
        return;
    }
    let mut delivers = Vec::with_capacity(group.len());
    let mut broken: Option<String> = None;
    for job in group {
        if broken.is_some() {
            let (_, deliver) =
                job(Err(StoreError::Unavailable("sqlite: group aborted".into()))).await;
            delivers.push(deliver);
            continue;
        }
        if let Err(e) = conn.execute("SAVEPOINT write", ()).await {
            broken = Some(format!("sqlite savepoint: {e}"));
            let (_, deliver) =
                job(Err(StoreError::Unavailable("sqlite: group aborted".into()))).await;
            delivers.push(deliver);
            continue;
        }
        let (ok, deliver) = job(Ok(conn.clone())).await;
        delivers.push(deliver);
        let end = if ok {
            conn.execute("RELEASE write", ()).await.map(|_| ())
        } else {
            match conn.execute("ROLLBACK TO write", ()).await {
                Ok(_) => conn.execute("RELEASE write", ()).await.map(|_| ()),
                Err(e) => Err(e),
            }
        };
        if let Err(e) = end {
            broken = Some(format!("sqlite savepoint end: {e}"));
        }
    }
    let failure = match broken {
        Some(reason) => Some(reason),
        None => match conn.execute("COMMIT", ()).await {
            Ok(_) => None,
            Err(e) => Some(format!("sqlite commit: {e}")),
        },
    };
    match failure {
        None => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            for deliver in delivers {
                deliver(None);
            }
        }
        Some(reason) => {
            tracing::warn!(%reason, writes = delivers.len(), "sqlite group rolled back");
            let _ = conn.execute("ROLLBACK", ()).await;
            for deliver in delivers {
                deliver(Some(StoreError::Unavailable(reason.clone())));
            }
        }
    }
}
