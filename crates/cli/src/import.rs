//! `rapport import contacts FILE.csv`: a CSV import through the REST API.
//!
//! Creates the import (`POST /v1/imports`), streams the file as the body of
//! `PUT /v1/imports/{id}/data` (never read into memory as a whole) and,
//! meanwhile, polls `GET /v1/imports/{id}` to drive a progress bar. Ends
//! with a summary and the first refused rows; exits non-zero when the
//! import failed.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::json;

use crate::api_client::{ApiArgs, send_json};

/// How often progress is polled while the file uploads.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How many refused rows the summary lists.
const ERRORS_SHOWN: usize = 10;

/// Arguments of `rapport import`.
#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    #[command(subcommand)]
    what: ImportWhat,
}

#[derive(Debug, clap::Subcommand)]
enum ImportWhat {
    /// Import people from a CSV file (UTF-8, optional BOM; `,`, `;` or tab
    /// separated, detected from the header line unless --delimiter is given).
    Contacts(ImportContactsArgs),
}

/// Arguments of `rapport import contacts`.
#[derive(Debug, clap::Args)]
pub(crate) struct ImportContactsArgs {
    /// The CSV file; its first line names the columns.
    file: PathBuf,
    #[command(flatten)]
    api: ApiArgs,
    /// User id of the minted dev token.
    #[arg(long, default_value = "rapport-import")]
    user: String,
    /// What to do with a row whose e-mail, phone or external id exists.
    #[arg(long, value_enum, default_value_t = OnDuplicate::Skip)]
    on_duplicate: OnDuplicate,
    /// Map a CSV column to a field: `--map "E-mail=email"`,
    /// `--map "Branche=custom_fields.industry"`. Repeatable. Columns not
    /// mapped are matched by header name.
    #[arg(long = "map", value_name = "HEADER=FIELD", value_parser = parse_mapping)]
    mappings: Vec<(String, String)>,
    /// Field separator (one character, e.g. ';' or '\t' for tab).
    #[arg(long, value_parser = parse_delimiter)]
    delimiter: Option<String>,
}

/// The duplicate policy.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum OnDuplicate {
    /// Keep the existing record, skip the row.
    Skip,
    /// Update the existing record with the row's non-empty values.
    Update,
    /// Create a new record anyway.
    Create,
}

impl OnDuplicate {
    fn as_str(self) -> &'static str {
        match self {
            OnDuplicate::Skip => "skip",
            OnDuplicate::Update => "update",
            OnDuplicate::Create => "create",
        }
    }
}

fn parse_mapping(s: &str) -> Result<(String, String), String> {
    match s.rsplit_once('=') {
        Some((header, field)) if !header.is_empty() && !field.trim().is_empty() => {
            Ok((header.to_owned(), field.trim().to_owned()))
        }
        _ => Err(format!("expected HEADER=FIELD, got {s:?}")),
    }
}

fn parse_delimiter(s: &str) -> Result<String, String> {
    let d = match s {
        "\\t" | "tab" => "\t",
        other => other,
    };
    if d.chars().count() == 1 {
        Ok(d.to_owned())
    } else {
        Err(format!("expected one character, got {s:?}"))
    }
}

/// An import as the API reports it (the fields this command shows).
#[derive(Debug, Default, Deserialize)]
struct Import {
    id: String,
    state: Option<String>,
    #[serde(default)]
    rows_processed: i64,
    #[serde(default)]
    rows_created: i64,
    #[serde(default)]
    rows_updated: i64,
    #[serde(default)]
    rows_skipped: i64,
    #[serde(default)]
    rows_failed: i64,
    #[serde(default)]
    bytes_processed: i64,
    #[serde(default)]
    rows_per_second: f64,
    eta_seconds: Option<i64>,
    failure: Option<String>,
}

/// A refused row.
#[derive(Debug, Deserialize)]
struct RowError {
    row: i64,
    field: Option<String>,
    message: String,
}

#[derive(Debug, Deserialize)]
struct ErrorsPage {
    errors: Vec<RowError>,
}

pub(crate) async fn import(args: ImportArgs) -> anyhow::Result<()> {
    match args.what {
        ImportWhat::Contacts(args) => import_contacts(args).await,
    }
}

