//! The audit trail in ScyllaDB: a partition per record and one per user
//! and month (a busy integration writes millions of entries a year; a
//! month of them stays a bounded partition). Entries expire by TTL after
//! the retention period, so nothing has to delete them.

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Months, Utc};
use prost::Message;
use rapport_platform::identity::TenantId;
use rapport_proto::events::v1::AuditEntry;
use rapport_store::{StoreError, scylla::prepare_idempotent};
use scylla::{client::session::Session, statement::prepared::PreparedStatement};

use super::{
    AuditCursor, AuditFilter, AuditRecord, AuditStore,
    audit::{Link, Masking, follow_erasures, links_of},
    masked,
    scylla::ScyllaGatewayStore,
};

/// The audit statements, prepared once.
pub(super) struct Statements {
    by_resource: PreparedStatement,
    by_actor: PreparedStatement,
    list_resource: PreparedStatement,
    list_actor: PreparedStatement,
    mask_resource: PreparedStatement,
    mask_actor: PreparedStatement,
    all_of_resource: PreparedStatement,
    one_of_resource: PreparedStatement,
    insert_link: PreparedStatement,
    links: PreparedStatement,
    mark_erased: PreparedStatement,
    is_erased: PreparedStatement,
    retention: chrono::Duration,
}

impl Statements {
    pub(super) async fn prepare(
        session: &Session,
        retention: chrono::Duration,
    ) -> Result<Self, StoreError> {
        Ok(Statements {
            by_resource: prepare_idempotent(
                session,
                "INSERT INTO audit_by_resource (tenant_id, resource, time, id, actor, source, entry) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?",
            )
            .await?,
            by_actor: prepare_idempotent(
                session,
                "INSERT INTO audit_by_actor (tenant_id, actor, month, time, id, resource, source, entry) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?",
            )
            .await?,
            list_resource: prepare_idempotent(
                session,
                "SELECT tenant_id, id, time, actor, source, entry FROM audit_by_resource \
                 WHERE tenant_id = ? AND resource = ? AND (time, id) < (?, ?) LIMIT ?",
            )
            .await?,
            list_actor: prepare_idempotent(
                session,
                "SELECT tenant_id, id, time, actor, source, entry FROM audit_by_actor \
                 WHERE tenant_id = ? AND actor = ? AND month = ? AND (time, id) < (?, ?) LIMIT ?",
            )
            .await?,
            all_of_resource: prepare_idempotent(
                session,
                "SELECT tenant_id, id, time, actor, source, entry, TTL(entry) FROM audit_by_resource \
                 WHERE tenant_id = ? AND resource = ?",
            )
            .await?,
            one_of_resource: prepare_idempotent(
                session,
                "SELECT tenant_id, id, time, actor, source, entry, TTL(entry) FROM audit_by_resource \
                 WHERE tenant_id = ? AND resource = ? AND time = ? AND id = ?",
            )
            .await?,
            insert_link: prepare_idempotent(
                session,
                "INSERT INTO audit_links (tenant_id, subject, time, id, resource, actor, alias) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?",
            )
            .await?,
            links: prepare_idempotent(
                session,
                "SELECT resource, id, time, actor, alias FROM audit_links \
                 WHERE tenant_id = ? AND subject = ?",
            )
            .await?,
            mark_erased: prepare_idempotent(
                session,
                "INSERT INTO audit_erased (tenant_id, resource) VALUES (?, ?) USING TTL ?",
            )
            .await?,
            is_erased: prepare_idempotent(
                session,
                "SELECT resource FROM audit_erased WHERE tenant_id = ? AND resource = ?",
            )
            .await?,
            mask_resource: prepare_idempotent(
                session,
                "UPDATE audit_by_resource USING TTL ? SET entry = ? \
                 WHERE tenant_id = ? AND resource = ? AND time = ? AND id = ?",
            )
            .await?,
            mask_actor: prepare_idempotent(
                session,
                "UPDATE audit_by_actor USING TTL ? SET entry = ? \
                 WHERE tenant_id = ? AND actor = ? AND month = ? AND time = ? AND id = ?",
            )
            .await?,
            retention,
        })
    }
}

