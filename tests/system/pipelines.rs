//! Deal pipelines through REST: every tenant starts with a default one;
//! admins create and edit pipelines under the rules that keep a roll-out
//! healthy (no look-alike stage names, few stages, no stranded deals);
//! nobody else may, and no tenant sees another's.

use serde_json::{Value, json};

use crate::harness::Monolith;

async fn patch(app: &Monolith, path: &str, token: &str, body: Value) -> (u16, Value) {
    let (s, _, v) = app
        .call(
            "PATCH",
            path,
            Some(token),
            Some(body.to_string().into_bytes()),
        )
        .await;
    (s, v)
}

/// The `errors[].field` of a problem.
fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn admins_shape_pipelines_under_the_stage_rules_and_no_deal_is_stranded() {
    let dir = tempfile::tempdir().unwrap();
    let app = Monolith::start(dir.path(), &[("RAPPORT_DEALS__MAX_PIPELINE_STAGES", "5")]);
    let admin = app.token("acme", "alice");
    let rep = app.token_with_roles("acme", "ravi", &["rep"]);

    // A new tenant already has its default pipeline; reps see it too.
    let (s, list) = app.get("/v1/pipelines", &rep).await;
    assert_eq!(s, 200, "{list}");
    let default = &list["pipelines"][0];
    assert_eq!(default["is_default"], true, "{list}");
    let stage_ids: Vec<&str> = default["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(stage_ids, ["new", "qualified", "proposal", "negotiation"]);
    let default_id = default["id"].as_str().unwrap().to_owned();
    let (s, got) = app.get(&format!("/v1/pipelines/{default_id}"), &rep).await;
    assert_eq!((s, &got["name"]), (200, &json!("Sales")), "{got}");

    // Look-alike names and too many stages are refused, each named.
    let (s, problem) = app
        .post(
            "/v1/pipelines",
            &admin,
            json!({"name": "Renewals", "stages": [
                {"name": "Négociation", "probability": 0.5},
                {"name": "NEGOCIATION", "probability": 0.6},
                {"name": "Won", "probability": 1.5}
            ]}),
        )
        .await;
    assert_eq!(s, 400, "{problem}");
    assert_eq!(problem["reason"], "INVALID_PIPELINE", "{problem}");
    assert_eq!(
        fields(&problem),
        ["stages[2].probability"],
        "the gateway checks numbers first: {problem}"
    );
    let (s, problem) = app
        .post(
            "/v1/pipelines",
            &admin,
            json!({"name": "Renewals", "stages": [
                {"name": "Négociation", "probability": 0.5},
                {"name": "NEGOCIATION", "probability": 0.6}
            ]}),
        )
        .await;
    assert_eq!(s, 400, "{problem}");
    assert_eq!(fields(&problem), ["pipeline.stages[1].name"], "{problem}");
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"name": format!("Step {i}"), "probability": 0.1}))
        .collect();
    let (s, problem) = app
        .post(
            "/v1/pipelines",
            &admin,
            json!({"name": "Long", "stages": six}),
        )
        .await;
    assert_eq!(s, 400, "{problem}");
    assert_eq!(fields(&problem), ["pipeline.stages"], "{problem}");
    assert!(
        problem["errors"][0]["description"]
            .as_str()
            .unwrap()
            .contains("at most 5"),
        "{problem}"
    );

    // Only those who hold pipelines.manage create them.
    let good = json!({"name": "Renewals", "stages": [
        {"name": "Due", "probability": 0.3, "rotting_days": 10},
        {"name": "Quoted", "probability": 0.6},
        {"name": "Signed", "probability": 0.95}
    ]});
    let (s, problem) = app.post("/v1/pipelines", &rep, good.clone()).await;
    assert_eq!(s, 403, "{problem}");
    assert_eq!(problem["permission"], "pipelines.manage", "{problem}");
    let (s, created) = app.post("/v1/pipelines", &admin, good).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["is_default"], false);
    assert_eq!(created["stages"][0]["id"], "due");
    assert_eq!(created["stages"][0]["probability"], 0.3);
    assert_eq!(created["stages"][0]["rotting_days"], 10);
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/pipelines/{id}");

    // Deals go into a pipeline's stages, and only into them.
    let (s, deal) = app
        .post(
            "/v1/deals",
            &rep,
            json!({"title": "Fleet renewal", "pipeline_id": id, "stage": "quoted"}),
        )
        .await;
    assert_eq!(s, 201, "{deal}");
    assert_eq!(
        (&deal["pipeline_id"], &deal["stage"]),
        (&json!(id), &json!("quoted"))
    );
    let deal_path = format!("/v1/deals/{}", deal["id"].as_str().unwrap());
    let (s, first) = app
        .post("/v1/deals", &rep, json!({"title": "Walk-in"}))
        .await;
    assert_eq!(s, 201, "{first}");
    assert_eq!(
        (&first["pipeline_id"], &first["stage"]),
        (&json!(default_id), &json!("new"))
    );
    for (body, field) in [
        (json!({"title": "X", "stage": "quoted"}), "deal.stage"),
        (
            json!({"title": "X", "pipeline_id": uuid::Uuid::now_v7().to_string()}),
            "deal.pipeline_id",
        ),
    ] {
        let (s, problem) = app.post("/v1/deals", &rep, body.clone()).await;
        assert_eq!(s, 400, "{body}: {problem}");
        assert_eq!(fields(&problem), [field], "{problem}");
    }

    // Removing a stage without saying where its deals go is refused.
    let kept = json!([
        {"id": "due", "name": "Due", "probability": 0.3},
        {"id": "signed", "name": "Signed", "probability": 0.95}
    ]);
    let (s, problem) = patch(
        &app,
        &path,
        &admin,
        json!({"name": "Renewals", "stages": kept}),
    )
    .await;
    assert_eq!(s, 400, "{problem}");
    assert_eq!(fields(&problem), ["moves[quoted]"], "{problem}");
    let (s, problem) = patch(
        &app,
        &path,
        &rep,
        json!({"name": "Renewals", "stages": kept, "stage_moves": {"quoted": "signed"}}),
    )
    .await;
    assert_eq!(s, 403, "{problem}");
    let (s, changed) = patch(
        &app,
        &path,
        &admin,
        json!({"name": "Renewals", "stages": kept, "stage_moves": {"quoted": "signed"}, "etag": created["etag"]}),
    )
    .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["moved_stages"], json!({"quoted": "signed"}));
    assert_ne!(changed["etag"], created["etag"]);
    assert_eq!(changed["etag"], "\"2\"", "{changed}");
    // The deal of the removed stage is now in the stage it moved to.
    let (s, moved) = app.get(&deal_path, &rep).await;
    assert_eq!((s, &moved["stage"]), (200, &json!("signed")), "{moved}");
    // An edit from the old version changes nothing.
    let (s, problem) = patch(
        &app,
        &path,
        &admin,
        json!({"name": "Stale", "stages": kept, "etag": created["etag"]}),
    )
    .await;
    assert_eq!(
        (s, &problem["reason"]),
        (409, &json!("ETAG_MISMATCH")),
        "{problem}"
    );
    let (_, now) = app.get(&path, &rep).await;
    assert_eq!(now["name"], "Renewals", "{now}");

    // The default is edited like any other, and then stored.
    let (s, edited) = patch(
        &app,
        &format!("/v1/pipelines/{default_id}"),
        &admin,
        json!({"name": "New business", "stages": [
            {"id": "new", "name": "New", "probability": 0.1},
            {"id": "proposal", "name": "Proposal", "probability": 0.5}
        ], "stage_moves": {"qualified": "new", "negotiation": "proposal"}}),
    )
    .await;
    assert_eq!(s, 200, "{edited}");
    assert_eq!(edited["is_default"], true);
    let (_, list) = app.get("/v1/pipelines", &rep).await;
    let names: Vec<&str> = list["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["New business", "Renewals"], "default first");

    // Another tenant has only its own default.
    let other = app.token("globex", "gina");
    let (s, _) = app.get(&path, &other).await;
    assert_eq!(s, 404);
    let (_, list) = app.get("/v1/pipelines", &other).await;
    assert_eq!(list["pipelines"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["pipelines"][0]["name"], "Sales", "{list}");
}
