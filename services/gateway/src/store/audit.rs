//! The audit trail as the gateway indexes it: entries consumed from
//! `rapport.audit.v1`, queryable per record and per user, newest first.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rapport_platform::identity::TenantId;
use rapport_proto::events::v1::AuditEntry;
use rapport_store::StoreError;

/// One stored entry.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    /// The tenant whose record changed.
    pub tenant: TenantId,
    /// The entry's id (the event id, a UUIDv7).
    pub id: String,
    /// When the change happened.
    pub time: DateTime<Utc>,
    /// Who made it (the principal's user id; `apikey:{id}` for a key).
    pub actor: String,
    /// The service that made it (`/rapport/contacts`, ...).
    pub source: String,
    /// What changed.
    pub entry: AuditEntry,
}

/// Which entries to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditFilter {
    /// Entries about one record (`contacts/{id}`).
    Resource(String),
    /// Entries made by one user or key.
    Actor(String),
}

/// Where a page starts: after the entry at (time, id), going back in time.
pub type AuditCursor = (DateTime<Utc>, String);

/// Storage of the indexed audit trail, scoped by tenant.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Stores entries; an entry already stored (same id) is left as it is.
    /// An `erased` entry masks the values of every stored entry of its
    /// resource (field names stay, values go), in the same write.
    async fn append(&self, records: &[AuditRecord]) -> Result<(), StoreError>;
    /// Up to `limit` entries matching `filter`, newest first, older than
    /// `after` when given.
    async fn entries(
        &self,
        tenant: &TenantId,
        filter: &AuditFilter,
        after: Option<&AuditCursor>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Deletes entries older than `before` (every tenant); returns how
    /// many. Backends that expire entries by themselves return 0.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// The entry with its values removed: what remains of a record's history
/// once the person is erased.
pub fn masked(mut entry: AuditEntry) -> AuditEntry {
    for change in &mut entry.changes {
        change.old_value.clear();
        change.new_value.clear();
        change.masked = true;
    }
    entry
}