/// The month partition of an entry made at `t`: `2026-12`.
fn month(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

type Row = (String, String, DateTime<Utc>, String, String, Vec<u8>);

fn decode((tenant, id, time, actor, source, entry): Row) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        tenant: TenantId::parse(&tenant)
            .map_err(|_| StoreError::Corrupt("audit.tenant_id".into()))?,
        id,
        time,
        actor,
        source,
        entry: AuditEntry::decode(&*entry)
            .map_err(|_| StoreError::Corrupt("audit.entry".into()))?,
    })
}

impl ScyllaGatewayStore {
    /// Seconds an entry made at `t` still has to live (at least one).
    fn ttl(&self, t: DateTime<Utc>) -> i32 {
        let left = (t + self.audit.retention - Utc::now()).num_seconds();
        left.clamp(1, i32::MAX as i64) as i32
    }

    /// Masks the entries of `resource` that `rows` (of `all_of_resource` or
    /// `one_of_resource`) hold, in both tables, keeping their TTL.
    async fn mask_rows(
        &self,
        tenant: &TenantId,
        resource: &str,
        rows: scylla::response::query_result::QueryRowsResult,
    ) -> Result<(), StoreError> {
        let s = &self.audit;
        for row in rows.rows::<(
            String,
            String,
            DateTime<Utc>,
            String,
            String,
            Vec<u8>,
            Option<i32>,
        )>()? {
            let (t, id, time, actor, source, entry, ttl) = row?;
            let record = decode((t, id, time, actor, source, entry))?;
            let doc = masked(record.entry).encode_to_vec();
            let ttl = ttl.unwrap_or_else(|| self.ttl(time)).max(1);
            self.session
                .execute_unpaged(
                    &s.mask_resource,
                    (
                        ttl,
                        doc.clone(),
                        tenant.as_str(),
                        resource,
                        time,
                        record.id.as_str(),
                    ),
                )
                .await?;
            self.session
                .execute_unpaged(
                    &s.mask_actor,
                    (
                        ttl,
                        doc,
                        tenant.as_str(),
                        record.actor.as_str(),
                        month(time),
                        time,
                        record.id.as_str(),
                    ),
                )
                .await?;
        }
        Ok(())
    }
}

/// The erasure rules, statement by statement: every write is an
/// idempotent upsert, so an append that fails half-way is redone whole
/// when the entry is consumed again.
#[async_trait]
impl Masking for ScyllaGatewayStore {
    async fn mark_erased(&self, tenant: &TenantId, resource: &str) -> Result<(), StoreError> {
        let ttl = self.ttl(Utc::now());
        self.session
            .execute_unpaged(&self.audit.mark_erased, (tenant.as_str(), resource, ttl))
            .await?;
        Ok(())
    }

