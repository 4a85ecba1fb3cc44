//! The contacts REST API end to end: people and companies, merge-patch
//! updates with etags, search in any script, phone lookup, custom fields,
//! merge and handover, CSV import and export, data-protection export and
//! erasure, and `rapport import contacts` (against the real binary).

use std::{collections::BTreeSet, process::Command};

use reqwest::{Method, header::HeaderMap};
use serde_json::{Value, json};

use crate::harness::Monolith;

/// An HTTP answer: status, headers and JSON body (`Null` if not JSON).
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The fields of a problem's `errors`.
    fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|f| f["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A REST client for one tenant's token.
struct Api<'a> {
    app: &'a Monolith,
    token: String,
    client: reqwest::Client,
}

impl<'a> Api<'a> {
    fn new(app: &'a Monolith, tenant: &str, user: &str) -> Self {
        Api {
            app,
            token: app.token(tenant, user),
            client: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.app.http))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, &[]).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    async fn patch(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> Answer {
        self.send(Method::PATCH, path, Some(body), headers).await
    }

    /// `PUT` of a CSV body.
    async fn put_csv(&self, path: &str, csv: Vec<u8>) -> Answer {
        let resp = self
            .client
            .put(format!("{}{path}", self.app.http))
            .bearer_auth(&self.token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    /// Creates a person; returns the contact.
    async fn create(&self, body: Value) -> Value {
        let a = self.post("/v1/contacts", body).await;
        assert_eq!(a.status, 201, "{}", a.text);
        a.body
    }

    /// The display names a search finds.
    async fn search_names(&self, body: Value) -> Vec<String> {
        let a = self.post("/v1/contacts:search", body).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["display_name"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// Imports `csv` with `options`; returns the final import.
    async fn import(&self, options: Value, csv: &[u8]) -> Value {
        let created = self.post("/v1/imports", options).await;
        assert_eq!(created.status, 201, "{}", created.text);
        assert_eq!(created.body["state"], "pending", "{}", created.text);
        let id = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(created.header("location"), format!("/v1/imports/{id}"));
        let done = self
            .put_csv(&format!("/v1/imports/{id}/data"), csv.to_vec())
            .await;
        assert_eq!(done.status, 200, "{}", done.text);
        assert_eq!(done.body["id"], id.as_str());
        done.body
    }

    async fn export_csv(&self, body: Value) -> String {
        let a = self.post("/v1/exports", body).await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert!(
            a.header("content-type").starts_with("text/csv"),
            "{:?}",
            a.headers
        );
        assert!(
            a.header("content-disposition").starts_with("attachment"),
            "{:?}",
            a.headers
        );
        a.text
    }
}

fn problem(a: &Answer, status: u16) {
    assert_eq!(a.status, status, "{}", a.text);
    assert_eq!(a.header("content-type"), "application/problem+json");
}

fn has_field(a: &Answer, field: &str) -> bool {
    a.fields()
        .iter()
        .any(|f| f == field || f.ends_with(&format!(".{field}")))
}

#[tokio::test]
async fn contacts_are_created_read_and_merge_patched_with_etags() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let api = Api::new(&app, "acme", "alice");

    let created = api
        .post(
            "/v1/contacts",
            json!({
                "given_name": "Ada",
                "family_name": "Lovelace",
                "email": "Ada@Example.com",
                "phone": "+44 20 7946 0001",
                "job_title": "Analyst",
                "tags": ["vip", "engines"],
                "lifecycle_stage": "lead",
                "source_channel": "referral",
                "birthday": "1985-12-10",
                "address": {"street": "12 St James's Square", "city": "London", "country_code": "GB"},
                "external_id": "crm-1"
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let c = &created.body;
    let id = c["id"].as_str().unwrap().to_owned();
    assert_eq!(created.header("location"), format!("/v1/contacts/{id}"));
    assert!(!created.header("etag").is_empty());
    assert_eq!(c["display_name"], "Ada Lovelace");
    assert_eq!(c["email"], "ada@example.com");
    assert_eq!(c["phone"], "+442079460001");
    assert_eq!(c["lifecycle_stage"], "lead");
    assert_eq!(c["address"]["city"], "London");
    assert_eq!(c["owner"], "alice");
    assert_eq!(c["company_name"], Value::Null, "empty strings are null");

    let got = api.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["tags"], json!(["vip", "engines"]));
    assert_eq!(got.body["birthday"], "1985-12-10");
    let etag1 = got.header("etag").to_owned();
    assert_eq!(etag1, created.header("etag"));

    // The same e-mail (in another spelling) is a duplicate, with the id of
    // the person who has it; allowed on request.
    let dup = api
        .post(
            "/v1/contacts",
            json!({"given_name": "Augusta", "email": " ADA@example.com "}),
        )
        .await;
    problem(&dup, 409);
    assert_eq!(dup.body["existing_id"], id.as_str(), "{}", dup.text);
    let dup = api
        .post(
            "/v1/contacts",
            json!({"given_name": "Augusta", "phone": "+44 (20) 7946-0001"}),
        )
        .await;
    problem(&dup, 409);
    assert_eq!(dup.body["existing_id"], id.as_str(), "{}", dup.text);
    let allowed = api
        .create(
            json!({"given_name": "Augusta", "email": "ada@example.com", "allow_duplicate": true}),
        )
        .await;
    assert_ne!(allowed["id"], id.as_str());

    // Merge patch: present keys change, `null` clears, nested keys patch
    // only themselves.
    let patched = api
        .patch(
            &format!("/v1/contacts/{id}"),
            json!({
                "job_title": null,
                "lifecycle_stage": "customer",
                "address": {"city": "Oxford"},
                "tags": ["vip"]
            }),
            &[("if-match", &etag1)],
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let p = &patched.body;
    assert_eq!(p["job_title"], Value::Null);
    assert_eq!(p["lifecycle_stage"], "customer");
    assert_eq!(p["address"]["city"], "Oxford");
    assert_eq!(p["address"]["street"], "12 St James's Square");
    assert_eq!(p["tags"], json!(["vip"]));
    assert_eq!(p["email"], "ada@example.com", "untouched fields stay");
    let etag2 = patched.header("etag").to_owned();
    assert_ne!(etag2, etag1);

    // A stale etag, as If-Match or in the body, is 409 and changes nothing.
    let stale = api
        .patch(
            &format!("/v1/contacts/{id}"),
            json!({"given_name": "Lost"}),
            &[("if-match", &etag1)],
        )
        .await;
    problem(&stale, 409);
    let stale = api
        .patch(
            &format!("/v1/contacts/{id}"),
            json!({"given_name": "Lost", "etag": c["etag"]}),
            &[],
        )
        .await;
    problem(&stale, 409);
    let now = api.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(now.body["given_name"], "Ada");
    assert_eq!(now.header("etag"), etag2);

    // The current etag in the body works.
    let ok = api
        .patch(
            &format!("/v1/contacts/{id}"),
            json!({"family_name": "King", "etag": now.body["etag"]}),
            &[],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["family_name"], "King");

    // Invalid input names the field and stores nothing.
    let bad = api
        .post(
            "/v1/contacts",
            json!({"given_name": "Bad", "email": "not-an-address"}),
        )
        .await;
    problem(&bad, 400);
    assert!(has_field(&bad, "email"), "{}", bad.text);
    let bad = api
        .post(
            "/v1/contacts",
            json!({"given_name": "Bad", "lifecycle_stage": "hot"}),
        )
        .await;
    problem(&bad, 400);
    assert_eq!(bad.fields(), ["lifecycle_stage"], "{}", bad.text);
    let bad = api
        .post(
            "/v1/contacts",
            json!({"given_name": "Bad", "nickname": "B"}),
        )
        .await;
    problem(&bad, 400);
    assert_eq!(bad.fields(), ["nickname"], "{}", bad.text);
    let bad = api
        .post(
            "/v1/contacts",
            json!({"given_name": "Bad", "birthday": "10/12/1815"}),
        )
        .await;
    problem(&bad, 400);
    assert!(has_field(&bad, "birthday"), "{}", bad.text);
    let bad = api
        .patch(
            &format!("/v1/contacts/{id}"),
            json!({"email": "broken@"}),
            &[],
        )
        .await;
    problem(&bad, 400);
    assert!(has_field(&bad, "email"), "{}", bad.text);
    let bad = api
        .patch(&format!("/v1/contacts/{id}"), json!({"id": "x"}), &[])
        .await;
    problem(&bad, 400);
    assert_eq!(bad.fields(), ["id"]);
    assert!(
        api.search_names(json!({"query": "bad"})).await.is_empty(),
        "a refused contact was stored"
    );
    assert_eq!(
        api.get(&format!("/v1/contacts/{id}")).await.body["email"],
        "ada@example.com"
    );

    // Unknown ids and actions.
    let missing = api
        .get("/v1/contacts/0193a5b2-6c1e-7d3f-8a90-1b2c3d4e5f60")
        .await;
    problem(&missing, 404);
    problem(
        &api.get(&format!("/v1/contacts/{id}:frobnicate")).await,
        404,
    );
}

#[tokio::test]
async fn search_lookup_and_tenant_isolation() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let api = Api::new(&app, "acme", "alice");
    let other = Api::new(&app, "globex", "mallory");

    // Phone numbers written without a country code are read with the
    // tenant's default region.
    let settings = api
        .patch(
            "/v1/contact-settings",
            json!({"default_phone_region": "GB"}),
            &[],
        )
        .await;
    assert_eq!(settings.status, 200, "{}", settings.text);
    assert_eq!(settings.body["default_phone_region"], "GB");
    assert_eq!(
        api.get("/v1/contact-settings").await.body["default_phone_region"],
        "GB"
    );

    let jose = api
        .create(json!({"given_name": "José", "family_name": "García", "phone": "+44 20 7946 0958", "tags": ["vip"]}))
        .await;
    api.create(json!({"given_name": "রবীন্দ্রনাথ", "family_name": "ঠাকুর", "email": "rabi@example.in"}))
        .await;
    api.create(json!({"given_name": "अमिताभ", "family_name": "बच्चन", "tags": ["vip"]}))
        .await;
    api.create(json!({"given_name": "Joseph", "family_name": "Conrad"}))
        .await;
    api.create(json!({"given_name": "Zoë", "family_name": "Ångström", "external_id": "erp-77"}))
        .await;

    let names = api.search_names(json!({"query": "jose"})).await;
    assert!(names.contains(&"José García".to_owned()), "{names:?}");
    assert!(names.contains(&"Joseph Conrad".to_owned()), "{names:?}");
    assert_eq!(
        api.search_names(json!({"query": "JOSÉ gar"})).await,
        ["José García"]
    );
    assert_eq!(
        api.search_names(json!({"query": "রবী"})).await,
        ["রবীন্দ্রনাথ ঠাকুর"]
    );
    assert_eq!(
        api.search_names(json!({"query": "अमि"})).await,
        ["अमिताभ बच्चन"]
    );
    assert_eq!(
        api.search_names(json!({"query": "angstrom"})).await,
        ["Zoë Ångström"]
    );
    // Filters inside `filter` or at the top level.
    let mut vip = api
        .search_names(json!({"filter": {"tag": "VIP"}, "order_by": "display_name"}))
        .await;
    vip.sort();
    assert_eq!(vip, ["José García", "अमिताभ बच्चन"]);
    assert_eq!(
        api.search_names(json!({"query": "jo", "tag": "vip"})).await,
        ["José García"]
    );
    let bad = api
        .post("/v1/contacts:search", json!({"filter": {"colour": "red"}}))
        .await;
    problem(&bad, 400);

    // Paging with a total.
    let mut seen = BTreeSet::new();
    let mut token = Value::Null;
    loop {
        let page = api
            .post(
                "/v1/contacts:search",
                json!({"page_size": 2, "page_token": token, "include_total_size": true}),
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.text);
        let contacts = page.body["contacts"].as_array().unwrap();
        assert!(contacts.len() <= 2);
        if let Some(total) = page.body["total_size"].as_i64() {
            assert_eq!(total, 5);
        }
        for c in contacts {
            assert!(seen.insert(c["id"].as_str().unwrap().to_owned()));
        }
        token = page.body["next_page_token"].clone();
        if token.is_null() || token == "" {
            break;
        }
    }
    assert_eq!(seen.len(), 5);

    // Lookup by phone in any format, by e-mail and by external id.
    for phone in [
        "+44 20 7946 0958",
        "020 7946 0958",
        "+442079460958",
        "0044 20 7946 0958",
    ] {
        let q: String = phone.replace('+', "%2B").replace(' ', "%20");
        let found = api.get(&format!("/v1/contacts:lookup?phone={q}")).await;
        assert_eq!(found.status, 200, "{phone}: {}", found.text);
        let ids: Vec<&str> = found.body["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [jose["id"].as_str().unwrap()], "{phone}");
    }
    let by_mail = api.get("/v1/contacts:lookup?email=RABI@example.in").await;
    assert_eq!(by_mail.body["contacts"].as_array().unwrap().len(), 1);
    let by_ext = api.get("/v1/contacts:lookup?external_id=erp-77").await;
    assert_eq!(by_ext.body["contacts"][0]["display_name"], "Zoë Ångström");
    problem(&api.get("/v1/contacts:lookup").await, 400);
    problem(
        &api.get("/v1/contacts:lookup?email=a@b.c&phone=1").await,
        400,
    );

    // Another tenant sees none of it.
    assert!(
        other
            .search_names(json!({"query": "jose"}))
            .await
            .is_empty()
    );
    assert!(other.search_names(json!({})).await.is_empty());
    let none = other
        .get("/v1/contacts:lookup?phone=%2B44%2020%207946%200958")
        .await;
    assert_eq!(none.status, 200, "{}", none.text);
    assert_eq!(none.body["contacts"], json!([]));
    problem(
        &other
            .get(&format!("/v1/contacts/{}", jose["id"].as_str().unwrap()))
            .await,
        404,
    );
    let cross = other
        .patch(
            &format!("/v1/contacts/{}", jose["id"].as_str().unwrap()),
            json!({"given_name": "Hijacked"}),
            &[],
        )
        .await;
    problem(&cross, 404);
    // Another tenant may hold the same e-mail.
    other
        .create(json!({"given_name": "Rabi", "email": "rabi@example.in"}))
        .await;
}

#[tokio::test]
async fn companies_custom_fields_duplicates_merge_and_handover() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let api = Api::new(&app, "acme", "alice");

    // Companies, a holding and its subsidiary.
    let holding = api
        .post(
            "/v1/companies",
            json!({"name": "Globex Holding", "types": ["customer", "partner"], "website": "https://globex.example"}),
        )
        .await;
    assert_eq!(holding.status, 201, "{}", holding.text);
    let holding_id = holding.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        holding.header("location"),
        format!("/v1/companies/{holding_id}")
    );
    assert_eq!(holding.body["types"], json!(["customer", "partner"]));
    let sub = api
        .post(
            "/v1/companies",
            json!({"name": "Globex Iberia", "parent_company_id": holding_id, "tags": ["eu"], "lifecycle_stage": "customer"}),
        )
        .await;
    assert_eq!(sub.status, 201, "{}", sub.text);
    let sub_id = sub.body["id"].as_str().unwrap().to_owned();
    let got = api.get(&format!("/v1/companies/{sub_id}")).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["parent_company_id"], holding_id.as_str());
    let list = api.get("/v1/companies?q=glo").await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["companies"].as_array().unwrap().len(), 2);
    let list = api
        .get("/v1/companies?tag=eu&lifecycle_stage=customer")
        .await;
    assert_eq!(list.body["companies"][0]["name"], "Globex Iberia");
    let searched = api
        .post("/v1/companies:search", json!({"query": "iberia"}))
        .await;
    assert_eq!(searched.body["companies"].as_array().unwrap().len(), 1);
    let patched = api
        .patch(
            &format!("/v1/companies/{sub_id}"),
            json!({"website": "https://globex.es"}),
            &[("if-match", got.header("etag"))],
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["website"], "https://globex.es");
    problem(&api.get("/v1/companies?colour=red").await, 400);

    // People linked to companies, found by the company.
    let ana = api
        .create(json!({
            "given_name": "Ana", "family_name": "Ruiz",
            "companies": [{"company_id": sub_id, "role": "decision_maker"}]
        }))
        .await;
    assert_eq!(ana["companies"][0]["role"], "decision_maker");
    assert_eq!(
        api.search_names(json!({"company_id": sub_id})).await,
        ["Ana Ruiz"]
    );

    // Custom fields: defined, validated, filtered on, deleted.
    let field = api
        .post(
            "/v1/custom-fields",
            json!({"key": "tier", "object_type": "person", "label": "Tier", "type": "single_choice", "choices": ["gold", "silver"]}),
        )
        .await;
    assert_eq!(field.status, 201, "{}", field.text);
    assert_eq!(field.body["type"], "single_choice");
    let seats = api
        .post(
            "/v1/custom-fields",
            json!({"key": "seats", "object_type": "person", "label": "Seats", "type": "number", "min": 1}),
        )
        .await;
    assert_eq!(seats.status, 201, "{}", seats.text);
    let fields = api.get("/v1/custom-fields?object_type=person").await;
    assert_eq!(fields.status, 200, "{}", fields.text);
    let keys: BTreeSet<&str> = fields.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, BTreeSet::from(["seats", "tier"]));
    assert_eq!(
        api.get("/v1/custom-fields?object_type=company").await.body["fields"],
        json!([])
    );
    let bad = api
        .post(
            "/v1/contacts",
            json!({"given_name": "Tia", "custom_fields": {"tier": "platinum"}}),
        )
        .await;
    problem(&bad, 400);
    assert!(has_field(&bad, "custom_fields.tier"), "{}", bad.text);
    let bad = api
        .post(
            "/v1/contacts",
            json!({"given_name": "Tia", "custom_fields": {"seats": 0}}),
        )
        .await;
    problem(&bad, 400);
    assert!(has_field(&bad, "custom_fields.seats"), "{}", bad.text);
    let bad = api
        .post(
            "/v1/contacts",
            json!({"given_name": "Tia", "custom_fields": {"shoe_size": 42}}),
        )
        .await;
    problem(&bad, 400);
    assert!(has_field(&bad, "custom_fields.shoe_size"), "{}", bad.text);
    assert!(api.search_names(json!({"query": "tia"})).await.is_empty());
    let tia = api
        .create(json!({"given_name": "Tia", "custom_fields": {"tier": "gold", "seats": 40}}))
        .await;
    assert_eq!(tia["custom_fields"], json!({"seats": 40, "tier": "gold"}));
    assert_eq!(
        api.search_names(json!({"custom_fields": {"tier": "gold"}}))
            .await,
        ["Tia"]
    );
    let tia_id = tia["id"].as_str().unwrap().to_owned();
    let cleared = api
        .patch(
            &format!("/v1/contacts/{tia_id}"),
            json!({"custom_fields": {"seats": null}}),
            &[],
        )
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(cleared.body["custom_fields"], json!({"tier": "gold"}));
    let deleted = api
        .send(Method::DELETE, "/v1/custom-fields/person/tier", None, &[])
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(
        api.get(&format!("/v1/contacts/{tia_id}")).await.body["custom_fields"],
        json!({})
    );
    problem(
        &api.send(Method::DELETE, "/v1/custom-fields/people/tier", None, &[])
            .await,
        400,
    );

    // Duplicates and merge: the survivor keeps its values and fills its
    // gaps; the others are gone.
    let a = api
        .create(
            json!({"given_name": "Grace", "family_name": "Hopper", "email": "grace@navy.example"}),
        )
        .await;
    let b = api
        .create(json!({"given_name": "Grace", "family_name": "Hopper", "phone": "+1 650 253 0000", "job_title": "Rear Admiral"}))
        .await;
    let groups = api.get("/v1/contacts:duplicates").await;
    assert_eq!(groups.status, 200, "{}", groups.text);
    let a_id = a["id"].as_str().unwrap();
    let b_id = b["id"].as_str().unwrap();
    assert!(
        groups.body["groups"].as_array().unwrap().iter().any(|g| {
            let ids = g["ids"].as_array().unwrap();
            ids.contains(&json!(a_id)) && ids.contains(&json!(b_id))
        }),
        "{}",
        groups.text
    );
    let merged = api
        .post(
            "/v1/contacts:merge",
            json!({"survivor_id": a_id, "merged_ids": [b_id], "survivor_etag": a["etag"]}),
        )
        .await;
    assert_eq!(merged.status, 200, "{}", merged.text);
    assert_eq!(merged.body["email"], "grace@navy.example");
    assert_eq!(merged.body["phone"], "+16502530000");
    assert_eq!(merged.body["job_title"], "Rear Admiral");
    problem(&api.get(&format!("/v1/contacts/{b_id}")).await, 404);
    let stale = api
        .post(
            "/v1/contacts:merge",
            json!({"survivor_id": a_id, "merged_ids": [tia_id], "survivor_etag": a["etag"]}),
        )
        .await;
    problem(&stale, 409);
    assert_eq!(api.get(&format!("/v1/contacts/{tia_id}")).await.status, 200);

    // Companies merge: people at the merged company move to the survivor.
    let cm = api
        .post(
            "/v1/companies:merge",
            json!({"survivor_id": holding_id, "merged_ids": [sub_id]}),
        )
        .await;
    assert_eq!(cm.status, 200, "{}", cm.text);
    problem(&api.get(&format!("/v1/companies/{sub_id}")).await, 404);
    let ana_now = api
        .get(&format!("/v1/contacts/{}", ana["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        ana_now.body["companies"][0]["company_id"],
        holding_id.as_str()
    );

    // Handover: everything alice owns goes to bob.
    let owned = api
        .post(
            "/v1/contacts:search",
            json!({"owner": "alice", "include_total_size": true}),
        )
        .await;
    let n = owned.body["contacts"].as_array().unwrap().len() as i64;
    assert_eq!(n, 3, "Ana, Tia and Grace: {}", owned.text);
    let moved = api
        .post(
            "/v1/contacts:reassign-owner",
            json!({"from_owner": "alice", "new_owner": "bob", "new_team": "emea"}),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    // People and the remaining company.
    assert_eq!(moved.body["reassigned_count"], n + 1, "{}", moved.text);
    assert!(api.search_names(json!({"owner": "alice"})).await.is_empty());
    let bobs = api
        .search_names(json!({"owner": "bob", "team": "emea"}))
        .await;
    assert_eq!(bobs.len() as i64, n);
    assert_eq!(
        api.get(&format!("/v1/companies/{holding_id}")).await.body["owner"],
        "bob"
    );
    let one = api
        .post(
            "/v1/contacts:reassign-owner",
            json!({"ids": [tia_id], "new_owner": "carol"}),
        )
        .await;
    assert_eq!(one.body["reassigned_count"], 1, "{}", one.text);
    let two = api
        .post(
            "/v1/contacts:reassign-owner",
            json!({"ids": [tia_id], "from_owner": "bob", "new_owner": "carol"}),
        )
        .await;
    problem(&two, 400);
}

/// A CSV with a BOM, CRLF line ends, `;` separators, quoted fields with a
/// `;` inside and with a line break (in a column no field is mapped to,
/// as names may not hold line breaks), and one bad row (row 3: an invalid
/// e-mail, counted across the two-line record before it).
const CSV: &str = "\u{feff}Vorname;Nachname;E-Mail;Telefon;Tags;Notiz\r\n\
Anna;Schmidt;anna@example.de;+49 30 1234567;vip;\r\n\
Bernd;\"Meier; Sohn\";bernd@example.de;;;\"Ruft zur\u{fc}ck;\r\nnach 18 Uhr\"\r\n\
Carla;Braun;carla-at-example;;;\r\n\
Dieter;Wolf;dieter@example.de;+49 89 1234567;;\r\n";

fn csv_options() -> Value {
    json!({
        "column_mapping": {
            "Vorname": "given_name",
            "Nachname": "family_name",
            "E-Mail": "email",
            "Telefon": "phone",
            "Tags": "tags"
        },
        "on_duplicate": "skip",
        "file_name": "kunden.csv"
    })
}

#[tokio::test]
async fn csv_import_is_idempotent_reports_bad_rows_and_round_trips_through_export() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let api = Api::new(&app, "acme", "alice");

    let bad = api
        .post("/v1/imports", json!({"on_duplicate": "merge"}))
        .await;
    problem(&bad, 400);
    assert_eq!(bad.fields(), ["on_duplicate"]);
    problem(
        &api.post("/v1/imports", json!({"delimiter": ";;"})).await,
        400,
    );

    let done = api.import(csv_options(), CSV.as_bytes()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["rows_processed"], 4, "{done}");
    assert_eq!(done["rows_created"], 3, "{done}");
    assert_eq!(done["rows_failed"], 1, "{done}");
    // Every byte is read; whether the BOM counts is the service's choice.
    let read = done["bytes_processed"].as_i64().unwrap();
    assert!(
        read == CSV.len() as i64 || read == CSV.len() as i64 - 3,
        "{done}"
    );
    let id = done["id"].as_str().unwrap();
    let progress = api.get(&format!("/v1/imports/{id}")).await;
    assert_eq!(progress.status, 200);
    assert_eq!(progress.body["rows_created"], 3);
    assert_eq!(progress.body["options"]["file_name"], "kunden.csv");
    let errors = api.get(&format!("/v1/imports/{id}/errors")).await;
    assert_eq!(errors.status, 200, "{}", errors.text);
    let errs = errors.body["errors"].as_array().unwrap();
    assert_eq!(errs.len(), 1, "{}", errors.text);
    assert_eq!(errs[0]["row"], 3);
    assert!(
        errs[0]["field"].as_str().unwrap_or("").contains("email"),
        "{}",
        errors.text
    );

    let bernd = api.get("/v1/contacts:lookup?email=bernd@example.de").await;
    let bernd = &bernd.body["contacts"][0];
    assert_eq!(bernd["display_name"], "Bernd Meier; Sohn");
    let dieter = api.get("/v1/contacts:lookup?email=dieter@example.de").await;
    assert_eq!(dieter.body["contacts"][0]["phone"], "+49891234567");
    let anna = api.get("/v1/contacts:lookup?email=anna@example.de").await;
    assert_eq!(anna.body["contacts"][0]["tags"], json!(["vip"]));
    assert!(api.search_names(json!({"query": "carla"})).await.is_empty());

    // The same file again creates nothing new.
    let again = api.import(csv_options(), CSV.as_bytes()).await;
    assert_eq!(again["state"], "succeeded", "{again}");
    assert_eq!(again["rows_created"], 0, "{again}");
    assert_eq!(again["rows_skipped"], 3, "{again}");
    assert_eq!(again["rows_failed"], 1, "{again}");
    let all = api
        .post("/v1/contacts:search", json!({"page_size": 100}))
        .await;
    assert_eq!(all.body["contacts"].as_array().unwrap().len(), 3);

    // A file far over the 64 KiB JSON limit streams through, with a
    // detected delimiter and header names as field names.
    let mut big = String::from("given_name,family_name,email\n");
    for i in 0..2000 {
        big.push_str(&format!("Person{i},Bulk,person{i}@bulk.example\n"));
    }
    assert!(big.len() > 64 * 1024);
    let bulk = api.import(json!({}), big.as_bytes()).await;
    assert_eq!(bulk["state"], "succeeded", "{bulk}");
    assert_eq!(bulk["rows_created"], 2000, "{bulk}");
    assert_eq!(bulk["bytes_processed"], big.len() as i64);

    // Export, then import the export into another tenant: the same people.
    let csv = api
        .export_csv(json!({"object_type": "person", "filter": {"tag": "vip"}}))
        .await;
    assert!(csv.contains("anna@example.de"), "{csv}");
    assert!(!csv.contains("dieter@example.de"), "{csv}");
    let csv = api.export_csv(json!({})).await;
    let lines = csv.lines().filter(|l| l.contains('@')).count();
    assert!(lines >= 2003, "{lines}");
    let other = Api::new(&app, "initech", "peter");
    let copied = other.import(json!({}), csv.as_bytes()).await;
    assert_eq!(copied["state"], "succeeded", "{copied}");
    assert_eq!(copied["rows_created"], 2003, "{copied}");
    assert_eq!(copied["rows_failed"], 0, "{copied}");
    let bernd2 = other
        .get("/v1/contacts:lookup?email=bernd@example.de")
        .await;
    assert_eq!(bernd2.body["contacts"][0]["family_name"], "Meier; Sohn");
    let anna2 = other.get("/v1/contacts:lookup?email=anna@example.de").await;
    assert_eq!(anna2.body["contacts"][0]["phone"], "+49301234567");
    let exported_back = other.export_csv(json!({})).await;
    let emails = |csv: &str| -> BTreeSet<String> {
        csv.split([',', '\n', '"'])
            .filter(|f| f.contains('@'))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(emails(&exported_back), emails(&csv));

    // Companies export too.
    let co = api
        .post(
            "/v1/companies",
            json!({"name": "Initrode", "email": "info@initrode.example"}),
        )
        .await;
    assert_eq!(co.status, 201, "{}", co.text);
    let companies = api.export_csv(json!({"object_type": "company"})).await;
    assert!(companies.contains("Initrode"), "{companies}");

    // Not CSV.
    let created = api.post("/v1/imports", json!({})).await;
    let id = created.body["id"].as_str().unwrap();
    let resp = reqwest::Client::new()
        .put(format!("{}/v1/imports/{id}/data", app.http))
        .bearer_auth(&api.token)
        .header("content-type", "image/png")
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
}

#[tokio::test]
async fn personal_data_export_and_erasure() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let api = Api::new(&app, "acme", "alice");
    let c = api
        .create(json!({"given_name": "Erin", "family_name": "Erased", "email": "erin@example.com"}))
        .await;
    let id = c["id"].as_str().unwrap().to_owned();
    let logged = api
        .post(
            &format!("/v1/contacts/{id}/interactions"),
            json!({"channel": "call", "direction": "inbound", "occurred_at": "2026-11-01T08:00:00Z", "summary": "Asked about pricing"}),
        )
        .await;
    assert_eq!(logged.status, 201, "{}", logged.text);

    let doc = api.get(&format!("/v1/contacts/{id}:personal-data")).await;
    assert_eq!(doc.status, 200, "{}", doc.text);
    assert!(doc.header("content-type").starts_with("application/json"));
    assert_eq!(
        doc.body["contact"]["email"], "erin@example.com",
        "{}",
        doc.text
    );
    assert!(doc.text.contains("Asked about pricing"), "{}", doc.text);

    let other = Api::new(&app, "globex", "mallory");
    problem(
        &other.get(&format!("/v1/contacts/{id}:personal-data")).await,
        404,
    );
    problem(
        &other
            .post(&format!("/v1/contacts/{id}:erase"), json!({"reason": "x"}))
            .await,
        404,
    );

    let erased = api
        .post(
            &format!("/v1/contacts/{id}:erase"),
            json!({"reason": "GDPR art. 17 request 2026-118"}),
        )
        .await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    assert!(
        erased.body["erasure_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(erased.body["erase_time"].is_string());
    problem(&api.get(&format!("/v1/contacts/{id}")).await, 404);
    let lookup = api.get("/v1/contacts:lookup?email=erin@example.com").await;
    assert_eq!(lookup.body["contacts"], json!([]));
    assert!(api.search_names(json!({"query": "erin"})).await.is_empty());
    problem(
        &api.get(&format!("/v1/contacts/{id}:personal-data")).await,
        404,
    );
}

#[tokio::test]
async fn rapport_import_contacts_shows_progress_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let file = dir.path().join("leute.csv");
    std::fs::write(&file, CSV).unwrap();

    let run = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rapport"));
        cmd.args(["import", "contacts"])
            .arg(&file)
            .args(["--api-url", &app.http, "--tenant", "acme"])
            .arg("--data-dir")
            .arg(dir.path())
            .args(extra)
            .env_remove("RAPPORT_TOKEN")
            .env_remove("RAPPORT_API_URL");
        let out = cmd.output().expect("run rapport import");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let maps = [
        "--map",
        "Vorname=given_name",
        "--map",
        "Nachname=family_name",
        "--map",
        "E-Mail=email",
        "--map",
        "Telefon=phone",
        "--map",
        "Tags=tags",
        "--delimiter",
        ";",
    ];
    let (ok, out, err) = run(&maps);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("3 created"), "{out}");
    assert!(out.contains("1 failed"), "{out}");
    assert!(out.contains("row 3"), "{out}");

    let api = Api::new(&app, "acme", "alice");
    let names = api.search_names(json!({"query": "anna"})).await;
    assert_eq!(names, ["Anna Schmidt"]);

    let mut update = maps.to_vec();
    update.extend(["--on-duplicate", "update"]);
    let (ok, out, err) = run(&update);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("0 created"), "{out}");
    // Same rows again: already imported, so nothing changes.
    assert!(out.contains("3 skipped"), "{out}");

    // The same people with a new column, imported with `update`.
    let with_titles = CSV
        .replace("Tags;Notiz\r\n", "Tags;Notiz;Position\r\n")
        .replace("vip;\r\n", "vip;;Einkauf\r\n")
        .replace("18 Uhr\"\r\n", "18 Uhr\";Vertrieb\r\n")
        .replace("+49 89 1234567;;\r\n", "+49 89 1234567;;;Lager\r\n");
    assert_eq!(with_titles.matches("Position").count(), 1);
    assert_eq!(with_titles.matches(";Einkauf").count(), 1);
    assert_eq!(with_titles.matches(";Vertrieb").count(), 1);
    assert_eq!(with_titles.matches(";Lager").count(), 1);
    std::fs::write(&file, &with_titles).unwrap();
    update.extend(["--map", "Position=job_title"]);
    let (ok, out, err) = run(&update);
    assert!(ok, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("0 created"), "{out}");
    assert!(out.contains("3 updated"), "{out}");
    let anna = api.get("/v1/contacts:lookup?email=anna@example.de").await;
    assert_eq!(anna.body["contacts"][0]["job_title"], "Einkauf");

    // A token from the environment works too; a bad one fails clearly.
    let (ok, _, err) = {
        let out = Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(["import", "contacts"])
            .arg(&file)
            .args(["--api-url", &app.http])
            .env("RAPPORT_TOKEN", "not.a.token")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::new(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(!ok);
    assert!(err.contains("401"), "{err}");
    let (ok, _, err) = run(&["--on-duplicate", "merge"]);
    assert!(!ok);
    assert!(err.contains("merge"), "{err}");
    let missing = dir.path().join("missing.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["import", "contacts"])
        .arg(&missing)
        .args(["--api-url", &app.http, "--tenant", "acme"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing.csv"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn an_upload_that_breaks_off_never_counts_as_a_complete_file() {
    use tokio::io::AsyncWriteExt;

    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let api = Api::new(&app, "acme", "alice");
    let created = api.post("/v1/imports", json!({})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();

    // Half a file in a chunked body, then the connection drops.
    let addr = app.http.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let chunk = "given_name,email\nAnna,anna@cut.example\nBernd,bernd@cut.example\n";
    let head = format!(
        "PUT /v1/imports/{id}/data HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\n\
         content-type: text/csv\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
        api.token,
        chunk.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.flush().await.unwrap();
    crate::harness::eventually(
        "the first chunk to arrive",
        std::time::Duration::from_secs(10),
        || async {
            let now = api.get(&format!("/v1/imports/{id}")).await;
            (now.body["state"] != "pending").then_some(())
        },
    )
    .await;
    drop(conn);

    // The gateway resets the gRPC stream instead of half-closing it, so
    // the service never takes the half file as complete: the import ends
    // failed, with the rows it counted kept.
    let now = crate::harness::eventually(
        "the broken-off import to be marked failed",
        std::time::Duration::from_secs(30),
        || async {
            let now = api.get(&format!("/v1/imports/{id}")).await;
            (now.body["state"] != "running").then_some(now)
        },
    )
    .await;
    assert_eq!(now.body["state"], "failed", "{}", now.text);
    assert!(
        now.body["failure"]
            .as_str()
            .is_some_and(|f| f.contains("interrupted")),
        "{}",
        now.text
    );
}

/// Issue 10: numbers of every region are stored whole (Bangladeshi mobiles
/// lost their leading `1` in a US tenant), found from any notation,
/// including the national notation of the number's own country, and
/// `rapport check-phones` lists stored numbers that need a look.
#[tokio::test]
async fn phones_of_every_region_are_stored_whole_and_found_in_any_notation() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    // The tenant keeps the default region, US.
    let api = Api::new(&app, "acme", "alice");
    for (written, stored) in [
        ("+8801711000000", "+8801711000000"),
        ("+880 1711-000111", "+8801711000111"),
        ("+8801911234567", "+8801911234567"),
        ("+54 11 2345-6789", "+541123456789"),
        ("+43 1 234567890", "+431234567890"),
        ("+358 18 1234567", "+358181234567"),
    ] {
        let c = api
            .create(json!({"given_name": "Caller", "family_name": written, "phone": written}))
            .await;
        assert_eq!(c["phone"], stored, "{written}");
    }
    let rahim = api
        .create(json!({"given_name": "Rahim", "phone": "+880 1812-345678"}))
        .await;
    let bad = api
        .post(
            "/v1/contacts",
            json!({"given_name": "X", "phone": "+880 18"}),
        )
        .await;
    problem(&bad, 400);
    assert!(has_field(&bad, "phone"), "{}", bad.text);

    for written in [
        "+880 1812-345678",
        "+8801812345678",
        "tel:+880-1812-345678",
        "011 880 1812 345678",
        // Bangladesh's own national notation, in a US tenant.
        "01812-345678",
    ] {
        let q: String = written
            .replace('+', "%2B")
            .replace(' ', "%20")
            .replace(':', "%3A");
        let found = api.get(&format!("/v1/contacts:lookup?phone={q}")).await;
        assert_eq!(found.status, 200, "{written}: {}", found.text);
        assert_eq!(
            found.body["contacts"][0]["id"], rahim["id"],
            "{written}: {}",
            found.text
        );
        assert_eq!(found.body["contacts"].as_array().unwrap().len(), 1);
    }
    // Another tenant's lookup finds none of them.
    let other = Api::new(&app, "globex", "bob");
    let none = other.get("/v1/contacts:lookup?phone=01812-345678").await;
    assert_eq!(none.body["contacts"], json!([]), "{}", none.text);

    // "+358 8 1234567" is valid, but it is also what the earlier parser
    // stored for "+358 18 1234567" in a US tenant: listed for review with
    // the likely original, and left as it is.
    let finn = api
        .create(json!({"given_name": "Aino", "phone": "+358 8 1234567"}))
        .await;
    let out = Command::new(env!("CARGO_BIN_EXE_rapport"))
        .args(["check-phones", "--api-url", &app.http, "--tenant", "acme"])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("RAPPORT_TOKEN")
        .env_remove("RAPPORT_API_URL")
        .output()
        .expect("run rapport check-phones");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{stdout}");
    let id = finn["id"].as_str().unwrap();
    assert_eq!(
        rows[0],
        format!("person\t{id}\tphone\t+35881234567\tmay have lost a digit\t+358181234567")
    );
    assert!(
        stderr.contains("checked 8 phone numbers of 8 records"),
        "{stderr}"
    );
    let kept = api.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(kept.body["phone"], "+35881234567");
}
