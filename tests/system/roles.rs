//! Roles are enforced behind the REST API: what a role may not do answers
//! 403 `PERMISSION_DENIED` naming the permission, and changes nothing.

use serde_json::{Value, json};

use crate::harness::Monolith;

/// Asserts a refusal for want of `permission`.
fn refused(what: &str, (status, body): (u16, Value), permission: &str) {
    assert_eq!(status, 403, "{what}: {body}");
    assert_eq!(body["reason"], "PERMISSION_DENIED", "{what}: {body}");
    assert_eq!(body["permission"], permission, "{what}: {body}");
}

#[tokio::test]
async fn each_role_does_what_it_is_granted_and_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let admin = app.token("acme", "alice");
    // One team, so the manager and the read-only user see the rep's records
    // (record-level access is access.rs).
    let manager = app.token_in_teams("acme", "maria", &["manager"], &["sales"]);
    let rep = app.token_in_teams("acme", "ravi", &["rep"], &["sales"]);
    let viewer = app.token_in_teams("acme", "vera", &["read-only"], &["sales"]);

    let ada = app.create_contact(&rep, "Ada").await;
    let bea = app.create_contact(&rep, "Bea").await;

    // Tenant configuration and data protection: admins only.
    for token in [&manager, &rep, &viewer] {
        refused(
            "define a custom field",
            app.post(
                "/v1/custom-fields",
                token,
                json!({"key": "tier", "object_type": "person", "label": "Tier", "type": "text"}),
            )
            .await,
            "custom_fields.manage",
        );
        let (s, _, body) = app
            .call("DELETE", "/v1/custom-fields/person/tier", Some(token), None)
            .await;
        refused("delete a custom field", (s, body), "custom_fields.manage");
        let (s, _, body) = app
            .call(
                "PATCH",
                "/v1/contact-settings",
                Some(token),
                Some(br#"{"default_phone_region": "DE"}"#.to_vec()),
            )
            .await;
        refused("change the phone region", (s, body), "settings.manage");
        refused(
            "erase a person",
            app.post(
                &format!("/v1/contacts/{ada}:erase"),
                token,
                json!({"reason": "asked"}),
            )
            .await,
            "personal_data.erase",
        );
        refused(
            "export a person's data",
            app.get(&format!("/v1/contacts/{ada}:personal-data"), token)
                .await,
            "personal_data.export",
        );
    }
    // Bulk changes: managers and admins.
    for token in [&rep, &viewer] {
        refused(
            "merge",
            app.post(
                "/v1/contacts:merge",
                token,
                json!({"survivor_id": ada, "merged_ids": [bea]}),
            )
            .await,
            "contacts.merge",
        );
        refused(
            "hand over",
            app.post(
                "/v1/contacts:reassign-owner",
                token,
                json!({"from_owner": "ravi", "new_owner": "mallory"}),
            )
            .await,
            "contacts.reassign",
        );
        refused(
            "export",
            app.post("/v1/exports", token, json!({"object_type": "person"}))
                .await,
            "contacts.export",
        );
        refused(
            "import",
            app.post("/v1/imports", token, json!({})).await,
            "contacts.import",
        );
    }
    // A partner system imports, but a file with an owner column is a
    // bulk hand-over.
    let system = app.token_with_roles("acme", "crm-sync", &["system"]);
    refused(
        "import with an owner column",
        app.post(
            "/v1/imports",
            &system,
            json!({"column_mapping": {"Name": "given_name", "Owner": "owner"}}),
        )
        .await,
        "contacts.reassign",
    );
    let (s, job) = app
        .post(
            "/v1/imports",
            &system,
            json!({"column_mapping": {"Name": "given_name"}}),
        )
        .await;
    assert_eq!(s, 201, "a system imports: {job}");

    // Read-only reads and writes nothing.
    refused(
        "create a person",
        app.post("/v1/contacts", &viewer, json!({"given_name": "Cy"}))
            .await,
        "contacts.write",
    );
    refused(
        "log an interaction",
        app.post(
            &format!("/v1/contacts/{ada}/interactions"),
            &viewer,
            json!({"channel": "note", "direction": "internal", "occurred_at": "2026-11-01T08:00:00Z"}),
        )
        .await,
        "interactions.write",
    );
    refused(
        "create a deal",
        app.post(
            "/v1/deals",
            &viewer,
            json!({"title": "Seats", "contact_id": ada}),
        )
        .await,
        "deals.write",
    );
    refused(
        "create a task",
        app.post(
            "/v1/tasks",
            &viewer,
            json!({"title": "Call back", "contact_id": ada}),
        )
        .await,
        "tasks.write",
    );
    let (s, person) = app.get(&format!("/v1/contacts/{ada}"), &viewer).await;
    assert_eq!(s, 200, "{person}");

    // Nothing refused changed anything: both people exist, still Ravi's,
    // and the region is the default.
    for id in [&ada, &bea] {
        let (s, person) = app.get(&format!("/v1/contacts/{id}"), &admin).await;
        assert_eq!(s, 200, "{person}");
        assert_eq!(person["owner"], "ravi", "{person}");
    }
    let (_, fields) = app.get("/v1/custom-fields", &admin).await;
    assert_eq!(fields["fields"], json!([]), "{fields}");

    // What each role is granted works.
    let (s, merged) = app
        .post(
            "/v1/contacts:merge",
            &manager,
            json!({"survivor_id": ada, "merged_ids": [bea]}),
        )
        .await;
    assert_eq!(s, 200, "a manager merges: {merged}");
    let (s, field) = app
        .post(
            "/v1/custom-fields",
            &admin,
            json!({"key": "tier", "object_type": "person", "label": "Tier", "type": "text"}),
        )
        .await;
    assert_eq!(s, 201, "an admin defines fields: {field}");
    let (s, erased) = app
        .post(
            &format!("/v1/contacts/{ada}:erase"),
            &admin,
            json!({"reason": "asked"}),
        )
        .await;
    assert_eq!(s, 200, "an admin erases: {erased}");
}

