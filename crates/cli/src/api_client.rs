//! What the commands that talk to a running Rapport's REST API share: where
//! it is, the bearer token (given, or a dev token minted with the data
//! directory's key), and reading JSON or problem+json answers.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use rapport_platform::identity::{DevTokenKey, Principal, Role, TenantId, UserId};
use serde_json::Value;

/// Lifetime of a dev token minted for one command.
const MINTED_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// How to reach the REST API and as whom.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ApiArgs {
    /// Base URL of the REST API.
    #[arg(long, env = "RAPPORT_API_URL", default_value = "http://127.0.0.1:8080")]
    pub(crate) api_url: String,
    /// Bearer token. Without one, --tenant mints a dev token with the
    /// dev-token key (as `rapport dev-token` does).
    #[arg(long, env = "RAPPORT_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Tenant to mint a dev token for, when no --token is given.
    #[arg(long)]
    pub(crate) tenant: Option<String>,
    /// Data directory of `rapport run` (the key is `<dir>/dev-token.key`).
    #[arg(long, env = "RAPPORT_DATA_DIR", default_value = "./data")]
    pub(crate) data_dir: PathBuf,
    /// Key file to sign the dev token with, instead of the data directory's.
    #[arg(long)]
    pub(crate) key_file: Option<PathBuf>,
}

impl ApiArgs {
    /// The base URL without a trailing slash.
    pub(crate) fn base(&self) -> String {
        self.api_url.trim_end_matches('/').to_owned()
    }

    /// The bearer token: --token / RAPPORT_TOKEN, else an admin dev token
    /// for --tenant signed as `user`.
    pub(crate) fn token(&self, user: &str) -> anyhow::Result<String> {
        if let Some(t) = self.token.as_deref().filter(|t| !t.trim().is_empty()) {
            return Ok(t.trim().to_owned());
        }
        let Some(tenant) = &self.tenant else {
            bail!("no token: pass --token (or set RAPPORT_TOKEN), or --tenant to mint a dev token");
        };
        let principal = Principal {
            tenant: TenantId::parse(tenant)?,
            user: UserId::parse(user)?,
            roles: vec![Role::Admin],
            teams: Vec::new(),
            scopes: None,
            grants: Vec::new(),
        };
        let key_file = self
            .key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::run::DEV_TOKEN_KEY_FILE));
        // Load, never create: a fresh key would sign tokens the server refuses.
        let key = DevTokenKey::load(&key_file).with_context(|| {
            format!(
                "dev-token key {} (start `rapport run` first, or pass --data-dir or --key-file)",
                key_file.display()
            )
        })?;
        Ok(key.issue(&principal, MINTED_TOKEN_TTL))
    }
}

/// Sends a request and reads a JSON answer; a problem answer becomes an
/// error with its detail and invalid fields.
pub(crate) async fn send_json<T: serde::de::DeserializeOwned>(
    req: reqwest::RequestBuilder,
    what: &str,
) -> anyhow::Result<T> {
    let resp = req
        .send()
        .await
        .with_context(|| format!("could not {what}"))?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .with_context(|| format!("could not {what}"))?;
    if !status.is_success() {
        bail!("could not {what}: {}", describe_problem(status, &bytes));
    }
    serde_json::from_slice(&bytes).with_context(|| format!("could not {what}: unexpected answer"))
}

/// A one-line description of a problem+json answer.
fn describe_problem(status: reqwest::StatusCode, body: &[u8]) -> String {
    let Ok(p) = serde_json::from_slice::<Value>(body) else {
        return format!("HTTP {status}");
    };
    let mut s = format!(
        "HTTP {}: {}",
        status.as_u16(),
        p["detail"].as_str().unwrap_or("")
    );
    if let Some(errors) = p["errors"].as_array() {
        for e in errors {
            s.push_str(&format!(
                "; {}: {}",
                e["field"].as_str().unwrap_or(""),
                e["description"].as_str().unwrap_or("")
            ));
        }
    }
    s
}
