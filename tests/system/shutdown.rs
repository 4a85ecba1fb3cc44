//! The monolith stops when asked: SIGTERM in the middle of a write burst,
//! with events waiting in every outbox, ends the process within the
//! shutdown deadline, and nothing that was acknowledged is lost.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::harness::{Monolith, eventually};

/// The deadline the test configures (`shutdown_grace_seconds`).
const DEADLINE_SECONDS: u64 = 10;
/// Concurrent writers in the burst.
const WRITERS: usize = 8;

/// What the writers got acknowledged, by path of the record.
type Acked = Arc<Mutex<Vec<String>>>;

/// Writes a contact, an interaction, a deal and a task, over and over,
/// until the server goes away; records every acknowledged record.
async fn writer(http: String, token: String, acked: Acked) {
    let client = reqwest::Client::new();
    let post = |path: String, body: Value| {
        let req = client
            .post(format!("{http}{path}"))
            .bearer_auth(&token)
            .json(&body);
        async move {
            let resp = req.send().await.ok()?;
            if resp.status().as_u16() != 201 {
                return None;
            }
            let v: Value = resp.json().await.ok()?;
            v["id"].as_str().map(str::to_owned)
        }
    };
    for i in 0.. {
        let Some(contact) = post(
            "/v1/contacts".into(),
            json!({"given_name": format!("Burst{i}"), "family_name": "Writer"}),
        )
        .await
        else {
            return;
        };
        acked
            .lock()
            .unwrap()
            .push(format!("/v1/contacts/{contact}"));
        let writes = [
            (
                format!("/v1/contacts/{contact}/interactions"),
                json!({"channel": "call", "direction": "inbound", "occurred_at": "2026-11-30T10:00:00Z"}),
                None,
            ),
            (
                "/v1/deals".to_owned(),
                json!({"title": "Burst", "contact_id": contact, "amount": {"amount": "10.00", "currency": "EUR"}}),
                Some("/v1/deals/"),
            ),
            (
                "/v1/tasks".to_owned(),
                json!({"title": "Burst", "contact_id": contact, "due_time": "2026-12-01T09:00:00Z", "assignee": "alice"}),
                Some("/v1/tasks/"),
            ),
        ];
        for (path, body, read_at) in writes {
            let Some(id) = post(path, body).await else {
                return;
            };
            if let Some(prefix) = read_at {
                acked.lock().unwrap().push(format!("{prefix}{id}"));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_write_burst_stops_in_time_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let deadline = DEADLINE_SECONDS.to_string();
    let app = Monolith::start(
        dir.path(),
        &[("RAPPORT_SHUTDOWN_GRACE_SECONDS", deadline.as_str())],
    );
    let token = app.token("acme", "alice");
    let acked: Acked = Arc::default();
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| tokio::spawn(writer(app.http.clone(), token.clone(), acked.clone())))
        .collect();

    // Wait until every producing service has events waiting to be published.
    eventually(
        "a backlog in every outbox",
        Duration::from_secs(120),
        || async {
            for service in ["contacts", "comms", "deals", "tasks"] {
                let backlog = app
                    .metric(&format!("rapport_outbox_backlog{{service=\"{service}\"}}"))
                    .await?;
                if backlog < 1.0 {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;

    let asked = Instant::now();
    let status = app.terminate();
    let took = asked.elapsed();
    for w in writers {
        w.await.unwrap();
    }
    let log = std::fs::read_to_string(dir.path().join("rapport.log")).unwrap_or_default();
    assert!(
        took < Duration::from_secs(DEADLINE_SECONDS + 5),
        "exit took {took:?} after SIGTERM (deadline {DEADLINE_SECONDS} s); log:\n{log}"
    );
    assert!(status.success(), "exit status {status}; log:\n{log}");
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 20, "only {} writes acknowledged", acked.len());

    // Everything acknowledged is there after a restart, and its events
    // reach analytics.
    let app = Monolith::start(dir.path(), &[]);
    let token = app.token("acme", "alice");
    for path in &acked {
        let (s, body) = app.get(path, &token).await;
        assert_eq!(s, 200, "{path}: {body}");
    }
    let contacts = acked
        .iter()
        .filter(|p| p.starts_with("/v1/contacts/"))
        .count() as i64;
    let deals = acked.iter().filter(|p| p.starts_with("/v1/deals/")).count() as i64;
    let tasks = acked.iter().filter(|p| p.starts_with("/v1/tasks/")).count() as i64;
    eventually(
        "analytics to count every acknowledged write",
        Duration::from_secs(300),
        || async {
            let (s, sum) = app.get("/v1/analytics/summary", &token).await;
            (s == 200
                && sum["contacts"].as_i64()? >= contacts
                && sum["deals"].as_i64()? >= deals
                && sum["tasks"].as_i64()? >= tasks)
                .then_some(())
        },
    )
    .await;
}