async fn import_contacts(args: ImportContactsArgs) -> anyhow::Result<()> {
    let token = args.api.token(&args.user)?;
    let api = args.api.base();
    let size = tokio::fs::metadata(&args.file)
        .await
        .with_context(|| format!("read {}", args.file.display()))?
        .len();
    let client = reqwest::Client::new();

    let mapping: BTreeMap<&str, &str> = args
        .mappings
        .iter()
        .map(|(h, f)| (h.as_str(), f.as_str()))
        .collect();
    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let options = json!({
        "column_mapping": mapping,
        "on_duplicate": args.on_duplicate.as_str(),
        "delimiter": args.delimiter,
        "file_name": file_name,
        "expected_bytes": size,
        "object_type": "person",
    });
    let created: Import = send_json(
        client
            .post(format!("{api}/v1/imports"))
            .bearer_auth(&token)
            .json(&options),
        "create the import",
    )
    .await?;
    let id = created.id;

    let bar = progress_bar(size);
    let upload = tokio::spawn(upload(
        client.clone(),
        format!("{api}/v1/imports/{id}/data"),
        token.clone(),
        args.file.clone(),
        size,
    ));
    let mut upload = std::pin::pin!(upload);
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    let finished = loop {
        tokio::select! {
            done = &mut upload => break done.context("upload task")?,
            _ = tick.tick() => {
                // Progress is best effort: a failed poll only skips a frame.
                if let Ok(now) = get_import(&client, &api, &id, &token).await {
                    show(&bar, &now);
                }
            }
        }
    };
    let finished = match finished {
        Ok(i) => i,
        Err(e) => {
            bar.abandon();
            return Err(e);
        }
    };
    show(&bar, &finished);
    bar.finish_and_clear();

    let state = finished.state.as_deref().unwrap_or("unknown");
    println!(
        "Import {id} {state}: {} rows read, {} created, {} updated, {} skipped, {} failed.",
        finished.rows_processed,
        finished.rows_created,
        finished.rows_updated,
        finished.rows_skipped,
        finished.rows_failed
    );
    if finished.rows_failed > 0 {
        let page: ErrorsPage = send_json(
            client
                .get(format!(
                    "{api}/v1/imports/{id}/errors?page_size={ERRORS_SHOWN}"
                ))
                .bearer_auth(&token),
            "list the refused rows",
        )
        .await?;
        println!("Refused rows (first {}):", page.errors.len());
        for e in page.errors.iter().take(ERRORS_SHOWN) {
            match &e.field {
                Some(f) => println!("  row {}: {f}: {}", e.row, e.message),
                None => println!("  row {}: {}", e.row, e.message),
            }
        }
    }
    if state != "succeeded" {
        bail!(
            "the import {state}: {}",
            finished.failure.as_deref().unwrap_or("no reason given")
        );
    }
    Ok(())
}

/// Streams the file as the body of `PUT .../data`; returns the final import.
async fn upload(
    client: reqwest::Client,
    url: String,
    token: String,
    path: PathBuf,
    size: u64,
) -> anyhow::Result<Import> {
    let file = tokio::fs::File::open(&path)
        .await
        .with_context(|| format!("open {}", path.display()))?;
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
    send_json(
        client
            .put(url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "text/csv")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(body),
        "upload the file",
    )
    .await
}

async fn get_import(
    client: &reqwest::Client,
    api: &str,
    id: &str,
    token: &str,
) -> anyhow::Result<Import> {
    send_json(
        client
            .get(format!("{api}/v1/imports/{id}"))
            .bearer_auth(token),
        "read the import",
    )
    .await
}

fn progress_bar(size: u64) -> ProgressBar {
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{bar:32}] {binary_bytes}/{binary_total_bytes} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Moves the bar to the import's progress.
fn show(bar: &ProgressBar, i: &Import) {
    bar.set_position(u64::try_from(i.bytes_processed).unwrap_or(0));
    let eta = match i.eta_seconds {
        Some(s) => format!("ETA {}", format_eta(s)),
        None => "ETA --".to_owned(),
    };
    bar.set_message(format!(
        "{} rows ({} failed), {:.0} rows/s, {eta}",
        i.rows_processed, i.rows_failed, i.rows_per_second
    ));
}

fn format_eta(seconds: i64) -> String {
    let s = seconds.max(0);
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_and_delimiters_are_checked() {
        assert_eq!(
            parse_mapping("E-mail=email").unwrap(),
            ("E-mail".into(), "email".into())
        );
        assert_eq!(
            parse_mapping("a=b=custom_fields.x").unwrap(),
            ("a=b".into(), "custom_fields.x".into())
        );
        assert!(parse_mapping("email").is_err());
        assert!(parse_mapping("=email").is_err());
        assert_eq!(parse_delimiter(";").unwrap(), ";");
        assert_eq!(parse_delimiter("\\t").unwrap(), "\t");
        assert!(parse_delimiter(";;").is_err());
    }

    #[test]
    fn etas_read_well() {
        assert_eq!(format_eta(75), "1m15s");
        assert_eq!(format_eta(3725), "1h02m");
    }
}
