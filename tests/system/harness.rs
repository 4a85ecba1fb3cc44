//! Starting the monolith as a child process, and talking to it.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use rapport_platform::identity::{Principal, PrincipalKey, Role, TenantId, UserId};
use serde_json::Value;

/// How long the monolith may take to print its ready line.
const START_DEADLINE: Duration = Duration::from_secs(90);

/// A running `rapport run` child process; killed when dropped.
pub(crate) struct Monolith {
    child: Child,
    /// Base URL of the REST API, e.g. `http://127.0.0.1:41234`.
    pub(crate) http: String,
    /// Kafka bootstrap address of the embedded broker.
    pub(crate) kafka: String,
    /// gRPC URL of each service (`contacts` -> `http://127.0.0.1:...`).
    pub(crate) grpc: std::collections::HashMap<String, String>,
    data_dir: PathBuf,
    client: reqwest::Client,
    /// The key the monolith's services check principals with.
    principal_key: PrincipalKey,
}

impl Monolith {
    /// Starts `rapport run` on `data_dir` with free ports and extra
    /// environment, and waits for its ready line.
    pub(crate) fn start(data_dir: &Path, env: &[(&str, &str)]) -> Monolith {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rapport"));
        cmd.arg("run");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Monolith::start_with(cmd, data_dir)
    }

    /// Starts `cmd` (which must end up running `rapport run`: the binary,
    /// or `scripts/run`) on `data_dir` with free ports, and waits for its
    /// ready line. Its stderr goes to `data_dir/rapport.log`.
    pub(crate) fn start_with(mut cmd: Command, data_dir: &Path) -> Monolith {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("rapport.log"))
            .expect("log file");
        cmd.args(["--http-addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("RAPPORT_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd.spawn().expect("spawn rapport");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let started = Instant::now();
        let mut grpc = std::collections::HashMap::new();
        loop {
            let left = START_DEADLINE.saturating_sub(started.elapsed());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with("gRPC services: ") => {
                    for pair in line["gRPC services: ".len()..].split_whitespace() {
                        if let Some((k, v)) = pair.split_once('=') {
                            grpc.insert(k.to_owned(), v.to_owned());
                        }
                    }
                }
                Ok(line) if line.starts_with("Rapport is ready") => {
                    let field = |name: &str| {
                        line.split(name)
                            .nth(1)
                            .and_then(|rest| rest.split_whitespace().next())
                            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
                            .to_owned()
                    };
                    return Monolith {
                        child,
                        http: field("REST API: "),
                        kafka: field("Kafka: "),
                        grpc,
                        data_dir: data_dir.to_owned(),
                        client: reqwest::Client::new(),
                        // Written before the ready line.
                        principal_key: PrincipalKey::load(&data_dir.join("principal.key"))
                            .expect("principal key"),
                    };
                }
                Ok(_) => continue,
                Err(_) => {
                    let _ = child.kill();
                    let log =
                        std::fs::read_to_string(data_dir.join("rapport.log")).unwrap_or_default();
                    panic!("rapport did not become ready; log:\n{log}");
                }
            }
        }
    }

    /// The data directory.
    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// An admin's dev token for `user` of `tenant`, from `rapport dev-token`.
    pub(crate) fn token(&self, tenant: &str, user: &str) -> String {
        self.token_with_roles(tenant, user, &["admin"])
    }

    /// A gRPC request from `user` of `tenant` with `roles`, sealed with the
    /// monolith's principal key as the gateway would seal it: for calls
    /// straight to a service.
    pub(crate) fn sealed_request<T>(
        &self,
        tenant: &str,
        user: &str,
        roles: &[&str],
        message: T,
    ) -> tonic::Request<T> {
        let principal = Principal {
            tenant: TenantId::parse(tenant).unwrap(),
            user: UserId::parse(user).unwrap(),
            roles: roles.iter().map(|r| r.parse::<Role>().unwrap()).collect(),
            teams: Vec::new(),
            scopes: None,
            grants: Vec::new(),
        };
        let (md, ext, message) = principal.request(message).into_parts();
        let mut headers = md.into_headers();
        self.principal_key.seal(&mut headers);
        tonic::Request::from_parts(
            tonic::metadata::MetadataMap::from_headers(headers),
            ext,
            message,
        )
    }

    /// A dev token for `user` of `tenant` with `roles`.
    pub(crate) fn token_with_roles(&self, tenant: &str, user: &str, roles: &[&str]) -> String {
        self.token_in_teams(tenant, user, roles, &[])
    }