#[tokio::test]
async fn a_burst_over_the_tenants_rate_is_answered_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(
        dir.path(),
        &[
            ("RAPPORT_GATEWAY__RATE_LIMITS__BULK__PER_SECOND", "0.05"),
            ("RAPPORT_GATEWAY__RATE_LIMITS__BULK__BURST", "2"),
        ],
    );
    let admin = app.token("acme", "alice");
    let export = || app.post("/v1/exports", &admin, json!({"object_type": "person"}));
    for _ in 0..2 {
        let (s, _) = export().await;
        assert_eq!(s, 200);
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/exports", app.http))
        .bearer_auth(&admin)
        .json(&json!({"object_type": "person"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "retry after {retry} s");
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["reason"], "RATE_LIMITED", "{body}");
    assert_eq!(body["route_class"], "bulk", "{body}");
    // Reads of the tenant and bulk work of another tenant go on.
    let (s, _) = app.post("/v1/contacts:search", &admin, json!({})).await;
    assert_eq!(s, 200);
    let (s, _) = app
        .post(
            "/v1/exports",
            &app.token("globex", "gina"),
            json!({"object_type": "person"}),
        )
        .await;
    assert_eq!(s, 200);
}

/// A tenant may run only its quota of imports at once: one more upload is
/// answered 429 with Retry-After while the others run, even one whose file
/// trickles in for longer than the abandonment period, and goes through once
/// one has finished; another tenant is not held up.
#[tokio::test]
async fn imports_beyond_the_tenants_quota_wait_their_turn() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(
        dir.path(),
        &[
            ("RAPPORT_CONTACTS__MAX_RUNNING_IMPORTS_PER_TENANT", "1"),
            ("RAPPORT_CONTACTS__ABANDONED_IMPORT_AFTER_SECS", "2"),
        ],
    );
    let admin = app.token("acme", "alice");
    let client = reqwest::Client::new();
    let new_import = |token: String| {
        let app = &app;
        async move {
            let (status, import) = app.post("/v1/imports", &token, json!({})).await;
            assert_eq!(status, 201, "{import}");
            import["id"].as_str().unwrap().to_owned()
        }
    };
    let upload = |id: &str, token: &str, body: reqwest::Body| {
        client
            .put(format!("{}/v1/imports/{id}/data", app.http))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };

    // The first upload stays open: its import runs until the file ends.
    let first = new_import(admin.clone()).await;
    let (feed, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    feed.send(Ok(b"given_name,family_name\nAda,Lovelace\n".to_vec()))
        .await
        .unwrap();
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let running = tokio::spawn(upload(&first, &admin, body));
    crate::harness::eventually(
        "the first import to run",
        std::time::Duration::from_secs(30),
        || async {
            let (_, import) = app.get(&format!("/v1/imports/{first}"), &admin).await;
            (import["state"] == "running").then_some(())
        },
    )
    .await;

    // The file trickles: no batch completes, yet past the abandonment
    // period the running import is still alive and still counts.
    crate::harness::eventually(
        "the running import to say it is alive past the abandonment period",
        std::time::Duration::from_secs(30),
        || async {
            let (_, import) = app.get(&format!("/v1/imports/{first}"), &admin).await;
            let at = |f: &str| {
                chrono::DateTime::parse_from_rfc3339(import[f].as_str().unwrap_or_default()).ok()
            };
            let (created, alive) = (at("create_time")?, at("update_time")?);
            (alive - created > chrono::Duration::seconds(2)).then_some(())
        },
    )
    .await;

    let second = new_import(admin.clone()).await;
    let refused = upload(&second, &admin, b"given_name\nGrace\n".to_vec().into())
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["reason"], "IMPORT_QUOTA_EXCEEDED", "{problem}");
    // Still pending: it can be uploaded again later.
    let (_, import) = app.get(&format!("/v1/imports/{second}"), &admin).await;
    assert_eq!(import["state"], "pending", "{import}");

    // Another tenant has its own quota.
    let other = app.token("globex", "gina");
    let theirs = new_import(other.clone()).await;
    let done = upload(&theirs, &other, b"given_name\nGina\n".to_vec().into())
        .await
        .unwrap();
    assert_eq!(done.status(), 200);

    // The first file ends; now the second runs.
    drop(feed);
    let finished = running.await.unwrap().unwrap();
    assert_eq!(finished.status(), 200);
    let job: Value = finished.json().await.unwrap();
    assert_eq!(job["rows_created"], 1, "{job}");
    let done = upload(&second, &admin, b"given_name\nGrace\n".to_vec().into())
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
}

