//! People and companies in ScyllaDB.
//!
//! Records are JSON documents keyed by (tenant, id); `record_index` holds
//! every lookup and listing. A change set is applied in two steps (see
//! docs/adr/0107-contacts-record-store.md): first each replaced or deleted
//! record is claimed with a lightweight transaction on its version (undone
//! if a later claim fails), then one LOGGED batch writes new records, index
//! changes, events, audit and import progress, which ScyllaDB applies
//! all-or-nothing.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use async_trait::async_trait;
use rapport_platform::identity::TenantId;
use rapport_store::{
    Outbox, OutboxMessage, StoreError,
    scylla::{CqlMigration, ScyllaSettings, connect},
    scylla_outbox::{INSERT_CQL, OUTBOX_CQL_MIGRATION, ScyllaOutbox},
};
use scylla::{
    client::session::Session,
    statement::{
        batch::{Batch, BatchType},
        prepared::PreparedStatement,
    },
    value::CqlValue,
};
use uuid::Uuid;

use super::{
    ChangeSet, CommitError, ContactStore, DuplicateGroup, Hit, ImportQuota, Record, Scan,
    StartImport, ValueMatch, decode, encode, from_doc, running_imports, to_doc,
};
use crate::domain::{
    CustomFieldDef, ImportJob, ImportRowError, IndexEntry, Kind, RecordId, index::attr,
    index_entries,
};

const MIGRATIONS: &[CqlMigration] = &[
    OUTBOX_CQL_MIGRATION,
    CqlMigration {
        version: "0001_contacts",
        cql: include_str!("../../migrations/scylla/0001_contacts.cql"),
    },
    CqlMigration {
        version: "0002_records",
        cql: include_str!("../../migrations/scylla/0002_records.cql"),
    },
    CqlMigration {
        version: "0003_index_state",
        cql: include_str!("../../migrations/scylla/0003_index_state.cql"),
    },
];

/// The derivation of index entries stored records follow (as in the
/// SQLite backend): 2 added the viewer keys of record-level access.
const INDEX_VERSION: i32 = 2;

const INSERT_RECORD: &str =
    "INSERT INTO records (tenant_id, id, kind, version, doc) VALUES (?, ?, ?, ?, ?)";
const INSERT_ENTRY: &str =
    "INSERT INTO record_index (tenant_id, kind, attr, bucket, value, id) VALUES (?, ?, ?, ?, ?, ?)";
const DELETE_ENTRY: &str = "DELETE FROM record_index WHERE tenant_id = ? AND kind = ? AND attr = ? AND bucket = ? AND value = ? AND id = ?";
const PUT_IMPORT: &str = "INSERT INTO imports (tenant_id, id, doc) VALUES (?, ?, ?)";
const PUT_IMPORT_ERROR: &str =
    "INSERT INTO import_errors (tenant_id, import_id, row, field, message) VALUES (?, ?, ?, ?, ?)";
const PUT_ERASURE: &str = "INSERT INTO erasures (tenant_id, id, record_id, erased_by, erase_time, reason) VALUES (?, ?, ?, ?, ?, ?)";
/// Attributes whose shared values FindDuplicates reports.
const DUPLICATE_ATTRS: &[&str] = &[attr::EMAIL, attr::PHONE, attr::SORT_NAME];
/// Statements per logged batch (a record with its index entries and event
/// is about a dozen), well under ScyllaDB's batch size limits.
const MAX_BATCH_STATEMENTS: usize = 100;
/// Largest id in UUID order, the upper bound of an exact-value scan.
const MAX_UUID: Uuid = Uuid::max();

/// The ScyllaDB backend.
pub struct ScyllaContactStore {
    session: Arc<Session>,
    statements: Statements,
    outbox: Arc<ScyllaOutbox>,
}

struct Statements {
    insert_record: PreparedStatement,
    update_record: PreparedStatement,
    delete_record: PreparedStatement,
    get_record: PreparedStatement,
    insert_entry: PreparedStatement,
    delete_entry: PreparedStatement,
    outbox: PreparedStatement,
    put_import: PreparedStatement,
    put_import_error: PreparedStatement,
    put_erasure: PreparedStatement,
    find: PreparedStatement,
    visible_among: PreparedStatement,
    scan_up: PreparedStatement,
    scan_down: PreparedStatement,
    put_duplicate: PreparedStatement,
    delete_duplicate: PreparedStatement,
    duplicates: PreparedStatement,
    erase_record: PreparedStatement,
}

