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

    /// Registers the gateway's callback URL with the provider.
    async fn set_redirect(&self, redirect_uri: &str) {
        let r = self
            .http
            .post(format!("{}/redirect", self.control))
            .body(json!({ "redirect_uri": redirect_uri }).to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
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
        (
            "an ID token (nonce) for the API's audience",
            json!({"claims": {"nonce": "n-0S6_WzA2Mj"}}),
            "ID token",
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

/// Follows the provider's pages as a person in a browser would: signs in
/// as `login` on its login form, consents, and returns the URL the provider
/// finally sends the browser to under `app`.
async fn sign_in_at_provider(
    browser: &reqwest::Client,
    issuer: &str,
    mut url: String,
    login: &str,
    app: &str,
) -> String {
    for _ in 0..20 {
        if !url.starts_with("http") {
            url = format!("{issuer}{url}");
        }
        if url.starts_with(app) {
            return url;
        }
        let page = browser.get(&url).send().await.unwrap();
        if page.status().is_redirection() {
            url = location(&page);
            continue;
        }
        let html = page.text().await.unwrap();
        let form: Vec<(&str, &str)> = if html.contains("name=\"login\"") {
            vec![("prompt", "login"), ("login", login), ("password", "any")]
        } else {
            vec![("prompt", "consent")]
        };
        let sent = browser.post(&url).form(&form).send().await.unwrap();
        assert!(sent.status().is_redirection(), "{url}: {}", sent.status());
        url = location(&sent);
    }
    panic!("the provider never sent the browser back to {app}");
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `Set-Cookie` of `name` in a response: (value, attributes).
fn set_cookie(resp: &reqwest::Response, name: &str) -> (String, String) {
    let line = resp
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", resp.headers()));
    let (pair, attributes) = line.split_once(';').unwrap_or((&line, ""));
    (pair[name.len() + 1..].to_owned(), attributes.to_owned())
}

/// The monolith with browser sign-in through `idp`, registered there as
/// the gateway's callback.
async fn monolith_with_sign_in(idp: &Idp, dir: &std::path::Path) -> Monolith {
    let app = Monolith::start(
        dir,
        &[
            ("RAPPORT_AUTH__OIDC_ISSUER", idp.issuer.as_str()),
            ("RAPPORT_AUTH__OIDC_AUDIENCE", AUDIENCE),
            ("RAPPORT_AUTH__OIDC_CLIENT_ID", idp.client_id.as_str()),
            (
                "RAPPORT_AUTH__OIDC_CLIENT_SECRET",
                idp.client_secret.as_str(),
            ),
        ],
    );
    idp.set_redirect(&format!("{}/v1/auth/callback", app.http))
        .await;
    app
}

#[tokio::test]
async fn a_browser_signs_in_with_the_code_flow_and_pkce_and_its_changes_need_the_csrf_token() {
    let idp = Idp::start(AUDIENCE, "http://127.0.0.1:9/unused");
    let dir = tempfile::tempdir().unwrap();
    let app = monolith_with_sign_in(&idp, dir.path()).await;
    let no_redirects = || reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    // The provider's own cookies live in the browser's jar; the gateway's
    // (Secure, so a cookie jar would not send them over http) are sent by hand.
    let browser = no_redirects().cookie_store(true).build().unwrap();
    let gateway = no_redirects().build().unwrap();

    let start = gateway
        .get(format!("{}/v1/auth/login?return_to=/contacts", app.http))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let (login_cookie, attributes) = set_cookie(&start, "__Host-rapport_login");
    // `__Host-`: only this host sets or reads them (Secure, Path=/, no
    // Domain), so a sibling subdomain cannot plant a session.
    for a in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(attributes.contains(a), "{attributes}");
    }
    assert!(!attributes.contains("Domain"), "{attributes}");
    let to_provider = location(&start);
    assert!(to_provider.starts_with(&idp.issuer), "{to_provider}");
    assert!(
        to_provider.contains("code_challenge_method=S256"),
        "{to_provider}"
    );
    assert!(to_provider.contains("code_challenge="), "{to_provider}");
    assert!(!to_provider.contains("code_verifier"), "{to_provider}");

    let callback = sign_in_at_provider(&browser, &idp.issuer, to_provider, "ada", &app.http).await;
    assert!(callback.contains("code="), "{callback}");
    let login = format!("__Host-rapport_login={login_cookie}");

    // The callback without the sign-in's cookie (another browser) or with
    // another state is refused.
    let (status, _) = get(&gateway, &callback, None).await;
    assert_eq!(status, 401);
    let wrong_state = callback.replace("state=", "state=x");
    assert_eq!(get(&gateway, &wrong_state, Some(&login)).await.0, 401);

    let done = gateway
        .get(&callback)
        .header(reqwest::header::COOKIE, &login)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 302, "{:?}", done.headers());
    assert_eq!(location(&done), "/contacts");
    let (session, attributes) = set_cookie(&done, "__Host-rapport_session");
    for a in ["HttpOnly", "Secure", "SameSite=Lax"] {
        assert!(attributes.contains(a), "{attributes}");
    }
    let (csrf, attributes) = set_cookie(&done, "__Host-rapport_csrf");
    assert!(
        !attributes.contains("HttpOnly"),
        "the frontend reads it: {attributes}"
    );
    let cookies = format!("__Host-rapport_session={session}; __Host-rapport_csrf={csrf}");

    // The same code again: single use at the provider.
    assert_eq!(get(&gateway, &callback, Some(&login)).await.0, 401);

    // Who is signed in, from the ID token's claims.
    let (status, me) = get(
        &gateway,
        &format!("{}/v1/auth/session", app.http),
        Some(&cookies),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["tenant"].as_str(), me["user"].as_str()),
        (Some("acme"), Some("ada"))
    );
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["csrf_token"], csrf.as_str());

    // Reads need the cookie only; changes also the CSRF token.
    let create = |token: Option<&str>| {
        let mut req = gateway
            .post(format!("{}/v1/contacts", app.http))
            .header(reqwest::header::COOKIE, &cookies)
            .header("content-type", "application/json")
            .body(json!({"given_name": "Ada", "family_name": "Byron"}).to_string());
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        req.send()
    };
    let refused = create(None).await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("CSRF_TOKEN_INVALID"));
    assert_eq!(create(Some("forged")).await.unwrap().status(), 403);
    let created = create(Some(&csrf)).await.unwrap();
    assert_eq!(created.status(), 201);
    let contact: Value = created.json().await.unwrap();
    let (status, read) = get(
        &gateway,
        &format!(
            "{}/v1/contacts/{}",
            app.http,
            contact["id"].as_str().unwrap()
        ),
        Some(&cookies),
    )
    .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["created_by"], "ada");

    // A session cookie edited to another tenant is not a session.
    let (body, sig) = session.split_once('.').unwrap();
    let mut claims: Value = serde_json::from_slice(&base64_url_decode(body)).unwrap();
    claims["tenant"] = json!("globex");
    let forged = format!(
        "__Host-rapport_session={}.{sig}",
        base64_url_encode(claims.to_string().as_bytes())
    );
    let (status, _) = get(
        &gateway,
        &format!("{}/v1/auth/session", app.http),
        Some(&forged),
    )
    .await;
    assert_eq!(status, 401);

    // Sign-out needs the token too, and clears both cookies.
    let out = gateway
        .post(format!("{}/v1/auth/logout", app.http))
        .header(reqwest::header::COOKIE, &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 403);
    let out = gateway
        .post(format!("{}/v1/auth/logout", app.http))
        .header(reqwest::header::COOKIE, &cookies)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    for name in ["__Host-rapport_session", "__Host-rapport_csrf"] {
        let (value, attributes) = set_cookie(&out, name);
        assert!(
            value.is_empty() && attributes.contains("Max-Age=0"),
            "{name}: {attributes}"
        );
    }
    // The session ended on the server too: the cookie, kept, is refused.
    let (status, _) = get(
        &gateway,
        &format!("{}/v1/auth/session", app.http),
        Some(&cookies),
    )
    .await;
    assert_eq!(status, 401);
}

