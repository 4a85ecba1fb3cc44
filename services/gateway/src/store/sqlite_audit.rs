//! The audit trail in SQLite: one table, indexed per record, per user and
//! by age.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use prost::Message;
use rapport_platform::identity::TenantId;
use rapport_proto::events::v1::AuditEntry;
use rapport_store::{StoreError, sqlite::query_all};

use super::{
    AuditCursor, AuditFilter, AuditRecord, AuditStore, masked, sqlite::SqliteGatewayStore,
    sqlite::time,
};

const COLUMNS: &str = "tenant_id, id, time, actor, source, entry";
/// Entries deleted per write transaction by retention.
const PURGE_SLICE: u64 = 5_000;

fn decode(row: &libsql::Row) -> Result<AuditRecord, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("audit_entries.{what}"));
    Ok(AuditRecord {
        tenant: TenantId::parse(&row.get::<String>(0)?).map_err(|_| corrupt("tenant_id"))?,
        id: row.get(1)?,
        time: DateTime::parse_from_rfc3339(&row.get::<String>(2)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| corrupt("time"))?,
        actor: row.get(3)?,
        source: row.get(4)?,
        entry: AuditEntry::decode(&*row.get::<Vec<u8>>(5)?).map_err(|_| corrupt("entry"))?,
    })
}

#[async_trait]
impl AuditStore for SqliteGatewayStore {
    async fn append(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let records = records.to_vec();
        self.db
            .write(move |conn| async move {
                let insert = conn
                    .prepare(
                        "INSERT OR IGNORE INTO audit_entries (tenant_id, id, time, resource, actor, source, entry) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .await?;
                for r in &records {
                    insert
                        .execute(libsql::params![
                            r.tenant.as_str(),
                            r.id.as_str(),
                            time(r.time),
                            r.entry.resource.as_str(),
                            r.actor.as_str(),
                            r.source.as_str(),
                            r.entry.encode_to_vec(),
                        ])
                        .await?;
                    insert.reset();
                    if r.entry.change == "erased" {
                        let sql = format!(
                            "SELECT {COLUMNS} FROM audit_entries WHERE tenant_id = ?1 AND resource = ?2"
                        );
                        let params = [r.tenant.as_str().to_owned(), r.entry.resource.clone()];
                        for old in query_all(&conn, &sql, params, decode).await? {
                            conn.execute(
                                "UPDATE audit_entries SET entry = ?3 WHERE tenant_id = ?1 AND id = ?2",
                                libsql::params![
                                    old.tenant.as_str(),
                                    old.id.as_str(),
                                    masked(old.entry).encode_to_vec()
                                ],
                            )
                            .await?;
                        }
                    }
                }
                Ok(())
            })
            .await
    }

    async fn entries(
        &self,
        tenant: &TenantId,
        filter: &AuditFilter,
        after: Option<&AuditCursor>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let (column, value) = match filter {
            AuditFilter::Resource(r) => ("resource", r.clone()),
            AuditFilter::Actor(a) => ("actor", a.clone()),
        };
        // Without a cursor: before any time there can be.
        let (after_time, after_id) = after
            .map(|(t, id)| (time(*t), id.clone()))
            .unwrap_or_else(|| ("9999".to_owned(), String::new()));
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_entries WHERE tenant_id = ?1 AND {column} = ?2 \
             AND (time < ?3 OR (time = ?3 AND id < ?4)) ORDER BY time DESC, id DESC LIMIT ?5"
        );
        let params = libsql::params![
            tenant.as_str().to_owned(),
            value,
            after_time,
            after_id,
            limit as i64
        ];
        self.db
            .read(move |conn| async move { query_all(&conn, &sql, params, decode).await })
            .await
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = time(before);
        let mut total = 0;
        // In slices, so a year's backlog never holds the writer for long.
        loop {
            let before = before.clone();
            let n = self
                .db
                .write(move |conn| async move {
                    Ok::<_, StoreError>(
                        conn.execute(
                            "DELETE FROM audit_entries WHERE (tenant_id, id) IN                              (SELECT tenant_id, id FROM audit_entries WHERE time < ?1 LIMIT ?2)",
                            libsql::params![before, PURGE_SLICE as i64],
                        )
                        .await?,
                    )
                })
                .await?;
            total += n;
            if n < PURGE_SLICE {
                return Ok(total);
            }
        }
    }
}
