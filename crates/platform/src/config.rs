//! Configuration: one root [`Config`] with a section per concern.
//!
//! Layers, later wins: built-in defaults, then a YAML file (`--config` or
//! `RAPPORT_CONFIG`), then `RAPPORT_` environment variables with `__` for
//! nesting (`RAPPORT_KAFKA__BOOTSTRAP_SERVERS`). Unknown keys are rejected.
//! [`Config::validate`] then checks the settings a target needs and reports
//! every problem at once, each naming its setting.

use std::{fmt, net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Yaml},
};
use serde::{Deserialize, Serialize};

/// Default gRPC port of every service: the conventional gRPC port.
pub const DEFAULT_GRPC_ADDR: &str = "0.0.0.0:50051";
/// Default Prometheus port of non-HTTP services.
pub const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:9090";
/// Default REST port of the gateway.
pub const DEFAULT_HTTP_ADDR: &str = "0.0.0.0:8080";
/// Drain time after SIGTERM; Kubernetes' default grace period is 30 s, so
/// 20 s leaves room for the pod to be removed from endpoints first.
pub const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 20;
/// Environment variables with the `RAPPORT_` prefix that are flags of the
/// command line, not configuration keys.
const NON_CONFIG_ENV: &[&str] = &[
    "config",
    "data_dir",
    "kafka_addr",
    "kafka_advertised_addr",
    "test_scylla",
];

/// A secret value that never prints.
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The whole configuration of one process.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// gRPC listen address of a service (`serve <service>`).
    pub listen_addr: SocketAddr,
    /// Address of the Prometheus `/metrics` endpoint of a gRPC service.
    pub metrics_addr: SocketAddr,
    /// REST listen address of the gateway.
    pub http_addr: SocketAddr,
    /// Seconds to drain in-flight work after SIGTERM.
    pub shutdown_grace_seconds: u64,
    /// Kafka connection and topics.
    pub kafka: KafkaConfig,
    /// Where the service keeps its data.
    pub store: StoreConfig,
    /// Traces, logs.
    pub telemetry: TelemetryConfig,
    /// gRPC addresses of the other services.
    pub peers: PeersConfig,
    /// Authentication of REST callers (gateway).
    pub auth: AuthConfig,
    /// The outbox relay.
    pub outbox: OutboxConfig,
    /// Contacts service settings.
    pub contacts: ContactsConfig,
    /// Deals service settings.
    pub deals: DealsConfig,
    /// Gateway settings.
    pub gateway: GatewayConfig,
}

/// Gateway settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Requests per tenant and route class, per gateway process.
    pub rate_limits: RateLimitsConfig,
    /// Requests per API key and route class, per gateway process, on top
    /// of the tenant's: one partner system cannot use up its tenant's.
    pub api_key_rate_limits: RateLimitsConfig,
    /// The audit trail the gateway keeps for `/v1/audit`.
    pub audit: AuditConfig,
}

/// How long the audit trail is kept.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Days an entry stays queryable (then it is deleted); the topic
    /// `rapport.audit.v1` keeps entries for `kafka.topics.retention_ms`.
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        // Two years: the span most audits and disputes reach back.
        AuditConfig {
            retention_days: 730,
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            rate_limits: RateLimitsConfig::default(),
            // A tenth of the tenant's: a busy integration, not the staff.
            api_key_rate_limits: RateLimitsConfig {
                read: Rate {
                    per_second: 200.0,
                    burst: 400,
                },
                write: Rate {
                    per_second: 100.0,
                    burst: 200,
                },
                bulk: Rate {
                    per_second: 1.0,
                    burst: 5,
                },
            },
            audit: AuditConfig::default(),
        }
    }
}

/// Token-bucket rates per route class.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// Gets, lists, searches, lookups.
    pub read: Rate,
    /// Creates, updates, merges, interactions.
    pub write: Rate,
    /// Imports, exports, hand-overs.
    pub bulk: Rate,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        // Sized for a large tenant's staff working at once, well above what
        // people click; a runaway script hits them first.
        RateLimitsConfig {
            read: Rate {
                per_second: 2000.0,
                burst: 4000,
            },
            write: Rate {
                per_second: 1000.0,
                burst: 2000,
            },
            bulk: Rate {
                per_second: 2.0,
                burst: 10,
            },
        }
    }
}

