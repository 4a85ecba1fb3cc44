//! Bad input gets a clear 400 (or 401), stores nothing and emits nothing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Monolith, eventually};

/// Asserts a problem+json answer with `status` and `reason`; returns it.
async fn problem(
    app: &Monolith,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
    status: u16,
    reason: &str,
) -> Value {
    let (s, ct, p) = app.call("POST", path, token, Some(body)).await;
    assert_eq!(s, status, "{path}: {p}");
    assert_eq!(ct, "application/problem+json");
    assert_eq!(p["status"], status);
    assert_eq!(p["reason"], reason, "{p}");
    assert!(!p["detail"].as_str().unwrap_or("").is_empty(), "{p}");
    p
}

fn fields(p: &Value) -> Vec<String> {
    p["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|f| f["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn invalid_requests_are_refused_and_leave_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let token = app.token("initech", "peter");
    let t = Some(token.as_str());

    problem(
        &app,
        "/v1/contacts",
        t,
        b"{\"given_name\": ".to_vec(),
        400,
        "MALFORMED_JSON",
    )
    .await;
    let p = problem(
        &app,
        "/v1/contacts",
        t,
        b"{}".to_vec(),
        400,
        "INVALID_CONTACT",
    )
    .await;
    assert_eq!(fields(&p), ["contact.given_name"]);
    let p = problem(
        &app,
        "/v1/contacts",
        t,
        json!({"given_name": "Bill", "email": "bill@lumbergh"})
            .to_string()
            .into_bytes(),
        400,
        "INVALID_CONTACT",
    )
    .await;
    assert_eq!(fields(&p), ["contact.email"]);
    let p = problem(
        &app,
        "/v1/contacts",
        t,
        json!({"given_name": 42}).to_string().into_bytes(),
        400,
        "INVALID_FIELD",
    )
    .await;
    assert_eq!(fields(&p), ["given_name"]);
    let p = problem(
        &app,
        "/v1/contacts",
        t,
        json!({"given_name": "Bill", "nickname": "B"})
            .to_string()
            .into_bytes(),
        400,
        "INVALID_FIELD",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("nickname"), "{p}");
    let huge = json!({"given_name": "x".repeat(70 * 1024)})
        .to_string()
        .into_bytes();
    problem(&app, "/v1/contacts", t, huge, 400, "BODY_TOO_LARGE").await;
    problem(
        &app,
        "/v1/contacts",
        None,
        json!({"given_name": "Bill"}).to_string().into_bytes(),
        401,
        "UNAUTHENTICATED",
    )
    .await;
    problem(
        &app,
        "/v1/contacts",
        Some("not.a.token"),
        json!({"given_name": "Bill"}).to_string().into_bytes(),
        401,
        "UNAUTHENTICATED",
    )
    .await;

    // Interactions: unknown channel, bad time, missing fields.
    let id = app.create_contact(&token, "Samir").await;
    let path = format!("/v1/contacts/{id}/interactions");
    let p = problem(
        &app,
        &path,
        t,
        json!({"channel": "fax", "direction": "inbound", "occurred_at": "yesterday"})
            .to_string()
            .into_bytes(),
        400,
        "INVALID_INTERACTION",
    )
    .await;
    assert_eq!(fields(&p), ["channel", "occurred_at"]);
    let p = problem(&app, &path, t, b"{}".to_vec(), 400, "INVALID_INTERACTION").await;
    assert_eq!(
        fields(&p),
        [
            "interaction.channel",
            "interaction.direction",
            "interaction.occurred_at"
        ]
    );

    // Only the one valid contact exists and was published: the summary
    // reaches exactly 1 contact and 0 interactions, and the outbox drained
    // exactly one event.
    eventually(
        "the valid contact to be counted",
        Duration::from_secs(30),
        || async { (app.summary(&token).await == (1, 0)).then_some(()) },
    )
    .await;
    let published = app
        .metric(
            "rapport_events_published_total{service=\"contacts\",topic=\"rapport.contacts.v1\"}",
        )
        .await;
    assert_eq!(published, Some(1.0));
    assert_eq!(
        app.metric("rapport_events_published_total{service=\"comms\"")
            .await,
        None,
        "no interaction event may be published"
    );
    let (s, timeline) = app
        .get(&format!("/v1/contacts/{id}/timeline"), &token)
        .await;
    assert_eq!(s, 200);
    assert_eq!(timeline["interactions"], json!([]));
}
