//! Streaming CSV import.
//!
//! Bytes arrive in chunks over gRPC; a blocking parser thread reads them
//! through a bounded channel and hands rows back in batches, so memory stays
//! flat whatever the file size. Each batch is validated, deduplicated
//! against stored records (skip, update or create) and committed with the
//! import's progress and the rows it refused: a crash loses no counted row.
//! Every row's content hash is stored with the record it created or
//! updated, so importing the same file again changes nothing.

use std::{
    collections::HashMap,
    io::Read,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc as sync_mpsc,
    },
};

use chrono::Utc;
use futures::{Stream, StreamExt};
use rapport_platform::identity::{Action, Object, Permission, Principal, TenantId};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::{ContactsApi, records::identity_keys};
use crate::{
    domain::{
        ContactError, CustomFieldDef, DuplicatePolicy, FieldType, Fields, ImportJob, ImportOptions,
        ImportRowError, ImportState, Kind, LifecycleStage, Record, RecordId, Region, WriteRules,
        index::attr,
    },
    events,
    store::{ChangeSet, ImportQuota, Put, StartImport},
};

/// Rows per committed batch.
const BATCH_ROWS: usize = 10_000;
/// Chunks buffered between the network and the parser.
const CHUNKS_IN_FLIGHT: usize = 16;
/// Longest accepted row (bytes), so one broken quote cannot eat memory.
const MAX_ROW_BYTES: usize = 1 << 20;

/// A data row: its 1-based number and its fields.
type Row = (u64, Result<Vec<String>, String>);

/// Reads chunks from a channel as one byte stream (for the csv crate).
/// An upload error arrives as `Err` and becomes an I/O error, so the parser
/// stops without taking a cut-off row for a complete one. Bytes read since
/// the parser last finished a row are counted, so a row without end (an
/// unclosed quote) fails the import instead of filling memory.
struct ChunkReader {
    chunks: sync_mpsc::Receiver<Result<Vec<u8>, String>>,
    current: Vec<u8>,
    pos: usize,
    /// Bytes handed out since the last complete row (reset by the parser).
    since_row: Arc<AtomicU64>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.current.len() {
            match self.chunks.recv() {
                Ok(Ok(next)) => {
                    self.current = next;
                    self.pos = 0;
                }
                Ok(Err(why)) => return Err(std::io::Error::other(why)),
                Err(_) => return Ok(0),
            }
        }
        if self.since_row.load(Ordering::Relaxed) > MAX_ROW_BYTES as u64 {
            return Err(std::io::Error::other(format!(
                "a row is longer than {MAX_ROW_BYTES} bytes (an unclosed quote?)"
            )));
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        self.since_row.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Picks `,`, `;` or tab from the header line (Excel writes `;` in many
/// locales), ignoring quoted text.
fn detect_delimiter(head: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in head.iter().take_while(|b| **b != b'\n') {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    // Ties (and a header of one column) go to the first: `,`.
    let best = (0..3).rev().max_by_key(|i| counts[*i]).unwrap_or(0);
    [b',', b';', b'\t'][best]
}

/// Parses CSV from `reader` on the current (blocking) thread, sending the
/// header and then batches of rows. Stops early when the receiver is gone.
fn parse(
    reader: impl Read,
    delimiter: u8,
    since_row: &AtomicU64,
    header_tx: &mpsc::Sender<Result<Vec<String>, String>>,
    rows_tx: &mpsc::Sender<Vec<Row>>,
) -> Result<(), String> {
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(reader);
    let header = match csv.byte_headers() {
        Ok(h) => h
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_owned())
            .collect::<Vec<_>>(),
        Err(e) => {
            let _ = header_tx.blocking_send(Err(format!("not a CSV file: {e}")));
            return Ok(());
        }
    };
    let width = header.len();
    if header_tx.blocking_send(Ok(header)).is_err() {
        return Ok(());
    }
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut record = csv::ByteRecord::new();
    let mut row = 0u64;
    loop {
        row += 1;
        let parsed: Result<Vec<String>, String> = match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) if record.as_slice().len() > MAX_ROW_BYTES => {
                Err(format!("row longer than {MAX_ROW_BYTES} bytes"))
            }
            Ok(true) if record.len() != width => Err(format!(
                "has {} columns, the header has {width}",
                record.len()
            )),
            Ok(true) => record
                .iter()
                .map(|f| String::from_utf8(f.to_vec()).map_err(|_| "not UTF-8 text".to_owned()))
                .collect(),
            // A malformed row (a broken quote): report it and go on.
            Err(e) if !matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                Err(format!("malformed CSV: {e}"))
            }
            // The upload broke off or a row has no end: stop, and drop the
            // rows not yet handed on (the last of them may be cut off).
            Err(e) => {
                return Err(match e.into_kind() {
                    csv::ErrorKind::Io(io) => io.to_string(),
                    other => format!("{other:?}"),
                });
            }
        };
        since_row.store(0, Ordering::Relaxed);
        // Skip blank lines (one empty field) rather than reporting them.
        if matches!(&parsed, Ok(f) if f.iter().all(|v| v.trim().is_empty())) {
            continue;
        }
        batch.push((row, parsed));
        if batch.len() == BATCH_ROWS && rows_tx.blocking_send(std::mem::take(&mut batch)).is_err() {
            return Ok(());
        }
    }
    if !batch.is_empty() {
        let _ = rows_tx.blocking_send(batch);
    }
    Ok(())
}

