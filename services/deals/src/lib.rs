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

use rapport_platform::{ServiceContext, StartError, Started, events::topics, kafka};
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
    let handler = Arc::new(events::contacts::ContactEventHandler::new(store.clone()));
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
        .map_err(|e| format!("deals contacts consumer: {e}"))
    });
    let routes = tonic::service::Routes::new(DealsServiceServer::new(api::DealsApi::new(
        store.clone(),
        signal,
    )))
    .add_service(PersonalDataServiceServer::new(api::PersonalDataApi::new(
        store,
    )));
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
