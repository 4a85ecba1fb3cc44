//! `rapport run`: monolithic mode.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use rapport_broker::{EmbeddedBroker, LogSync, PartnerListener};
use rapport_platform::outbox_relay::AckDurability;
use rapport_platform::{
    Started, StoreSettings,
    config::{Config, LogFormat, Needs},
    events::topics,
    identity::{DevTokenKey, PrincipalKey},
    kafka::ensure_topics,
    metrics::Metrics,
    telemetry,
};
use tokio_util::sync::CancellationToken;

use crate::{
    ConfigArgs,
    lifecycle::Running,
    serve::{context, start_service},
    targets::{Module, Target},
};

/// Name of the dev-token key file in the data directory.
pub(crate) const DEV_TOKEN_KEY_FILE: &str = "dev-token.key";
/// The key the services share to seal principals, in the data directory.
pub(crate) const PRINCIPAL_KEY_FILE: &str = "principal.key";
/// How long the embedded broker may take to end its connections.
const BROKER_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long topic creation retries while the embedded broker warms up.
const TOPICS_DEADLINE: Duration = Duration::from_secs(30);

/// Arguments of `rapport run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Where SQLite databases, the broker's log and the dev-token key live.
    #[arg(long, env = "RAPPORT_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Address of the REST API (port 0 picks a free port).
    #[arg(long, env = "RAPPORT_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    http_addr: SocketAddr,
    /// Address the embedded Kafka broker listens on and advertises.
    #[arg(long, env = "RAPPORT_KAFKA_ADDR", default_value = "127.0.0.1:9092")]
    kafka_addr: SocketAddr,
    /// Address (`host:port`) the broker tells clients to connect to, when
    /// it differs from --kafka-addr (e.g. a pod's DNS name behind 0.0.0.0).
    #[arg(long, env = "RAPPORT_KAFKA_ADVERTISED_ADDR")]
    kafka_advertised_addr: Option<String>,
    /// Address of the read-only Kafka listener for partner systems: they
    /// consume every topic there but cannot produce, create topics or touch
    /// Rapport's consumer groups (off unless given; keep --kafka-addr on
    /// loopback then).
    #[arg(long, env = "RAPPORT_PARTNER_KAFKA_ADDR")]
    partner_kafka_addr: Option<SocketAddr>,
    /// Address (`host:port`) partners are told to connect to, when it
    /// differs from --partner-kafka-addr.
    #[arg(long, env = "RAPPORT_PARTNER_KAFKA_ADVERTISED_ADDR")]
    partner_kafka_advertised_addr: Option<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

/// The embedded broker's log sync, as the outbox relays ask for it: an event
/// leaves an outbox only once the broker's copy is on disk.
#[derive(Debug)]
struct BrokerAcks(LogSync);

#[async_trait::async_trait]
impl AckDurability for BrokerAcks {
    async fn sync(&self) -> Result<(), String> {
        self.0.sync().await
    }
}