/// A sustained rate and the burst allowed on top of it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Tokens added per second; 0 turns the limit off.
    pub per_second: f64,
    /// Most tokens held: requests that may arrive at once.
    pub burst: u32,
}

/// Contacts service settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContactsConfig {
    /// ISO 3166-1 region for phone numbers written without a country code,
    /// for tenants that have not set their own.
    pub default_phone_region: String,
    /// Most imports one tenant may run at once (at least 1): a tenant's
    /// bulk loads cannot take every writer from the others.
    pub max_running_imports_per_tenant: usize,
    /// Seconds without a sign of life after which a running import counts
    /// as abandoned (its replica crashed) and leaves the tenant's quota. A
    /// live import, however slowly its file arrives, says so four times in
    /// this period.
    pub abandoned_import_after_secs: u64,
}

/// Deals service settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DealsConfig {
    /// Most stages a pipeline may have (at least 1): long pipelines are a
    /// classic cause of failed CRM roll-outs.
    pub max_pipeline_stages: usize,
}

impl Default for DealsConfig {
    fn default() -> Self {
        DealsConfig {
            max_pipeline_stages: 12,
        }
    }
}

impl Default for ContactsConfig {
    fn default() -> Self {
        ContactsConfig {
            default_phone_region: "US".into(),
            max_running_imports_per_tenant: 2,
            abandoned_import_after_secs: 600,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen_addr: DEFAULT_GRPC_ADDR.parse().expect("constant"),
            metrics_addr: DEFAULT_METRICS_ADDR.parse().expect("constant"),
            http_addr: DEFAULT_HTTP_ADDR.parse().expect("constant"),
            shutdown_grace_seconds: DEFAULT_SHUTDOWN_GRACE_SECONDS,
            kafka: KafkaConfig::default(),
            store: StoreConfig::default(),
            telemetry: TelemetryConfig::default(),
            peers: PeersConfig::default(),
            auth: AuthConfig::default(),
            outbox: OutboxConfig::default(),
            contacts: ContactsConfig::default(),
            deals: DealsConfig::default(),
            gateway: GatewayConfig::default(),
        }
    }
}

