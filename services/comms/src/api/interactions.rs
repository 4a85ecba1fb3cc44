//! `rapport.comms.v1.CommsService`.

use std::sync::Arc;

use chrono::Utc;
use rapport_platform::{
    contact_changes::link_following_merges,
    error::to_status,
    grpc::PeerChannel,
    identity::{Object, Permission, Principal, caller},
    outbox_relay::OutboxSignal,
    proto_time::{from_timestamp, to_timestamp},
};
use rapport_proto::{
    common::v1::AuditStamp,
    comms::v1::{
        self as pb, ListTimelineRequest, ListTimelineResponse, LogInteractionRequest,
        comms_service_server::CommsService,
    },
    contacts::v1::{GetContactRequest, contacts_service_client::ContactsServiceClient},
};
use rapport_store::{Fate, PageToken};
use tonic::{Code, Request, Response, Status};
use uuid::Uuid;

use crate::{
    domain::{Channel, CommsError, Direction, Interaction, InteractionDraft, PageSize},
    events,
    store::InteractionStore,
};

pub(super) const DOMAIN: &str = "comms.rapport";

/// The gRPC API of the comms service.
pub struct CommsApi {
    store: Arc<dyn InteractionStore>,
    contacts: ContactsServiceClient<PeerChannel>,
    outbox: OutboxSignal,
}

impl CommsApi {
    /// An API over `store`, checking contacts with `contacts`.
    pub fn new(
        store: Arc<dyn InteractionStore>,
        contacts: ContactsServiceClient<PeerChannel>,
        outbox: OutboxSignal,
    ) -> Self {
        CommsApi {
            store,
            contacts,
            outbox,
        }
    }

    /// Fails unless the contact exists for the caller's tenant.
    async fn ensure_contact(&self, principal: &Principal, id: Uuid) -> Result<(), CommsError> {
        let req = principal.request(GetContactRequest { id: id.to_string() });
        match self.contacts.clone().get_contact(req).await {
            Ok(_) => Ok(()),
            Err(s) if s.code() == Code::NotFound => {
                Err(CommsError::ContactNotFound(id.to_string()))
            }
            Err(s) => Err(CommsError::ContactsUnavailable(s.message().to_owned())),
        }
    }

    /// The id under which `id` lives now: itself, or the survivor it was
    /// merged into (the contacts service no longer knows a merged id, comms
    /// remembers it); an erased person is refused.
    async fn live_contact(&self, principal: &Principal, id: Uuid) -> Result<Uuid, CommsError> {
        match self.ensure_contact(principal, id).await {
            Err(CommsError::ContactNotFound(missing)) => {
                match self.store.contact_fate(&principal.tenant, id).await? {
                    Fate::Erased => Err(CommsError::ContactErased(missing)),
                    Fate::Live(survivor) if survivor != id => {
                        self.ensure_contact(principal, survivor).await?;
                        Ok(survivor)
                    }
                    Fate::Live(_) => Err(CommsError::ContactNotFound(missing)),
                }
            }
            other => other.map(|()| id),
        }
    }
}

fn principal<T>(req: &Request<T>, permission: Permission) -> Result<Principal, Status> {
    caller(req.metadata(), permission).map_err(|e| to_status(&e, DOMAIN))
}

fn status(e: CommsError) -> Status {
    to_status(&e, DOMAIN)
}

fn channel_of(c: i32) -> Option<Channel> {
    use pb::Channel as P;
    Some(match P::try_from(c).ok()? {
        P::Unspecified => return None,
        P::Call => Channel::Call,
        P::Email => Channel::Email,
        P::Sms => Channel::Sms,
        P::Messenger => Channel::Messenger,
        P::Meeting => Channel::Meeting,
        P::Note => Channel::Note,
        P::WebForm => Channel::WebForm,
    })
}

fn direction_of(d: i32) -> Option<Direction> {
    use pb::Direction as P;
    Some(match P::try_from(d).ok()? {
        P::Unspecified => return None,
        P::Inbound => Direction::Inbound,
        P::Outbound => Direction::Outbound,
        P::Internal => Direction::Internal,
    })
}

