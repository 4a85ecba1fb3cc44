//! The consumer path alone: analytics applying contact events from the
//! embedded broker, as the topic grows.
//!
//! Events are produced straight to a topic of a fresh embedded broker (no
//! REST, no outbox), then a new consumer group per topic size reads the
//! whole topic into a fresh analytics store, and the time until the store
//! counts every event is measured. A rate that stays flat as the topic
//! grows shows that nothing in the path costs more per event with a longer
//! log.

use std::{sync::Arc, time::Instant};

use chrono::Utc;
use rapport_analytics::{events::Projector, store::SqliteSummaryStore, store::SummaryStore};
use rapport_broker::EmbeddedBroker;
use rapport_platform::{
    config::{KafkaConfig, TopicsConfig},
    events::{NewEvent, sources, topics},
    identity::{Principal, Role, TenantId, UserId},
    kafka::{EventProducer, EventSigner, ensure_topics, run_consumer},
    metrics::Metrics,
};
use rapport_proto::events::v1::ContactCreated;
use tokio_util::sync::CancellationToken;

/// Events sent before waiting for their acknowledgements.
const IN_FLIGHT: usize = 2_000;

pub(crate) async fn pipeline(sizes: Vec<u64>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = EmbeddedBroker::start("127.0.0.1:0".parse()?, None, dir.path()).await?;
    let cfg = KafkaConfig {
        bootstrap_servers: broker.addr().to_string(),
        assign_all_partitions: true,
        fetch_wait_max_ms: 20,
        fetch_max_bytes: 8 * 1024 * 1024,
        topics: TopicsConfig {
            partitions: 1,
            replication_factor: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    ensure_topics(&cfg, &[topics::CONTACTS]).await?;
    // The producer and the consumer share a key, as Rapport's services do.
    let signer = EventSigner::new(&rapport_platform::identity::PrincipalKey::ephemeral());
    let producer = EventProducer::new(&cfg, signer.clone())?;
    let principal = Principal {
        tenant: TenantId::parse("acme")?,
        user: UserId::parse("bench")?,
        roles: vec![Role::Rep],
        teams: Vec::new(),
        scopes: None,
        grants: Vec::new(),
    };
    println!("| events in the topic | produce (events/s) | analytics applied (events/s) |");
    println!("|---:|---:|---:|");
    let mut produced = 0u64;
    for size in sizes {
        let started = Instant::now();
        let todo = size.saturating_sub(produced);
        produce(&producer, &principal, todo).await?;
        produced += todo;
        let produce_rate = todo as f64 / started.elapsed().as_secs_f64();

        let store = Arc::new(
            SqliteSummaryStore::open(&dir.path().join(format!("analytics-{size}.db"))).await?,
        );
        let shutdown = CancellationToken::new();
        let group = format!("bench-{size}");
        let consumer = {
            let (cfg, store, shutdown, signer) =
                (cfg.clone(), store.clone(), shutdown.clone(), signer.clone());
            tokio::spawn(async move {
                run_consumer(
                    &cfg,
                    &group,
                    &[topics::CONTACTS],
                    Arc::new(Projector::new(store)),
                    signer,
                    Metrics::new(),
                    shutdown,
                )
                .await
            })
        };
        let started = Instant::now();
        loop {
            let counted = store.summary(&principal.tenant).await?.contacts as u64;
            if counted >= produced {
                anyhow::ensure!(counted == produced, "counted {counted} of {produced}");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let apply_rate = produced as f64 / started.elapsed().as_secs_f64();
        shutdown.cancel();
        consumer.await??;
        println!("| {produced} | {produce_rate:.0} | {apply_rate:.0} |");
    }
    broker.stop(std::time::Duration::from_secs(10)).await;
    Ok(())
}

/// Produces `n` `ContactCreated` events, [`IN_FLIGHT`] at a time.
async fn produce(producer: &EventProducer, principal: &Principal, n: u64) -> anyhow::Result<()> {
    let mut left = n;
    while left > 0 {
        let batch = left.min(IN_FLIGHT as u64);
        let messages: Vec<_> = (0..batch)
            .map(|_| {
                let id = uuid::Uuid::now_v7().to_string();
                NewEvent {
                    topic: topics::CONTACTS,
                    source: sources::CONTACTS,
                    principal,
                    aggregate_type: "contact",
                    aggregate_id: &id,
                    aggregate_version: 1,
                    occurred_at: Utc::now(),
                    payload: ContactCreated::default(),
                }
                .into_outbox()
            })
            .collect();
        let sends = messages
            .iter()
            .map(|m| producer.enqueue(&m.topic, &m.key, &m.payload, &m.headers))
            .collect::<Result<Vec<_>, _>>()?;
        for result in futures::future::join_all(sends).await {
            result?;
        }
        left -= batch;
    }
    Ok(())
}
