//! `TestApp`: the real application on port 0 with a fresh SQLite file or a fresh PostgreSQL
//! database, its embedded Stripe simulator, and a client for both; `both_backends!` runs a test
//! body on each backend.
//!
//! Built with `TestApp::builder(backend)`: configuration tweaks, simulator faults from the start,
//! background workers on or off. By default they are off and the test runs their work itself, at
//! the point it wants it done: `deliver_pending` sends every due merchant webhook,
//! `reconcile_with` makes one reconciler pass, and `advance` moves the clock both decide by
//! ("stuck for a second", "the retry due in ten seconds") without waiting. `settle` waits (on a condition, with a
//! deadline) for the simulator's own webhooks to us, then delivers what they caused;
//! `expect_no_pending_deliveries` checks nothing is left behind, so "delivered once" also means
//! "and not again later".

use diesel::{Connection, ExpressionMethods, PgConnection, QueryDsl, RunQueryDsl};
use pos_backend::app::Application;
use pos_backend::auth::{AccountsClaim, Authenticator, Scope};
use pos_backend::clock::Clock;
use pos_backend::config::{Config, JwtKey, StripeMode};
use pos_backend::flows::Services;
use pos_backend::jobs::delivery::{self, DeliveryConfig};
use pos_backend::jobs::reconcile::{self, ReconcileConfig, Report};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use stripe_client::secret::Secret;

pub use super::wait::eventually;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!";

/// The platform's Stripe endpoint secret in tests (besides the simulator's own).
pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_testplatformsecret";

/// The key sealing merchants' secrets in tests (`--encryption-key` of a CLI run: `"2a" * 32`).
pub const ENCRYPTION_KEY: [u8; 32] = [42u8; 32];

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
        // KEEP_TEST_DATABASE=1: left for inspection (e.g. EXPLAIN after a bench's seeding).
        if std::env::var_os("KEEP_TEST_DATABASE").is_some() {
            eprintln!("kept test database {}", self.name);
            return;
        }
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
    /// The clock the application's jobs decide by; `advance` moves it.
    pub clock: Clock,
    services: Arc<Services>,
    delivery: DeliveryConfig,
    webhook_http: reqwest::Client,
    auth: Authenticator,
    /// Checked when the app is dropped: no merchant webhook left pending (`drained_on_drop`).
    check_drained: bool,
    _storage: Storage,
}

/// The configuration every test app starts from: the embedded simulator, two HTTP workers, and
/// no background job (the builder's `workers(true)` turns delivery on).
pub fn test_config(database_url: &str) -> Config {
    Config {
        database_url: database_url.to_string(),
        listen: "127.0.0.1:0".into(),
        jwt: JwtKey::Hs256(Secret::new(JWT_SECRET.into())),
        stripe: StripeMode::Simulator,
        stripe_timeout: Duration::from_secs(5),
        encryption_key: Secret::new(ENCRYPTION_KEY),
        workers: Some(2),
        db_pool_size: 8,
        stripe_webhook_secrets: vec![Secret::new(STRIPE_WEBHOOK_SECRET.into())],
        delivery: None,
        reconcile: None,
        instance: Default::default(),
        sim_limits: Default::default(),
        clock: Clock::system(),
    }
}

/// How the harness delivers merchant webhooks: the production schedule (backoff in seconds), a
/// short timeout, measured against `clock`.
fn delivery_config(clock: &Clock) -> DeliveryConfig {
    DeliveryConfig {
        poll_interval: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
        clock: clock.clone(),
        ..DeliveryConfig::default()
    }
}

/// A change to the test configuration, applied before the app starts.
type Adjustment = Box<dyn FnOnce(&mut Config)>;

/// What a `TestApp` is started with; `TestApp::builder`.
pub struct TestAppBuilder {
    backend: Backend,
    adjustments: Vec<Adjustment>,
    faults: Vec<Value>,
    workers: bool,
    logged: bool,
    drained: bool,
}

impl TestAppBuilder {
    /// Adjusts the configuration (applied in order, after the defaults of `test_config`).
    pub fn configure(mut self, adjust: impl FnOnce(&mut Config) + 'static) -> Self {
        self.adjustments.push(Box::new(adjust));
        self
    }

    /// A simulator fault active from the start (the JSON `POST /_sim/faults` takes).
    pub fn fault(mut self, rule: Value) -> Self {
        self.faults.push(rule);
        self
    }

    /// Runs the merchant-webhook delivery worker in the background (as a deployment does), for
    /// tests of live workers; off by default.
    pub fn workers(mut self, on: bool) -> Self {
        self.workers = on;
        self
    }

