//! End-to-end latency of the payment hot path, against the real application in-process.
//!
//! `cargo bench --bench latency` starts the application through the test harness (`TestApp`, from
//! `tests/support`) on 127.0.0.1:0 in simulator mode (SQLite in a temporary folder;
//! `BENCH_DATABASE=postgres` for a fresh database on `BENCH_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432`, dropped at the end), with the merchant-webhook delivery
//! worker off and the simulator's webhooks to us off (`BENCH_SIM_WEBHOOKS=1` keeps them), then
//! drives it over loopback HTTP with one keep-alive reqwest client:
//!
//! - sequential rows: `POST /v1/payment/intent` (without, with an existing and with a first-time
//!   customer; replayed), `POST /v1/terminal/locations` (plain and with an `Idempotency-Key`), `POST /v1/payment/capture`,
//!   `GET /v1/payment/{id}`, `GET /v1/payments?limit=20`, each timed interleaved one for one with
//!   the Stripe call(s) it makes sent straight to the simulator (the baseline), so both see the same
//!   machine; p50/p90/p99/max in µs and the overhead (flow − baseline); Stripe calls per request
//!   (the simulator's request log) and SQL statements per request (diesel's instrumentation, in a
//!   separate counted pass so that formatting SQL never lands in a timed section);
//! - the simulator alone at the start and at the end (it must not slow down as it fills up);
//! - concurrent rows (`BENCH_CONCURRENCY` in flight, default 16): req/s, latency, connections opened;
//! - in-process: the Stripe client and the flows called directly (no HTTP in front), the list's JSON
//!   encoding, one `Db::run` hop taken apart, a new connection, a write transaction.
//!
//! Sizes: `BENCH_ITERS` (sequential requests per row, default 300), `BENCH_CONC_REQS` (requests per
//! concurrent row, default 400). Also `BENCH_WORKERS`, `BENCH_DB_POOL_SIZE`, `BENCH_LOG` (an
//! env_logger filter: request logging on). Without `--bench` (as `cargo test --benches` runs it) it
//! makes a few requests per row only, as a smoke test.

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::{Connection, RunQueryDsl};
use futures_util::StreamExt;
use pos_backend::app::SIMULATOR_KEY;
use pos_backend::crypto::SecretBox;
use pos_backend::db::{write_transaction, Backend, Db, DbConnection, DbError};
use pos_backend::flows::Services;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use stripe_client::secret::Secret;

#[path = "../tests/support/mod.rs"]
mod support;
use support::app::ENCRYPTION_KEY;

const ACCOUNT: &str = "bench";
const CARD: &str = "4242424242424242";

// ---------------------------------------------------------------------------------------------
// Database statements, counted through diesel's instrumentation (set before any connection opens).

static COUNTING: AtomicBool = AtomicBool::new(false);
/// Statements by kind: ping (r2d2's `SELECT 1` on checkout), tx (BEGIN/COMMIT/ROLLBACK), read,
/// write, other.
static STATEMENTS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());
static ALL_STATEMENTS: AtomicU64 = AtomicU64::new(0);
/// Database connections opened (always counted): a pool that grows under load pays for it.
static CONNECTS: AtomicU64 = AtomicU64::new(0);

struct StatementCounter;

impl Instrumentation for StatementCounter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        // Counted when established: a `MultiConnection` tries PostgreSQL first, then SQLite.
        if let InstrumentationEvent::FinishEstablishConnection { error: None, .. } = event {
            CONNECTS.fetch_add(1, Relaxed);
        }
        if !COUNTING.load(Relaxed) {
            return;
        }
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            ALL_STATEMENTS.fetch_add(1, Relaxed);
            let sql = query.to_string();
            let sql = sql.trim_start().to_ascii_uppercase();
            let kind = if sql.starts_with("SELECT 1 ") || sql == "SELECT 1" {
                "ping"
            } else if ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"]
                .iter()
                .any(|k| sql.starts_with(k))
            {
                "tx"
            } else if sql.starts_with("SELECT") {
                "read"
            } else if ["INSERT", "UPDATE", "DELETE", "WITH FIRST AS (INSERT"]
                .iter()
                .any(|k| sql.starts_with(k))
            {
                // `db::with_first`: two writes in one statement (PostgreSQL).
                "write"
            } else {
                "other"
            };
            *STATEMENTS.lock().unwrap().entry(kind).or_default() += 1;
        }
    }
}

fn statement_counter() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(StatementCounter))
}

// ---------------------------------------------------------------------------------------------
// Figures

#[derive(Clone, Copy, Default)]
struct Stats {
    p50: u64,
    p90: u64,
    p99: u64,
    max: u64,
    mean: u64,
}

fn stats(samples: &mut [Duration]) -> Stats {
    if samples.is_empty() {
        return Stats::default();
    }
    samples.sort_unstable();
    let us = |d: Duration| d.as_micros() as u64;
    let at = |p: usize| us(support::bench::nearest_rank(samples, p));
    let total: Duration = samples.iter().sum();
    Stats {
        p50: at(50),
        p90: at(90),
        p99: at(99),
        max: us(*samples.last().unwrap()),
        mean: us(total / samples.len() as u32),
    }
}

struct Row {
    name: String,
    seq: Stats,
    /// Database hops (`Db::run`) per request (from the counted pass).
    hops: Option<f64>,
    /// Stripe calls per request (from the counted pass).
    stripe: Option<f64>,
    /// Database statements per request by kind, and in all (from the counted pass).
    db: Option<(BTreeMap<&'static str, f64>, f64)>,
    /// The matching Stripe call(s) straight to the simulator, timed interleaved with this row.
    baseline: Option<(String, Stats)>,
}

struct Concurrent {
    name: String,
    stats: Stats,
    rps: f64,
    /// Database connections the pools opened during the row.
    connects: u64,
}

// ---------------------------------------------------------------------------------------------
// The client side

struct Bench {
    client: reqwest::Client,
    /// The application's pool, for its hop count.
    db: Db,
    base: String,
    token: String,
    iters: usize,
    counted: usize,
    conc: usize,
    conc_reqs: usize,
    reader: String,
    rows: Vec<Row>,
    concurrent: Vec<Concurrent>,
    /// The simulator's own speed at the start and at the end of the run.
    drift: Vec<(String, Stats)>,
}

/// A ready-to-send request: built outside the timed section.
type Prepared = reqwest::Request;

impl Bench {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn sim(&self, path: &str) -> String {
        format!("{}/sim/stripe{path}", self.base)
    }

