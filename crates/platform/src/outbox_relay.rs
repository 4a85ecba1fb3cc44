//! The outbox relay: publishes what services wrote to their outbox.
//!
//! One relay per producing service. It reads pending messages oldest first,
//! publishes them with the idempotent producer (each in a `kafka.publish`
//! span that continues the trace stored with the message), and marks them
//! sent only after the broker acknowledged them. After a crash it simply
//! starts over from what is still pending: nothing is lost, and what is
//! published twice carries the same event id, which consumers ignore.

use std::{sync::Arc, time::Duration};

use rapport_store::Outbox;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    config::OutboxConfig,
    kafka::EventProducer,
    metrics::Metrics,
    telemetry::{self, KeyValues},
};

/// Messages published per round; bounded so one round's memory is small.
const BATCH: usize = 256;
/// How often the backlog gauge is refreshed.
const BACKLOG_INTERVAL: Duration = Duration::from_secs(1);
/// How long closing the producer on shutdown may take.
const PRODUCER_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed publish before trying again.
const FAILURE_BACKOFF: Duration = Duration::from_secs(1);

/// Wakes the relay as soon as a write committed, so events do not wait for
/// the next poll.
#[derive(Clone, Debug, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    /// Says that new messages were committed.
    pub fn notify(&self) {
        self.0.notify_one();
    }
}

/// Runs the relay of `service` until `shutdown` fires.
pub async fn run_relay(
    service: &'static str,
    outbox: Arc<dyn Outbox>,
    producer: EventProducer,
    signal: OutboxSignal,
    cfg: OutboxConfig,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let poll = Duration::from_millis(cfg.poll_interval_ms.max(10));
    let backlog = metrics.outbox_backlog.with_label_values(&[service]);
    let mut measured: Option<tokio::time::Instant> = None;
    loop {
        // Counting the backlog is a scan (16 on ScyllaDB): once a
        // second is plenty for a gauge, and keeps it off the publish path.
        if measured.is_none_or(|t| t.elapsed() >= BACKLOG_INTERVAL) {
            if let Ok(n) = outbox.backlog().await {
                backlog.set(n as i64);
            }
            measured = Some(tokio::time::Instant::now());
        }
        // A round in flight is abandoned on shutdown: its events stay in the
        // outbox and are published again after a restart (consumers ignore
        // the repeats), so stopping never waits for broker timeouts.
        let published = if cfg.relay_enabled {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = publish_round(service, outbox.as_ref(), &producer, &metrics) => r,
            }
        } else {
            Ok(0)
        };
        let wait = match published {
            Ok(n) if n == BATCH => Duration::ZERO,
            Ok(_) => poll,
            Err(()) => FAILURE_BACKOFF,
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = signal.0.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    // Destroying the producer purges and flushes through librdkafka (up to
    // half a second); never on an async worker, which the embedded broker
    // and every timer need.
    let closed = tokio::task::spawn_blocking(move || drop(producer));
    if tokio::time::timeout(PRODUCER_CLOSE_TIMEOUT, closed)
        .await
        .is_err()
    {
        tracing::warn!(
            service,
            "producer did not close in time; leaving it to the exit"
        );
    }
}

/// Publishes one batch; returns how many were published, or `Err` after a
/// failure (the rest stay pending and are retried in order).
async fn publish_round(
    service: &'static str,
    outbox: &dyn Outbox,
    producer: &EventProducer,
    metrics: &Metrics,
) -> Result<usize, ()> {
    let pending = outbox.pending(BATCH).await.map_err(|e| {
        tracing::warn!(service, error = %e, "outbox read failed");
    })?;
    if pending.is_empty() {
        return Ok(0);
    }
    // Enqueue everything, then await: librdkafka keeps per-partition order
    // with idempotence on, and the round costs one round trip, not N.
    let sends = pending.iter().map(|p| {
        let m = &p.message;
        let mut headers = KeyValues(m.headers.clone());
        let span = tracing::info_span!(
            "kafka.publish",
            otel.name = %format!("{} publish", m.topic),
            otel.kind = "producer",
            messaging.system = "kafka",
            messaging.destination.name = %m.topic,
            messaging.message.id = %m.event_id,
            service,
            trace_id = tracing::field::Empty,
        );
        telemetry::adopt_parent(&span, &headers);
        // Consumers continue from the publish span.
        telemetry::inject(&span, &mut headers);
        async move {
            producer
                .send(&m.topic, &m.key, &m.payload, &headers.0)
                .await
        }
        .instrument(span)
    });
    let results = futures::future::join_all(sends).await;
    let mut sent = Vec::new();
    let mut failed = false;
    for (p, r) in pending.iter().zip(results) {
        match r {
            Ok(_) => {
                metrics
                    .events_published
                    .with_label_values(&[service, &p.message.topic])
                    .inc();
                sent.push(p.position.clone());
            }
            Err(e) => {
                tracing::warn!(service, event_id = %p.message.event_id, error = %e, "publish failed, will retry");
                failed = true;
            }
        }
    }
    outbox.mark_sent(&sent).await.map_err(|e| {
        // Published but not marked: they will be published again, and
        // consumers drop the duplicates by event id.
        tracing::warn!(service, error = %e, "outbox mark failed");
    })?;
    if failed { Err(()) } else { Ok(sent.len()) }
}
