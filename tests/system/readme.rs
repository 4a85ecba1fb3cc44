//! The README cannot drift from the product: every `sh` block of it runs,
//! as written, against a monolith started with `scripts/run`, except the
//! blocks marked `<!-- readme-test: skip (reason) -->`.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::json;

use crate::harness::Monolith;

/// The address the README's commands use; replaced by the test's own.
const README_API: &str = "http://127.0.0.1:8080";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The target directory this test was built in, so scripts/run and
/// scripts/rapport find the same build.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_rapport"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned()
}

/// The environment of a newcomer's terminal: not the one `cargo test` gives
/// its tests (its `CARGO_*` variables would make the scripts' cargo build
/// again), only what a shell has, and the build's target directory.
fn newcomer_env(cmd: &mut Command) {
    cmd.env_clear();
    for var in [
        "PATH",
        "HOME",
        "USER",
        "LANG",
        "TERM",
        "CARGO_HOME",
        "RUSTUP_HOME",
    ] {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    cmd.env("CARGO_TARGET_DIR", target_dir());
}

/// The README's `sh` blocks: (blocks to run, reasons given for skipped ones).
fn sh_blocks(readme: &str) -> (Vec<String>, Vec<String>) {
    let (mut run, mut skipped) = (Vec::new(), Vec::new());
    let mut skip_reason: Option<String> = None;
    let mut block: Option<String> = None;
    for line in readme.lines() {
        if let Some(b) = block.as_mut() {
            if line.trim_start() == "```" {
                let b = block.take().unwrap();
                match skip_reason.take() {
                    Some(reason) => skipped.push(reason),
                    None => run.push(b),
                }
            } else {
                b.push_str(line);
                b.push('\n');
            }
        } else if line.trim_start().starts_with("```sh") {
            block = Some(String::new());
        } else if let Some(rest) = line.trim().strip_prefix("<!-- readme-test: skip") {
            skip_reason = Some(rest.trim_end_matches("-->").trim().to_owned());
        } else if !line.trim().is_empty() {
            skip_reason = None;
        }
    }
    (run, skipped)
}

#[test]
fn skipped_blocks_say_why() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let (run, skipped) = sh_blocks(&readme);
    assert!(run.len() >= 2, "{run:?}");
    assert!(
        skipped.len() <= 2,
        "only what cannot run here is skipped: {skipped:?}"
    );
    for reason in skipped {
        assert!(reason.starts_with('(') && reason.len() > 10, "{reason:?}");
    }
}

#[tokio::test]
async fn the_readme_walk_through_runs_as_written() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let (blocks, _) = sh_blocks(&readme);

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut run = Command::new("bash");
    run.arg(root.join("scripts/run"));
    newcomer_env(&mut run);
    let app = Monolith::start_with(run, &data);

    // What the blocks assume exists: a CSV file to import, with the custom
    // field its mapping names, and the checkout's scripts beside it.
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::os::unix::fs::symlink(root.join("scripts"), work.join("scripts")).unwrap();
    std::fs::write(
        work.join("people.csv"),
        "given_name;family_name;E-Mail;Branche\nGrace;Hopper;grace@example.com;Navy\n",
    )
    .unwrap();
    let token = app.token("acme", "alice");
    let (s, body) = app
        .post(
            "/v1/custom-fields",
            &token,
            json!({"key": "industry", "object_type": "person", "label": "Industry", "type": "text"}),
        )
        .await;
    assert_eq!(s, 201, "{body}");

    // Any HTTP error fails the script, as it would stop a reader.
    let script = format!(
        "set -eu\ncurl() {{ command curl --fail-with-body \"$@\"; }}\n{}",
        blocks.join("\n").replace(README_API, &app.http)
    );
    let mut script_cmd = Command::new("bash");
    script_cmd.arg("-c").arg(&script).current_dir(&work);
    newcomer_env(&mut script_cmd);
    let out = script_cmd
        .env("RAPPORT_DATA_DIR", &data)
        .env("RAPPORT_API_URL", &app.http)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's commands failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for shown in [
        "\"display_name\":\"Ada Lovelace\"",
        "\"phone\":\"+442079460000\"",
        "\"summary\":\"Asked for an offer\"",
        "\"title\":\"Fleet renewal\"",
        "1 created",
        "rapport_",
    ] {
        assert!(stdout.contains(shown), "no {shown} in:\n{stdout}\n{stderr}");
    }
    // No second build: scripts/rapport ran the binary scripts/run built.
    assert!(!stderr.contains("building rapport first"), "{stderr}");
}
