//! The command line: help, and configuration errors that name the setting.

use std::process::Command;

fn rapport(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rapport"));
    cmd.args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("RAPPORT_")) {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run rapport");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["serve", "--help"],
        &["dev-token", "--help"],
        &["migrate", "--help"],
        &["check-phones", "--help"],
    ] {
        let (ok, out, _) = rapport(args, &[]);
        assert!(ok && out.contains("Usage:"), "{args:?}: {out}");
    }
}

#[test]
fn serve_without_configuration_names_every_missing_setting() {
    let (ok, _, err) = rapport(&["serve", "comms"], &[]);
    assert!(!ok);
    for setting in [
        "kafka.bootstrap_servers",
        "store.sqlite.path",
        "peers.contacts",
    ] {
        assert!(err.contains(setting), "{setting} not named in: {err}");
    }
}

#[test]
fn a_distributed_gateway_with_a_provider_refuses_dev_tokens() {
    let (ok, _, err) = rapport(
        &["serve", "gateway"],
        &[
            (
                "RAPPORT_AUTH__OIDC_ISSUER",
                "https://login.example.com/realms/acme",
            ),
            ("RAPPORT_AUTH__DEV_TOKEN_KEY_FILE", "/etc/rapport/dev.key"),
        ],
    );
    assert!(!ok);
    assert!(err.contains("auth.dev_token_key_file"), "{err}");
    assert!(err.contains("provider only"), "{err}");
}

#[test]
fn contacts_needs_the_services_it_gathers_personal_data_from() {
    let (ok, _, err) = rapport(
        &["serve", "contacts"],
        &[
            ("RAPPORT_KAFKA__BOOTSTRAP_SERVERS", "kafka:9092"),
            ("RAPPORT_STORE__SQLITE__PATH", "/nonexistent/contacts.db"),
            ("RAPPORT_PEERS__DEALS", "http://deals:50051"),
        ],
    );
    assert!(!ok);
    for setting in ["peers.comms", "peers.tasks"] {
        assert!(err.contains(setting), "{setting} not named in: {err}");
    }
    assert!(!err.contains("peers.deals"), "{err}");
}

#[test]
fn invalid_values_and_unknown_keys_are_refused_at_start() {
    let (ok, _, err) = rapport(
        &["serve", "contacts"],
        &[
            ("RAPPORT_KAFKA__BOOTSTRAP_SERVERS", "kafka:9092"),
            ("RAPPORT_STORE__BACKEND", "scylla"),
            ("RAPPORT_STORE__SCYLLA__NODES", "db:9042"),
            ("RAPPORT_STORE__SCYLLA__CONSISTENCY", "most"),
        ],
    );
    assert!(!ok);
    assert!(err.contains("store.scylla.consistency"), "{err}");

    let (ok, _, err) = rapport(&["serve", "contacts"], &[("RAPPORT_KAFKA__BOOTSTRAP", "x")]);
    assert!(!ok);
    assert!(err.contains("bootstrap"), "{err}");

    let (ok, _, err) = rapport(&["serve", "billing"], &[]);
    assert!(!ok);
    assert!(err.contains("valid targets"), "{err}");
}

#[test]
fn dev_tokens_refuse_invalid_identities() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (ok, _, err) = rapport(
        &[
            "dev-token",
            "--tenant",
            "Bad Tenant",
            "--user",
            "u",
            "--role",
            "admin",
            "--data-dir",
            d,
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("invalid tenant id"), "{err}");
    let (ok, _, err) = rapport(
        &[
            "dev-token",
            "--tenant",
            "acme",
            "--user",
            "u",
            "--role",
            "Root!",
            "--data-dir",
            d,
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("invalid role"), "{err}");
}

/// `rapport run` (and so `scripts/run`) on a taken port names the port,
/// what it is for, and how to choose another, instead of a stack trace.
#[test]
fn a_taken_port_is_named_with_the_option_to_choose_another() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for (flag, other, what) in [
        ("--http-addr", "--kafka-addr", "REST API"),
        ("--kafka-addr", "--http-addr", "Kafka broker"),
    ] {
        let (ok, _, err) = rapport(
            &["run", flag, &addr, other, "127.0.0.1:0", "--data-dir", data],
            &[],
        );
        assert!(!ok, "{err}");
        assert!(
            err.contains(&format!("{addr} ({what}) cannot be used")),
            "{err}"
        );
        assert!(err.contains(&format!("scripts/run {flag} ")), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
