//! What partners see on Kafka: a consumer reads the embedded broker like
//! any Kafka client would.

use std::time::Duration;

use prost::Message as _;
use rapport_proto::events::v1::{ContactCreated, ContactErased, EventEnvelope};
use rdkafka::{
    ClientConfig, Message,
    consumer::{Consumer, StreamConsumer},
    message::{Header, Headers, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};
use serde_json::json;

use rapport_platform::{
    identity::PrincipalKey,
    kafka::{EventSigner, SIGNATURE_HEADER},
};

use crate::harness::{Monolith, eventually};

/// Kafka's murmur2 (as in the Java client's `Utils.murmur2`).
fn murmur2(data: &[u8]) -> i32 {
    let seed: u32 = 0x9747_b28c;
    let m: u32 = 0x5bd1_e995;
    let r = 24;
    let len = data.len();
    let mut h: u32 = seed ^ (len as u32);
    let chunks = len / 4;
    for i in 0..chunks {
        let mut k = u32::from_le_bytes(data[i * 4..i * 4 + 4].try_into().unwrap());
        k = k.wrapping_mul(m);
        k ^= k >> r;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    let tail = &data[chunks * 4..];
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(m);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(m);
    h ^= h >> 15;
    h as i32
}

#[test]
fn murmur2_matches_the_java_client() {
    // Reference values from Kafka's UtilsTest.testMurmur2.
    assert_eq!(murmur2(b"21"), -973932308);
    assert_eq!(murmur2(b"foobar"), -790332482);
    assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
    assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
    assert_eq!(
        murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
        -58897971
    );
    assert_eq!(murmur2(b"abc"), 479470107);
}

#[tokio::test]
async fn contact_events_carry_key_envelope_and_cloudevents_headers() {
    let dir = tempfile::tempdir().unwrap();
    // Three partitions (the monolith's default is one) so the partition
    // choice is visible.
    let app = Monolith::start(dir.path(), &[("RAPPORT_KAFKA__TOPICS__PARTITIONS", "3")]);
    let token = app.token("acme", "alice");
    let id = app.create_contact(&token, "Partner").await;
    let key = format!("acme/{id}");

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &app.kafka)
        .set("group.id", format!("partner-test-{}", uuid::Uuid::now_v7()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["rapport.contacts.v1"]).unwrap();
    let message = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let m = consumer.recv().await.expect("kafka receive");
            if m.key() == Some(key.as_bytes()) {
                return m.detach();
            }
        }
    })
    .await
    .expect("the contact's event reached the topic");

    // Murmur2 partitioning: the Java client would pick the same partition.
    let partitions = 3;
    let expected = (murmur2(key.as_bytes()) & 0x7fff_ffff) % partitions;
    assert_eq!(message.partition(), expected);

    let envelope = EventEnvelope::decode(message.payload().unwrap()).unwrap();
    assert_eq!(envelope.tenant_id, "acme");
    assert_eq!(envelope.aggregate_type, "contact");
    assert_eq!(envelope.aggregate_id, id);
    assert_eq!(envelope.aggregate_version, 1);
    assert_eq!(envelope.event_type, "rapport.events.v1.ContactCreated");
    assert_eq!(envelope.source, "/rapport/contacts");
    assert_eq!(envelope.principal, "alice");
    let payload = envelope.payload.clone().unwrap();
    assert_eq!(
        payload.type_url,
        "type.googleapis.com/rapport.events.v1.ContactCreated"
    );
    let created = ContactCreated::decode(payload.value.as_slice()).unwrap();
    let contact = created.contact.unwrap();
    assert_eq!(
        (contact.contact_id.as_str(), contact.given_name.as_str()),
        (id.as_str(), "Partner")
    );

    let headers: Vec<(String, String)> = message
        .headers()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h.key.to_owned(),
                String::from_utf8(h.value.unwrap().to_vec()).unwrap(),
            )
        })
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("header {name} missing: {headers:?}"))
    };
    assert_eq!(header("ce_specversion"), "1.0");
    assert_eq!(header("ce_id"), envelope.event_id);
    assert_eq!(header("ce_type"), envelope.event_type);
    assert_eq!(header("ce_source"), "/rapport/contacts");
    assert_eq!(header("ce_subject"), id);
    assert_eq!(header("content-type"), "application/protobuf");
    let time = chrono::DateTime::parse_from_rfc3339(&header("ce_time")).expect("RFC 3339 ce_time");
    let occurred = envelope.occurred_at.unwrap();
    assert_eq!(time.timestamp(), occurred.seconds);
    let traceparent = header("traceparent");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1].len(), 32);
    assert_eq!(parts[2].len(), 16);
    assert!(parts[1].chars().all(|c| c.is_ascii_hexdigit()) && parts[1] != "0".repeat(32));
}

