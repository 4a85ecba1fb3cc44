//! The audit trail in SQLite: one table, indexed per record, per user and
//! by age.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use prost::Message;
use rapport_platform::identity::TenantId;
use rapport_proto::events::v1::AuditEntry;
use rapport_store::{StoreError, sqlite::query_all};

use super::{
    AuditCursor, AuditFilter, AuditRecord, AuditStore,
    audit::{Link, Masking, follow_erasures, links_of},
    masked,
    sqlite::SqliteGatewayStore,
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

/// The erasure rules inside the append's write transaction.
struct InWrite<'c>(&'c libsql::Connection);

impl InWrite<'_> {
    async fn mask_where(
        &self,
        tenant: &TenantId,
        column: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM audit_entries WHERE tenant_id = ?1 AND {column} = ?2");
        let params = [tenant.as_str().to_owned(), value.to_owned()];
        for old in query_all(self.0, &sql, params, decode).await? {
            self.0
                .execute(
                    "UPDATE audit_entries SET entry = ?3 WHERE tenant_id = ?1 AND id = ?2",
                    libsql::params![
                        old.tenant.as_str(),
                        old.id.as_str(),
                        masked(old.entry).encode_to_vec()
                    ],
                )
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Masking for InWrite<'_> {
    async fn mark_erased(&self, tenant: &TenantId, resource: &str) -> Result<(), StoreError> {
        self.0
            .execute(
                "INSERT OR IGNORE INTO audit_erased (tenant_id, resource) VALUES (?1, ?2)",
                [tenant.as_str(), resource],
            )
            .await?;
        Ok(())
    }

    async fn any_erased(&self, tenant: &TenantId, resources: &[&str]) -> Result<bool, StoreError> {
        for resource in resources {
            let found = self
                .0
                .query(
                    "SELECT 1 FROM audit_erased WHERE tenant_id = ?1 AND resource = ?2",
                    [tenant.as_str(), resource],
                )
                .await?
                .next()
                .await?
                .is_some();
            if found {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn mask_resource(&self, tenant: &TenantId, resource: &str) -> Result<(), StoreError> {
        self.mask_where(tenant, "resource", resource).await
    }

    async fn links(&self, tenant: &TenantId, subject: &str) -> Result<Vec<Link>, StoreError> {
        query_all(
            self.0,
            "SELECT resource, entry_id, time, actor, alias FROM audit_links \
             WHERE tenant_id = ?1 AND subject = ?2",
            [tenant.as_str().to_owned(), subject.to_owned()],
            |row| {
                Ok(Link {
                    resource: row.get(0)?,
                    id: row.get(1)?,
                    time: DateTime::parse_from_rfc3339(&row.get::<String>(2)?)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| StoreError::Corrupt("audit_links.time".into()))?,
                    actor: row.get(3)?,
                    alias: row.get::<i64>(4)? != 0,
                })
            },
        )
        .await
    }

    async fn mask_entry(&self, tenant: &TenantId, link: &Link) -> Result<(), StoreError> {
        self.mask_where(tenant, "id", &link.id).await
    }
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
                    for (subject, link) in links_of(r) {
                        conn.execute(
                            "INSERT OR IGNORE INTO audit_links \
                             (tenant_id, subject, entry_id, resource, time, actor, alias) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            libsql::params![
                                r.tenant.as_str(),
                                subject,
                                link.id,
                                link.resource,
                                time(link.time),
                                link.actor,
                                link.alias as i64,
                            ],
                        )
                        .await?;
                    }
                    follow_erasures(&InWrite(&conn), r).await?;
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
                    // An entry's links go with it.
                    conn.execute(
                        "DELETE FROM audit_links WHERE (tenant_id, subject, entry_id) IN \
                         (SELECT tenant_id, subject, entry_id FROM audit_links WHERE time < ?1 LIMIT ?2)",
                        libsql::params![before.clone(), PURGE_SLICE as i64],
                    )
                    .await?;
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
