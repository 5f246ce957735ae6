//! `pos-backend stripe setup-webhook`, run as a process against a standalone simulator: it
//! registers a platform and a Connect endpoint with exactly the events the dispatcher handles,
//! prints their signing secrets (which then verify the simulator's deliveries), and a second run
//! (or a run over an endpoint registered by hand) updates rather than duplicates.

use crate::support::receiver::{self, Receiver};
use crate::support::sim::{start, Sim};
use crate::support::wait::until_some;
use pos_backend::flows::webhooks::HandledEvent;
use serde_json::Value;
use std::process::Command;

/// The platform key the command and the test use at the simulator.
const KEY: &str = "sk_test_simulator";

/// Runs `pos-backend stripe setup-webhook` with `args` and env (on a clean environment):
/// (exit success, stdout, stderr).
async fn setup_webhook(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pos-backend"));
    command.args(["stripe", "setup-webhook"]).args(args);
    for name in ["STRIPE_SECRET_KEY", "STRIPE_API_BASE", "POS_LOG"] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn run_against(sim: &Sim, url: &str) -> (bool, String, String) {
    setup_webhook(
        &["--url", url],
        &[("STRIPE_SECRET_KEY", KEY), ("STRIPE_API_BASE", &sim.base)],
    )
    .await
}

async fn endpoints(sim: &Sim) -> Vec<Value> {
    let list = sim
        .get("/v1/webhook_endpoints", &[("limit", "100")])
        .await
        .ok();
    list["data"].as_array().unwrap().clone()
}

/// The endpoint of a role, checked to carry exactly the handled events, enabled, in our API
/// version.
fn endpoint<'a>(all: &'a [Value], role: &str, url: &str) -> &'a Value {
    let found: Vec<&Value> = all
        .iter()
        .filter(|e| e["metadata"]["pos_backend_endpoint"] == role)
        .collect();
    assert_eq!(found.len(), 1, "one {role} endpoint: {all:#?}");
    let e = found[0];
    assert_eq!(e["url"], url);
    assert_eq!(e["status"], "enabled");
    let events: Vec<&str> = e["enabled_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(events, HandledEvent::names(), "{role}");
    e
}

/// The value of the printed `STRIPE_WEBHOOK_SECRET=` line.
fn printed_secrets(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("STRIPE_WEBHOOK_SECRET="))
        .unwrap_or_else(|| panic!("no STRIPE_WEBHOOK_SECRET line: {stdout}"))
        .split(',')
        .map(str::to_string)
        .collect()
}