    /// Whether the test logger is installed (the bench measures without it).
    pub fn logged(mut self, on: bool) -> Self {
        self.logged = on;
        self
    }

    /// Says the test ends with every merchant webhook delivered: when the app is dropped at the
    /// end of a test that did not already fail, a delivery still pending (one never made, or a
    /// late duplicate waiting) fails it.
    pub fn drained_on_drop(mut self) -> Self {
        self.drained = true;
        self
    }

    pub async fn spawn(self) -> TestApp {
        self.spawn_adjusted(|_| {}).await
    }

    /// `spawn`, with `adjust` applied to the configuration last.
    async fn spawn_adjusted(self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        if self.logged {
            let _ = env_logger::builder().is_test(true).try_init();
        }
        let (storage, database_url) = Storage::create(self.backend).await;
        let mut config = test_config(&database_url);
        for adjustment in self.adjustments {
            adjustment(&mut config);
        }
        adjust(&mut config);
        let mut app = TestApp::start(config, self.backend, storage, self.workers).await;
        app.check_drained = self.drained;
        for rule in self.faults {
            app.add_fault(rule).await;
        }
        app
    }
}

impl Storage {
    async fn create(backend: Backend) -> (Storage, String) {
        match backend {
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
        }
    }
}

impl TestApp {
    /// A builder for an app on `backend`.
    pub fn builder(backend: Backend) -> TestAppBuilder {
        TestAppBuilder {
            backend,
            adjustments: Vec::new(),
            faults: Vec::new(),
            workers: false,
            logged: true,
            drained: false,
        }
    }

    /// An app on `backend` with the test configuration, background workers off.
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::builder(backend).spawn().await
    }

    /// Like `spawn`, with the configuration adjusted by `adjust` first.
    pub async fn spawn_configured(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        Self::builder(backend).spawn_adjusted(adjust).await
    }

    async fn start(
        mut config: Config,
        backend: Backend,
        storage: Storage,
        workers: bool,
    ) -> TestApp {
        let database_url = config.database_url.clone();
        let clock = Clock::adjustable();
        let delivery = delivery_config(&clock);
        if workers {
            config.delivery = Some(DeliveryConfig {
                backoff_unit: Duration::from_millis(10),
                ..delivery.clone()
            });
        }
        if let Some(reconcile) = config.reconcile.as_mut() {
            reconcile.clock = clock.clone();
        }
        config.clock = clock.clone();
        let app = Application::build(config)
            .await
            .expect("application builds");
        let address = format!("http://{}", app.address());
        let services = app.services();
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
            clock,
            services,
            webhook_http: reqwest::Client::builder()
                .timeout(delivery.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            delivery,
            auth: Authenticator::hs256(&Secret::new(JWT_SECRET.into())),
            check_drained: false,
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
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = self.exchange(request).await;
        (answer.status, answer.json())
    }

    /// Sends `request` (built with `client`, to this app) and checks the answer against the
    /// OpenAPI document; panics if it could not be sent or read.
    pub async fn exchange(&self, request: reqwest::RequestBuilder) -> Exchange {
        self.try_exchange(request).await.expect("request sent")
    }

    /// `exchange` for a request that may get no answer (a client timeout, a server killed): the
    /// transport error, or the checked answer.
    pub async fn try_exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> reqwest::Result<Exchange> {
        let (client, request) = request.build_split();
        let request = request.expect("request builds");
        let origin = request.url().origin().ascii_serialization();
        assert_eq!(origin, self.address, "exchange is for requests to this app");
        execute_checked(&client, request).await
    }
}

/// One request to our service and its answer, checked against the OpenAPI document.
#[derive(Debug)]
pub struct Exchange {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Exchange {
    /// The body as JSON; panics (showing it) if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text))
    }

