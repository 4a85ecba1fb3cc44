//! Logs and traces.
//!
//! [`init`] is called once in `main`. It installs a `tracing` subscriber that
//! writes JSON (or text) logs to stderr, including the fields of the current
//! spans (so every line of a request carries its `trace_id` and `tenant`),
//! and an OpenTelemetry layer. Traces are exported over OTLP/gRPC when an
//! endpoint is configured; without one, spans still get W3C trace ids so
//! `traceparent` propagates through gRPC and Kafka either way.
//!
//! Context propagation lives here and in the gRPC and Kafka layers, never in
//! handlers.

use std::time::Duration;

use opentelemetry::{
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    runtime,
    trace::{
        BatchConfigBuilder, Sampler, SdkTracerProvider,
        span_processor_with_async_runtime::BatchSpanProcessor,
    },
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{LogFormat, TelemetryConfig};

/// Keeps the exporter alive; flushes pending spans when dropped.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built.
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    /// A subscriber was already installed.
    #[error("tracing subscriber: {0}")]
    Subscriber(String),
}

/// Installs logging and tracing for the process. `service` names the
/// process in traces (`rapport` for the monolith, the target otherwise).
pub fn init(cfg: &TelemetryConfig, service: &str) -> Result<TelemetryGuard, TelemetryError> {
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(cfg.sampling_ratio)));
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        );
    if let Some(endpoint) = &cfg.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .with_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        // The async-runtime processor exports from a Tokio task, which the
        // tonic exporter needs; a short delay keeps traces near real time.
        let processor = BatchSpanProcessor::builder(exporter, runtime::Tokio)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(Duration::from_millis(500))
                    .build(),
            )
            .build();
        builder = builder.with_span_processor(processor);
    }
    let provider = builder.build();
    let tracer = provider.tracer("rapport");

    let filter = EnvFilter::try_new(&cfg.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = match cfg.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    // One global filter: what is not logged is not traced either.
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init()
        .map_err(|e| TelemetryError::Subscriber(e.to_string()))?;
    Ok(TelemetryGuard { provider })
}

/// Makes `span` a child of the W3C context in `carrier` (if any) and records
/// its trace id in the span's `trace_id` field for the logs.
pub fn adopt_parent(span: &tracing::Span, carrier: &dyn Extractor) {
    let parent = TraceContextPropagator::new().extract(carrier);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    record_trace_id(span);
}

/// Records the span's OpenTelemetry trace id in its `trace_id` field.
pub fn record_trace_id(span: &tracing::Span) {
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// Writes the W3C context of `span` into `carrier`.
pub fn inject(span: &tracing::Span, carrier: &mut dyn Injector) {
    TraceContextPropagator::new().inject_context(&span.context(), carrier);
}

/// The `traceparent` of `span`, if it has a valid context.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let mut pairs = KeyValues::default();
    inject(span, &mut pairs);
    pairs
        .0
        .into_iter()
        .find(|(k, _)| k == "traceparent")
        .map(|(_, v)| v)
}

/// A list of string pairs usable as an OpenTelemetry carrier (Kafka headers,
/// outbox headers).
#[derive(Debug, Default)]
pub struct KeyValues(pub Vec<(String, String)>);

impl Injector for KeyValues {
    fn set(&mut self, key: &str, value: String) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_owned(), value));
    }
}

impl Extractor for KeyValues {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// HTTP headers (gRPC metadata) as an OpenTelemetry carrier.
#[derive(Debug)]
pub struct HeaderCarrier<'a>(pub &'a mut http::HeaderMap);

impl Injector for HeaderCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Read-only HTTP headers as an OpenTelemetry carrier.
#[derive(Debug)]
pub struct HeaderReader<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
