//! People's tokens from a real OpenID provider (`oidc-provider` on Node.js,
//! started on 127.0.0.1 by the test, `tests/idp/idp.mjs`): the gateway finds
//! the provider by discovery, fetches its keys, follows a key rotation, and
//! refuses expired tokens, other audiences and issuers, unknown keys,
//! `alg: none`, tampered signatures and HS256 made with the public key.
//! Dev tokens keep working beside it in monolithic mode.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

use crate::harness::{Monolith, eventually};

/// The audience Rapport's tokens name in these tests.
const AUDIENCE: &str = "https://api.rapport.test";

/// The test identity provider; stopped when dropped.
pub(crate) struct Idp {
    child: Child,
    pub(crate) issuer: String,
    control: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    http: reqwest::Client,
}

impl Idp {
    /// Starts the provider for `audience`, redirecting browsers to
    /// `redirect_uri` after sign-in.
    pub(crate) fn start(audience: &str, redirect_uri: &str) -> Idp {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/idp"));
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "tests/idp has no node_modules: run scripts/test (or npm ci --prefix tests/idp)"
        );
        let mut child = Command::new("node")
            .arg("idp.mjs")
            .args([audience, redirect_uri])
            .current_dir(&dir)
            // Its stdin closing (the test ending) stops it.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node (Node.js 20.19+) runs the test identity provider");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the identity provider did not start: {line:?}"));
        let field = |k: &str| ready[k].as_str().unwrap().to_owned();
        Idp {
            issuer: field("issuer"),
            control: field("control"),
            client_id: field("client_id"),
            client_secret: field("client_secret"),
            child,
            http: reqwest::Client::new(),
        }
    }

    /// A token signed the way `spec` says (see `mint` in idp.mjs).
    async fn mint(&self, spec: Value) -> String {
        let answer: Value = self
            .http
            .post(format!("{}/mint", self.control))
            .body(spec.to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["token"].as_str().expect("minted").to_owned()
    }

    /// Rotates the provider's signing key.
    async fn rotate(&self) {
        let r = self
            .http
            .post(format!("{}/rotate", self.control))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// A partner system's access token from the provider itself (client
    /// credentials grant, a JWT for `audience`).
    async fn client_credentials(&self, audience: &str) -> String {
        let answer: Value = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "rapport"),
                ("resource", audience),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {answer}"))
            .to_owned()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The monolith with OIDC sign-in from `idp` (dev tokens still on).
pub(crate) fn monolith_with(idp: &Idp, dir: &std::path::Path) -> Monolith {
    Monolith::start(
        dir,
        &[
            ("RAPPORT_AUTH__OIDC_ISSUER", idp.issuer.as_str()),
            ("RAPPORT_AUTH__OIDC_AUDIENCE", AUDIENCE),
        ],
    )
}

/// Status and problem of a search with `token`.
async fn search(app: &Monolith, token: &str) -> (u16, Value) {
    app.post("/v1/contacts:search", token, json!({})).await
}

#[tokio::test]
async fn provider_tokens_are_verified_and_every_forgery_refused() {
    let idp = Idp::start(AUDIENCE, "http://127.0.0.1:9/unused");
    let dir = tempfile::tempdir().unwrap();
    let app = monolith_with(&idp, dir.path());

    // A partner system's token, issued by the provider itself.
    let partner = idp.client_credentials(AUDIENCE).await;
    let (status, created) = app
        .post(
            "/v1/contacts",
            &partner,
            json!({"given_name": "Grace", "family_name": "Hopper"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    // It acts for the tenant and user its claims name.
    let admin = app.token("acme", "root");
    let (status, seen) = app
        .get(
            &format!("/v1/contacts/{}", created["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["created_by"], idp.client_id.as_str(), "{seen}");

    // A person's token with the provider's current key: a rep of acme.
    let rep = idp.mint(json!({"claims": {"sub": "ruth"}})).await;
    assert_eq!(search(&app, &rep).await.0, 200);
    // A rep may not read the audit trail: the roles claim was read.
    let (status, _) = app.get("/v1/audit?actor=ruth", &rep).await;
    assert_eq!(status, 403);

    let now = chrono::Utc::now().timestamp();
    let refused = [
        (
            "expired an hour ago (past the leeway)",
            json!({"claims": {"exp": now - 3600, "iat": now - 7200}}),
            "expired",
        ),
        (
            "for another audience",
            json!({"claims": {"aud": "https://other.example"}}),
            "audience",
        ),
        (
            "from another issuer",
            json!({"claims": {"iss": "https://evil.example"}}),
            "another provider",
        ),
        (
            "signed with a key the provider does not publish",
            json!({"key": "rogue"}),
            "no signing key",
        ),
        ("alg: none", json!({"alg": "none"}), "algorithm"),
        (
            "HS256 with the provider's public key as the secret",
            json!({"alg": "HS256"}),
            "signature",
        ),
        (
            "not yet valid",
            json!({"claims": {"nbf": now + 3600}}),
            "not valid yet",
        ),
        (
            "without a tenant",
            json!({"claims": {"tenant": null}}),
            "tenant",
        ),
    ];
    for (case, spec, why) in refused {
        let token = idp.mint(spec).await;
        let (status, problem) = search(&app, &token).await;
        assert_eq!(status, 401, "{case}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap_or("").contains(why),
            "{case}: {problem}"
        );
    }

    // A tampered payload: the admin role written into a rep's token.
    let parts: Vec<&str> = rep.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&base64_url_decode(parts[1])).unwrap();
    claims["roles"] = json!(["admin"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64_url_encode(claims.to_string().as_bytes()),
        parts[2]
    );
    let (status, problem) = search(&app, &forged).await;
    assert_eq!(status, 401, "{problem}");

    // The provider rotates its key: tokens signed with the new one pass
    // within seconds (the gateway fetches keys again for an unknown key id).
    idp.rotate().await;
    let rotated = idp.mint(json!({"claims": {"sub": "ruth"}})).await;
    eventually(
        "a token of the rotated key to pass",
        Duration::from_secs(30),
        || async { (search(&app, &rotated).await.0 == 200).then_some(()) },
    )
    .await;
    // The old key is still published during the rotation.
    let old = idp
        .mint(json!({"key": "previous", "claims": {"sub": "ruth"}}))
        .await;
    assert_eq!(search(&app, &old).await.0, 200);

    // Dev tokens go on working in monolithic mode, through the same layer.
    assert_eq!(search(&app, &admin).await.0, 200);
}

fn base64_url_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn base64_url_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
