//! What every service receives when it starts.

use std::{path::PathBuf, sync::Arc};

use rapport_store::scylla::{ScyllaSettings, parse_consistency};
use tokio_util::sync::CancellationToken;

use crate::{
    config::{Config, StoreBackend},
    metrics::Metrics,
};

/// Where one service keeps its data, resolved from the configuration.
#[derive(Clone, Debug)]
pub enum StoreSettings {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A ScyllaDB keyspace.
    Scylla(ScyllaSettings),
}

impl StoreSettings {
    /// The store settings of `service` under `config` (already validated).
    pub fn for_service(config: &Config, service: &str) -> StoreSettings {
        match config.store.backend {
            StoreBackend::Sqlite => StoreSettings::Sqlite(
                config
                    .store
                    .sqlite
                    .path
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(format!("{service}.db"))),
            ),
            StoreBackend::Scylla => {
                let s = &config.store.scylla;
                StoreSettings::Scylla(ScyllaSettings {
                    nodes: s
                        .nodes
                        .split(',')
                        .map(|n| n.trim().to_owned())
                        .filter(|n| !n.is_empty())
                        .collect(),
                    keyspace: s
                        .keyspace
                        .clone()
                        .unwrap_or_else(|| format!("{}_{service}", s.keyspace_prefix)),
                    replication_factor: s.replication_factor,
                    local_dc: s.local_dc.clone(),
                    consistency: parse_consistency(&s.consistency)
                        .unwrap_or(scylla_default_consistency()),
                    credentials: s
                        .username
                        .clone()
                        .zip(s.password.as_ref().map(|p| p.expose().to_owned())),
                })
            }
        }
    }
}

fn scylla_default_consistency() -> rapport_store::scylla::Consistency {
    rapport_store::scylla::Consistency::LocalQuorum
}

/// Everything a service needs to start.
#[derive(Clone, Debug)]
pub struct ServiceContext {
    /// The process configuration (validated).
    pub config: Arc<Config>,
    /// This service's store.
    pub store: StoreSettings,
    /// The process's metrics.
    pub metrics: Arc<Metrics>,
    /// Fires when the process shuts down.
    pub shutdown: CancellationToken,
    /// Peer addresses, including those learnt after this service started
    /// (in monolithic mode services start one by one on free ports).
    pub peer_directory: PeerDirectory,
    /// What makes the broker's acknowledgements durable, when the broker
    /// does not do it itself (the embedded one of monolithic mode).
    pub ack_durability: Option<Arc<dyn crate::outbox_relay::AckDurability>>,
    /// Leases for jobs one replica runs at a time.
    pub leases: Arc<dyn crate::lease::Leases>,
    /// Seals the principal on calls to peers and checks it on calls in.
    pub principal_key: crate::identity::PrincipalKey,
}

/// Peer addresses that may be filled in after a service starts.
#[derive(Clone, Debug, Default)]
pub struct PeerDirectory(Arc<std::sync::RwLock<crate::config::PeersConfig>>);

impl PeerDirectory {
    /// A directory starting from the configured peers.
    pub fn new(peers: crate::config::PeersConfig) -> Self {
        PeerDirectory(Arc::new(std::sync::RwLock::new(peers)))
    }

    /// Records where `peer` listens.
    pub fn set(&self, peer: &str, url: String) {
        let mut peers = self.0.write().unwrap_or_else(|e| e.into_inner());
        let slot = match peer {
            "contacts" => &mut peers.contacts,
            "deals" => &mut peers.deals,
            "tasks" => &mut peers.tasks,
            "comms" => &mut peers.comms,
            "analytics" => &mut peers.analytics,
            _ => return,
        };
        *slot = Some(url);
    }

    /// Where `peer` listens, if known.
    pub fn url(&self, peer: &str) -> Option<String> {
        let peers = self.0.read().unwrap_or_else(|e| e.into_inner());
        peers.get(peer).map(str::to_owned)
    }
}

/// A channel to a peer that may start after this service: resolved on
/// first use, then kept.
#[derive(Debug)]
pub struct LatePeer {
    directory: PeerDirectory,
    key: crate::identity::PrincipalKey,
    peer: &'static str,
    channel: std::sync::OnceLock<crate::grpc::PeerChannel>,
}

impl LatePeer {
    /// The channel, or why there is none yet.
    pub fn channel(&self) -> Result<crate::grpc::PeerChannel, String> {
        if let Some(c) = self.channel.get() {
            return Ok(c.clone());
        }
        let url = self
            .directory
            .url(self.peer)
            .ok_or_else(|| format!("peers.{} is not set", self.peer))?;
        let channel = crate::grpc::connect_peer(&url, &self.key).map_err(|e| e.to_string())?;
        Ok(self.channel.get_or_init(|| channel).clone())
    }

    /// The peer's name.
    pub fn name(&self) -> &'static str {
        self.peer
    }
}

/// A started service: its gRPC address and the tasks that run it.
#[derive(Debug)]
pub struct Started {
    /// Where its gRPC server listens (the bound address, real port).
    pub addr: std::net::SocketAddr,
    /// Its tasks; each ends after `shutdown` fires and work is drained.
    pub tasks: Vec<tokio::task::JoinHandle<Result<(), String>>>,
}

