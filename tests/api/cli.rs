//! The command line beyond `serve`: the standalone Stripe simulator with faults from flags, and
//! start-up refusals of bad key material.

use crate::support::wait::{until_some, within_blocking};
use std::process::{Command, Stdio};

#[actix_web::test]
async fn stripe_sim_runs_alone_with_faults_from_flags() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pos-backend"))
        .args(["stripe-sim", "--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--fault",
            r#"{"path":"/v1/customers","error_rate":1.0,"error_status":503,"times":1}"#,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let post = || {
        client
            .post(format!("http://127.0.0.1:{port}/v1/customers"))
            .basic_auth("sk_test_cli", Some(""))
            .send()
    };
    // The first request that gets through once the process listens.
    let first = Some(
        until_some(5, "the simulator process listens", || async {
            post().await.ok().map(|response| response.status().as_u16())
        })
        .await,
    );
    let second = post().await.unwrap();
    let body: serde_json::Value = second.json().await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(first, Some(503), "the injected fault answers first");
    assert!(
        body["id"].as_str().unwrap().starts_with("cus_"),
        "then the customer is created: {body}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_pos-backend"))
        .args(["stripe-sim", "--fault", "nope"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--fault nope"));
}

/// Runs `pos-backend serve` with `env` (on top of a clean, offline environment) and expects it to
/// refuse to start: exit status 1 with one `error: …` line, no panic. Returns stderr.
fn refused_start(data_dir: &std::path::Path, env: &[(&str, &std::ffi::OsStr)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pos-backend"));
    command.arg("serve");
    for name in [
        "STRIPE_SECRET_KEY",
        "STRIPE_API_BASE",
        "POS_JWT_SECRET",
        "POS_JWT_PUBLIC_KEY_FILE",
        "POS_ENCRYPTION_KEY",
    ] {
        command.env_remove(name);
    }
    let mut child = command
        .env("DATABASE_URL", data_dir.join("pos.db"))
        .env("POS_DATA_DIR", data_dir)
        .env("POS_LISTEN", "127.0.0.1:0")
        .env("POS_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if within_blocking(30, || child.try_wait().unwrap()).is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server started with {env:?}");
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{env:?}: {stderr}");
    assert!(
        !stderr.contains("panicked") && stderr.lines().any(|l| l.starts_with("error: ")),
        "a plain error, not a panic: {stderr}"
    );
    stderr
}

#[test]
fn bad_key_material_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let public = fixtures.join("jwt-rs256-public.pem");
    let private = fixtures.join("jwt-rs256-private.pem");
    let secret = std::ffi::OsStr::new("cli-test-jwt-secret-0123456789abcdef");

    let both = refused_start(
        dir.path(),
        &[
            ("POS_JWT_SECRET", secret),
            ("POS_JWT_PUBLIC_KEY_FILE", public.as_os_str()),
        ],
    );
    assert!(both.contains("not both"), "{both}");

    let missing = dir.path().join("no-such-key.pem");
    let err = refused_start(
        dir.path(),
        &[("POS_JWT_PUBLIC_KEY_FILE", missing.as_os_str())],
    );
    assert!(err.contains("no-such-key.pem"), "{err}");

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let err = refused_start(
        dir.path(),
        &[("POS_JWT_PUBLIC_KEY_FILE", garbage.as_os_str())],
    );
    assert!(
        err.contains("garbage.pem") && err.contains("not an RSA public key"),
        "{err}"
    );

    let err = refused_start(
        dir.path(),
        &[("POS_JWT_PUBLIC_KEY_FILE", private.as_os_str())],
    );
    assert!(
        err.contains("jwt-rs256-private.pem") && err.contains("private key"),
        "{err}"
    );
    assert!(!err.contains("BEGIN"), "the key is not printed: {err}");

    // Simulator mode without POS_JWT_SECRET: a truncated development secret is not a key.
    std::fs::write(dir.path().join("dev-jwt-secret"), "0123abcd\n").unwrap();
    let err = refused_start(dir.path(), &[]);
    assert!(
        err.contains("dev-jwt-secret") && err.contains("delete the file"),
        "{err}"
    );
    assert!(
        !err.contains("0123abcd"),
        "the secret is not printed: {err}"
    );
}
