//! The relay against publish failures: a fatal producer error, failed
//! requests under two overlapping relays.
//!
//! Neither can be provoked from the embedded broker, so these tests use
//! librdkafka's own mock cluster (a test double of a Kafka broker built into
//! librdkafka) and tell it which produce requests to fail.

use std::{sync::Arc, time::Duration};

use rapport_platform::{
    config::{KafkaConfig, OutboxConfig},
    kafka::EventProducer,
    lease::AlwaysHeld,
    metrics::Metrics,
    outbox_relay::{OutboxSignal, run_relay},
};
use rapport_store::{Outbox, OutboxMessage, sqlite::SqliteDb};
use rdkafka::{
    mocking::MockCluster,
    types::{RDKafkaApiKey, RDKafkaRespErr},
};
use tokio_util::sync::CancellationToken;

mod common;

const TOPIC: &str = "rapport.fataltest.v1";

fn message(i: usize) -> OutboxMessage {
    OutboxMessage {
        event_id: format!("e{i}"),
        topic: TOPIC.into(),
        key: format!("acme/{i}"),
        payload: vec![1],
        headers: vec![],
        aggregate_version: Some(1),
    }
}

/// A relay of `db` publishing to `cfg`'s cluster until `shutdown`.
fn spawn_relay(
    db: &Arc<SqliteDb>,
    cfg: &KafkaConfig,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run_relay(
        "test",
        db.clone(),
        Arc::new(AlwaysHeld),
        None,
        EventProducer::new(
            cfg,
            rapport_platform::kafka::EventSigner::new(
                &rapport_platform::identity::PrincipalKey::ephemeral(),
            ),
        )
        .unwrap(),
        OutboxSignal::default(),
        OutboxConfig::default(),
        Metrics::new(),
        shutdown.clone(),
    ))
}

/// Waits until the outbox is empty.
async fn drained(db: &SqliteDb, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while db.backlog().await.unwrap() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_that_failed_fatally_is_replaced_and_publishing_goes_on() {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic(TOPIC, 1, 1).unwrap();
    let cfg = KafkaConfig {
        bootstrap_servers: mock.bootstrap_servers(),
        ..Default::default()
    };

    // The error, as the first produce request meets it, is fatal.
    let probe = EventProducer::new(
        &cfg,
        rapport_platform::kafka::EventSigner::new(
            &rapport_platform::identity::PrincipalKey::ephemeral(),
        ),
    )
    .unwrap();
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER],
    );
    let send = || async {
        match probe.enqueue(TOPIC, "acme/probe", &[1], &[]) {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        }
    };
    assert!(send().await.is_err());
    assert!(
        probe.fatal_error().is_some(),
        "the error is fatal for the producer"
    );
    assert!(send().await.is_err(), "and stays so");

    let dir = tempfile::tempdir().unwrap();
    let db = common::outbox_with(dir.path(), (0..3).map(message).collect()).await;
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER],
    );
    let shutdown = CancellationToken::new();
    let relay = spawn_relay(&db, &cfg, &shutdown);
    drained(&db, "the relay never published after the fatal error").await;
    shutdown.cancel();
    relay.await.unwrap();
}

/// Two relays over one outbox (as two replicas that overlap while the lease
/// changes hands), with failed produce requests injected: the first copy of
/// each event a consumer sees comes in the aggregate's order. (A failed
/// request fails every message in it, so this does not reach the partial
/// failure inside one key that `sent_in_order` guards; its unit tests do.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_and_failed_requests_keep_each_aggregates_order() {
    use rdkafka::{
        ClientConfig, Message,
        consumer::{BaseConsumer, Consumer},
    };
    const KEYS: usize = 5;
    const VERSIONS: usize = 40;

    let mock = MockCluster::new(1).unwrap();
    mock.create_topic(TOPIC, 1, 1).unwrap();
    let cfg = KafkaConfig {
        bootstrap_servers: mock.bootstrap_servers(),
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut messages = Vec::new();
    for version in 1..=VERSIONS {
        for key in 0..KEYS {
            let id = format!("k{key}-v{version:03}");
            messages.push(OutboxMessage {
                payload: id.clone().into_bytes(),
                event_id: id,
                key: format!("acme/k{key}"),
                aggregate_version: Some(version as u64),
                ..message(0)
            });
        }
    }
    let db = common::outbox_with(dir.path(), messages).await;
    // Errors librdkafka does not retry by itself: the rounds that meet them
    // fail and are published again after the back-off, beside the other
    // relay's rounds.
    let errors = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE; 6];
    mock.request_errors(RDKafkaApiKey::Produce, &errors);

    let shutdown = CancellationToken::new();
    let relays: Vec<_> = (0..2).map(|_| spawn_relay(&db, &cfg, &shutdown)).collect();
    drained(&db, "the outbox never drained").await;
    shutdown.cancel();
    for r in relays {
        r.await.unwrap();
    }

    let bootstrap = mock.bootstrap_servers();
    let records = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "order-check")
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        consumer.subscribe(&[TOPIC]).unwrap();
        let mut records = Vec::new();
        let mut idle = 0;
        while idle < 20 {
            match consumer.poll(Duration::from_millis(250)) {
                Some(Ok(m)) => {
                    idle = 0;
                    records.push(
                        String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                    );
                }
                _ => idle += 1,
            }
        }
        records
    })
    .await
    .unwrap();

    // What a consumer that drops repeats by event id applies, per key.
    let mut seen = std::collections::HashSet::new();
    let mut applied: Vec<Vec<String>> = vec![Vec::new(); KEYS];
    for id in records {
        if seen.insert(id.clone()) {
            let key: usize = id[1..id.find('-').unwrap()].parse().unwrap();
            applied[key].push(id);
        }
    }
    for (key, ids) in applied.iter().enumerate() {
        let expected: Vec<String> = (1..=VERSIONS).map(|v| format!("k{key}-v{v:03}")).collect();
        assert_eq!(ids, &expected, "key {key}");
    }
}