    async fn any_erased(&self, tenant: &TenantId, resources: &[&str]) -> Result<bool, StoreError> {
        for resource in resources {
            let rows = self
                .session
                .execute_unpaged(&self.audit.is_erased, (tenant.as_str(), *resource))
                .await?
                .into_rows_result()?;
            if rows.rows_num() > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn mask_resource(&self, tenant: &TenantId, resource: &str) -> Result<(), StoreError> {
        let rows = self
            .session
            .execute_unpaged(&self.audit.all_of_resource, (tenant.as_str(), resource))
            .await?
            .into_rows_result()?;
        self.mask_rows(tenant, resource, rows).await
    }

    async fn links(&self, tenant: &TenantId, subject: &str) -> Result<Vec<Link>, StoreError> {
        let rows = self
            .session
            .execute_unpaged(&self.audit.links, (tenant.as_str(), subject))
            .await?
            .into_rows_result()?;
        rows.rows::<(String, String, DateTime<Utc>, String, bool)>()?
            .map(|row| {
                let (resource, id, time, actor, alias) = row?;
                Ok(Link {
                    resource,
                    id,
                    time,
                    actor,
                    alias,
                })
            })
            .collect()
    }

    async fn mask_entry(&self, tenant: &TenantId, link: &Link) -> Result<(), StoreError> {
        let rows = self
            .session
            .execute_unpaged(
                &self.audit.one_of_resource,
                (
                    tenant.as_str(),
                    link.resource.as_str(),
                    link.time,
                    link.id.as_str(),
                ),
            )
            .await?
            .into_rows_result()?;
        self.mask_rows(tenant, &link.resource, rows).await
    }
}

#[async_trait]
impl AuditStore for ScyllaGatewayStore {
    async fn append(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let s = &self.audit;
        for r in records {
            let doc = r.entry.encode_to_vec();
            let ttl = self.ttl(r.time);
            // Idempotent upserts: a replayed entry writes the same rows.
            self.session
                .execute_unpaged(
                    &s.by_resource,
                    (
                        r.tenant.as_str(),
                        r.entry.resource.as_str(),
                        r.time,
                        r.id.as_str(),
                        r.actor.as_str(),
                        r.source.as_str(),
                        doc.clone(),
                        ttl,
                    ),
                )
                .await?;
            self.session
                .execute_unpaged(
                    &s.by_actor,
                    (
                        r.tenant.as_str(),
                        r.actor.as_str(),
                        month(r.time),
                        r.time,
                        r.id.as_str(),
                        r.entry.resource.as_str(),
                        r.source.as_str(),
                        doc,
                        ttl,
                    ),
                )
                .await?;
            for (subject, link) in links_of(r) {
                self.session
                    .execute_unpaged(
                        &s.insert_link,
                        (
                            r.tenant.as_str(),
                            subject,
                            link.time,
                            link.id,
                            link.resource,
                            link.actor,
                            link.alias,
                            ttl,
                        ),
                    )
                    .await?;
            }
            follow_erasures(self, r).await?;
        }
        Ok(())
    }

    async fn entries(
        &self,
        tenant: &TenantId,
        filter: &AuditFilter,
        after: Option<&AuditCursor>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let s = &self.audit;
        let (after_time, after_id) = match after {
            Some((t, id)) => (*t, id.clone()),
            // After every entry: a time past the end and the highest id.
            None => (Utc::now() + chrono::Duration::days(1), "~".to_owned()),
        };
        let mut out = Vec::new();
        match filter {
            AuditFilter::Resource(resource) => {
                let rows = self
                    .session
                    .execute_unpaged(
                        &s.list_resource,
                        (
                            tenant.as_str(),
                            resource.as_str(),
                            after_time,
                            after_id,
                            limit as i32,
                        ),
                    )
                    .await?
                    .into_rows_result()?;
                for row in rows.rows::<Row>()? {
                    out.push(decode(row?)?);
                }
            }
            AuditFilter::Actor(actor) => {
                // Month partitions newest first, back to the retention horizon.
                let horizon = Utc::now() - s.retention - chrono::Duration::days(31);
                let mut at = after_time;
                let mut cursor = (after_time, after_id);
                while out.len() < limit && at >= horizon {
                    let rows = self
                        .session
                        .execute_unpaged(
                            &s.list_actor,
                            (
                                tenant.as_str(),
                                actor.as_str(),
                                month(at),
                                cursor.0,
                                cursor.1.clone(),
                                (limit - out.len()) as i32,
                            ),
                        )
                        .await?
                        .into_rows_result()?;
                    for row in rows.rows::<Row>()? {
                        out.push(decode(row?)?);
                    }
                    // The previous month, read from its end.
                    let Some(previous) = at.checked_sub_months(Months::new(1)) else {
                        break;
                    };
                    at = previous;
                    cursor = (Utc::now() + chrono::Duration::days(1), "~".to_owned());
                }
            }
        }
        Ok(out)
    }

    async fn purge(&self, _before: DateTime<Utc>) -> Result<u64, StoreError> {
        // Entries expire by their TTL.
        Ok(0)
    }
}
