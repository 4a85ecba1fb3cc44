//! Record-level access, end to end: for each kind of user (admin, manager
//! of a team with sub-teams, manager of the sub-team, reps, read-only), each
//! query path of the contacts, deals and tasks services answers exactly the
//! records that user sees; hidden records are 404, never a shorter list of
//! someone else's.
//!
//! Every gRPC method of the services is enumerated from the descriptors:
//! a new method fails [`every_method_has_an_access_case`] until it is given
//! a case here (or a reason it holds no records).

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use serde_json::{Value, json};

use crate::harness::Monolith;

/// Who each user is: roles and teams.
const USERS: &[(&str, &str, &[&str])] = &[
    ("alice", "admin", &[]),
    ("hana", "manager", &["sales"]),
    ("lena", "manager", &["sales/emea"]),
    ("ravi", "rep", &["sales/emea"]),
    ("mira", "rep", &["sales/emea"]),
    ("sam", "rep", &["support"]),
    ("vera", "read-only", &["sales/emea"]),
];

/// The people: name, creator, shares, and who (besides the admin) sees them.
const PEOPLE: &[(&str, &str, &[&str], &[&str])] = &[
    ("Ravi Own", "ravi", &[], &["hana", "lena", "ravi", "vera"]),
    ("Mira Own", "mira", &[], &["hana", "lena", "mira", "vera"]),
    ("Sam Own", "sam", &[], &["sam"]),
    ("Sam Shared", "sam", &["user:ravi"], &["sam", "ravi"]),
    (
        "Sam Teamwide",
        "sam",
        &["team:sales"],
        &["sam", "hana", "lena", "ravi", "mira", "vera"],
    ),
    ("Hana Top", "hana", &[], &["hana"]),
];

/// Each method of each service, and the case below that covers it.
const CASES: &[(&str, &str)] = &[
    (
        "rapport.deals.v1.DealsService/ListPipelines",
        "tenant configuration, no records (pipelines.rs)",
    ),
    (
        "rapport.deals.v1.DealsService/GetPipeline",
        "tenant configuration, no records (pipelines.rs)",
    ),
    (
        "rapport.deals.v1.DealsService/CreatePipeline",
        "tenant configuration, no records (pipelines.rs)",
    ),
    (
        "rapport.deals.v1.DealsService/UpdatePipeline",
        "tenant configuration, no records (pipelines.rs)",
    ),
    (
        "rapport.contacts.v1.ContactsService/CreateContact",
        "created by each user; owner and team default to the creator",
    ),
    (
        "rapport.contacts.v1.ContactsService/GetContact",
        "get: 200 when visible, 404 otherwise",
    ),
    (
        "rapport.contacts.v1.ContactsService/UpdateContact",
        "patch: 200 when visible, 404 otherwise",
    ),
    (
        "rapport.contacts.v1.ContactsService/SearchContacts",
        "list (both orders, two per page) and name search",
    ),
    (
        "rapport.contacts.v1.ContactsService/LookupContacts",
        "lookup by e-mail",
    ),
    (
        "rapport.contacts.v1.ContactsService/FindDuplicates",
        "a group counts visible records only",
    ),
    (
        "rapport.contacts.v1.ContactsService/MergeContacts",
        "merging a hidden record is 404",
    ),
    (
        "rapport.contacts.v1.ContactsService/CreateCompany",
        "company created by a rep",
    ),
    (
        "rapport.contacts.v1.ContactsService/GetCompany",
        "company get",
    ),
    (
        "rapport.contacts.v1.ContactsService/UpdateCompany",
        "company patch",
    ),
    (
        "rapport.contacts.v1.ContactsService/SearchCompanies",
        "company list",
    ),
    (
        "rapport.contacts.v1.ContactsService/MergeCompanies",
        "merges share get_record with MergeContacts",
    ),
    (
        "rapport.contacts.v1.ContactsService/ReassignOwner",
        "handing over a hidden record is 404; from_owner moves visible ones only",
    ),
    (
        "rapport.contacts.v1.ContactsService/ExportContacts",
        "export holds exactly the visible records",
    ),
    (
        "rapport.contacts.v1.ContactsService/CreateImport",
        "an import matching a hidden record refuses the row",
    ),
    (
        "rapport.contacts.v1.ContactsService/UploadImportData",
        "as CreateImport",
    ),
    (
        "rapport.contacts.v1.ContactsService/GetImport",
        "as CreateImport",
    ),
    (
        "rapport.contacts.v1.ContactsService/ListImportErrors",
        "as CreateImport",
    ),
    (
        "rapport.contacts.v1.ContactsService/ExportPersonalData",
        "admins only (roles.rs); admins see every record",
    ),
    (
        "rapport.contacts.v1.ContactsService/ErasePerson",
        "admins only (roles.rs); admins see every record",
    ),
    (
        "rapport.contacts.v1.ContactsService/CreateCustomField",
        "tenant configuration, no records (roles.rs)",
    ),
    (
        "rapport.contacts.v1.ContactsService/ListCustomFields",
        "tenant configuration, no records",
    ),
    (
        "rapport.contacts.v1.ContactsService/DeleteCustomField",
        "tenant configuration, no records (roles.rs)",
    ),
    (
        "rapport.contacts.v1.ContactsService/GetContactSettings",
        "tenant configuration, no records",
    ),
    (
        "rapport.contacts.v1.ContactsService/UpdateContactSettings",
        "tenant configuration, no records (roles.rs)",
    ),
    (
        "rapport.comms.v1.CommsService/LogInteraction",
        "logging on a hidden contact is 404 (checked through GetContact)",
    ),
    (
        "rapport.comms.v1.CommsService/ListTimeline",
        "the timeline of a hidden contact is 404 (checked through GetContact)",
    ),
    (
        "rapport.analytics.v1.AnalyticsService/GetSummary",
        "tenant-wide counts, no records",
    ),
    (
        "rapport.common.v1.PersonalDataService/ExportPersonalData",
        "service-to-service, called by the contacts export for admins",
    ),
    (
        "rapport.deals.v1.DealsService/CreateDeal",
        "deals_and_tasks_answer_only_those_who_may_see_them: owner and team default to the creator",
    ),
    (
        "rapport.deals.v1.DealsService/GetDeal",
        "deals_and_tasks_answer_only_those_who_may_see_them: 200 when visible, 404 otherwise",
    ),
    (
        "rapport.tasks.v1.TasksService/CreateTask",
        "deals_and_tasks_answer_only_those_who_may_see_them: the assignee owns the task",
    ),
    (
        "rapport.tasks.v1.TasksService/GetTask",
        "deals_and_tasks_answer_only_those_who_may_see_them: 200 when visible, 404 otherwise",
    ),
    ("grpc.health.v1.Health/Check", "no records"),
    ("grpc.health.v1.Health/Watch", "no records"),
];