    fn api_post(&self, path: &str, body: &Value) -> Prepared {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .build()
            .unwrap()
    }

    fn api_get(&self, path: &str) -> Prepared {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .build()
            .unwrap()
    }

    fn stripe_post(&self, path: &str, form: &[(&str, &str)], key: Option<&str>) -> Prepared {
        let mut builder = self
            .client
            .post(self.sim(path))
            .basic_auth(SIMULATOR_KEY, Some(""))
            .header("stripe-version", stripe_client::API_VERSION)
            .form(form);
        if let Some(key) = key {
            builder = builder.header("idempotency-key", key);
        }
        builder.build().unwrap()
    }

    fn stripe_get(&self, path: &str) -> Prepared {
        self.client
            .get(self.sim(path))
            .basic_auth(SIMULATOR_KEY, Some(""))
            .header("stripe-version", stripe_client::API_VERSION)
            .build()
            .unwrap()
    }

    /// Sends one request; panics unless it answers 200. Returns the elapsed time (sending to the
    /// last byte of the body) and the body.
    async fn send(client: &reqwest::Client, request: Prepared) -> (Duration, Vec<u8>) {
        let what = format!("{} {}", request.method(), request.url().path());
        let start = Instant::now();
        let response = client.execute(request).await.expect("request sent");
        let status = response.status();
        let body = response.bytes().await.expect("body read");
        let elapsed = start.elapsed();
        assert_eq!(
            status.as_u16(),
            200,
            "{what}: {}",
            String::from_utf8_lossy(&body)
        );
        (elapsed, body.to_vec())
    }

    async fn json(&self, request: Prepared) -> Value {
        let (_, body) = Self::send(&self.client, request).await;
        serde_json::from_slice(&body).unwrap()
    }

