//! Acknowledged writes and events survive `kill -9`; analytics counts
//! exactly, even when events are delivered again.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Monolith, eventually};

const CONTACTS: usize = 5;

#[tokio::test]
async fn kill_9_with_events_in_the_outbox_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();

    // 1. The relay is paused, so every acknowledged event waits in an outbox.
    let app = Monolith::start(dir.path(), &[("RAPPORT_OUTBOX__RELAY_ENABLED", "false")]);
    let token = app.token("acme", "alice");
    let mut ids = Vec::new();
    for i in 0..CONTACTS {
        let id = app.create_contact(&token, &format!("Person{i}")).await;
        let (s, body) = app
            .post(
                &format!("/v1/contacts/{id}/interactions"),
                &token,
                json!({"channel": "sms", "direction": "inbound", "occurred_at": "2026-11-24T12:00:00Z"}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
        ids.push(id);
    }
    eventually(
        "outbox backlog to show the waiting events",
        Duration::from_secs(30),
        || async {
            let contacts = app
                .metric("rapport_outbox_backlog{service=\"contacts\"}")
                .await?;
            let comms = app
                .metric("rapport_outbox_backlog{service=\"comms\"}")
                .await?;
            // Each write's event and its audit entry.
            let waiting = 2.0 * CONTACTS as f64;
            (contacts == waiting && comms == waiting).then_some(())
        },
    )
    .await;
    assert_eq!(app.summary(&token).await, (0, 0));
    app.kill9();

    // 2. Restart normally: everything is still there and gets published.
    let app = Monolith::start(dir.path(), &[]);
    let token = app.token("acme", "alice");
    for id in &ids {
        let (s, body) = app.get(&format!("/v1/contacts/{id}"), &token).await;
        assert_eq!(s, 200, "{body}");
        let (s, timeline) = app
            .get(&format!("/v1/contacts/{id}/timeline"), &token)
            .await;
        assert_eq!(s, 200);
        assert_eq!(timeline["interactions"].as_array().unwrap().len(), 1);
    }
    let want = (CONTACTS as i64, CONTACTS as i64);
    eventually(
        "analytics to count every event once",
        Duration::from_secs(60),
        || async { (app.summary(&token).await == want).then_some(()) },
    )
    .await;
    // Kill again right away: offsets committed asynchronously may be lost,
    // so some events are delivered again after the restart.
    app.kill9();

    // 3. After the redelivery the consumer catches up (lag 0 everywhere)
    // and the counts are still exact.
    let app = Monolith::start(dir.path(), &[]);
    let token = app.token("acme", "alice");
    eventually(
        "the consumer to catch up",
        Duration::from_secs(60),
        || async {
            let metrics = app.metrics().await;
            let lags: Vec<f64> = metrics
                .lines()
                .filter(|l| l.starts_with("rapport_kafka_consumer_lag{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
                .collect();
            (!lags.is_empty() && lags.iter().all(|l| *l == 0.0)).then_some(())
        },
    )
    .await;
    assert_eq!(app.summary(&token).await, want);
    assert_eq!(
        app.metric("rapport_outbox_backlog{service=\"contacts\"}")
            .await,
        Some(0.0)
    );
}
