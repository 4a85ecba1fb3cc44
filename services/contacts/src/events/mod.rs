//! What the contacts service publishes.

use rapport_platform::{
    events::{NewEvent, topics},
    identity::Principal,
};
use rapport_proto::events::v1::{ContactCreated, ContactData};
use rapport_store::OutboxMessage;

use crate::domain::Contact;

/// CloudEvents `source` of every contacts event.
pub const SOURCE: &str = "/rapport/contacts";

/// The `ContactCreated` event for a new contact.
pub fn contact_created(principal: &Principal, c: &Contact) -> OutboxMessage {
    NewEvent {
        topic: topics::CONTACTS,
        source: SOURCE,
        principal,
        aggregate_type: "contact",
        aggregate_id: &c.id.to_string(),
        aggregate_version: c.version,
        occurred_at: c.create_time,
        payload: ContactCreated {
            contact: Some(ContactData {
                contact_id: c.id.to_string(),
                given_name: c.given_name.clone(),
                family_name: c.family_name.clone(),
                display_name: c.display_name.clone(),
                email: c.email.as_ref().map(|e| e.to_string()).unwrap_or_default(),
                phone: c.phone.clone().unwrap_or_default(),
                company_name: c.company_name.clone(),
            }),
        },
    }
    .into_outbox()
}