/// Cancels a fresh PaymentIntent (`payment_intent.canceled`, a handled event) as `sim`.
async fn cancel_an_intent(sim: &Sim) -> String {
    let intent = sim
        .post(
            "/v1/payment_intents",
            &[("amount", "500"), ("currency", "usd")],
        )
        .await
        .ok();
    let id = intent["id"].as_str().unwrap().to_string();
    sim.post(&format!("/v1/payment_intents/{id}/cancel"), &[])
        .await
        .ok();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_both_endpoints_once_and_their_secrets_verify_deliveries() {
    let sim = start().await;
    let Receiver { url, received } = receiver::start("/v1/webhooks/stripe", 0).await;

    let (ok, stdout, stderr) = run_against(&sim, &url).await;
    assert!(ok, "{stdout}{stderr}");
    let all = endpoints(&sim).await;
    assert_eq!(all.len(), 2, "{all:#?}");
    let platform = endpoint(&all, "platform", &url)["id"].as_str().unwrap();
    let connect = endpoint(&all, "connect", &url)["id"].as_str().unwrap();
    assert_eq!(all[0]["api_version"], stripe_client::API_VERSION);
    let count = HandledEvent::ALL.len();
    assert!(
        stdout.contains(&format!(
            "platform endpoint {platform}: created, {count} events, {url}"
        )) && stdout.contains(&format!(
            "connect endpoint {connect}: created, {count} events, {url}"
        )),
        "{stdout}"
    );
    let secrets = printed_secrets(&stdout);
    assert_eq!(secrets.len(), 2, "{stdout}");
    assert!(secrets.iter().all(|s| s.starts_with("whsec_")), "{stdout}");
    assert!(
        !stderr.contains("whsec_"),
        "secrets only on stdout: {stderr}"
    );

    // The printed secrets verify what the simulator sends: the platform's own event, signed for
    // the platform endpoint, and a connected account's, signed for the Connect endpoint.
    let own = cancel_an_intent(&sim).await;
    let connected = cancel_an_intent(&sim.as_account("acct_setup")).await;
    let deliveries = until_some(5, "both cancellations delivered", || {
        let got = received.lock().unwrap().clone();
        async move { (got.len() >= 2).then_some(got) }
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    for (signature, body) in &deliveries {
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["type"], "payment_intent.canceled", "{event}");
        let (expected, secret) = match event["account"].as_str() {
            None => (&own, &secrets[0]),
            Some(account) => {
                assert_eq!(account, "acct_setup");
                (&connected, &secrets[1])
            }
        };
        assert_eq!(event["data"]["object"]["id"], expected.as_str());
        stripe_client::webhook::verify(
            body.as_bytes(),
            signature,
            &[secret.as_str()],
            stripe_client::webhook::DEFAULT_TOLERANCE,
            now,
        )
        .unwrap_or_else(|e| panic!("{e}: {event}"));
    }

    // Again: nothing created, the same two brought up to date, secrets unchanged.
    let (ok, again, stderr) = run_against(&sim, &url).await;
    assert!(ok, "{again}{stderr}");
    let after = endpoints(&sim).await;
    assert_eq!(after.len(), 2, "{after:#?}");
    assert_eq!(endpoint(&after, "platform", &url)["id"], platform);
    assert_eq!(endpoint(&after, "connect", &url)["id"], connect);
    assert!(
        again.contains(&format!("platform endpoint {platform}: up to date"))
            && again.contains(&format!("connect endpoint {connect}: up to date"))
            && again.contains("Signing secrets unchanged")
            && again.contains("keep STRIPE_WEBHOOK_SECRET as it is")
            && !again.contains("whsec_"),
        "{again}"
    );
    let creations = sim
        .requests()
        .await
        .into_iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/v1/webhook_endpoints")
        .count();
    assert_eq!(creations, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_registered_by_hand_is_adopted_and_completed() {
    let sim = start().await;
    let url = "https://pos.example/v1/webhooks/stripe";
    let by_hand = sim
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", url),
                ("enabled_events[0]", "payment_intent.succeeded"),
                ("enabled_events[1]", "customer.created"),
            ],
        )
        .await
        .ok();
    let by_hand = by_hand["id"].as_str().unwrap().to_string();
    sim.post(
        &format!("/v1/webhook_endpoints/{by_hand}"),
        &[("disabled", "true")],
    )
    .await
    .ok();
    // Another URL's endpoint is left alone.
    let other = sim
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", "https://elsewhere.example/hook"),
                ("enabled_events[]", "*"),
            ],
        )
        .await
        .ok();

    let (ok, stdout, stderr) = run_against(&sim, url).await;
    assert!(ok, "{stdout}{stderr}");
    let all = endpoints(&sim).await;
    assert_eq!(all.len(), 3, "{all:#?}");
    assert_eq!(endpoint(&all, "platform", url)["id"], by_hand.as_str());
    let connect = endpoint(&all, "connect", url)["id"].as_str().unwrap();
    let untouched = all.iter().find(|e| e["id"] == other["id"]).unwrap();
    assert_eq!(untouched["enabled_events"], serde_json::json!(["*"]));
    let added: Vec<&str> = HandledEvent::names()
        .into_iter()
        .filter(|e| *e != "payment_intent.succeeded")
        .collect();
    assert!(
        stdout.contains(&format!(
            "platform endpoint {by_hand}: updated (adopted (registered by hand); events added: {}; events removed: customer.created; re-enabled)",
            added.join(", ")
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("connect endpoint {connect}: created")),
        "{stdout}"
    );
    // One new secret, to add to the one already configured for the hand-made endpoint.
    let line = stdout
        .lines()
        .find(|l| l.starts_with("STRIPE_WEBHOOK_SECRET="))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.starts_with("STRIPE_WEBHOOK_SECRET=<existing>,whsec_"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_invocations_fail_clearly_and_register_nothing() {
    let sim = start().await;
    let url = "https://pos.example/v1/webhooks/stripe";
    let (ok, stdout, stderr) = setup_webhook(&["--url", url], &[]).await;
    assert!(!ok);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("STRIPE_SECRET_KEY"),
        "{stdout}{stderr}"
    );
    for (bad, says) in [
        ("pos.example/v1/webhooks/stripe", "not an absolute URL"),
        ("ftp://pos.example/v1/webhooks/stripe", "not http(s)"),
    ] {
        let (ok, stdout, stderr) = run_against(&sim, bad).await;
        assert!(!ok, "{bad}");
        assert!(
            stderr.starts_with(&format!("error: --url {bad}: ")) && stderr.contains(says),
            "{bad}: {stdout}{stderr}"
        );
    }
    // A live key takes only https (and is refused before any request).
    let (ok, _, stderr) = setup_webhook(
        &["--url", "http://pos.example/v1/webhooks/stripe"],
        &[
            ("STRIPE_SECRET_KEY", "sk_live_not_a_real_key"),
            ("STRIPE_API_BASE", &sim.base),
        ],
    )
    .await;
    assert!(!ok && stderr.contains("https://"), "{stderr}");
    // Stripe refusing the key: its message, non-zero.
    let (ok, _, stderr) = setup_webhook(
        &["--url", url],
        &[
            ("STRIPE_SECRET_KEY", "sk_live_not_a_real_key"),
            ("STRIPE_API_BASE", &sim.base),
        ],
    )
    .await;
    assert!(
        !ok && stderr.contains("listing webhook endpoints"),
        "{stderr}"
    );
    let (ok, _, stderr) = setup_webhook(&[], &[("STRIPE_SECRET_KEY", KEY)]).await;
    assert!(!ok && stderr.contains("--url"), "{stderr}");
    assert!(endpoints(&sim).await.is_empty());
}

/// The whole path: the command registers the endpoints of a server about to start, the server is
/// configured with exactly the printed setting, and it accepts what Stripe (the simulator) then
/// sends to each endpoint — the platform's event and a connected account's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_configured_with_the_printed_secrets_accepts_both_endpoints_events() {
    let sim = start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1/webhooks/stripe");
    let (ok, stdout, stderr) = run_against(&sim, &url).await;
    assert!(ok, "{stdout}{stderr}");
    let setting = stdout
        .lines()
        .find_map(|l| l.strip_prefix("STRIPE_WEBHOOK_SECRET="))
        .unwrap()
        .to_string();

    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_pos-backend"))
        .arg("serve")
        .env_clear()
        .env("POS_LISTEN", format!("127.0.0.1:{port}"))
        .env("POS_DATA_DIR", dir.path())
        .env("STRIPE_SECRET_KEY", KEY)
        .env("STRIPE_API_BASE", &sim.base)
        .env("STRIPE_WEBHOOK_SECRET", &setting)
        .env("POS_RECONCILE_INTERVAL_SECS", "0")
        .env("POS_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let started = until_some(30, "the server listens", || {
        let text = read();
        async move { text.contains("listening on").then_some(text) }
    })
    .await;
    assert!(
        started.contains(&format!(
            "Stripe: LIVE API mode against {} (test key)",
            sim.base
        )),
        "{started}"
    );
    cancel_an_intent(&sim).await;
    cancel_an_intent(&sim.as_account("acct_e2e")).await;
    let text = until_some(10, "two webhook requests answered", || {
        let text = read();
        async move { (text.matches("POST /v1/webhooks/stripe ").count() >= 2).then_some(text) }
    })
    .await;
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        text.matches("POST /v1/webhooks/stripe 200 ").count(),
        2,
        "both events verified and received:\n{text}"
    );
}
