//! Test harness: `TestApp::spawn(backend)` starts the real application on port 0 with a fresh
//! SQLite file or a fresh PostgreSQL database, and `both_backends!` runs a test body on each.

use diesel::{Connection, PgConnection, RunQueryDsl};
use pos_backend::app::Application;
use pos_backend::auth::{AccountsClaim, Authenticator, Scope};
use pos_backend::config::{Config, JwtKey, StripeMode};
use pos_backend::secret::Secret;
use serde_json::Value;
use std::time::Duration;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!";

/// The platform's Stripe endpoint secret in tests (besides the simulator's own).
pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_testplatformsecret";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Base URL of the PostgreSQL server used for tests (`TEST_POSTGRES_URL`).
pub fn postgres_server() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The URL of database `name` on the test server, with TLS and GSSAPI encryption off. Over loopback
/// they protect nothing, and with them libpq runs OpenSSL, whose atexit clean-up races the worker
/// threads of the tests' servers still closing their connections when the test binary exits: a
/// SIGSEGV after every test passed (diesel-rs/diesel#3441, sfackler/r2d2#137).
pub fn postgres_url(name: &str) -> String {
    format!(
        "{}/{name}?sslmode=disable&gssencmode=disable",
        postgres_server()
    )
}

/// A fresh, uniquely named database on the test PostgreSQL server; dropped with the value.
pub struct PgDatabase {
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn create() -> PgDatabase {
        let name = format!("pos_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&postgres_url("postgres"))
            .expect("PostgreSQL must be running for the tests (TEST_POSTGRES_URL)");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create test database");
        PgDatabase {
            url: postgres_url(&name),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&postgres_url("postgres")) {
            if let Err(e) = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            {
                eprintln!("could not drop test database {}: {e}", self.name);
            }
        }
    }
}

enum Storage {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] PgDatabase),
    /// Another instance's database: the first `TestApp` owns it.
    Shared,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub backend: Backend,
    pub database_url: String,
    auth: Authenticator,
    _storage: Storage,
}

pub fn test_config(database_url: &str) -> Config {
    Config {
        database_url: database_url.to_string(),
        listen: "127.0.0.1:0".into(),
        jwt: JwtKey::Hs256(Secret::new(JWT_SECRET.into())),
        stripe: StripeMode::Simulator,
        stripe_timeout: Duration::from_secs(5),
        encryption_key: Secret::new([42u8; 32]),
        workers: Some(2),
        db_pool_size: 8,
        stripe_webhook_secrets: vec![Secret::new(STRIPE_WEBHOOK_SECRET.into())],
        delivery: Some(pos_backend::jobs::delivery::DeliveryConfig {
            poll_interval: Duration::from_millis(50),
            backoff_unit: Duration::from_millis(10),
            timeout: Duration::from_secs(2),
            batch: 20,
        }),
        reconcile: None,
        instance: Default::default(),
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_configured(backend, |_| {}).await
    }

    /// Like `spawn`, with the configuration adjusted by `adjust` first.
    pub async fn spawn_configured(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let _ = env_logger::builder().is_test(true).try_init();
        let (storage, database_url) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = dir.path().join("pos.db").to_string_lossy().into_owned();
                (Storage::Sqlite(dir), url)
            }
            Backend::Postgres => {
                let db = tokio::task::spawn_blocking(PgDatabase::create)
                    .await
                    .unwrap();
                let url = db.url.clone();
                (Storage::Postgres(db), url)
            }
        };
        let mut config = test_config(&database_url);
        adjust(&mut config);
        Self::spawn_with(config, backend, storage).await
    }

    async fn spawn_with(config: Config, backend: Backend, storage: Storage) -> TestApp {
        let database_url = config.database_url.clone();
        let app = Application::build(config)
            .await
            .expect("application builds");
        let address = format!("http://{}", app.address());
        actix_web::rt::spawn(app.run_until_stopped());
        TestApp {
            address,
            // Idle connections are dropped well before the server's keep-alive closes them.
            client: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            backend,
            database_url,
            auth: Authenticator::hs256(&Secret::new(JWT_SECRET.into())),
            _storage: storage,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A token for `accounts` (or every account with `["*"]`) with the given space-separated scopes.
    pub fn token(&self, accounts: &[&str], scopes: &str) -> String {
        let claim = if accounts == ["*"] {
            AccountsClaim::All("*".into())
        } else {
            AccountsClaim::List(accounts.iter().map(|a| a.to_string()).collect())
        };
        let scopes: Vec<Scope> = scopes
            .split_whitespace()
            .map(|s| Scope::parse(s).expect("scope"))
            .collect();
        self.auth.issue("test-suite", claim, &scopes, 3600).unwrap()
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method.clone(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        let content_type = content_type.unwrap_or_default().to_string();
        let text = response.text().await.unwrap();
        // OpenAPI hook: every answer must be what /v1/openapi.json documents (tests/support/openapi.rs).
        crate::openapi::check_response(method.as_str(), path, status, &content_type, &text);
        let json =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, json)
    }

    pub async fn put_account(&self, account: &str, body: Value) -> (u16, Value) {
        let token = self.token(&[account], "accounts:admin");
        self.send(
            reqwest::Method::PUT,
            &format!("/v1/accounts/{account}"),
            Some(&token),
            Some(body),
        )
        .await
    }

    /// A second, live instance on the same database (another process of the same deployment),
    /// with its own embedded simulator; the configuration adjusted by `adjust`. It must not outlive
    /// `self`, which owns the database.
    pub async fn another_instance(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = test_config(&self.database_url);
        adjust(&mut config);
        Self::spawn_with(config, self.backend, Storage::Shared).await
    }

    /// A second application on the same database (as after a restart).
    pub async fn restart_on_same_database(&self) -> String {
        let app = Application::build(test_config(&self.database_url))
            .await
            .expect("application builds again");
        let address = format!("http://{}", app.address());
        actix_web::rt::spawn(app.run_until_stopped());
        address
    }
}

/// Runs each listed test body against a fresh app on SQLite and on PostgreSQL, as two tests.
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn body($app: $crate::helpers::TestApp) $body
                #[actix_web::test]
                async fn sqlite() {
                    body($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await).await
                }
                #[actix_web::test]
                async fn postgres() {
                    body($crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await).await
                }
            }
        )*
    };
}

