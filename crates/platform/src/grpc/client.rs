//! Channels to peer services.

use std::time::Duration;

use tonic::{
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::telemetry::{HeaderCarrier, inject};

/// How long to wait for a TCP/HTTP2 connection to a peer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Upper bound for one call to a peer; a request that waits longer is
/// better failed (UNAVAILABLE/DEADLINE_EXCEEDED) than left hanging.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A channel to a peer that carries the caller's trace context.
pub type PeerChannel = InterceptedService<Channel, TraceInterceptor>;

/// Injects the current span's W3C `traceparent` into outgoing metadata.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceInterceptor;

impl Interceptor for TraceInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let mut headers = std::mem::take(req.metadata_mut()).into_headers();
        inject(&tracing::Span::current(), &mut HeaderCarrier(&mut headers));
        *req.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
        Ok(req)
    }
}

/// A lazily connecting channel to `url` (`http://host:port`), with timeouts.
/// Lazy, so services can start in any order; calls fail with UNAVAILABLE
/// until the peer is up.
pub fn connect_peer(url: &str) -> Result<PeerChannel, tonic::transport::Error> {
    let channel = Endpoint::from_shared(url.to_owned())?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .tcp_nodelay(true)
        .connect_lazy();
    Ok(InterceptedService::new(channel, TraceInterceptor))
}