/// Kafka settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list. Required by every service but the gateway.
    pub bootstrap_servers: String,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: String,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` when SASL is used.
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    pub sasl_username: Option<String>,
    /// SASL password (from a Secret, via `RAPPORT_KAFKA__SASL_PASSWORD`).
    pub sasl_password: Option<Secret>,
    /// CA bundle for TLS.
    pub ssl_ca_location: Option<PathBuf>,
    /// Consume every partition without the group membership protocol
    /// (offsets are still committed to the group). Only for a single
    /// consumer process: monolithic mode sets it (see docs/adr/0007).
    pub assign_all_partitions: bool,
    /// How long the broker may hold a consumer's fetch waiting for data
    /// (`fetch.wait.max.ms`). Kafka's 500 ms suits a cluster; the embedded
    /// broker sleeps part of it even when it has records, so the monolith
    /// uses tens of milliseconds.
    pub fetch_wait_max_ms: u32,
    /// Most bytes one fetch returns (`fetch.max.bytes`): bounds a
    /// consumer's memory and the time one fetch takes to serve.
    pub fetch_max_bytes: u32,
    /// How `rapport migrate` and `rapport run` create topics.
    pub topics: TopicsConfig,
    /// Let consumers take records without a signature (see
    /// `kafka::EventSigner`): only while upgrading from a release that did
    /// not sign, so events published before the upgrade are still applied.
    /// Wrongly signed records are refused regardless.
    pub accept_unsigned_events: bool,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: String::new(),
            security_protocol: "plaintext".into(),
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
            assign_all_partitions: false,
            fetch_wait_max_ms: 500,
            fetch_max_bytes: 16 * 1024 * 1024,
            topics: TopicsConfig::default(),
            accept_unsigned_events: false,
        }
    }
}

/// Topic creation settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Partitions per topic; events of one aggregate share a partition.
    pub partitions: i32,
    /// Replicas per partition.
    pub replication_factor: i32,
    /// How long events are kept (ms); 7 days lets partners catch up after a week's outage.
    pub retention_ms: i64,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            partitions: 12,
            replication_factor: 3,
            retention_ms: 7 * 24 * 3600 * 1000,
        }
    }
}

/// Which store backend a service uses.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// Embedded SQLite (monolithic mode, small installs, tests).
    Sqlite,
    /// A ScyllaDB cluster (distributed mode).
    Scylla,
}

/// Store settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The backend.
    pub backend: StoreBackend,
    /// SQLite settings.
    pub sqlite: SqliteConfig,
    /// ScyllaDB settings.
    pub scylla: ScyllaConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackend::Sqlite,
            sqlite: SqliteConfig::default(),
            scylla: ScyllaConfig::default(),
        }
    }
}

/// SQLite settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// Database file of the service.
    pub path: Option<PathBuf>,
}

/// ScyllaDB settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScyllaConfig {
    /// Comma-separated contact points, `host:port`.
    pub nodes: String,
    /// Each service uses keyspace `<prefix>_<service>`.
    pub keyspace_prefix: String,
    /// Keyspace of this one service, overriding the prefix rule
    /// (`rapport serve` only; `rapport migrate` uses the prefix).
    pub keyspace: Option<String>,
    /// Replication factor when migrations create a keyspace.
    pub replication_factor: u32,
    /// Local data centre (preferred for requests, used in replication).
    pub local_dc: Option<String>,
    /// Consistency level name; LOCAL_QUORUM survives one replica down.
    pub consistency: String,
    /// User name.
    pub username: Option<String>,
    /// Password (from a Secret, via `RAPPORT_STORE__SCYLLA__PASSWORD`).
    pub password: Option<Secret>,
}

impl Default for ScyllaConfig {
    fn default() -> Self {
        ScyllaConfig {
            nodes: String::new(),
            keyspace_prefix: "rapport".into(),
            keyspace: None,
            replication_factor: 3,
            local_dc: None,
            consistency: "local_quorum".into(),
            username: None,
            password: None,
        }
    }
}

/// Telemetry settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// OTLP/gRPC endpoint of a collector; no traces are exported when unset.
    pub otlp_endpoint: Option<String>,
    /// Fraction of new traces sampled (parent-based: a sampled caller stays sampled).
    pub sampling_ratio: f64,
    /// `tracing` filter directive, e.g. `info` or `rapport=debug,info`.
    pub log_level: String,
    /// `json` (default, for log pipelines) or `text`.
    pub log_format: LogFormat,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            sampling_ratio: 1.0,
            log_level: "info".into(),
            log_format: LogFormat::Json,
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, with span fields (tenant, trace_id).
    Json,
    /// Human-readable lines.
    Text,
}

/// gRPC addresses (`http://host:port`) of the other services.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeersConfig {
    /// The contacts service.
    pub contacts: Option<String>,
    /// The deals service.
    pub deals: Option<String>,
    /// The tasks service.
    pub tasks: Option<String>,
    /// The comms service.
    pub comms: Option<String>,
    /// The analytics service.
    pub analytics: Option<String>,
}

/// The claims of an OIDC token that carry Rapport's principal.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct OidcClaimsConfig {
    /// The tenant (a string claim).
    pub tenant: String,
    /// The user id (a string claim; `sub` by default).
    pub user: String,
    /// The roles (an array of role names: admin, manager, rep, read_only,
    /// system); names Rapport does not know are ignored.
    pub roles: String,
    /// The teams (an array of team paths such as `sales/emea`).
    pub teams: String,
}

impl Default for OidcClaimsConfig {
    fn default() -> Self {
        OidcClaimsConfig {
            tenant: "tenant".into(),
            user: "sub".into(),
            roles: "roles".into(),
            teams: "teams".into(),
        }
    }
}

