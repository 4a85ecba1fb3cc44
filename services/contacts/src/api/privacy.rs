//! Data protection: export everything about a person, and erase them.

use chrono::Utc;
use rapport_platform::identity::{Permission, Principal};
use rapport_proto::common::v1::{
    PersonalDataRequest, personal_data_service_client::PersonalDataServiceClient,
};
use serde_json::{Value, json};

use super::{ContactsApi, convert};
use crate::{
    domain::{ContactError, Kind, RecordId},
    events,
    store::{ChangeSet, ErasureAudit},
};

impl ContactsApi {
    /// One JSON document: the contact and what every service holding
    /// personal data (comms, deals, tasks) has about them.
    pub async fn export_personal_data(
        &self,
        p: &Principal,
        id: &RecordId,
    ) -> Result<Value, ContactError> {
        p.require(Permission::ExportPersonalData)?;
        let record = self.get_record(p, Kind::Person, id).await?;
        // The document is handed out only once its reading is on record.
        let entry = super::audit::now(
            p,
            rapport_platform::audit::AuditDraft::new(
                super::audit::resource(&record),
                rapport_platform::audit::Change::Read,
            )
            .with_note("data-protection export"),
        );
        self.store.record_audit(&p.tenant, &[entry]).await?;
        let defs = self
            .store
            .custom_fields(&p.tenant, Some(Kind::Person))
            .await?;
        let contact = convert::contact_to_pb(&record, &defs);
        // Every stored field, plus its id, etag and audit stamp.
        let mut stored = serde_json::to_value(record.fields()).unwrap_or_else(|_| json!({}));
        for (key, value) in [
            ("id", json!(id.to_string())),
            ("etag", json!(contact.etag)),
            ("create_time", json!(record.data.create_time.to_rfc3339())),
            ("created_by", json!(record.data.created_by)),
            ("update_time", json!(record.data.update_time.to_rfc3339())),
            ("updated_by", json!(record.data.updated_by)),
        ] {
            stored[key] = value;
        }
        let mut doc = json!({
            "contact_id": id.to_string(),
            "exported_at": Utc::now().to_rfc3339(),
            "contact": stored,
        });
        for holder in self.holders.iter() {
            let channel = holder.channel().map_err(|message| ContactError::Peer {
                service: holder.name(),
                message,
            })?;
            let answer = PersonalDataServiceClient::new(channel)
                .export_personal_data(p.request(PersonalDataRequest {
                    contact_id: id.to_string(),
                }))
                .await
                .map_err(|s| ContactError::Peer {
                    service: holder.name(),
                    message: s.message().to_owned(),
                })?
                .into_inner();
            let held: Value =
                serde_json::from_str(&answer.document_json).map_err(|e| ContactError::Peer {
                    service: holder.name(),
                    message: format!("answered with invalid JSON: {e}"),
                })?;
            doc[holder.name()] = held;
        }
        Ok(doc)
    }

    /// Erases a person: deletes the record with its index entries, keeps
    /// an audit entry (who, when, the request reference) and publishes
    /// `ContactErased` plus a tombstone, in one atomic write.
    pub async fn erase_person(
        &self,
        p: &Principal,
        id: &RecordId,
        reason: &str,
    ) -> Result<ErasureAudit, ContactError> {
        p.require(Permission::ErasePersonalData)?;
        let record = self.get_record(p, Kind::Person, id).await?;
        if reason.chars().count() > 500 {
            return Err(crate::domain::invalid(
                "reason",
                "longer than 500 characters",
            ));
        }
        let audit = ErasureAudit {
            id: RecordId::generate(),
            record_id: *id,
            erased_by: p.user.to_string(),
            erase_time: Utc::now(),
            reason: reason.trim().to_owned(),
        };
        let mut events_out = Vec::new();
        {
            // The event carries no personal data: ids only.
            let mut marker = record.clone();
            marker.data.version += 1;
            marker.data.update_time = audit.erase_time;
            events_out.extend(events::erased(p, &marker, &audit.id));
        }
        let changes = ChangeSet {
            deletes: vec![record],
            events: events_out,
            erasures: vec![audit.clone()],
            ..Default::default()
        };
        self.commit(p, changes).await?;
        Ok(audit)
    }
}