    /// A header's value as text ("" when absent or not text).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// Sends `request` to a server of ours that is not a `TestApp` (a `pos-backend serve` process)
/// and checks the answer against the OpenAPI document; `TestApp::try_exchange` otherwise.
pub async fn checked(request: reqwest::RequestBuilder) -> reqwest::Result<Exchange> {
    let (client, request) = request.build_split();
    execute_checked(&client, request.expect("request builds")).await
}

/// Sends `request` with `client` and checks the answer against the OpenAPI document
/// (`openapi::check_response`), with the method and path of the request as sent: the one place
/// the API suite's requests to our service go through.
async fn execute_checked(
    client: &reqwest::Client,
    request: reqwest::Request,
) -> reqwest::Result<Exchange> {
    let method = request.method().clone();
    let path = match request.url().query() {
        Some(query) => format!("{}?{query}", request.url().path()),
        None => request.url().path().to_string(),
    };
    let response = client.execute(request).await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await?;
    let answer = Exchange {
        status,
        headers,
        text,
    };
    // OpenAPI hook: every answer must be what /v1/openapi.json documents (tests/support/openapi.rs).
    super::openapi::check_response(
        method.as_str(),
        &path,
        status,
        answer.header("content-type"),
        &answer.text,
    );
    Ok(answer)
}

impl TestApp {
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
    /// with its own embedded simulator and clock, background workers off; the configuration
    /// adjusted by `adjust`. It must not outlive `self`, which owns the database.
    pub async fn another_instance(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = test_config(&self.database_url);
        adjust(&mut config);
        Self::start(config, self.backend, Storage::Shared, false).await
    }
}

/// The application's background work, run by the test when it wants it done.
impl TestApp {
    /// Moves the clock the jobs decide by forward by `by` (requests still stamp the real time).
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Sends every merchant webhook due now (by `clock`), batch after batch until none is left
    /// due; returns how many attempts were made. Failed attempts are due again after their
    /// backoff: `advance` past it and call again.
    pub async fn deliver_pending(&self) -> usize {
        let mut attempts = 0;
        loop {
            let n = delivery::deliver_due(&self.services, &self.webhook_http, &self.delivery)
                .await
                .expect("a delivery pass");
            if n == 0 {
                return attempts;
            }
            attempts += n;
        }
    }

    /// Delivers until no merchant webhook is pending: each pass sends what is due, then the clock
    /// moves to the next retry's due time. Goes through the whole backoff schedule (about a day of
    /// the clock, no real wait) for an endpoint that keeps failing. Returns the attempts made.
    pub async fn deliver_all(&self) -> usize {
        use pos_backend::db::schema::webhook_deliveries::dsl;
        let mut attempts = 0;
        loop {
            attempts += self.deliver_pending().await;
            let next = self
                .services
                .db
                .run(|conn| {
                    dsl::webhook_deliveries
                        .filter(dsl::status.eq(pos_backend::flows::events::PENDING))
                        .select(diesel::dsl::min(dsl::next_attempt_at))
                        .first::<Option<chrono::NaiveDateTime>>(conn)
                        .map_err(pos_backend::error::Error::from)
                })
                .await
                .expect("next due delivery");
            let Some(next) = next else {
                return attempts;
            };
            if let Ok(wait) = (next - self.clock.now()).to_std() {
                self.advance(wait);
            }
        }
    }

    /// The application's database pool (e.g. for its hop count, `Db::hops`).
    pub fn db(&self) -> pos_backend::db::Db {
        self.services.db.clone()
    }

    /// Merchant-webhook deliveries still `pending` (due or waiting for a retry), of any account.
    pub async fn pending_deliveries(&self) -> i64 {
        use pos_backend::db::schema::webhook_deliveries::dsl;
        self.services
            .db
            .run(|conn| {
                dsl::webhook_deliveries
                    .filter(dsl::status.eq(pos_backend::flows::events::PENDING))
                    .count()
                    .get_result::<i64>(conn)
                    .map_err(pos_backend::error::Error::from)
            })
            .await
            .expect("count pending deliveries")
    }

    /// Asserts that no merchant webhook is left to deliver, now or later.
    pub async fn expect_no_pending_deliveries(&self) {
        assert_eq!(
            self.pending_deliveries().await,
            0,
            "merchant webhooks left pending"
        );
    }

    /// Waits until the simulator has sent every webhook it owes us (and we answered them), then
    /// delivers every merchant webhook that caused, and checks none is left: after it, nothing
    /// more happens on its own.
    pub async fn settle(&self) {
        self.settle_stripe_webhooks().await;
        self.deliver_pending().await;
        self.expect_no_pending_deliveries().await;
    }

