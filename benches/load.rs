//! Load benchmark: whole point-of-sale sales through the backend under concurrency, against the
//! same Stripe calls made straight to the simulator, and how the hot path's latency grows with
//! the size of the payments table.
//!
//! `cargo bench --bench load` starts the application through the test harness (`TestApp`, from
//! `tests/support`) on each backend in turn (`LOAD_BACKENDS=sqlite,postgres` by default;
//! PostgreSQL on `TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432`, a fresh
//! database dropped at the end), with no background worker and the simulator's webhooks to us off,
//! and drives it over loopback HTTP:
//!
//! 1. **Sales.** A sale is what a till does: `POST /v1/payment/intent` (card_present, manual
//!    capture, a first-time `external_customer_id`), the reader step (the intent processed on a
//!    simulated reader and a test Visa presented, as the demo and the tests do), `POST
//!    /v1/payment/capture`, `POST /v1/customer/card`. The baseline ("direct") is the same sale with
//!    the Stripe calls the backend makes sent straight to the simulator by a raw form client: the
//!    sequence is checked at start-up against the simulator's request log after one backend sale
//!    (method, path, parameter names, Idempotency-Key or not), so it cannot drift from what the
//!    backend does. At 1, 8 and 32 sales in flight (`LOAD_CONCURRENCY`), `LOAD_ROUNDS` rounds
//!    (default 4) of `LOAD_SALES` sales (default 128) per side, backend and direct rounds
//!    alternating (and which goes first alternating) so machine noise hits both; sales/s per side
//!    and the ratio backend/direct, and the backend's per-step p50/p90/p99.
//! 2. **Growth.** At each table size of `LOAD_SIZES` (default `0,100000`; `0,100000,1000000` for
//!    the full probe), the payments table is seeded up to that many extra payments, then
//!    `ANALYZE`d, and `LOAD_PROBE_ITERS` (default 200) sequential rounds time `POST
//!    /v1/payment/intent` (a returning customer), `POST /v1/payment/capture`, `GET
//!    /v1/payment/{id}`, `GET /v1/payments?limit=20` and the same list filtered by
//!    `external_customer_id` (p50/p99). Seeding mirrors the real write path by cloning, in SQL, the
//!    rows one real sale wrote (its `payments` row, its customer, its `payment_history` rows, its
//!    saved card) with new ids (UUIDv7-shaped, older than any live row), new Stripe ids and
//!    timestamps spread 30 s apart into the past, `LOAD_PAYMENTS_PER_CUSTOMER` (default 5)
//!    payments per customer, all on the bench's merchant (one busy merchant: the worst case for
//!    its list). Batched `INSERT … SELECT` over `generate_series` (PostgreSQL) or a recursive
//!    CTE (SQLite), 50 000 payments per transaction.
//!
//! Without `--bench` (as `cargo test --bench load` runs it) it makes a couple of sales per row and
//! seeds 40 rows only: a smoke test that keeps it compiling and working.

use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use pos_backend::app::SIMULATOR_KEY;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;
use support::app::Backend;

const ACCOUNT: &str = "load";
const CARD: &str = "4242424242424242";
/// Seeded payments are this many milliseconds apart.
const SEED_STEP_MS: u64 = 30_000;
/// Payments seeded per transaction.
const SEED_CHUNK: u64 = 50_000;

// ---------------------------------------------------------------------------------------------
// Figures

#[derive(Clone, Copy, Default)]
struct Stats {
    p50: f64,
    p90: f64,
    p99: f64,
}

/// Nearest-rank percentiles, in milliseconds.
fn stats(samples: &mut [Duration]) -> Stats {
    if samples.is_empty() {
        return Stats::default();
    }
    samples.sort_unstable();
    let at = |p: usize| support::bench::nearest_rank(samples, p).as_secs_f64() * 1000.0;
    Stats {
        p50: at(50),
        p90: at(90),
        p99: at(99),
    }
}

/// The steps of a sale, as the backend's caller sees them.
const STEPS: [&str; 5] = [
    "POST /v1/payment/intent",
    "reader: process + present card",
    "POST /v1/payment/capture",
    "POST /v1/customer/card",
    "whole sale",
];

struct SalesRow {
    conc: usize,
    sales: usize,
    backend_rate: f64,
    direct_rate: f64,
    /// Per step (`STEPS`), backend sales.
    steps: Vec<Stats>,
    direct_sale: Stats,
}

