//! The embedded Kafka-API broker of monolithic mode.
//!
//! [tansu](https://github.com/tansu-io/tansu) runs in-process on a real TCP
//! port, so services and partners use ordinary Kafka clients against it, and
//! keeps its log in SQLite in the data directory (`sqlite://` storage), so
//! acknowledged events survive a restart of the process. An OS crash or a
//! power loss can take batches acknowledged since the last [`LogSync::sync`],
//! which the outbox relays call before they forget an event, so every event
//! is on disk in the broker or still in its outbox. It lives in its own crate
//! because it is the heaviest dependency: only the command line links it.
//!
//! tansu has no authorisation: its own port is for Rapport's services, on
//! loopback. Partners consume through the [`PartnerListener`], which lets
//! them read and refuses every write.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    time::Duration,
};

use tokio::sync::oneshot;
use url::Url;

mod partner;

pub use partner::{PartnerListener, RESERVED_GROUP_PREFIX, is_reserved_group};

/// How long to wait for the broker to accept connections after start.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The data directory could not be used.
    #[error("broker data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No free port could be found for `127.0.0.1:0`.
    #[error("no free port for the broker: {0}")]
    Port(std::io::Error),
    /// tansu refused its configuration or storage.
    #[error("broker: {0}")]
    Tansu(String),
    /// The broker did not accept connections in time.
    #[error("broker did not accept connections on {0} within {READY_TIMEOUT:?}")]
    NotReady(SocketAddr),
}

/// A running embedded broker.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
    log: LogSync,
}

/// Makes what the broker acknowledged durable.
///
/// tansu opens its database with `synchronous = normal`: in WAL mode a
/// commit only writes its frames to the WAL file, which reaches the disk at
/// the next checkpoint, so an OS crash or power loss can take records the
/// broker already acknowledged. An fsync of the WAL file makes every frame
/// written before it durable (and what a checkpoint already moved into the
/// database file was synced by that checkpoint). It takes no SQLite lock, so
/// it never makes tansu's own writes busy. The outbox relay calls
/// [`LogSync::sync`] after the broker acknowledged a round and before it
/// deletes the round from the outbox, so an event is always on disk in one of
/// the two.
#[derive(Clone, Debug)]
pub struct LogSync {
    db: PathBuf,
}

impl LogSync {
    fn wal(&self) -> PathBuf {
        let mut name = self.db.clone().into_os_string();
        name.push("-wal");
        PathBuf::from(name)
    }

    /// Returns once every batch the broker committed before the call is on
    /// disk. Runs on a blocking thread (it is an fsync).
    pub async fn sync(&self) -> Result<(), String> {
        let (wal, db) = (self.wal(), self.db.clone());
        tokio::task::spawn_blocking(move || {
            // Without a WAL (nothing written since the last checkpoint
            // removed it) the database file holds everything.
            let file = std::fs::File::open(&wal).or_else(|_| std::fs::File::open(&db))?;
            file.sync_all()
        })
        .await
        .map_err(|e| format!("broker log sync: {e}"))?
        .map_err(|e| format!("broker log sync: {e}"))
    }
}