/// Defaults of monolithic mode: readable logs, one broker (so one replica).
fn monolith_defaults() -> Config {
    let mut c = Config::default();
    c.telemetry.log_format = LogFormat::Text;
    // The embedded broker logs every maintenance pass at INFO.
    c.telemetry.log_level = "info,tansu_broker=warn,tansu_storage=warn,tansu_service=warn,tansu_sans_io=warn,tansu_schema=warn".into();
    // One consumer per group reads every partition: more partitions only
    // multiply fetches and relay work (existing topics keep theirs).
    c.kafka.topics.partitions = 1;
    // 100 ms, not 20: each empty fetch costs the embedded broker a full
    // statement preparation, so 20 ms burnt 42% of a core while idle (13%
    // at 100) and took the CPU the writes needed (BENCHMARKS.md).
    c.kafka.fetch_wait_max_ms = 100;
    c.kafka.fetch_max_bytes = 8 * 1024 * 1024;
    c.kafka.topics.replication_factor = 1;
    // One process owns every partition. The embedded broker's group
    // coordinator never re-forms a group whose member died without leaving
    // (kill -9), so the monolith assigns itself all partitions instead.
    c.kafka.assign_all_partitions = true;
    c
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut config = Config::load_over(monolith_defaults(), args.config.config.as_deref())?;
    config.validate(Needs::default())?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("create data directory {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize()?;
    check_ports_free(&args)?;
    config.http_addr = args.http_addr;
    let key_file = data_dir.join(DEV_TOKEN_KEY_FILE);
    // Created on first run, so `rapport dev-token` and the gateway agree.
    DevTokenKey::load_or_create(&key_file)?;
    config.auth.dev_token_key_file = Some(key_file);
    let principal_key_file = data_dir.join(PRINCIPAL_KEY_FILE);
    let principal_key = PrincipalKey::load_or_create(&principal_key_file)?;
    config.auth.principal_key_file = Some(principal_key_file);
    let _telemetry = telemetry::init(&config.telemetry, "rapport")?;
    let metrics = Metrics::new();
    let mut running = Running::default();
    let mut kafka_addr = args.kafka_addr;
    let mut partner_addr = None;
    let mut http_addr = args.http_addr;

    let directory = rapport_platform::PeerDirectory::new(config.peers.clone());
    let mut broker_acks: Option<Arc<dyn AckDurability>> = None;
    for module in Target::All.modules() {
        let shutdown = CancellationToken::new();
        let started = match module {
            Module::Broker => {
                let broker = EmbeddedBroker::start(
                    args.kafka_addr,
                    args.kafka_advertised_addr.as_deref(),
                    &data_dir,
                )
                .await?;
                kafka_addr = broker.addr();
                config.kafka.bootstrap_servers = kafka_addr.to_string();
                broker_acks = Some(Arc::new(BrokerAcks(broker.log_sync())));
                let partners = match args.partner_kafka_addr {
                    Some(addr) => Some(
                        PartnerListener::start(
                            addr,
                            args.partner_kafka_advertised_addr.as_deref(),
                            kafka_addr,
                        )
                        .await?,
                    ),
                    None => None,
                };
                partner_addr = partners.as_ref().map(PartnerListener::addr);
                let stop = shutdown.clone();
                Started {
                    addr: kafka_addr,
                    tasks: vec![tokio::spawn(async move {
                        stop.cancelled().await;
                        if let Some(partners) = partners {
                            partners.stop().await;
                        }
                        // Every client of this process is closed by now
                        // (modules stop in reverse start order).
                        if broker.stop(BROKER_STOP_TIMEOUT).await {
                            Ok(())
                        } else {
                            Err("the embedded broker did not stop in time".into())
                        }
                    })],
                }
            }
            Module::Topics => {
                create_topics(&config).await?;
                continue;
            }
            _ => {
                // Services listen on free loopback ports; peers learn them
                // from the configuration, exactly as in distributed mode.
                let mut service_config = config.clone();
                if module != Module::Gateway {
                    service_config.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
                }
                let store = StoreSettings::Sqlite(data_dir.join(format!("{}.db", module.name())));
                let mut ctx = context(
                    service_config,
                    store,
                    metrics.clone(),
                    shutdown.clone(),
                    directory.clone(),
                    principal_key.clone(),
                );
                ctx.ack_durability = broker_acks.clone();
                let started = start_service(module, &ctx).await?;
                let url = Some(format!("http://{}", started.addr));
                if let Some(url) = &url {
                    directory.set(module.name(), url.clone());
                }
                match module {
                    Module::Contacts => config.peers.contacts = url,
                    Module::Deals => config.peers.deals = url,
                    Module::Tasks => config.peers.tasks = url,
                    Module::Comms => config.peers.comms = url,
                    Module::Analytics => config.peers.analytics = url,
                    _ => http_addr = started.addr,
                }
                started
            }
        };
        running.push(module.name(), shutdown, started);
    }

    // For grpcurl and load tests against one service of the monolith.
    let grpc: Vec<String> = ["contacts", "deals", "tasks", "comms", "analytics"]
        .iter()
        .filter_map(|s| directory.url(s).map(|u| format!("{s}={u}")))
        .collect();
    println!("gRPC services: {}", grpc.join(" "));
    println!(
        "Rapport is ready. REST API: http://{http_addr}  Kafka: {kafka_addr}  Data: {}",
        data_dir.display()
    );
    if let Some(addr) = partner_addr {
        println!("Partner Kafka (read-only): {addr}");
    }
    // The running binary's own path: ready to paste, and no second build.
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "rapport".to_owned());
    println!(
        "Get a token with: {exe} dev-token --data-dir {} --tenant acme --user you --role admin",
        data_dir.display()
    );
    running
        .wait_and_stop(Duration::from_secs(config.shutdown_grace_seconds))
        .await
}

/// Fails with a message naming the taken port and how to choose another,
/// before anything starts (a taken port otherwise surfaces as a bind error
/// deep inside the broker or the gateway).
fn check_ports_free(args: &RunArgs) -> anyhow::Result<()> {
    let ports = [
        (
            args.http_addr,
            "REST API",
            "--http-addr",
            "RAPPORT_HTTP_ADDR",
        ),
        (
            args.kafka_addr,
            "Kafka broker",
            "--kafka-addr",
            "RAPPORT_KAFKA_ADDR",
        ),
    ];
    let partners = args.partner_kafka_addr.map(|addr| {
        (
            addr,
            "partner Kafka listener",
            "--partner-kafka-addr",
            "RAPPORT_PARTNER_KAFKA_ADDR",
        )
    });
    for (addr, what, flag, env) in ports.into_iter().chain(partners) {
        if addr.port() == 0 {
            continue;
        }
        if let Err(e) = std::net::TcpListener::bind(addr) {
            let mut other = addr;
            other.set_port(addr.port().wrapping_add(1).max(1024));
            anyhow::bail!(
                "{addr} ({what}) cannot be used: {e}. Another program (or another Rapport) \
                 holds it. Choose another address, e.g. `scripts/run {flag} {other}` \
                 (or {env}={other}); port 0 picks a free one."
            );
        }
    }
    Ok(())
}

/// Creates the topics, retrying while the broker finishes starting.
async fn create_topics(config: &Config) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    loop {
        match ensure_topics(&config.kafka, topics::ALL).await {
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() < TOPICS_DEADLINE => {
                tracing::debug!(error = %e, "topics not created yet, retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
