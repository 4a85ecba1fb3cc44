//! Where people and companies live: the [`ContactStore`] trait and its
//! backends (SQLite for monolithic mode, ScyllaDB for distributed mode).
//!
//! Every write goes through [`ContactStore::commit`]: records with their
//! index entries, version checks, uniqueness checks, events, audit rows and
//! import progress are applied together or not at all (see
//! docs/adr/0107-contacts-record-store.md).

#[cfg(test)]
mod contract;
mod legacy;
mod scylla;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::{StoreSettings, identity::TenantId};
use rapport_store::{Outbox, OutboxMessage, StoreError};

use crate::domain::{CustomFieldDef, ImportJob, ImportRowError, Kind, Record, RecordId};

pub use self::scylla::ScyllaContactStore;
pub use self::sqlite::SqliteContactStore;

/// A record to write. `previous` is the version read before the change
/// (`None` for a new record); the write fails with [`CommitError::Conflict`]
/// if the stored version is no longer that one.
#[derive(Clone, Debug)]
pub struct Put {
    /// The new state.
    pub record: Record,
    /// The state it replaces.
    pub previous: Option<Record>,
}

/// A key that must not belong to any record outside this change set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UniqueKey {
    /// Person or company.
    pub kind: Kind,
    /// `email`, `phone` or `external_id`.
    pub attr: &'static str,
    /// The normalised value.
    pub value: String,
}

/// Audit entry of an erasure: who and when, no personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErasureAudit {
    /// Id of the entry.
    pub id: RecordId,
    /// The erased record's id (a random UUID, not personal data).
    pub record_id: RecordId,
    /// Who erased it.
    pub erased_by: String,
    /// When.
    pub erase_time: DateTime<Utc>,
    /// The request reference given by the caller.
    pub reason: String,
}

/// Everything one atomic write changes.
#[derive(Clone, Debug, Default)]
pub struct ChangeSet {
    /// Records created or replaced.
    pub puts: Vec<Put>,
    /// Records deleted (their last read state).
    pub deletes: Vec<Record>,
    /// Keys that must be unique among the tenant's other records.
    pub unique: Vec<UniqueKey>,
    /// Events to publish.
    pub events: Vec<OutboxMessage>,
    /// Erasure audit entries. A change set with erasures deletes its
    /// `deletes` whatever their version: an erasure wins over concurrent
    /// edits (and its index entries go with the record in one write).
    pub erasures: Vec<ErasureAudit>,
    /// Import progress stored with the rows it counts.
    pub import: Option<ImportJob>,
    /// Refused import rows.
    pub import_errors: Vec<ImportRowError>,
}

impl ChangeSet {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.deletes.is_empty() && self.import.is_none()
    }
}

/// The tenant's limit on imports running at once.
#[derive(Clone, Debug)]
pub struct ImportQuota {
    /// Most imports of one tenant running at once.
    pub max_running: usize,
    /// Running imports with no progress since are not counted.
    pub stale_before: DateTime<Utc>,
}

/// What [`ContactStore::start_import`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartImport {
    /// The import is running now.
    Started,
    /// Another upload started it first (or it is no longer pending).
    NotPending,
    /// The tenant already runs this many imports.
    QuotaReached(usize),
}

/// Running imports of the tenant that count against its quota.
pub(crate) fn running_imports(jobs: &[ImportJob], quota: &ImportQuota) -> usize {
    jobs.iter()
        .filter(|j| {
            j.state == crate::domain::ImportState::Running && j.update_time >= quota.stale_before
        })
        .count()
}

/// Why a commit was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// A record changed since it was read.
    #[error("record {0} changed concurrently")]
    Conflict(RecordId),
    /// A unique key belongs to another record.
    #[error("{attr} {value:?} belongs to {existing}")]
    Duplicate {
        /// The key's attribute.
        attr: &'static str,
        /// Its value.
        value: String,
        /// The record that has it.
        existing: RecordId,
    },
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which index entries a scan reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueMatch {
    /// Entries with exactly this value, in id order.
    Exact(String),
    /// Entries whose value starts with this, in (value, id) order.
    Prefix(String),
}

/// A range scan over one index attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// Person or company.
    pub kind: Kind,
    /// Attribute (see `domain::index::attr`).
    pub attr: String,
    /// Values to read.
    pub values: ValueMatch,
    /// Start after this (value, id), exclusive.
    pub after: Option<(String, RecordId)>,
    /// Newest / highest first.
    pub descending: bool,
    /// Most entries to return.
    pub limit: usize,
}

/// An index entry found by a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The entry's value.
    pub value: String,
    /// The record.
    pub id: RecordId,
}

/// Records sharing a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateGroup {
    /// `email`, `phone` or `sort_name`.
    pub attr: String,
    /// The shared value.
    pub value: String,
    /// The records, oldest first.
    pub ids: Vec<RecordId>,
}