/// A service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its store could not be opened or migrated.
    #[error("{service}: store: {source}")]
    Store {
        /// The service.
        service: &'static str,
        /// The cause.
        source: rapport_store::StoreError,
    },
    /// The Kafka client could not be created.
    #[error("{service}: kafka: {reason}")]
    Kafka {
        /// The service.
        service: &'static str,
        /// The cause.
        reason: String,
    },
    /// A peer address is invalid.
    #[error("{service}: peer {peer}: {reason}")]
    Peer {
        /// The service.
        service: &'static str,
        /// The peer.
        peer: &'static str,
        /// The cause.
        reason: String,
    },
    /// A setting is invalid.
    #[error("{service}: {reason}")]
    Config {
        /// The service.
        service: &'static str,
        /// The setting and why.
        reason: String,
    },
    /// The gRPC server could not bind.
    #[error("{service}: {source}")]
    Serve {
        /// The service.
        service: &'static str,
        /// The cause.
        source: crate::grpc::ServeError,
    },
}

impl ServiceContext {
    /// Starts the outbox relay of `service` over `outbox`; returns the
    /// signal to call after each committed write, and the relay's task.
    pub fn spawn_outbox_relay(
        &self,
        service: &'static str,
        outbox: Arc<dyn rapport_store::Outbox>,
    ) -> Result<
        (
            crate::outbox_relay::OutboxSignal,
            tokio::task::JoinHandle<Result<(), String>>,
        ),
        StartError,
    > {
        let producer = crate::kafka::EventProducer::new(
            &self.config.kafka,
            crate::kafka::EventSigner::new(&self.principal_key),
        )
        .map_err(|e| StartError::Kafka {
            service,
            reason: e.to_string(),
        })?;
        let signal = crate::outbox_relay::OutboxSignal::default();
        let task = tokio::spawn(crate::outbox_relay::run_relay(
            service,
            outbox,
            self.leases
                .lease(&format!("rapport-{service}-outbox-relay")),
            self.ack_durability.clone(),
            producer,
            signal.clone(),
            self.config.outbox.clone(),
            self.metrics.clone(),
            self.shutdown.clone(),
        ));
        let task = tokio::spawn(async move { task.await.map_err(|e| e.to_string()) });
        Ok((signal, task))
    }

    /// Consumes `topics` in consumer group `group` with `handler` until
    /// shutdown, in a task of its own; a failure of the consumer ends the
    /// task with an error that starts with `name` (e.g. `deals contacts
    /// consumer`).
    pub fn spawn_consumer(
        &self,
        name: &str,
        group: &'static str,
        topics: &'static [&'static str],
        handler: Arc<dyn crate::kafka::EventHandler>,
    ) -> tokio::task::JoinHandle<Result<(), String>> {
        let (kafka, metrics, shutdown) = (
            self.config.kafka.clone(),
            self.metrics.clone(),
            self.shutdown.clone(),
        );
        let signer = crate::kafka::EventSigner::new(&self.principal_key);
        let name = name.to_owned();
        tokio::spawn(async move {
            crate::kafka::run_consumer(&kafka, group, topics, handler, signer, metrics, shutdown)
                .await
                .map_err(|e| format!("{name}: {e}"))
        })
    }

    /// A channel to `peer` resolved when first used: for peers that start
    /// after this service (the contacts service gathering personal data).
    pub fn late_peer(&self, peer: &'static str) -> LatePeer {
        LatePeer {
            directory: self.peer_directory.clone(),
            key: self.principal_key.clone(),
            peer,
            channel: std::sync::OnceLock::new(),
        }
    }

    /// A channel to `peer` from `peers.<peer>` in the configuration.
    pub fn peer(
        &self,
        service: &'static str,
        peer: &'static str,
    ) -> Result<crate::grpc::PeerChannel, StartError> {
        let url = self.config.peers.get(peer).ok_or(StartError::Peer {
            service,
            peer,
            reason: format!("peers.{peer} is not set"),
        })?;
        crate::grpc::connect_peer(url, &self.principal_key).map_err(|e| StartError::Peer {
            service,
            peer,
            reason: e.to_string(),
        })
    }

    /// Binds `listen_addr` and serves `routes` (plus health and
    /// reflection) until shutdown.
    pub async fn serve_grpc(
        &self,
        service: &'static str,
        routes: tonic::service::Routes,
        health_names: &'static [&'static str],
    ) -> Result<
        (
            std::net::SocketAddr,
            tokio::task::JoinHandle<Result<(), String>>,
        ),
        StartError,
    > {
        let server = crate::grpc::GrpcServer::bind(self.config.listen_addr, service)
            .await
            .map_err(|source| StartError::Serve { service, source })?;
        let addr = server.local_addr();
        let metrics = self.metrics.clone();
        let key = self.principal_key.clone();
        let shutdown = self.shutdown.clone();
        let task = tokio::spawn(async move {
            server
                .serve(routes, health_names, metrics, key, shutdown)
                .await
                .map_err(|e| e.to_string())
        });
        Ok((addr, task))
    }
}
