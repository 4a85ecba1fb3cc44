//! Load generators for Rapport (results and commands in BENCHMARKS.md).
//!
//! `rapport-loadtests slice` starts the monolith itself (the `rapport`
//! binary next to this one, on a temporary data directory and loopback
//! ports), drives the REST API with concurrent clients for a fixed time,
//! prints throughput and latency percentiles, and stops everything.
//!
//! `rapport-loadtests contacts` imports a generated CSV (1,000,000 rows by
//! default) with `rapport import contacts`, sampling the monolith's memory,
//! then measures phone lookups and name-prefix searches over gRPC.
//!
//! `rapport-loadtests access` measures what record-level access adds to
//! get-by-id and list pages in a tenant of 10,000 users and 1,000,000
//! contacts.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

mod access;
mod broker_probe;
mod contacts;
mod phones;
mod pipeline;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use serde_json::json;

#[derive(Parser)]
#[command(about = "Load generators for Rapport")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// REST create-contact, then log-interaction, against the monolith.
    Slice {
        /// Seconds per phase.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// The `rapport` binary (default: next to this executable).
        #[arg(long)]
        rapport: Option<PathBuf>,
    },
    /// CSV import, then gRPC phone lookup and name search, on the monolith.
    Contacts {
        /// Rows in the generated CSV.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Seconds per query phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent gRPC clients.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// The `rapport` binary (default: next to this executable).
        #[arg(long)]
        rapport: Option<PathBuf>,
    },
    /// Record-level access: get-by-id and list pages for an admin, a rep
    /// and a department head in a tenant of 10,000 users.
    Access {
        /// Contacts in the tenant (100 per user at the default).
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Seconds per phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent gRPC clients.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// The `rapport` binary (default: next to this executable).
        #[arg(long)]
        rapport: Option<PathBuf>,
    },
    /// Analytics' consumer path against the embedded broker, as the topic
    /// grows (no REST, no outbox).
    Pipeline {
        /// Topic sizes to measure at, ascending, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        sizes: Vec<u64>,
    },
    /// Produce-then-fetch probe of the embedded broker (tansu 0.6.0 with
    /// Rapport's header index), the same workload `loadtests/broker-probe`
    /// runs against nisshi-broker.
    Broker {
        /// Records to produce and fetch back.
        #[arg(long, default_value_t = 100_000)]
        records: usize,
    },
    /// Phone normalisation cost per number (no server).
    Phones {
        /// Passes over the corpus.
        #[arg(long, default_value_t = 20)]
        rounds: u32,
    },
}

/// The monolith under test; killed on drop.
struct Monolith {
    child: Child,
    http: String,
    /// gRPC address of each service, from `rapport run`'s output.
    grpc: std::collections::HashMap<String, String>,
    _dir: tempfile::TempDir,
    token: String,
    /// The key the monolith's services check principals with, for calls
    /// straight to a service's gRPC port.
    principal_key: rapport_platform::identity::PrincipalKey,
}

impl Monolith {
    /// The gRPC address of `service`.
    /// Imports `file` with `rapport import contacts` as the tenant's admin;
    /// the command's summary on success.
    fn import_contacts(&self, binary: &Path, file: &Path) -> anyhow::Result<String> {
        let out = Command::new(binary)
            .args(["import", "contacts"])
            .arg(file)
            .args(["--api-url", &self.http, "--token", &self.token])
            .output()
            .context("run rapport import contacts")?;
        let summary = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "import failed: {summary}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(summary)
    }

    fn grpc_of(&self, service: &str) -> anyhow::Result<String> {
        self.grpc
            .get(service)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no gRPC address for {service}"))
    }
}

/// The `rapport` binary: as given, else the one next to this executable.
fn rapport_binary(rapport: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match rapport {
        Some(b) => b,
        None => std::env::current_exe()?.with_file_name("rapport"),
    })
}