impl ScyllaContactStore {
    /// Applies `cql` with `values` and the audit entries in one logged batch
    /// (all or nothing).
    async fn with_audit(
        &self,
        cql: &str,
        values: Vec<CqlValue>,
        audit: &[&OutboxMessage],
    ) -> Result<(), StoreError> {
        let mut batch = Batch::new(BatchType::Logged);
        batch.append_statement(cql);
        let mut rows = vec![values];
        for entry in audit {
            batch.append_statement(self.statements.outbox.clone());
            rows.push(ScyllaOutbox::cql_values(entry));
        }
        self.session.batch(&batch, rows).await?;
        Ok(())
    }

    /// Connects, migrates the keyspace and prepares statements.
    pub async fn connect(settings: &ScyllaSettings) -> Result<Self, StoreError> {
        let session = connect(settings, MIGRATIONS).await?;
        let prepare = |cql: &'static str| {
            let session = session.clone();
            async move { session.prepare(cql).await.map_err(StoreError::from) }
        };
        let statements = Statements {
            insert_record: prepare(INSERT_RECORD).await?,
            update_record: prepare("UPDATE records SET version = ?, doc = ? WHERE tenant_id = ? AND id = ? IF version = ?").await?,
            delete_record: prepare("DELETE FROM records WHERE tenant_id = ? AND id = ? IF version = ?").await?,
            get_record: prepare("SELECT doc FROM records WHERE tenant_id = ? AND id = ?").await?,
            insert_entry: prepare(INSERT_ENTRY).await?,
            delete_entry: prepare(DELETE_ENTRY).await?,
            outbox: prepare(INSERT_CQL).await?,
            put_import: prepare(PUT_IMPORT).await?,
            put_import_error: prepare(PUT_IMPORT_ERROR).await?,
            put_erasure: prepare(PUT_ERASURE).await?,
            find: prepare("SELECT value, id FROM record_index WHERE tenant_id = ? AND kind = ? AND attr = ? AND bucket = ? AND value = ?").await?,
            visible_among: prepare("SELECT id FROM record_index WHERE tenant_id = ? AND kind = ? AND attr = ? AND bucket = ? AND value = ? AND id IN ?").await?,
            scan_up: prepare("SELECT value, id FROM record_index WHERE tenant_id = ? AND kind = ? AND attr = ? AND bucket = ? AND (value, id) > (?, ?) AND (value, id) < (?, ?) ORDER BY value ASC, id ASC LIMIT ?").await?,
            scan_down: prepare("SELECT value, id FROM record_index WHERE tenant_id = ? AND kind = ? AND attr = ? AND bucket = ? AND (value, id) > (?, ?) AND (value, id) < (?, ?) ORDER BY value DESC, id DESC LIMIT ?").await?,
            put_duplicate: prepare("INSERT INTO duplicate_keys (tenant_id, kind, attr, value, id) VALUES (?, ?, ?, ?, ?)").await?,
            delete_duplicate: prepare("DELETE FROM duplicate_keys WHERE tenant_id = ? AND kind = ? AND attr = ? AND value = ? AND id = ?").await?,
            erase_record: prepare("DELETE FROM records WHERE tenant_id = ? AND id = ?").await?,
            duplicates: prepare("SELECT attr, value, id FROM duplicate_keys WHERE tenant_id = ? AND kind = ? AND (attr, value) > (?, ?) LIMIT ?").await?,
        };
        let outbox = Arc::new(ScyllaOutbox::new(session.clone()).await?);
        let store = ScyllaContactStore {
            session,
            statements,
            outbox,
        };
        store.reindex().await?;
        Ok(store)
    }

    /// Adds the index entries of every stored record when the stored ones
    /// follow an older derivation. Writing an entry twice changes nothing,
    /// so replicas starting together, or a restart half-way, are harmless;
    /// the version moves only once every record is done.
    async fn reindex(&self) -> Result<(), StoreError> {
        use futures::{StreamExt, TryStreamExt};
        let unavailable =
            |e: &dyn std::fmt::Display| StoreError::Unavailable(format!("reindex: {e}"));
        let version = self
            .session
            .query_unpaged("SELECT version FROM index_state WHERE id = 1", ())
            .await?
            .into_rows_result()?
            .maybe_first_row::<(Option<i32>,)>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
            .and_then(|(v,)| v)
            .unwrap_or(1);
        if version >= INDEX_VERSION {
            return Ok(());
        }
        let mut rows = self
            .session
            .query_iter("SELECT tenant_id, id, doc FROM records", ())
            .await
            .map_err(|e| unavailable(&e))?
            .rows_stream::<(String, Uuid, String)>()
            .map_err(|e| unavailable(&e))?;
        while let Some((tenant_id, id, doc)) = rows.try_next().await.map_err(|e| unavailable(&e))? {
            let tenant = TenantId::parse(&tenant_id)
                .map_err(|_| StoreError::Corrupt("records.tenant_id".into()))?;
            let record = decode(&tenant, &id.to_string(), &doc)?;
            let writes = index_entries(&record).into_iter().map(|e| {
                let row = Self::entry_row(&tenant, record.kind(), &e, &record.id);
                async move {
                    self.session
                        .execute_unpaged(&self.statements.insert_entry, row)
                        .await
                }
            });
            futures::stream::iter(writes)
                .buffer_unordered(32)
                .try_collect::<Vec<_>>()
                .await?;
        }
        self.session
            .query_unpaged(
                "INSERT INTO index_state (id, version) VALUES (1, ?)",
                (INDEX_VERSION,),
            )
            .await?;
        Ok(())
    }

    /// Claims `previous` (LWT on its version), replacing it with `next`
    /// (or deleting it when `next` is `None`).
    async fn claim(
        &self,
        tenant: &TenantId,
        previous: &Record,
        next: Option<&Record>,
    ) -> Result<bool, StoreError> {
        let s = &self.statements;
        let id = uuid(&previous.id);
        let result = match next {
            Some(r) => {
                self.session
                    .execute_unpaged(
                        &s.update_record,
                        (
                            r.data.version as i64,
                            encode(r)?,
                            tenant.as_str(),
                            id,
                            previous.data.version as i64,
                        ),
                    )
                    .await?
            }
            None => {
                self.session
                    .execute_unpaged(
                        &s.delete_record,
                        (tenant.as_str(), id, previous.data.version as i64),
                    )
                    .await?
            }
        };
        let applied = lwt_applied(&result.into_rows_result()?)?;
        Ok(applied)
    }

    /// Puts `previous` back after a later claim of the same change set failed.
    async fn unclaim(&self, tenant: &TenantId, previous: &Record, claimed: Option<&Record>) {
        let s = &self.statements;
        let restore = async {
            match claimed {
                Some(next) => {
                    self.claim(tenant, next, Some(previous)).await?;
                }
                None => {
                    self.session
                        .execute_unpaged(
                            &s.insert_record,
                            (
                                tenant.as_str(),
                                uuid(&previous.id),
                                previous.kind().as_str(),
                                previous.data.version as i64,
                                encode(previous)?,
                            ),
                        )
                        .await?;
                }
            }
            Ok::<_, StoreError>(())
        };
        if let Err(e) = restore.await {
            tracing::error!(record = %previous.id, error = %e, "could not undo a partial change set");
        }
    }

    fn entry_row(tenant: &TenantId, kind: Kind, e: &IndexEntry, id: &RecordId) -> Vec<CqlValue> {
        vec![
            CqlValue::Text(tenant.to_string()),
            CqlValue::Text(kind.as_str().into()),
            CqlValue::Text(e.attr.clone()),
            CqlValue::Text(bucket(&e.attr, &e.value)),
            CqlValue::Text(e.value.clone()),
            CqlValue::Uuid(uuid(id)),
        ]
    }

    /// Records keys now shared by two or more records for FindDuplicates.
    async fn note_duplicates(&self, tenant: &TenantId, cs: &ChangeSet) -> Result<(), StoreError> {
        for put in &cs.puts {
            let kind = put.record.kind();
            for e in index_entries(&put.record)
                .into_iter()
                .filter(|e| DUPLICATE_ATTRS.contains(&e.attr.as_str()))
            {
                let hits = self
                    .find(tenant, kind, &e.attr, std::slice::from_ref(&e.value))
                    .await?;
                if hits.len() > 1 {
                    for h in hits {
                        self.session
                            .execute_unpaged(
                                &self.statements.put_duplicate,
                                (
                                    tenant.as_str(),
                                    kind.as_str(),
                                    e.attr.as_str(),
                                    e.value.as_str(),
                                    uuid(&h.id),
                                ),
                            )
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The partition bucket of an index entry: the value itself for exact
/// keys, the first character for name prefixes.
fn bucket(attr_name: &str, value: &str) -> String {
    if attr_name == attr::NAME || attr_name == attr::SORT_NAME {
        value.chars().next().map(String::from).unwrap_or_default()
    } else {
        value.to_owned()
    }
}

/// Whether a conditional statement (LWT) was applied: its first column,
/// `[applied]`, whatever current values ScyllaDB returns after it.
fn lwt_applied(rows: &scylla::response::query_result::QueryRowsResult) -> Result<bool, StoreError> {
    let row = rows
        .first_row::<scylla::value::Row>()
        .map_err(|e| StoreError::Corrupt(format!("LWT result: {e}")))?;
    match row.columns.first() {
        Some(Some(CqlValue::Boolean(applied))) => Ok(*applied),
        _ => Err(StoreError::Corrupt("LWT result without [applied]".into())),
    }
}

fn uuid(id: &RecordId) -> Uuid {
    Uuid::parse_str(&id.to_string()).unwrap_or_default()
}

/// The statements of one change set, grouped by the record they belong to
/// (in first-seen order), and the rest, which goes last.
#[derive(Default)]
struct Groups<'s> {
    order: Vec<RecordId>,
    by_record: HashMap<RecordId, Vec<Statement<'s>>>,
    last: Vec<Statement<'s>>,
}

/// A prepared statement and its values.
type Statement<'s> = (&'s PreparedStatement, Vec<CqlValue>);

impl<'s> Groups<'s> {
    /// The group of record `id`.
    fn of(&mut self, id: RecordId) -> &mut Vec<Statement<'s>> {
        if !self.by_record.contains_key(&id) {
            self.order.push(id);
        }
        self.by_record.entry(id).or_default()
    }

    /// The group of the record an outbox message is about: events are keyed
    /// `{tenant}/{id}`, audit entries `{tenant}/contacts/{id}`; a message
    /// about no record of the change set goes last.
    fn of_message(&mut self, key: &str) -> &mut Vec<Statement<'s>> {
        let id = key
            .rsplit('/')
            .next()
            .and_then(|id| RecordId::parse(id).ok())
            .filter(|id| self.by_record.contains_key(id));
        match id {
            Some(id) => self.of(id),
            None => &mut self.last,
        }
    }

    fn into_ordered(mut self) -> Vec<Vec<Statement<'s>>> {
        let mut out: Vec<_> = self
            .order
            .iter()
            .filter_map(|id| self.by_record.remove(id))
            .collect();
        out.push(self.last);
        out
    }
}

