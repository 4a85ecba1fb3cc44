//! `rapport serve <target>`: one service of distributed mode, and the
//! service starter both modes share.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, bail};
use rapport_platform::{
    ServiceContext, Started, StoreSettings,
    config::{Config, Needs},
    identity::{DevTokenKey, PrincipalKey},
    lease::{AlwaysHeld, Leases},
    metrics::{Metrics, serve_metrics},
    telemetry,
};
use tokio_util::sync::CancellationToken;

use crate::{
    ConfigArgs,
    lifecycle::Running,
    targets::{Module, Target},
};

/// Arguments of `rapport serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The service to run: contacts, deals, tasks, comms, analytics or gateway.
    target: Target,
    #[command(flatten)]
    config: ConfigArgs,
}

impl clap::builder::ValueParserFactory for Target {
    type Parser = clap::builder::ValueParser;
    fn value_parser() -> Self::Parser {
        clap::builder::ValueParser::new(|s: &str| s.parse::<Target>())
    }
}

/// What each service needs from the configuration.
pub(crate) fn needs(module: Module) -> Needs {
    let producer = Needs {
        kafka: true,
        store: true,
        principal_key: true,
        ..Needs::default()
    };
    match module {
        // Contacts asks comms, deals and tasks for a person's data on export.
        Module::Contacts => Needs {
            peers: &["comms", "deals", "tasks"],
            ..producer
        },
        Module::Deals | Module::Tasks | Module::Analytics => producer,
        Module::Comms => Needs {
            peers: &["contacts"],
            ..producer
        },
        // The gateway keeps the tenants' API keys (publishing their audit
        // entries) and indexes the audit trail from Kafka.
        Module::Gateway => Needs {
            peers: rapport_gateway::PEERS,
            auth: true,
            ..producer
        },
        Module::Broker | Module::Topics => Needs::default(),
    }
}

/// The context a service starts with.
pub(crate) fn context(
    config: Config,
    store: StoreSettings,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    peer_directory: rapport_platform::PeerDirectory,
    principal_key: PrincipalKey,
) -> ServiceContext {
    ServiceContext {
        principal_key,
        peer_directory,
        config: Arc::new(config),
        store,
        metrics,
        shutdown,
        ack_durability: None,
        // `serve` replaces it with Kubernetes leases in a pod.
        leases: Arc::new(AlwaysHeld),
    }
}

/// Starts one service module (monolithic and distributed modes alike).
pub(crate) async fn start_service(module: Module, ctx: &ServiceContext) -> anyhow::Result<Started> {
    Ok(match module {
        Module::Contacts => rapport_contacts::start(ctx).await?,
        Module::Deals => rapport_deals::start(ctx).await?,
        Module::Tasks => rapport_tasks::start(ctx).await?,
        Module::Comms => rapport_comms::start(ctx).await?,
        Module::Analytics => rapport_analytics::start(ctx).await?,
        Module::Gateway => {
            let dev_tokens = match &ctx.config.auth.dev_token_key_file {
                Some(path) => Some(Arc::new(
                    DevTokenKey::load(path).context("auth.dev_token_key_file")?,
                )
                    as Arc<dyn rapport_platform::identity::Authenticator>),
                None => None,
            };
            rapport_gateway::start(ctx, dev_tokens).await?
        }
        Module::Broker | Module::Topics => bail!("{module} is internal to `rapport run`"),
    })
}

/// How long a replica's lease lasts without renewal: longer than the
/// longest pause between two relay rounds (about 10 s of backoff).
const LEASE_DURATION: Duration = Duration::from_secs(30);

/// The leases of `module`: Kubernetes Lease objects in a pod of a producing
/// service (one outbox relay of all replicas publishes), else every lease
/// held, which is right for a single process outside Kubernetes.
async fn leases(module: Module) -> anyhow::Result<Arc<dyn Leases>> {
    let holds_leases = matches!(
        module,
        Module::Contacts | Module::Comms | Module::Deals | Module::Tasks
    );
    if !holds_leases {
        return Ok(Arc::new(AlwaysHeld));
    }
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
        tracing::warn!(
            service = module.name(),
            "not in Kubernetes: this process holds every lease, so run one replica of it"
        );
        return Ok(Arc::new(AlwaysHeld));
    }
    let client = kube::Client::try_default()
        .await
        .context("Kubernetes API client (the service account token is needed for leases)")?;
    let namespace =
        std::env::var("POD_NAMESPACE").unwrap_or_else(|_| client.default_namespace().to_owned());
    let identity = rapport_kube_lease::pod_identity()
        .context("POD_NAME or HOSTNAME names this replica's leases")?;
    tracing::info!(service = module.name(), %namespace, %identity, "holding leases as Kubernetes Lease objects");
    Ok(Arc::new(rapport_kube_lease::KubeLeases::new(
        client,
        namespace,
        identity,
        LEASE_DURATION,
    )))
}

/// A distributed gateway with an identity provider signs people in through
/// it alone: a dev-token key beside it would let whoever holds that one
/// file mint any tenant's admin. Without a provider (test clusters) dev
/// tokens are the only sign-in, as in monolithic mode.
fn refuse_dev_tokens_beside_oidc(config: &Config) -> anyhow::Result<()> {
    if config.auth.oidc_issuer.is_some() && config.auth.dev_token_key_file.is_some() {
        bail!(
            "auth.dev_token_key_file: dev tokens are for monolithic mode and test clusters; \
             with auth.oidc_issuer set, people sign in through the provider only (remove the key file)"
        );
    }
    Ok(())
}

pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let Target::One(module) = args.target else {
        bail!("`serve all` is monolithic mode: use `rapport run`");
    };
    let config = Config::load(args.config.config.as_deref())?;
    refuse_dev_tokens_beside_oidc(&config)?;
    config.validate(needs(module))?;
    let _telemetry = telemetry::init(&config.telemetry, &format!("rapport-{module}"))?;
    let metrics = Metrics::new();
    let shutdown = CancellationToken::new();
    let store = StoreSettings::for_service(&config, module.name());
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let metrics_addr = config.metrics_addr;
    let directory = rapport_platform::PeerDirectory::new(config.peers.clone());
    let principal_key = match &config.auth.principal_key_file {
        Some(path) => PrincipalKey::load(path).context("auth.principal_key_file")?,
        None => bail!("{module} needs auth.principal_key_file"),
    };
    let mut ctx = context(
        config,
        store,
        metrics.clone(),
        shutdown.clone(),
        directory,
        principal_key,
    );
    ctx.leases = leases(module).await?;
    let mut started = start_service(module, &ctx).await?;
    if module != Module::Gateway {
        let stop = shutdown.clone();
        started.tasks.push(tokio::spawn(async move {
            serve_metrics(metrics_addr, metrics, stop)
                .await
                .map_err(|e| format!("metrics on {metrics_addr}: {e}"))
        }));
    }
    tracing::info!(service = module.name(), addr = %started.addr, "serving");
    // For scripts and tests that start a replica on port 0.
    println!("rapport {module} is serving on {}", started.addr);
    let mut running = Running::default();
    running.push(module.name(), shutdown, started);
    running.wait_and_stop(grace).await
}
