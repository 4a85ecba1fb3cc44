//! The gateway: REST/JSON for the web frontend and partners.
//!
//! It authenticates callers (bearer tokens through an [`Authenticator`],
//! API keys of partner systems against its own store), takes the tenant
//! from the token, and calls the services over gRPC with the principal in
//! metadata. The only data it owns are the tenants' API keys. Errors leave
//! as `application/problem+json` (RFC 9457).

// `Problem` is the error body of a failed request, built at most once per
// request; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod api_keys;
mod auth;
mod http_layer;
mod json;
mod peers;
mod problem;
mod rate_limit;
mod routes;
pub mod store;

use std::sync::Arc;

use axum::Router;
use rapport_platform::{ServiceContext, StartError, Started, identity::Authenticator};
use tokio::net::TcpListener;

pub use peers::Peers;
pub use problem::Problem;

/// The service's name.
pub const SERVICE: &str = "gateway";
/// Peers the gateway calls.
pub const PEERS: &[&str] = &["contacts", "deals", "tasks", "comms", "analytics"];

/// Everything a request handler needs.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) peers: Peers,
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) limits: Arc<rate_limit::RateLimits>,
    pub(crate) key_limits: Arc<rate_limit::RateLimits>,
    pub(crate) api_keys: Arc<api_keys::ApiKeys>,
}

fn store_error(source: rapport_store::StoreError) -> StartError {
    StartError::Store {
        service: SERVICE,
        source,
    }
}

/// The REST application (routes and middleware) without a listener; opens
/// (and migrates) the API key store.
pub async fn app(
    ctx: &ServiceContext,
    authenticator: Arc<dyn Authenticator>,
) -> Result<Router, StartError> {
    let keys = store::open(&ctx.store).await.map_err(store_error)?;
    let state = AppState {
        peers: Peers::connect(ctx)?,
        authenticator,
        limits: Arc::new(rate_limit::RateLimits::new(
            ctx.config.gateway.rate_limits.clone(),
        )),
        key_limits: Arc::new(rate_limit::RateLimits::new(
            ctx.config.gateway.api_key_rate_limits.clone(),
        )),
        api_keys: Arc::new(api_keys::ApiKeys::new(keys)),
    };
    Ok(routes::router(state, ctx.metrics.clone()))
}

/// Applies the API key store's pending migrations.
pub async fn migrate(ctx: &ServiceContext) -> Result<(), StartError> {
    store::open(&ctx.store)
        .await
        .map(|_: Arc<dyn store::ApiKeyStore>| ())
        .map_err(store_error)
}

/// Binds `http_addr` and serves the REST API until shutdown; in-flight
/// requests finish first.
pub async fn start(
    ctx: &ServiceContext,
    authenticator: Arc<dyn Authenticator>,
) -> Result<Started, StartError> {
    let app = app(ctx, authenticator).await?;
    let addr = ctx.config.http_addr;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Serve {
            service: SERVICE,
            source: rapport_platform::grpc::ServeError::Bind { addr, source },
        })?;
    let addr = listener
        .local_addr()
        .expect("bound listener has an address");
    let shutdown = ctx.shutdown.clone();
    tracing::info!(%addr, "REST API listening");
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .map_err(|e| format!("gateway: {e}"))
    });
    Ok(Started {
        addr,
        tasks: vec![server],
    })
}