struct GrowthRow {
    seeded: u64,
    payments: u64,
    history: u64,
    seed_secs: f64,
    rows: Vec<(&'static str, Stats)>,
}

// ---------------------------------------------------------------------------------------------
// The client side

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn sim(&self, path: &str) -> String {
        format!("{}/sim/stripe{path}", self.base)
    }

    /// Sends one request and returns the elapsed time (to the last byte of the body) and the JSON
    /// body; panics unless it answers 200.
    async fn send(&self, request: reqwest::RequestBuilder) -> (Duration, Value) {
        let request = request.build().unwrap();
        let what = format!("{} {}", request.method(), request.url().path());
        let start = Instant::now();
        let response = self.http.execute(request).await.expect("request sent");
        let status = response.status();
        let body = response.bytes().await.expect("body read");
        let elapsed = start.elapsed();
        assert_eq!(
            status.as_u16(),
            200,
            "{what}: {}",
            String::from_utf8_lossy(&body)
        );
        (elapsed, serde_json::from_slice(&body).expect("JSON body"))
    }

    async fn api_post(&self, path: &str, body: Value) -> (Duration, Value) {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .json(&body),
        )
        .await
    }

    async fn api_get(&self, path: &str) -> (Duration, Value) {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token),
        )
        .await
    }

    /// A form POST to the simulator's Stripe API with the platform key, as our Stripe client sends
    /// it.
    async fn stripe_post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        key: Option<String>,
    ) -> (Duration, Value) {
        let mut builder = self
            .http
            .post(self.sim(path))
            .basic_auth(SIMULATOR_KEY, Some(""))
            .header("stripe-version", stripe_client::API_VERSION)
            .form(form);
        if let Some(key) = key {
            builder = builder.header("idempotency-key", key);
        }
        self.send(builder).await
    }

    async fn stripe_get(&self, path: &str) -> (Duration, Value) {
        self.send(
            self.http
                .get(self.sim(path))
                .basic_auth(SIMULATOR_KEY, Some(""))
                .header("stripe-version", stripe_client::API_VERSION),
        )
        .await
    }

    /// The reader step of a sale: the intent handed to `reader`, a Visa presented (consent to
    /// save the card given, as the till does). Not a call the backend makes: both sides do it.
    async fn reader_step(&self, reader: &str, intent: &str) -> Duration {
        let (a, _) = self
            .stripe_post(
                &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
                &[
                    ("payment_intent", intent),
                    ("process_config[allow_redisplay]", "limited"),
                ],
                None,
            )
            .await;
        let (b, tapped) = self
            .stripe_post(
                &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
                &[("card_present[number]", CARD), ("type", "card_present")],
                None,
            )
            .await;
        assert_eq!(tapped["action"]["status"], "succeeded", "{tapped}");
        a + b
    }

    fn intent_body(customer: &str) -> Value {
        json!({
            "external_account_id": ACCOUNT,
            "amount": "12.99",
            "payment_method_types": "card_present",
            "capture_method": "manual",
            "external_transaction_id": format!("sale-{}", uuid::Uuid::new_v4().simple()),
            "external_customer_id": customer,
        })
    }

    /// One sale through the backend, for a first-time customer; the time of each step (`STEPS`)
    /// and the payment's id.
    async fn backend_sale(&self, reader: &str) -> ([Duration; 5], String) {
        let start = Instant::now();
        let customer = format!("cust-{}", uuid::Uuid::new_v4().simple());
        let (intent, created) = self
            .api_post("/v1/payment/intent", Self::intent_body(&customer))
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        let tap = self.reader_step(reader, &id).await;
        let (capture, captured) = self
            .api_post(
                "/v1/payment/capture",
                json!({"payment_id": id, "external_account_id": ACCOUNT}),
            )
            .await;
        assert_eq!(captured["status"], "succeeded", "{captured}");
        let (save, _) = self
            .api_post(
                "/v1/customer/card",
                json!({"payment_id": id, "external_customer_id": customer,
                       "external_account_id": ACCOUNT}),
            )
            .await;
        ([intent, tap, capture, save, start.elapsed()], id)
    }

    /// A fresh Stripe Idempotency-Key of the backend's shape (`{prefix}_` and 64 hex digits).
    fn key(prefix: &str) -> String {
        format!(
            "{prefix}_{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    }

    /// The same sale with the backend's Stripe calls sent straight to the simulator (the
    /// sequence `check_direct_sale` verifies against the backend's).
    async fn direct_sale(&self, reader: &str) -> Duration {
        let start = Instant::now();
        let external = format!("cust-{}", uuid::Uuid::new_v4().simple());
        let tx = format!("sale-{}", uuid::Uuid::new_v4().simple());
        let (_, customer) = self
            .stripe_post(
                "/v1/customers",
                &[
                    ("metadata[external_customer_id]", external.as_str()),
                    ("metadata[external_account_id]", ACCOUNT),
                ],
                Some(Self::key("cus")),
            )
            .await;
        let customer = customer["id"].as_str().unwrap();
        let (_, intent) = self
            .stripe_post(
                "/v1/payment_intents",
                &[
                    ("amount", "1299"),
                    ("currency", "usd"),
                    ("allowed_payment_method_types[0]", "card_present"),
                    ("capture_method", "manual"),
                    ("customer", customer),
                    ("setup_future_usage", "off_session"),
                    ("metadata[external_account_id]", ACCOUNT),
                    ("metadata[external_customer_id]", external.as_str()),
                    ("metadata[external_transaction_id]", tx.as_str()),
                ],
                Some(Self::key("pi")),
            )
            .await;
        let id = intent["id"].as_str().unwrap().to_string();
        self.reader_step(reader, &id).await;
        let (_, captured) = self
            .stripe_post(
                &format!("/v1/payment_intents/{id}/capture"),
                &[],
                Some(format!("capture:{id}:{}", uuid::Uuid::new_v4())),
            )
            .await;
        assert_eq!(captured["status"], "succeeded", "{captured}");
        let (_, retrieved) = self
            .stripe_get(&format!("/v1/payment_intents/{id}?expand[]=latest_charge"))
            .await;
        assert!(
            retrieved["latest_charge"]["payment_method_details"]["card_present"]["generated_card"]
                .is_string(),
            "{retrieved}"
        );
        start.elapsed()
    }

    async fn clear_stripe_log(&self) {
        let r = self
            .http
            .delete(self.sim("/_sim/requests"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// The Stripe calls logged since the last clear, the reader's own left out: method, path with
    /// ids replaced by `{id}`, parameter names, whether an Idempotency-Key was sent.
    async fn stripe_calls(&self) -> Vec<String> {
        let log: Value = self
            .http
            .get(self.sim("/_sim/requests"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        log["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["path"].as_str().unwrap().contains("/terminal/readers/"))
            .map(|r| {
                let path = r["path"]
                    .as_str()
                    .unwrap()
                    .split('/')
                    .map(|s| {
                        let id = ["pi_", "cus_", "ch_", "pm_", "re_", "seti_", "tmr_"]
                            .iter()
                            .any(|p| s.starts_with(p));
                        if id {
                            "{id}"
                        } else {
                            s
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                let mut params: Vec<&str> = r["params"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap())
                    .collect();
                params.sort_unstable();
                format!(
                    "{} {path} [{}]{}",
                    r["method"].as_str().unwrap(),
                    params.join(" "),
                    if r["idempotency_key"].is_string() {
                        " +Idempotency-Key"
                    } else {
                        ""
                    }
                )
            })
            .collect()
    }
}

/// One backend sale and one direct sale with the simulator's request log cleared before each:
/// the direct sale must make exactly the Stripe calls the backend made. Returns them and the
/// backend sale's payment id (the seeding template).
async fn check_direct_sale(c: &Client, reader: &str) -> (Vec<String>, String) {
    c.clear_stripe_log().await;
    let (_, id) = c.backend_sale(reader).await;
    let backend = c.stripe_calls().await;
    c.clear_stripe_log().await;
    c.direct_sale(reader).await;
    let direct = c.stripe_calls().await;
    assert_eq!(
        backend, direct,
        "the direct sale must make the backend's Stripe calls (left: backend, right: direct)"
    );
    (backend, id)
}

/// `conc` workers, each with its own reader, make `n` sales between them; the wall time and the
/// samples (per step for backend sales, the whole sale for direct ones).
async fn sales_round(
    c: &Client,
    readers: &[String],
    conc: usize,
    n: usize,
    backend: bool,
) -> (Duration, Vec<[Duration; 5]>) {
    // LOAD_ONLY=backend|direct: the other side's rounds make no sales (for profiling one side).
    let skipped = if backend { "direct" } else { "backend" };
    let n = match std::env::var("LOAD_ONLY") {
        Ok(only) if only == skipped => 0,
        _ => n,
    };
    let next = std::cell::Cell::new(0usize);
    let samples = RefCell::new(Vec::with_capacity(n));
    let start = Instant::now();
    let workers = readers[..conc].iter().map(|reader| {
        let (next, samples) = (&next, &samples);
        async move {
            loop {
                let i = next.get();
                if i >= n {
                    break;
                }
                next.set(i + 1);
                let s = if backend {
                    c.backend_sale(reader).await.0
                } else {
                    let d = c.direct_sale(reader).await;
                    [
                        Duration::ZERO,
                        Duration::ZERO,
                        Duration::ZERO,
                        Duration::ZERO,
                        d,
                    ]
                };
                samples.borrow_mut().push(s);
            }
        }
    });
    futures_util::future::join_all(workers).await;
    (start.elapsed(), samples.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Seeding

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    v: String,
}

/// A connection of its own to the application's database, for seeding.
enum Sql {
    Pg(PgConnection),
    Lite(SqliteConnection),
}

impl Sql {
    fn open(backend: Backend, url: &str) -> Sql {
        match backend {
            Backend::Postgres => Sql::Pg(PgConnection::establish(url).expect("PostgreSQL")),
            Backend::Sqlite => Sql::Lite(
                SqliteConnection::establish(url.strip_prefix("sqlite://").unwrap_or(url))
                    .expect("SQLite"),
            ),
        }
    }

    fn pg(&self) -> bool {
        matches!(self, Sql::Pg(_))
    }

    fn exec(&mut self, sql: &str) -> usize {
        let q = diesel::sql_query(sql);
        match self {
            Sql::Pg(c) => q.execute(c),
            Sql::Lite(c) => q.execute(c),
        }
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
    }

    /// A query's one text column, named `v`.
    fn texts(&mut self, sql: &str) -> Vec<String> {
        let q = diesel::sql_query(sql);
        let rows: Vec<TextRow> = match self {
            Sql::Pg(c) => q.load(c),
            Sql::Lite(c) => q.load(c),
        }
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
        rows.into_iter().map(|r| r.v).collect()
    }

    fn text(&mut self, sql: &str) -> String {
        self.texts(sql)
            .pop()
            .unwrap_or_else(|| panic!("no row: {sql}"))
    }

    fn count(&mut self, table: &str) -> u64 {
        self.text(&format!("SELECT CAST(COUNT(*) AS TEXT) AS v FROM {table}"))
            .parse()
            .unwrap()
    }

    fn columns(&mut self, table: &str) -> Vec<String> {
        let sql = if self.pg() {
            format!("SELECT CAST(column_name AS TEXT) AS v FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position")
        } else {
            format!("SELECT name AS v FROM pragma_table_info('{table}') ORDER BY cid")
        };
        self.texts(&sql)
    }

    /// `expr` (an integer) as 12 lower-case hex digits.
    fn hex12(&self, expr: &str) -> String {
        if self.pg() {
            format!("lpad(to_hex(CAST({expr} AS BIGINT)), 12, '0')")
        } else {
            format!("printf('%012x', {expr})")
        }
    }

    /// A UUIDv7-shaped id: the time `ms` (milliseconds since the epoch), the middle of the
    /// template id `template` (its version and random bits: distinct templates give distinct ids)
    /// and `n`.
    fn id(&self, ms: &str, template: &str, n: &str) -> String {
        let t = self.hex12(ms);
        format!(
            "(substr({t}, 1, 8) || '-' || substr({t}, 9, 4) || substr({template}, 14, 11) || {})",
            self.hex12(n)
        )
    }

    /// The timestamp column `col` moved `ms` milliseconds into the past (in the format diesel
    /// writes on SQLite).
    fn earlier(&self, col: &str, ms: &str) -> String {
        if self.pg() {
            format!("({col} - ({ms}) * INTERVAL '1 millisecond')")
        } else {
            format!("strftime('%Y-%m-%d %H:%M:%f', julianday({col}) - ({ms}) / 86400000.0)")
        }
    }

    /// `INSERT INTO table SELECT …` cloning the rows of `table` (alias `t`) matching `filter`
    /// once per integer `g` in `lo..=hi`, every column copied unless `set` gives its expression.
    fn clone_rows(
        &mut self,
        table: &str,
        filter: &str,
        lo: u64,
        hi: u64,
        set: &BTreeMap<&str, String>,
    ) -> usize {
        let columns = self.columns(table);
        assert!(!columns.is_empty(), "no columns for {table}");
        for c in set.keys() {
            assert!(columns.iter().any(|x| x == c), "{table} has no column {c}");
        }
        let exprs: Vec<String> = columns
            .iter()
            .map(|c| set.get(c.as_str()).cloned().unwrap_or(format!("t.{c}")))
            .collect();
        let (with, series) = if self.pg() {
            (
                String::new(),
                format!("generate_series(CAST({lo} AS BIGINT), {hi}) AS s(g)"),
            )
        } else {
            (
                format!("WITH RECURSIVE s(g) AS (SELECT {lo} UNION ALL SELECT g + 1 FROM s WHERE g < {hi}) "),
                "s".to_string(),
            )
        };
        self.exec(&format!(
            "{with}INSERT INTO {table} ({}) SELECT {} FROM {table} t, {series} WHERE {filter} ON CONFLICT DO NOTHING",
            columns.join(", "),
            exprs.join(", ")
        ))
    }
}

/// The rows one real sale wrote, cloned by `Seeder::seed`.
struct Seeder {
    sql: Sql,
    payment: String,
    customer: String,
    card: String,
    /// The template payment's time (from its UUIDv7 id), in ms since the epoch.
    ms: u64,
    per_customer: u64,
    /// Payments seeded so far.
    seeded: u64,
}

impl Seeder {
    fn new(mut sql: Sql, intent_id: &str, per_customer: u64) -> Seeder {
        let payment = sql.text(&format!(
            "SELECT id AS v FROM payments WHERE stripe_payment_intent_id = '{intent_id}'"
        ));
        let customer = sql.text(&format!(
            "SELECT customer_id AS v FROM payments WHERE id = '{payment}'"
        ));
        let card = sql.text(&format!(
            "SELECT id AS v FROM cards WHERE source_payment_id = '{payment}'"
        ));
        let ms = u64::from_str_radix(&payment.replace('-', "")[..12], 16).expect("UUIDv7 id");
        Seeder {
            sql,
            payment,
            customer,
            card,
            ms,
            per_customer,
            seeded: 0,
        }
    }

    /// Seeds payments (with their customers, history and saved cards) until `target` are seeded.
    fn seed(&mut self, target: u64) {
        while self.seeded < target {
            let lo = self.seeded + 1;
            let hi = target.min(self.seeded + SEED_CHUNK);
            self.chunk(lo, hi);
            self.seeded = hi;
        }
        self.sql.exec("ANALYZE");
    }

    fn chunk(&mut self, lo: u64, hi: u64) {
        let s = &self.sql;
        let (per, step, ms) = (self.per_customer, SEED_STEP_MS, self.ms);
        let (tp, tc, tk) = (
            format!("'{}'", self.payment),
            format!("'{}'", self.customer),
            format!("'{}'", self.card),
        );
        // Payment g is `g` steps before the template; customer c is first seen at its first
        // payment, g = (c - 1) * per + 1.
        let pay_ms = |g: &str| format!("({ms} - ({g}) * {step})");
        let pay_id = |g: &str| s.id(&pay_ms(g), &tp, g);
        let first_g = |c: &str| format!("(({c} - 1) * {per} + 1)");
        let cus_id = |c: &str| s.id(&pay_ms(&first_g(c)), &tc, c);
        let customer_of = format!("((g - 1) / {per} + 1)");
        let or_null = |col: &str, value: String| {
            format!("CASE WHEN t.{col} IS NULL THEN NULL ELSE {value} END")
        };
        let customers = BTreeMap::from([
            ("id", cus_id("g")),
            ("external_customer_id", "'seed-customer-' || g".to_string()),
            ("stripe_customer_id", "'cus_seed' || g".to_string()),
            (
                "stripe_idempotency_key",
                or_null("stripe_idempotency_key", "'seed-cus:' || g".into()),
            ),
            (
                "created_at",
                s.earlier("t.created_at", &format!("{} * {step}", first_g("g"))),
            ),
        ]);
        let payments = BTreeMap::from([
            ("id", pay_id("g")),
            ("external_transaction_id", "'seed-' || g".to_string()),
            ("customer_id", or_null("customer_id", cus_id(&customer_of))),
            ("stripe_payment_intent_id", "'pi_seed' || g".to_string()),
            (
                "stripe_charge_id",
                or_null("stripe_charge_id", "'ch_seed' || g".into()),
            ),
            (
                "stripe_payment_method_id",
                or_null("stripe_payment_method_id", "'pm_seed' || g".into()),
            ),
            (
                "stripe_idempotency_key",
                or_null("stripe_idempotency_key", "'pi:seed-' || g".into()),
            ),
            (
                "created_at",
                s.earlier("t.created_at", &format!("g * {step}")),
            ),
            (
                "updated_at",
                s.earlier("t.updated_at", &format!("g * {step}")),
            ),
        ]);
        let history = BTreeMap::from([
            ("id", s.id(&pay_ms("g"), "t.id", "g")),
            ("payment_id", pay_id("g")),
            (
                "created_at",
                s.earlier("t.created_at", &format!("g * {step}")),
            ),
        ]);
        let cards = BTreeMap::from([
            ("id", s.id(&pay_ms(&first_g("g")), &tk, "g")),
            ("customer_id", cus_id("g")),
            ("stripe_payment_method_id", "'pm_seedcard' || g".to_string()),
            ("source_payment_id", pay_id(&first_g("g"))),
            (
                "created_at",
                s.earlier("t.created_at", &format!("{} * {step}", first_g("g"))),
            ),
            (
                "updated_at",
                s.earlier("t.updated_at", &format!("{} * {step}", first_g("g"))),
            ),
        ]);
        let (c_lo, c_hi) = ((lo - 1) / per + 1, (hi - 1) / per + 1);
        let sql = &mut self.sql;
        sql.exec("BEGIN");
        sql.clone_rows("customers", &format!("t.id = {tc}"), c_lo, c_hi, &customers);
        let n = sql.clone_rows("payments", &format!("t.id = {tp}"), lo, hi, &payments);
        assert_eq!(n as u64, hi - lo + 1, "payments seeded");
        sql.clone_rows(
            "payment_history",
            &format!("t.payment_id = {tp}"),
            lo,
            hi,
            &history,
        );
        sql.clone_rows("cards", &format!("t.id = {tk}"), c_lo, c_hi, &cards);
        sql.exec("COMMIT");
    }
}

// ---------------------------------------------------------------------------------------------

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Settings {
    full: bool,
    concurrency: Vec<usize>,
    rounds: usize,
    sales: usize,
    sizes: Vec<u64>,
    probe_iters: usize,
    per_customer: u64,
    workers: Option<usize>,
    pool_size: u32,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let settings = Settings {
        full,
        concurrency: env_list("LOAD_CONCURRENCY", "1,8,32")
            .iter()
            .map(|c| c.parse().expect("LOAD_CONCURRENCY: numbers"))
            .collect(),
        rounds: if full {
            env_u64("LOAD_ROUNDS", 4) as usize
        } else {
            1
        },
        sales: if full {
            env_u64("LOAD_SALES", 128) as usize
        } else {
            2
        },
        sizes: if full {
            env_list("LOAD_SIZES", "0,100000")
                .iter()
                .map(|s| s.parse().expect("LOAD_SIZES: numbers"))
                .collect()
        } else {
            vec![0, 40]
        },
        probe_iters: if full {
            env_u64("LOAD_PROBE_ITERS", 200) as usize
        } else {
            2
        },
        per_customer: env_u64("LOAD_PAYMENTS_PER_CUSTOMER", 5).max(1),
        workers: std::env::var("LOAD_WORKERS")
            .ok()
            .and_then(|w| w.parse().ok()),
        pool_size: env_u64("LOAD_DB_POOL_SIZE", 10) as u32,
    };
    let backends: Vec<Backend> = env_list("LOAD_BACKENDS", "sqlite,postgres")
        .iter()
        .map(|b| match b.as_str() {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" | "pg" => Backend::Postgres,
            other => panic!("LOAD_BACKENDS: sqlite or postgres, not {other}"),
        })
        .collect();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "pos-backend load benchmark · {cores} cores · HTTP workers {} · DB pool {} · release={}",
        settings
            .workers
            .map_or_else(|| format!("{cores} (default)"), |w| w.to_string()),
        settings.pool_size,
        !cfg!(debug_assertions),
    );
    if !full {
        println!("SMOKE RUN (no --bench): a couple of sales per row; the figures mean nothing. Use cargo bench.");
    }
    for backend in backends {
        actix_web::rt::System::new().block_on(run(&settings, backend));
    }
}

async fn run(settings: &Settings, backend: Backend) {
    let (workers, pool_size) = (settings.workers, settings.pool_size);
    let app = support::bench::app(backend, workers, pool_size).await;
    let name = match backend {
        Backend::Sqlite => "SQLite (WAL)",
        Backend::Postgres => "PostgreSQL",
    };
    let c = Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            // Below the server's keep-alive (5 s): a connection idle during seeding is never
            // reused just as the server closes it.
            .pool_idle_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .build()
            .unwrap(),
        base: app.address.clone(),
        token: app.token(
            &[ACCOUNT],
            "payments:read payments:write cards:read cards:write terminal",
        ),
    };
    let r = c
        .http
        .post(c.sim("/_sim/webhook_endpoint"))
        .json(&json!({"url": null}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "simulator webhooks off");
    let (status, body) = app
        .put_account(ACCOUNT, json!({"default_currency": "usd"}))
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let max_conc = settings.concurrency.iter().copied().max().unwrap_or(1);
    let mut readers = Vec::with_capacity(max_conc);
    for i in 0..max_conc {
        let (_, reader) = c
            .stripe_post(
                "/v1/terminal/readers",
                &[
                    ("registration_code", "simulated-wpe"),
                    ("label", &format!("Till {i}")),
                ],
                None,
            )
            .await;
        readers.push(reader["id"].as_str().unwrap().to_string());
    }

    // The Stripe calls of a backend sale, replayed by the direct sale; the first sale is the
    // seeding template.
    let (calls, template) = check_direct_sale(&c, &readers[0]).await;
    println!();
    println!("## {name}");
    println!();
    println!("Stripe calls of one sale (the reader's own left out), made by both sides:");
    for call in &calls {
        println!("    {call}");
    }

    // Warm-up: connections, caches.
    let warm = if settings.full { 16 } else { 1 };
    sales_round(&c, &readers, max_conc.min(8), warm, true).await;
    sales_round(&c, &readers, max_conc.min(8), warm, false).await;

    // ---- sales throughput ---------------------------------------------------------------------
    let mut sales_rows = Vec::new();
    for &conc in &settings.concurrency {
        let (mut b_wall, mut d_wall) = (Duration::ZERO, Duration::ZERO);
        let (mut b_samples, mut d_samples) = (Vec::new(), Vec::new());
        for round in 0..settings.rounds {
            for backend_side in [round % 2 == 0, round % 2 == 1] {
                let (wall, samples) =
                    sales_round(&c, &readers, conc, settings.sales, backend_side).await;
                if backend_side {
                    b_wall += wall;
                    b_samples.extend(samples);
                } else {
                    d_wall += wall;
                    d_samples.extend(samples);
                }
            }
        }
        let n = settings.sales * settings.rounds;
        let steps = (0..STEPS.len())
            .map(|i| stats(&mut b_samples.iter().map(|s| s[i]).collect::<Vec<_>>()))
            .collect();
        let direct_sale = stats(&mut d_samples.iter().map(|s| s[4]).collect::<Vec<_>>());
        sales_rows.push(SalesRow {
            conc,
            sales: n,
            backend_rate: n as f64 / b_wall.as_secs_f64(),
            direct_rate: n as f64 / d_wall.as_secs_f64(),
            steps,
            direct_sale,
        });
    }
    print_sales(settings, &sales_rows);

    // ---- growth -------------------------------------------------------------------------------
    let mut seeder = Seeder::new(
        Sql::open(backend, &app.database_url),
        &template,
        settings.per_customer,
    );
    // Returning customers for the probe's intents (their Stripe customers exist).
    let customers: Vec<String> = (0..10).map(|i| format!("probe-customer-{i}")).collect();
    for customer in &customers {
        c.api_post("/v1/payment/intent", Client::intent_body(customer))
            .await;
    }
    let mut growth = Vec::new();
    for &size in &settings.sizes {
        let start = Instant::now();
        seeder.seed(size);
        let seed_secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{name}: {} payments seeded in {seed_secs:.1} s",
            seeder.seeded
        );
        check_seeded(&c, seeder.seeded, settings.per_customer).await;
        let warm = if settings.full { 20 } else { 1 };
        probe(&c, &readers[0], &customers, warm).await;
        let samples = probe(&c, &readers[0], &customers, settings.probe_iters).await;
        growth.push(GrowthRow {
            seeded: seeder.seeded,
            payments: seeder.sql.count("payments"),
            history: seeder.sql.count("payment_history"),
            seed_secs,
            rows: samples,
        });
    }
    print_growth(settings, &growth);
}

/// The seeded rows read back through the API: the first seeded customer's payments (captured,
/// with their customer) and saved card.
async fn check_seeded(c: &Client, seeded: u64, per_customer: u64) {
    if seeded == 0 {
        return;
    }
    let customer = "seed-customer-1";
    let (_, page) = c
        .api_get(&format!(
            "/v1/payments?external_account_id={ACCOUNT}&external_customer_id={customer}&limit=100"
        ))
        .await;
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len() as u64, per_customer.min(seeded), "{page}");
    for payment in data {
        assert_eq!(payment["status"], "succeeded", "{payment}");
        assert_eq!(payment["external_customer_id"], customer, "{payment}");
    }
    let (_, cards) = c
        .api_get(&format!(
            "/v1/customer/cards?external_account_id={ACCOUNT}&external_customer_id={customer}"
        ))
        .await;
    assert_eq!(cards["data"].as_array().map(Vec::len), Some(1), "{cards}");
}

/// `n` sequential rounds of the hot path on the table as it is; p50/p99 of each request.
async fn probe(
    c: &Client,
    reader: &str,
    customers: &[String],
    n: usize,
) -> Vec<(&'static str, Stats)> {
    const NAMES: [&str; 5] = [
        "POST /v1/payment/intent",
        "POST /v1/payment/capture",
        "GET /v1/payment/{id}",
        "GET /v1/payments?limit=20",
        "GET /v1/payments?external_customer_id=…&limit=20",
    ];
    let mut samples: Vec<Vec<Duration>> = NAMES.iter().map(|_| Vec::with_capacity(n)).collect();
    for i in 0..n {
        let customer = &customers[i % customers.len()];
        let (t, created) = c
            .api_post("/v1/payment/intent", Client::intent_body(customer))
            .await;
        samples[0].push(t);
        let id = created["id"].as_str().unwrap().to_string();
        c.reader_step(reader, &id).await;
        let (t, _) = c
            .api_post(
                "/v1/payment/capture",
                json!({"payment_id": id, "external_account_id": ACCOUNT}),
            )
            .await;
        samples[1].push(t);
        let (t, _) = c
            .api_get(&format!("/v1/payment/{id}?external_account_id={ACCOUNT}"))
            .await;
        samples[2].push(t);
        let (t, _) = c
            .api_get(&format!(
                "/v1/payments?external_account_id={ACCOUNT}&limit=20"
            ))
            .await;
        samples[3].push(t);
        let (t, _) = c
            .api_get(&format!(
                "/v1/payments?external_account_id={ACCOUNT}&external_customer_id={customer}&limit=20"
            ))
            .await;
        samples[4].push(t);
    }
    NAMES
        .into_iter()
        .zip(samples.iter_mut())
        .map(|(name, s)| (name, stats(s)))
        .collect()
}

fn print_sales(settings: &Settings, rows: &[SalesRow]) {
    println!();
    println!(
        "Sales: {} rounds × {} sales per side and concurrency, backend and direct rounds alternating.",
        settings.rounds, settings.sales
    );
    println!();
    println!("| in flight | sales | backend sales/s | direct sales/s | backend/direct | direct sale p50/p90/p99 ms |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.2} | {:.1} / {:.1} / {:.1} |",
            r.conc,
            r.sales,
            r.backend_rate,
            r.direct_rate,
            r.backend_rate / r.direct_rate,
            r.direct_sale.p50,
            r.direct_sale.p90,
            r.direct_sale.p99
        );
    }
    println!();
    println!("Backend sale, per step: p50 / p90 / p99 ms");
    println!();
    let header: Vec<String> = rows
        .iter()
        .map(|r| format!("{} in flight", r.conc))
        .collect();
    println!("| step | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(rows.len()));
    for (i, step) in STEPS.iter().enumerate() {
        let cells: Vec<String> = rows
            .iter()
            .map(|r| {
                let s = r.steps[i];
                format!("{:.1} / {:.1} / {:.1}", s.p50, s.p90, s.p99)
            })
            .collect();
        println!("| {step} | {} |", cells.join(" | "));
    }
}

fn print_growth(settings: &Settings, rows: &[GrowthRow]) {
    println!();
    println!(
        "Growth: {} sequential rounds per size after ANALYZE; p50 / p99 ms.",
        settings.probe_iters
    );
    println!();
    let header: Vec<String> = rows
        .iter()
        .map(|r| format!("+{} seeded", r.seeded))
        .collect();
    println!("| request | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(rows.len()));
    let cells: Vec<String> = rows
        .iter()
        .map(|r| format!("{} / {}", r.payments, r.history))
        .collect();
    println!(
        "| rows: payments / payment_history | {} |",
        cells.join(" | ")
    );
    let cells: Vec<String> = rows
        .iter()
        .map(|r| format!("{:.1} s", r.seed_secs))
        .collect();
    println!("| seeding time (incl. ANALYZE) | {} |", cells.join(" | "));
    for (i, (name, _)) in rows[0].rows.iter().enumerate() {
        let cells: Vec<String> = rows
            .iter()
            .map(|r| {
                let s = r.rows[i].1;
                format!("{:.2} / {:.2}", s.p50, s.p99)
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    println!();
}