/// Authentication settings of the gateway.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// File holding the HS256 key that signs dev tokens.
    pub dev_token_key_file: Option<PathBuf>,
    /// The OpenID provider people sign in with (its issuer URL, as in its
    /// discovery document); unset: no OIDC.
    pub oidc_issuer: Option<String>,
    /// The audience Rapport's tokens must name (`aud`).
    pub oidc_audience: Option<String>,
    /// Which claims of a token say who the caller is.
    pub oidc_claims: OidcClaimsConfig,
    /// Clock difference tolerated on `exp`, `nbf` and `iat` (seconds).
    pub oidc_leeway_seconds: u64,
    /// The gateway's client id at the provider (browser sign-in).
    pub oidc_client_id: Option<String>,
    /// Its client secret (set it through `RAPPORT_AUTH__OIDC_CLIENT_SECRET`).
    pub oidc_client_secret: Option<Secret>,
    /// Where the provider sends browsers back, e.g.
    /// `https://crm.example.com/v1/auth/callback`; unset: derived from the
    /// request's host (and `X-Forwarded-Proto`).
    pub oidc_redirect_url: Option<String>,
    /// How long a browser session lasts (hours).
    pub session_ttl_hours: u64,
    /// File holding the key every service shares to seal and check the
    /// principal in gRPC metadata (`rapport run` creates one in its data
    /// directory; in Kubernetes it is mounted from a Secret).
    pub principal_key_file: Option<PathBuf>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            dev_token_key_file: None,
            oidc_issuer: None,
            oidc_audience: None,
            oidc_claims: OidcClaimsConfig::default(),
            // A minute: clocks of IdPs and pods drift by seconds, not more.
            oidc_leeway_seconds: 60,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_redirect_url: None,
            // A working day; the provider's own session signs people in again.
            session_ttl_hours: 12,
            principal_key_file: None,
        }
    }
}

/// Outbox relay settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// When false, events stay in the outbox (maintenance, tests of durability).
    pub relay_enabled: bool,
    /// How often the relay looks for new events when idle.
    pub poll_interval_ms: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            relay_enabled: true,
            // Short enough that events reach consumers "near real time",
            // long enough that an idle service barely touches its store.
            poll_interval_ms: 100,
        }
    }
}

/// A configuration problem, naming the setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted path of the setting, e.g. `kafka.bootstrap_servers`.
    pub setting: String,
    /// What is wrong.
    pub reason: String,
}

/// Every problem found in a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or environment could not be parsed.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// Settings are missing or invalid.
    #[error("invalid configuration:{}", .0.iter().map(|p| format!("\n  - {}: {}", p.setting, p.reason)).collect::<String>())]
    Invalid(Vec<ConfigProblem>),
}

/// What a process needs from its configuration, for validation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Needs {
    /// Produces or consumes Kafka events.
    pub kafka: bool,
    /// Keeps data in a store.
    pub store: bool,
    /// Peers it calls.
    pub peers: &'static [&'static str],
    /// Verifies bearer tokens.
    pub auth: bool,
    /// Seals or checks principals in gRPC metadata (every service).
    pub principal_key: bool,
}

impl Config {
    /// Loads defaults, then `file` (if any), then `RAPPORT_*` variables.
    pub fn load(file: Option<&std::path::Path>) -> Result<Config, ConfigError> {
        Self::load_over(Config::default(), file)
    }

    /// As [`Config::load`], starting from `defaults` instead of the
    /// built-in defaults (monolithic mode has its own).
    pub fn load_over(
        defaults: Config,
        file: Option<&std::path::Path>,
    ) -> Result<Config, ConfigError> {
        let env = Env::prefixed("RAPPORT_");
        let mut figment = Figment::from(Serialized::defaults(defaults));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Parse(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Yaml::file(file));
        }
        figment
            .merge(env.split("__").ignore(NON_CONFIG_ENV))
            .extract()
            .map_err(|e| {
                ConfigError::Parse(
                    e.into_iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })
    }

