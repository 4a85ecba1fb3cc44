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
    /// An `erased` entry masks the values (field names stay, values go) of
    /// every stored entry it reaches (see [`erase_everywhere`]), and an
    /// entry of something already erased is masked as it lands, in the
    /// same write where the backend has transactions.
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

/// An entry that names a person besides its own resource (see
/// `AuditEntry.subjects` and `merged_into`), as the index keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Link {
    /// The entry's resource.
    pub(super) resource: String,
    /// The entry.
    pub(super) id: String,
    /// When it was made.
    pub(super) time: DateTime<Utc>,
    /// Who made it (the by-actor partition holds a copy).
    pub(super) actor: String,
    /// The entry deletes a duplicate merged into the person: the whole
    /// history of its resource is the person's.
    pub(super) alias: bool,
}

/// What a backend offers the erasure rules, inside one write where it can.
#[async_trait]
pub(super) trait Masking: Send + Sync {
    /// Records that `resource` was erased (later arrivals are masked).
    async fn mark_erased(&self, tenant: &TenantId, resource: &str) -> Result<(), StoreError>;
    /// Whether any of `resources` was erased.
    async fn any_erased(&self, tenant: &TenantId, resources: &[&str]) -> Result<bool, StoreError>;
    /// Masks every stored entry of `resource`.
    async fn mask_resource(&self, tenant: &TenantId, resource: &str) -> Result<(), StoreError>;
    /// The stored entries that name `subject`.
    async fn links(&self, tenant: &TenantId, subject: &str) -> Result<Vec<Link>, StoreError>;
    /// Masks one stored entry.
    async fn mask_entry(&self, tenant: &TenantId, link: &Link) -> Result<(), StoreError>;
}

/// Masks what an erasure of `resource` reaches: its own history, the
/// entries naming it (a deal's, task's or interaction's), and, through
/// each duplicate merged into it, that duplicate's history and what names
/// it, however long the chain of merges.
pub(super) async fn erase_everywhere(
    m: &dyn Masking,
    tenant: &TenantId,
    resource: &str,
) -> Result<(), StoreError> {
    let mut todo = vec![resource.to_owned()];
    let mut seen = std::collections::HashSet::new();
    while let Some(next) = todo.pop() {
        if !seen.insert(next.clone()) {
            continue;
        }
        m.mark_erased(tenant, &next).await?;
        m.mask_resource(tenant, &next).await?;
        for link in m.links(tenant, &next).await? {
            if link.alias {
                todo.push(link.resource);
            } else {
                m.mask_entry(tenant, &link).await?;
            }
        }
    }
    Ok(())
}

/// Applies the erasure rules to `r`, just stored with its links: an
/// erasure masks everything it reaches; an entry arriving after the
/// erasure of its resource, of a person it names, or of the survivor its
/// duplicate was merged into is masked as it lands (entries of different
/// records reach the index in any order).
pub(super) async fn follow_erasures(m: &dyn Masking, r: &AuditRecord) -> Result<(), StoreError> {
    let e = &r.entry;
    if e.change == "erased" {
        return erase_everywhere(m, &r.tenant, &e.resource).await;
    }
    let mut whole = vec![e.resource.as_str()];
    if !e.merged_into.is_empty() {
        whole.push(e.merged_into.as_str());
    }
    if m.any_erased(&r.tenant, &whole).await? {
        return erase_everywhere(m, &r.tenant, &e.resource).await;
    }
    let subjects: Vec<&str> = e.subjects.iter().map(String::as_str).collect();
    if !subjects.is_empty() && m.any_erased(&r.tenant, &subjects).await? {
        m.mask_entry(&r.tenant, &link_of(r, false)).await?;
    }
    Ok(())
}

/// The links `r` makes: one per subject, and an alias to its survivor.
pub(super) fn links_of(r: &AuditRecord) -> Vec<(String, Link)> {
    let mut out: Vec<(String, Link)> = r
        .entry
        .subjects
        .iter()
        .map(|s| (s.clone(), link_of(r, false)))
        .collect();
    if !r.entry.merged_into.is_empty() {
        out.push((r.entry.merged_into.clone(), link_of(r, true)));
    }
    out
}

fn link_of(r: &AuditRecord, alias: bool) -> Link {
    Link {
        resource: r.entry.resource.clone(),
        id: r.id.clone(),
        time: r.time,
        actor: r.actor.clone(),
        alias,
    }
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
