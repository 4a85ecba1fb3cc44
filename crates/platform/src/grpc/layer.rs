//! The tower layer around every gRPC server: the principal's seal, the
//! request's origin (for audit entries), tracing and RED metrics.
//!
//! A call whose principal metadata is not sealed by the deployment's key
//! is answered UNAUTHENTICATED here, before any handler could read it.
//! It sits outermost so the span covers decoding and the handler, and the
//! duration includes everything the caller waits for. It adopts the caller's
//! W3C `traceparent` from the request headers (gRPC metadata), so a trace
//! continues across services.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use tower::{Layer, Service};
use tracing::Instrument;

use crate::{
    audit::Origin,
    identity::{PrincipalKey, TENANT_HEADER},
    metrics::Metrics,
    telemetry::{HeaderReader, adopt_parent},
};

/// Checks the principal's seal and adds a server span and RED metrics to
/// each gRPC call.
#[derive(Clone, Debug)]
pub struct RpcLayer {
    service: &'static str,
    metrics: Arc<Metrics>,
    key: PrincipalKey,
}

impl RpcLayer {
    /// A layer for the server of `service` (e.g. `contacts`) checking seals
    /// with `key`.
    pub fn new(service: &'static str, metrics: Arc<Metrics>, key: PrincipalKey) -> Self {
        RpcLayer {
            service,
            metrics,
            key,
        }
    }
}

impl<S> Layer<S> for RpcLayer {
    type Service = RpcService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcService {
            inner,
            service: self.service,
            metrics: self.metrics.clone(),
            key: self.key.clone(),
        }
    }
}

/// The service [`RpcLayer`] produces.
#[derive(Clone, Debug)]
pub struct RpcService<S> {
    inner: S,
    service: &'static str,
    metrics: Arc<Metrics>,
    key: PrincipalKey,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B, R> Service<http::Request<B>> for RpcService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let path = req.uri().path().to_owned();
        // "/pkg.Service/Method" -> ("pkg.Service", "Method")
        let (rpc_service, rpc_method) = path
            .trim_start_matches('/')
            .split_once('/')
            .map(|(s, m)| (s.to_owned(), m.to_owned()))
            .unwrap_or_default();
        let tenant = req
            .headers()
            .get(TENANT_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = %path.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %rpc_service,
            rpc.method = %rpc_method,
            service = self.service,
            tenant = %tenant,
            trace_id = tracing::field::Empty,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        adopt_parent(&span, &HeaderReader(req.headers()));

        let sealed = self.key.check(req.headers());
        // What audit entries record and outgoing calls forward: read only
        // once the seal vouches for it.
        let origin = Origin {
            operation: rpc_method.clone(),
            ..Origin::from_headers(req.headers())
        };
        // Take the service that was polled ready, leave a clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let metrics = self.metrics.clone();
        let service = self.service;
        let started = Instant::now();
        Box::pin(
            async move {
                let result = match sealed {
                    Ok(()) => origin.scope(inner.call(req)).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "refused a call with an unsealed principal");
                        Ok(tonic::Status::unauthenticated(e.to_string()).into_http())
                    }
                };
                // Errors from handlers are "trailers-only" responses whose
                // grpc-status is in the headers; success puts 0 in trailers.
                let code = match &result {
                    Ok(resp) => resp
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("0")
                        .to_owned(),
                    Err(_) => "14".to_owned(),
                };
                tracing::Span::current().record("rpc.grpc.status_code", code.as_str());
                metrics
                    .grpc_requests
                    .with_label_values(&[service, &rpc_method, &code])
                    .inc();
                metrics
                    .grpc_duration
                    .with_label_values(&[service, &rpc_method])
                    .observe(started.elapsed().as_secs_f64());
                result
            }
            .instrument(span),
        )
    }
}
