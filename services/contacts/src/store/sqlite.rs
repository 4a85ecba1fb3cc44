//! People and companies in SQLite: a JSON document per record plus the
//! `record_index` query table, written in one transaction per change set.

use std::{
    collections::{BTreeSet, HashSet},
    path::Path,
    sync::Arc,
};

use async_trait::async_trait;
use rapport_platform::identity::TenantId;
use rapport_store::{
    Outbox, OutboxMessage, StoreError,
    sqlite::{Migration, OUTBOX_MIGRATION, SqliteDb, insert_outbox, query_all},
};

use super::{
    ChangeSet, CommitError, ContactStore, DuplicateGroup, Hit, ImportQuota, Scan, StartImport,
    ValueMatch, decode, encode, from_doc, running_imports, to_doc,
};
use crate::domain::{
    CustomFieldDef, ImportJob, ImportRowError, Kind, RecordId, index::attr, index_entries,
};

const MIGRATIONS: &[Migration] = &[
    OUTBOX_MIGRATION,
    Migration {
        version: "0001_contacts",
        sql: include_str!("../../migrations/sqlite/0001_contacts.sql"),
    },
    Migration {
        version: "0002_records",
        sql: include_str!("../../migrations/sqlite/0002_records.sql"),
    },
    Migration {
        version: "0003_index_state",
        sql: include_str!("../../migrations/sqlite/0003_index_state.sql"),
    },
];

/// Sorts after every character a prefix can be followed by.
const PREFIX_END: char = '\u{10FFFF}';

/// The SQLite backend.
#[derive(Debug)]
pub struct SqliteContactStore {
    db: Arc<SqliteDb>,
}

impl SqliteContactStore {
    /// Opens the database file, applying migrations, and moves contacts
    /// stored by the first release (table `contacts`) into records.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let store = SqliteContactStore {
            db: Arc::new(SqliteDb::open(path, MIGRATIONS).await?),
        };
        super::legacy::adopt_sqlite_contacts(&store).await?;
        store.reindex().await?;
        Ok(store)
    }

    pub(super) fn db(&self) -> &SqliteDb {
        &self.db
    }

    /// Adds the index entries the current derivation has and the stored
    /// entries lack, when the stored ones follow an older derivation; a
    /// batch of records per transaction, so a crash resumes from the start
    /// (adding is idempotent) and the version moves only at the end.
    async fn reindex(&self) -> Result<(), StoreError> {
        let version = self
            .db
            .read(|conn| async move {
                let mut rows = conn
                    .query("SELECT version FROM index_state WHERE id = 1", ())
                    .await?;
                Ok(match rows.next().await? {
                    Some(row) => row.get::<i64>(0)?,
                    None => 1,
                })
            })
            .await?;
        if version >= INDEX_VERSION {
            return Ok(());
        }
        let mut after = (String::new(), String::new());
        loop {
            let from = after.clone();
            let batch: Vec<(String, String, String, String)> = self
                .db
                .read(move |conn| async move {
                    let mut rows = conn
                        .query(
                            "SELECT tenant_id, id, kind, doc FROM records WHERE (tenant_id, id) > (?1, ?2) ORDER BY tenant_id, id LIMIT 500",
                            [from.0, from.1],
                        )
                        .await?;
                    let mut out = Vec::new();
                    while let Some(row) = rows.next().await? {
                        out.push((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?));
                    }
                    Ok(out)
                })
                .await?;
            let Some(last) = batch.last() else { break };
            after = (last.0.clone(), last.1.clone());
            let mut entries = Vec::new();
            for (tenant_id, id, kind, doc) in &batch {
                let tenant = TenantId::parse(tenant_id)
                    .map_err(|_| StoreError::Corrupt("records.tenant_id".into()))?;
                for e in index_entries(&decode(&tenant, id, doc)?) {
                    entries.push(
                        [tenant_id, kind, &e.attr, &e.value, id]
                            .map(|v| libsql::Value::Text(v.clone()))
                            .to_vec(),
                    );
                }
            }
            self.db
                .write(move |tx| async move {
                    insert_rows(
                        &tx,
                        "INSERT OR IGNORE INTO record_index (tenant_id, kind, attr, value, id)",
                        5,
                        entries,
                    )
                    .await
                    .map_err(StoreError::from)
                })
                .await?;
        }
        self.db
            .write(|tx| async move {
                tx.execute(
                    "INSERT INTO index_state (id, version) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                    [INDEX_VERSION],
                )
                .await?;
                Ok::<_, StoreError>(())
            })
            .await
    }
}

