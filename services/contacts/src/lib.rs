//! The contacts service: people and companies, custom fields, search,
//! deduplication and merge, CSV import and export, handover, and
//! data-protection export and erasure.
//!
//! `api` decodes gRPC requests and calls `domain` (pure rules) and the
//! `store` trait; `events` builds what the service publishes. This is the
//! shape every Rapport service repeats.

pub mod api;
pub mod domain;
pub mod events;
pub mod store;

use std::sync::Arc;

use rapport_platform::{ServiceContext, StartError, Started};
use rapport_proto::contacts::v1::contacts_service_server::ContactsServiceServer;

/// The service's name: its target, keyspace suffix and metric label.
pub const SERVICE: &str = "contacts";
/// gRPC health names the server reports.
const HEALTH_NAMES: &[&str] = &["rapport.contacts.v1.ContactsService"];

/// Opens the store (applying migrations), starts the outbox relay and
/// serves gRPC until `ctx.shutdown` fires.
pub async fn start(ctx: &ServiceContext) -> Result<Started, StartError> {
    let store = store::open(&ctx.store)
        .await
        .map_err(|source| StartError::Store {
            service: SERVICE,
            source,
        })?;
    let (signal, relay) = ctx.spawn_outbox_relay(SERVICE, store.outbox())?;
    let region = domain::Region::parse(&ctx.config.contacts.default_phone_region).map_err(|e| {
        StartError::Config {
            service: SERVICE,
            reason: format!("contacts.default_phone_region: {e}"),
        }
    })?;
    let holders = ["comms", "deals", "tasks"]
        .map(|peer| ctx.late_peer(peer))
        .into();
    let api = Arc::new(
        api::ContactsApi::new(store, signal, region, holders).with_import_quota(
            ctx.config.contacts.max_running_imports_per_tenant,
            std::time::Duration::from_secs(ctx.config.contacts.abandoned_import_after_secs),
        ),
    );
    let routes = tonic::service::Routes::new(
        ContactsServiceServer::new(api::ContactsGrpc(api))
            // CSV uploads arrive in chunks of up to 1 MiB.
            .max_decoding_message_size(4 << 20),
    );
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
        .map(|_: Arc<dyn store::ContactStore>| ())
        .map_err(|source| StartError::Store {
            service: SERVICE,
            source,
        })
}
