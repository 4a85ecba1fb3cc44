//! What the contacts service publishes on `rapport.contacts.v1`.

use rapport_platform::{
    events::{NewEvent, tombstone, topics},
    identity::Principal,
};
use rapport_proto::events::v1::{
    CompanyCreated, CompanyData, CompanyUpdated, ContactCreated, ContactData, ContactErased,
    ContactOwnerChanged, ContactUpdated, ContactsMerged,
};
use rapport_store::OutboxMessage;

use crate::domain::{Kind, Record, RecordId};

/// CloudEvents `source` of every contacts event.
pub const SOURCE: &str = rapport_platform::events::sources::CONTACTS;

fn event<M: prost::Message + prost::Name>(
    principal: &Principal,
    r: &Record,
    payload: M,
) -> OutboxMessage {
    NewEvent {
        topic: topics::CONTACTS,
        source: SOURCE,
        principal,
        aggregate_type: match r.kind() {
            Kind::Person => "contact",
            Kind::Company => "company",
        },
        aggregate_id: &r.id.to_string(),
        aggregate_version: r.data.version,
        occurred_at: r.data.update_time,
        payload,
    }
    .into_outbox()
}

fn contact_data(r: &Record) -> ContactData {
    let f = r.fields();
    ContactData {
        contact_id: r.id.to_string(),
        given_name: f.given_name.clone(),
        family_name: f.family_name.clone(),
        display_name: f.display_name.clone(),
        email: f.email.clone(),
        phone: f.phone.clone(),
        company_name: f.company_name.clone(),
        external_id: f.external_id.clone(),
        owner: f.owner.clone(),
        team: f.team.clone(),
        tags: f.tags.clone(),
        lifecycle_stage: f
            .lifecycle_stage
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        source_channel: f.source_channel.clone(),
        additional_emails: f.additional_emails.clone(),
        additional_phones: f.additional_phones.clone(),
        company_ids: f.companies.iter().map(|c| c.company_id.clone()).collect(),
    }
}

fn company_data(r: &Record) -> CompanyData {
    let f = r.fields();
    CompanyData {
        company_id: r.id.to_string(),
        name: f.display_name.clone(),
        types: f
            .company_types
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
        parent_company_id: f.parent_company_id.clone(),
        external_id: f.external_id.clone(),
        owner: f.owner.clone(),
        team: f.team.clone(),
        tags: f.tags.clone(),
        lifecycle_stage: f
            .lifecycle_stage
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
    }
}

/// `ContactCreated` or `CompanyCreated`.
pub fn created(principal: &Principal, r: &Record) -> OutboxMessage {
    match r.kind() {
        Kind::Person => event(
            principal,
            r,
            ContactCreated {
                contact: Some(contact_data(r)),
            },
        ),
        Kind::Company => event(
            principal,
            r,
            CompanyCreated {
                company: Some(company_data(r)),
            },
        ),
    }
}

/// `ContactUpdated` or `CompanyUpdated` with the changed fields.
pub fn updated(principal: &Principal, r: &Record, changed_fields: Vec<String>) -> OutboxMessage {
    match r.kind() {
        Kind::Person => event(
            principal,
            r,
            ContactUpdated {
                contact: Some(contact_data(r)),
                changed_fields,
            },
        ),
        Kind::Company => event(
            principal,
            r,
            CompanyUpdated {
                company: Some(company_data(r)),
                changed_fields,
            },
        ),
    }
}

/// `ContactsMerged`, keyed by the survivor.
pub fn merged(principal: &Principal, survivor: &Record, merged: &[RecordId]) -> OutboxMessage {
    event(
        principal,
        survivor,
        ContactsMerged {
            survivor_id: survivor.id.to_string(),
            merged_ids: merged.iter().map(ToString::to_string).collect(),
            object_type: survivor.kind().as_str().into(),
        },
    )
}

/// `ContactOwnerChanged`.
pub fn owner_changed(principal: &Principal, r: &Record, previous_owner: &str) -> OutboxMessage {
    event(
        principal,
        r,
        ContactOwnerChanged {
            contact_id: r.id.to_string(),
            previous_owner: previous_owner.to_owned(),
            new_owner: r.fields().owner.clone(),
            object_type: r.kind().as_str().into(),
            new_team: r.fields().team.clone(),
        },
    )
}

/// `ContactErased` followed by the key's tombstone.
pub fn erased(principal: &Principal, r: &Record, erasure_id: &RecordId) -> Vec<OutboxMessage> {
    vec![
        event(
            principal,
            r,
            ContactErased {
                contact_id: r.id.to_string(),
                erasure_id: erasure_id.to_string(),
            },
        ),
        tombstone(topics::CONTACTS, &principal.tenant, &r.id.to_string()),
    ]
}
