//! The outbox relay: publishes what services wrote to their outbox.
//!
//! One relay per producing service. It reads pending messages oldest first,
//! in rounds of up to [`BATCH`], and overlaps them: the next round is read
//! and handed to the producer while the previous one waits for the broker's
//! acknowledgements, its log sync and its outbox mark. It publishes them
//! with the idempotent producer (each in a `kafka.publish`
//! span that continues the trace stored with the message), and marks them
//! sent only after the broker acknowledged them, and per record key only up
//! to the first that failed: a later event of the same aggregate is never
//! marked before an earlier one. After a crash it simply starts over from
//! what is still pending: nothing is lost, and what is published twice
//! carries the same event id, which consumers ignore.
//!
//! Only the replica that holds the relay's [`Lease`] publishes (every
//! replica of a service runs a relay over the same ScyllaDB outbox).
//!
//! After a failure it backs off (doubling, bounded), and new writes do not
//! cut the pause short. A producer that raised a fatal error (librdkafka
//! then fails every message) is replaced by a new one.

use std::{collections::HashSet, sync::Arc, time::Duration};

use rapport_store::{Outbox, PendingMessage};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use futures::{FutureExt, future::BoxFuture};

use crate::{
    config::OutboxConfig,
    kafka::{EventProducer, ProduceError},
    lease::Lease,
    metrics::Metrics,
    telemetry::{self, KeyValues},
};

/// Messages published per round; bounded so one round's memory is small.
const BATCH: usize = 1024;
/// How long a relay without the lease waits before asking again.
const LEASE_RETRY: Duration = Duration::from_secs(2);
/// How often the backlog gauge is refreshed.
const BACKLOG_INTERVAL: Duration = Duration::from_secs(1);
/// How long closing the producer on shutdown may take.
const PRODUCER_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed round before trying again, doubled while rounds
/// keep failing, up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Makes what the broker acknowledged durable before the relay deletes it
/// from the outbox. The embedded broker needs it (its storage commits
/// without waiting for the disk); a Kafka cluster with `acks=all` already
/// replicated what it acknowledged, so distributed mode has none.
#[async_trait::async_trait]
pub trait AckDurability: Send + Sync + std::fmt::Debug + 'static {
    /// Returns once everything acknowledged before the call is on disk.
    async fn sync(&self) -> Result<(), String>;
}

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
#[allow(clippy::too_many_arguments)]
pub async fn run_relay(
    service: &'static str,
    outbox: Arc<dyn Outbox>,
    lease: Arc<dyn Lease>,
    durability: Option<Arc<dyn AckDurability>>,
    producer: EventProducer,
    signal: OutboxSignal,
    cfg: OutboxConfig,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let poll = Duration::from_millis(cfg.poll_interval_ms.max(10));
    let backlog = metrics.outbox_backlog.with_label_values(&[service]);
    let mut measured: Option<tokio::time::Instant> = None;
    let mut producer = producer;
    let mut backoff = BACKOFF_MIN;
    let mut in_flight: Option<Round> = None;
    loop {
        // Counting the backlog is a scan (16 on ScyllaDB): once a
        // second is plenty for a gauge, and keeps it off the publish path.
        if measured.is_none_or(|t| t.elapsed() >= BACKLOG_INTERVAL) {
            if let Ok(n) = outbox.backlog().await {
                backlog.set(n as i64);
            }
            measured = Some(tokio::time::Instant::now());
        }
        if !cfg.relay_enabled {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = signal.0.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
            continue;
        }
        // Asked every step: a lease is renewed when asked, and under steady
        // writes a round is always in flight. Once it is lost, the round in
        // flight is finished and no new one starts.
        let held = lease.held().await;
        if !held && in_flight.is_none() {
            // Another replica publishes; ask again after a pause.
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(LEASE_RETRY) => {}
            }
            continue;
        }
        // Rounds in flight are abandoned on shutdown: their events stay in
        // the outbox and are published again after a restart (consumers
        // ignore the repeats), so stopping never waits for broker timeouts.
        let relay = Relay {
            service,
            outbox: outbox.as_ref(),
            durability: durability.as_deref(),
            producer: &producer,
            metrics: &metrics,
        };
        let stepped = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = relay.step(&mut in_flight, held) => r,
        };
        match stepped {
            Ok(()) => {
                backoff = BACKOFF_MIN;
                if in_flight.is_none() {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = signal.0.notified() => {}
                        _ = tokio::time::sleep(poll) => {}
                    }
                }
            }
            Err(()) => {
                if let Some(reason) = producer.fatal_error() {
                    producer = renew(service, producer, reason).await;
                }
                // Writes keep arriving while the broker is down: the pause
                // waits out its full length regardless.
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
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

/// Replaces a producer that raised a fatal error; keeps the old one if a
/// new one cannot be created (the next failure tries again).
async fn renew(service: &'static str, producer: EventProducer, reason: String) -> EventProducer {
    tracing::error!(service, %reason, "kafka producer failed fatally; replacing it");
    match producer.renewed() {
        Ok(fresh) => {
            // The old one's destruction flushes through librdkafka.
            drop(tokio::task::spawn_blocking(move || drop(producer)));
            fresh
        }
        Err(e) => {
            tracing::error!(service, error = %e, "kafka producer could not be replaced");
            producer
        }
    }
}

/// The broker's acknowledgement of one message: its partition and offset.
type Ack = BoxFuture<'static, Result<(i32, i64), ProduceError>>;

/// Messages handed to the producer and not yet acknowledged.
struct Round {
    pending: Vec<PendingMessage>,
    acks: Vec<Ack>,
}

/// What one relay works with during a step.
struct Relay<'a> {
    service: &'static str,
    outbox: &'a dyn Outbox,
    durability: Option<&'a dyn AckDurability>,
    producer: &'a EventProducer,
    metrics: &'a Metrics,
}

