//! Merges and erasures in the contacts service, as the other services and
//! partners see them: history re-linked to the survivor; an erased person's
//! data gone from comms, unlinked from deals and tasks; `ContactErased` and a
//! tombstone on the partner topic.

use std::time::Duration;

use prost::Message;
use rapport_proto::{
    common::v1::{PersonalDataRequest, personal_data_service_client::PersonalDataServiceClient},
    events::v1::{ContactErased, EventEnvelope},
};
use rdkafka::{
    ClientConfig, Message as _,
    consumer::{Consumer, StreamConsumer},
};
use serde_json::{Value, json};

use crate::harness::{Monolith, eventually};

const DEADLINE: Duration = Duration::from_secs(60);

async fn interaction(app: &Monolith, token: &str, contact: &str, summary: &str, at: &str) {
    let (status, body) = app
        .post(
            &format!("/v1/contacts/{contact}/interactions"),
            token,
            json!({"channel": "call", "direction": "inbound", "occurred_at": at, "summary": summary}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn deal_and_task(app: &Monolith, token: &str, contact: &str) -> (String, String) {
    let (status, deal) = app
        .post(
            "/v1/deals",
            token,
            json!({"title": "Renewal", "contact_id": contact, "amount": {"amount": "1200.00", "currency": "EUR"}}),
        )
        .await;
    assert_eq!(status, 201, "{deal}");
    let (status, task) = app
        .post(
            "/v1/tasks",
            token,
            json!({"title": "Send the offer", "contact_id": contact, "due_time": "2026-12-01T09:00:00Z", "assignee": "alice"}),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    (
        deal["id"].as_str().unwrap().to_owned(),
        task["id"].as_str().unwrap().to_owned(),
    )
}

fn summaries(timeline: &Value) -> Vec<String> {
    timeline["interactions"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["summary"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn merging_relinks_history_in_comms_deals_and_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let token = app.token("acme", "alice");
    let survivor = app.create_contact(&token, "Ada").await;
    let (status, dup) = app
        .post(
            "/v1/contacts",
            &token,
            json!({"given_name": "Ada", "family_name": "L.", "email": "ada.l@example.com"}),
        )
        .await;
    assert_eq!(status, 201, "{dup}");
    let duplicate = dup["id"].as_str().unwrap().to_owned();
    interaction(
        &app,
        &token,
        &survivor,
        "first call",
        "2026-10-01T09:00:00Z",
    )
    .await;
    interaction(
        &app,
        &token,
        &duplicate,
        "call on the duplicate",
        "2026-10-02T09:00:00Z",
    )
    .await;
    let (deal, task) = deal_and_task(&app, &token, &duplicate).await;
    // Another tenant's records under the same ids must stay untouched.
    let other = app.token("globex", "gina");

    let (status, merged) = app
        .post(
            "/v1/contacts:merge",
            &token,
            json!({"survivor_id": survivor, "merged_ids": [duplicate]}),
        )
        .await;
    assert_eq!(status, 200, "{merged}");
    // The survivor had no e-mail: it takes the duplicate's.
    assert_eq!(merged["email"], "ada.l@example.com", "{merged}");
    assert_eq!(merged["etag"], "\"2\"", "{merged}");
    let (status, _) = app.get(&format!("/v1/contacts/{duplicate}"), &token).await;
    assert_eq!(status, 404);

    let timeline = eventually(
        "the survivor's timeline to show both calls",
        DEADLINE,
        || async {
            let (_, t) = app
                .get(&format!("/v1/contacts/{survivor}/timeline"), &token)
                .await;
            (summaries(&t).len() == 2).then_some(t)
        },
    )
    .await;
    assert_eq!(
        summaries(&timeline),
        ["call on the duplicate", "first call"]
    );
    eventually(
        "the deal and the task to follow the survivor",
        DEADLINE,
        || async {
            let (_, d) = app.get(&format!("/v1/deals/{deal}"), &token).await;
            let (_, t) = app.get(&format!("/v1/tasks/{task}"), &token).await;
            (d["contact_id"] == json!(survivor) && t["contact_id"] == json!(survivor)).then_some(())
        },
    )
    .await;
    let (status, _) = app.get(&format!("/v1/deals/{deal}"), &other).await;
    assert_eq!(status, 404, "another tenant never sees the deal");
}

#[tokio::test]
async fn erasure_reaches_every_service_and_partners() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let token = app.token("acme", "alice");
    let erin = app.create_contact(&token, "Erin").await;
    let keep = app.create_contact(&token, "Keep").await;
    interaction(
        &app,
        &token,
        &erin,
        "private matter",
        "2026-10-01T09:00:00Z",
    )
    .await;
    interaction(&app, &token, &keep, "unrelated", "2026-10-01T09:00:00Z").await;
    let (deal, task) = deal_and_task(&app, &token, &erin).await;

    let (status, erased) = app
        .post(
            &format!("/v1/contacts/{erin}:erase"),
            &token,
            json!({"reason": "request 118"}),
        )
        .await;
    assert_eq!(status, 200, "{erased}");
    let erasure_id = erased["erasure_id"].as_str().unwrap().to_owned();

    // comms deletes the interactions (asked directly: the contact is gone,
    // so the REST timeline answers 404 anyway).
    let comms = app.grpc["comms"].clone();
    let held = eventually("comms to forget the interactions", DEADLINE, || {
        let comms = comms.clone();
        // A person's data is exported for tenant admins only.
        let req = app.sealed_request(
            "acme",
            "alice",
            &["admin"],
            PersonalDataRequest {
                contact_id: erin.clone(),
            },
        );
        async move {
            let mut client = PersonalDataServiceClient::connect(comms).await.ok()?;
            let doc = client.export_personal_data(req).await.ok()?.into_inner();
            (!doc.document_json.contains("private matter")).then_some(doc.document_json)
        }
    })
    .await;
    assert!(!held.contains("private matter"), "{held}");
    let (_, kept) = app
        .get(&format!("/v1/contacts/{keep}/timeline"), &token)
        .await;
    assert_eq!(summaries(&kept), ["unrelated"]);

    // deals and tasks keep the record, without the person.
    eventually(
        "the deal and the task to lose the person",
        DEADLINE,
        || async {
            let (ds, d) = app.get(&format!("/v1/deals/{deal}"), &token).await;
            let (ts, t) = app.get(&format!("/v1/tasks/{task}"), &token).await;
            (ds == 200 && ts == 200 && d["contact_id"].is_null() && t["contact_id"].is_null())
                .then_some(())
        },
    )
    .await;

    // Partners see ContactErased, then a tombstone for the same key.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &app.kafka)
        .set(
            "group.id",
            format!("partner-erasure-{}", uuid::Uuid::now_v7()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["rapport.contacts.v1"]).unwrap();
    let key = format!("acme/{erin}");
    let seen = tokio::time::timeout(DEADLINE, async {
        let mut seen = Vec::new();
        loop {
            let m = consumer.recv().await.expect("kafka receive");
            if m.key() != Some(key.as_bytes()) {
                continue;
            }
            match m.payload() {
                None => {
                    seen.push("tombstone".to_owned());
                    return seen;
                }
                Some(bytes) => {
                    let e = EventEnvelope::decode(bytes).unwrap();
                    if e.event_type == "rapport.events.v1.ContactErased" {
                        let p = ContactErased::decode(e.payload.unwrap().value.as_slice()).unwrap();
                        assert_eq!(p.erasure_id, erasure_id);
                    }
                    seen.push(e.event_type);
                }
            }
        }
    })
    .await
    .expect("the erasure reached the partner topic");
    assert_eq!(
        seen,
        [
            "rapport.events.v1.ContactCreated",
            "rapport.events.v1.ContactErased",
            "tombstone"
        ]
    );
}