    async fn clear_stripe_log(&self) {
        let r = self
            .client
            .delete(self.sim("/_sim/requests"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    async fn stripe_log_len(&self) -> usize {
        let log: Value = self
            .client
            .get(self.sim("/_sim/requests"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        log["data"].as_array().unwrap().len()
    }

    /// Times `timed` sequentially — interleaved one for one with `baseline` (the matching Stripe
    /// call(s) straight to the simulator, several requests timed as one) so both see the same
    /// machine — then sends `counted` with the statement counter on and the simulator's request
    /// log cleared before, and records the row.
    async fn row(
        &mut self,
        name: &str,
        timed: Vec<Prepared>,
        baseline: Option<(&str, Vec<Vec<Prepared>>)>,
        counted: Vec<Prepared>,
    ) {
        let mut samples = Vec::with_capacity(timed.len());
        let mut base_samples = Vec::with_capacity(timed.len());
        let (base_name, ops) = match baseline {
            Some((n, ops)) => (Some(n.to_string()), ops),
            None => (None, Vec::new()),
        };
        let mut ops = ops.into_iter();
        for request in timed {
            if let Some(op) = ops.next() {
                let mut total = Duration::ZERO;
                for r in op {
                    total += Self::send(&self.client, r).await.0;
                }
                base_samples.push(total);
            }
            samples.push(Self::send(&self.client, request).await.0);
        }
        let seq = stats(&mut samples);
        let (mut stripe, mut db, mut hops) = (None, None, None);
        if !counted.is_empty() {
            let n = counted.len() as f64;
            self.clear_stripe_log().await;
            STATEMENTS.lock().unwrap().clear();
            ALL_STATEMENTS.store(0, Relaxed);
            let hops_before = self.db.hops();
            COUNTING.store(true, Relaxed);
            for request in counted {
                Self::send(&self.client, request).await;
            }
            COUNTING.store(false, Relaxed);
            hops = Some((self.db.hops() - hops_before) as f64 / n);
            stripe = Some(self.stripe_log_len().await as f64 / n);
            let kinds = STATEMENTS
                .lock()
                .unwrap()
                .iter()
                .map(|(k, v)| (*k, *v as f64 / n))
                .collect();
            db = Some((kinds, ALL_STATEMENTS.load(Relaxed) as f64 / n));
        }
        self.rows.push(Row {
            name: name.to_string(),
            seq,
            hops,
            stripe,
            db,
            baseline: base_name.map(|n| (n, stats(&mut base_samples))),
        });
    }

    /// Sends `requests` with `self.conc` in flight; records throughput and latency under load.
    async fn concurrent(&mut self, name: &str, requests: Vec<Prepared>) {
        let client = &self.client;
        let n = requests.len();
        let connects = CONNECTS.load(Relaxed);
        let start = Instant::now();
        let mut samples: Vec<Duration> = futures_util::stream::iter(requests)
            .map(|r| async move { Self::send(client, r).await.0 })
            .buffer_unordered(self.conc)
            .collect()
            .await;
        let wall = start.elapsed();
        self.concurrent.push(Concurrent {
            name: name.to_string(),
            stats: stats(&mut samples),
            rps: n as f64 / wall.as_secs_f64(),
            connects: CONNECTS.load(Relaxed) - connects,
        });
    }

    /// The simulator alone: `POST /v1/payment_intents` back to back (it must not slow down as it
    /// accumulates objects and idempotency keys, or later rows would pay for it).
    async fn sim_speed(&mut self, when: &str) {
        let requests: Vec<Prepared> = (0..self.iters).map(|_| self.stripe_create(None)).collect();
        let mut samples = Vec::with_capacity(requests.len());
        for r in requests {
            samples.push(Self::send(&self.client, r).await.0);
        }
        self.drift.push((when.to_string(), stats(&mut samples)));
    }

    // ---- requests -----------------------------------------------------------------------------

    fn intent_body(&self, tx: &str, customer: Option<&str>) -> Value {
        let mut body = json!({
            "external_account_id": ACCOUNT,
            "amount": "12.99",
            "payment_method_types": "card_present",
            "capture_method": "manual",
            "external_transaction_id": tx,
        });
        if let Some(c) = customer {
            body["external_customer_id"] = json!(c);
        }
        body
    }

    fn new_tx() -> String {
        format!("order-{}", uuid::Uuid::new_v4().simple())
    }

    /// The PaymentIntent the flow creates, sent straight to the simulator (same parameters, a new
    /// Idempotency-Key each time).
    fn stripe_create(&self, customer: Option<&str>) -> Prepared {
        let tx = Self::new_tx();
        let mut form = vec![
            ("amount", "1299"),
            ("currency", "usd"),
            ("allowed_payment_method_types[0]", "card_present"),
            ("capture_method", "manual"),
            ("metadata[external_account_id]", ACCOUNT),
            ("metadata[external_transaction_id]", tx.as_str()),
        ];
        if let Some(c) = customer {
            form.extend([
                ("customer", c),
                ("setup_future_usage", "off_session"),
                ("metadata[external_customer_id]", "customer-bench"),
            ]);
        }
        let key = format!("pi:{tx}");
        self.stripe_post("/v1/payment_intents", &form, Some(&key))
    }

    /// Hands the intent to the reader and taps a Visa: `requires_capture` afterwards.
    async fn tap(&self, intent: &str) {
        self.tap_with(intent, &[]).await
    }

    /// [`Bench::tap`] with `process_config` parameters (an intent set up to save its card needs
    /// the customer's consent, `allow_redisplay`).
    async fn tap_with(&self, intent: &str, config: &[(&str, &str)]) {
        let reader = self.reader.clone();
        let mut form = vec![("payment_intent", intent)];
        form.extend_from_slice(config);
        self.json(self.stripe_post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &form,
            Some(&format!("process-{}", uuid::Uuid::new_v4())),
        ))
        .await;
        let tapped = self
            .json(self.stripe_post(
                &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
                &[("card_present[number]", CARD), ("type", "card_present")],
                Some(&format!("tap-{}", uuid::Uuid::new_v4())),
            ))
            .await;
        assert_eq!(tapped["action"]["status"], "succeeded", "{tapped}");
    }

    /// `n` authorised intents created by the backend (ids).
    async fn authorised_payments(&self, n: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let body = self.intent_body(&Self::new_tx(), None);
            let created = self.json(self.api_post("/v1/payment/intent", &body)).await;
            let id = created["id"].as_str().unwrap().to_string();
            self.tap(&id).await;
            ids.push(id);
        }
        ids
    }

    /// `n` authorised intents created straight at the simulator (ids).
    async fn authorised_stripe_intents(&self, n: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let created = self.json(self.stripe_create(None)).await;
            let id = created["id"].as_str().unwrap().to_string();
            self.tap(&id).await;
            ids.push(id);
        }
        ids
    }

    fn capture_request(&self, id: &str) -> Prepared {
        self.api_post(
            "/v1/payment/capture",
            &json!({"payment_id": id, "external_account_id": ACCOUNT}),
        )
    }

    fn stripe_capture(&self, id: &str) -> Prepared {
        self.stripe_post(
            &format!("/v1/payment_intents/{id}/capture"),
            &[],
            Some(&format!("capture:{id}:{}", uuid::Uuid::new_v4())),
        )
    }

    /// `n` sales through the backend, each for a first-time customer, captured: (payment id,
    /// customer).
    async fn captured_sales(&self, n: usize) -> Vec<(String, String)> {
        let mut sales = Vec::with_capacity(n);
        for _ in 0..n {
            let customer = format!("card-bench-{}", uuid::Uuid::new_v4().simple());
            let body = self.intent_body(&Self::new_tx(), Some(&customer));
            let created = self.json(self.api_post("/v1/payment/intent", &body)).await;
            let id = created["id"].as_str().unwrap().to_string();
            self.tap_with(&id, &[("process_config[allow_redisplay]", "limited")])
                .await;
            let captured = self.json(self.capture_request(&id)).await;
            assert_eq!(captured["status"], "succeeded", "{captured}");
            sales.push((id, customer));
        }
        sales
    }

    fn card_request(&self, id: &str, customer: &str) -> Prepared {
        self.api_post(
            "/v1/customer/card",
            &json!({"payment_id": id, "external_customer_id": customer,
                    "external_account_id": ACCOUNT}),
        )
    }

    fn get_request(&self, id: &str) -> Prepared {
        self.api_get(&format!("/v1/payment/{id}?external_account_id={ACCOUNT}"))
    }

    fn list_request(&self) -> Prepared {
        self.api_get(&format!(
            "/v1/payments?external_account_id={ACCOUNT}&limit=20"
        ))
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    diesel::connection::set_default_instrumentation(statement_counter)
        .expect("diesel instrumentation");
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        // To measure the cost of request logging: e.g. BENCH_LOG=info 2>/dev/null.
        env_logger::Builder::new()
            .parse_filters(&filter)
            .format_timestamp_millis()
            .init();
    }
    let postgres = match std::env::var("BENCH_DATABASE").as_deref() {
        Ok("postgres") | Ok("postgresql") | Ok("pg") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("BENCH_DATABASE must be sqlite or postgres, not {other}"),
    };
    if let Ok(server) = std::env::var("BENCH_POSTGRES_URL") {
        // The harness creates (and drops) its database on TEST_POSTGRES_URL; still one thread.
        std::env::set_var("TEST_POSTGRES_URL", server);
    }
    actix_web::rt::System::new().block_on(run(full, postgres));
}

async fn run(full: bool, postgres: bool) {
    let (iters, counted, conc, conc_reqs) = if full {
        (
            env_usize("BENCH_ITERS", 300),
            20,
            env_usize("BENCH_CONCURRENCY", 16),
            env_usize("BENCH_CONC_REQS", 400),
        )
    } else {
        (3, 2, 2, 4)
    };
    let workers = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok());
    let pool_size = env_usize("BENCH_DB_POOL_SIZE", 10) as u32;
    let backend = if postgres {
        support::app::Backend::Postgres
    } else {
        support::app::Backend::Sqlite
    };
    // The shared test harness's app (its database dropped with it), background workers off.
    let app = support::bench::app(backend, workers, pool_size).await;
    let database_url = app.database_url.clone();
    let base = app.address.clone();
    let token = app.token(
        &[ACCOUNT],
        "payments:read payments:write cards:write terminal accounts:admin",
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let mut b = Bench {
        client,
        db: app.db(),
        base,
        token,
        iters,
        counted,
        conc,
        conc_reqs,
        reader: String::new(),
        rows: Vec::new(),
        concurrent: Vec::new(),
        drift: Vec::new(),
    };
    let sim_webhooks = std::env::var("BENCH_SIM_WEBHOOKS").is_ok_and(|v| v == "1");
    if !sim_webhooks {
        let r = b
            .client
            .post(b.sim("/_sim/webhook_endpoint"))
            .json(&json!({"url": null}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "simulator webhooks off");
    }
    let r = b
        .client
        .put(b.url(&format!("/v1/accounts/{ACCOUNT}")))
        .bearer_auth(&b.token)
        .json(&json!({"default_currency": "usd", "webhook_url": "http://127.0.0.1:9/pos-events"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "account created");
    b.reader = b
        .json(b.stripe_post(
            "/v1/terminal/readers",
            &[("registration_code", "simulated-wpe"), ("label", "Bench")],
            Some("reader-bench"),
        ))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Customers used by the "with customer" rows: created (at Stripe and in our database) here.
    let customers: Vec<String> = (0..10).map(|i| format!("customer-bench-{i}")).collect();
    let mut stripe_customers = Vec::new();
    for c in &customers {
        let created = b
            .json(b.api_post(
                "/v1/payment/intent",
                &b.intent_body(&Bench::new_tx(), Some(c)),
            ))
            .await;
        stripe_customers.push(created["customer_id"].as_str().unwrap().to_string());
    }

    // Warm-up: connections (HTTP keep-alive, the backend's pool to the simulator, the database
    // pool), prepared statement caches, allocator.
    let warm = if full { 100 } else { 2 };
    for i in 0..warm {
        b.json(b.stripe_create(None)).await;
        let body = b.intent_body(&Bench::new_tx(), Some(&customers[i % customers.len()]));
        b.json(b.api_post("/v1/payment/intent", &body)).await;
        b.json(b.list_request()).await;
    }
    let (n, k) = (b.iters, b.counted);
    b.sim_speed("at the start").await;

    // ---- sequential: each flow interleaved with the Stripe call(s) it makes -------------------
    let one = |r: Prepared| vec![r];
    let bodies: Vec<Value> = (0..n + k)
        .map(|_| b.intent_body(&Bench::new_tx(), None))
        .collect();
    let timed = bodies[..n]
        .iter()
        .map(|body| b.api_post("/v1/payment/intent", body))
        .collect();
    let base = (0..n).map(|_| one(b.stripe_create(None))).collect();
    let counted_reqs = bodies[n..]
        .iter()
        .map(|body| b.api_post("/v1/payment/intent", body))
        .collect();
    b.row(
        "POST /v1/payment/intent",
        timed,
        Some(("POST /v1/payment_intents", base)),
        counted_reqs,
    )
    .await;

    let with_customer = |b: &Bench, i: usize| {
        let body = b.intent_body(&Bench::new_tx(), Some(&customers[i % customers.len()]));
        b.api_post("/v1/payment/intent", &body)
    };
    let timed = (0..n).map(|i| with_customer(&b, i)).collect();
    let base = (0..n)
        .map(|i| one(b.stripe_create(Some(&stripe_customers[i % customers.len()]))))
        .collect();
    let counted_reqs = (0..k).map(|i| with_customer(&b, i)).collect();
    b.row(
        "POST /v1/payment/intent +customer",
        timed,
        Some(("POST /v1/payment_intents customer=", base)),
        counted_reqs,
    )
    .await;

    // A first-time customer: the Stripe customer is created first.
    let new_customer = |b: &Bench| {
        let customer = format!("new-{}", uuid::Uuid::new_v4().simple());
        b.api_post(
            "/v1/payment/intent",
            &b.intent_body(&Bench::new_tx(), Some(&customer)),
        )
    };
    let timed = (0..n).map(|_| new_customer(&b)).collect();
    let base = (0..n)
        .map(|_| {
            let key = format!("cus:{}", uuid::Uuid::new_v4());
            vec![
                b.stripe_post(
                    "/v1/customers",
                    &[
                        ("metadata[external_customer_id]", "c"),
                        ("metadata[external_account_id]", ACCOUNT),
                    ],
                    Some(&key),
                ),
                b.stripe_create(None),
            ]
        })
        .collect();
    let counted_reqs = (0..k).map(|_| new_customer(&b)).collect();
    b.row(
        "POST /v1/payment/intent +new customer",
        timed,
        Some(("POST /v1/customers + /v1/payment_intents", base)),
        counted_reqs,
    )
    .await;

    let retrieve_ids = b.authorised_stripe_intents(10).await;
    let retrieve = |b: &Bench, i: usize| {
        vec![b.stripe_get(&format!("/v1/payment_intents/{}", retrieve_ids[i % 10]))]
    };
    let timed = (0..n)
        .map(|i| b.api_post("/v1/payment/intent", &bodies[i % n]))
        .collect();
    let base = (0..n).map(|i| retrieve(&b, i)).collect();
    let counted_reqs = (0..k)
        .map(|i| b.api_post("/v1/payment/intent", &bodies[i % n]))
        .collect();
    b.row(
        "POST /v1/payment/intent (replay)",
        timed,
        Some(("GET /v1/payment_intents/{id}", base)),
        counted_reqs,
    )
    .await;

    let to_capture = b.authorised_payments(n + k).await;
    let stripe_to_capture = b.authorised_stripe_intents(n).await;
    let timed = to_capture[..n]
        .iter()
        .map(|id| b.capture_request(id))
        .collect();
    let base = stripe_to_capture
        .iter()
        .map(|id| one(b.stripe_capture(id)))
        .collect();
    let counted_reqs = to_capture[n..]
        .iter()
        .map(|id| b.capture_request(id))
        .collect();
    b.row(
        "POST /v1/payment/capture",
        timed,
        Some(("POST /v1/payment_intents/{id}/capture", base)),
        counted_reqs,
    )
    .await;

    // Captured payments: one GET each first, so the rows below are the steady state (no write).
    for id in to_capture.iter().take(10) {
        b.json(b.get_request(id)).await;
    }
    let timed = (0..n).map(|i| b.get_request(&to_capture[i % 10])).collect();
    let base = (0..n).map(|i| retrieve(&b, i)).collect();
    let counted_reqs = (0..k).map(|i| b.get_request(&to_capture[i % 10])).collect();
    b.row(
        "GET /v1/payment/{id}",
        timed,
        Some(("GET /v1/payment_intents/{id}", base)),
        counted_reqs,
    )
    .await;

    let timed = (0..n).map(|_| b.list_request()).collect();
    let counted_reqs = (0..k).map(|_| b.list_request()).collect();
    b.row("GET /v1/payments?limit=20", timed, None, counted_reqs)
        .await;

    // With our own Idempotency-Key: the middleware's reservation, completion and sealing, on a
    // route whose answers it stores (it never stores an intent's, which carries a client secret).
    let location = |b: &Bench, key: bool| {
        let body = json!({"external_account_id": ACCOUNT, "display_name": "Bench St",
            "address": {"line1": "1 Bench St", "city": "Springfield", "postal_code": "12345", "country": "US"}});
        let mut r = b.api_post("/v1/terminal/locations", &body);
        if key {
            r.headers_mut().insert(
                "idempotency-key",
                uuid::Uuid::new_v4().simple().to_string().parse().unwrap(),
            );
        }
        r
    };
    let stripe_location = |b: &Bench| {
        b.stripe_post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Bench St"),
                ("address[line1]", "1 Bench St"),
                ("address[city]", "Springfield"),
                ("address[postal_code]", "12345"),
                ("address[country]", "US"),
            ],
            None,
        )
    };
    for (label, key) in [
        ("POST /v1/terminal/locations", false),
        ("POST /v1/terminal/locations +Idempotency-Key", true),
    ] {
        let timed = (0..n).map(|_| location(&b, key)).collect();
        let base = (0..n).map(|_| one(stripe_location(&b))).collect();
        let counted_reqs = (0..k).map(|_| location(&b, key)).collect();
        b.row(
            label,
            timed,
            Some(("POST /v1/terminal/locations", base)),
            counted_reqs,
        )
        .await;
    }

    // Saving the card of a captured sale, each for a first-time customer: the merchant has a
    // webhook endpoint (the `card.saved` event queued with the card), then none (the card inserted
    // by one statement). The Stripe call is the intent with its latest charge.
    for (label, webhook_url) in [
        (
            "POST /v1/customer/card",
            json!("http://127.0.0.1:9/pos-events"),
        ),
        ("POST /v1/customer/card (no webhook endpoint)", Value::Null),
    ] {
        let r = b
            .client
            .put(b.url(&format!("/v1/accounts/{ACCOUNT}")))
            .bearer_auth(&b.token)
            .json(&json!({ "webhook_url": webhook_url }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "webhook endpoint set");
        let sales = b.captured_sales(n + k).await;
        let timed = sales[..n]
            .iter()
            .map(|(id, customer)| b.card_request(id, customer))
            .collect();
        let base = sales[..n]
            .iter()
            .map(|(id, _)| {
                one(b.stripe_get(&format!("/v1/payment_intents/{id}?expand[]=latest_charge")))
            })
            .collect();
        let counted_reqs = sales[n..]
            .iter()
            .map(|(id, customer)| b.card_request(id, customer))
            .collect();
        b.row(
            label,
            timed,
            Some(("GET /v1/payment_intents/{id}?expand[]=latest_charge", base)),
            counted_reqs,
        )
        .await;
    }

    // ---- concurrent ---------------------------------------------------------------------------
    let m = b.conc_reqs;
    let requests = (0..m).map(|_| b.stripe_create(None)).collect();
    b.concurrent("stripe POST /v1/payment_intents", requests)
        .await;
    let requests = (0..m)
        .map(|_| b.api_post("/v1/payment/intent", &b.intent_body(&Bench::new_tx(), None)))
        .collect();
    b.concurrent("POST /v1/payment/intent", requests).await;
    let requests = (0..m)
        .map(|i| {
            let body = b.intent_body(&Bench::new_tx(), Some(&customers[i % 10]));
            b.api_post("/v1/payment/intent", &body)
        })
        .collect();
    b.concurrent("POST /v1/payment/intent +customer", requests)
        .await;
    let requests = (0..m)
        .map(|i| b.api_post("/v1/payment/intent", &bodies[i % n]))
        .collect();
    b.concurrent("POST /v1/payment/intent (replay)", requests)
        .await;
    let to_capture = b.authorised_payments(m).await;
    let requests = to_capture.iter().map(|id| b.capture_request(id)).collect();
    b.concurrent("POST /v1/payment/capture", requests).await;
    let requests = (0..m).map(|i| b.get_request(&to_capture[i % 10])).collect();
    b.concurrent("GET /v1/payment/{id}", requests).await;
    let requests = (0..m).map(|_| b.list_request()).collect();
    b.concurrent("GET /v1/payments?limit=20", requests).await;

    b.sim_speed("at the end").await;

    // ---- the same flows called in-process (no HTTP in front): where the overhead sits ----------
    let direct = in_process(&b, &database_url).await;

    // ---- one Db::run hop, taken apart ---------------------------------------------------------
    let hops = hop_costs(&database_url, if full { 2000 } else { 5 }).await;

    report(
        &b,
        postgres,
        workers,
        pool_size,
        sim_webhooks,
        &direct,
        &hops,
    );
    check_bars(&b, postgres);
}

/// The most SQL statements (SQLite, PostgreSQL) and database hops one request of each sequential
/// row may make: the bar documented in docs/performance.md ("Statements and hops per request").
/// Counts are deterministic (the same requests run the same statements), so the bench fails when a
/// request makes more, smoke run included.
const BARS: [(&str, u32, u32, u32); 11] = [
    ("POST /v1/payment/intent", 10, 8, 2),
    ("POST /v1/payment/intent +customer", 10, 8, 2),
    ("POST /v1/payment/intent +new customer", 11, 9, 3),
    ("POST /v1/payment/intent (replay)", 1, 1, 1),
    ("POST /v1/payment/capture", 8, 7, 2),
    ("GET /v1/payment/{id}", 4, 4, 2),
    ("GET /v1/payments?limit=20", 2, 2, 1),
    ("POST /v1/terminal/locations", 2, 2, 2),
    ("POST /v1/terminal/locations +Idempotency-Key", 7, 7, 4),
    ("POST /v1/customer/card", 8, 8, 2),
    ("POST /v1/customer/card (no webhook endpoint)", 2, 2, 2),
];

/// Fails the run when a request made more statements or hops than its bar.
fn check_bars(b: &Bench, postgres: bool) {
    let mut over = Vec::new();
    for (name, sqlite, pg, hops) in BARS {
        let row = b
            .rows
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no row {name}"));
        let statements = row.db.as_ref().map_or(0.0, |(_, all)| *all);
        let bar = if postgres { pg } else { sqlite };
        if statements > f64::from(bar) {
            over.push(format!("{name}: {statements} statements (bar {bar})"));
        }
        let made = row.hops.unwrap_or_default();
        if made > f64::from(hops) {
            over.push(format!("{name}: {made} database hops (bar {hops})"));
        }
    }
    assert!(
        over.is_empty(),
        "over the bar of docs/performance.md:\n{}",
        over.join("\n")
    );
    println!("statements and hops per request: within the bars of docs/performance.md");
}

/// Times each closure once per round, round after round, so that every variant sees the same
/// machine (the bench machine is shared); returns one `Stats` per closure.
macro_rules! interleaved {
    ($rounds:expr, $($name:expr => $body:expr),+ $(,)?) => {{
        let names = [$($name),+];
        let mut samples: Vec<Vec<Duration>> = names.iter().map(|_| Vec::new()).collect();
        for _ in 0..$rounds {
            let mut i = 0;
            $(
                let t = Instant::now();
                $body;
                samples[i].push(t.elapsed());
                #[allow(unused_assignments)]
                {
                    i += 1;
                }
            )+
        }
        names
            .into_iter()
            .zip(samples.iter_mut())
            .map(|(name, s)| (name, stats(s)))
            .collect::<Vec<(&'static str, Stats)>>()
    }};
}

/// The backend's own Stripe client and the payment flows, called from the bench thread with a
/// `Services` of their own (same database, same simulator): the flows' cost without HTTP in front,
/// next to the Stripe call they make. Also the list's JSON encoding, as the handler does it.
async fn in_process(b: &Bench, url: &str) -> Vec<(&'static str, Stats)> {
    use pos_backend::api::payments::PaymentResponse;
    use pos_backend::flows::payments::{self, NewIntent, PaymentFilter};
    use pos_backend::money::DecimalText;
    use stripe_client::{
        CaptureMethod, CreatePaymentIntent, Metadata, StripeAccount, StripeClient, StripeConfig,
    };
    let services = Services {
        db: Db::connect(url, 10).expect("pool"),
        stripe: StripeClient::new(StripeConfig {
            api_base: b.sim(""),
            ..StripeConfig::default()
        })
        .unwrap(),
        platform_key: Secret::new(SIMULATOR_KEY.into()),
        secrets: SecretBox::new(&ENCRYPTION_KEY),
        stripe_webhook_secrets: Vec::new(),
        simulator: true,
        clock: pos_backend::clock::Clock::system(),
    };
    let n = b.iters;
    let input = || NewIntent {
        external_account_id: ACCOUNT.into(),
        amount: DecimalText("12.99".into()),
        currency: None,
        payment_method_types: vec!["card_present"],
        capture_method: "manual",
        external_transaction_id: Bench::new_tx(),
        external_customer_id: None,
        description: None,
        metadata: BTreeMap::new(),
        card_present: Default::default(),
        saved_card: None,
        line_items: Vec::new(),
        tax: None,
        receipt_email: None,
        external_cashier_id: None,
    };
    for _ in 0..10 {
        payments::create_intent(&services, "bench", input())
            .await
            .unwrap();
    }
    let account = StripeAccount::new(SIMULATOR_KEY);
    let types = ["card_present"];
    let create_at_stripe = || async {
        let tx = Bench::new_tx();
        let mut metadata = Metadata::new();
        metadata.insert("external_account_id".into(), ACCOUNT.into());
        metadata.insert("external_transaction_id".into(), tx.clone());
        let params = CreatePaymentIntent {
            payment_method_types: &types,
            capture_method: Some(CaptureMethod::Manual),
            metadata: Some(&metadata),
            ..CreatePaymentIntent::new(1299, "usd")
        };
        services
            .stripe
            .create_payment_intent(&account, &params, &format!("pi:{tx}"))
            .await
            .unwrap()
            .id
    };
    let mut ids = Vec::with_capacity(n);
    let mut out = interleaved!(n,
        "StripeClient::create_payment_intent" => create_at_stripe().await,
        "flows::payments::create_intent" => ids.push(
            payments::create_intent(&services, "bench", input())
                .await
                .unwrap()
                .payment
                .stripe_payment_intent_id
                .unwrap()
        ),
    );
    let mut i = 0;
    let mut next = || {
        i += 1;
        ids[i % ids.len()].clone()
    };
    out.extend(interleaved!(n,
        "StripeClient::retrieve_payment_intent" => services
            .stripe
            .retrieve_payment_intent(&account, &next(), &[])
            .await
            .unwrap(),
        "flows::payments::get" => payments::get(&services, ACCOUNT.into(), next())
            .await
            .unwrap(),
    ));
    let filter = PaymentFilter {
        limit: 20,
        ..Default::default()
    };
    let (views, has_more) = payments::list(&services, ACCOUNT.into(), filter.clone())
        .await
        .unwrap();
    // What `GET /v1/payments` encodes: through a `serde_json::Value` (as the handler does), or the
    // same JSON straight from the structs.
    #[derive(serde::Serialize)]
    struct Page<'a> {
        data: &'a [PaymentResponse],
        has_more: bool,
        next_starting_after: Option<&'a str>,
    }
    let page = || -> Vec<PaymentResponse> {
        views
            .iter()
            .cloned()
            .map(|v| PaymentResponse::from_view(v, false))
            .collect()
    };
    let (mut via_value, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let data = page();
        let t = Instant::now();
        let body = serde_json::to_vec(
            &json!({"data": data, "has_more": has_more, "next_starting_after": None::<String>}),
        )
        .unwrap();
        via_value.push(t.elapsed());
        std::hint::black_box(body);
        let data = page();
        let t = Instant::now();
        let body = serde_json::to_vec(&Page {
            data: &data,
            has_more,
            next_starting_after: None,
        })
        .unwrap();
        direct.push(t.elapsed());
        std::hint::black_box(body);
    }
    out.extend(interleaved!(n,
        "flows::payments::list (20)" => payments::list(&services, ACCOUNT.into(), filter.clone())
            .await
            .unwrap(),
    ));
    out.push((
        "list JSON, 20 payments, from the structs",
        stats(&mut direct),
    ));
    out.push(("same through a serde_json::Value", stats(&mut via_value)));
    if log::log_enabled!(log::Level::Info) {
        // One access-log line as actix's Logger writes it (BENCH_LOG=info; stderr wherever the
        // bench sends it).
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            log::info!(
                target: "actix_web::middleware::logger",
                "POST /v1/payment/intent 200 0.712345ms id=0192f0c4d6a87b3e9c1d2e3f4a5b6c7d"
            );
            samples.push(t.elapsed());
        }
        out.push(("one log line (env_logger, info)", stats(&mut samples)));
    }
    out
}

/// One database hop, taken apart (variants interleaved): (a) `Db::run` as the flows use it
/// (blocking-pool handoff + r2d2 checkout, which runs `SELECT 1`, + the query), (b) the same with
/// a pool that skips the checkout test, (c) the query on a connection in hand, on this thread;
/// then a write transaction as the flows make them (on PostgreSQL also with asynchronous commit).
async fn hop_costs(url: &str, n: usize) -> Vec<(&'static str, Stats)> {
    let db = Db::connect(url, 2).expect("second pool");
    let pool: Pool<ConnectionManager<DbConnection>> = Pool::builder()
        .max_size(2)
        .test_on_check_out(false)
        .build(ConnectionManager::new(
            url.strip_prefix("sqlite://").unwrap_or(url),
        ))
        .unwrap();
    let mut in_hand = Pool::builder()
        .max_size(1)
        .build(ConnectionManager::<DbConnection>::new(
            url.strip_prefix("sqlite://").unwrap_or(url),
        ))
        .unwrap()
        .get()
        .unwrap();
    let mut out = interleaved!(n,
        "Db::run(SELECT 1), as the flows hop" => db.ping().await.unwrap(),
        "same, pool without test_on_check_out" => {
            let pool = pool.clone();
            actix_web::web::block(move || {
                let mut c = pool.get().unwrap();
                diesel::sql_query("SELECT 1").execute(&mut *c).unwrap();
            })
            .await
            .unwrap()
        },
        "SELECT 1 alone, connection in hand" => {
            diesel::sql_query("SELECT 1").execute(&mut *in_hand).unwrap();
        },
    );
    drop(in_hand);

    db.run(|c| {
        diesel::sql_query(
            "CREATE TABLE IF NOT EXISTS bench_scratch (id BIGINT PRIMARY KEY, v TEXT)",
        )
        .execute(c)
        .map(|_| ())
        .map_err(DbError::from)
    })
    .await
    .unwrap();
    let mut next_id = 0i64;
    let mut insert = |async_commit: bool| {
        next_id += 1;
        let id = next_id;
        db.run(move |c| {
            write_transaction(c, |c| {
                if async_commit {
                    diesel::sql_query("SET LOCAL synchronous_commit = off").execute(c)?;
                }
                diesel::sql_query(format!(
                    "INSERT INTO bench_scratch (id, v) VALUES ({id}, 'x')"
                ))
                .execute(c)
                .map(|_| ())
                .map_err(DbError::from)
            })
        })
    };
    // What a pool that grows under load pays per new connection (r2d2 opens them on demand
    // above `min_idle`).
    let url = url.strip_prefix("sqlite://").unwrap_or(url).to_string();
    out.extend(interleaved!(n.min(50),
        "open a new connection" => drop(DbConnection::establish(&url).unwrap()),
    ));
    if db.backend() == Backend::Postgres {
        out.extend(interleaved!(n.min(500),
            "Db::run(write_transaction(INSERT))" => insert(false).await.unwrap(),
            "same, SET LOCAL synchronous_commit = off" => insert(true).await.unwrap(),
        ));
    } else {
        out.extend(interleaved!(n,
            "Db::run(write_transaction(INSERT))" => insert(false).await.unwrap(),
        ));
    }
    out
}

fn report(
    b: &Bench,
    postgres: bool,
    workers: Option<usize>,
    pool_size: u32,
    sim_webhooks: bool,
    direct: &[(&'static str, Stats)],
    hops: &[(&'static str, Stats)],
) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!();
    println!(
        "pos-backend latency — {} · {} cores · HTTP workers {} · DB pool {} · simulator webhooks {} · release={}",
        if postgres { "PostgreSQL" } else { "SQLite (WAL)" },
        cores,
        workers.map_or_else(|| format!("{cores} (default)"), |w| w.to_string()),
        pool_size,
        if sim_webhooks { "on" } else { "off" },
        !cfg!(debug_assertions),
    );
    if b.iters < 10 {
        println!("SMOKE RUN (no --bench): a few requests per row; the figures mean nothing. Use cargo bench.");
    }
    println!(
        "sequential: {} requests per row, one at a time, keep-alive; µs. Stripe/DB per request from {} more requests.",
        b.iters, b.counted
    );
    println!();
    println!(
        "{:<46} {:>6} {:>6} {:>6} {:>6} {:>6}  {:>6} {:>3}  {:<30} {:>5} {:>5}",
        "request",
        "p50",
        "p90",
        "p99",
        "max",
        "mean",
        "stripe",
        "db",
        "db by kind",
        "ovh50",
        "ovh90"
    );
    println!("{}", "-".repeat(142));
    for row in &b.rows {
        let s = row.seq;
        let stripe = row.stripe.map_or("".into(), fmt_count);
        let (db, kinds) = match &row.db {
            Some((kinds, all)) => (
                fmt_count(*all),
                kinds
                    .iter()
                    .map(|(k, v)| format!("{k} {}", fmt_count(*v)))
                    .chain(row.hops.map(|h| format!("hops {}", fmt_count(h))))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            None => (String::new(), String::new()),
        };
        let (ovh50, ovh90) = match &row.baseline {
            Some((_, base)) => (
                format!("{:+}", s.p50 as i64 - base.p50 as i64),
                format!("{:+}", s.p90 as i64 - base.p90 as i64),
            ),
            None => (format!("{:+}", s.p50), format!("{:+}", s.p90)),
        };
        println!(
            "{:<46} {:>6} {:>6} {:>6} {:>6} {:>6}  {:>6} {:>3}  {:<30} {:>5} {:>5}",
            row.name, s.p50, s.p90, s.p99, s.max, s.mean, stripe, db, kinds, ovh50, ovh90
        );
        if let Some((name, base)) = &row.baseline {
            println!(
                "{:<46} {:>6} {:>6} {:>6} {:>6} {:>6}",
                format!("  stripe {name}"),
                base.p50,
                base.p90,
                base.p99,
                base.max,
                base.mean
            );
        }
    }
    println!();
    println!("\"stripe …\" rows: the Stripe call(s) the flow makes, sent straight to the simulator, timed");
    println!(
        "interleaved one for one with the flow above. ovh50/ovh90 = flow − Stripe at p50/p90 (the"
    );
    println!("list makes no Stripe call: all of it is ours). stripe/db = Stripe calls and SQL statements per");
    println!(
        "request; \"ping\" = a SELECT 1 (r2d2's checkout test, off now); hops = Db::run calls."
    );
    println!();
    for (when, s) in &b.drift {
        println!(
            "simulator alone, POST /v1/payment_intents back to back, {when}: p50 {} p90 {} p99 {} µs",
            s.p50, s.p90, s.p99
        );
    }
    println!();
    println!(
        "concurrent: {} in flight, {} requests per row; µs",
        b.conc, b.conc_reqs
    );
    println!(
        "{:<44} {:>8} {:>7} {:>7} {:>7} {:>7} {:>9}",
        "request", "req/s", "p50", "p90", "p99", "max", "new conns"
    );
    println!("{}", "-".repeat(96));
    for c in &b.concurrent {
        println!(
            "{:<44} {:>8.0} {:>7} {:>7} {:>7} {:>7} {:>9}",
            c.name, c.rps, c.stats.p50, c.stats.p90, c.stats.p99, c.stats.max, c.connects
        );
    }
    println!();
    println!("in-process, sequential (the bench thread calls the Stripe client and the flows directly); µs");
    println!(
        "{:<44} {:>6} {:>6} {:>6} {:>6}",
        "", "p50", "p90", "p99", "mean"
    );
    for (name, s) in direct {
        println!(
            "{:<44} {:>6} {:>6} {:>6} {:>6}",
            name, s.p50, s.p90, s.p99, s.mean
        );
    }
    println!();
    println!("one database hop, sequential; µs");
    println!(
        "{:<44} {:>6} {:>6} {:>6} {:>6}",
        "", "p50", "p90", "p99", "mean"
    );
    for (name, s) in hops {
        println!(
            "{:<44} {:>6} {:>6} {:>6} {:>6}",
            name, s.p50, s.p90, s.p99, s.mean
        );
    }
    println!();
}

fn fmt_count(v: f64) -> String {
    if (v - v.round()).abs() < 0.005 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.2}")
    }
}
