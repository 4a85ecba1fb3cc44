//! The deals service: deals moving through sales pipelines.
//!
//! Create and get, with the `DealCreated` event through the outbox; deals
//! follow people merged or erased in the contacts service (consumed from
//! `rapport.contacts.v1` in the [`CONSUMER_GROUP`] group) and are exported
//! per person through `PersonalDataService`. Same shape as every service:
//! `api` -> `domain` -> `store`, plus `events`.

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
    deals::v1::deals_service_server::DealsServiceServer,
};

/// The service's name.
pub const SERVICE: &str = "deals";
/// Consumer group of the contacts events (merges and erasures).
pub const CONSUMER_GROUP: &str = "rapport-deals-contacts";
const HEALTH_NAMES: &[&str] = &[
    "rapport.deals.v1.DealsService",
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
    let (signal, relay) = ctx.spawn_outbox_relay(SERVICE, store.outbox())?;
    let handler = ContactChangeHandler::new(store.clone());
    let consumer = contact_changes::spawn_consumer(ctx, SERVICE, CONSUMER_GROUP, handler);
    let deals = api::DealsApi::new(store.clone(), signal)
        .with_max_stages(ctx.config.deals.max_pipeline_stages);
    let routes = tonic::service::Routes::new(DealsServiceServer::new(deals)).add_service(
        PersonalDataServiceServer::new(api::PersonalDataApi::new(store)),
    );
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
        .map(|_: Arc<dyn store::DealStore>| ())
        .map_err(|source| StartError::Store {
            service: SERVICE,
            source,
        })
}

/// The contacts consumer's handler, over this service's store.
#[cfg(test)]
mod tests {
    use chrono::Utc;
    use rapport_platform::{
        contact_changes::consumed_event,
        identity::{TenantId, UserId},
        kafka::EventHandler,
    };
    use rapport_proto::events::v1::ContactsMerged;
    use rapport_store::OutboxMessage;
    use uuid::Uuid;

    use super::*;
    use crate::{
        domain::DealDraft,
        store::{DealStore, SqliteDealStore},
    };

    #[tokio::test]
    async fn applies_merges_once_and_only_in_the_event_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteDealStore::open(&dir.path().join("deals.db"))
                .await
                .unwrap(),
        );
        let (survivor, dup) = (Uuid::now_v7(), Uuid::now_v7());
        let mut deals = Vec::new();
        for tenant in ["acme", "globex"] {
            let d = DealDraft {
                title: "Fleet renewal".into(),
                contact_id: dup.to_string(),
                ..Default::default()
            }
            .validate(
                &crate::domain::pipeline::default_pipeline(&TenantId::parse(tenant).unwrap()),
                TenantId::parse(tenant).unwrap(),
                UserId::parse("bob").unwrap(),
                Utc::now(),
            )
            .unwrap();
            let event = OutboxMessage {
                event_id: Uuid::now_v7().to_string(),
                topic: "rapport.deals.v1".into(),
                key: "k".into(),
                payload: vec![1],
                headers: vec![],
                aggregate_version: None,
            };
            let audit = OutboxMessage {
                event_id: Uuid::now_v7().to_string(),
                ..event.clone()
            };
            store.create(&d, &event, &audit).await.unwrap();
            deals.push(d);
        }
        let handler = ContactChangeHandler::new(store.clone());
        let merged = ContactsMerged {
            survivor_id: survivor.to_string(),
            merged_ids: vec![dup.to_string()],
            object_type: "person".into(),
        };
        let event = consumed_event("acme", &merged);
        handler.handle(&event).await.unwrap();
        handler.handle(&event).await.unwrap();
        let acme = store
            .get(&deals[0].tenant, deals[0].id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((acme.contact_id, acme.version), (Some(survivor), 2));
        let globex = store
            .get(&deals[1].tenant, deals[1].id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(globex, deals[1]);
    }
}