impl Relay<'_> {
    /// Hands the next round to the producer (unless `start_next` is false:
    /// the lease was lost), then finishes the round in flight; the new round is in flight afterwards (`None` when the outbox
    /// had nothing more). After any failure nothing is left in flight, and
    /// `Err` asks for the back-off: what was not marked is read again, in
    /// order, by the next step.
    async fn step(&self, in_flight: &mut Option<Round>, start_next: bool) -> Result<(), ()> {
        let next = if start_next {
            self.start_round(in_flight.as_ref().map(|r| r.pending.as_slice()))
                .await
        } else {
            Ok(None)
        };
        let mut blocked = HashSet::new();
        let finished = match in_flight.take() {
            Some(round) => self.finish_round(round, &mut blocked).await,
            None => Ok(()),
        };
        match (next, finished) {
            (Ok(next), Ok(())) => {
                *in_flight = next;
                Ok(())
            }
            (next, _) => {
                // The next round was enqueued behind a failure: finish it
                // too, never marking an event of a key that failed before.
                if let Ok(Some(round)) = next {
                    let _ = self.finish_round(round, &mut blocked).await;
                }
                Err(())
            }
        }
    }

    /// Reads up to [`BATCH`] pending messages of keys that are not in
    /// flight and hands them to the producer, in outbox order. A key in
    /// flight waits for its round to finish: should that round fail while
    /// this one succeeds, the later events of the key would be in the log
    /// before the earlier ones are published again.
    async fn start_round(&self, in_flight: Option<&[PendingMessage]>) -> Result<Option<Round>, ()> {
        let in_flight = in_flight.unwrap_or_default();
        let flying: HashSet<&[u8]> = in_flight.iter().map(|p| p.position.as_slice()).collect();
        let busy: HashSet<(&str, &str)> = in_flight
            .iter()
            .map(|p| (p.message.topic.as_str(), p.message.key.as_str()))
            .collect();
        let pending: Vec<PendingMessage> = self
            .outbox
            .pending(BATCH + flying.len())
            .await
            .map_err(|e| {
                tracing::warn!(service = self.service, error = %e, "outbox read failed");
            })?
            .into_iter()
            .filter(|p| {
                !flying.contains(p.position.as_slice())
                    && !busy.contains(&(p.message.topic.as_str(), p.message.key.as_str()))
            })
            .take(BATCH)
            .collect();
        // A message the producer cannot take now (its queue is full) ends
        // the round there: handing it later messages of the same key would
        // put them in the log before it. The rest is read again next step.
        let mut pending = pending;
        let mut acks = Vec::with_capacity(pending.len());
        for p in &pending {
            match self.enqueue(p) {
                Ok(ack) => acks.push(ack),
                Err(e) => {
                    tracing::debug!(service = self.service, error = %e, "producer queue full; the round ends here");
                    break;
                }
            }
        }
        pending.truncate(acks.len());
        if pending.is_empty() {
            return Ok(None);
        }
        Ok(Some(Round { pending, acks }))
    }

    /// Hands one message to the producer inside its `kafka.publish` span,
    /// which continues the trace stored with the message.
    fn enqueue(&self, p: &PendingMessage) -> Result<Ack, ProduceError> {
        let m = &p.message;
        let mut headers = KeyValues(m.headers.clone());
        let span = tracing::info_span!(
            "kafka.publish",
            otel.name = %format!("{} publish", m.topic),
            otel.kind = "producer",
            messaging.system = "kafka",
            messaging.destination.name = %m.topic,
            messaging.message.id = %m.event_id,
            service = self.service,
            trace_id = tracing::field::Empty,
        );
        telemetry::adopt_parent(&span, &headers);
        // Consumers continue from the publish span.
        telemetry::inject(&span, &mut headers);
        let ack = span.in_scope(|| {
            self.producer
                .enqueue(&m.topic, &m.key, &m.payload, &headers.0)
        })?;
        Ok(ack.instrument(span).boxed())
    }

    /// Waits for a round's acknowledgements, makes them durable at the
    /// broker, and marks sent what may be marked (see [`sent_in_order`];
    /// `blocked` carries the keys that failed in an earlier round still
    /// being finished). `Err` when anything failed.
    async fn finish_round(
        &self,
        round: Round,
        blocked: &mut HashSet<(String, String)>,
    ) -> Result<(), ()> {
        let service = self.service;
        let results = futures::future::join_all(round.acks).await;
        let pending = round.pending;
        let mut failed = false;
        for (p, r) in pending.iter().zip(&results) {
            match r {
                Ok(_) => self
                    .metrics
                    .events_published
                    .with_label_values(&[service, &p.message.topic])
                    .inc(),
                Err(e) => {
                    tracing::warn!(service, event_id = %p.message.event_id, error = %e, "publish failed, will retry");
                    failed = true;
                }
            }
        }
        let sent: Vec<Vec<u8>> = sent_in_order(&pending, &results, blocked)
            .into_iter()
            .map(|i| pending[i].position.clone())
            .collect();
        if !sent.is_empty()
            && let Some(durability) = self.durability
            && let Err(e) = durability.sync().await
        {
            // Not known to be on disk at the broker: keep them in the
            // outbox and publish them again (consumers drop the repeats).
            tracing::warn!(service, error = %e, "broker could not make the round durable; it is published again");
            blocked.extend(pending.iter().map(|p| p.message.topic_key()));
            return Err(());
        }
        self.outbox.mark_sent(&sent).await.map_err(|e| {
            // Published but not marked: they will be published again, and
            // consumers drop the duplicates by event id.
            tracing::warn!(service, error = %e, "outbox mark failed");
            blocked.extend(pending.iter().map(|p| p.message.topic_key()));
        })?;
        if failed { Err(()) } else { Ok(()) }
    }
}

