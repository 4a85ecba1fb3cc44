//! `rapport dev-token`.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use rapport_platform::identity::{DevTokenKey, Principal, Role, TeamId, TenantId, UserId};

/// Arguments of `rapport dev-token`.
#[derive(Debug, clap::Args)]
pub(crate) struct DevTokenArgs {
    /// Tenant the token acts for (lower-case letters, digits, '-', '_').
    #[arg(long)]
    tenant: String,
    /// User id of the caller.
    #[arg(long)]
    user: String,
    /// Role; repeat for several (admin, manager, rep, system, read-only).
    #[arg(long = "role", required = true)]
    roles: Vec<String>,
    /// Team path the user belongs to (e.g. sales/emea); repeat for several.
    /// A manager sees the records of these teams and the teams below them.
    #[arg(long = "team")]
    teams: Vec<String>,
    /// Data directory of `rapport run` (the key is `<dir>/dev-token.key`).
    #[arg(long, env = "RAPPORT_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Key file to sign with, instead of the data directory's.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Hours until the token expires.
    #[arg(long, default_value_t = 12)]
    ttl_hours: u64,
}

pub(crate) fn dev_token(args: DevTokenArgs) -> anyhow::Result<()> {
    let principal = Principal {
        tenant: TenantId::parse(&args.tenant)?,
        user: UserId::parse(&args.user)?,
        roles: args
            .roles
            .iter()
            .map(|r| r.parse::<Role>())
            .collect::<Result<_, _>>()?,
        teams: args
            .teams
            .iter()
            .map(|t| TeamId::parse(t))
            .collect::<Result<_, _>>()?,
        scopes: None,
        grants: Vec::new(),
    };
    let key_file = args
        .key_file
        .unwrap_or_else(|| args.data_dir.join(crate::run::DEV_TOKEN_KEY_FILE));
    let key = DevTokenKey::load_or_create(&key_file).context("dev-token key")?;
    println!(
        "{}",
        key.issue(&principal, Duration::from_secs(args.ttl_hours * 3600))
    );
    Ok(())
}
