//! The partner listener against the real embedded broker and librdkafka
//! clients: partners read every record, and every write they try is refused
//! without reaching the log.

use std::time::Duration;

use rapport_broker::{EmbeddedBroker, PartnerListener};
use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, CommitMode, Consumer},
    error::{KafkaError, RDKafkaErrorCode},
    producer::{FutureProducer, FutureRecord},
};

const TOPIC: &str = "rapport.contacts.v1";

struct Setup {
    broker: EmbeddedBroker,
    partners: PartnerListener,
    _dir: tempfile::TempDir,
}

async fn setup(records: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let broker = EmbeddedBroker::start("127.0.0.1:0".parse().unwrap(), None, dir.path())
        .await
        .unwrap();
    let internal = broker.addr().to_string();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &internal)
        .create()
        .unwrap();
    for created in admin
        .create_topics(
            &[NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap()
    {
        created.unwrap();
    }
    let producer = producer(&internal, true);
    for i in 0..records {
        producer
            .send(
                FutureRecord::to(TOPIC)
                    .key("acme/1")
                    .payload(&format!("event {i}")),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let partners = PartnerListener::start("127.0.0.1:0".parse().unwrap(), None, broker.addr())
        .await
        .unwrap();
    Setup {
        broker,
        partners,
        _dir: dir,
    }
}

impl Setup {
    async fn stop(self) {
        self.partners.stop().await;
        self.broker.stop(Duration::from_secs(5)).await;
    }
}

/// Sends one forged event through `bootstrap`.
async fn forge(
    bootstrap: &str,
    idempotent: bool,
) -> Result<(i32, i64), (KafkaError, rdkafka::message::OwnedMessage)> {
    producer(bootstrap, idempotent)
        .send(
            FutureRecord::to(TOPIC)
                .key("acme/1")
                .payload("forged ContactErased"),
            Duration::from_secs(10),
        )
        .await
        .map(|d| (d.partition, d.offset))
}

fn producer(bootstrap: &str, idempotent: bool) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", idempotent.to_string())
        .set("message.timeout.ms", "10000")
        .set("retries", if idempotent { "5" } else { "0" })
        .create()
        .unwrap()
}

fn consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create()
        .unwrap()
}

/// Reads `n` records from the start of the topic, on a blocking thread.
async fn read(bootstrap: String, group: &'static str, n: usize) -> (BaseConsumer, Vec<String>) {
    tokio::task::spawn_blocking(move || {
        let c = consumer(&bootstrap, group);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)
            .unwrap();
        c.assign(&tpl).unwrap();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while got.len() < n && std::time::Instant::now() < deadline {
            if let Some(m) = c.poll(Duration::from_millis(200)) {
                let m = m.unwrap();
                got.push(String::from_utf8_lossy(m.payload().unwrap()).into_owned());
            }
        }
        (c, got)
    })
    .await
    .unwrap()
}

fn high_watermark(bootstrap: &str) -> i64 {
    let c = consumer(bootstrap, "watermark-probe");
    c.fetch_watermarks(TOPIC, 0, Duration::from_secs(10))
        .unwrap()
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_read_every_record_through_their_own_address() {
    let s = setup(25).await;
    let partner = s.partners.addr().to_string();
    let (c, got) = read(partner.clone(), "partner-crm-sync", 25).await;
    assert_eq!(got.len(), 25, "the partner read every record");
    assert_eq!(got[0], "event 0");
    // The cluster a partner sees is the partner listener, not the broker.
    let metadata = tokio::task::spawn_blocking(move || {
        let m = c
            .fetch_metadata(Some(TOPIC), Duration::from_secs(10))
            .unwrap();
        m.brokers()
            .iter()
            .map(|b| format!("{}:{}", b.host(), b.port()))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(metadata, vec![partner]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_cannot_produce_with_or_without_idempotence() {
    let s = setup(3).await;
    let partner = s.partners.addr().to_string();
    let plain = forge(&partner, false).await;
    let Err((KafkaError::MessageProduction(code), _)) = plain else {
        panic!("a partner's produce must fail, got {plain:?}");
    };
    assert_eq!(code, RDKafkaErrorCode::TopicAuthorizationFailed);
    let idempotent = forge(&partner, true).await;
    assert!(
        idempotent.is_err(),
        "an idempotent producer is refused its producer id too"
    );
    let internal = s.broker.addr().to_string();
    let watermark = tokio::task::spawn_blocking(move || high_watermark(&internal))
        .await
        .unwrap();
    assert_eq!(watermark, 3, "nothing a partner sent reached the log");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_commit_their_own_groups_and_never_rapports() {
    let s = setup(5).await;
    let partner = s.partners.addr().to_string();
    let (own, _) = read(partner.clone(), "partner-crm-sync", 5).await;
    let (reserved, _) = read(partner.clone(), "rapport-analytics", 5).await;
    let committed = tokio::task::spawn_blocking(move || {
        let mut at = TopicPartitionList::new();
        at.add_partition_offset(TOPIC, 0, Offset::Offset(4))
            .unwrap();
        let own_commit = own.commit(&at, CommitMode::Sync);
        let reserved_commit = reserved.commit(&at, CommitMode::Sync);
        let own_read = own.committed(Duration::from_secs(10)).unwrap();
        // Closing a consumer that committed waits forever on tansu 0.6.0,
        // with or without the listener in between (Rapport's own consumers
        // close on a thread with a deadline): leave these to the exit.
        std::thread::spawn(move || drop((own, reserved)));
        (own_commit, reserved_commit, own_read)
    })
    .await
    .unwrap();
    let (own_commit, reserved_commit, own_read) = committed;
    own_commit.expect("a partner commits its own group");
    assert_eq!(
        own_read.find_partition(TOPIC, 0).unwrap().offset(),
        Offset::Offset(4)
    );
    let err = reserved_commit.expect_err("Rapport's group is not the partner's");
    assert!(
        format!("{err:?}").contains("GroupAuthorizationFailed"),
        "refused as a Kafka cluster with ACLs would: {err:?}"
    );
    // Rapport's group kept no offset from the partner.
    let internal = s.broker.addr().to_string();
    let rapports = tokio::task::spawn_blocking(move || {
        let c = consumer(&internal, "rapport-analytics");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(TOPIC, 0);
        c.committed_offsets(tpl, Duration::from_secs(10)).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        rapports.find_partition(TOPIC, 0).unwrap().offset(),
        Offset::Invalid
    );
    s.stop().await;
}