/// Where each column goes: a field path, or nothing.
fn column_targets(
    header: &[String],
    options: &ImportOptions,
    defs: &[CustomFieldDef],
) -> Vec<Option<String>> {
    header
        .iter()
        .map(|h| {
            if let Some(path) = options.column_mapping.get(h) {
                return Some(path.clone()).filter(|p| !p.is_empty());
            }
            let key = h.trim().to_lowercase().replace([' ', '-'], "_");
            let path = match key.as_str() {
                "first_name" | "firstname" | "given_name" => "given_name",
                "last_name" | "lastname" | "surname" | "family_name" => "family_name",
                "name" | "full_name" | "display_name" => "display_name",
                "e_mail" | "email" | "mail" | "email_address" => "email",
                "phone" | "phone_number" | "mobile" | "telephone" | "tel" => "phone",
                "company" | "company_name" | "organisation" | "organization" => "company_name",
                "title" | "job_title" | "position" => "job_title",
                "stage" | "lifecycle_stage" => "lifecycle_stage",
                "source" | "source_channel" | "channel" => "source_channel",
                "zip" | "postcode" | "postal_code" => "address.postal_code",
                "street" | "city" | "region" => return Some(format!("address.{key}")),
                "country" | "country_code" => "address.country_code",
                "external_id" | "tags" | "owner" | "team" | "birthday" | "additional_emails"
                | "additional_phones" => return Some(key),
                k if defs.iter().any(|d| d.key == k) => return Some(format!("custom_fields.{k}")),
                k if k.starts_with("custom_fields.") => return Some(k.to_owned()),
                _ => return None,
            };
            Some(path.to_owned())
        })
        .collect()
}

fn split_list(s: &str) -> Vec<String> {
    s.split([',', ';', '|'])
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The top-level fields a column mapping writes (`address.city` -> `address`).
fn targets_fields(targets: &[Option<String>]) -> std::collections::HashSet<String> {
    targets
        .iter()
        .flatten()
        .map(|p| p.split('.').next().unwrap_or(p).to_owned())
        .collect()
}

/// A custom value from CSV text, typed by its definition.
fn custom_value(def: Option<&CustomFieldDef>, text: &str) -> Value {
    match def.map(|d| d.field_type) {
        Some(FieldType::Number) => text
            .replace(',', ".")
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(text.into())),
        Some(FieldType::Boolean) => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => Value::Bool(true),
            "false" | "no" | "n" | "0" => Value::Bool(false),
            _ => Value::String(text.into()),
        },
        Some(FieldType::MultiChoice) => {
            Value::Array(split_list(text).into_iter().map(Value::String).collect())
        }
        _ => Value::String(text.into()),
    }
}

