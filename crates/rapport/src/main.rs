//! The `rapport` binary: everything lives in `rapport-cli`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    rapport_cli::Cli::main().await
}