/// The indexes of the messages that may be marked sent: those acknowledged,
/// except that once a message of a key failed (here or in `blocked`, an
/// earlier round), no later message of that key is marked (it is published again after the failed one, and consumers
/// drop the repeat by event id), so no key's events are marked out of order.
fn sent_in_order<T, E>(
    pending: &[PendingMessage],
    results: &[Result<T, E>],
    blocked: &mut HashSet<(String, String)>,
) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, (p, r)) in pending.iter().zip(results).enumerate() {
        let key = p.message.topic_key();
        if r.is_err() {
            blocked.insert(key);
        } else if !blocked.contains(&key) {
            out.push(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use rapport_store::{OutboxMessage, StoreError};

    use super::*;

    fn pending(keys: &[&str]) -> Vec<PendingMessage> {
        keys.iter()
            .enumerate()
            .map(|(i, key)| PendingMessage {
                position: vec![i as u8],
                message: OutboxMessage {
                    event_id: i.to_string(),
                    topic: "t".into(),
                    key: (*key).into(),
                    payload: Vec::new(),
                    headers: Vec::new(),
                    aggregate_version: None,
                },
            })
            .collect()
    }

    #[test]
    fn after_a_failure_no_later_event_of_that_key_is_marked() {
        let p = pending(&["a", "b", "a", "a", "b", "c"]);
        let r: Vec<Result<(), ()>> = vec![Ok(()), Ok(()), Err(()), Ok(()), Ok(()), Ok(())];
        // a: 0 sent, 2 failed, so 3 waits; b and c are unaffected.
        assert_eq!(sent_in_order(&p, &r, &mut HashSet::new()), vec![0, 1, 4, 5]);
    }

    #[test]
    fn a_key_that_failed_in_the_round_before_is_not_marked_in_the_next() {
        // Round 1: "a" fails; round 2 was already enqueued behind it.
        let mut blocked = HashSet::new();
        let first = pending(&["a", "b"]);
        let r1: Vec<Result<(), ()>> = vec![Err(()), Ok(())];
        assert_eq!(sent_in_order(&first, &r1, &mut blocked), vec![1]);
        let second = pending(&["c", "a", "b"]);
        let r2: Vec<Result<(), ()>> = vec![Ok(()), Ok(()), Ok(())];
        // "a" succeeded in round 2 but waits for its failed predecessor.
        assert_eq!(sent_in_order(&second, &r2, &mut blocked), vec![0, 2]);
    }

    #[test]
    fn the_same_key_on_another_topic_is_another_aggregate() {
        let mut p = pending(&["a", "a"]);
        p[1].message.topic = "other".into();
        let r: Vec<Result<(), ()>> = vec![Err(()), Ok(())];
        assert_eq!(sent_in_order(&p, &r, &mut HashSet::new()), vec![1]);
    }

    /// An outbox that cannot be read, counting the attempts.
    #[derive(Default)]
    struct Unreadable(AtomicUsize);

    #[async_trait]
    impl Outbox for Unreadable {
        async fn pending(&self, _: usize) -> Result<Vec<PendingMessage>, StoreError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Unavailable("down".into()))
        }
        async fn mark_sent(&self, _: &[Vec<u8>]) -> Result<(), StoreError> {
            Ok(())
        }
        async fn backlog(&self) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    /// A lease another replica holds.
    #[derive(Debug)]
    struct HeldElsewhere;

    #[async_trait]
    impl Lease for HeldElsewhere {
        async fn held(&self) -> bool {
            false
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_relay_without_the_lease_reads_nothing() {
        let outbox = Arc::new(Unreadable::default());
        let cfg = crate::config::KafkaConfig {
            bootstrap_servers: "127.0.0.1:9".into(),
            ..Default::default()
        };
        let signal = OutboxSignal::default();
        let shutdown = CancellationToken::new();
        let relay = tokio::spawn(run_relay(
            "test",
            outbox.clone(),
            Arc::new(HeldElsewhere),
            None,
            EventProducer::new(
                &cfg,
                crate::kafka::EventSigner::new(&crate::identity::PrincipalKey::ephemeral()),
            )
            .unwrap(),
            signal.clone(),
            OutboxConfig::default(),
            Metrics::new(),
            shutdown.clone(),
        ));
        for _ in 0..10 {
            signal.notify();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert_eq!(outbox.0.load(Ordering::SeqCst), 0);
        shutdown.cancel();
        relay.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn writes_do_not_cut_the_backoff_short() {
        let outbox = Arc::new(Unreadable::default());
        let cfg = crate::config::KafkaConfig {
            bootstrap_servers: "127.0.0.1:9".into(),
            ..Default::default()
        };
        let producer = EventProducer::new(
            &cfg,
            crate::kafka::EventSigner::new(&crate::identity::PrincipalKey::ephemeral()),
        )
        .unwrap();
        let signal = OutboxSignal::default();
        let shutdown = CancellationToken::new();
        let relay = tokio::spawn(run_relay(
            "test",
            outbox.clone(),
            Arc::new(crate::lease::AlwaysHeld),
            None,
            producer,
            signal.clone(),
            OutboxConfig::default(),
            Metrics::new(),
            shutdown.clone(),
        ));
        // Let the first round fail, then keep writing through the pause.
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(outbox.0.load(Ordering::SeqCst), 1);
        for _ in 0..20 {
            signal.notify();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            outbox.0.load(Ordering::SeqCst),
            1,
            "200 ms of writes inside a 250 ms pause"
        );
        // The pauses double: 250 ms, then 500 ms.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(outbox.0.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(outbox.0.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(outbox.0.load(Ordering::SeqCst), 3);
        shutdown.cancel();
        relay.await.unwrap();
    }
}
