//! `rapport.contacts.v1.ContactsService`.

use std::sync::Arc;

use chrono::Utc;
use rapport_platform::{
    error::to_status, identity::Principal, outbox_relay::OutboxSignal, proto_time::to_timestamp,
};
use rapport_proto::{
    common::v1::AuditStamp,
    contacts::v1::{
        self as pb, CreateContactRequest, GetContactRequest,
        contacts_service_server::ContactsService,
    },
};
use tonic::{Request, Response, Status};

use crate::{
    domain::{Contact, ContactDraft, ContactError, ContactId},
    events,
    store::ContactStore,
};

/// Error domain in `ErrorInfo`.
const DOMAIN: &str = "contacts.rapport";

/// The gRPC API of the contacts service.
pub struct ContactsApi {
    store: Arc<dyn ContactStore>,
    outbox: OutboxSignal,
}

impl ContactsApi {
    /// An API over `store`; `outbox` wakes the relay after each write.
    pub fn new(store: Arc<dyn ContactStore>, outbox: OutboxSignal) -> Self {
        ContactsApi { store, outbox }
    }
}

fn principal<T>(req: &Request<T>) -> Result<Principal, ContactError> {
    Principal::from_metadata(req.metadata())
        .map_err(|e| ContactError::Unauthenticated(e.to_string()))
}

fn status(e: ContactError) -> Status {
    to_status(&e, DOMAIN)
}

#[tonic::async_trait]
impl ContactsService for ContactsApi {
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_contact(
        &self,
        req: Request<CreateContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let principal = principal(&req).map_err(status)?;
        tracing::Span::current().record("tenant", principal.tenant.as_str());
        let draft = req.into_inner().contact.unwrap_or_default();
        let contact = ContactDraft {
            given_name: draft.given_name,
            family_name: draft.family_name,
            display_name: draft.display_name,
            email: draft.email,
            phone: draft.phone,
            company_name: draft.company_name,
        }
        .validate(principal.tenant.clone(), principal.user.clone(), Utc::now())
        .map_err(status)?;
        let event = events::contact_created(&principal, &contact);
        self.store
            .create(&contact, &event)
            .await
            .map_err(|e| status(e.into()))?;
        self.outbox.notify();
        Ok(Response::new(to_proto(&contact)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_contact(
        &self,
        req: Request<GetContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let principal = principal(&req).map_err(status)?;
        tracing::Span::current().record("tenant", principal.tenant.as_str());
        let id = ContactId::parse(&req.get_ref().id).map_err(status)?;
        match self
            .store
            .get(&principal.tenant, &id)
            .await
            .map_err(|e| status(e.into()))?
        {
            Some(c) => Ok(Response::new(to_proto(&c))),
            None => Err(status(ContactError::NotFound(id.to_string()))),
        }
    }
}

fn to_proto(c: &Contact) -> pb::Contact {
    pb::Contact {
        id: c.id.to_string(),
        given_name: c.given_name.clone(),
        family_name: c.family_name.clone(),
        display_name: c.display_name.clone(),
        email: c.email.as_ref().map(|e| e.to_string()).unwrap_or_default(),
        phone: c.phone.clone().unwrap_or_default(),
        company_name: c.company_name.clone(),
        etag: c.etag(),
        audit: Some(AuditStamp {
            create_time: Some(to_timestamp(c.create_time)),
            created_by: c.created_by.to_string(),
            update_time: Some(to_timestamp(c.update_time)),
            updated_by: c.updated_by.to_string(),
        }),
    }
}