#[test]
fn every_method_has_an_access_case() {
    let set = prost_types::FileDescriptorSet::decode(rapport_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut methods = BTreeSet::new();
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                methods.insert(format!(
                    "{}.{}/{}",
                    file.package(),
                    service.name(),
                    method.name()
                ));
            }
        }
    }
    let covered: BTreeSet<String> = CASES.iter().map(|(m, _)| m.to_string()).collect();
    let missing: Vec<_> = methods.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "methods without an access case: {missing:?}"
    );
    // Health is not in the descriptor set; every other case names a real method.
    let stale: Vec<_> = covered
        .difference(&methods)
        .filter(|m| !m.starts_with("grpc.health"))
        .collect();
    assert!(stale.is_empty(), "cases for no method: {stale:?}");
}

/// The names on every page of a search, following the page tokens.
async fn list(app: &Monolith, token: &str, path: &str, body: Value, key: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut page_token = Value::Null;
    loop {
        let mut b = body.clone();
        b["page_size"] = json!(2);
        b["page_token"] = page_token;
        let (s, page) = app.post(path, token, b).await;
        assert_eq!(s, 200, "{page}");
        let items = page[key].as_array().unwrap();
        assert!(items.len() <= 2, "{page}");
        for c in items {
            let name = c["display_name"].as_str().or(c["name"].as_str()).unwrap();
            names.push(name.to_owned());
        }
        if page["next_page_token"].is_null() {
            return names;
        }
        page_token = page["next_page_token"].clone();
    }
}

fn expected(user: &str) -> BTreeSet<String> {
    PEOPLE
        .iter()
        .filter(|(_, _, _, seen)| user == "alice" || seen.contains(&user))
        .map(|(name, ..)| name.to_string())
        .collect()
}

