//! API keys for partner systems: a tenant admin creates a scoped key (its
//! token shown once), the partner calls the REST API with it, and a
//! revoked key stops working on every gateway replica within seconds.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{GatewayReplica, Monolith, eventually};

fn refused(what: &str, (status, body): (u16, Value), permission: &str) {
    assert_eq!(status, 403, "{what}: {body}");
    assert_eq!(body["reason"], "PERMISSION_DENIED", "{what}: {body}");
    assert_eq!(body["permission"], permission, "{what}: {body}");
}

fn fields(body: &Value) -> Vec<&str> {
    body["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_scoped_key_works_until_revoked_on_every_replica() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let admin = app.token("acme", "alice");
    let rep = app.token_with_roles("acme", "ravi", &["rep"]);
    let erp = json!({"display_name": "ERP sync", "scopes": ["records.read", "records.write"]});

    // Only tenant admins manage keys.
    refused(
        "a rep creates a key",
        app.post("/v1/api-keys", &rep, erp.clone()).await,
        "api_keys.manage",
    );
    refused(
        "a rep lists keys",
        app.get("/v1/api-keys", &rep).await,
        "api_keys.manage",
    );
    // Bad input names every bad field; tenant administration is no scope.
    let (s, body) = app
        .post(
            "/v1/api-keys",
            &admin,
            json!({"display_name": " ", "scopes": ["settings.manage", "records.delete"]}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(
        fields(&body),
        ["display_name", "scopes[0]", "scopes[1]"],
        "{body}"
    );
    let (s, body) = app
        .post(
            "/v1/api-keys",
            &admin,
            json!({"display_name": "x", "scopes": []}),
        )
        .await;
    assert_eq!((s, fields(&body)), (400, vec!["scopes"]), "{body}");

    let (s, created) = app.post("/v1/api-keys", &admin, erp).await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with(&format!("rk_acme.{id}.")), "{key}");
    assert_eq!(created["state"], "ACTIVE");
    assert_eq!(created["created_by"], "alice");
    assert_eq!(created["scopes"], json!(["records.read", "records.write"]));

    // The partner reads and writes within its tenant.
    let pat = app.create_contact(&key, "Pat").await;
    let (s, body) = app.get(&format!("/v1/contacts/{pat}"), &key).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["owner"], format!("apikey:{id}"), "{body}");
    // Its scopes bound it: no export, no key management.
    refused(
        "export with a read/write key",
        app.post("/v1/exports", &key, json!({"object_type": "person"}))
            .await,
        "contacts.export",
    );
    refused(
        "a key manages keys",
        app.get("/v1/api-keys", &key).await,
        "api_keys.manage",
    );
    // The tenant comes from the stored key: another tenant's records stay
    // hidden, and a token moved to another tenant or with another secret
    // authenticates nothing.
    let globex = app.token("globex", "gary");
    let gil = app.create_contact(&globex, "Gil").await;
    assert_eq!(app.get(&format!("/v1/contacts/{gil}"), &key).await.0, 404);
    let moved = key.replacen("rk_acme.", "rk_globex.", 1);
    let mut forged = key.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for (what, token) in [("moved", moved), ("forged", forged)] {
        let (s, body) = app.get(&format!("/v1/contacts/{pat}"), &token).await;
        assert_eq!(
            (s, body["reason"].as_str()),
            (401, Some("UNAUTHENTICATED")),
            "{what}: {body}"
        );
    }

    // The token is never shown again; the last use is recorded.
    let listed = eventually("the key's last use", Duration::from_secs(10), || async {
        let (s, body) = app.get("/v1/api-keys", &admin).await;
        assert_eq!(s, 200, "{body}");
        let keys = body["api_keys"].as_array().unwrap().clone();
        keys[0].get("last_use_time").is_some().then_some(keys)
    })
    .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(listed[0].get("key").is_none(), "{}", listed[0]);
    let (s, one) = app.get(&format!("/v1/api-keys/{id}"), &admin).await;
    assert_eq!(s, 200, "{one}");
    assert!(one.get("key").is_none(), "{one}");
    // Other tenants' admins do not see it.
    assert_eq!(app.get(&format!("/v1/api-keys/{id}"), &globex).await.0, 404);
    let (_, theirs) = app.get("/v1/api-keys", &globex).await;
    assert_eq!(theirs["api_keys"], json!([]));

    // A second gateway replica accepts the key too.
    let replica = GatewayReplica::start(&app);
    assert_eq!(replica.get(&format!("/v1/contacts/{pat}"), &key).await, 200);

    // Another tenant cannot revoke it; its admin can.
    let (s, _) = app
        .post(&format!("/v1/api-keys/{id}:revoke"), &globex, json!({}))
        .await;
    assert_eq!(s, 404);
    let (s, revoked) = app
        .post(&format!("/v1/api-keys/{id}:revoke"), &admin, json!({}))
        .await;
    assert_eq!(s, 200, "{revoked}");
    assert_eq!(revoked["state"], "REVOKED");
    // At once on the replica that revoked, within seconds on the other.
    let (s, body) = app.get(&format!("/v1/contacts/{pat}"), &key).await;
    assert_eq!(s, 401, "{body}");
    eventually(
        "the revocation on the second replica",
        Duration::from_secs(15),
        || async { (replica.get(&format!("/v1/contacts/{pat}"), &key).await == 401).then_some(()) },
    )
    .await;
    // Revoking again keeps the first time; the record stays listed.
    let (s, again) = app
        .post(&format!("/v1/api-keys/{id}:revoke"), &admin, json!({}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(again["revoke_time"], revoked["revoke_time"]);
    let (_, listed) = app.get("/v1/api-keys", &admin).await;
    assert_eq!(listed["api_keys"][0]["state"], "REVOKED");
}

#[tokio::test]
async fn each_key_has_its_own_rate_limit_within_the_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(
        dir.path(),
        &[
            (
                "RAPPORT_GATEWAY__API_KEY_RATE_LIMITS__WRITE__PER_SECOND",
                "0.01",
            ),
            ("RAPPORT_GATEWAY__API_KEY_RATE_LIMITS__WRITE__BURST", "2"),
        ],
    );
    let admin = app.token("acme", "alice");
    let mut keys = Vec::new();
    for name in ["ERP", "BI"] {
        let (s, body) = app
            .post(
                "/v1/api-keys",
                &admin,
                json!({"display_name": name, "scopes": ["records.write", "records.read"]}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
        keys.push(body["key"].as_str().unwrap().to_owned());
    }
    app.create_contact(&keys[0], "One").await;
    app.create_contact(&keys[0], "Two").await;
    let (s, _, body) = app
        .call(
            "POST",
            "/v1/contacts",
            Some(&keys[0]),
            Some(br#"{"given_name": "Three"}"#.to_vec()),
        )
        .await;
    assert_eq!(s, 429, "{body}");
    assert_eq!(body["reason"], "RATE_LIMITED");
    assert_eq!(body["route_class"], "write");
    assert!(
        body["detail"].as_str().unwrap().contains("API key"),
        "{body}"
    );
    // Reads have their own bucket; the other key and people are unaffected.
    assert_eq!(app.get("/v1/api-keys", &admin).await.0, 200);
    app.create_contact(&keys[1], "Other key").await;
    app.create_contact(&admin, "A person").await;
}
