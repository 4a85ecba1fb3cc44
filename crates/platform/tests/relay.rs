//! The outbox relay against the real embedded broker.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use rapport_broker::EmbeddedBroker;
use rapport_platform::{
    config::{KafkaConfig, OutboxConfig},
    kafka::{EventProducer, ensure_topics},
    lease::AlwaysHeld,
    metrics::Metrics,
    outbox_relay::{AckDurability, OutboxSignal, run_relay},
};
use rapport_store::{Outbox, OutboxMessage};
use tokio_util::sync::CancellationToken;

mod common;

const TOPIC: &str = "rapport.relaytest.v1";

/// A broker whose acknowledgements are made durable only when `ok`.
#[derive(Debug, Default)]
struct Switch {
    ok: AtomicBool,
}

#[async_trait::async_trait]
impl AckDurability for Switch {
    async fn sync(&self) -> Result<(), String> {
        if self.ok.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("disk gone".into())
        }
    }
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_leave_the_outbox_only_once_the_broker_made_them_durable() {
    let dir = tempfile::tempdir().unwrap();
    let broker = EmbeddedBroker::start("127.0.0.1:0".parse().unwrap(), None, dir.path())
        .await
        .unwrap();
    let cfg = KafkaConfig {
        bootstrap_servers: broker.addr().to_string(),
        topics: rapport_platform::config::TopicsConfig {
            partitions: 1,
            replication_factor: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    ensure_topics(&cfg, &[TOPIC]).await.unwrap();
    let messages = (0..3)
        .map(|i| OutboxMessage {
            event_id: format!("e{i}"),
            topic: TOPIC.into(),
            key: format!("acme/{i}"),
            payload: vec![1, 2, 3],
            headers: vec![],
            aggregate_version: None,
        })
        .collect();
    let db = common::outbox_with(dir.path(), messages).await;

    let durability = Arc::new(Switch::default());
    let metrics = Metrics::new();
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(run_relay(
        "test",
        db.clone(),
        Arc::new(AlwaysHeld),
        Some(durability.clone()),
        EventProducer::new(
            &cfg,
            rapport_platform::kafka::EventSigner::new(
                &rapport_platform::identity::PrincipalKey::ephemeral(),
            ),
        )
        .unwrap(),
        OutboxSignal::default(),
        OutboxConfig::default(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let published = || {
        metrics
            .events_published
            .with_label_values(&["test", TOPIC])
            .get()
    };
    // The broker acknowledges, but the round is not known to be on disk.
    until("the broker acknowledged the round", async || {
        published() >= 3
    })
    .await;
    assert_eq!(db.backlog().await.unwrap(), 3, "nothing is forgotten");

    durability.ok.store(true, Ordering::SeqCst);
    until("the outbox drained", async || {
        db.backlog().await.unwrap() == 0
    })
    .await;
    shutdown.cancel();
    relay.await.unwrap();
    assert!(broker.stop(Duration::from_secs(10)).await);
}
