//! The analytics service: figures built only from the Kafka event stream.
//!
//! It never calls another service: `events` consumes the topics in the
//! `rapport-analytics` consumer group and applies each event once (the store
//! remembers applied event ids), `api` answers queries from what was applied.

pub mod api;
pub mod domain;
pub mod events;
pub mod store;

use std::sync::Arc;

use rapport_platform::{ServiceContext, StartError, Started, events::topics};
use rapport_proto::analytics::v1::analytics_service_server::AnalyticsServiceServer;

/// The service's name.
pub const SERVICE: &str = "analytics";
/// Consumer group of the analytics projections.
pub const CONSUMER_GROUP: &str = "rapport-analytics";
const HEALTH_NAMES: &[&str] = &["rapport.analytics.v1.AnalyticsService"];

/// Opens the store, starts consuming and serves gRPC.
pub async fn start(ctx: &ServiceContext) -> Result<Started, StartError> {
    let store = store::open(&ctx.store)
        .await
        .map_err(|source| StartError::Store {
            service: SERVICE,
            source,
        })?;
    let handler = Arc::new(events::Projector::new(store.clone()));
    let consumer = ctx.spawn_consumer(
        "analytics consumer",
        CONSUMER_GROUP,
        topics::DOMAIN,
        handler,
    );
    let routes =
        tonic::service::Routes::new(AnalyticsServiceServer::new(api::AnalyticsApi::new(store)));
    let (addr, server) = ctx.serve_grpc(SERVICE, routes, HEALTH_NAMES).await?;
    Ok(Started {
        addr,
        tasks: vec![server, consumer],
    })
}

/// Applies the store's migrations without serving (`rapport migrate`).
pub async fn migrate(ctx: &ServiceContext) -> Result<(), StartError> {
    store::open(&ctx.store)
        .await
        .map(|_: Arc<dyn store::SummaryStore>| ())
        .map_err(|source| StartError::Store {
            service: SERVICE,
            source,
        })
}
