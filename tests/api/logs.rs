//! What the running server writes to its log: every request (method, path, status, duration,
//! request id), and never a token, key or client secret, even at debug level.

use crate::support::app::{checked, Backend, PgDatabase};
use crate::support::wait::{eventually, until_some};
use pos_backend::auth::{AccountsClaim, Authenticator, Scope};
use serde_json::{json, Value};
use std::io::Read;
use std::process::Command;
use stripe_client::secret::Secret;

const JWT_SECRET: &str = "log-test-jwt-secret-0123456789abcdef";
const STRIPE_KEY: &str = "sk_test_MerchantKeyNeverInLogs42";
const STRIPE_WEBHOOK_SECRET: &str = "whsec_MerchantEndpointSecretNeverInLogs";

async fn nothing_secret_is_logged(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let pg = match backend {
        Backend::Postgres => Some(
            tokio::task::spawn_blocking(PgDatabase::create)
                .await
                .unwrap(),
        ),
        Backend::Sqlite => None,
    };
    let database_url = match &pg {
        Some(db) => db.url.clone(),
        None => dir.path().join("pos.db").to_string_lossy().into_owned(),
    };
    let encryption_key = "5e".repeat(32);
    let log_path = dir.path().join("server.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_pos-backend"))
        .arg("serve")
        .env_remove("STRIPE_SECRET_KEY")
        .env_remove("STRIPE_API_BASE")
        .env("DATABASE_URL", &database_url)
        .env("POS_DATA_DIR", dir.path())
        .env("POS_LISTEN", "127.0.0.1:0")
        .env("POS_JWT_SECRET", JWT_SECRET)
        .env("POS_ENCRYPTION_KEY", &encryption_key)
        .env("POS_LOG", "debug")
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let read_log = || {
        let mut text = String::new();
        std::fs::File::open(&log_path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    };
    let base = until_some(10, "the server's 'listening on' line", || {
        let log = read_log();
        async move {
            log.split("listening on ")
                .nth(1)
                .and_then(|at| at.split_whitespace().next().map(str::to_string))
        }
    })
    .await;
    let token = Authenticator::hs256(&Secret::new(JWT_SECRET.into()))
        .issue("log-test", AccountsClaim::All("*".into()), &Scope::ALL, 600)
        .unwrap();
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = checked(request).await.unwrap();
            (response.status, response.json())
        }
    };

    let (status, account) = call(reqwest::Method::PUT, "/v1/accounts/acme", Some(json!({
        "default_currency": "usd", "stripe_secret_key": STRIPE_KEY,
        "stripe_webhook_secret": STRIPE_WEBHOOK_SECRET, "webhook_url": "http://127.0.0.1:9/hooks"}))).await;
    assert_eq!(status, 201, "{account}");
    let merchant_webhook_secret = account["webhook_secret"].as_str().unwrap().to_string();
    let (status, intent) = call(
        reqwest::Method::POST,
        "/v1/payment/intent",
        Some(json!({
        "external_account_id": "acme", "amount": "12.99", "external_transaction_id": "log-1",
        "external_customer_id": "cust-log"})),
    )
    .await;
    assert_eq!(status, 200, "{intent}");
    let client_secret = intent["client_secret"].as_str().unwrap().to_string();
    // Cancelled: a payment.canceled event for the merchant's URL, where nothing listens.
    let (status, canceled) = call(
        reqwest::Method::POST,
        "/v1/payment/cancel",
        Some(json!({"payment_id": intent["id"], "external_account_id": "acme"})),
    )
    .await;
    assert_eq!(status, 200, "{canceled}");
    let (status, connection) = call(
        reqwest::Method::POST,
        "/v1/terminal/connection_token",
        Some(json!({"external_account_id": "acme"})),
    )
    .await;
    assert_eq!(status, 200, "{connection}");
    let connection_secret = connection["secret"].as_str().unwrap().to_string();
    // A rejected token is not logged either.
    let forged = format!("{token}x");
    let response = checked(
        client
            .get(format!("{base}/v1/payments?external_account_id=acme"))
            .bearer_auth(&forged),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 401);

    // A request's line is written once its response is sent: wait for the last one's.
    eventually(10, "the rejected request's line", || {
        let log = read_log();
        async move { log.contains("GET /v1/payments 401 ") }
    })
    .await;
    // The failed delivery: one plain line per attempt.
    eventually(10, "the failed delivery's line", || {
        let log = read_log();
        async move { log.contains("merchant webhook ") }
    })
    .await;
    let _ = server.kill();
    let _ = server.wait();
    let log = read_log();
    let failure = log
        .lines()
        .find(|l| l.contains("merchant webhook "))
        .unwrap();
    assert!(
        failure.contains("(payment.canceled) for account acme to http://127.0.0.1:9/hooks: attempt 1 of 12 failed: connection failed: "),
        "{failure}"
    );
    assert!(
        failure.contains("; next attempt at ") && failure.ends_with(" UTC"),
        "{failure}"
    );
    assert!(
        !log.contains("Some(") && !log.contains("None)"),
        "no Debug formatting in the log:\n{log}"
    );
    assert!(
        log.contains("POST /v1/payment/intent 200 "),
        "request lines are logged:\n{log}"
    );
    assert!(
        log.contains("POST /v1/terminal/connection_token 200 "),
        "{log}"
    );
    assert!(log.contains("GET /v1/payments 401 "), "{log}");
    let intent_line = log
        .lines()
        .find(|l| l.contains("POST /v1/payment/intent 200 "))
        .unwrap();
    let request_id = intent_line.rsplit(" id=").next().unwrap_or_default().trim();
    assert!(
        intent_line.contains("ms id=") && request_id.len() >= 8,
        "method, path, status, duration, request id: {intent_line}"
    );
    let secrets = [
        ("the JWT", token.as_str()),
        ("the JWT's signature", token.rsplit('.').next().unwrap()),
        ("the rejected JWT", forged.as_str()),
        ("POS_JWT_SECRET", JWT_SECRET),
        ("POS_ENCRYPTION_KEY", encryption_key.as_str()),
        ("the merchant's Stripe key", STRIPE_KEY),
        (
            "the merchant's Stripe webhook secret",
            STRIPE_WEBHOOK_SECRET,
        ),
        (
            "the merchant webhook secret",
            merchant_webhook_secret.as_str(),
        ),
        ("the intent's client_secret", client_secret.as_str()),
        ("the connection token", connection_secret.as_str()),
    ];
    for (what, secret) in secrets {
        assert!(!log.contains(secret), "{what} is in the log:\n{log}");
    }
    drop(pg);
}

#[actix_web::test]
async fn nothing_secret_is_logged_sqlite() {
    nothing_secret_is_logged(Backend::Sqlite).await
}

#[actix_web::test]
async fn nothing_secret_is_logged_postgres() {
    nothing_secret_is_logged(Backend::Postgres).await
}