impl EmbeddedBroker {
    /// Starts the broker on `addr` with its log in `data_dir/broker.db`, and
    /// returns once it accepts connections. Port 0 picks a free port (the
    /// broker must advertise its real port, so it is chosen up front).
    /// Clients are told to connect to `advertised` (`host:port`, e.g. a pod's
    /// DNS name when listening on 0.0.0.0), or to `addr` when `None`.
    pub async fn start(
        addr: SocketAddr,
        advertised: Option<&str>,
        data_dir: &Path,
    ) -> Result<Self, BrokerError> {
        let addr = if addr.port() == 0 {
            let probe = TcpListener::bind(addr).map_err(BrokerError::Port)?;
            probe.local_addr().map_err(BrokerError::Port)?
        } else {
            addr
        };
        std::fs::create_dir_all(data_dir).map_err(|source| BrokerError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let dir = data_dir
            .canonicalize()
            .map_err(|source| BrokerError::DataDir {
                path: data_dir.to_owned(),
                source,
            })?;
        // tansu drops the first slash after `sqlite://`, so an absolute
        // path needs four in all.
        let db_path = dir.join(BROKER_DB);
        let storage = Url::parse(&format!("sqlite:///{}", db_path.display()))
            .map_err(|e| BrokerError::Tansu(format!("storage url: {e}")))?;
        let listener = Url::parse(&format!("tcp://{addr}"))
            .map_err(|e| BrokerError::Tansu(format!("listener url: {e}")))?;
        let advertised = match advertised {
            Some(a) => Url::parse(&format!("tcp://{a}"))
                .map_err(|e| BrokerError::Tansu(format!("advertised address {a:?}: {e}")))?,
            None => listener.clone(),
        };

        // The broker runs on a runtime of its own: the services' blocking
        // SQLite and librdkafka calls must never stall its answers, nor its
        // storage calls theirs.
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(), BrokerError>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("rapport-broker".into())
            .spawn(move || {
                serve_on_own_runtime(db_path, storage, listener, advertised, ready_tx, stop_rx)
            })
            .map_err(|e| BrokerError::Tansu(format!("broker thread: {e}")))?;
        match ready_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(BrokerError::Tansu("broker thread ended at start".into())),
        }
        let started = tokio::time::Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if thread.is_finished() || started.elapsed() > READY_TIMEOUT {
                let _ = stop_tx.send(());
                return Err(BrokerError::NotReady(addr));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::info!(%addr, "embedded Kafka broker listening");
        let log = LogSync {
            db: dir.join(BROKER_DB),
        };
        Ok(EmbeddedBroker {
            addr,
            stop: stop_tx,
            thread,
            log,
        })
    }

    /// The handle that makes acknowledged records durable (see [`LogSync`]).
    pub fn log_sync(&self) -> LogSync {
        self.log.clone()
    }

    /// The address clients connect to (also the advertised listener).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the broker and waits up to `timeout` for its runtime to end.
    /// Call it after every client of this process is closed: a client
    /// whose broker is gone keeps reconnecting. Returns `false` when the
    /// broker did not end in time (the process exit ends it).
    pub async fn stop(self, timeout: Duration) -> bool {
        let _ = self.stop.send(());
        let thread = self.thread;
        let joined = tokio::task::spawn_blocking(move || thread.join());
        matches!(tokio::time::timeout(timeout, joined).await, Ok(Ok(Ok(()))))
    }
}

/// The broker's SQLite database in the data directory.
const BROKER_DB: &str = "broker.db";

/// tansu 0.6.0's `header` table has no key or index, and its fetch reads the
/// headers of each fetched record with one query, so every fetched record
/// scanned every header ever stored: fetch cost grew with the log (12.8 ms
/// per record at 10,000 records). Each event carries 8 headers.
const HEADER_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS rapport_header_by_record ON header (topition, offset_id)";

/// Adds [`HEADER_INDEX`] (idempotent; quick on a fresh database, one pass
/// over the headers on an existing one).
async fn add_header_index(db: &Path) -> Result<(), BrokerError> {
    let fail =
        |e: libsql::Error| BrokerError::Tansu(format!("header index on {}: {e}", db.display()));
    let database = libsql::Builder::new_local(db).build().await.map_err(fail)?;
    let conn = database.connect().map_err(fail)?;
    conn.execute(HEADER_INDEX, ()).await.map_err(fail)?;
    Ok(())
}

/// Worker threads of the broker's runtime.
const BROKER_WORKERS: usize = 2;
/// How long the broker's runtime may take to end its connections' tasks.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(2);

/// Body of the broker thread: builds the broker, says whether it started,
/// and serves until `stop` fires.
fn serve_on_own_runtime(
    db_path: PathBuf,
    storage: Url,
    listener: Url,
    advertised: Url,
    ready: oneshot::Sender<Result<(), BrokerError>>,
    stop: oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(BROKER_WORKERS)
        .thread_name("rapport-broker-worker")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(BrokerError::Tansu(format!("broker runtime: {e}"))));
            return;
        }
    };
    runtime.block_on(async move {
        let built = tansu_broker::broker::Broker::<
            tansu_broker::coordinator::group::administrator::Controller<
                tansu_storage::StorageContainer,
            >,
            tansu_storage::StorageContainer,
        >::builder()
        .node_id(0)
        .cluster_id("rapport")
        .incarnation_id(uuid::Uuid::now_v7())
        .advertised_listener(advertised)
        .storage(storage)
        .listener(listener)
        .silent(true)
        .build()
        .await;
        let mut broker = match built {
            Ok(b) => b,
            Err(e) => {
                let _ = ready.send(Err(BrokerError::Tansu(e.to_string())));
                return;
            }
        };
        // Building the broker created its schema; add what it lacks before
        // the first fetch.
        if let Err(e) = add_header_index(&db_path).await {
            let _ = ready.send(Err(e));
            return;
        }
        let _ = ready.send(Ok(()));
        tokio::select! {
            served = broker.serve(tokio::time::Instant::now()) => {
                if let Err(e) = served {
                    tracing::error!(error = %e, "embedded broker stopped");
                }
            }
            _ = stop => tracing::info!("embedded broker stopping"),
        }
    });
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log sync finds the broker's WAL and syncs it, as often as it is
    /// asked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn log_sync_syncs_the_brokers_wal() {
        let dir = tempfile::tempdir().unwrap();
        let broker = EmbeddedBroker::start(([127, 0, 0, 1], 0).into(), None, dir.path())
            .await
            .unwrap();
        let sync = broker.log_sync();
        assert!(sync.wal().exists(), "{}", sync.wal().display());
        sync.sync().await.unwrap();
        sync.sync().await.unwrap();
        assert!(broker.stop(Duration::from_secs(10)).await);
        let gone = LogSync {
            db: dir.path().join("missing").join(BROKER_DB),
        };
        assert!(
            gone.sync().await.is_err(),
            "a missing log is an error, not a no-op"
        );
    }

    /// The fetch of a record's headers reads the index, not every header.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn header_fetch_uses_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let broker = EmbeddedBroker::start(([127, 0, 0, 1], 0).into(), None, dir.path())
            .await
            .unwrap();
        let db = libsql::Builder::new_local(dir.path().join(BROKER_DB))
            .build()
            .await
            .unwrap();
        let conn = db.connect().unwrap();
        let mut rows = conn
            .query(
                "EXPLAIN QUERY PLAN SELECT h.k, h.v FROM header h WHERE h.topition = 1 AND h.offset_id = 2",
                (),
            )
            .await
            .unwrap();
        let mut plan = String::new();
        while let Some(row) = rows.next().await.unwrap() {
            plan.push_str(&row.get::<String>(3).unwrap());
            plan.push('\n');
        }
        assert!(
            plan.contains("USING INDEX rapport_header_by_record"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN h"), "{plan}");
        assert!(broker.stop(Duration::from_secs(5)).await);
    }
}