    /// Checks the settings `needs` names; returns every problem at once.
    pub fn validate(&self, needs: Needs) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut bad = |setting: &str, reason: &str| {
            problems.push(ConfigProblem {
                setting: setting.into(),
                reason: reason.into(),
            })
        };
        for (limits, name) in [
            (&self.gateway.rate_limits, "rate_limits"),
            (&self.gateway.api_key_rate_limits, "api_key_rate_limits"),
        ] {
            for (class, rate) in [
                ("read", &limits.read),
                ("write", &limits.write),
                ("bulk", &limits.bulk),
            ] {
                if !rate.per_second.is_finite() || rate.per_second < 0.0 {
                    bad(
                        &format!("gateway.{name}.{class}.per_second"),
                        "must be 0 (no limit) or a positive number",
                    );
                } else if rate.per_second > 0.0 && rate.burst == 0 {
                    bad(
                        &format!("gateway.{name}.{class}.burst"),
                        "must be at least 1 when the rate is limited",
                    );
                }
            }
        }
        if self.contacts.abandoned_import_after_secs < 2 {
            bad(
                "contacts.abandoned_import_after_secs",
                "must be at least 2: a running import says it is alive a quarter of this period apart",
            );
        }
        if self.contacts.max_running_imports_per_tenant == 0 {
            bad(
                "contacts.max_running_imports_per_tenant",
                "must be at least 1: with 0 no import could ever run",
            );
        }
        if self.gateway.audit.retention_days == 0 {
            bad(
                "gateway.audit.retention_days",
                "must be at least 1: an audit trail kept for no time is none",
            );
        } else if self.gateway.audit.retention_days > 7300 {
            bad(
                "gateway.audit.retention_days",
                "at most 7300 (20 years, ScyllaDB's longest TTL)",
            );
        }
        if needs.kafka {
            if self.kafka.bootstrap_servers.trim().is_empty() {
                bad(
                    "kafka.bootstrap_servers",
                    "required (comma-separated host:port list)",
                );
            }
            let sasl = match self.kafka.security_protocol.as_str() {
                "plaintext" | "ssl" => false,
                "sasl_plaintext" | "sasl_ssl" => true,
                _ => {
                    bad(
                        "kafka.security_protocol",
                        "must be plaintext, ssl, sasl_plaintext or sasl_ssl",
                    );
                    false
                }
            };
            if sasl {
                if !matches!(
                    self.kafka.sasl_mechanism.as_deref(),
                    Some("PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512")
                ) {
                    bad(
                        "kafka.sasl_mechanism",
                        "required with SASL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                    );
                }
                if self.kafka.sasl_username.is_none() {
                    bad("kafka.sasl_username", "required with SASL");
                }
                if self.kafka.sasl_password.is_none() {
                    bad(
                        "kafka.sasl_password",
                        "required with SASL (set RAPPORT_KAFKA__SASL_PASSWORD)",
                    );
                }
            }
            if self.kafka.topics.partitions < 1 {
                bad("kafka.topics.partitions", "must be at least 1");
            }
            if self.kafka.topics.replication_factor < 1 {
                bad("kafka.topics.replication_factor", "must be at least 1");
            }
        }
        if needs.store {
            match self.store.backend {
                StoreBackend::Sqlite => {
                    if self.store.sqlite.path.is_none() {
                        bad("store.sqlite.path", "required when store.backend is sqlite");
                    }
                }
                StoreBackend::Scylla => {
                    if self.store.scylla.nodes.trim().is_empty() {
                        bad(
                            "store.scylla.nodes",
                            "required when store.backend is scylla (comma-separated host:port)",
                        );
                    }
                    if rapport_store::scylla::parse_consistency(&self.store.scylla.consistency)
                        .is_none()
                    {
                        bad(
                            "store.scylla.consistency",
                            "unknown consistency (e.g. local_quorum, quorum, one)",
                        );
                    }
                    let prefix = &self.store.scylla.keyspace_prefix;
                    if prefix.is_empty()
                        || !prefix
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        bad(
                            "store.scylla.keyspace_prefix",
                            "letters, digits and underscores only",
                        );
                    }
                    if self.store.scylla.replication_factor == 0 {
                        bad("store.scylla.replication_factor", "must be at least 1");
                    }
                }
            }
        }
        for peer in needs.peers {
            match self.peers.get(peer) {
                None => bad(
                    &format!("peers.{peer}"),
                    "required (e.g. http://host:50051)",
                ),
                // Peer traffic stays inside the cluster (mTLS is the mesh's
                // job), and the gRPC clients are built without TLS.
                Some(url) if !url.starts_with("http://") => bad(
                    &format!("peers.{peer}"),
                    "must be an http:// URL such as http://contacts:50051",
                ),
                Some(_) => {}
            }
        }
        if needs.auth && self.auth.dev_token_key_file.is_none() && self.auth.oidc_issuer.is_none() {
            bad(
                "auth.oidc_issuer",
                "required: the OpenID provider that signs people's tokens (or, for development, auth.dev_token_key_file)",
            );
        }
        if let Some(issuer) = &self.auth.oidc_issuer {
            // Plain http only on loopback (a provider started by tests).
            let acceptable = url::Url::parse(issuer).is_ok_and(|u| {
                u.scheme() == "https"
                    || (u.scheme() == "http"
                        && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")))
            });
            if !acceptable {
                bad("auth.oidc_issuer", "must be an https:// URL");
            }
            if self
                .auth
                .oidc_audience
                .as_deref()
                .is_none_or(|a| a.trim().is_empty())
            {
                bad(
                    "auth.oidc_audience",
                    "required with auth.oidc_issuer: the audience Rapport's tokens name",
                );
            }
        }
        if self.auth.oidc_leeway_seconds > 300 {
            bad(
                "auth.oidc_leeway_seconds",
                "at most 300: a larger leeway keeps expired tokens working",
            );
        }
        if needs.principal_key && self.auth.principal_key_file.is_none() {
            bad(
                "auth.principal_key_file",
                "required: the key all services share to seal the caller in gRPC metadata",
            );
        }
        if !(0.0..=1.0).contains(&self.telemetry.sampling_ratio) {
            bad("telemetry.sampling_ratio", "must be between 0.0 and 1.0");
        }
        if let Some(endpoint) = &self.telemetry.otlp_endpoint
            && url::Url::parse(endpoint).is_err()
        {
            bad(
                "telemetry.otlp_endpoint",
                "must be a URL such as http://collector:4317",
            );
        }
        if tracing_subscriber::EnvFilter::try_new(&self.telemetry.log_level).is_err() {
            bad(
                "telemetry.log_level",
                "not a valid filter (e.g. info, debug, rapport=debug,info)",
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

impl PeersConfig {
    /// The address of a peer by service name.
    pub fn get(&self, name: &str) -> Option<&str> {
        match name {
            "contacts" => self.contacts.as_deref(),
            "deals" => self.deals.as_deref(),
            "tasks" => self.tasks.as_deref(),
            "comms" => self.comms.as_deref(),
            "analytics" => self.analytics.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
// figment's `Jail` closures return its large error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_with_nesting() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yaml");
        std::fs::write(
            &file,
            "kafka:\n  bootstrap_servers: file:9092\nstore:\n  backend: scylla\n  scylla:\n    nodes: a:9042\n",
        )
        .unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("RAPPORT_KAFKA__BOOTSTRAP_SERVERS", "env:9092");
            jail.set_env("RAPPORT_DATA_DIR", "/ignored");
            let cfg = Config::load(Some(&file)).unwrap();
            assert_eq!(cfg.kafka.bootstrap_servers, "env:9092");
            assert_eq!(cfg.store.backend, StoreBackend::Scylla);
            assert_eq!(cfg.store.scylla.nodes, "a:9042");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("RAPPORT_KAFKA__BOOTSTRAP", "x");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("bootstrap"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn validation_names_every_missing_setting() {
        let cfg = Config {
            store: StoreConfig {
                backend: StoreBackend::Scylla,
                ..StoreConfig::default()
            },
            ..Config::default()
        };
        let err = cfg
            .validate(Needs {
                kafka: true,
                store: true,
                peers: &["contacts"],
                auth: true,
                principal_key: true,
            })
            .unwrap_err()
            .to_string();
        for setting in [
            "kafka.bootstrap_servers",
            "store.scylla.nodes",
            "peers.contacts",
            "auth.dev_token_key_file",
            "auth.principal_key_file",
        ] {
            assert!(err.contains(setting), "{setting} missing from {err}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