/// A PATCH or DELETE of a role with an optional `If-Match`.
async fn change_role(
    app: &Monolith,
    token: &str,
    method: reqwest::Method,
    name: &str,
    if_match: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}/v1/roles/{name}", app.http))
        .bearer_auth(token);
    if let Some(etag) = if_match {
        req = req.header("if-match", etag);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn custom_roles_grant_exactly_their_permissions_and_changes_apply_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let admin = app.token("acme", "alice");
    // A deal desk prices deals and reads the sales team's people.
    let (s, desk) = app
        .post(
            "/v1/roles",
            &admin,
            json!({"name": "deal-desk", "description": "prices deals",
                   "permissions": ["deals.read", "deals.write", "contacts.read", "records.view_team"]}),
        )
        .await;
    assert_eq!(s, 201, "{desk}");
    assert_eq!(
        desk["permissions"],
        json!([
            "contacts.read",
            "deals.read",
            "deals.write",
            "records.view_team"
        ])
    );
    let dana = app.token_in_teams("acme", "dana", &["deal-desk"], &["sales"]);
    let sales = app
        .post(
            "/v1/contacts",
            &admin,
            json!({"given_name": "Sol", "team": "sales", "owner": "ravi"}),
        )
        .await
        .1;
    let support = app
        .post(
            "/v1/contacts",
            &admin,
            json!({"given_name": "Sue", "team": "support", "owner": "sam"}),
        )
        .await
        .1;
    let contact = |c: &Value| format!("/v1/contacts/{}", c["id"].as_str().unwrap());

    // What the role grants, and nothing more.
    let (s, deal) = app
        .post(
            "/v1/deals",
            &dana,
            json!({"title": "Fleet", "contact_id": sales["id"]}),
        )
        .await;
    assert_eq!(s, 201, "{deal}");
    let deal_url = format!("/v1/deals/{}", deal["id"].as_str().unwrap());
    assert_eq!(app.get(&contact(&sales), &dana).await.0, 200, "team reach");
    assert_eq!(
        app.get(&contact(&support), &dana).await.0,
        404,
        "other team"
    );
    refused(
        "create a person",
        app.post("/v1/contacts", &dana, json!({"given_name": "Cy"}))
            .await,
        "contacts.write",
    );
    refused(
        "log a call",
        app.post(
            &format!("{}/interactions", contact(&sales)),
            &dana,
            json!({"channel": "note", "direction": "internal", "occurred_at": "2026-11-01T08:00:00Z"}),
        )
        .await,
        "interactions.write",
    );
    refused(
        "define roles",
        app.post(
            "/v1/roles",
            &dana,
            json!({"name": "root", "permissions": ["roles.manage"]}),
        )
        .await,
        "roles.manage",
    );
    // A role the tenant never defined grants nothing, nor does another
    // tenant's role of the same name.
    let ghost = app.token_in_teams("acme", "gus", &["ghost"], &["sales"]);
    refused(
        "an undefined role",
        app.get(&contact(&sales), &ghost).await,
        "contacts.read",
    );
    let elsewhere = app.token_in_teams("globex", "dana", &["deal-desk"], &[]);
    refused(
        "another tenant's role",
        app.post("/v1/deals", &elsewhere, json!({"title": "Fleet"}))
            .await,
        "deals.write",
    );

    // A change applies on the next request; a stale etag changes nothing.
    let (s, body) = change_role(
        &app,
        &admin,
        reqwest::Method::PATCH,
        "deal-desk",
        Some("\"7\""),
        Some(json!({"permissions": ["deals.read"]})),
    )
    .await;
    assert_eq!(
        (s, body["reason"].as_str()),
        (409, Some("ETAG_MISMATCH")),
        "{body}"
    );
    let (s, body) = change_role(
        &app,
        &admin,
        reqwest::Method::PATCH,
        "deal-desk",
        Some(desk["etag"].as_str().unwrap()),
        Some(json!({"permissions": ["deals.read"]})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["etag"], "\"2\"");
    refused(
        "write a deal after the change",
        app.post("/v1/deals", &dana, json!({"title": "Vans"})).await,
        "deals.write",
    );
    assert_eq!(app.get(&deal_url, &dana).await.0, 200, "still reads deals");
    // Deleting it takes everything away.
    let (s, body) = change_role(
        &app,
        &admin,
        reqwest::Method::DELETE,
        "deal-desk",
        None,
        None,
    )
    .await;
    assert_eq!(s, 204, "{body}");
    refused(
        "read a deal after the delete",
        app.get(&deal_url, &dana).await,
        "deals.read",
    );

    // Bad definitions are refused, naming the field.
    for (body, field) in [
        (json!({"name": "admin", "permissions": []}), "name"),
        (json!({"name": "Desk!", "permissions": []}), "name"),
        (
            json!({"name": "desk", "permissions": ["deals.fly"]}),
            "permissions[0]",
        ),
    ] {
        let (s, problem) = app.post("/v1/roles", &admin, body.clone()).await;
        assert_eq!(s, 400, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let role = json!({"name": "auditor", "permissions": ["audit.read", "records.read"]});
    assert_eq!(app.post("/v1/roles", &admin, role.clone()).await.0, 201);
    let (s, problem) = app.post("/v1/roles", &admin, role).await;
    assert_eq!((s, problem["reason"].as_str()), (409, Some("ROLE_EXISTS")));
    // The list shows the built-in roles with what they grant, then ours.
    let (s, list) = app.get("/v1/roles", &admin).await;
    assert_eq!(s, 200, "{list}");
    let names: Vec<&str> = list["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["admin", "manager", "rep", "read-only", "system", "auditor"]
    );
    assert!(list["permissions"].as_array().unwrap().len() >= 29);
}
