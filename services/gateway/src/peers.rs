//! gRPC clients of the services the gateway calls.

use rapport_platform::{ServiceContext, StartError, grpc::PeerChannel};
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
            deals: DealsServiceClient::new(peer("deals")?),
            tasks: TasksServiceClient::new(peer("tasks")?),
            comms: CommsServiceClient::new(peer("comms")?),
            analytics: AnalyticsServiceClient::new(peer("analytics")?),
            health,
        })
    }
}
