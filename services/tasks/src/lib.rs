//! The tasks service: tasks and activities for staff.
//!
//! First version: create and get, with the `TaskCreated` event through the
//! outbox. Same shape as every service: `api` -> `domain` -> `store`,
//! plus `events`.

pub mod api;
pub mod domain;
pub mod events;
pub mod store;

use std::sync::Arc;

use rapport_platform::{ServiceContext, StartError, Started};
use rapport_proto::tasks::v1::tasks_service_server::TasksServiceServer;

/// The service's name.
pub const SERVICE: &str = "tasks";
const HEALTH_NAMES: &[&str] = &["rapport.tasks.v1.TasksService"];

/// Opens the store, starts the outbox relay and serves gRPC.
pub async fn start(ctx: &ServiceContext) -> Result<Started, StartError> {
    let store = store::open(&ctx.store)
        .await
        .map_err(|source| StartError::Store {
            service: SERVICE,
            source,
        })?;
    let (signal, relay) = ctx.spawn_outbox_relay(SERVICE, store.outbox())?;
    let routes =
        tonic::service::Routes::new(TasksServiceServer::new(api::TasksApi::new(store, signal)));
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
        .map(|_: Arc<dyn store::TaskStore>| ())
        .map_err(|source| StartError::Store {
            service: SERVICE,
            source,
        })
}
