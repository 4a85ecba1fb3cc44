//! Prometheus metrics of one process.
//!
//! One [`Metrics`] per process, passed explicitly to whatever records into
//! it (no global registry, so tests running side by side never collide). In
//! monolithic mode every service shares it and the gateway serves it on
//! `/metrics`; in distributed mode each service serves it on `metrics_addr`.

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, http::header, routing::get};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tokio_util::sync::CancellationToken;

/// Latency buckets (seconds), from sub-millisecond store reads to slow peers.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every metric Rapport records.
pub struct Metrics {
    registry: Registry,
    /// gRPC requests by service, method and status code (RED: rate, errors).
    pub grpc_requests: IntCounterVec,
    /// gRPC latency by service and method (RED: duration).
    pub grpc_duration: HistogramVec,
    /// REST requests by route, method and status.
    pub http_requests: IntCounterVec,
    /// REST latency by route and method.
    pub http_duration: HistogramVec,
    /// Events waiting in a service's outbox.
    pub outbox_backlog: IntGaugeVec,
    /// Events published by the outbox relay, by service and topic.
    pub events_published: IntCounterVec,
    /// Records behind the partition's end, per consumer group and partition.
    pub consumer_lag: IntGaugeVec,
    /// Consumed events by group, topic and outcome (applied, poison, forged).
    pub events_consumed: IntCounterVec,
    /// Seconds from a change (the event's `occurred_at`) until a consumer
    /// group applied it: how stale what a group serves is.
    pub event_freshness: HistogramVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Creates the metrics in a fresh registry.
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                labels,
            )
            .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        Arc::new(Metrics {
            grpc_requests: counter(
                "rapport_grpc_requests_total",
                "gRPC requests handled, by service, method and status code.",
                &["service", "method", "code"],
            ),
            grpc_duration: histogram(
                "rapport_grpc_request_duration_seconds",
                "gRPC request latency.",
                &["service", "method"],
            ),
            http_requests: counter(
                "rapport_http_requests_total",
                "REST requests handled, by route, method and status.",
                &["route", "method", "status"],
            ),
            http_duration: histogram(
                "rapport_http_request_duration_seconds",
                "REST request latency.",
                &["route", "method"],
            ),
            outbox_backlog: gauge(
                "rapport_outbox_backlog",
                "Events stored in a service's outbox and not yet published.",
                &["service"],
            ),
            events_published: counter(
                "rapport_events_published_total",
                "Events published to Kafka by the outbox relay.",
                &["service", "topic"],
            ),
            consumer_lag: gauge(
                "rapport_kafka_consumer_lag",
                "Records between a consumer group's position and the partition end.",
                &["group", "topic", "partition"],
            ),
            events_consumed: counter(
                "rapport_events_consumed_total",
                "Events consumed, by group, topic and outcome.",
                &["group", "topic", "outcome"],
            ),
            event_freshness: histogram(
                "rapport_event_freshness_seconds",
                "Seconds from a change until a consumer group applied its event.",
                &["group", "topic"],
            ),
            registry,
        })
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}

/// An axum route serving `/metrics`.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics.render(),
                )
            }
        }),
    )
}

/// Serves `/metrics` on its own listener (gRPC services in distributed mode).
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, metrics_router(metrics))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_recorded_values() {
        let m = Metrics::new();
        m.outbox_backlog.with_label_values(&["contacts"]).set(3);
        let text = m.render();
        assert!(
            text.contains("rapport_outbox_backlog{service=\"contacts\"} 3"),
            "{text}"
        );
    }
}
