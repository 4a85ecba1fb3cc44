//! The gateway: REST/JSON for the web frontend and partners.
//!
//! It authenticates callers (bearer tokens through an [`Authenticator`],
//! API keys of partner systems against its own store), takes the tenant
//! from the token, and calls the services over gRPC with the principal and
//! the request's origin in sealed metadata. It owns the tenants' API keys,
//! custom roles and browser sessions, and the index of the audit trail (`/v1/audit`, consumed from
//! `rapport.audit.v1`). Errors leave as `application/problem+json`
//! (RFC 9457).

// `Problem` is the error body of a failed request, built at most once per
// request; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod api_keys;
mod audit_index;
mod auth;
mod http_layer;
mod json;
mod live_sessions;
mod oidc;
mod peers;
mod problem;
mod rate_limit;
mod roles;
mod routes;
mod session;
pub mod store;

use std::sync::Arc;

use axum::Router;
use rapport_platform::{
    ServiceContext, StartError, Started, events::topics, identity::Authenticator,
    outbox_relay::OutboxSignal,
};
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
    /// The tenants' custom roles.
    pub(crate) roles: Arc<roles::Roles>,
    pub(crate) audit: Arc<dyn store::AuditStore>,
    /// Wakes the relay of the API keys' audit entries.
    pub(crate) outbox: OutboxSignal,
    /// Browser sessions (signed cookies).
    pub(crate) sessions: Arc<session::Sessions>,
    /// Which sessions are still live (ended ones fail within seconds).
    pub(crate) live_sessions: Arc<live_sessions::LiveSessions>,
    /// Browser sign-in, when the provider and client are configured.
    pub(crate) sign_in: Option<Arc<routes::SignIn>>,
}

fn store_error(source: rapport_store::StoreError) -> StartError {
    StartError::Store {
        service: SERVICE,
        source,
    }
}

fn retention(ctx: &ServiceContext) -> chrono::Duration {
    chrono::Duration::days(i64::from(ctx.config.gateway.audit.retention_days))
}

async fn open_stores(ctx: &ServiceContext) -> Result<store::Stores, StartError> {
    store::open(&ctx.store, retention(ctx))
        .await
        .map_err(store_error)
}

/// The REST application (routes and middleware) without a listener or
/// background tasks, over opened (and migrated) stores.
pub async fn app(
    ctx: &ServiceContext,
    authenticator: Arc<dyn Authenticator>,
) -> Result<Router, StartError> {
    let stores = open_stores(ctx).await?;
    router(ctx, authenticator, &stores, OutboxSignal::default(), None)
}

fn router(
    ctx: &ServiceContext,
    authenticator: Arc<dyn Authenticator>,
    stores: &store::Stores,
    outbox: OutboxSignal,
    oidc: Option<Arc<oidc::OidcVerifier>>,
) -> Result<Router, StartError> {
    let auth = &ctx.config.auth;
    let sign_in = match (oidc, &auth.oidc_client_id, &auth.oidc_client_secret) {
        (Some(oidc), Some(id), Some(secret)) => Some(Arc::new(routes::SignIn {
            oidc,
            client_id: id.clone(),
            client_secret: secret.expose().to_owned(),
            redirect_url: auth.oidc_redirect_url.clone(),
        })),
        _ => None,
    };
    let sessions = Arc::new(session::Sessions::new(
        ctx.principal_key.derive("gateway-session"),
        std::time::Duration::from_secs(auth.session_ttl_hours * 3600),
    ));
    let state = AppState {
        sessions,
        live_sessions: Arc::new(live_sessions::LiveSessions::new(stores.sessions.clone())),
        sign_in,
        peers: Peers::connect(ctx)?,
        authenticator,
        limits: Arc::new(rate_limit::RateLimits::new(
            ctx.config.gateway.rate_limits.clone(),
        )),
        key_limits: Arc::new(rate_limit::RateLimits::new(
            ctx.config.gateway.api_key_rate_limits.clone(),
        )),
        api_keys: Arc::new(api_keys::ApiKeys::new(stores.api_keys.clone())),
        roles: Arc::new(roles::Roles::new(stores.roles.clone())),
        audit: stores.audit.clone(),
        outbox,
    };
    Ok(routes::router(state, ctx.metrics.clone()))
}

/// Applies the store's pending migrations.
pub async fn migrate(ctx: &ServiceContext) -> Result<(), StartError> {
    open_stores(ctx).await.map(|_| ())
}

/// Binds `http_addr` and serves the REST API until shutdown (in-flight
/// requests finish first); publishes the API keys' audit entries, indexes
/// the audit trail and applies its retention. People sign in through the
/// configured OpenID provider; `dev_tokens`, when given, also accepts dev
/// tokens (monolithic mode).
pub async fn start(
    ctx: &ServiceContext,
    dev_tokens: Option<Arc<dyn Authenticator>>,
) -> Result<Started, StartError> {
    let oidc = oidc::OidcVerifier::new(&ctx.config.auth);
    if let Some(o) = &oidc {
        o.prefetch();
    }
    let authenticator: Arc<dyn Authenticator> = Arc::new(oidc::BearerTokens {
        oidc: oidc.clone(),
        dev: dev_tokens,
    });
    let stores = open_stores(ctx).await?;
    let (signal, relay) = ctx.spawn_outbox_relay(SERVICE, stores.outbox.clone())?;
    let indexer = Arc::new(audit_index::AuditIndexer::new(stores.audit.clone()));
    let consumer = ctx.spawn_consumer(
        "audit index consumer",
        audit_index::CONSUMER_GROUP,
        &[topics::AUDIT],
        indexer,
    );
    let retention_task = tokio::spawn(audit_index::run_retention(
        stores.audit.clone(),
        retention(ctx),
        ctx.shutdown.clone(),
    ));
    let app = router(ctx, authenticator, &stores, signal, oidc)?;
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
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(|e| format!("gateway: {e}"))
    });
    Ok(Started {
        addr,
        tasks: vec![server, relay, consumer, retention_task],
    })
}
