//! Broker probe: the same produce-then-fetch workload against any
//! Kafka-protocol broker, to compare embedded brokers by measurement
//! (ADR 0118).
//!
//! It only needs a bootstrap address, so one source serves two builds:
//! `rapport-loadtests broker` (tansu 0.6.0 as Rapport embeds it) and
//! `loadtests/broker-probe` (nisshi-broker, which needs libsql 0.10 and so
//! cannot link into this workspace).
//!
//! Workload: records shaped like Rapport's events (key, about 300 bytes of
//! payload, 8 headers) are produced with an idempotent producer and
//! `acks=all`, then read back from the beginning by one assigned consumer
//! with the monolith's fetch settings. Fetch throughput is reported per
//! tenth of the log, so a cost that grows with the log shows as a falling
//! column. Then the end-to-end latency of single records against a
//! caught-up consumer, which shows any polling sleep in the broker's fetch.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    message::{Header, Headers, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};

/// Records produced per concurrent window.
const PRODUCE_WINDOW: usize = 5_000;
/// Single-record round trips timed after the bulk phase.
const LATENCY_SAMPLES: usize = 200;

/// Produces `records` records to a new topic on `bootstrap`, reads them
/// back, times single-record round trips, and prints the figures.
pub(crate) async fn probe(bootstrap: &str, records: usize) -> anyhow::Result<()> {
    let topic = format!("probe-{}", std::process::id());
    create_topic(bootstrap, &topic).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .create()
        .context("producer")?;

    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    for start in (0..records).step_by(PRODUCE_WINDOW) {
        let end = (start + PRODUCE_WINDOW).min(records);
        let sends = (start..end).map(|i| send(&producer, &topic, i));
        for sent in futures::future::join_all(sends).await {
            sent?;
        }
    }
    let produce = t0.elapsed();
    let produce_cpu = cpu_seconds() - cpu0;
    println!(
        "produce  {records} records in {:.2} s: {:.0} records/s, {:.2} CPU s",
        produce.as_secs_f64(),
        records as f64 / produce.as_secs_f64(),
        produce_cpu
    );

    let consumer = assigned_consumer(bootstrap, &topic)?;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let tenth = (records / 10).max(1);
    let mut seen = 0usize;
    let mut window = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen < records {
        if Instant::now() > deadline {
            bail!("fetched only {seen} of {records} records in 600 s");
        }
        let Some(polled) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = polled.context("fetch")?;
        let headers = message.headers().map_or(0, |h| h.count());
        if headers != 8 {
            bail!(
                "record {} came back with {headers} headers",
                message.offset()
            );
        }
        seen += 1;
        if seen.is_multiple_of(tenth) {
            let rate = tenth as f64 / window.elapsed().as_secs_f64();
            println!(
                "fetch    records {:>8}..{seen:<8} {rate:>9.0} records/s",
                seen - tenth
            );
            window = Instant::now();
        }
    }
    let fetch = t0.elapsed();
    println!(
        "fetch    {records} records in {:.2} s: {:.0} records/s, {:.2} CPU s",
        fetch.as_secs_f64(),
        records as f64 / fetch.as_secs_f64(),
        cpu_seconds() - cpu0
    );

    let mut latency = Histogram::<u64>::new(3)?;
    for i in 0..LATENCY_SAMPLES {
        let sent = Instant::now();
        send(&producer, &topic, records + i).await?;
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e).context("latency fetch"),
            None => bail!("a single record did not arrive within 10 s"),
        }
        latency.record(sent.elapsed().as_micros() as u64)?;
    }
    println!(
        "latency  produce-to-fetch of one record: p50 {:.1} ms, p99 {:.1} ms ({LATENCY_SAMPLES} samples)",
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0
    );
    Ok(())
}

async fn create_topic(bootstrap: &str, topic: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("admin client")?;
    let created = admin
        .create_topics(
            &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await?;
    for result in created {
        result.map_err(|(t, e)| anyhow::anyhow!("create topic {t}: {e}"))?;
    }
    Ok(())
}

async fn send(producer: &FutureProducer, topic: &str, i: usize) -> anyhow::Result<()> {
    let key = format!("tenant-{}/{:032x}", i % 7, i);
    let payload = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(280));
    let mut headers = OwnedHeaders::new();
    for name in [
        "event_id",
        "event_type",
        "tenant_id",
        "aggregate_id",
        "source",
        "occurred_at",
        "traceparent",
        "content-type",
    ] {
        headers = headers.insert(Header {
            key: name,
            value: Some(&key),
        });
    }
    producer
        .send(
            FutureRecord::to(topic)
                .key(&key)
                .payload(&payload)
                .headers(headers),
            Duration::from_secs(60),
        )
        .await
        .map_err(|(e, _)| anyhow::anyhow!("produce record {i}: {e}"))?;
    Ok(())
}

fn assigned_consumer(bootstrap: &str, topic: &str) -> anyhow::Result<BaseConsumer> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "probe")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .set("fetch.max.bytes", "8388608")
        .create()
        .context("consumer")?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    Ok(consumer)
}

/// User plus system CPU time of this process (broker and client alike:
/// both builds run the broker in-process), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line, in clock ticks (100 per s).
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}