impl Drop for Monolith {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(binary: &PathBuf) -> anyhow::Result<Monolith> {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(binary)
        .args([
            "run",
            "--http-addr",
            "127.0.0.1:0",
            "--kafka-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("RAPPORT_TELEMETRY__LOG_LEVEL", "warn")
        // The load test measures the platform's capacity, not a tenant's
        // rate limit: one tenant sends it all.
        .env("RAPPORT_GATEWAY__RATE_LIMITS__READ__PER_SECOND", "0")
        .env("RAPPORT_GATEWAY__RATE_LIMITS__WRITE__PER_SECOND", "0")
        .env("RAPPORT_GATEWAY__RATE_LIMITS__BULK__PER_SECOND", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {}", binary.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut http = None;
    let mut grpc = std::collections::HashMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("gRPC services: ") {
            for pair in rest.split_whitespace() {
                if let Some((k, v)) = pair.split_once('=') {
                    grpc.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        if let Some(rest) = line.strip_prefix("Rapport is ready. REST API: ") {
            http = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    let Some(http) = http else {
        bail!("rapport exited before it was ready");
    };
    let out = Command::new(binary)
        .args([
            "dev-token",
            "--tenant",
            "loadtest",
            "--user",
            "bench",
            "--role",
            "admin",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()?;
    let principal_key =
        rapport_platform::identity::PrincipalKey::load(&dir.path().join("principal.key"))?;
    Ok(Monolith {
        child,
        http,
        grpc,
        principal_key,
        _dir: dir,
        token: String::from_utf8(out.stdout)?.trim().to_owned(),
    })
}

/// Runs `concurrency` clients issuing `request(i)` for `duration`.
async fn phase<F, Fut>(
    name: &str,
    duration: Duration,
    concurrency: usize,
    request: F,
) -> anyhow::Result<(u64, Histogram<u64>)>
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let request = request.clone();
        let counter = counter.clone();
        workers.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            while started.elapsed() < duration {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                request(i).await?;
                h.record(t.elapsed().as_micros().max(1) as u64)?;
            }
            anyhow::Ok(h)
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for w in workers {
        all.add(w.await??)?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name:<16} {:>8} req  {:>8.0} req/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        all.len(),
        all.len() as f64 / secs,
        all.value_at_quantile(0.50) as f64 / 1000.0,
        all.value_at_quantile(0.90) as f64 / 1000.0,
        all.value_at_quantile(0.99) as f64 / 1000.0,
        all.max() as f64 / 1000.0,
    );
    Ok((all.len(), all))
}

async fn slice(seconds: u64, concurrency: usize, rapport: Option<PathBuf>) -> anyhow::Result<()> {
    let binary = crate::rapport_binary(rapport)?;
    let app = Arc::new(start(&binary)?);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    println!(
        "monolith at {} ({} clients, {} s per phase, {} cores)",
        app.http,
        concurrency,
        seconds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let contacts = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));

    let (c, a, ids) = (client.clone(), app.clone(), contacts.clone());
    let (created, _) = phase("create-contact", Duration::from_secs(seconds), concurrency, move |i| {
        let (c, a, ids) = (c.clone(), a.clone(), ids.clone());
        async move {
            let resp = c
                .post(format!("{}/v1/contacts", a.http))
                .bearer_auth(&a.token)
                .json(&json!({"given_name": format!("Load{i}"), "family_name": "Test", "email": format!("load{i}@example.com")}))
                .send()
                .await?;
            if resp.status() != 201 {
                bail!("create-contact: {}", resp.status());
            }
            let body: serde_json::Value = resp.json().await?;
            ids.lock().unwrap().push(body["id"].as_str().unwrap_or_default().to_owned());
            Ok(())
        }
    })
    .await?;

    let ids: Arc<Vec<String>> = Arc::new(contacts.lock().unwrap().clone());
    let (c, a, ids2) = (client.clone(), app.clone(), ids.clone());
    let (logged, _) = phase("log-interaction", Duration::from_secs(seconds), concurrency, move |i| {
        let (c, a, ids) = (c.clone(), a.clone(), ids2.clone());
        async move {
            let id = &ids[(i as usize) % ids.len()];
            let resp = c
                .post(format!("{}/v1/contacts/{id}/interactions", a.http))
                .bearer_auth(&a.token)
                .json(&json!({"channel": "call", "direction": "inbound", "occurred_at": "2026-11-25T10:00:00Z", "summary": "load"}))
                .send()
                .await?;
            if resp.status() != 201 {
                bail!("log-interaction: {}", resp.status());
            }
            Ok(())
        }
    })
    .await?;

    // How long until analytics has consumed every event of the run.
    let waited = Instant::now();
    loop {
        let s: serde_json::Value = client
            .get(format!("{}/v1/analytics/summary", app.http))
            .bearer_auth(&app.token)
            .send()
            .await?
            .json()
            .await?;
        if s["contacts"].as_u64() == Some(created) && s["interactions"].as_u64() == Some(logged) {
            println!(
                "analytics caught up {:.1} s after the load ended ({created} contacts and {logged} interactions counted exactly)",
                waited.elapsed().as_secs_f64()
            );
            break;
        }
        // The event pipeline of the monolith drains about a thousand
        // events a second (the embedded broker), so allow for a backlog.
        if waited.elapsed() > Duration::from_secs(900) {
            bail!("analytics did not catch up within 900 s: {s}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().scenario {
        Scenario::Slice {
            seconds,
            concurrency,
            rapport,
        } => slice(seconds, concurrency, rapport).await,
        Scenario::Contacts {
            rows,
            seconds,
            concurrency,
            rapport,
        } => contacts::contacts(rows, seconds, concurrency, rapport).await,
        Scenario::Access {
            rows,
            seconds,
            concurrency,
            rapport,
        } => access::access(rows, seconds, concurrency, rapport).await,
        Scenario::Pipeline { sizes } => pipeline::pipeline(sizes).await,
        Scenario::Broker { records } => {
            let dir = tempfile::tempdir()?;
            let broker =
                rapport_broker::EmbeddedBroker::start("127.0.0.1:0".parse()?, None, dir.path())
                    .await?;
            println!("tansu 0.6.0 on sqlite (Rapport's embedded broker)");
            broker_probe::probe(&broker.addr().to_string(), records).await?;
            broker.stop(Duration::from_secs(5)).await;
            Ok(())
        }
        Scenario::Phones { rounds } => phones::phones(rounds),
    }
}