/// A token for each of [`USERS`].
fn tokens(app: &Monolith) -> BTreeMap<&'static str, String> {
    USERS
        .iter()
        .map(|(user, role, teams)| (*user, app.token_in_teams("acme", user, &[role], teams)))
        .collect()
}

#[tokio::test]
async fn each_user_reaches_exactly_the_records_it_may_see() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let tokens = tokens(&app);

    let mut ids = BTreeMap::new();
    for (i, (name, creator, shares, _)) in PEOPLE.iter().enumerate() {
        let (given, family) = name.split_once(' ').unwrap();
        let (s, c) = app
            .post(
                "/v1/contacts",
                &tokens[creator],
                json!({"given_name": given, "family_name": family,
                       "email": format!("p{i}@example.com"), "shared_with": shares}),
            )
            .await;
        assert_eq!(s, 201, "{c}");
        assert_eq!(c["owner"], *creator, "{c}");
        ids.insert(*name, c["id"].as_str().unwrap().to_owned());
    }
    let (s, c) = app
        .get(
            &format!("/v1/contacts/{}", ids["Ravi Own"]),
            &tokens["alice"],
        )
        .await;
    assert_eq!((s, c["team"].as_str()), (200, Some("sales/emea")), "{c}");

    for (user, ..) in USERS {
        let token = &tokens[user];
        let want = expected(user);
        // Lists, oldest and newest first, two per page.
        let oldest = list(&app, token, "/v1/contacts:search", json!({}), "contacts").await;
        let mut newest = list(
            &app,
            token,
            "/v1/contacts:search",
            json!({"order_by": "create_time desc"}),
            "contacts",
        )
        .await;
        assert_eq!(
            oldest.iter().cloned().collect::<BTreeSet<_>>(),
            want,
            "{user} lists"
        );
        assert_eq!(oldest.len(), want.len(), "{user}: each once");
        newest.reverse();
        assert_eq!(newest, oldest, "{user}: newest first is the reverse");
        // A name search and a filter go through the other drivers.
        let sams = list(
            &app,
            token,
            "/v1/contacts:search",
            json!({"query": "sam"}),
            "contacts",
        )
        .await;
        let want_sams: BTreeSet<_> = want
            .iter()
            .filter(|n| n.starts_with("Sam"))
            .cloned()
            .collect();
        assert_eq!(
            sams.into_iter().collect::<BTreeSet<_>>(),
            want_sams,
            "{user} searches"
        );
        for (i, (name, ..)) in PEOPLE.iter().enumerate() {
            let visible = want.contains(*name);
            let id = &ids[name];
            // Get.
            let (s, body) = app.get(&format!("/v1/contacts/{id}"), token).await;
            assert_eq!(
                s,
                if visible { 200 } else { 404 },
                "{user} gets {name}: {body}"
            );
            // Lookup.
            let (s, found) = app
                .get(
                    &format!("/v1/contacts:lookup?email=p{i}@example.com"),
                    token,
                )
                .await;
            assert_eq!(s, 200, "{found}");
            assert_eq!(
                found["contacts"].as_array().unwrap().len(),
                usize::from(visible),
                "{user} looks up {name}"
            );
            // Timeline (comms asks contacts with the caller's principal).
            let (s, body) = app.get(&format!("/v1/contacts/{id}/timeline"), token).await;
            assert_eq!(
                s,
                if visible { 200 } else { 404 },
                "{user} timeline of {name}: {body}"
            );
            // Update: read-only users change nothing; others what they see.
            let (s, _, body) = app
                .call(
                    "PATCH",
                    &format!("/v1/contacts/{id}"),
                    Some(token),
                    Some(
                        json!({"job_title": format!("seen by {user}")})
                            .to_string()
                            .into_bytes(),
                    ),
                )
                .await;
            let want_status = match (*user, visible) {
                ("vera", _) => 403,
                (_, true) => 200,
                (_, false) => 404,
            };
            assert_eq!(s, want_status, "{user} patches {name}: {body}");
        }
    }

    // Exports hold exactly what the manager sees.
    for user in ["hana", "lena"] {
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/exports", app.http))
            .bearer_auth(&tokens[user])
            .json(&json!({"object_type": "person"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let csv = resp.text().await.unwrap();
        let exported: BTreeSet<String> = PEOPLE
            .iter()
            .map(|(name, ..)| name.to_string())
            .filter(|name| csv.contains(name.as_str()))
            .collect();
        assert_eq!(exported, expected(user), "{user} exports");
    }

    let lena = &tokens["lena"];
    // Merging or handing over a hidden record is "not found" and changes nothing.
    let (s, body) = app
        .post(
            "/v1/contacts:merge",
            lena,
            json!({"survivor_id": ids["Ravi Own"], "merged_ids": [ids["Sam Own"]]}),
        )
        .await;
    assert_eq!(s, 404, "{body}");
    let (s, body) = app
        .post(
            "/v1/contacts:reassign-owner",
            lena,
            json!({"ids": [ids["Sam Own"]], "new_owner": "mira"}),
        )
        .await;
    assert_eq!(s, 404, "{body}");
    // Everything Sam owns: only what Lena sees of it moves.
    let (s, body) = app
        .post(
            "/v1/contacts:reassign-owner",
            lena,
            json!({"from_owner": "sam", "new_owner": "mira"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["reassigned_count"], 1, "only Sam Teamwide: {body}");
    let (_, own) = app
        .get(
            &format!("/v1/contacts/{}", ids["Sam Own"]),
            &tokens["alice"],
        )
        .await;
    assert_eq!(own["owner"], "sam", "{own}");

    // A rep may not give a record away or put it in another team.
    let ravi = &tokens["ravi"];
    for patch in [json!({"owner": "mira"}), json!({"team": "support"})] {
        let (s, _, body) = app
            .call(
                "PATCH",
                &format!("/v1/contacts/{}", ids["Ravi Own"]),
                Some(ravi),
                Some(patch.to_string().into_bytes()),
            )
            .await;
        assert_eq!(s, 403, "{patch}: {body}");
        assert_eq!(body["permission"], "contacts.reassign", "{body}");
    }
    // Sharing is the owner's call, and shows the record to the colleague.
    let (s, _, body) = app
        .call(
            "PATCH",
            &format!("/v1/contacts/{}", ids["Sam Own"]),
            Some(&tokens["sam"]),
            Some(
                json!({"shared_with": ["user:mira"]})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = app
        .get(&format!("/v1/contacts/{}", ids["Sam Own"]), &tokens["mira"])
        .await;
    assert_eq!(s, 200, "shared with mira");

    // Duplicates: a group counts only the records its reader sees.
    for creator in ["ravi", "sam"] {
        let (s, c) = app
            .post(
                "/v1/contacts",
                &tokens[creator],
                json!({"given_name": "Twin", "family_name": "Case", "allow_duplicate": true}),
            )
            .await;
        assert_eq!(s, 201, "{c}");
    }
    let twins = |groups: &Value| {
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["value"] == "twin case")
            .count()
    };
    let (_, groups) = app.get("/v1/contacts:duplicates", &tokens["alice"]).await;
    assert_eq!(twins(&groups), 1, "{groups}");
    let (_, groups) = app.get("/v1/contacts:duplicates", ravi).await;
    assert_eq!(twins(&groups), 0, "ravi sees one twin only: {groups}");

    // Companies follow the same rules.
    let (s, company) = app
        .post("/v1/companies", ravi, json!({"name": "Ravi Industries"}))
        .await;
    assert_eq!(s, 201, "{company}");
    let cid = company["id"].as_str().unwrap();
    for (user, visible) in [
        ("alice", true),
        ("hana", true),
        ("vera", true),
        ("mira", false),
        ("sam", false),
    ] {
        let (s, _) = app
            .get(&format!("/v1/companies/{cid}"), &tokens[user])
            .await;
        assert_eq!(
            s,
            if visible { 200 } else { 404 },
            "{user} gets the company"
        );
        let names = list(
            &app,
            &tokens[user],
            "/v1/companies:search",
            json!({}),
            "companies",
        )
        .await;
        assert_eq!(
            names.len(),
            usize::from(visible),
            "{user} lists companies: {names:?}"
        );
    }

    // An import that matches a hidden record refuses the row and leaves
    // the record as it was (p2 is Sam Own's e-mail; p0 is Ravi Own's).
    let (s, job) = app
        .post(
            "/v1/imports",
            lena,
            json!({"column_mapping": {"First": "given_name", "Email": "email", "Title": "job_title"},
                   "on_duplicate": "update"}),
        )
        .await;
    assert_eq!(s, 201, "{job}");
    let resp = reqwest::Client::new()
        .put(format!(
            "{}/v1/imports/{}/data",
            app.http,
            job["id"].as_str().unwrap()
        ))
        .bearer_auth(lena)
        .header("content-type", "text/csv")
        .body("First,Email,Title\nSam,p2@example.com,Imported\nRavi,p0@example.com,Imported\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let done: Value = resp.json().await.unwrap();
    assert_eq!(done["rows_failed"], 1, "{done}");
    assert_eq!(done["rows_updated"], 1, "{done}");
    for (name, title) in [("Sam Own", "seen by sam"), ("Ravi Own", "Imported")] {
        let (_, c) = app
            .get(&format!("/v1/contacts/{}", ids[name]), &tokens["alice"])
            .await;
        assert_eq!(c["job_title"], title, "{c}");
    }
}

#[tokio::test]
async fn deals_and_tasks_answer_only_those_who_may_see_them() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[]);
    let tokens = tokens(&app);
    // One deal and one task per person row, by the same creator and shares.
    let mut created = Vec::new();
    for (name, creator, shares, _) in PEOPLE {
        let (s, deal) = app
            .post(
                "/v1/deals",
                &tokens[creator],
                json!({"title": name, "shared_with": shares}),
            )
            .await;
        assert_eq!(s, 201, "{deal}");
        assert_eq!(deal["owner"], *creator, "{deal}");
        let (s, task) = app
            .post(
                "/v1/tasks",
                &tokens[creator],
                json!({"title": name, "shared_with": shares}),
            )
            .await;
        assert_eq!(s, 201, "{task}");
        assert_eq!(task["assignee"], *creator, "{task}");
        let team = USERS.iter().find(|(u, ..)| u == creator).unwrap().2.first();
        assert_eq!(deal["team"].as_str(), team.copied(), "{deal}");
        assert_eq!(task["team"].as_str(), team.copied(), "{task}");
        created.push((
            *name,
            deal["id"].as_str().unwrap().to_owned(),
            task["id"].as_str().unwrap().to_owned(),
        ));
    }
    for (user, ..) in USERS {
        let want = expected(user);
        for (name, deal, task) in &created {
            let status = if want.contains(*name) { 200 } else { 404 };
            let (s, body) = app.get(&format!("/v1/deals/{deal}"), &tokens[user]).await;
            assert_eq!(s, status, "{user} gets the deal {name}: {body}");
            let (s, body) = app.get(&format!("/v1/tasks/{task}"), &tokens[user]).await;
            assert_eq!(s, status, "{user} gets the task {name}: {body}");
        }
    }

    // A rep may not create work for someone else or in another team.
    let ravi = &tokens["ravi"];
    for (path, body) in [
        ("/v1/deals", json!({"title": "Given away", "owner": "mira"})),
        (
            "/v1/deals",
            json!({"title": "Elsewhere", "team": "support"}),
        ),
        (
            "/v1/tasks",
            json!({"title": "Given away", "assignee": "mira"}),
        ),
        (
            "/v1/tasks",
            json!({"title": "Elsewhere", "team": "support"}),
        ),
    ] {
        let (s, problem) = app.post(path, ravi, body.clone()).await;
        assert_eq!(s, 403, "{path} {body}: {problem}");
        let object = path.trim_start_matches("/v1/");
        assert_eq!(
            problem["permission"],
            format!("{object}.reassign"),
            "{problem}"
        );
    }
    // A manager may, and the new owner then sees it.
    let (s, deal) = app
        .post(
            "/v1/deals",
            &tokens["lena"],
            json!({"title": "For Ravi", "owner": "ravi"}),
        )
        .await;
    assert_eq!(s, 201, "{deal}");
    let (s, task) = app
        .post(
            "/v1/tasks",
            &tokens["lena"],
            json!({"title": "For Ravi", "assignee": "ravi"}),
        )
        .await;
    assert_eq!(s, 201, "{task}");
    for (path, id) in [("deals", &deal["id"]), ("tasks", &task["id"])] {
        let url = format!("/v1/{path}/{}", id.as_str().unwrap());
        assert_eq!(app.get(&url, ravi).await.0, 200, "{url} for ravi");
        assert_eq!(
            app.get(&url, &tokens["mira"]).await.0,
            404,
            "{url} for mira"
        );
    }
}