/// An envelope of `payload` as someone other than Rapport might write it.
fn envelope_of<M: prost::Name>(
    tenant: &str,
    aggregate: &str,
    source: &str,
    payload: &M,
) -> Vec<u8> {
    EventEnvelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.into(),
        aggregate_type: "contact".into(),
        aggregate_id: aggregate.into(),
        aggregate_version: 1,
        event_type: M::full_name(),
        source: source.into(),
        payload: Some(prost_types::Any::from_msg(payload).unwrap()),
        ..Default::default()
    }
    .encode_to_vec()
}

#[tokio::test]
async fn forged_events_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let token = app.token("acme", "alice");
    let id = app.create_contact(&token, "Kept").await;
    let (status, body) = app
        .post(
            &format!("/v1/contacts/{id}/interactions"),
            &token,
            json!({"channel": "call", "direction": "inbound", "occurred_at": "2026-11-30T10:00:00Z", "summary": "kept call"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    eventually("the call is counted", Duration::from_secs(60), || async {
        (app.summary(&token).await == (1, 1)).then_some(())
    })
    .await;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &app.kafka)
        .create()
        .unwrap();
    let erased = ContactErased {
        contact_id: id.clone(),
        erasure_id: "forged".into(),
    };
    // Signed with the services' key, as a compromised service could: the
    // key and source checks still hold.
    let rapport =
        EventSigner::new(&PrincipalKey::load(&app.data_dir().join("principal.key")).unwrap());
    let stranger = EventSigner::new(&PrincipalKey::ephemeral());
    let signed = [
        // Keyed for another tenant than the envelope names.
        (
            format!("globex/{id}"),
            envelope_of("acme", &id, "/rapport/contacts", &erased),
        ),
        // Consistent key and tenant, but not from the contacts service.
        (
            format!("acme/{id}"),
            envelope_of("acme", &id, "/rapport/comms", &erased),
        ),
        (
            "acme/c-forged".to_owned(),
            envelope_of(
                "acme",
                "c-other",
                "/rapport/contacts",
                &ContactCreated::default(),
            ),
        ),
    ];
    // What the contacts service itself would publish, but not signed by
    // Rapport: without a signature, and with another key's.
    let faithful = envelope_of("acme", &id, "/rapport/contacts", &erased);
    let key = format!("acme/{id}");
    let mut forged: Vec<(String, Vec<u8>, Option<String>)> = signed
        .into_iter()
        .map(|(k, v)| {
            let sig = rapport.sign("rapport.contacts.v1", &k, &v);
            (k, v, Some(sig))
        })
        .collect();
    forged.push((key.clone(), faithful.clone(), None));
    let wrong = stranger.sign("rapport.contacts.v1", &key, &faithful);
    forged.push((key, faithful, Some(wrong)));
    for (key, value, signature) in &forged {
        let mut record = FutureRecord::to("rapport.contacts.v1")
            .key(key)
            .payload(value);
        if let Some(sig) = signature {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: SIGNATURE_HEADER,
                value: Some(sig.as_bytes()),
            }));
        }
        producer
            .send(record, Duration::from_secs(10))
            .await
            .unwrap();
    }

    for group in ["rapport-analytics", "rapport-comms-contacts"] {
        let series = format!(
            "rapport_events_consumed_total{{group=\"{group}\",outcome=\"forged\",topic=\"rapport.contacts.v1\"}}"
        );
        eventually(
            &format!("{group} refuses the forged events"),
            Duration::from_secs(60),
            || async { (app.metric(&series).await == Some(5.0)).then_some(()) },
        )
        .await;
    }
    assert_eq!(app.summary(&token).await, (1, 1), "nothing counted");
    let (status, timeline) = app
        .get(&format!("/v1/contacts/{id}/timeline"), &token)
        .await;
    assert_eq!(status, 200, "{timeline}");
    assert_eq!(
        timeline["interactions"][0]["summary"], "kept call",
        "nothing erased"
    );
}
