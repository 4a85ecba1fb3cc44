//! `rapport migrate` creates and updates topics, and can run again.

use std::{process::Command, time::Duration};

use rdkafka::{ClientConfig, consumer::BaseConsumer, consumer::Consumer};

use crate::harness::Monolith;

fn migrate(kafka: &str, partitions: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .arg("migrate")
        .env_remove("RAPPORT_CONFIG")
        .env("RAPPORT_KAFKA__BOOTSTRAP_SERVERS", kafka)
        .env("RAPPORT_KAFKA__TOPICS__PARTITIONS", partitions)
        .env("RAPPORT_KAFKA__TOPICS__REPLICATION_FACTOR", "1")
        .output()
        .expect("run migrate");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The embedded broker implements neither CreatePartitions nor AlterConfigs,
/// so against it `migrate` (which creates missing topics) leaves existing
/// topics as they are (with a warning); growing partitions and changing
/// retention take a real Kafka cluster.
#[tokio::test]
async fn migrate_runs_again_and_again_against_a_live_broker() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    for _ in 0..2 {
        let (ok, out) = migrate(&app.kafka, "6");
        assert!(ok, "{out}");
        assert!(out.contains("topics ready"), "{out}");
    }
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &app.kafka)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    for topic in [
        "rapport.contacts.v1",
        "rapport.interactions.v1",
        "rapport.deals.v1",
        "rapport.tasks.v1",
    ] {
        let t = metadata.topics().iter().find(|t| t.name() == topic);
        assert!(
            t.is_some_and(|t| !t.partitions().is_empty()),
            "{topic} missing"
        );
    }
}
