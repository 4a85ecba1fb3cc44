//! The comms service: the interaction history and the customer timeline.
//!
//! Same shape as every service: `api` -> `domain` -> `store`, plus `events`.
//! It checks that a contact exists by asking the contacts service over gRPC
//! (it never reads the contacts store).

pub mod api;
pub mod domain;
pub mod events;
pub mod store;

use std::sync::Arc;

use rapport_platform::{ServiceContext, StartError, Started};
use rapport_proto::{
    comms::v1::comms_service_server::CommsServiceServer,
    contacts::v1::contacts_service_client::ContactsServiceClient,
};

/// The service's name.
pub const SERVICE: &str = "comms";
const HEALTH_NAMES: &[&str] = &["rapport.comms.v1.CommsService"];

/// Opens the store, starts the outbox relay and serves gRPC.
pub async fn start(ctx: &ServiceContext) -> Result<Started, StartError> {
    let store = store::open(&ctx.store)
        .await
        .map_err(|source| StartError::Store {
            service: SERVICE,
            source,
        })?;
    let contacts = ContactsServiceClient::new(ctx.peer(SERVICE, "contacts")?);
    let (signal, relay) = ctx.spawn_outbox_relay(SERVICE, store.outbox())?;
    let api = api::CommsApi::new(store, contacts, signal);
    let routes = tonic::service::Routes::new(CommsServiceServer::new(api));
    let (addr, server) = ctx.serve_grpc(SERVICE, routes, HEALTH_NAMES).await?;
    Ok(Started {
        addr,
        tasks: vec![server, relay],
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
