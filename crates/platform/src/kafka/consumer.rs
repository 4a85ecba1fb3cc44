//! Consumers: apply a batch of events, then commit past it.
//!
//! A consumer in a group reads its topics, decodes each envelope, continues
//! the producer's trace from `traceparent`, and hands the events received
//! together (up to [`BATCH_MAX`], gathered while they keep arriving) to an
//! [`EventHandler`] at once, so a store can apply them in one transaction.
//! Only when the handler has applied the batch (durably) are the offsets
//! committed, once per partition for the whole batch; a failure is retried
//! with backoff and never skipped. Handlers must be idempotent, because
//! after a crash the last events before the committed offset are delivered
//! again.
//!
//! On shutdown the consumer commits what it applied (synchronously, bounded)
//! and closes its client on a blocking thread: librdkafka's close waits for
//! the broker, and on an async worker it would stall the runtime, the
//! embedded broker's answers and every timer with it.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use prost::Message as _;
use rapport_proto::events::v1::EventEnvelope;
use rdkafka::{
    Message,
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
/// How long the final commit and close on shutdown may wait for the broker.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Events handed to a handler at once at most.
const BATCH_MAX: usize = 1024;
/// How long a batch waits for the next event once one arrived: events
/// already fetched come at once, so this only bounds the wait at the end.
const BATCH_LINGER: Duration = Duration::from_millis(2);
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
    /// The event's `kafka.consume` span, continuing the producer's trace;
    /// the handler's work for the event belongs in it.
    pub span: tracing::Span,
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

    /// Applies `events` (in the order received; per partition, in offset
    /// order) durably, or fails and the whole batch is retried, so what a
    /// failed attempt applied must be applied again without effect. The
    /// default applies them one by one; a store that can apply them in one
    /// transaction should.
    async fn handle_batch(&self, events: &[ConsumedEvent]) -> Result<(), HandleError> {
        for event in events {
            self.handle(event).instrument(event.span.clone()).await?;
        }
        Ok(())
    }
}

