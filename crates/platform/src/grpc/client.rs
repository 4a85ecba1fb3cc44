//! Channels to peer services.

use std::time::Duration;

use tonic::{
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::{
    audit::Origin,
    identity::PrincipalKey,
    telemetry::{HeaderCarrier, inject},
};

/// How long to wait for a TCP/HTTP2 connection to a peer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Upper bound for one call to a peer; a request that waits longer is
/// better failed (UNAVAILABLE/DEADLINE_EXCEEDED) than left hanging.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A channel to a peer that carries the caller's trace context and sealed
/// principal.
pub type PeerChannel = InterceptedService<Channel, PeerInterceptor>;

/// Injects the current span's W3C `traceparent` and the request's origin into
/// outgoing metadata and seals the principal the caller put there.
#[derive(Clone, Debug)]
pub struct PeerInterceptor {
    key: PrincipalKey,
}

impl PeerInterceptor {
    /// An interceptor sealing with `key`.
    pub fn new(key: PrincipalKey) -> Self {
        PeerInterceptor { key }
    }
}

impl Interceptor for PeerInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let mut headers = std::mem::take(req.metadata_mut()).into_headers();
        inject(&tracing::Span::current(), &mut HeaderCarrier(&mut headers));
        // The origin of the request being served goes along (sealed with
        // the principal), so the peer's audit entries say where it came from.
        Origin::current().write_headers(&mut headers);
        self.key.seal(&mut headers);
        *req.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
        Ok(req)
    }
}

/// A lazily connecting channel to `url` (`http://host:port`), with timeouts,
/// sealing principals with `key`. Lazy, so services can start in any order;
/// calls fail with UNAVAILABLE until the peer is up.
pub fn connect_peer(url: &str, key: &PrincipalKey) -> Result<PeerChannel, tonic::transport::Error> {
    let channel = Endpoint::from_shared(url.to_owned())?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .tcp_nodelay(true)
        .connect_lazy();
    Ok(InterceptedService::new(
        channel,
        PeerInterceptor::new(key.clone()),
    ))
}
