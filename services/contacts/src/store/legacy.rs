//! Contacts stored by the first release (table `contacts`, one column per
//! field) are moved into records with their index entries on first start.
//! Their `ContactCreated` events were published then; none are repeated.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rapport_platform::identity::TenantId;
use rapport_store::StoreError;

use super::{ChangeSet, ContactStore, Put, SqliteContactStore};
use crate::domain::{Email, Fields, Kind, Record, RecordData, RecordId, Region, normalize_phone};

/// Moves every legacy row, then empties the legacy table, in one
/// transaction per tenant: a crash leaves each tenant moved or untouched.
pub(super) async fn adopt_sqlite_contacts(store: &SqliteContactStore) -> Result<(), StoreError> {
    let by_tenant = store.db().read(|conn| async move {
        let mut by_tenant: BTreeMap<String, Vec<Record>> = BTreeMap::new();
        let mut rows = conn
            .query(
                "SELECT tenant_id, id, given_name, family_name, display_name, email, phone, company_name, version, create_time, created_by, update_time, updated_by FROM contacts",
                (),
            )
            .await?;
        while let Some(row) = rows.next().await? {
            let tenant_id: String = row.get(0)?;
            let tenant = TenantId::parse(&tenant_id)
                .map_err(|_| StoreError::Corrupt("contacts.tenant_id".into()))?;
            let time = |i: i32| -> Result<DateTime<Utc>, StoreError> {
                DateTime::parse_from_rfc3339(&row.get::<String>(i)?)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| StoreError::Corrupt("contacts time".into()))
            };
            let phone: Option<String> = row.get(6)?;
            let created_by: String = row.get(10)?;
            let record = Record {
                tenant,
                id: RecordId::parse(&row.get::<String>(1)?)
                    .map_err(|_| StoreError::Corrupt("contacts.id".into()))?,
                data: RecordData {
                    kind: Kind::Person,
                    fields: Fields {
                        given_name: row.get(2)?,
                        family_name: row.get(3)?,
                        display_name: row.get(4)?,
                        // Lower-cased like every e-mail written since, so
                        // lookups and duplicate checks find it.
                        email: row
                            .get::<Option<String>>(5)?
                            .map(|e| Email::parse(&e).map(|e| e.to_string()).unwrap_or(e))
                            .unwrap_or_default(),
                        // Stored as given by the first release; E.164 when it parses.
                        phone: phone
                            .map(|p| normalize_phone(&p, Region::default()).unwrap_or(p))
                            .unwrap_or_default(),
                        company_name: row.get(7)?,
                        owner: created_by.clone(),
                        ..Default::default()
                    },
                    version: row.get::<i64>(8)? as u64,
                    create_time: time(9)?,
                    created_by,
                    update_time: time(11)?,
                    updated_by: row.get(12)?,
                    import_hashes: Vec::new(),
                },
            };
            by_tenant.entry(tenant_id).or_default().push(record);
        }
        Ok(by_tenant)
    }).await?;
    for (tenant_id, mut records) in by_tenant {
        let tenant = records[0].tenant.clone();
        // A crash after the commit below and before the delete leaves rows
        // already moved: skip those.
        let ids: Vec<RecordId> = records.iter().map(|r| r.id).collect();
        let moved: Vec<RecordId> = store
            .get_many(&tenant, &ids)
            .await?
            .iter()
            .map(|r| r.id)
            .collect();
        records.retain(|r| !moved.contains(&r.id));
        let changes = ChangeSet {
            puts: records
                .into_iter()
                .map(|record| Put {
                    record,
                    previous: None,
                })
                .collect(),
            ..Default::default()
        };
        store.commit(&tenant, &changes).await.map_err(|e| match e {
            super::CommitError::Store(s) => s,
            other => StoreError::Corrupt(other.to_string()),
        })?;
        store
            .db()
            .write(move |conn| async move {
                conn.execute("DELETE FROM contacts WHERE tenant_id = ?1", [tenant_id])
                    .await?;
                Ok::<_, StoreError>(())
            })
            .await?;
    }
    Ok(())
}