/// Consumes `topics` in consumer group `group` until `shutdown` fires;
/// records `signer` did not sign are refused (counted as forged) unless
/// `cfg.accept_unsigned_events` is set.
#[allow(clippy::too_many_arguments)]
pub async fn run_consumer(
    cfg: &KafkaConfig,
    group: &str,
    topics: &[&str],
    handler: Arc<dyn EventHandler>,
    signer: super::EventSigner,
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
            .set("fetch.wait.max.ms", cfg.fetch_wait_max_ms.to_string())
            .set("fetch.max.bytes", cfg.fetch_max_bytes.to_string())
            // A crashed member's partitions move after 10 s instead of the
            // 45 s default, so a restarted pod resumes quickly.
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "3000")
            // Also the rebalance timeout: how long a rebalance waits for
            // members that died without leaving (kill -9, node loss).
            .set("max.poll.interval.ms", "30000")
            .create()?,
    );
    if cfg.assign_all_partitions {
        assign_all(&consumer, topics).await?;
    } else {
        consumer.subscribe(topics)?;
    }
    let lag = tokio::spawn(measure_lag(
        consumer.clone(),
        group.to_owned(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let mut applied = Applied::default();
    let signatures = Signatures {
        signer,
        accept_unsigned: cfg.accept_unsigned_events,
    };
    consume(
        &consumer,
        group,
        &signatures,
        handler.as_ref(),
        &metrics,
        &shutdown,
        &mut applied,
    )
    .await;
    // The lag task holds a clone of the client; wait for it to let go.
    let _ = lag.await;
    close(consumer, applied, group).await;
    Ok(())
}

/// The next offset to read per partition, for what was applied (or skipped).
#[derive(Default)]
struct Applied(HashMap<(String, i32), i64>);

impl Applied {
    fn record(&mut self, topic: &str, partition: i32, offset: i64) {
        self.0.insert((topic.to_owned(), partition), offset + 1);
    }

    /// The offsets to commit, as librdkafka takes them.
    fn list(&self) -> rdkafka::TopicPartitionList {
        let mut tpl = rdkafka::TopicPartitionList::new();
        for ((topic, partition), next) in &self.0 {
            let _ = tpl.add_partition_offset(topic, *partition, rdkafka::Offset::Offset(*next));
        }
        tpl
    }
}

/// Commits the applied offsets and destroys the client, off the async
/// workers, waiting at most [`CLOSE_TIMEOUT`]. Only what was applied is
/// committed: an event received but not yet applied when shutdown came is
/// delivered again after the restart. A client that cannot reach its broker
/// is left to the process exit rather than holding up the shutdown.
async fn close(consumer: Arc<StreamConsumer>, applied: Applied, group: &str) {
    let name = group.to_owned();
    let mut applied = applied;
    let done = tokio::task::spawn_blocking(move || {
        // Only partitions this member still owns: after a rebalance another
        // member may have moved a revoked partition's offset further.
        // (`assignment` is local, no broker round trip.)
        if let Ok(assigned) = consumer.assignment() {
            applied.0.retain(|(topic, partition), _| {
                assigned.find_partition(topic, *partition).is_some()
            });
        }
        if !applied.0.is_empty()
            && let Err(e) = consumer.commit(&applied.list(), CommitMode::Sync)
        {
            tracing::warn!(group = name, error = %e, "final offset commit failed; the last events may be redelivered");
        }
        drop(consumer);
    });
    if tokio::time::timeout(CLOSE_TIMEOUT, done).await.is_err() {
        tracing::warn!(
            group,
            "consumer did not close in time; leaving it to the exit"
        );
    }
}

/// What one received record asks for.
enum Received {
    /// An event to apply.
    Event(Box<ConsumedEvent>),
    /// A record with nothing to apply (a tombstone, or one that cannot be
    /// decoded); only its offset moves on.
    Skip {
        topic: String,
        partition: i32,
        offset: i64,
    },
}

/// Receives batches, applies and commits them until `shutdown` fires.
async fn consume(
    consumer: &StreamConsumer,
    group: &str,
    signatures: &Signatures,
    handler: &dyn EventHandler,
    metrics: &Metrics,
    shutdown: &CancellationToken,
    applied: &mut Applied,
) {
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = consumer.recv() => m,
        };
        let mut received = match first {
            Ok(m) => vec![receive(&m, group, signatures, metrics)],
            Err(e) => {
                tracing::warn!(group, error = %e, "kafka receive failed");
                tokio::time::sleep(RETRY_MIN).await;
                continue;
            }
        };
        while received.len() < BATCH_MAX {
            match tokio::time::timeout(BATCH_LINGER, consumer.recv()).await {
                Ok(Ok(m)) => received.push(receive(&m, group, signatures, metrics)),
                Ok(Err(e)) => {
                    tracing::warn!(group, error = %e, "kafka receive failed");
                    break;
                }
                Err(_) => break,
            }
        }
        let mut skipped = Vec::new();
        let mut events = Vec::with_capacity(received.len());
        for r in received {
            match r {
                Received::Event(e) => events.push(*e),
                Received::Skip {
                    topic,
                    partition,
                    offset,
                } => skipped.push((topic, partition, offset)),
            }
        }
        if !events.is_empty() && !apply(handler, &events, group, shutdown).await {
            return;
        }
        // Offsets only move forward: record them in offset order.
        let mut offsets: Vec<(&str, i32, i64)> = events
            .iter()
            .map(|e| (e.topic.as_str(), e.partition, e.offset))
            .chain(skipped.iter().map(|(t, p, o)| (t.as_str(), *p, *o)))
            .collect();
        offsets.sort_by_key(|(_, _, o)| *o);
        let mut batch = Applied::default();
        for (topic, partition, offset) in offsets {
            applied.record(topic, partition, offset);
            batch.record(topic, partition, offset);
        }
        let now = chrono::Utc::now();
        for e in &events {
            metrics
                .events_consumed
                .with_label_values(&[group, &e.topic, "applied"])
                .inc();
            if let Some(at) = e
                .envelope
                .occurred_at
                .as_ref()
                .and_then(crate::proto_time::from_timestamp)
            {
                let age = (now - at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
                metrics
                    .event_freshness
                    .with_label_values(&[group, &e.topic])
                    .observe(age.max(0.0));
            }
        }
        // Only the batch's partitions (another member may own the rest
        // after a rebalance). Asynchronous: librdkafka sends it in the
        // background; a commit that is lost only means a redelivery, which
        // handlers tolerate.
        if let Err(e) = consumer.commit(&batch.list(), CommitMode::Async) {
            tracing::warn!(group, error = %e, "offset commit failed; events may be redelivered");
        }
    }
}

/// Applies `events`, retrying with backoff until it succeeds; `false` when
/// shutdown came first (nothing is committed for them then).
async fn apply(
    handler: &dyn EventHandler,
    events: &[ConsumedEvent],
    group: &str,
    shutdown: &CancellationToken,
) -> bool {
    let mut delay = RETRY_MIN;
    loop {
        match handler.handle_batch(events).await {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(group, events = events.len(), error = %e, "events not applied, retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(RETRY_MAX);
            }
        }
    }
}

/// How a consumer checks records' signatures.
struct Signatures {
    signer: super::EventSigner,
    /// Unsigned records pass (only while upgrading from a release that did
    /// not sign); wrongly signed ones never do.
    accept_unsigned: bool,
}

impl Signatures {
    fn admit(&self, message: &rdkafka::message::BorrowedMessage<'_>, payload: &[u8]) -> bool {
        let signature = message.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == super::SIGNATURE_HEADER)
                .and_then(|h| h.value)
                .and_then(|v| std::str::from_utf8(v).ok())
        });
        if signature.is_none() && self.accept_unsigned {
            return true;
        }
        let key = message.key().and_then(|k| std::str::from_utf8(k).ok());
        self.signer
            .verify(message.topic(), key.unwrap_or_default(), payload, signature)
    }
}