#[tonic::async_trait]
impl CommsService for CommsApi {
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn log_interaction(
        &self,
        req: Request<LogInteractionRequest>,
    ) -> Result<Response<pb::Interaction>, Status> {
        let principal = principal(&req, Permission::write(Object::Interactions))?;
        let i = req.into_inner().interaction.unwrap_or_default();
        let interaction = InteractionDraft {
            contact_id: i.contact_id,
            channel: channel_of(i.channel),
            direction: direction_of(i.direction),
            occurred_at: i.occurred_at.as_ref().and_then(from_timestamp),
            summary: i.summary,
        }
        .validate(principal.tenant.clone(), principal.user.clone(), Utc::now())
        .map_err(status)?;
        let mut interaction = interaction;
        interaction.contact_id = self
            .live_contact(&principal, interaction.contact_id)
            .await
            .map_err(status)?;
        // Stored for the person as they are now: a merge or an erasure that
        // reaches comms meanwhile redirects or refuses it in the store.
        interaction.contact_id = link_following_merges(interaction.contact_id, |contact| {
            let mut linked = interaction.clone();
            linked.contact_id = contact;
            let event = events::interaction_logged(&principal, &linked);
            let audit = events::interaction_audit(&principal, &linked);
            let store = self.store.clone();
            async move {
                store
                    .create(&linked, &event, &audit)
                    .await
                    .map_err(CommsError::from)
            }
        })
        .await
        .map_err(|e| status(e.into()))?;
        self.outbox.notify();
        Ok(Response::new(to_proto(&interaction)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_timeline(
        &self,
        req: Request<ListTimelineRequest>,
    ) -> Result<Response<ListTimelineResponse>, Status> {
        let principal = principal(&req, Permission::read(Object::Interactions))?;
        let req = req.into_inner();
        let contact_id = Uuid::parse_str(&req.contact_id)
            .map_err(|_| status(CommsError::ContactNotFound(req.contact_id.clone())))?;
        let page = req.page.unwrap_or_default();
        let size = PageSize::parse(page.page_size).map_err(status)?;
        let token = PageToken::decode(&page.page_token).map_err(|e| status(e.into()))?;
        // A contact of another tenant is "not found", never an empty timeline.
        self.ensure_contact(&principal, contact_id)
            .await
            .map_err(status)?;
        let page = self
            .store
            .timeline(&principal.tenant, contact_id, size, token)
            .await
            .map_err(|e| status(e.into()))?;
        Ok(Response::new(ListTimelineResponse {
            interactions: page.interactions.iter().map(to_proto).collect(),
            next_page_token: page.next.map(|t| t.encode()).unwrap_or_default(),
        }))
    }
}

fn to_proto(i: &Interaction) -> pb::Interaction {
    let channel = match i.channel {
        Channel::Call => pb::Channel::Call,
        Channel::Email => pb::Channel::Email,
        Channel::Sms => pb::Channel::Sms,
        Channel::Messenger => pb::Channel::Messenger,
        Channel::Meeting => pb::Channel::Meeting,
        Channel::Note => pb::Channel::Note,
        Channel::WebForm => pb::Channel::WebForm,
    };
    let direction = match i.direction {
        Direction::Inbound => pb::Direction::Inbound,
        Direction::Outbound => pb::Direction::Outbound,
        Direction::Internal => pb::Direction::Internal,
    };
    pb::Interaction {
        id: i.id.to_string(),
        contact_id: i.contact_id.to_string(),
        channel: channel as i32,
        direction: direction as i32,
        occurred_at: Some(to_timestamp(i.occurred_at)),
        summary: i.summary.clone(),
        audit: Some(AuditStamp {
            create_time: Some(to_timestamp(i.create_time)),
            created_by: i.created_by.to_string(),
            update_time: Some(to_timestamp(i.create_time)),
            updated_by: i.created_by.to_string(),
        }),
    }
}
