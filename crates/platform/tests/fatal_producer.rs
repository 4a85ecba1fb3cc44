//! The relay recovers from a fatal producer error.
//!
//! A fatal idempotence error cannot be provoked from the embedded broker, so
//! this test uses librdkafka's own mock cluster (a test double of a Kafka
//! broker built into librdkafka) to answer one produce request with an error
//! the idempotent producer treats as fatal.

use std::{sync::Arc, time::Duration};

use rapport_platform::{
    config::{KafkaConfig, OutboxConfig},
    kafka::EventProducer,
    lease::AlwaysHeld,
    metrics::Metrics,
    outbox_relay::{OutboxSignal, run_relay},
};
use rapport_store::{
    Outbox, OutboxMessage,
    sqlite::{Migration, OUTBOX_MIGRATION, SqliteDb, insert_outbox},
};
use rdkafka::{
    mocking::MockCluster,
    types::{RDKafkaApiKey, RDKafkaRespErr},
};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "rapport.fataltest.v1";
const MIGRATIONS: &[Migration] = &[OUTBOX_MIGRATION];

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_that_failed_fatally_is_replaced_and_publishing_goes_on() {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic(TOPIC, 1, 1).unwrap();
    let cfg = KafkaConfig {
        bootstrap_servers: mock.bootstrap_servers(),
        ..Default::default()
    };

    // The error, as the first produce request meets it, is fatal.
    let probe = EventProducer::new(&cfg).unwrap();
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER],
    );
    let failed = probe.send(TOPIC, "acme/probe", &[1], &[]).await;
    assert!(failed.is_err());
    assert!(
        probe.fatal_error().is_some(),
        "the error is fatal for the producer"
    );
    assert!(
        probe.send(TOPIC, "acme/probe", &[1], &[]).await.is_err(),
        "and stays so"
    );

    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(
        SqliteDb::open(&dir.path().join("svc.db"), MIGRATIONS)
            .await
            .unwrap(),
    );
    db.write(|conn| async move {
        for i in 0..3 {
            insert_outbox(&conn, &message(i)).await?;
        }
        Ok::<_, rapport_store::StoreError>(())
    })
    .await
    .unwrap();
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER],
    );
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(run_relay(
        "test",
        db.clone(),
        Arc::new(AlwaysHeld),
        None,
        EventProducer::new(&cfg).unwrap(),
        OutboxSignal::default(),
        OutboxConfig::default(),
        Metrics::new(),
        shutdown.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while db.backlog().await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay never published after the fatal error"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    relay.await.unwrap();
}
