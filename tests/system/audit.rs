//! The audit trail: every mutating endpoint of the OpenAPI document leaves
//! an entry naming who, from where, which record and which fields changed
//! from what to what; a change that rolls back leaves none; an erased
//! person's history keeps field names but loses the values; exports and
//! data-protection documents are audited reads; entries reach the
//! partners' SIEM on `rapport.audit.v1`; and a tenant sees only its own.

use std::{collections::BTreeMap, time::Duration};

use prost::Message;
use rapport_proto::events::v1::{AuditEntry, EventEnvelope};
use rdkafka::{
    ClientConfig, Message as _,
    consumer::{Consumer, StreamConsumer},
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Monolith, eventually};

const DEADLINE: Duration = Duration::from_secs(60);
const USER_AGENT: &str = "audit-test/1.0";
const FORWARDED_FOR: &str = "198.51.100.7";

/// POSTs that change no record: searches (which must leave no entry).
const READS_BY_POST: &[&str] = &["searchContacts", "searchCompanies"];

/// Changes to browser sessions: only a sign-in through the test identity
/// provider makes one, so `oidc::sessions_end_on_the_server_by_sign_out_by_their_owner_and_by_an_admin`
/// checks their entries (who ended which session).
const AUDITED_IN_THE_OIDC_TESTS: &[&str] = &["signOut", "deleteUserSession", "revokeUserSessions"];

/// Every POST, PUT, PATCH and DELETE operation of `docs/openapi.yaml`, read
/// from the document itself so a new endpoint cannot be forgotten here.
fn mutating_operations() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.yaml"
    ))
    .unwrap();
    let mut in_paths = false;
    let mut method = String::new();
    let mut out = Vec::new();
    for line in doc.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_paths = line == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(m) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
            && !m.starts_with(' ')
        {
            method = m.to_owned();
        }
        if let Some(id) = line.trim().strip_prefix("operationId: ")
            && matches!(method.as_str(), "post" | "put" | "patch" | "delete")
        {
            out.push(id.trim().to_owned());
        }
    }
    assert!(out.len() >= 20, "the OpenAPI document lists {out:?}");
    out
}

/// A client of one tenant's user, sending the origin headers an audit
/// entry records.
struct Client<'a> {
    app: &'a Monolith,
    token: String,
    http: reqwest::Client,
}

impl<'a> Client<'a> {
    fn new(app: &'a Monolith, tenant: &str, user: &str, roles: &[&str]) -> Self {
        Client {
            app,
            token: app.token_with_roles(tenant, user, roles),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        csv: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.app.http))
            .bearer_auth(&self.token)
            .header("user-agent", USER_AGENT)
            .header("x-forwarded-for", FORWARDED_FOR);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        if let Some(c) = csv {
            req = req.header("content-type", "text/csv").body(c.to_owned());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: Method, path: &str, body: Value) -> Value {
        let (status, answer) = self.send(method.clone(), path, Some(body), None).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    /// One page of the trail for `query` (`resource=...` or `actor=...`).
    async fn trail(&self, query: &str) -> (u16, Value) {
        self.send(Method::GET, &format!("/v1/audit?{query}"), None, None)
            .await
    }

    /// Every entry of the trail for `query`, newest first.
    async fn entries(&self, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let (status, page) = self
                .trail(&format!("{query}&page_size=100&page_token={token}"))
                .await;
            assert_eq!(status, 200, "{page}");
            out.extend(page["entries"].as_array().unwrap().iter().cloned());
            match page["next_page_token"].as_str() {
                Some(t) => token = t.to_owned(),
                None => return out,
            }
        }
    }

    /// Waits for the entry of `change` by `operation` on `resource`.
    async fn entry(&self, resource: &str, change: &str, operation: &str) -> Value {
        let query = format!("resource={resource}");
        eventually(
            &format!("the {change} entry of {resource} by {operation}"),
            DEADLINE,
            || async {
                self.entries(&query)
                    .await
                    .into_iter()
                    .find(|e| e["change"] == change && e["operation"] == operation)
            },
        )
        .await
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// The change of `field` in an entry.
fn field<'e>(entry: &'e Value, name: &str) -> &'e Value {
    entry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == name)
        .unwrap_or_else(|| panic!("no change of {name} in {entry}"))
}

