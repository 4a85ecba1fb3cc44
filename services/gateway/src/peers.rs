//! gRPC clients of the services the gateway calls.

use std::time::Duration;

use rapport_platform::{
    ServiceContext, StartError,
    grpc::{PeerChannel, PeerInterceptor},
};
use rapport_proto::{
    analytics::v1::analytics_service_client::AnalyticsServiceClient,
    comms::v1::comms_service_client::CommsServiceClient,
    contacts::v1::contacts_service_client::ContactsServiceClient,
    deals::v1::deals_service_client::DealsServiceClient,
    tasks::v1::tasks_service_client::TasksServiceClient,
};
use tonic_health::pb::health_client::HealthClient;

/// Clients of every peer (cheap to clone: channels are shared).
#[derive(Clone, Debug)]
pub struct Peers {
    pub(crate) contacts: ContactsServiceClient<PeerChannel>,
    /// The contacts service without the per-call timeout, for streams
    /// (CSV upload and export) that last as long as the file takes.
    pub(crate) contacts_streaming: ContactsServiceClient<PeerChannel>,
    pub(crate) deals: DealsServiceClient<PeerChannel>,
    pub(crate) tasks: TasksServiceClient<PeerChannel>,
    pub(crate) comms: CommsServiceClient<PeerChannel>,
    pub(crate) analytics: AnalyticsServiceClient<PeerChannel>,
    /// Health clients, by peer name, for `/readyz`.
    pub(crate) health: Vec<(&'static str, HealthClient<PeerChannel>)>,
}

impl Peers {
    /// Lazily connecting clients to the configured peers.
    pub fn connect(ctx: &ServiceContext) -> Result<Self, StartError> {
        let peer = |name: &'static str| ctx.peer(crate::SERVICE, name);
        let mut health = Vec::new();
        for name in crate::PEERS {
            health.push((*name, HealthClient::new(peer(name)?)));
        }
        Ok(Peers {
            contacts: ContactsServiceClient::new(peer("contacts")?),
            contacts_streaming: ContactsServiceClient::new(streaming_channel(ctx, "contacts")?),
            deals: DealsServiceClient::new(peer("deals")?),
            tasks: TasksServiceClient::new(peer("tasks")?),
            comms: CommsServiceClient::new(peer("comms")?),
            analytics: AnalyticsServiceClient::new(peer("analytics")?),
            health,
        })
    }
}

/// How long to wait for a connection to a peer (as for the other channels).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A lazily connecting channel to `peer` with a connect timeout but no
/// per-call timeout: a streamed upload of a large file legitimately lasts
/// longer than any unary call should.
fn streaming_channel(ctx: &ServiceContext, peer: &'static str) -> Result<PeerChannel, StartError> {
    let error = |reason: String| StartError::Peer {
        service: crate::SERVICE,
        peer,
        reason,
    };
    let url = ctx
        .config
        .peers
        .get(peer)
        .ok_or_else(|| error(format!("peers.{peer} is not set")))?;
    let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|e| error(e.to_string()))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .connect_lazy();
    Ok(tonic::service::interceptor::InterceptedService::new(
        channel,
        PeerInterceptor::new(ctx.principal_key.clone()),
    ))
}