/// The derivation of index entries stored records follow: 2 added the
/// viewer keys of record-level access.
const INDEX_VERSION: i64 = 2;

fn err(e: libsql::Error) -> CommitError {
    CommitError::Store(e.into())
}

async fn apply(
    tx: &libsql::Connection,
    tenant: &TenantId,
    cs: &ChangeSet,
) -> Result<(), CommitError> {
    let t = tenant.as_str();
    let exempt: HashSet<RecordId> = cs
        .puts
        .iter()
        .map(|p| p.record.id)
        .chain(cs.deletes.iter().map(|r| r.id))
        .collect();
    for key in &cs.unique {
        let mut rows = tx
            .query(
                "SELECT id FROM record_index WHERE tenant_id = ?1 AND kind = ?2 AND attr = ?3 AND value = ?4",
                [t, key.kind.as_str(), key.attr, key.value.as_str()],
            )
            .await
            .map_err(err)?;
        while let Some(row) = rows.next().await.map_err(err)? {
            let id = RecordId::parse(&row.get::<String>(0).map_err(err)?)
                .map_err(|_| StoreError::Corrupt("record_index.id".into()))?;
            if !exempt.contains(&id) {
                return Err(CommitError::Duplicate {
                    attr: key.attr,
                    value: key.value.clone(),
                    existing: id,
                });
            }
        }
    }

    let update_record = tx
        .prepare("UPDATE records SET version = ?3, doc = ?4 WHERE tenant_id = ?1 AND id = ?2 AND version = ?5")
        .await
        .map_err(err)?;
    let delete_record = tx
        .prepare("DELETE FROM records WHERE tenant_id = ?1 AND id = ?2 AND version = ?3")
        .await
        .map_err(err)?;
    let delete_entry = tx
        .prepare("DELETE FROM record_index WHERE tenant_id = ?1 AND kind = ?2 AND attr = ?3 AND value = ?4 AND id = ?5")
        .await
        .map_err(err)?;
    let text = |s: &str| libsql::Value::Text(s.to_owned());
    let mut new_records = Vec::new();
    let mut new_entries = Vec::new();

    for put in &cs.puts {
        let r = &put.record;
        let id = r.id.to_string();
        let kind = r.kind().as_str();
        let doc = encode(r)?;
        let old_entries = match &put.previous {
            None => {
                new_records.push(vec![
                    text(t),
                    text(&id),
                    text(kind),
                    libsql::Value::Integer(r.data.version as i64),
                    libsql::Value::Text(doc),
                ]);
                Vec::new()
            }
            Some(prev) => {
                let changed = update_record
                    .execute(libsql::params![
                        t,
                        id.as_str(),
                        r.data.version as i64,
                        doc,
                        prev.data.version as i64
                    ])
                    .await
                    .map_err(err)?;
                update_record.reset();
                if changed != 1 {
                    return Err(CommitError::Conflict(r.id));
                }
                index_entries(prev)
            }
        };
        let entries = index_entries(r);
        for e in old_entries.iter().filter(|e| !entries.contains(e)) {
            delete_entry
                .execute([t, kind, e.attr.as_str(), e.value.as_str(), id.as_str()])
                .await
                .map_err(err)?;
            delete_entry.reset();
        }
        for e in entries.into_iter().filter(|e| !old_entries.contains(e)) {
            new_entries.push((kind, e.attr, e.value, id.clone()));
        }
    }
    // An erasure wins over concurrent edits: delete whatever the version,
    // with the index entries of what is stored now.
    let erasing = !cs.erasures.is_empty();
    for prev in &cs.deletes {
        let id = prev.id.to_string();
        let kind = prev.kind().as_str();
        let stored;
        let prev = if erasing {
            let mut rows = tx
                .query(
                    "SELECT doc FROM records WHERE tenant_id = ?1 AND id = ?2",
                    [t, id.as_str()],
                )
                .await
                .map_err(err)?;
            match rows.next().await.map_err(err)? {
                Some(row) => {
                    stored = decode(tenant, &id, &row.get::<String>(0).map_err(err)?)?;
                    &stored
                }
                None => return Err(CommitError::Conflict(prev.id)),
            }
        } else {
            prev
        };
        let changed = delete_record
            .execute(libsql::params![t, id.as_str(), prev.data.version as i64])
            .await
            .map_err(err)?;
        delete_record.reset();
        if changed != 1 {
            return Err(CommitError::Conflict(prev.id));
        }
        for e in index_entries(prev) {
            delete_entry
                .execute([t, kind, e.attr.as_str(), e.value.as_str(), id.as_str()])
                .await
                .map_err(err)?;
            delete_entry.reset();
        }
    }
    insert_rows(
        tx,
        "INSERT INTO records (tenant_id, id, kind, version, doc)",
        5,
        new_records,
    )
    .await
    .map_err(err)?;
    // In key order, each B-tree page is visited once per batch.
    new_entries.sort_unstable();
    let new_entries = new_entries
        .into_iter()
        .map(|(kind, attr, value, id)| {
            vec![
                text(t),
                text(kind),
                libsql::Value::Text(attr),
                libsql::Value::Text(value),
                libsql::Value::Text(id),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "INSERT OR IGNORE INTO record_index (tenant_id, kind, attr, value, id)",
        5,
        new_entries,
    )
    .await
    .map_err(err)?;
    let events = cs
        .events
        .iter()
        .map(|m| {
            vec![
                text(&m.event_id),
                text(&m.topic),
                text(&m.key),
                libsql::Value::Blob(m.payload.clone()),
                libsql::Value::Text(rapport_store::outbox::encode_headers(&m.headers)),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "INSERT INTO outbox (event_id, topic, key, payload, headers)",
        5,
        events,
    )
    .await
    .map_err(err)?;
    for a in &cs.erasures {
        tx.execute(
            "INSERT INTO erasures (tenant_id, id, record_id, erased_by, erase_time, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            libsql::params![
                t,
                a.id.to_string(),
                a.record_id.to_string(),
                a.erased_by.as_str(),
                a.erase_time.to_rfc3339(),
                a.reason.as_str(),
            ],
        )
        .await
        .map_err(err)?;
    }
    if let Some(job) = &cs.import {
        put_import(tx, tenant, job).await?;
    }
    for e in &cs.import_errors {
        let import = cs
            .import
            .as_ref()
            .map(|j| j.id.to_string())
            .unwrap_or_default();
        tx.execute(
            "INSERT OR REPLACE INTO import_errors (tenant_id, import_id, row, field, message) VALUES (?1, ?2, ?3, ?4, ?5)",
            libsql::params![t, import, e.row as i64, e.field.as_str(), e.message.as_str()],
        )
        .await
        .map_err(err)?;
    }
    Ok(())
}

/// Rows per multi-row INSERT: one statement execution per 100 rows instead
/// of one per row (bulk imports write about ten rows per contact).
const ROWS_PER_INSERT: usize = 100;

/// Inserts `rows` (each `width` values) with multi-row INSERT statements.
async fn insert_rows(
    tx: &libsql::Connection,
    head: &str,
    width: usize,
    rows: Vec<Vec<libsql::Value>>,
) -> Result<(), libsql::Error> {
    let sql = |n: usize| {
        let row = format!("({})", vec!["?"; width].join(", "));
        format!("{head} VALUES {}", vec![row; n].join(", "))
    };
    let mut full: Option<libsql::Statement> = None;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let params: Vec<libsql::Value> = chunk.iter().flatten().cloned().collect();
        if chunk.len() < ROWS_PER_INSERT {
            tx.execute(&sql(chunk.len()), params).await?;
            continue;
        }
        let stmt = match &full {
            Some(stmt) => stmt,
            None => full.insert(tx.prepare(&sql(ROWS_PER_INSERT)).await?),
        };
        stmt.execute(params).await?;
        stmt.reset();
    }
    Ok(())
}

async fn put_import(
    conn: &libsql::Connection,
    tenant: &TenantId,
    job: &ImportJob,
) -> Result<(), StoreError> {
    let doc = to_doc(job)?;
    conn.execute(
        "INSERT INTO imports (tenant_id, id, doc) VALUES (?1, ?2, ?3) ON CONFLICT (tenant_id, id) DO UPDATE SET doc = excluded.doc",
        [tenant.as_str(), &job.id.to_string(), &doc],
    )
    .await?;
    Ok(())
}

fn hit(row: &libsql::Row) -> Result<Hit, StoreError> {
    Ok(Hit {
        value: row.get(0)?,
        id: RecordId::parse(&row.get::<String>(1)?)
            .map_err(|_| StoreError::Corrupt("record_index.id".into()))?,
    })
}

#[async_trait]
impl ContactStore for SqliteContactStore {
    async fn commit(&self, tenant: &TenantId, cs: &ChangeSet) -> Result<(), CommitError> {
        let (tenant, cs) = (tenant.clone(), cs.clone());
        // A refused change set is rolled back whole by the writer.
        self.db
            .write(move |tx| async move { apply(&tx, &tenant, &cs).await })
            .await
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &RecordId,
    ) -> Result<Option<super::Record>, StoreError> {
        Ok(self.get_many(tenant, &[*id]).await?.pop())
    }

    async fn get_many(
        &self,
        tenant: &TenantId,
        ids: &[RecordId],
    ) -> Result<Vec<super::Record>, StoreError> {
        let (tenant, ids) = (tenant.clone(), ids.to_vec());
        self.db
            .read(move |conn| async move {
                let stmt = conn
                    .prepare("SELECT doc FROM records WHERE tenant_id = ?1 AND id = ?2")
                    .await?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    let id = id.to_string();
                    let mut rows = stmt.query([tenant.as_str(), id.as_str()]).await?;
                    if let Some(row) = rows.next().await? {
                        out.push(decode(&tenant, &id, &row.get::<String>(0)?)?);
                    }
                    drop(rows);
                    stmt.reset();
                }
                Ok(out)
            })
            .await
    }

    async fn scan(&self, tenant: &TenantId, scan: &Scan) -> Result<Vec<Hit>, StoreError> {
        let (from, to) = match &scan.values {
            ValueMatch::Exact(v) => (v.clone(), v.clone()),
            ValueMatch::Prefix(p) => (p.clone(), format!("{p}{PREFIX_END}")),
        };
        // The cursor is the start of the range, compared as a row value:
        // SQLite then seeks straight to it on the primary key, where a
        // separate `value >= ?` bound made it walk every entry before the
        // cursor (deep pages grew slower page by page). Ids are never empty
        // and sort below PREFIX_END, so the bounds without a cursor take
        // every id of the edge values.
        let (sql, start, bound) = if scan.descending {
            (
                "SELECT value, id FROM record_index \
                 WHERE tenant_id = ?1 AND kind = ?2 AND attr = ?3 \
                 AND (value, id) < (?4, ?5) AND value >= ?6 \
                 ORDER BY value DESC, id DESC LIMIT ?7",
                scan.after
                    .clone()
                    .map(|(v, id)| (v, id.to_string()))
                    .unwrap_or((to, PREFIX_END.to_string())),
                from,
            )
        } else {
            (
                "SELECT value, id FROM record_index \
                 WHERE tenant_id = ?1 AND kind = ?2 AND attr = ?3 \
                 AND (value, id) > (?4, ?5) AND value <= ?6 \
                 ORDER BY value ASC, id ASC LIMIT ?7",
                scan.after
                    .clone()
                    .map(|(v, id)| (v, id.to_string()))
                    .unwrap_or((from, String::new())),
                to,
            )
        };
        let params = libsql::params![
            tenant.as_str(),
            scan.kind.as_str(),
            scan.attr.as_str(),
            start.0,
            start.1,
            bound,
            scan.limit as i64
        ];
        self.db
            .read(move |conn| async move {
                let mut rows = conn.query(sql, params).await?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().await? {
                    out.push(hit(&row)?);
                }
                Ok(out)
            })
            .await
    }

    async fn visible_among(
        &self,
        tenant: &TenantId,
        kind: Kind,
        keys: &[String],
        ids: &[RecordId],
    ) -> Result<BTreeSet<RecordId>, StoreError> {
        if keys.is_empty() || ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        // One probe of the primary key per (key, id): both lists are short
        // (a viewer's keys, one scan batch).
        let marks = |from: usize, n: usize| {
            (from..from + n)
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let sql = format!(
            "SELECT DISTINCT id FROM record_index \
             WHERE tenant_id = ?1 AND kind = ?2 AND attr = '{}' \
             AND value IN ({}) AND id IN ({})",
            attr::VIEWER,
            marks(3, keys.len()),
            marks(3 + keys.len(), ids.len()),
        );
        let mut params: Vec<libsql::Value> = vec![
            tenant.as_str().to_owned().into(),
            kind.as_str().to_owned().into(),
        ];
        params.extend(keys.iter().map(|k| libsql::Value::from(k.clone())));
        params.extend(ids.iter().map(|id| libsql::Value::from(id.to_string())));
        self.db
            .read(move |conn| async move {
                let mut rows = conn.query(&sql, params).await?;
                let mut out = BTreeSet::new();
                while let Some(row) = rows.next().await? {
                    let id: String = row.get(0)?;
                    out.insert(
                        RecordId::parse(&id)
                            .map_err(|_| StoreError::Corrupt("record_index.id".into()))?,
                    );
                }
                Ok(out)
            })
            .await
    }

    async fn find(
        &self,
        tenant: &TenantId,
        kind: Kind,
        attr: &str,
        values: &[String],
    ) -> Result<Vec<Hit>, StoreError> {
        // One statement per 500 values (`value IN (...)`): SQLite probes the
        // index for each, without a statement round trip per value.
        const PER_STATEMENT: usize = 500;
        let mut statements = Vec::new();
        for chunk in values.chunks(PER_STATEMENT) {
            let sql = format!(
                "SELECT value, id FROM record_index WHERE tenant_id = ?1 AND kind = ?2 AND attr = ?3 AND value IN ({})",
                (0..chunk.len())
                    .map(|i| format!("?{}", i + 4))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let params: Vec<libsql::Value> = [tenant.as_str(), kind.as_str(), attr]
                .into_iter()
                .chain(chunk.iter().map(String::as_str))
                .map(|v| libsql::Value::Text(v.to_owned()))
                .collect();
            statements.push((sql, params));
        }
        self.db
            .read(move |conn| async move {
                let mut out = Vec::new();
                for (sql, params) in statements {
                    let mut rows = conn.query(&sql, params).await?;
                    while let Some(row) = rows.next().await? {
                        out.push(hit(&row)?);
                    }
                }
                Ok(out)
            })
            .await
    }

    async fn count(
        &self,
        tenant: &TenantId,
        kind: Kind,
        attr: &str,
        value: &str,
    ) -> Result<Option<u64>, StoreError> {
        let params = [tenant.as_str(), kind.as_str(), attr, value].map(str::to_owned);
        self.db
            .read(move |conn| async move {
                let mut rows = conn
                    .query(
                        "SELECT count(*) FROM record_index WHERE tenant_id = ?1 AND kind = ?2 AND attr = ?3 AND value = ?4",
                        params,
                    )
                    .await?;
                Ok(match rows.next().await? {
                    Some(row) => Some(row.get::<i64>(0)? as u64),
                    None => Some(0),
                })
            })
            .await
    }

    async fn duplicate_groups(
        &self,
        tenant: &TenantId,
        kind: Kind,
        after: Option<(String, String)>,
        limit: usize,
    ) -> Result<Vec<DuplicateGroup>, StoreError> {
        let (after_attr, after_value) = after.unwrap_or_default();
        let params = libsql::params![
            tenant.as_str(),
            kind.as_str(),
            after_attr,
            after_value,
            limit as i64
        ];
        self.db
            .read(move |conn| async move {
                let mut rows = conn
                    .query(
                        "SELECT attr, value, group_concat(id, ',') FROM record_index \
                 WHERE tenant_id = ?1 AND kind = ?2 AND attr IN ('email', 'phone', 'sort_name') \
                 AND (attr > ?3 OR (attr = ?3 AND value > ?4)) \
                 GROUP BY attr, value HAVING count(*) > 1 ORDER BY attr, value LIMIT ?5",
                        params,
                    )
                    .await?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().await? {
                    let mut ids = row
                        .get::<String>(2)?
                        .split(',')
                        .map(RecordId::parse)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| StoreError::Corrupt("record_index.id".into()))?;
                    ids.sort();
                    out.push(DuplicateGroup {
                        attr: row.get(0)?,
                        value: row.get(1)?,
                        ids,
                    });
                }
                Ok(out)
            })
            .await
    }

    async fn create_custom_field(
        &self,
        tenant: &TenantId,
        def: &CustomFieldDef,
        audit: &OutboxMessage,
    ) -> Result<bool, StoreError> {
        let audit = audit.clone();
        let params = [
            tenant.as_str(),
            def.kind.as_str(),
            def.key.as_str(),
            to_doc(def)?.as_str(),
        ]
        .map(str::to_owned);
        self.db
            .write(move |conn| async move {
                let n = conn
                    .execute(
                        "INSERT OR IGNORE INTO custom_fields (tenant_id, kind, key, doc) VALUES (?1, ?2, ?3, ?4)",
                        params,
                    )
                    .await?;
                if n == 1 {
                    insert_outbox(&conn, &audit).await?;
                }
                Ok(n == 1)
            })
            .await
    }

    async fn custom_fields(
        &self,
        tenant: &TenantId,
        kind: Option<Kind>,
    ) -> Result<Vec<CustomFieldDef>, StoreError> {
        let params = [tenant.as_str(), kind.map(Kind::as_str).unwrap_or("")].map(str::to_owned);
        self.db
            .read(move |conn| async move {
                let mut rows = conn
                    .query(
                        "SELECT doc FROM custom_fields WHERE tenant_id = ?1 AND (?2 = '' OR kind = ?2) ORDER BY kind, key",
                        params,
                    )
                    .await?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().await? {
                    out.push(from_doc("custom_fields", &row.get::<String>(0)?)?);
                }
                Ok(out)
            })
            .await
    }

    async fn delete_custom_field(
        &self,
        tenant: &TenantId,
        kind: Kind,
        key: &str,
        audit: &OutboxMessage,
    ) -> Result<bool, StoreError> {
        let params = [tenant.as_str(), kind.as_str(), key].map(str::to_owned);
        let audit = audit.clone();
        self.db
            .write(move |conn| async move {
                let n = conn
                    .execute(
                        "DELETE FROM custom_fields WHERE tenant_id = ?1 AND kind = ?2 AND key = ?3",
                        params,
                    )
                    .await?;
                if n == 1 {
                    insert_outbox(&conn, &audit).await?;
                }
                Ok(n == 1)
            })
            .await
    }

    async fn phone_region(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        let tenant = tenant.as_str().to_owned();
        self.db
            .read(move |conn| async move {
                let mut rows = conn
                    .query(
                        "SELECT default_phone_region FROM contact_settings WHERE tenant_id = ?1",
                        [tenant],
                    )
                    .await?;
                Ok(match rows.next().await? {
                    Some(row) => Some(row.get(0)?),
                    None => None,
                })
            })
            .await
    }

    async fn set_phone_region(
        &self,
        tenant: &TenantId,
        region: &str,
        audit: &OutboxMessage,
    ) -> Result<(), StoreError> {
        let params = [tenant.as_str(), region].map(str::to_owned);
        let audit = audit.clone();
        self.db
            .write(move |conn| async move {
                conn.execute(
                    "INSERT INTO contact_settings (tenant_id, default_phone_region) VALUES (?1, ?2) \
                     ON CONFLICT (tenant_id) DO UPDATE SET default_phone_region = excluded.default_phone_region",
                    params,
                )
                .await?;
                insert_outbox(&conn, &audit).await?;
                Ok(())
            })
            .await
    }

    async fn put_import(
        &self,
        tenant: &TenantId,
        job: &ImportJob,
        audit: Option<&OutboxMessage>,
    ) -> Result<(), StoreError> {
        let (tenant, job, audit) = (tenant.clone(), job.clone(), audit.cloned());
        self.db
            .write(move |conn| async move {
                put_import(&conn, &tenant, &job).await?;
                if let Some(audit) = &audit {
                    insert_outbox(&conn, audit).await?;
                }
                Ok(())
            })
            .await
    }

    async fn record_audit(
        &self,
        _tenant: &TenantId,
        entries: &[OutboxMessage],
    ) -> Result<(), StoreError> {
        let entries = entries.to_vec();
        self.db
            .write(move |conn| async move {
                for entry in &entries {
                    insert_outbox(&conn, entry).await?;
                }
                Ok(())
            })
            .await
    }

    async fn start_import(
        &self,
        tenant: &TenantId,
        pending: &ImportJob,
        running: &ImportJob,
        quota: &ImportQuota,
    ) -> Result<StartImport, StoreError> {
        let params = [
            tenant.as_str().to_owned(),
            pending.id.to_string(),
            to_doc(pending)?,
            to_doc(running)?,
        ];
        let quota = quota.clone();
        // Counted and switched in one write: two uploads starting at once
        // cannot both take the tenant's last slot.
        self.db
            .write(move |conn| async move {
                let jobs = query_all(
                    &conn,
                    "SELECT doc FROM imports WHERE tenant_id = ?1 AND json_extract(doc, '$.state') = 'running'",
                    [params[0].clone()],
                    |row| from_doc::<ImportJob>("import", &row.get::<String>(0)?),
                )
                .await?;
                let busy = running_imports(&jobs, &quota);
                if busy >= quota.max_running {
                    return Ok(StartImport::QuotaReached(busy));
                }
                let n = conn
                    .execute(
                        "UPDATE imports SET doc = ?4 WHERE tenant_id = ?1 AND id = ?2 AND doc = ?3",
                        params,
                    )
                    .await?;
                Ok(if n == 1 {
                    StartImport::Started
                } else {
                    StartImport::NotPending
                })
            })
            .await
    }

    async fn get_import(
        &self,
        tenant: &TenantId,
        id: &RecordId,
    ) -> Result<Option<ImportJob>, StoreError> {
        let params = [tenant.as_str().to_owned(), id.to_string()];
        self.db
            .read(move |conn| async move {
                let mut rows = conn
                    .query(
                        "SELECT doc FROM imports WHERE tenant_id = ?1 AND id = ?2",
                        params,
                    )
                    .await?;
                match rows.next().await? {
                    Some(row) => from_doc("imports", &row.get::<String>(0)?).map(Some),
                    None => Ok(None),
                }
            })
            .await
    }

    async fn import_errors(
        &self,
        tenant: &TenantId,
        import: &RecordId,
        after_row: u64,
        limit: usize,
    ) -> Result<Vec<ImportRowError>, StoreError> {
        let params = libsql::params![
            tenant.as_str(),
            import.to_string(),
            after_row as i64,
            limit as i64
        ];
        self.db
            .read(move |conn| async move {
                let mut rows = conn
                    .query(
                        "SELECT row, field, message FROM import_errors WHERE tenant_id = ?1 AND import_id = ?2 AND row > ?3 ORDER BY row, field LIMIT ?4",
                        params,
                    )
                    .await?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().await? {
                    out.push(ImportRowError {
                        row: row.get::<i64>(0)? as u64,
                        field: row.get(1)?,
                        message: row.get(2)?,
                    });
                }
                Ok(out)
            })
            .await
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.db.clone()
    }
}