/// Storage of people, companies, custom fields, settings and imports.
/// Every method is scoped by tenant.
#[async_trait]
pub trait ContactStore: Send + Sync + 'static {
    /// Applies a change set atomically.
    async fn commit(&self, tenant: &TenantId, changes: &ChangeSet) -> Result<(), CommitError>;
    /// The record with `id`, if the tenant has it.
    async fn get(&self, tenant: &TenantId, id: &RecordId) -> Result<Option<Record>, StoreError>;
    /// The records with these ids that exist, in the order asked.
    async fn get_many(
        &self,
        tenant: &TenantId,
        ids: &[RecordId],
    ) -> Result<Vec<Record>, StoreError>;
    /// Index entries in order.
    async fn scan(&self, tenant: &TenantId, scan: &Scan) -> Result<Vec<Hit>, StoreError>;
    /// Which of `ids` carry any of the viewer `keys`: a visibility check
    /// from the index alone, so hidden records are never loaded.
    async fn visible_among(
        &self,
        tenant: &TenantId,
        kind: Kind,
        keys: &[String],
        ids: &[RecordId],
    ) -> Result<std::collections::BTreeSet<RecordId>, StoreError>;
    /// Index entries with any of `values` (batch key lookup).
    async fn find(
        &self,
        tenant: &TenantId,
        kind: Kind,
        attr: &str,
        values: &[String],
    ) -> Result<Vec<Hit>, StoreError>;
    /// How many entries have exactly `value`, when the backend can count
    /// cheaply (`None` otherwise).
    async fn count(
        &self,
        tenant: &TenantId,
        kind: Kind,
        attr: &str,
        value: &str,
    ) -> Result<Option<u64>, StoreError>;
    /// Groups of records sharing an e-mail, phone or folded name, after
    /// `after` (attr, value), at most `limit` groups.
    async fn duplicate_groups(
        &self,
        tenant: &TenantId,
        kind: Kind,
        after: Option<(String, String)>,
        limit: usize,
    ) -> Result<Vec<DuplicateGroup>, StoreError>;

    /// Adds a custom field definition with its audit entry; `false` (and
    /// nothing written) if the key exists.
    async fn create_custom_field(
        &self,
        tenant: &TenantId,
        def: &CustomFieldDef,
        audit: &OutboxMessage,
    ) -> Result<bool, StoreError>;
    /// The tenant's definitions (of `kind`, or all).
    async fn custom_fields(
        &self,
        tenant: &TenantId,
        kind: Option<Kind>,
    ) -> Result<Vec<CustomFieldDef>, StoreError>;
    /// Removes a definition with its audit entry; `false` (and nothing
    /// written) if there was none.
    async fn delete_custom_field(
        &self,
        tenant: &TenantId,
        kind: Kind,
        key: &str,
        audit: &OutboxMessage,
    ) -> Result<bool, StoreError>;

    /// The tenant's default phone region, if set.
    async fn phone_region(&self, tenant: &TenantId) -> Result<Option<String>, StoreError>;
    /// Sets the tenant's default phone region, with its audit entry.
    async fn set_phone_region(
        &self,
        tenant: &TenantId,
        region: &str,
        audit: &OutboxMessage,
    ) -> Result<(), StoreError>;

    /// Stores an import's state (creation and state changes; progress
    /// travels in change sets), with the audit entry of a creation.
    async fn put_import(
        &self,
        tenant: &TenantId,
        job: &ImportJob,
        audit: Option<&OutboxMessage>,
    ) -> Result<(), StoreError>;
    /// Replaces `pending` with `running` only if the stored import is still
    /// exactly `pending` and fewer than `quota.max_running` other imports of
    /// the tenant run (one whose progress is older than `quota.stale_before`
    /// was abandoned by a crashed replica and does not count).
    async fn start_import(
        &self,
        tenant: &TenantId,
        pending: &ImportJob,
        running: &ImportJob,
        quota: &ImportQuota,
    ) -> Result<StartImport, StoreError>;
    /// An import.
    async fn get_import(
        &self,
        tenant: &TenantId,
        id: &RecordId,
    ) -> Result<Option<ImportJob>, StoreError>;
    /// Refused rows of an import after row `after_row`, in row order.
    async fn import_errors(
        &self,
        tenant: &TenantId,
        import: &RecordId,
        after_row: u64,
        limit: usize,
    ) -> Result<Vec<ImportRowError>, StoreError>;

    /// Writes audit entries of reads (exports, data-protection documents):
    /// the read goes ahead only once its entry is stored.
    async fn record_audit(
        &self,
        tenant: &TenantId,
        entries: &[OutboxMessage],
    ) -> Result<(), StoreError>;

    /// The outbox the relay publishes from.
    fn outbox(&self) -> Arc<dyn Outbox>;
}

/// Opens the configured backend, applying pending migrations.
pub async fn open(settings: &StoreSettings) -> Result<Arc<dyn ContactStore>, StoreError> {
    Ok(match settings {
        StoreSettings::Sqlite(path) => Arc::new(SqliteContactStore::open(path).await?),
        StoreSettings::Scylla(s) => Arc::new(ScyllaContactStore::connect(s).await?),
    })
}

/// Encodes a stored document (custom field definition, import) as JSON.
pub(crate) fn to_doc<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("encode: {e}")))
}

/// Decodes a stored JSON document; `what` names it in the error.
pub(crate) fn from_doc<T: serde::de::DeserializeOwned>(
    what: &str,
    doc: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Encodes a record for storage (JSON of its data).
pub(crate) fn encode(record: &Record) -> Result<String, StoreError> {
    serde_json::to_string(&record.data).map_err(|e| StoreError::Corrupt(format!("encode: {e}")))
}

/// Decodes a stored record.
pub(crate) fn decode(tenant: &TenantId, id: &str, doc: &str) -> Result<Record, StoreError> {
    Ok(Record {
        tenant: tenant.clone(),
        id: RecordId::parse(id).map_err(|_| StoreError::Corrupt(format!("record id {id:?}")))?,
        data: serde_json::from_str(doc)
            .map_err(|e| StoreError::Corrupt(format!("record {id}: {e}")))?,
    })
}