    /// A dev token for `user` of `tenant` with `roles`, member of `teams`.
    pub(crate) fn token_in_teams(
        &self,
        tenant: &str,
        user: &str,
        roles: &[&str],
        teams: &[&str],
    ) -> String {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rapport"));
        cmd.args(["dev-token", "--tenant", tenant, "--user", user]);
        for role in roles {
            cmd.args(["--role", role]);
        }
        for team in teams {
            cmd.args(["--team", team]);
        }
        let out = cmd
            .arg("--data-dir")
            .arg(&self.data_dir)
            .output()
            .expect("run dev-token");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Sends a request; returns status, content type and JSON body (or
    /// `Value::Null` when the body is not JSON).
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, String, Value) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.http));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = resp.bytes().await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, ct, json)
    }

    /// POSTs JSON; returns status and body.
    pub(crate) async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let (s, _, v) = self
            .call(
                "POST",
                path,
                Some(token),
                Some(body.to_string().into_bytes()),
            )
            .await;
        (s, v)
    }

    /// GETs; returns status and body.
    pub(crate) async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let (s, _, v) = self.call("GET", path, Some(token), None).await;
        (s, v)
    }

    /// The Prometheus text of `/metrics`.
    pub(crate) async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.http))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of the first metric line starting with `series`.
    pub(crate) async fn metric(&self, series: &str) -> Option<f64> {
        self.metrics()
            .await
            .lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Creates a contact and returns its id.
    pub(crate) async fn create_contact(&self, token: &str, given_name: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/contacts",
                token,
                serde_json::json!({"given_name": given_name, "family_name": "Test"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// `(contacts, interactions)` of the token's tenant.
    pub(crate) async fn summary(&self, token: &str) -> (i64, i64) {
        let (status, body) = self.get("/v1/analytics/summary", token).await;
        assert_eq!(status, 200, "{body}");
        (
            body["contacts"].as_i64().unwrap(),
            body["interactions"].as_i64().unwrap(),
        )
    }

    /// Kills the process with SIGKILL (`kill -9`) and reaps it.
    pub(crate) fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// Sends SIGTERM and waits for the exit status.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        // std only sends SIGKILL, and the workspace forbids `unsafe`, so
        // SIGTERM goes through the `kill` command.
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill command");
        assert!(sent.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Monolith {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it returns `Some`, or panics after `deadline`
/// naming `what`. No fixed sleeps: it returns as soon as the condition holds.
pub(crate) async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A second gateway (`rapport serve gateway`) in front of the monolith's
/// services and API key database, as a second replica would be.
pub(crate) struct GatewayReplica {
    child: std::process::Child,
    /// Its base URL.
    pub(crate) http: String,
    /// A client for it.
    pub(crate) client: reqwest::Client,
}

impl GatewayReplica {
    pub(crate) fn start(app: &Monolith) -> GatewayReplica {
        let dir = app.data_dir();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rapport"));
        cmd.args(["serve", "gateway"]);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("RAPPORT_")) {
            cmd.env_remove(k);
        }
        for service in ["contacts", "deals", "tasks", "comms", "analytics"] {
            cmd.env(
                format!("RAPPORT_PEERS__{}", service.to_uppercase()),
                &app.grpc[service],
            );
        }
        let log = std::fs::File::create(dir.join("replica.log")).unwrap();
        cmd.env("RAPPORT_HTTP_ADDR", "127.0.0.1:0")
            .env(
                "RAPPORT_AUTH__DEV_TOKEN_KEY_FILE",
                dir.join("dev-token.key"),
            )
            .env(
                "RAPPORT_AUTH__PRINCIPAL_KEY_FILE",
                dir.join("principal.key"),
            )
            .env("RAPPORT_STORE__SQLITE__PATH", dir.join("gateway.db"))
            .env("RAPPORT_KAFKA__BOOTSTRAP_SERVERS", &app.kafka)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::from(log));
        let mut child = cmd.spawn().expect("spawn rapport serve gateway");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    if let Some(addr) = line.split("is serving on ").nth(1) {
                        return GatewayReplica {
                            child,
                            http: format!("http://{}", addr.trim()),
                            client: reqwest::Client::new(),
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(dir.join("replica.log")).unwrap_or_default();
                    panic!("the second gateway did not start; log:\n{log}");
                }
            }
        }
    }

    /// The status of a GET with `token`.
    pub(crate) async fn get(&self, path: &str, token: &str) -> u16 {
        self.client
            .get(format!("{}{path}", self.http))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

impl Drop for GatewayReplica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