/// The row's fields (before validation), or the column that cannot hold
/// its value.
fn row_fields(
    targets: &[Option<String>],
    values: &[String],
    defs: &[CustomFieldDef],
) -> Result<Fields, (String, String)> {
    let mut f = Fields::default();
    for (target, value) in targets.iter().zip(values) {
        let (Some(path), v) = (target, value.trim()) else {
            continue;
        };
        if v.is_empty() {
            continue;
        }
        match path.as_str() {
            "given_name" => f.given_name = v.into(),
            "family_name" => f.family_name = v.into(),
            "display_name" => f.display_name = v.into(),
            "email" => f.email = v.into(),
            "phone" => f.phone = v.into(),
            "additional_emails" => f.additional_emails = split_list(v),
            "additional_phones" => f.additional_phones = split_list(v),
            "external_id" => f.external_id = v.into(),
            "company_name" => f.company_name = v.into(),
            "job_title" => f.job_title = v.into(),
            "owner" => f.owner = v.into(),
            "team" => f.team = v.into(),
            "tags" => f.tags = split_list(v),
            "source_channel" => f.source_channel = v.into(),
            "birthday" => f.birthday = v.into(),
            "lifecycle_stage" => {
                f.lifecycle_stage = Some(LifecycleStage::parse(v).ok_or_else(|| {
                    (
                        path.clone(),
                        "one of lead, prospect, customer, former_customer".to_owned(),
                    )
                })?)
            }
            "address.street" => f.address.street = v.into(),
            "address.city" => f.address.city = v.into(),
            "address.region" => f.address.region = v.into(),
            "address.postal_code" => f.address.postal_code = v.into(),
            "address.country_code" => f.address.country_code = v.into(),
            p if p.starts_with("custom_fields.") => {
                let key = &p["custom_fields.".len()..];
                f.custom_fields.insert(
                    key.into(),
                    custom_value(defs.iter().find(|d| d.key == key), v),
                );
            }
            other => return Err((other.to_owned(), "not a field that can be imported".into())),
        }
    }
    Ok(f)
}