/// Decodes one record into what it asks for, with its consume span.
fn receive(
    message: &rdkafka::message::BorrowedMessage<'_>,
    group: &str,
    signatures: &Signatures,
    metrics: &Metrics,
) -> Received {
    let topic = message.topic().to_owned();
    let skip = |topic: String| Received::Skip {
        topic,
        partition: message.partition(),
        offset: message.offset(),
    };
    // Tombstones (null values after an erasure) are for partners that keep
    // compacted copies; the event before them carried the facts.
    let Some(payload) = message.payload() else {
        return skip(topic);
    };
    if !signatures.admit(message, payload) {
        // Not published by Rapport: never applied, counted for operators.
        tracing::error!(
            group,
            topic,
            offset = message.offset(),
            "unsigned or wrongly signed event refused"
        );
        metrics
            .events_consumed
            .with_label_values(&[group, &topic, "forged"])
            .inc();
        return skip(topic);
    }
    let envelope = match EventEnvelope::decode(payload) {
        Ok(envelope) => envelope,
        Err(error) => {
            // A record that can never be decoded would block the partition
            // forever; count it, log it, and move on.
            tracing::error!(group, topic, offset = message.offset(), %error, "undecodable event skipped");
            metrics
                .events_consumed
                .with_label_values(&[group, &topic, "poison"])
                .inc();
            return skip(topic);
        }
    };
    let key = message
        .key()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_default();
    if let Err(forged) = crate::events::check_origin(&topic, &key, &envelope) {
        // Never applied: it could change another tenant's data. Counted and
        // logged for the operators, and the partition moves on.
        tracing::error!(group, topic, offset = message.offset(), event_id = %envelope.event_id, reason = %forged, "forged event refused");
        metrics
            .events_consumed
            .with_label_values(&[group, &topic, "forged"])
            .inc();
        return skip(topic);
    }
    let mut headers = KeyValues::default();
    if let Some(h) = message.headers() {
        for header in h.iter() {
            if let Some(v) = header.value.and_then(|v| std::str::from_utf8(v).ok()) {
                headers.0.push((header.key.to_owned(), v.to_owned()));
            }
        }
    }
    let span = tracing::info_span!(
        "kafka.consume",
        otel.name = %format!("{topic} process"),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.destination.name = %topic,
        messaging.consumer.group.name = group,
        messaging.message.id = %envelope.event_id,
        tenant = %envelope.tenant_id,
        trace_id = tracing::field::Empty,
    );
    adopt_parent(&span, &headers);
    Received::Event(Box::new(ConsumedEvent {
        topic,
        partition: message.partition(),
        offset: message.offset(),
        key,
        envelope,
        span,
    }))
}

/// Assigns every partition of `topics` to this consumer, resuming from the
/// group's committed offsets (the group still owns the offsets; only the
/// membership protocol is skipped).
async fn assign_all(
    consumer: &Arc<StreamConsumer>,
    topics: &[&str],
) -> Result<(), rdkafka::error::KafkaError> {
    let c = consumer.clone();
    let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut tpl = rdkafka::TopicPartitionList::new();
        for topic in &topics {
            let metadata = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
            for t in metadata.topics() {
                for p in t.partitions() {
                    tpl.add_partition_offset(topic, p.id(), rdkafka::Offset::Stored)?;
                }
            }
        }
        c.assign(&tpl)
    })
    .await
    .expect("assignment task")
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
        // Watermark and offset lookups are blocking network calls.
        let lags = tokio::task::spawn_blocking(move || lag_of(&c))
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

/// `high watermark - next offset to read` per assigned partition. The next
/// offset is the fetch position once fetching started, else the committed
/// offset (a caught-up consumer that received nothing since it started has
/// no position yet), else the partition start.
fn lag_of(consumer: &StreamConsumer) -> Vec<(String, i32, i64)> {
    let timeout = Duration::from_secs(2);
    let (Ok(position), Ok(committed)) = (consumer.position(), consumer.committed(timeout)) else {
        return Vec::new();
    };
    position
        .elements()
        .iter()
        .filter_map(|e| {
            let (low, high) = consumer
                .fetch_watermarks(e.topic(), e.partition(), timeout)
                .ok()?;
            let valid = |o: Option<i64>| o.filter(|o| *o >= 0);
            let committed = committed
                .find_partition(e.topic(), e.partition())
                .and_then(|c| c.offset().to_raw());
            let next = valid(e.offset().to_raw())
                .or(valid(committed))
                .unwrap_or(low);
            Some((e.topic().to_owned(), e.partition(), (high - next).max(0)))
        })
        .collect()
}