/// GET with an optional Cookie header: status and JSON body.
async fn get(client: &reqwest::Client, url: &str, cookies: Option<&str>) -> (u16, Value) {
    let mut req = client.get(url);
    if let Some(c) = cookies {
        req = req.header(reqwest::header::COOKIE, c);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
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

/// A browser signed in through the provider: its gateway cookies and CSRF
/// token.
struct Browser {
    cookies: String,
    csrf: String,
}

/// Signs `login` in through the code flow in a browser of its own (its
/// own provider cookies), as `user_agent`.
async fn browser_sign_in(app: &Monolith, idp: &Idp, login: &str, user_agent: &str) -> Browser {
    let no_redirects = || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(user_agent)
    };
    let browser = no_redirects().cookie_store(true).build().unwrap();
    let gateway = no_redirects().build().unwrap();
    let start = gateway
        .get(format!("{}/v1/auth/login", app.http))
        .send()
        .await
        .unwrap();
    let (login_cookie, _) = set_cookie(&start, "__Host-rapport_login");
    let callback =
        sign_in_at_provider(&browser, &idp.issuer, location(&start), login, &app.http).await;
    let done = gateway
        .get(&callback)
        .header(
            reqwest::header::COOKIE,
            format!("__Host-rapport_login={login_cookie}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 302, "{:?}", done.headers());
    let (session, _) = set_cookie(&done, "__Host-rapport_session");
    let (csrf, _) = set_cookie(&done, "__Host-rapport_csrf");
    Browser {
        cookies: format!("__Host-rapport_session={session}; __Host-rapport_csrf={csrf}"),
        csrf,
    }
}

/// Who `b` is signed in as, per `GET /v1/auth/session`.
async fn me(app: &Monolith, b: &Browser) -> (u16, Value) {
    b.get(&format!("{}/v1/auth/session", app.http)).await
}

impl Browser {
    async fn get(&self, url: &str) -> (u16, Value) {
        get(&reqwest::Client::new(), url, Some(&self.cookies)).await
    }

    async fn send(&self, method: reqwest::Method, url: &str) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .request(method, url)
            .header(reqwest::header::COOKIE, &self.cookies)
            .header("x-csrf-token", &self.csrf)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// Sessions end on the server, not only in the browser: signing out, the
/// person ending one of their other sessions, and an admin ending all of
/// someone's sessions each make the cookie (and any copy of it) useless,
/// on every gateway replica within seconds; a rep cannot end anyone
/// else's; each sign-in and each ending is audited.
#[tokio::test]
async fn sessions_end_on_the_server_by_sign_out_by_their_owner_and_by_an_admin() {
    let idp = Idp::start(AUDIENCE, "http://127.0.0.1:9/unused");
    let dir = tempfile::tempdir().unwrap();
    let app = monolith_with_sign_in(&idp, dir.path()).await;
    let replica = crate::harness::GatewayReplica::start(&app);
    let laptop = browser_sign_in(&app, &idp, "ada", "Laptop/1.0").await;
    let phone = browser_sign_in(&app, &idp, "ada", "Phone/2.0").await;
    let tablet = browser_sign_in(&app, &idp, "ada", "Tablet/3.0").await;
    let grace = browser_sign_in(&app, &idp, "grace", "Desk/4.0").await;
    let (status, phone_me) = me(&app, &phone).await;
    assert_eq!(status, 200, "{phone_me}");
    let phone_id = phone_me["id"].as_str().unwrap().to_owned();
    let id_of = |v: Value| v["id"].as_str().unwrap().to_owned();
    let laptop_id = id_of(me(&app, &laptop).await.1);
    let tablet_id = id_of(me(&app, &tablet).await.1);

    // Ada sees her three sessions, newest first, told apart by browser.
    let sessions_url = format!("{}/v1/users/ada/sessions", app.http);
    let (status, listed) = laptop.get(&sessions_url).await;
    assert_eq!(status, 200, "{listed}");
    let agents: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user_agent"].as_str().unwrap())
        .collect();
    assert_eq!(agents, ["Tablet/3.0", "Phone/2.0", "Laptop/1.0"]);
    assert!(
        !listed.to_string().contains(&laptop.csrf),
        "no secret is listed"
    );

    // A rep may not list or end someone else's sessions.
    let (status, problem) = grace.get(&sessions_url).await;
    assert_eq!(status, 403, "{problem}");
    let (status, _) = grace
        .send(
            reqwest::Method::DELETE,
            &format!("{sessions_url}/{phone_id}"),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(me(&app, &phone).await.0, 200);

    // From her laptop, Ada ends the phone's session: its cookie fails at
    // once here and within seconds on the other replica.
    let replica_me = |b: &Browser| {
        let url = format!("{}/v1/users/ada/sessions", replica.http);
        let cookies = b.cookies.clone();
        let client = replica.client.clone();
        async move {
            client
                .get(url)
                .header(reqwest::header::COOKIE, cookies)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        replica_me(&phone).await,
        200,
        "the replica takes the cookie"
    );
    let (status, _) = laptop
        .send(
            reqwest::Method::DELETE,
            &format!("{sessions_url}/{phone_id}"),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(me(&app, &phone).await.0, 401);
    eventually(
        "the replica to refuse the ended session",
        Duration::from_secs(10),
        || async { (replica_me(&phone).await == 401).then_some(()) },
    )
    .await;
    assert_eq!(me(&app, &laptop).await.0, 200);

    // Signing out ends the session on the server: a copy of the cookie
    // kept elsewhere no longer works.
    let (status, _) = tablet
        .send(
            reqwest::Method::POST,
            &format!("{}/v1/auth/logout", app.http),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(me(&app, &tablet).await.0, 401);

    // An admin (a dev token here) ends every session Ada still has.
    let admin = app.token("acme", "alice");
    let (status, revoked) = app
        .post("/v1/users/ada/sessions:revoke", &admin, json!({}))
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["revoked"].as_array().unwrap().len(), 1, "{revoked}");
    assert_eq!(me(&app, &laptop).await.0, 401);
    let (status, listed) = app.get("/v1/users/ada/sessions", &admin).await;
    assert_eq!(status, 200);
    assert!(
        listed["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["revoke_time"].is_string()),
        "{listed}"
    );
    // Grace was not touched; another tenant's admin finds no Ada.
    assert_eq!(me(&app, &grace).await.0, 200);
    let (status, theirs) = app
        .get("/v1/users/ada/sessions", &app.token("globex", "gina"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(theirs["sessions"], json!([]));

    // Each sign-in and each ending (by its owner, by signing out, by an
    // admin) is in the audit trail, with who ended it.
    for (id, ended_by) in [
        (&phone_id, "ada"),
        (&tablet_id, "ada"),
        (&laptop_id, "alice"),
    ] {
        let resource = format!("users/ada/sessions/{id}");
        let trail = eventually(
            "the session's audit entries",
            Duration::from_secs(30),
            || async {
                let (_, trail) = app
                    .get(&format!("/v1/audit?resource={resource}"), &admin)
                    .await;
                let entries = trail["entries"].as_array()?.clone();
                (entries.len() == 2).then_some(entries)
            },
        )
        .await;
        let said = |i: usize, k: &str| trail[i][k].as_str().unwrap_or_default().to_owned();
        assert_eq!(
            (said(0, "change"), said(1, "change")),
            ("updated".into(), "created".into())
        );
        assert_eq!(said(0, "actor"), ended_by, "{resource}: {trail:?}");
    }
}