/// Overwrites `target` with the row's non-empty values.
/// Overwrites `target` with the row's non-empty values of the fields the
/// file maps (`mapped`: top-level field names); fields the file does not
/// have (and defaults filled in by validation) are left alone. A display
/// name derived from the names follows them when they change.
fn overlay(target: &mut Fields, row: &Fields, mapped: &std::collections::HashSet<String>) {
    let derived = |f: &Fields| {
        [f.given_name.as_str(), f.family_name.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let follow_names = !mapped.contains("display_name") && target.display_name == derived(target);
    let empty = Fields::default();
    let (
        Ok(serde_json::Value::Object(mut t)),
        Ok(serde_json::Value::Object(r)),
        Ok(serde_json::Value::Object(e)),
    ) = (
        serde_json::to_value(&*target),
        serde_json::to_value(row),
        serde_json::to_value(&empty),
    )
    else {
        return;
    };
    for (k, v) in r {
        if mapped.contains(&k) && e.get(&k) != Some(&v) {
            match (k.as_str(), t.get_mut(&k), &v) {
                ("address" | "custom_fields", Some(Value::Object(slot)), Value::Object(new)) => {
                    for (sk, sv) in new {
                        if !(sv.is_null() || sv == "") {
                            slot.insert(sk.clone(), sv.clone());
                        }
                    }
                }
                _ => {
                    t.insert(k, v);
                }
            }
        }
    }
    if let Ok(f) = serde_json::from_value::<Fields>(Value::Object(t)) {
        *target = f;
    }
    if follow_names {
        target.display_name = derived(target);
    }
}

/// A batch after the CPU-only step (parsing fields, validation, hashing),
/// which runs while the previous batch is written.
struct Validated {
    /// Data rows in the batch.
    rows: u64,
    /// Valid rows: number, content hash, normalised fields.
    valid: Vec<(u64, String, Fields)>,
    /// Refused rows.
    errors: Vec<ImportRowError>,
}

/// What validation of a batch needs; shared with the blocking pool.
struct RowRules {
    targets: Vec<Option<String>>,
    header_key: String,
    region: Region,
    defs: Vec<CustomFieldDef>,
}

fn validate_batch(rows: &[Row], rules: &RowRules) -> Validated {
    let mut valid = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for (row, parsed) in rows {
        let mut fail = |field: &str, message: String| {
            errors.push(ImportRowError {
                row: *row,
                field: field.into(),
                message,
            })
        };
        let values = match parsed {
            Ok(v) => v,
            Err(why) => {
                fail("", why.clone());
                continue;
            }
        };
        let mut fields = match row_fields(&rules.targets, values, &rules.defs) {
            Ok(f) => f,
            Err((field, why)) => {
                fail(&field, why);
                continue;
            }
        };
        let violations = fields.normalize(WriteRules {
            kind: Kind::Person,
            region: rules.region,
            custom_fields: &rules.defs,
            previous: None,
        });
        if let Some(first) = violations.first() {
            let message = violations
                .iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect::<Vec<_>>()
                .join("; ");
            fail(first.field.trim_start_matches("contact."), message);
            continue;
        }
        let mut h = Sha256::new();
        h.update(rules.header_key.as_bytes());
        for v in values {
            h.update([0x1e]);
            h.update(v.as_bytes());
        }
        let hash = h
            .finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        valid.push((*row, hash, fields));
    }
    Validated {
        rows: rows.len() as u64,
        valid,
        errors,
    }
}

/// What one batch did.
#[derive(Default)]
struct BatchOutcome {
    changes: ChangeSet,
    created: u64,
    updated: u64,
    skipped: u64,
    failed: u64,
}

impl ContactsApi {
    /// Creates an import waiting for its data.
    pub async fn create_import(
        &self,
        p: &Principal,
        options: ImportOptions,
    ) -> Result<ImportJob, ContactError> {
        // Imports create and update people.
        p.require(Permission::Record(Object::Contacts, Action::Import))?;
        // A file with owner or team columns hands records over in bulk.
        if options
            .column_mapping
            .values()
            .any(|field| matches!(field.trim(), "owner" | "team"))
        {
            p.require(Permission::Record(Object::Contacts, Action::Reassign))?;
        }
        if let Some(d) = options.delimiter
            && !matches!(d, b',' | b';' | b'\t' | b'|')
        {
            return Err(crate::domain::invalid(
                "options.delimiter",
                "one of , ; | or tab",
            ));
        }
        let job = ImportJob::new(options, p.user.as_str(), Utc::now());
        let entry = super::audit::now(
            p,
            rapport_platform::audit::AuditDraft::new(
                format!("imports/{}", job.id),
                rapport_platform::audit::Change::Created,
            )
            .with_fields(rapport_platform::audit::diff(
                None,
                Some(&serde_json::to_value(&job.options).unwrap_or_default()),
            )),
        );
        self.store.put_import(&p.tenant, &job, Some(&entry)).await?;
        Ok(job)
    }

    /// An import of the tenant.
    pub async fn get_import(
        &self,
        tenant: &TenantId,
        id: &RecordId,
    ) -> Result<ImportJob, ContactError> {
        self.store
            .get_import(tenant, id)
            .await?
            .ok_or(ContactError::NotFound {
                kind: "import",
                id: id.to_string(),
            })
    }

    /// Refused rows after `after_row`.
    pub async fn import_errors(
        &self,
        tenant: &TenantId,
        id: &RecordId,
        after_row: u64,
        limit: usize,
    ) -> Result<Vec<ImportRowError>, ContactError> {
        self.get_import(tenant, id).await?;
        Ok(self
            .store
            .import_errors(tenant, id, after_row, limit)
            .await?)
    }

    /// Reads the file from `chunks` and imports it; returns the final state.
    pub async fn run_import<S, E>(
        &self,
        p: &Principal,
        id: &RecordId,
        chunks: S,
    ) -> Result<ImportJob, ContactError>
    where
        S: Stream<Item = Result<Vec<u8>, E>> + Send + Unpin + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        p.require(Permission::Record(Object::Contacts, Action::Import))?;
        let pending = self.get_import(&p.tenant, id).await?;
        let mut job = pending.clone();
        job.state = ImportState::Running;
        job.start_time = Some(Utc::now());
        job.update_time = Utc::now();
        // Only one upload may run an import: the switch to running is
        // conditional on the import still being pending.
        let quota = ImportQuota {
            max_running: self.max_running_imports,
            stale_before: Utc::now()
                - chrono::Duration::from_std(self.abandoned_import_after)
                    .unwrap_or(chrono::Duration::MAX),
        };
        let started = if pending.state == ImportState::Pending {
            self.store
                .start_import(&p.tenant, &pending, &job, &quota)
                .await?
        } else {
            StartImport::NotPending
        };
        match started {
            StartImport::Started => {}
            StartImport::NotPending => {
                return Err(ContactError::FailedPrecondition(format!(
                    "import {id} has already received its data; create a new import to run the file again"
                )));
            }
            StartImport::QuotaReached(n) => {
                return Err(ContactError::QuotaExceeded(format!(
                    "the tenant already runs {n} imports (at most {} at once); upload again when one has finished",
                    quota.max_running
                )));
            }
        }
        let outcome = self.import_rows(p, &mut job, chunks).await;
        job.update_time = Utc::now();
        match outcome {
            Ok(()) => job.state = ImportState::Succeeded,
            Err(failure) => {
                job.state = ImportState::Failed;
                job.failure = failure;
            }
        }
        self.store.put_import(&p.tenant, &job, None).await?;
        Ok(job)
    }

    async fn import_rows<S, E>(
        &self,
        p: &Principal,
        job: &mut ImportJob,
        mut chunks: S,
    ) -> Result<(), String>
    where
        S: Stream<Item = Result<Vec<u8>, E>> + Send + Unpin + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let bytes = Arc::new(AtomicU64::new(0));
        let (chunk_tx, chunk_rx) =
            sync_mpsc::sync_channel::<Result<Vec<u8>, String>>(CHUNKS_IN_FLIGHT);
        let (header_tx, mut header_rx) = mpsc::channel(1);
        let (rows_tx, mut rows_rx) = mpsc::channel::<Vec<Row>>(2);
        // The first chunk decides the delimiter and loses its BOM.
        let mut first = match chunks.next().await {
            Some(Ok(c)) => c,
            Some(Err(e)) => return Err(format!("upload interrupted: {e}")),
            None => return Err("the file is empty".into()),
        };
        bytes.fetch_add(first.len() as u64, Ordering::Relaxed);
        if first.starts_with(&[0xEF, 0xBB, 0xBF]) {
            first.drain(..3);
        }
        let delimiter = job
            .options
            .delimiter
            .unwrap_or_else(|| detect_delimiter(&first));
        let _ = chunk_tx.send(Ok(first));
        let parser = tokio::task::spawn_blocking(move || {
            let since_row = Arc::new(AtomicU64::new(0));
            let reader = ChunkReader {
                chunks: chunk_rx,
                current: Vec::new(),
                pos: 0,
                since_row: since_row.clone(),
            };
            parse(reader, delimiter, &since_row, &header_tx, &rows_tx)
        });
        // Feed the parser from the network on its own task.
        let upload_bytes = bytes.clone();
        let feeder = tokio::spawn(async move {
            while let Some(chunk) = chunks.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        // Tell the parser, so a cut-off last row is dropped.
                        let why = format!("upload interrupted: {e}");
                        let tx = chunk_tx.clone();
                        let told = why.clone();
                        let _ = tokio::task::spawn_blocking(move || tx.send(Err(told))).await;
                        return Err(why);
                    }
                };
                upload_bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                let tx = chunk_tx.clone();
                // A full channel blocks: keep that off the async threads.
                let sent = tokio::task::spawn_blocking(move || tx.send(Ok(chunk)).is_ok())
                    .await
                    .unwrap_or(false);
                if !sent {
                    break;
                }
            }
            Ok::<(), String>(())
        });

        let header = match header_rx.recv().await {
            Some(Ok(h)) => h,
            Some(Err(e)) => return Err(e),
            None => return Err("the file is empty".into()),
        };
        let (region, defs) = self
            .write_context(&p.tenant, Kind::Person)
            .await
            .map_err(|e| e.to_string())?;
        let targets = column_targets(&header, &job.options, &defs);
        if !targets.iter().any(Option::is_some) {
            return Err(format!(
                "no column maps to a contact field (header: {header:?})"
            ));
        }
        // Updates touch only the fields the file has.
        let mapped = targets_fields(&targets);
        let rules = Arc::new(RowRules {
            targets,
            header_key: header.join("\u{1f}"),
            region,
            defs,
        });
        // Validation of the next batch overlaps the write of this one.
        let (valid_tx, mut valid_rx) = mpsc::channel::<Validated>(1);
        let validator = tokio::spawn(async move {
            while let Some(rows) = rows_rx.recv().await {
                let rules = rules.clone();
                let Ok(batch) =
                    tokio::task::spawn_blocking(move || validate_batch(&rows, &rules)).await
                else {
                    return;
                };
                if valid_tx.send(batch).await.is_err() {
                    return;
                }
            }
        });
        // A file that trickles in may take longer than the abandonment
        // period per batch: the import says it is alive between batches, so
        // it keeps counting against the quota.
        let mut alive = tokio::time::interval(self.abandoned_import_after / 4);
        alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        alive.tick().await;
        loop {
            let batch = tokio::select! {
                batch = valid_rx.recv() => match batch {
                    Some(batch) => batch,
                    None => break,
                },
                _ = alive.tick() => {
                    // This loop is the import's only writer while it runs.
                    job.update_time = Utc::now();
                    job.bytes_processed = bytes.load(Ordering::Relaxed);
                    self.store
                        .put_import(&p.tenant, job, None)
                        .await
                        .map_err(|e| e.to_string())?;
                    continue;
                }
            };
            alive.reset();
            let mut attempt = 0;
            loop {
                let mut outcome = self
                    .import_batch(p, job, &batch, &mapped)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut next = job.clone();
                next.rows_processed += batch.rows;
                next.rows_created += outcome.created;
                next.rows_updated += outcome.updated;
                next.rows_skipped += outcome.skipped;
                next.rows_failed += outcome.failed;
                next.bytes_processed = bytes.load(Ordering::Relaxed);
                next.update_time = Utc::now();
                outcome.changes.import = Some(next.clone());
                match self.commit(p, outcome.changes).await {
                    Ok(()) => {
                        *job = next;
                        break;
                    }
                    // Someone edited a matched record meanwhile: redo the
                    // batch against the new state.
                    Err(ContactError::Conflict(_)) if attempt < 3 => attempt += 1,
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        validator.await.map_err(|e| format!("validation: {e}"))?;
        feeder.await.map_err(|e| format!("upload: {e}"))??;
        parser.await.map_err(|e| format!("parser: {e}"))??;
        job.bytes_processed = bytes.load(Ordering::Relaxed);
        Ok(())
    }

    async fn import_batch(
        &self,
        p: &Principal,
        job: &ImportJob,
        batch: &Validated,
        mapped: &std::collections::HashSet<String>,
    ) -> Result<BatchOutcome, ContactError> {
        let mut out = BatchOutcome {
            failed: batch.errors.len() as u64,
            ..Default::default()
        };
        out.changes.import_errors = batch.errors.clone();
        let policy = job.options.on_duplicate;
        let valid = &batch.valid;
        // 2. Rows already imported by an earlier run of the same file.
        let hashes: Vec<String> = valid.iter().map(|(_, h, _)| h.clone()).collect();
        let done: std::collections::HashSet<String> = self
            .store
            .find(&p.tenant, Kind::Person, attr::IMPORT_ROW, &hashes)
            .await?
            .into_iter()
            .map(|h| h.value)
            .collect();
        // 3. Existing records with the rows' identity keys.
        let mut existing: HashMap<(String, String), RecordId> = HashMap::new();
        if policy != DuplicatePolicy::Create {
            for key_attr in [attr::EMAIL, attr::PHONE, attr::EXTERNAL_ID] {
                let values: Vec<String> = valid
                    .iter()
                    .flat_map(|(_, _, f)| identity_keys(Kind::Person, f))
                    .filter(|k| k.attr == key_attr)
                    .map(|k| k.value)
                    .collect();
                if values.is_empty() {
                    continue;
                }
                for hit in self
                    .store
                    .find(&p.tenant, Kind::Person, key_attr, &values)
                    .await?
                {
                    existing
                        .entry((key_attr.to_owned(), hit.value))
                        .or_insert(hit.id);
                }
            }
        }
        let matched_ids: Vec<RecordId> = existing
            .values()
            .copied()
            .collect::<std::collections::HashSet<_>>()
            .into_iter()
            .collect();
        // A match the importer does not see is neither updated nor shown:
        // the row is refused.
        let (seen, hidden): (Vec<Record>, Vec<Record>) = self
            .store
            .get_many(&p.tenant, &matched_ids)
            .await?
            .into_iter()
            .partition(|r| super::access::sees(p, r));
        let hidden: std::collections::HashSet<RecordId> = hidden.iter().map(|r| r.id).collect();
        let mut stored: HashMap<RecordId, Record> = seen.into_iter().map(|r| (r.id, r)).collect();
        // 4. Decide per row. Records touched in this batch are kept here so
        // later rows see earlier ones (duplicates inside the file).
        let mut pending: Vec<(Record, Option<Record>)> = Vec::new();
        let mut pending_index: HashMap<RecordId, usize> = HashMap::new();
        let now = Utc::now();
        for (row, hash, fields) in valid {
            let (hash, mut fields) = (hash.clone(), fields.clone());
            if done.contains(&hash) {
                out.skipped += 1;
                continue;
            }
            let keys = identity_keys(Kind::Person, &fields);
            let matched = if policy == DuplicatePolicy::Create {
                None
            } else {
                keys.iter()
                    .find_map(|k| existing.get(&(k.attr.to_owned(), k.value.clone())).copied())
            };
            match (matched, policy) {
                (Some(_), DuplicatePolicy::Skip) => out.skipped += 1,
                (Some(id), DuplicatePolicy::Update) if hidden.contains(&id) => {
                    out.failed += 1;
                    out.changes.import_errors.push(ImportRowError {
                        row: *row,
                        field: "email".into(),
                        message: "matches a record outside your access; ask its owner or a manager"
                            .into(),
                    });
                }
                (Some(id), DuplicatePolicy::Update) => {
                    let slot = match pending_index.get(&id) {
                        Some(i) => *i,
                        None => {
                            let Some(current) = stored.remove(&id) else {
                                out.skipped += 1;
                                continue;
                            };
                            pending.push((current.clone(), Some(current)));
                            pending_index.insert(id, pending.len() - 1);
                            pending.len() - 1
                        }
                    };
                    let record = &mut pending[slot].0;
                    let before = record.data.fields.clone();
                    overlay(&mut record.data.fields, &fields, mapped);
                    // The same row again changes nothing: a skip, not an update.
                    if record.data.fields == before {
                        out.skipped += 1;
                    } else {
                        out.updated += 1;
                    }
                }
                _ => {
                    super::access::default_assignment(p, &mut fields);
                    let mut record =
                        Record::new(p.tenant.clone(), Kind::Person, fields, p.user.as_str(), now);
                    // Rows with an e-mail, phone or external id are found
                    // again by it on a re-run; the content hash (a random-order
                    // index entry, costly at millions of rows) is kept only for
                    // rows without one, or when duplicates are created on purpose.
                    if keys.is_empty() || policy == DuplicatePolicy::Create {
                        record.data.import_hashes.push(hash);
                    }
                    if policy != DuplicatePolicy::Create {
                        for k in identity_keys(Kind::Person, record.fields()) {
                            existing
                                .entry((k.attr.to_owned(), k.value))
                                .or_insert(record.id);
                        }
                    }
                    pending_index.insert(record.id, pending.len());
                    pending.push((record, None));
                    out.created += 1;
                }
            }
        }
        // 5. The change set: new and updated records with their events.
        for (mut record, previous) in pending {
            match previous {
                None => {
                    out.changes.events.push(events::created(p, &record));
                    out.changes.puts.push(Put {
                        record,
                        previous: None,
                    });
                }
                Some(prev) => {
                    let changed =
                        crate::domain::changed_fields(Kind::Person, prev.fields(), record.fields());
                    if changed.is_empty() {
                        continue;
                    }
                    record.data.version += 1;
                    record.data.update_time = now;
                    record.data.updated_by = p.user.to_string();
                    out.changes
                        .events
                        .push(events::updated(p, &record, changed));
                    if record.fields().owner != prev.fields().owner {
                        out.changes.events.push(events::owner_changed(
                            p,
                            &record,
                            &prev.fields().owner,
                        ));
                    }
                    out.changes.puts.push(Put {
                        record,
                        previous: Some(prev),
                    });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse_all(bytes: Vec<u8>, delimiter: u8) -> (Vec<String>, Vec<Row>) {
        let (header_tx, mut header_rx) = mpsc::channel(1);
        let (rows_tx, mut rows_rx) = mpsc::channel(1024);
        let reader = std::io::Cursor::new(bytes);
        parse(reader, delimiter, &AtomicU64::new(0), &header_tx, &rows_tx).unwrap();
        drop(rows_tx);
        let header = header_rx.try_recv().unwrap().unwrap();
        let mut rows = Vec::new();
        while let Ok(batch) = rows_rx.try_recv() {
            rows.extend(batch);
        }
        (header, rows)
    }

    #[test]
    fn excel_files_parse() {
        let file = "given_name;email;notes\r\nAda;ada@example.com;\"two\r\nlines\"\r\nGrace;grace@example.com;x\r\n";
        assert_eq!(detect_delimiter(file.as_bytes()), b';');
        let (header, rows) = parse_all(file.as_bytes().to_vec(), b';');
        assert_eq!(header, ["given_name", "email", "notes"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].1.as_ref().unwrap()[2], "two\r\nlines");
        assert_eq!(rows[1].0, 2);
    }

    #[test]
    fn a_row_without_end_stops_the_parser_instead_of_filling_memory() {
        let (chunk_tx, chunk_rx) = sync_mpsc::sync_channel(4);
        let since_row = Arc::new(AtomicU64::new(0));
        let reader = ChunkReader {
            chunks: chunk_rx,
            current: Vec::new(),
            pos: 0,
            since_row: since_row.clone(),
        };
        let feeder = std::thread::spawn(move || {
            let _ = chunk_tx.send(Ok(b"a,b\n1,\"never closed".to_vec()));
            for _ in 0..40 {
                if chunk_tx.send(Ok(vec![b'x'; 64 * 1024])).is_err() {
                    return;
                }
            }
        });
        let (header_tx, _header_rx) = mpsc::channel(1);
        let (rows_tx, mut rows_rx) = mpsc::channel(16);
        let outcome = parse(reader, b',', &since_row, &header_tx, &rows_tx);
        assert!(outcome.unwrap_err().contains("longer than"));
        assert!(rows_rx.try_recv().is_err(), "no row is handed on");
        feeder.join().unwrap();
    }

    #[test]
    fn an_interrupted_upload_drops_the_cut_off_row() {
        let (chunk_tx, chunk_rx) = sync_mpsc::sync_channel(4);
        chunk_tx
            .send(Ok(b"email\nann@example.com\nbob@exam".to_vec()))
            .unwrap();
        chunk_tx.send(Err("upload interrupted".to_owned())).unwrap();
        let since_row = Arc::new(AtomicU64::new(0));
        let reader = ChunkReader {
            chunks: chunk_rx,
            current: Vec::new(),
            pos: 0,
            since_row: since_row.clone(),
        };
        let (header_tx, _header_rx) = mpsc::channel(1);
        let (rows_tx, mut rows_rx) = mpsc::channel(16);
        let outcome = parse(reader, b',', &since_row, &header_tx, &rows_tx);
        assert_eq!(outcome.unwrap_err(), "upload interrupted");
        assert!(rows_rx.try_recv().is_err(), "bob@exam is never imported");
    }

    #[test]
    fn bad_rows_are_reported_not_fatal() {
        let file = b"a,b\n1,2\n3\n\xff,4\n5,6\n".to_vec();
        let (_, rows) = parse_all(file, b',');
        assert_eq!(rows.len(), 4);
        assert!(rows[1].1.is_err());
        assert!(rows[2].1.is_err());
        assert_eq!(rows[3].1.as_ref().unwrap(), &["5", "6"]);
    }

    #[test]
    fn updates_take_only_the_rows_non_empty_values() {
        let mut stored = Fields {
            given_name: "Ada".into(),
            email: "ada@example.com".into(),
            job_title: "Analyst".into(),
            custom_fields: [("tier".to_owned(), Value::from("gold"))].into(),
            ..Default::default()
        };
        stored.address.city = "London".into();
        let mut row = Fields {
            job_title: "Countess".into(),
            custom_fields: [("region".to_owned(), Value::from("EU"))].into(),
            ..Default::default()
        };
        row.address.street = "12 St James's Square".into();
        let mapped = ["job_title", "address", "custom_fields"]
            .map(String::from)
            .into();
        overlay(&mut stored, &row, &mapped);
        assert_eq!(stored.given_name, "Ada");
        assert_eq!(stored.email, "ada@example.com");
        assert_eq!(stored.job_title, "Countess");
        assert_eq!(stored.address.city, "London");
        assert_eq!(stored.address.street, "12 St James's Square");
        assert_eq!(stored.custom_fields.len(), 2);
    }

    #[test]
    fn headers_map_by_name_and_by_mapping() {
        let header: Vec<String> = ["First Name", "E-mail", "Mobile", "Tier", "Ignored"]
            .map(String::from)
            .into();
        let mut options = ImportOptions::default();
        options
            .column_mapping
            .insert("Tier".into(), "custom_fields.tier".into());
        let targets = column_targets(&header, &options, &[]);
        assert_eq!(
            targets,
            [
                Some("given_name".into()),
                Some("email".into()),
                Some("phone".into()),
                Some("custom_fields.tier".into()),
                None
            ]
        );
    }

    proptest! {
        // Whatever the fields hold (quotes, separators, newlines), writing
        // them as CSV and importing gives them back, row for row.
        #[test]
        fn csv_round_trips(rows in prop::collection::vec(prop::collection::vec("[a-zA-Z0-9 ,;\"\\n]{0,12}", 3), 1..20),
                           delimiter in prop::sample::select(vec![b',', b';', b'\t'])) {
            let mut w = csv::WriterBuilder::new().delimiter(delimiter).from_writer(Vec::new());
            w.write_record(["a", "b", "c"]).unwrap();
            for r in &rows {
                w.write_record(r).unwrap();
            }
            let bytes = w.into_inner().unwrap();
            prop_assert_eq!(detect_delimiter(&bytes), delimiter);
            let (_, parsed) = parse_all(bytes, delimiter);
            let expected: Vec<&Vec<String>> = rows.iter().filter(|r| !r.iter().all(|v| v.trim().is_empty())).collect();
            prop_assert_eq!(parsed.len(), expected.len());
            for (got, want) in parsed.iter().zip(expected) {
                prop_assert_eq!(got.1.as_ref().unwrap(), want);
            }
        }
    }
}
