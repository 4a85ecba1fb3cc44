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

use rapport_platform::{ServiceContext, StartError, Started, events::topics, kafka};
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
    let handler = Arc::new(events::contacts::ContactEventHandler::new(
        store.clone(),
        signal.clone(),
    ));
    let (kafka, metrics, shutdown) = (
        ctx.config.kafka.clone(),
        ctx.metrics.clone(),
        ctx.shutdown.clone(),
    );
    let consumer = tokio::spawn(async move {
        kafka::run_consumer(
            &kafka,
            CONSUMER_GROUP,
            &[topics::CONTACTS],
            handler,
            metrics,
            shutdown,
        )
        .await
        .map_err(|e| format!("comms contacts consumer: {e}"))
    });
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