    /// Waits (up to 10 s) until no webhook of the simulator to us is in flight.
    pub async fn settle_stripe_webhooks(&self) {
        eventually(10, "the simulator's webhooks are answered", || async {
            let deliveries = self.sim_get("/_sim/webhook_deliveries").await;
            deliveries["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["delivery"]["status"] != "pending")
        })
        .await;
    }

    /// One reconciler pass with the defaults of `pos-backend reconcile`, adjusted by `adjust`,
    /// against this app's simulator, measured by `clock`.
    pub async fn reconcile_with(&self, adjust: impl FnOnce(&mut ReconcileConfig)) -> Report {
        let mut config = ReconcileConfig {
            clock: self.clock.clone(),
            ..ReconcileConfig::default()
        };
        adjust(&mut config);
        reconcile::run_once(&self.services, &config).await
    }

    /// One reconciler pass as `reconcile_with`, with Stripe at `stripe_api_base` instead (e.g. a
    /// proxy in front of the simulator).
    pub async fn reconcile_against(
        &self,
        stripe_api_base: &str,
        adjust: impl FnOnce(&mut ReconcileConfig),
    ) -> Report {
        let services = Services {
            db: self.services.db.clone(),
            stripe: stripe_client::StripeClient::new(stripe_client::StripeConfig {
                api_base: stripe_api_base.to_string(),
                ..stripe_client::StripeConfig::default()
            })
            .unwrap(),
            platform_key: self.services.platform_key.clone(),
            secrets: pos_backend::crypto::SecretBox::new(&ENCRYPTION_KEY),
            stripe_webhook_secrets: self.services.stripe_webhook_secrets.clone(),
            simulator: false,
            clock: self.clock.clone(),
        };
        let mut config = ReconcileConfig {
            clock: self.clock.clone(),
            ..ReconcileConfig::default()
        };
        adjust(&mut config);
        reconcile::run_once(&services, &config).await
    }
}

/// A reconciler report as `pos-backend reconcile` prints it: whether it would exit 0, and its
/// lines (each change, `failed: …` for each failure, `reconciled: N change(s)`).
pub fn printed(report: &Report) -> (bool, String) {
    let mut out = String::new();
    for change in &report.changes {
        out.push_str(change);
        out.push('\n');
    }
    for failure in &report.failures {
        out.push_str(&format!("failed: {failure}\n"));
    }
    out.push_str(&format!("reconciled: {} change(s)\n", report.changes.len()));
    (report.failures.is_empty(), out)
}

/// Runs each listed test body against a fresh app on SQLite and on PostgreSQL, as two tests.
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn body($app: $crate::support::app::TestApp) $body
                #[actix_web::test]
                async fn sqlite() {
                    body($crate::support::app::TestApp::spawn($crate::support::app::Backend::Sqlite).await).await
                }
                #[actix_web::test]
                async fn postgres() {
                    body($crate::support::app::TestApp::spawn($crate::support::app::Backend::Postgres).await).await
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

/// A payment as our API shows it (`POST /v1/payment/intent`, `GET /v1/payment/{id}`, lists).
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentView {
    /// The PaymentIntent's id.
    pub id: String,
    pub client_secret: Option<String>,
    pub status: String,
    pub amount: String,
    pub amount_capturable: String,
    pub amount_captured: String,
    pub amount_refunded: String,
    pub currency: String,
    pub external_account_id: String,
    pub external_transaction_id: String,
}

/// Typed calls for what most tests do the same way.
impl TestApp {
    /// `POST /v1/payment/intent` for `amount` on `account`, transaction `tx`; asserts a 200.
    pub async fn create_intent(
        &self,
        token: &str,
        account: &str,
        tx: &str,
        amount: &str,
    ) -> PaymentView {
        let (status, body) = self
            .post(
                "/v1/payment/intent",
                token,
                json!({"external_account_id": account, "amount": amount, "external_transaction_id": tx}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body).expect("a payment")
    }

    /// Our stored payment of transaction `tx` on `account` (from the list, which does not ask
    /// Stripe, unlike `GET /v1/payment/{id}`), if listed.
    pub async fn stored_payment(
        &self,
        token: &str,
        account: &str,
        tx: &str,
    ) -> Option<PaymentView> {
        let (status, page) = self
            .get(
                &format!("/v1/payments?external_account_id={account}&limit=100"),
                token,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["external_transaction_id"] == tx)
            .map(|p| serde_json::from_value(p.clone()).expect("a payment"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.check_drained || std::thread::panicking() {
            return;
        }
        use pos_backend::db::schema::webhook_deliveries::dsl;
        let mut conn = self
            .services
            .db
            .get()
            .expect("a connection for the drop check");
        let pending: i64 = dsl::webhook_deliveries
            .filter(dsl::status.eq(pos_backend::flows::events::PENDING))
            .count()
            .get_result(&mut *conn)
            .expect("count pending deliveries");
        assert_eq!(
            pending, 0,
            "merchant webhooks left pending when the test ended"
        );
    }
}