/// Driving the embedded Stripe simulator the way a reader and Stripe's test helpers would.
impl TestApp {
    pub fn sim_url(&self, path: &str) -> String {
        format!("{}/sim/stripe{path}", self.address)
    }

    /// A form POST to the simulator's Stripe API with the platform key.
    pub async fn sim_post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .client
            .post(self.sim_url(path))
            .bearer_auth(pos_backend::app::SIMULATOR_KEY)
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn sim_get(&self, path: &str) -> Value {
        self.client
            .get(self.sim_url(path))
            .bearer_auth(pos_backend::app::SIMULATOR_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The simulator's request log: every Stripe call so far (method, path, params, status, …).
    pub async fn stripe_requests(&self) -> Vec<Value> {
        let log = self.sim_get("/_sim/requests").await;
        log["data"].as_array().cloned().unwrap_or_default()
    }

    /// `(method, path)` of every Stripe call so far.
    pub async fn stripe_calls(&self) -> Vec<(String, String)> {
        self.stripe_requests()
            .await
            .iter()
            .map(|r| {
                (
                    r["method"].as_str().unwrap().to_string(),
                    r["path"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    pub async fn clear_stripe_calls(&self) {
        let response = self
            .client
            .delete(self.sim_url("/_sim/requests"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }

    pub async fn add_fault(&self, rule: Value) {
        let response = self
            .client
            .post(self.sim_url("/_sim/faults"))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "fault accepted");
    }

    /// Registers a simulated WisePOS E reader and returns its id.
    pub async fn register_reader(&self) -> String {
        let (status, reader) = self
            .sim_post(
                "/v1/terminal/readers",
                &[("registration_code", "simulated-wpe"), ("label", "Till 1")],
            )
            .await;
        assert_eq!(status, 200, "{reader}");
        reader["id"].as_str().unwrap().to_string()
    }

    /// Hands the intent to the reader and taps `card` on it, as a customer at the till would.
    /// The till always gives the consent Stripe requires for an intent that saves the card
    /// (`process_config[allow_redisplay]=limited`; harmless for one that does not). Returns the
    /// simulator's answer to the tap.
    pub async fn tap_card(&self, reader: &str, payment_intent: &str, card: &str) -> (u16, Value) {
        let (status, body) = self
            .sim_post(
                &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
                &[
                    ("payment_intent", payment_intent),
                    ("process_config[allow_redisplay]", "limited"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        self.sim_post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
            &[("card_present[number]", card), ("type", "card_present")],
        )
        .await
    }

    /// Creates a merchant account with every scope and returns a token for it.
    pub async fn merchant(&self, account: &str, currency: &str) -> String {
        let (status, body) = self
            .put_account(account, serde_json::json!({"default_currency": currency}))
            .await;
        assert!(status == 201 || status == 200, "{body}");
        self.token(
            &[account],
            "payments:read payments:write cards:read cards:write terminal",
        )
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }
}

/// One request a test merchant endpoint received.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub signature: String,
    pub event_id: String,
    pub body: String,
}

/// A merchant's webhook endpoint for tests: answers 500 to the first `failures` requests, then 200,
/// and keeps every request it got.
pub struct MerchantEndpoint {
    pub url: String,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<Delivered>>>,
}

impl MerchantEndpoint {
    pub fn start(failures: usize) -> MerchantEndpoint {
        use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Delivered>::new()));
        let seen = received.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            let seen = seen.clone();
            App::new().route(
                "/hook",
                web::post().to(move |req: HttpRequest, body: web::Bytes| {
                    let seen = seen.clone();
                    async move {
                        let header = |name: &str| {
                            req.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_string()
                        };
                        let mut all = seen.lock().unwrap();
                        all.push(Delivered {
                            signature: header("Pos-Signature"),
                            event_id: header("Pos-Event-Id"),
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        if all.len() <= failures {
                            HttpResponse::InternalServerError().finish()
                        } else {
                            HttpResponse::Ok().finish()
                        }
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        MerchantEndpoint { url, received }
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

/// Polls `check` every 50 ms for up to `secs` seconds; panics with `what` if it never holds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}