/// What each mutating operation was expected to leave: (resource, change,
/// operation as recorded).
type Expected = BTreeMap<&'static str, (String, &'static str, String)>;

#[tokio::test]
async fn every_mutating_endpoint_leaves_an_entry_and_tenants_see_only_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let ada = Client::new(&app, "audited", "ada", &["admin"]);
    let mut expected = Expected::new();
    let mut expect = |op: &'static str, resource: String, change: &'static str, operation: &str| {
        expected.insert(op, (resource, change, operation.to_owned()));
    };

    // People and companies.
    let lovelace = ada
        .ok(
            Method::POST,
            "/v1/contacts",
            json!({"given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.com"}),
        )
        .await;
    let a = id(&lovelace);
    expect(
        "createContact",
        format!("contacts/{a}"),
        "created",
        "CreateContact",
    );
    ada.ok(
        Method::PATCH,
        &format!("/v1/contacts/{a}"),
        json!({"job_title": "Countess"}),
    )
    .await;
    expect(
        "updateContact",
        format!("contacts/{a}"),
        "updated",
        "UpdateContact",
    );
    let twin = ada
        .ok(
            Method::POST,
            "/v1/contacts",
            json!({"given_name": "Augusta", "family_name": "Lovelace", "phone": "+442079460958"}),
        )
        .await;
    let b = id(&twin);
    ada.ok(
        Method::POST,
        "/v1/contacts:merge",
        json!({"survivor_id": a, "merged_ids": [b]}),
    )
    .await;
    expect(
        "mergeContacts",
        format!("contacts/{b}"),
        "deleted",
        "MergeContacts",
    );
    ada.ok(
        Method::POST,
        "/v1/contacts:reassign-owner",
        json!({"ids": [a], "new_owner": "bob"}),
    )
    .await;
    expect(
        "reassignOwner",
        format!("contacts/{a}"),
        "updated",
        "ReassignOwner",
    );
    let babbage = ada
        .ok(
            Method::POST,
            "/v1/contacts",
            json!({"given_name": "Charles", "family_name": "Babbage", "email": "charles@example.com"}),
        )
        .await;
    let c = id(&babbage);
    let company = ada
        .ok(
            Method::POST,
            "/v1/companies",
            json!({"name": "Analytical Engines"}),
        )
        .await;
    let co = id(&company);
    expect(
        "createCompany",
        format!("companies/{co}"),
        "created",
        "CreateCompany",
    );
    ada.ok(
        Method::PATCH,
        &format!("/v1/companies/{co}"),
        json!({"website": "https://engines.example"}),
    )
    .await;
    expect(
        "updateCompany",
        format!("companies/{co}"),
        "updated",
        "UpdateCompany",
    );
    let rival = ada
        .ok(
            Method::POST,
            "/v1/companies",
            json!({"name": "Difference Engines"}),
        )
        .await;
    let co2 = id(&rival);
    ada.ok(
        Method::POST,
        "/v1/companies:merge",
        json!({"survivor_id": co, "merged_ids": [co2]}),
    )
    .await;
    expect(
        "mergeCompanies",
        format!("companies/{co2}"),
        "deleted",
        "MergeCompanies",
    );

    // Tenant configuration.
    ada.ok(
        Method::POST,
        "/v1/custom-fields",
        json!({"key": "tier", "object_type": "person", "label": "Tier", "type": "text"}),
    )
    .await;
    expect(
        "createCustomField",
        "customFields/person/tier".into(),
        "created",
        "CreateCustomField",
    );
    let (status, _) = ada
        .send(Method::DELETE, "/v1/custom-fields/person/tier", None, None)
        .await;
    assert_eq!(status, 204);
    expect(
        "deleteCustomField",
        "customFields/person/tier".into(),
        "deleted",
        "DeleteCustomField",
    );
    ada.ok(
        Method::PATCH,
        "/v1/contact-settings",
        json!({"default_phone_region": "IN"}),
    )
    .await;
    expect(
        "updateContactSettings",
        "contactSettings".into(),
        "updated",
        "UpdateContactSettings",
    );

    // Imports: the import itself, and each record it creates.
    let import = ada.ok(Method::POST, "/v1/imports", json!({})).await;
    let im = id(&import);
    expect(
        "createImport",
        format!("imports/{im}"),
        "created",
        "CreateImport",
    );
    let (status, done) = ada
        .send(
            Method::PUT,
            &format!("/v1/imports/{im}/data"),
            None,
            Some("given_name,family_name,email\nMary,Somerville,mary@example.com\n"),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["rows_created"], 1, "{done}");
    let imported = eventually("the imported record's entry", DEADLINE, || async {
        ada.entries("actor=ada").await.into_iter().find(|e| {
            e["operation"] == "UploadImportData"
                && e["change"] == "created"
                && e["changes"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|f| f["new_value"] == "mary@example.com"))
        })
    })
    .await;
    let resource = imported["resource"].as_str().unwrap();
    assert!(resource.starts_with("contacts/"), "{imported}");
    expect(
        "uploadImportData",
        resource.to_owned(),
        "created",
        "UploadImportData",
    );

    // Other services' records.
    let call = ada
        .ok(
            Method::POST,
            &format!("/v1/contacts/{a}/interactions"),
            json!({"channel": "call", "direction": "inbound", "occurred_at": "2026-11-30T10:00:00Z", "summary": "Asked about the engine"}),
        )
        .await;
    expect(
        "logInteraction",
        format!("interactions/{}", id(&call)),
        "created",
        "LogInteraction",
    );
    let deal = ada
        .ok(
            Method::POST,
            "/v1/deals",
            json!({"title": "Engine No. 2", "contact_id": a, "amount": {"amount": "1200.50", "currency": "GBP"}}),
        )
        .await;
    expect(
        "createDeal",
        format!("deals/{}", id(&deal)),
        "created",
        "CreateDeal",
    );
    let task = ada
        .ok(
            Method::POST,
            "/v1/tasks",
            json!({"title": "Send the plans", "contact_id": a, "assignee": "ada"}),
        )
        .await;
    expect(
        "createTask",
        format!("tasks/{}", id(&task)),
        "created",
        "CreateTask",
    );
    let pipeline = ada
        .ok(
            Method::POST,
            "/v1/pipelines",
            json!({"name": "Renewals", "stages": [{"name": "Due", "probability": 0.5}, {"name": "Signed", "probability": 0.9}]}),
        )
        .await;
    let p = id(&pipeline);
    expect(
        "createPipeline",
        format!("pipelines/{p}"),
        "created",
        "CreatePipeline",
    );
    ada.ok(
        Method::PATCH,
        &format!("/v1/pipelines/{p}"),
        json!({"name": "Renewals", "stages": [{"id": "due", "name": "Due soon", "probability": 0.5}], "stage_moves": {"signed": "due"}}),
    )
    .await;
    expect(
        "updatePipeline",
        format!("pipelines/{p}"),
        "updated",
        "UpdatePipeline",
    );

    // API keys, changed in the gateway itself.
    let key = ada
        .ok(
            Method::POST,
            "/v1/api-keys",
            json!({"display_name": "SIEM", "scopes": ["records.read"]}),
        )
        .await;
    let k = id(&key);
    expect(
        "createApiKey",
        format!("apiKeys/{k}"),
        "created",
        "POST /v1/api-keys",
    );
    ada.ok(Method::POST, &format!("/v1/api-keys/{k}:revoke"), json!({}))
        .await;
    expect(
        "revokeApiKey",
        format!("apiKeys/{k}"),
        "updated",
        "POST /v1/api-keys/{id}",
    );

    // Custom roles, changed in the gateway too.
    ada.ok(
        Method::POST,
        "/v1/roles",
        json!({"name": "deal-desk", "permissions": ["deals.read"]}),
    )
    .await;
    expect(
        "createRole",
        "roles/deal-desk".into(),
        "created",
        "POST /v1/roles",
    );
    ada.ok(
        Method::PATCH,
        "/v1/roles/deal-desk",
        json!({"permissions": ["deals.read", "deals.write"]}),
    )
    .await;
    expect(
        "updateRole",
        "roles/deal-desk".into(),
        "updated",
        "PATCH /v1/roles/{name}",
    );
    let (status, _) = ada
        .send(Method::DELETE, "/v1/roles/deal-desk", None, None)
        .await;
    assert_eq!(status, 204);
    expect(
        "deleteRole",
        "roles/deal-desk".into(),
        "deleted",
        "DELETE /v1/roles/{name}",
    );

    // Audited reads: a CSV export and a data-protection document.
    let (status, _) = ada
        .send(
            Method::POST,
            "/v1/exports",
            Some(json!({"object_type": "person"})),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let export = eventually("the export's entry", DEADLINE, || async {
        ada.entries("actor=ada")
            .await
            .into_iter()
            .find(|e| e["operation"] == "ExportContacts")
    })
    .await;
    let resource = export["resource"].as_str().unwrap();
    assert!(resource.starts_with("exports/"), "{export}");
    assert!(
        export["note"].as_str().unwrap().contains("person"),
        "{export}"
    );
    expect(
        "exportContacts",
        resource.to_owned(),
        "read",
        "ExportContacts",
    );
    let (status, doc) = ada
        .send(
            Method::GET,
            &format!("/v1/contacts/{c}:personal-data"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{doc}");

    // A call with the person about to be erased: its summary is theirs too.
    let their_call = ada
        .ok(
            Method::POST,
            &format!("/v1/contacts/{c}/interactions"),
            json!({"channel": "call", "direction": "outbound", "occurred_at": "2026-11-30T11:00:00Z", "summary": "Charles asked about the difference engine"}),
        )
        .await;
    let their_call = format!("interactions/{}", id(&their_call));
    ada.entry(&their_call, "created", "LogInteraction").await;

    // A duplicate merged into the person, and a deal and a task for them:
    // their entries hold the person's data too.
    let duplicate = ada
        .ok(
            Method::POST,
            "/v1/contacts",
            json!({"given_name": "Chas", "family_name": "Babbage", "email": "chas.babbage@example.com"}),
        )
        .await;
    let duplicate = format!("contacts/{}", id(&duplicate));
    ada.ok(
        Method::POST,
        "/v1/contacts:merge",
        json!({"survivor_id": c, "merged_ids": [duplicate.trim_start_matches("contacts/")]}),
    )
    .await;
    let their_deal = ada
        .ok(
            Method::POST,
            "/v1/deals",
            json!({"title": "Babbage's difference engine", "contact_id": c}),
        )
        .await;
    let their_deal = format!("deals/{}", id(&their_deal));
    let their_task = ada
        .ok(
            Method::POST,
            "/v1/tasks",
            json!({"title": "Call Charles Babbage back", "contact_id": c}),
        )
        .await;
    let their_task = format!("tasks/{}", id(&their_task));
    for (resource, operation) in [
        (&duplicate, "MergeContacts"),
        (&their_deal, "CreateDeal"),
        (&their_task, "CreateTask"),
    ] {
        let change = if operation == "MergeContacts" {
            "deleted"
        } else {
            "created"
        };
        ada.entry(resource, change, operation).await;
    }

    // Erasure: last, so it masks what came before.
    ada.ok(
        Method::POST,
        &format!("/v1/contacts/{c}:erase"),
        json!({"reason": "request 7"}),
    )
    .await;
    expect(
        "erasePerson",
        format!("contacts/{c}"),
        "erased",
        "ErasePerson",
    );

    // Searches read.
    for (path, body) in [
        ("/v1/contacts:search", json!({})),
        ("/v1/companies:search", json!({})),
    ] {
        ada.ok(Method::POST, path, body).await;
    }

    // Every mutating operation of the document was exercised above.
    let missing: Vec<String> = mutating_operations()
        .into_iter()
        .filter(|op| {
            !expected.contains_key(op.as_str())
                && !READS_BY_POST.contains(&op.as_str())
                && !AUDITED_IN_THE_OIDC_TESTS.contains(&op.as_str())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "mutating endpoints without an audit case: {missing:?}"
    );

    for (op, (resource, change, operation)) in &expected {
        let entry = ada.entry(resource, change, operation).await;
        assert_eq!(entry["actor"], "ada", "{op}: {entry}");
        assert_eq!(entry["roles"], json!(["admin"]), "{op}: {entry}");
        assert_eq!(entry["user_agent"], USER_AGENT, "{op}: {entry}");
        assert_eq!(entry["forwarded_for"], FORWARDED_FOR, "{op}: {entry}");
        assert_eq!(entry["client_ip"], "127.0.0.1", "{op}: {entry}");
        assert!(!entry["id"].as_str().unwrap().is_empty());
        assert!(entry["time"].as_str().unwrap().ends_with('Z'), "{entry}");
    }

    // Which fields, from what to what.
    let updated = ada
        .entry(&format!("contacts/{a}"), "updated", "UpdateContact")
        .await;
    let job = field(&updated, "job_title");
    assert_eq!(
        (job.get("old_value"), &job["new_value"]),
        (None, &json!("Countess"))
    );
    assert_eq!(updated["changes"].as_array().unwrap().len(), 1, "{updated}");
    let moved = ada
        .entry(&format!("contacts/{a}"), "updated", "ReassignOwner")
        .await;
    assert_eq!(field(&moved, "owner")["old_value"], "ada");
    assert_eq!(field(&moved, "owner")["new_value"], "bob");
    let merged = ada
        .entry(&format!("contacts/{b}"), "deleted", "MergeContacts")
        .await;
    assert_eq!(merged["note"], format!("merged into contacts/{a}"));
    let survivor = ada
        .entry(&format!("contacts/{a}"), "updated", "MergeContacts")
        .await;
    assert_eq!(field(&survivor, "phone")["new_value"], "+442079460958");
    let settings = ada
        .entry("contactSettings", "updated", "UpdateContactSettings")
        .await;
    assert_eq!(field(&settings, "default_phone_region")["new_value"], "IN");
    let deal_entry = ada
        .entry(&format!("deals/{}", id(&deal)), "created", "CreateDeal")
        .await;
    assert_eq!(field(&deal_entry, "amount.units")["new_value"], 1200);
    // The key's secret is never in the trail.
    let key_entry = ada
        .entry(&format!("apiKeys/{k}"), "created", "POST /v1/api-keys")
        .await;
    assert!(!key_entry.to_string().contains("rk_"), "{key_entry}");
    assert_eq!(
        field(&key_entry, "scopes")["new_value"],
        json!(["records.read"])
    );

    ada.entry(&format!("contacts/{c}"), "read", "ExportPersonalData")
        .await;

    // The erased person's history names fields, never values.
    let history = ada.entries(&format!("resource=contacts/{c}")).await;
    assert!(history.len() >= 3, "{history:?}");
    for e in &history {
        for change in e["changes"].as_array().unwrap() {
            assert_eq!(change["masked"], true, "{e}");
            assert!(
                change.get("old_value").is_none() && change.get("new_value").is_none(),
                "{e}"
            );
        }
    }
    assert!(
        !Value::Array(history)
            .to_string()
            .contains("charles@example.com")
    );
    // The merged duplicate's history, the deal's and the task's entries are
    // masked with the person's.
    for (resource, secret) in [
        (&duplicate, "chas.babbage@example.com"),
        (&their_deal, "difference engine"),
        (&their_task, "Call Charles"),
    ] {
        let masked = eventually("the linked history to be masked", DEADLINE, || async {
            let history = ada.entries(&format!("resource={resource}")).await;
            (!history.is_empty() && !Value::Array(history.clone()).to_string().contains(secret))
                .then_some(history)
        })
        .await;
        assert!(
            masked.iter().all(|e| e["changes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["masked"] == true)),
            "{resource}: {masked:?}"
        );
    }
    // Comms erases the person's calls and masks their entries too.
    let erased_call = eventually("comms to erase the call", DEADLINE, || async {
        ada.entries(&format!("resource={their_call}"))
            .await
            .into_iter()
            .find(|e| e["change"] == "erased")
    })
    .await;
    assert_eq!(erased_call["actor"], "system:rapport", "{erased_call}");
    let call_history = ada.entries(&format!("resource={their_call}")).await;
    assert!(
        !Value::Array(call_history)
            .to_string()
            .contains("difference engine"),
        "the erased person's call summary is still in the trail"
    );

    // Searches leave nothing.
    let all = ada.entries("actor=ada").await;
    assert!(
        !all.iter().any(|e| matches!(
            e["operation"].as_str(),
            Some("SearchContacts" | "SearchCompanies")
        )),
        "a search was audited as a change"
    );

    // Another tenant's admin sees none of it; a rep may not read the trail;
    // a query names exactly one record or user.
    let other = Client::new(&app, "elsewhere", "eve", &["admin"]);
    assert_eq!(
        other.entries(&format!("resource=contacts/{a}")).await,
        Vec::<Value>::new()
    );
    assert_eq!(other.entries("actor=ada").await, Vec::<Value>::new());
    let rep = Client::new(&app, "audited", "ron", &["rep"]);
    assert_eq!(rep.trail(&format!("resource=contacts/{a}")).await.0, 403);
    assert_eq!(ada.trail("").await.0, 400);
    assert_eq!(
        ada.trail(&format!("resource=contacts/{a}&actor=ada"))
            .await
            .0,
        400
    );
    assert_eq!(ada.trail("actor=ada&page_token=garbage").await.0, 400);

    // The partners' SIEM reads the same entries from Kafka.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &app.kafka)
        .set("group.id", format!("siem-{}", uuid::Uuid::now_v7()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["rapport.audit.v1"]).unwrap();
    let wanted = format!("audited/contacts/{a}");
    let published = tokio::time::timeout(DEADLINE, async {
        loop {
            let m = consumer.recv().await.expect("kafka receive");
            if m.key() == Some(wanted.as_bytes()) {
                return m.detach();
            }
        }
    })
    .await
    .expect("an entry of the contact on rapport.audit.v1");
    let envelope = EventEnvelope::decode(published.payload().unwrap()).unwrap();
    assert_eq!(envelope.event_type, "rapport.events.v1.AuditEntry");
    assert_eq!(envelope.tenant_id, "audited");
    let entry = AuditEntry::decode(envelope.payload.unwrap().value.as_slice()).unwrap();
    assert_eq!(entry.resource, format!("contacts/{a}"));
}

#[tokio::test]
async fn a_change_that_rolls_back_leaves_no_entry() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let ada = Client::new(&app, "audited", "ada", &["admin"]);
    ada.ok(
        Method::POST,
        "/v1/contacts",
        json!({"given_name": "Ada", "email": "ada@example.com"}),
    )
    .await;
    let grace = ada
        .ok(
            Method::POST,
            "/v1/contacts",
            json!({"given_name": "Grace", "email": "grace@example.com"}),
        )
        .await;
    let g = id(&grace);
    // Refused inside the store's transaction (the e-mail belongs to Ada):
    // the record, its event and its audit entry are rolled back together.
    let (status, refused) = ada
        .send(
            Method::PATCH,
            &format!("/v1/contacts/{g}"),
            Some(json!({"email": "ada@example.com"})),
            None,
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    // A later change of the same record: once its entry is indexed, any
    // earlier one would be too (one record's entries keep their order).
    ada.ok(
        Method::PATCH,
        &format!("/v1/contacts/{g}"),
        json!({"job_title": "Rear Admiral"}),
    )
    .await;
    ada.entry(&format!("contacts/{g}"), "updated", "UpdateContact")
        .await;
    let history = ada.entries(&format!("resource=contacts/{g}")).await;
    let changes: Vec<(&str, Vec<&str>)> = history
        .iter()
        .map(|e| {
            (
                e["change"].as_str().unwrap(),
                e["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["field"].as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(changes.len(), 2, "{history:?}");
    assert_eq!(changes[0], ("updated", vec!["job_title"]));
    assert_eq!(changes[1].0, "created");
}

/// An audit entry's envelope as someone other than Rapport might write it.
fn audit_envelope(source: &str, aggregate: &str, entry: &AuditEntry) -> Vec<u8> {
    EventEnvelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: "audited".into(),
        aggregate_type: "audit_entry".into(),
        aggregate_id: aggregate.into(),
        event_type: "rapport.events.v1.AuditEntry".into(),
        source: source.into(),
        principal: "mallory".into(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: chrono::Utc::now().timestamp(),
            nanos: 0,
        }),
        payload: Some(prost_types::Any::from_msg(entry).unwrap()),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Whoever can write to `rapport.audit.v1` cannot put words in the trail:
/// an entry without Rapport's signature is never indexed, and even a signed
/// one (a compromised service holds the key) is refused when it erases what
/// its service never erases or claims another record than it is keyed for.
#[tokio::test]
async fn forged_audit_entries_stay_out_of_the_trail() {
    use rapport_platform::{
        identity::PrincipalKey,
        kafka::{EventSigner, SIGNATURE_HEADER},
    };
    use rdkafka::{
        message::{Header, OwnedHeaders},
        producer::{FutureProducer, FutureRecord},
    };

    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let ada = Client::new(&app, "audited", "ada", &["admin"]);
    let victim = id(&ada
        .ok(
            Method::POST,
            "/v1/contacts",
            json!({"given_name": "Vic", "email": "vic@example.com"}),
        )
        .await);
    let other = id(&ada
        .ok(Method::POST, "/v1/contacts", json!({"given_name": "Otto"}))
        .await);
    let resource = format!("contacts/{victim}");
    ada.entry(&resource, "created", "CreateContact").await;

    let rapport =
        EventSigner::new(&PrincipalKey::load(&app.data_dir().join("principal.key")).unwrap());
    let planted = |change: &str, resource: &str, note: &str| AuditEntry {
        resource: resource.into(),
        change: change.into(),
        operation: "UpdateContact".into(),
        note: note.into(),
        ..AuditEntry::default()
    };
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &app.kafka)
        .create()
        .unwrap();
    let key = format!("audited/{resource}");
    // All on one key, so one partition: the control, last, is indexed only
    // after the forgeries were read.
    let records = [
        // Faithful, but not signed by Rapport.
        (
            audit_envelope(
                "/rapport/contacts",
                &resource,
                &planted("updated", &resource, "unsigned"),
            ),
            false,
        ),
        // Signed, but deals never erases people.
        (
            audit_envelope(
                "/rapport/deals",
                &resource,
                &planted("erased", &resource, "deals erasing"),
            ),
            true,
        ),
        // Signed, keyed for the victim, about another record.
        (
            audit_envelope(
                "/rapport/contacts",
                &resource,
                &planted("updated", &format!("contacts/{other}"), "misfiled"),
            ),
            true,
        ),
        // The control: what the contacts service itself writes.
        (
            audit_envelope(
                "/rapport/contacts",
                &resource,
                &planted("updated", &resource, "control"),
            ),
            true,
        ),
    ];
    for (value, sign) in &records {
        let mut record = FutureRecord::to("rapport.audit.v1")
            .key(&key)
            .payload(value);
        if *sign {
            let sig = rapport.sign("rapport.audit.v1", &key, value);
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
    let history = eventually("the control entry to be indexed", DEADLINE, || async {
        let history = ada.entries(&format!("resource={resource}")).await;
        history
            .iter()
            .any(|e| e["note"] == "control")
            .then_some(history)
    })
    .await;
    let notes: Vec<&str> = history.iter().filter_map(|e| e["note"].as_str()).collect();
    assert!(!notes.contains(&"unsigned"), "{history:?}");
    assert!(
        !history.iter().any(|e| e["change"] == "erased"),
        "{history:?}"
    );
    assert!(
        history
            .iter()
            .any(|e| e["changes"].to_string().contains("vic@example.com")),
        "the victim's history is not masked: {history:?}"
    );
    let theirs = ada.entries(&format!("resource=contacts/{other}")).await;
    assert!(
        !theirs.iter().any(|e| e["note"] == "misfiled"),
        "{theirs:?}"
    );
    assert!(
        ada.entries("actor=mallory")
            .await
            .iter()
            .all(|e| e["note"] == "control")
    );
}
