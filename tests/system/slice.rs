//! The vertical slice a user walks through: contact, interaction,
//! timeline, analytics summary fed by events.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Monolith, eventually};

#[tokio::test]
async fn contact_interactions_timeline_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let token = app.token("acme", "alice@acme.example");

    let (status, contact) = app
        .post(
            "/v1/contacts",
            &token,
            json!({"given_name": "Ada", "family_name": "Lovelace", "email": "Ada@Example.COM", "phone": "+44 20 7946 0000"}),
        )
        .await;
    assert_eq!(status, 201, "{contact}");
    let id = contact["id"].as_str().unwrap().to_owned();
    assert_eq!(contact["display_name"], "Ada Lovelace");
    assert_eq!(contact["email"], "ada@example.com");
    assert_eq!(contact["created_by"], "alice@acme.example");

    let (status, fetched) = app.get(&format!("/v1/contacts/{id}"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, contact);

    for (hour, channel, summary) in [
        (9, "call", "first call"),
        (11, "email", "sent the offer"),
        (10, "meeting", "demo"),
    ] {
        let (status, body) = app
            .post(
                &format!("/v1/contacts/{id}/interactions"),
                &token,
                json!({
                    "channel": channel,
                    "direction": "outbound",
                    "occurred_at": format!("2026-11-20T{hour:02}:00:00Z"),
                    "summary": summary,
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["contact_id"], id.as_str());
        assert_eq!(body["channel"], channel);
    }

    // Newest first, two pages of two and one.
    let mut seen = Vec::new();
    let mut token_param = String::new();
    loop {
        let (status, page) = app
            .get(
                &format!("/v1/contacts/{id}/timeline?page_size=2{token_param}"),
                &token,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let items = page["interactions"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|i| i["summary"].as_str().unwrap().to_owned()),
        );
        match page["next_page_token"].as_str().unwrap() {
            "" => break,
            next => token_param = format!("&page_token={next}"),
        }
    }
    assert_eq!(seen, ["sent the offer", "demo", "first call"]);

    // The summary is built only from Kafka events, so it converges.
    let counts = eventually(
        "analytics to count the slice",
        Duration::from_secs(30),
        || async {
            let c = app.summary(&token).await;
            (c == (1, 3)).then_some(c)
        },
    )
    .await;
    assert_eq!(counts, (1, 3));
}

#[tokio::test]
async fn health_readiness_metrics_and_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let (status, _, body) = app.call("GET", "/healthz", None, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, _, body) = app.call("GET", "/readyz", None, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));

    let token = app.token("acme", "alice");
    app.create_contact(&token, "Grace").await;
    let metrics = app.metrics().await;
    for series in [
        "rapport_http_requests_total{method=\"POST\",route=\"/v1/contacts\",status=\"201\"} 1",
        "rapport_grpc_requests_total{code=\"0\",method=\"CreateContact\",service=\"contacts\"} 1",
        "rapport_grpc_request_duration_seconds_bucket",
        "rapport_outbox_backlog{service=\"contacts\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing from\n{metrics}");
    }
    let status = app.terminate();
    assert!(
        status.success(),
        "SIGTERM should drain and exit 0, got {status}"
    );
}
