//! Tenants never see each other's data.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Monolith, eventually};

#[tokio::test]
async fn another_tenant_gets_404_and_zero_counts() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let acme = app.token("acme", "alice");
    let globex = app.token("globex", "mallory");
    let id = app.create_contact(&acme, "Ada").await;
    let (s, _) = app
        .post(
            &format!("/v1/contacts/{id}/interactions"),
            &acme,
            json!({"channel": "note", "direction": "internal", "occurred_at": "2026-11-01T08:00:00Z"}),
        )
        .await;
    assert_eq!(s, 201);

    let (status, ct, body) = app
        .call("GET", &format!("/v1/contacts/{id}"), Some(&globex), None)
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(ct, "application/problem+json");
    assert_eq!(body["reason"], "CONTACT_NOT_FOUND");

    let (status, _) = app
        .get(&format!("/v1/contacts/{id}/timeline"), &globex)
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post(
            &format!("/v1/contacts/{id}/interactions"),
            &globex,
            json!({"channel": "call", "direction": "inbound", "occurred_at": "2026-11-01T08:00:00Z"}),
        )
        .await;
    assert_eq!(status, 404);

    eventually("acme's counts", Duration::from_secs(30), || async {
        (app.summary(&acme).await == (1, 1)).then_some(())
    })
    .await;
    assert_eq!(app.summary(&globex).await, (0, 0));
}
