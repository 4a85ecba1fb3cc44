//! The `rapport` command line: one binary, two deployment modes.
//!
//! `rapport run` starts everything in one process (monolithic mode) with an
//! embedded Kafka-API broker and SQLite stores; `rapport serve <target>`
//! starts one service against external Kafka and ScyllaDB (distributed
//! mode). Both start services through the same code; in both, services talk
//! only over gRPC and Kafka.

mod api_client;
mod check_phones;
mod dev_token;
mod import;
mod lifecycle;
mod migrate;
mod run;
mod serve;
pub mod targets;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// Rapport: a CRM platform for large enterprises.
#[derive(Debug, Parser)]
#[command(name = "rapport", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole platform in one process (monolithic mode): every
    /// service, the REST gateway, an embedded Kafka broker and SQLite stores.
    Run(run::RunArgs),
    /// Run one service (distributed mode), configured from a file and/or
    /// RAPPORT_* environment variables.
    Serve(serve::ServeArgs),
    /// Print a signed bearer token the gateway accepts (for development
    /// and monolithic installs; real deployments use OIDC).
    DevToken(dev_token::DevTokenArgs),
    /// Apply ScyllaDB schema migrations and create Kafka topics
    /// (idempotent; the Helm chart runs it as a pre-install/upgrade hook).
    Migrate(migrate::MigrateArgs),
    /// List the targets `rapport serve` accepts and the modules each runs.
    ListTargets,
    /// Import records into a running Rapport through its REST API, with
    /// a progress bar (`rapport import contacts people.csv --tenant acme`).
    Import(import::ImportArgs),
    /// List a tenant's stored phone numbers that need a look: refused or
    /// read differently by today's parser, or likely altered by the earlier
    /// one (`rapport check-phones --tenant acme`). Changes nothing.
    CheckPhones(check_phones::CheckPhonesArgs),
}

/// Common `--config` flag.
#[derive(Debug, Clone, clap::Args)]
struct ConfigArgs {
    /// YAML configuration file; RAPPORT_* variables override it
    /// (`__` separates nesting, e.g. RAPPORT_KAFKA__BOOTSTRAP_SERVERS).
    #[arg(long, env = "RAPPORT_CONFIG")]
    config: Option<PathBuf>,
}

impl Cli {
    /// Parses the command line and runs the command.
    pub async fn main() -> ExitCode {
        let cli = Cli::parse();
        let result = match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Serve(args) => serve::serve(args).await,
            Command::DevToken(args) => dev_token::dev_token(args),
            Command::Migrate(args) => migrate::migrate(args).await,
            Command::Import(args) => import::import(args).await,
            Command::CheckPhones(args) => check_phones::check_phones(args).await,
            Command::ListTargets => {
                targets::print_targets();
                Ok(())
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rapport: {e:#}");
                ExitCode::FAILURE
            }
        }
    }
}
