//! The state of a CSV import, as stored and reported.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RecordId;

/// What to do with a row whose e-mail, phone or external id exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicatePolicy {
    /// Leave the existing record alone.
    #[default]
    Skip,
    /// Fill the existing record with the row's non-empty values.
    Update,
    /// Create another record.
    Create,
}

/// Where an import is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Waiting for data.
    Pending,
    /// Data is arriving.
    Running,
    /// Every row was read.
    Succeeded,
    /// The upload broke off or the data is not CSV.
    Failed,
}

/// Options given when the import is created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOptions {
    /// CSV header -> field path.
    pub column_mapping: BTreeMap<String, String>,
    /// Duplicate policy.
    pub on_duplicate: DuplicatePolicy,
    /// Field separator; detected when `None`.
    pub delimiter: Option<u8>,
    /// For reporting.
    pub file_name: String,
    /// Size of the file, when known.
    pub expected_bytes: u64,
}

/// An import and its progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportJob {
    /// Its id.
    pub id: RecordId,
    /// Options.
    pub options: ImportOptions,
    /// State.
    pub state: ImportState,
    /// Data rows read.
    pub rows_processed: u64,
    /// Records created.
    pub rows_created: u64,
    /// Records updated.
    pub rows_updated: u64,
    /// Rows skipped (duplicates, or already imported by a previous run).
    pub rows_skipped: u64,
    /// Rows refused.
    pub rows_failed: u64,
    /// Bytes read.
    pub bytes_processed: u64,
    /// Why it failed.
    pub failure: String,
    /// When the data started arriving.
    pub start_time: Option<DateTime<Utc>>,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last progress.
    pub update_time: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
}

impl ImportJob {
    /// A new import waiting for its data.
    pub fn new(options: ImportOptions, created_by: &str, now: DateTime<Utc>) -> Self {
        ImportJob {
            id: RecordId::generate(),
            options,
            state: ImportState::Pending,
            rows_processed: 0,
            rows_created: 0,
            rows_updated: 0,
            rows_skipped: 0,
            rows_failed: 0,
            bytes_processed: 0,
            failure: String::new(),
            start_time: None,
            create_time: now,
            update_time: now,
            created_by: created_by.to_owned(),
        }
    }

    /// Rows per second since the data started arriving.
    pub fn rows_per_second(&self) -> f64 {
        let Some(start) = self.start_time else {
            return 0.0;
        };
        let secs = (self.update_time - start).num_milliseconds() as f64 / 1000.0;
        if secs <= 0.0 {
            0.0
        } else {
            self.rows_processed as f64 / secs
        }
    }

    /// Seconds left, from the byte rate, when the size is known.
    pub fn eta_seconds(&self) -> Option<u64> {
        let start = self.start_time?;
        if self.options.expected_bytes == 0 || self.state != ImportState::Running {
            return None;
        }
        let secs = (self.update_time - start).num_milliseconds() as f64 / 1000.0;
        if self.bytes_processed == 0 || secs <= 0.0 {
            return None;
        }
        let rate = self.bytes_processed as f64 / secs;
        let left = self
            .options
            .expected_bytes
            .saturating_sub(self.bytes_processed) as f64;
        Some((left / rate).ceil() as u64)
    }
}

/// A refused row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRowError {
    /// 1-based data row number.
    pub row: u64,
    /// Failing field (or column).
    pub field: String,
    /// Why.
    pub message: String,
}
