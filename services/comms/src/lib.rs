//! The comms service: the interaction history and the customer timeline.
//!
//! Same shape as every service: `api` -> `domain` -> `store`, plus `events`.
//! It checks that a contact exists by asking the contacts service over gRPC
//! (it never reads the contacts store), follows people merged or erased there
//! (consumed from `rapport.contacts.v1` in the [`CONSUMER_GROUP`] group), and
//! exports a person's interactions through `PersonalDataService`.

pub mod api;
pub mod domain;
pub mod events;
pub mod store;

use std::sync::Arc;

use rapport_platform::{
    ServiceContext, StartError, Started,
    contact_changes::{self, ContactChangeHandler},
};
use rapport_proto::{
    common::v1::personal_data_service_server::PersonalDataServiceServer,
    comms::v1::comms_service_server::CommsServiceServer,
    contacts::v1::contacts_service_client::ContactsServiceClient,
};

/// The service's name.
pub const SERVICE: &str = "comms";
/// Consumer group of the contacts events (merges and erasures).
pub const CONSUMER_GROUP: &str = "rapport-comms-contacts";
const HEALTH_NAMES: &[&str] = &[
    "rapport.comms.v1.CommsService",
    "rapport.common.v1.PersonalDataService",
];

/// Opens the store, starts the outbox relay and the contacts consumer, and
/// serves gRPC.
pub async fn start(ctx: &ServiceContext) -> Result<Started, StartError> {
    let store = store::open(&ctx.store)
        .await
        .map_err(|source| StartError::Store {
            service: SERVICE,
            source,
        })?;
    let contacts = ContactsServiceClient::new(ctx.peer(SERVICE, "contacts")?);
    let (signal, relay) = ctx.spawn_outbox_relay(SERVICE, store.outbox())?;
    let handler = ContactChangeHandler::new(store.clone()).waking(signal.clone());
    let consumer = contact_changes::spawn_consumer(ctx, SERVICE, CONSUMER_GROUP, handler);
    let personal_data = api::PersonalDataApi::new(store.clone());
    let api = api::CommsApi::new(store, contacts, signal);
    let routes = tonic::service::Routes::new(CommsServiceServer::new(api))
        .add_service(PersonalDataServiceServer::new(personal_data));
    let (addr, server) = ctx.serve_grpc(SERVICE, routes, HEALTH_NAMES).await?;
    Ok(Started {
        addr,
        tasks: vec![server, relay, consumer],
    })
}

/// Applies the store's migrations without serving (`rapport migrate`).
pub async fn migrate(ctx: &ServiceContext) -> Result<(), StartError> {
    store::open(&ctx.store)
        .await
        .map(|_: Arc<dyn store::InteractionStore>| ())
        .map_err(|source| StartError::Store {
            service: SERVICE,
            source,
        })
}

/// The contacts consumer's handler, over this service's store.
#[cfg(test)]
mod tests {
    use chrono::{SubsecRound, Utc};
    use rapport_platform::{
        contact_changes::consumed_event,
        identity::{TenantId, UserId},
        kafka::EventHandler,
        outbox_relay::OutboxSignal,
    };
    use rapport_proto::events::v1::ContactErased;
    use rapport_store::OutboxMessage;
    use uuid::Uuid;

    use super::*;
    use crate::{
        domain::{Channel, Direction, InteractionDraft, PageSize},
        store::{InteractionStore, SqliteInteractionStore},
    };

    #[tokio::test]
    async fn erases_once_and_only_in_the_event_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteInteractionStore::open(&dir.path().join("comms.db"))
                .await
                .unwrap(),
        );
        let ada = Uuid::now_v7();
        for tenant in ["acme", "globex"] {
            let now = Utc::now().trunc_subsecs(3);
            let i = InteractionDraft {
                contact_id: ada.to_string(),
                channel: Some(Channel::Note),
                direction: Some(Direction::Internal),
                occurred_at: Some(now),
                summary: "Prefers calls after 5pm".into(),
            }
            .validate(
                TenantId::parse(tenant).unwrap(),
                UserId::parse("alice").unwrap(),
                now,
            )
            .unwrap();
            let event = OutboxMessage {
                event_id: Uuid::now_v7().to_string(),
                topic: "rapport.interactions.v1".into(),
                key: "k".into(),
                payload: vec![1],
                headers: vec![],
                aggregate_version: None,
            };
            let audit = OutboxMessage {
                event_id: Uuid::now_v7().to_string(),
                ..event.clone()
            };
            store.create(&i, &event, &audit).await.unwrap();
        }
        let signal = OutboxSignal::default();
        let handler = ContactChangeHandler::new(store.clone()).waking(signal);
        let erased = ContactErased {
            contact_id: ada.to_string(),
            erasure_id: "audit-1".into(),
        };
        let event = consumed_event("acme", &erased);
        handler.handle(&event).await.unwrap();
        let backlog = store.outbox().backlog().await.unwrap();
        handler.handle(&event).await.unwrap();
        assert_eq!(store.outbox().backlog().await.unwrap(), backlog);
        let size = PageSize::parse(10).unwrap();
        for (tenant, left) in [("acme", 0), ("globex", 1)] {
            let tenant = TenantId::parse(tenant).unwrap();
            let page = store.timeline(&tenant, ada, size, None).await.unwrap();
            assert_eq!(page.interactions.len(), left, "{tenant}");
        }
    }
}
