//! Consumers: apply each event, then commit.
//!
//! A consumer in a group reads a topic, decodes the envelope, continues the
//! producer's trace from `traceparent`, and hands the event to an
//! [`EventHandler`]. Only when the handler has applied it (durably) is the
//! offset committed; a failure is retried with backoff and never skipped.
//! Handlers must be idempotent, because after a crash the last events before
//! the committed offset are delivered again.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use prost::Message as _;
use rapport_proto::events::v1::EventEnvelope;
use rdkafka::{
    Message, TopicPartitionList,
    consumer::{CommitMode, Consumer, StreamConsumer},
    message::Headers,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    config::KafkaConfig,
    metrics::Metrics,
    telemetry::{KeyValues, adopt_parent},
};

/// How often consumer lag is measured.
const LAG_INTERVAL: Duration = Duration::from_secs(5);
/// Backoff bounds while a handler keeps failing (store down, say).
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// One consumed event.
#[derive(Clone, Debug)]
pub struct ConsumedEvent {
    /// Topic it came from.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Record key.
    pub key: String,
    /// The decoded envelope.
    pub envelope: EventEnvelope,
}

/// A handler failed; the event will be retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandleError(pub String);

/// Applies consumed events. Must be idempotent on `envelope.event_id`.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Applies the event durably, or fails (and it is retried).
    async fn handle(&self, event: &ConsumedEvent) -> Result<(), HandleError>;
}

/// Consumes `topics` in consumer group `group` until `shutdown` fires.
pub async fn run_consumer(
    cfg: &KafkaConfig,
    group: &str,
    topics: &[&str],
    handler: Arc<dyn EventHandler>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<(), rdkafka::error::KafkaError> {
    let consumer: Arc<StreamConsumer> = Arc::new(
        super::client_config(cfg)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            // A new group starts from the beginning: analytics must count
            // every event, not only those after it first started.
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .create()?,
    );
    consumer.subscribe(topics)?;
    tokio::spawn(measure_lag(
        consumer.clone(),
        group.to_owned(),
        metrics.clone(),
        shutdown.clone(),
    ));
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = consumer.recv() => m,
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(group, error = %e, "kafka receive failed");
                tokio::time::sleep(RETRY_MIN).await;
                continue;
            }
        };
        let topic = message.topic().to_owned();
        let mut headers = KeyValues::default();
        if let Some(h) = message.headers() {
            for header in h.iter() {
                if let Some(v) = header.value.and_then(|v| std::str::from_utf8(v).ok()) {
                    headers.0.push((header.key.to_owned(), v.to_owned()));
                }
            }
        }
        let envelope = match message.payload().map(EventEnvelope::decode) {
            Some(Ok(envelope)) => envelope,
            other => {
                // A record that can never be decoded would block the
                // partition forever; count it, log it, and move on.
                tracing::error!(group, topic, offset = message.offset(), error = ?other.and_then(Result::err), "undecodable event skipped");
                metrics
                    .events_consumed
                    .with_label_values(&[group, &topic, "poison"])
                    .inc();
                consumer.commit_message(&message, CommitMode::Async)?;
                continue;
            }
        };
        let event = ConsumedEvent {
            topic: topic.clone(),
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default(),
            envelope,
        };
        let span = tracing::info_span!(
            "kafka.consume",
            otel.name = %format!("{topic} process"),
            otel.kind = "consumer",
            messaging.system = "kafka",
            messaging.destination.name = %topic,
            messaging.consumer.group.name = group,
            messaging.message.id = %event.envelope.event_id,
            tenant = %event.envelope.tenant_id,
            trace_id = tracing::field::Empty,
        );
        adopt_parent(&span, &headers);
        let mut delay = RETRY_MIN;
        loop {
            match handler.handle(&event).instrument(span.clone()).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(parent: &span, group, error = %e, "event not applied, retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(RETRY_MAX);
                }
            }
        }
        metrics
            .events_consumed
            .with_label_values(&[group, &topic, "applied"])
            .inc();
        consumer.commit_message(&message, CommitMode::Async)?;
    }
    Ok(())
}

/// Periodically records `high watermark - position` per assigned partition.
async fn measure_lag(
    consumer: Arc<StreamConsumer>,
    group: String,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(LAG_INTERVAL) => {}
        }
        let c = consumer.clone();
        // Watermark lookups are blocking network calls.
        let lags = tokio::task::spawn_blocking(move || -> Vec<(String, i32, i64)> {
            let Ok(position) = c.position() else {
                return Vec::new();
            };
            lag_of(&c, &position)
        })
        .await
        .unwrap_or_default();
        for (topic, partition, lag) in lags {
            metrics
                .consumer_lag
                .with_label_values(&[&group, &topic, &partition.to_string()])
                .set(lag);
        }
    }
}

fn lag_of(consumer: &StreamConsumer, position: &TopicPartitionList) -> Vec<(String, i32, i64)> {
    position
        .elements()
        .iter()
        .filter_map(|e| {
            let (_, high) = consumer
                .fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(2))
                .ok()?;
            let pos = e.offset().to_raw().filter(|o| *o >= 0).unwrap_or(0);
            Some((e.topic().to_owned(), e.partition(), (high - pos).max(0)))
        })
        .collect()
}
