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

/// `pos-backend` with `args` in `dir` (a clean environment but PATH): exit success, stdout,
/// stderr.
fn run_in(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pos-backend"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn each_subcommand_shows_only_its_own_options() {
    let dir = tempfile::tempdir().unwrap();
    let help = |args: &[&str]| {
        let (ok, stdout, stderr) = run_in(dir.path(), args);
        assert!(ok, "{args:?}: {stderr}");
        stdout
    };
    let server_only = [
        "--listen",
        "--workers",
        "--db-pool-size",
        "--webhook-worker",
        "--stripe-webhook-secret",
        "--heartbeat-interval-ms",
        "--jwt-public-key-file",
    ];
    for (args, own, foreign) in [
        (
            &["token", "--help"][..],
            &["--account", "--ttl", "--jwt-secret", "--data-dir"][..],
            &["--database-url", "--stripe-secret-key", "--encryption-key"][..],
        ),
        (
            &["migrate", "--help"],
            &["--data-dir", "--database-url"],
            &["--jwt-secret", "--stripe-secret-key", "--encryption-key"],
        ),
        (
            &["stripe", "setup-webhook", "--help"],
            &["--url", "--stripe-secret-key", "--stripe-api-base"],
            &["--data-dir", "--database-url", "--jwt-secret"],
        ),
        (
            &["reconcile", "--help"],
            &[
                "--stuck-after",
                "--database-url",
                "--stripe-secret-key",
                "--encryption-key",
            ],
            &["--jwt-secret"],
        ),
        (
            &["stripe-sim", "--help"],
            &["--listen", "--fault", "--sim-events-limit"],
            &["--database-url", "--jwt-secret", "--workers"],
        ),
    ] {
        let text = help(args);
        for option in own {
            assert!(text.contains(option), "{args:?} lacks {option}:\n{text}");
        }
        let shown: Vec<&&str> = foreign
            .iter()
            .chain(if args[0] == "stripe-sim" {
                &[][..]
            } else {
                &server_only[..]
            })
            .filter(|o| text.contains(**o))
            .collect();
        assert!(shown.is_empty(), "{args:?} shows {shown:?}:\n{text}");
    }
    let serve = help(&["serve", "--help"]);
    for option in server_only
        .iter()
        .chain(&["--database-url", "--sim-events-limit"])
    {
        assert!(serve.contains(option), "serve lacks {option}");
    }
    // Without a subcommand the server's options are the top level's.
    let top = help(&["--help"]);
    assert!(top.contains("--listen") && top.contains("setup-webhook") || top.contains("stripe"));
}

#[test]
fn migrate_keeps_the_database_in_the_data_dir() {
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("nested");
    let (ok, stdout, stderr) = run_in(
        cwd.path(),
        &["migrate", "--data-dir", data_dir.to_str().unwrap()],
    );
    assert!(ok, "{stdout}{stderr}");
    let db = data_dir.join("pos.db");
    assert!(db.is_file(), "{stdout}");
    assert!(
        !cwd.path().join("data").exists(),
        "nothing in ./data: {stdout}"
    );
    assert!(
        stdout.contains(&format!("database: SQLite file {}", db.display())),
        "{stdout}"
    );
    let applied = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert!(
        stdout.contains(&format!(
            "migrations applied ({applied}): 2026-11-23-000001_init, "
        )),
        "{stdout}"
    );
    let (ok, again, _) = run_in(
        cwd.path(),
        &["migrate", "--data-dir", data_dir.to_str().unwrap()],
    );
    assert!(ok && again.contains("migrations: none pending"), "{again}");
    // An explicit --database-url wins over the data folder.
    let elsewhere = data.path().join("elsewhere.db");
    let (ok, stdout, _) = run_in(
        cwd.path(),
        &[
            "migrate",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--database-url",
            elsewhere.to_str().unwrap(),
        ],
    );
    assert!(ok && elsewhere.is_file(), "{stdout}");
    // The server's development secrets go there too, and its database.
    let (ok, _, stderr) = run_in(
        cwd.path(),
        &[
            "token",
            "--all-accounts",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    assert!(data_dir.join("dev-jwt-secret").is_file());
    assert!(!cwd.path().join("data").exists());
}

#[actix_web::test]
async fn the_start_up_block_names_mode_database_migrations_and_urls() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pos-backend"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .current_dir(dir.path())
        .env_clear()
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let text = until_some(30, "the start-up block", || {
        let text = read();
        async move { text.contains("demo POS page:").then_some(text) }
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let url = text
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{text}"));
    let db = dir.path().join("pos.db");
    for line in [
        format!("  Stripe: SIMULATOR mode (no STRIPE_SECRET_KEY): the embedded simulator at {url}/sim/stripe"),
        format!("  database: SQLite file {}", db.display()),
        "  migrations: ".to_string() + &format!(
            "{} applied now: 2026-11-23-000001_init",
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
                .unwrap()
                .count()
        ),
        format!("  API description: {url}/v1/openapi.json"),
        format!("  demo POS page: {url}/pos"),
    ] {
        assert!(text.contains(&line), "no '{line}' in:\n{text}");
    }
    assert!(url.starts_with("http://127.0.0.1:"), "{text}");
    assert!(!text.contains("Some("), "no Debug formatting: {text}");
    assert!(
        !text.contains("actix_server"),
        "actix's own start-up lines are not shown by default: {text}"
    );
}

#[test]
fn token_refuses_to_sign_for_an_rs256_server() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pos-backend"))
        .args(["token", "--all-accounts", "--data-dir"])
        .arg(dir.path())
        .env_clear()
        .env("POS_JWT_PUBLIC_KEY_FILE", "/nonexistent/public.pem")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("POS_JWT_SECRET"), "{stderr}");
    assert!(!dir.path().join("dev-jwt-secret").exists());
}

#[actix_web::test]
async fn stripe_sim_takes_its_memory_limits_from_flags_and_env() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pos-backend"))
        .args(["stripe-sim", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--sim-request-log-limit", "2"])
        .env_clear()
        .env("STRIPE_SIM_EVENTS_LIMIT", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let create = || {
        client
            .post(format!("{base}/v1/customers"))
            .bearer_auth("sk_test_cli")
            .send()
    };
    until_some(5, "the simulator process listens", || async {
        create().await.ok().filter(|r| r.status() == 200)
    })
    .await;
    for _ in 0..2 {
        assert_eq!(create().await.unwrap().status(), 200);
    }
    let requests: serde_json::Value = client
        .get(format!("{base}/_sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events: serde_json::Value = client
        .get(format!("{base}/v1/events"))
        .bearer_auth("sk_test_cli")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(requests["data"].as_array().unwrap().len(), 2, "{requests}");
    assert_eq!(events["data"].as_array().unwrap().len(), 1, "{events}");
    let refused = Command::new(env!("CARGO_BIN_EXE_pos-backend"))
        .args(["stripe-sim", "--sim-events-limit", "0"])
        .env_clear()
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("STRIPE_SIM_EVENTS_LIMIT"));
}
