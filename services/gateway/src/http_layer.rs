//! The middleware around every REST request: a server span that continues
//! the caller's trace (if it sent `traceparent`), the request's origin for
//! audit entries (forwarded, sealed, to every service it calls) and RED
//! metrics by route.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{ConnectInfo, MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use rapport_platform::{
    audit::Origin,
    metrics::Metrics,
    telemetry::{HeaderReader, adopt_parent},
};
use tracing::Instrument;

/// Traces and measures one request.
pub(crate) async fn observe(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let span = tracing::info_span!(
        "http.server",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        tenant = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    adopt_parent(&span, &HeaderReader(req.headers()));
    let started = Instant::now();
    // The gateway's own changes (API keys) name the route; a service
    // names its gRPC method instead.
    let origin = Origin {
        operation: format!("{method} {route}"),
        ..Origin::of_http(
            req.extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
            req.headers(),
        )
    };
    let resp = origin.scope(next.run(req)).instrument(span.clone()).await;
    let status = resp.status().as_u16();
    span.record("http.response.status_code", status);
    let elapsed = started.elapsed();
    // The access log: one line per request, carrying the span's trace_id
    // and tenant, so logs and traces of a request join up.
    span.in_scope(|| {
        tracing::info!(
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "{method} {route}"
        )
    });
    metrics
        .http_requests
        .with_label_values(&[&route, &method, &status.to_string()])
        .inc();
    metrics
        .http_duration
        .with_label_values(&[&route, &method])
        .observe(elapsed.as_secs_f64());
    resp
}