/// Packs groups into batches of at most `max` statements without splitting
/// a group (a group larger than `max` is a batch of its own), in order.
fn pack<T>(groups: Vec<Vec<T>>, max: usize) -> Vec<Vec<T>> {
    let mut batches: Vec<Vec<T>> = Vec::new();
    let mut current: Vec<T> = Vec::new();
    for group in groups.into_iter().filter(|g| !g.is_empty()) {
        if !current.is_empty() && current.len() + group.len() > max {
            batches.push(std::mem::take(&mut current));
        }
        current.extend(group);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

fn record_id(u: Uuid) -> Result<RecordId, StoreError> {
    RecordId::parse(&u.to_string()).map_err(|_| StoreError::Corrupt("record id".into()))
}

#[async_trait]
impl ContactStore for ScyllaContactStore {
    async fn commit(&self, tenant: &TenantId, cs: &ChangeSet) -> Result<(), CommitError> {
        let s = &self.statements;
        let exempt: HashSet<RecordId> = cs
            .puts
            .iter()
            .map(|p| p.record.id)
            .chain(cs.deletes.iter().map(|r| r.id))
            .collect();
        for key in &cs.unique {
            let hits = self
                .find(tenant, key.kind, key.attr, std::slice::from_ref(&key.value))
                .await?;
            if let Some(h) = hits.into_iter().find(|h| !exempt.contains(&h.id)) {
                return Err(CommitError::Duplicate {
                    attr: key.attr,
                    value: key.value.clone(),
                    existing: h.id,
                });
            }
        }
        // Step 1: claim replaced and deleted records; undo on conflict.
        let mut claimed: Vec<(&Record, Option<&Record>)> = Vec::new();
        // An erasure wins over concurrent edits: its deletes are not
        // conditional and go in the logged batch with their events and audit.
        let erasing = !cs.erasures.is_empty();
        let claims = cs
            .puts
            .iter()
            .filter_map(|p| p.previous.as_ref().map(|prev| (prev, Some(&p.record))))
            .chain(
                cs.deletes
                    .iter()
                    .filter(|_| !erasing)
                    .map(|prev| (prev, None)),
            );
        for (prev, next) in claims {
            match self.claim(tenant, prev, next).await {
                Ok(true) => claimed.push((prev, next)),
                outcome => {
                    for (p, n) in claimed.into_iter().rev() {
                        self.unclaim(tenant, p, n).await;
                    }
                    return Err(match outcome {
                        Err(e) => CommitError::Store(e),
                        _ => CommitError::Conflict(prev.id),
                    });
                }
            }
        }
        // Step 2: everything else in logged batches, each record's writes
        // with its events and audit entry in one group (see `pack`).
        let mut groups = Groups::default();
        let t = || CqlValue::Text(tenant.to_string());
        let forget_duplicate = |kind: Kind, e: &IndexEntry, id: &RecordId| {
            vec![
                CqlValue::Text(tenant.to_string()),
                CqlValue::Text(kind.as_str().into()),
                CqlValue::Text(e.attr.clone()),
                CqlValue::Text(e.value.clone()),
                CqlValue::Uuid(uuid(id)),
            ]
        };
        for put in &cs.puts {
            let r = &put.record;
            let statements = groups.of(r.id);
            let new_entries = index_entries(r);
            let old_entries = match &put.previous {
                Some(prev) => index_entries(prev),
                None => {
                    statements.push((
                        &s.insert_record,
                        vec![
                            t(),
                            CqlValue::Uuid(uuid(&r.id)),
                            CqlValue::Text(r.kind().as_str().into()),
                            CqlValue::BigInt(r.data.version as i64),
                            CqlValue::Text(encode(r)?),
                        ],
                    ));
                    Vec::new()
                }
            };
            for e in old_entries.iter().filter(|e| !new_entries.contains(e)) {
                statements.push((&s.delete_entry, Self::entry_row(tenant, r.kind(), e, &r.id)));
                if DUPLICATE_ATTRS.contains(&e.attr.as_str()) {
                    statements.push((&s.delete_duplicate, forget_duplicate(r.kind(), e, &r.id)));
                }
            }
            for e in new_entries.iter().filter(|e| !old_entries.contains(e)) {
                statements.push((&s.insert_entry, Self::entry_row(tenant, r.kind(), e, &r.id)));
            }
        }
        for prev in &cs.deletes {
            let statements = groups.of(prev.id);
            if erasing {
                statements.push((&s.erase_record, vec![t(), CqlValue::Uuid(uuid(&prev.id))]));
            }
            for e in index_entries(prev) {
                statements.push((
                    &s.delete_entry,
                    Self::entry_row(tenant, prev.kind(), &e, &prev.id),
                ));
                if DUPLICATE_ATTRS.contains(&e.attr.as_str()) {
                    statements.push((
                        &s.delete_duplicate,
                        forget_duplicate(prev.kind(), &e, &prev.id),
                    ));
                }
            }
        }
        for m in &cs.events {
            groups
                .of_message(&m.key)
                .push((&s.outbox, ScyllaOutbox::cql_values(m)));
        }
        for a in &cs.erasures {
            groups.of(a.record_id).push((
                &s.put_erasure,
                vec![
                    t(),
                    CqlValue::Uuid(uuid(&a.id)),
                    CqlValue::Uuid(uuid(&a.record_id)),
                    CqlValue::Text(a.erased_by.clone()),
                    CqlValue::Timestamp(scylla::value::CqlTimestamp(
                        a.erase_time.timestamp_millis(),
                    )),
                    CqlValue::Text(a.reason.clone()),
                ],
            ));
        }
        let statements = &mut groups.last;
        if let Some(job) = &cs.import {
            for e in &cs.import_errors {
                statements.push((
                    &s.put_import_error,
                    vec![
                        t(),
                        CqlValue::Uuid(uuid(&job.id)),
                        CqlValue::BigInt(e.row as i64),
                        CqlValue::Text(e.field.clone()),
                        CqlValue::Text(e.message.clone()),
                    ],
                ));
            }
            // Progress goes last: it is stored only with everything it counts.
            statements.push((
                &s.put_import,
                vec![
                    t(),
                    CqlValue::Uuid(uuid(&job.id)),
                    CqlValue::Text(to_doc(job)?),
                ],
            ));
        }
        // A logged batch has size limits (1 MB by default): large change sets
        // (import batches, big merges) go in consecutive batches. Each batch
        // is all-or-nothing and never splits a record from its events and
        // audit entry; a failure part-way leaves the earlier records applied
        // (each with its entry), which a re-run of the import or merge
        // completes. Import progress goes in the last batch.
        for chunk in pack(groups.into_ordered(), MAX_BATCH_STATEMENTS) {
            let mut batch = Batch::new(BatchType::Logged);
            let mut values: Vec<Vec<CqlValue>> = Vec::with_capacity(chunk.len());
            for (statement, row) in chunk {
                batch.append_statement((*statement).clone());
                values.push(row.clone());
            }
            if let Err(e) = self.session.batch(&batch, values).await {
                for (p, n) in claimed.into_iter().rev() {
                    self.unclaim(tenant, p, n).await;
                }
                return Err(CommitError::Store(e.into()));
            }
        }
        // Best effort: a missed note only hides a group until the next write.
        if let Err(e) = self.note_duplicates(tenant, cs).await {
            tracing::warn!(error = %e, "duplicate keys not noted");
        }
        Ok(())
    }

    async fn get(&self, tenant: &TenantId, id: &RecordId) -> Result<Option<Record>, StoreError> {
        let rows = self
            .session
            .execute_unpaged(&self.statements.get_record, (tenant.as_str(), uuid(id)))
            .await?
            .into_rows_result()?;
        match rows
            .maybe_first_row::<(String,)>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
        {
            Some((doc,)) => decode(tenant, &id.to_string(), &doc).map(Some),
            None => Ok(None),
        }
    }

    async fn get_many(
        &self,
        tenant: &TenantId,
        ids: &[RecordId],
    ) -> Result<Vec<Record>, StoreError> {
        let reads = ids.iter().map(|id| self.get(tenant, id));
        let found = futures::future::try_join_all(reads).await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn scan(&self, tenant: &TenantId, scan: &Scan) -> Result<Vec<Hit>, StoreError> {
        let (prefix, upper) = match &scan.values {
            ValueMatch::Exact(v) => (v.clone(), (v.clone(), MAX_UUID)),
            ValueMatch::Prefix(p) => (p.clone(), (format!("{p}\u{10FFFF}"), Uuid::nil())),
        };
        if matches!(scan.values, ValueMatch::Prefix(_)) && prefix.is_empty() {
            return Err(StoreError::Unsupported(
                "ordering by display_name needs a name query (`query`) on ScyllaDB".into(),
            ));
        }
        let mut lower = (prefix.clone(), Uuid::nil());
        let mut upper = upper;
        if let Some((v, id)) = &scan.after {
            if scan.descending {
                upper = (v.clone(), uuid(id));
            } else {
                lower = (v.clone(), uuid(id));
            }
        }
        let statement = if scan.descending {
            &self.statements.scan_down
        } else {
            &self.statements.scan_up
        };
        let rows = self
            .session
            .execute_unpaged(
                statement,
                (
                    tenant.as_str(),
                    scan.kind.as_str(),
                    scan.attr.as_str(),
                    bucket(&scan.attr, &prefix),
                    lower.0,
                    lower.1,
                    upper.0,
                    upper.1,
                    scan.limit as i32,
                ),
            )
            .await?
            .into_rows_result()?;
        rows.rows::<(String, Uuid)>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
            .map(|r| {
                let (value, id) = r.map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(Hit {
                    value,
                    id: record_id(id)?,
                })
            })
            .collect()
    }

    async fn visible_among(
        &self,
        tenant: &TenantId,
        kind: Kind,
        keys: &[String],
        ids: &[RecordId],
    ) -> Result<BTreeSet<RecordId>, StoreError> {
        let mut out = BTreeSet::new();
        if ids.is_empty() {
            return Ok(out);
        }
        // One partition per viewer key; the ids probe its clustering key.
        let wanted: Vec<Uuid> = ids.iter().map(uuid).collect();
        for key in keys {
            let rows = self
                .session
                .execute_unpaged(
                    &self.statements.visible_among,
                    (
                        tenant.as_str(),
                        kind.as_str(),
                        attr::VIEWER,
                        bucket(attr::VIEWER, key),
                        key.as_str(),
                        &wanted,
                    ),
                )
                .await?
                .into_rows_result()?;
            for r in rows
                .rows::<(Uuid,)>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?
            {
                let (id,) = r.map_err(|e| StoreError::Corrupt(e.to_string()))?;
                out.insert(record_id(id)?);
            }
        }
        Ok(out)
    }

    async fn find(
        &self,
        tenant: &TenantId,
        kind: Kind,
        attr_name: &str,
        values: &[String],
    ) -> Result<Vec<Hit>, StoreError> {
        let mut out = Vec::new();
        for value in values {
            let rows = self
                .session
                .execute_unpaged(
                    &self.statements.find,
                    (
                        tenant.as_str(),
                        kind.as_str(),
                        attr_name,
                        bucket(attr_name, value),
                        value.as_str(),
                    ),
                )
                .await?
                .into_rows_result()?;
            for r in rows
                .rows::<(String, Uuid)>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?
            {
                let (v, id) = r.map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if &v == value {
                    out.push(Hit {
                        value: v,
                        id: record_id(id)?,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn count(
        &self,
        _: &TenantId,
        _: Kind,
        _: &str,
        _: &str,
    ) -> Result<Option<u64>, StoreError> {
        // Counting a partition is a full read of it: not cheap here.
        Ok(None)
    }

    async fn duplicate_groups(
        &self,
        tenant: &TenantId,
        kind: Kind,
        after: Option<(String, String)>,
        limit: usize,
    ) -> Result<Vec<DuplicateGroup>, StoreError> {
        let (mut after_attr, mut after_value) = after.unwrap_or_default();
        let mut groups: Vec<DuplicateGroup> = Vec::new();
        // Noted groups may be stale (merged, erased, changed): re-check
        // each against the index and keep those still shared.
        while groups.len() < limit {
            let rows = self
                .session
                .execute_unpaged(
                    &self.statements.duplicates,
                    (
                        tenant.as_str(),
                        kind.as_str(),
                        after_attr.as_str(),
                        after_value.as_str(),
                        500i32,
                    ),
                )
                .await?
                .into_rows_result()?;
            let mut keys: Vec<(String, String)> = Vec::new();
            for r in rows
                .rows::<(String, String, Uuid)>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?
            {
                let (a, v, _) = r.map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if keys.last() != Some(&(a.clone(), v.clone())) {
                    keys.push((a, v));
                }
            }
            if keys.is_empty() {
                break;
            }
            for (a, v) in keys {
                (after_attr, after_value) = (a.clone(), v.clone());
                let mut ids: Vec<RecordId> = self
                    .find(tenant, kind, &a, std::slice::from_ref(&v))
                    .await?
                    .into_iter()
                    .map(|h| h.id)
                    .collect();
                if ids.len() > 1 && groups.len() < limit {
                    ids.sort();
                    groups.push(DuplicateGroup {
                        attr: a,
                        value: v,
                        ids,
                    });
                }
            }
        }
        Ok(groups)
    }

    async fn create_custom_field(
        &self,
        tenant: &TenantId,
        def: &CustomFieldDef,
        audit: &OutboxMessage,
    ) -> Result<bool, StoreError> {
        let doc = to_doc(def)?;
        let rows = self
            .session
            .query_unpaged(
                "INSERT INTO custom_fields (tenant_id, kind, key, doc) VALUES (?, ?, ?, ?) IF NOT EXISTS",
                (tenant.as_str(), def.kind.as_str(), def.key.as_str(), doc),
            )
            .await?
            .into_rows_result()?;
        let applied = lwt_applied(&rows)?;
        // A conditional insert cannot share a batch with the outbox (another
        // partition): the entry follows it, and a crash in between loses
        // it (docs/adr/0123-audit-trail.md; claimed keys, issue 19).
        if applied {
            self.record_audit(tenant, std::slice::from_ref(audit))
                .await?;
        }
        Ok(applied)
    }

    async fn custom_fields(
        &self,
        tenant: &TenantId,
        kind: Option<Kind>,
    ) -> Result<Vec<CustomFieldDef>, StoreError> {
        let rows = self
            .session
            .query_unpaged(
                "SELECT doc FROM custom_fields WHERE tenant_id = ?",
                (tenant.as_str(),),
            )
            .await?
            .into_rows_result()?;
        let mut out = Vec::new();
        for r in rows
            .rows::<(String,)>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
        {
            let (doc,) = r.map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let def: CustomFieldDef = from_doc("custom_fields", &doc)?;
            if kind.is_none_or(|k| k == def.kind) {
                out.push(def);
            }
        }
        Ok(out)
    }

    async fn delete_custom_field(
        &self,
        tenant: &TenantId,
        kind: Kind,
        key: &str,
        audit: &OutboxMessage,
    ) -> Result<bool, StoreError> {
        let existed = self
            .custom_fields(tenant, Some(kind))
            .await?
            .iter()
            .any(|d| d.key == key);
        if existed {
            self.with_audit(
                "DELETE FROM custom_fields WHERE tenant_id = ? AND kind = ? AND key = ?",
                vec![
                    CqlValue::Text(tenant.to_string()),
                    CqlValue::Text(kind.as_str().to_owned()),
                    CqlValue::Text(key.to_owned()),
                ],
                &[audit],
            )
            .await?;
        }
        Ok(existed)
    }

    async fn phone_region(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        let rows = self
            .session
            .query_unpaged(
                "SELECT default_phone_region FROM contact_settings WHERE tenant_id = ?",
                (tenant.as_str(),),
            )
            .await?
            .into_rows_result()?;
        Ok(rows
            .maybe_first_row::<(Option<String>,)>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
            .and_then(|(r,)| r))
    }

    async fn set_phone_region(
        &self,
        tenant: &TenantId,
        region: &str,
        audit: &OutboxMessage,
    ) -> Result<(), StoreError> {
        self.with_audit(
            "INSERT INTO contact_settings (tenant_id, default_phone_region) VALUES (?, ?)",
            vec![
                CqlValue::Text(tenant.to_string()),
                CqlValue::Text(region.to_owned()),
            ],
            &[audit],
        )
        .await
    }

    async fn put_import(
        &self,
        tenant: &TenantId,
        job: &ImportJob,
        audit: Option<&OutboxMessage>,
    ) -> Result<(), StoreError> {
        let doc = to_doc(job)?;
        self.with_audit(
            PUT_IMPORT,
            vec![
                CqlValue::Text(tenant.to_string()),
                CqlValue::Uuid(uuid(&job.id)),
                CqlValue::Text(doc),
            ],
            &audit.into_iter().collect::<Vec<_>>(),
        )
        .await
    }

    async fn record_audit(
        &self,
        _tenant: &TenantId,
        entries: &[OutboxMessage],
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new(BatchType::Logged);
        let mut rows = Vec::with_capacity(entries.len());
        for entry in entries {
            batch.append_statement(self.statements.outbox.clone());
            rows.push(ScyllaOutbox::cql_values(entry));
        }
        self.session.batch(&batch, rows).await?;
        Ok(())
    }

    async fn start_import(
        &self,
        tenant: &TenantId,
        pending: &ImportJob,
        running: &ImportJob,
        quota: &ImportQuota,
    ) -> Result<StartImport, StoreError> {
        // Counted, then switched by a lightweight transaction: two uploads
        // starting in the same instant on two replicas may both take the
        // last slot (the quota is then exceeded by one; issue 19).
        let rows = self
            .session
            .query_unpaged(
                "SELECT doc FROM imports WHERE tenant_id = ?",
                (tenant.as_str(),),
            )
            .await?
            .into_rows_result()?;
        let mut jobs = Vec::new();
        for row in rows.rows::<(String,)>()? {
            jobs.push(from_doc::<ImportJob>("import", &row?.0)?);
        }
        let busy = running_imports(&jobs, quota);
        if busy >= quota.max_running {
            return Ok(StartImport::QuotaReached(busy));
        }
        let rows = self
            .session
            .query_unpaged(
                "UPDATE imports SET doc = ? WHERE tenant_id = ? AND id = ? IF doc = ?",
                (
                    to_doc(running)?,
                    tenant.as_str(),
                    uuid(&pending.id),
                    to_doc(pending)?,
                ),
            )
            .await?
            .into_rows_result()?;
        Ok(if lwt_applied(&rows)? {
            StartImport::Started
        } else {
            StartImport::NotPending
        })
    }

    async fn get_import(
        &self,
        tenant: &TenantId,
        id: &RecordId,
    ) -> Result<Option<ImportJob>, StoreError> {
        let rows = self
            .session
            .query_unpaged(
                "SELECT doc FROM imports WHERE tenant_id = ? AND id = ?",
                (tenant.as_str(), uuid(id)),
            )
            .await?
            .into_rows_result()?;
        match rows
            .maybe_first_row::<(String,)>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
        {
            Some((doc,)) => from_doc("imports", &doc).map(Some),
            None => Ok(None),
        }
    }

    async fn import_errors(
        &self,
        tenant: &TenantId,
        import: &RecordId,
        after_row: u64,
        limit: usize,
    ) -> Result<Vec<ImportRowError>, StoreError> {
        let rows = self
            .session
            .query_unpaged(
                "SELECT row, field, message FROM import_errors WHERE tenant_id = ? AND import_id = ? AND row > ? LIMIT ?",
                (tenant.as_str(), uuid(import), after_row as i64, limit as i32),
            )
            .await?
            .into_rows_result()?;
        rows.rows::<(i64, String, String)>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
            .map(|r| {
                let (row, field, message) = r.map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(ImportRowError {
                    row: row as u64,
                    field,
                    message,
                })
            })
            .collect()
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.outbox.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::pack;

    #[test]
    fn batches_never_split_a_record_from_its_events_and_audit_entry() {
        // Groups of 40, 70, 20, 130 and 5 statements, at most 100 a batch.
        let groups: Vec<Vec<(usize, usize)>> = [40, 70, 20, 130, 5]
            .iter()
            .enumerate()
            .map(|(g, n)| (0..*n).map(|i| (g, i)).collect())
            .collect();
        let batches = pack(groups, 100);
        let shape: Vec<Vec<usize>> = batches
            .iter()
            .map(|b| {
                let mut gs: Vec<usize> = b.iter().map(|(g, _)| *g).collect();
                gs.dedup();
                gs
            })
            .collect();
        // 40 | 70+20 | 130 alone | 5: no group in two batches, order kept.
        assert_eq!(shape, vec![vec![0], vec![1, 2], vec![3], vec![4]]);
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 265);
        assert!(pack(Vec::<Vec<u8>>::new(), 100).is_empty());
    }
}
