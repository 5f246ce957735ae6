//! Memory per sale: runs N card-present sales through a standalone simulator's HTTP API and
//! prints the heap bytes still live per sale (a counting global allocator) and the process RSS.
//!
//! `cargo run --release -p stripe-sim --example sim_memory -- 10000 [LIMIT=N…]`
//!
//! Limits are the defaults unless given: `unbounded` lifts them all, `request_log=0`,
//! `idempotency_keys=…`, `events=…`, `finished_objects=…` set one (after `unbounded`, to see
//! what one store costs).
//!
//! A sale is what the backend sends: create a manual-capture PaymentIntent (with an
//! `Idempotency-Key`), `process_payment_intent` on a reader, present the test card (test helper),
//! capture (with an `Idempotency-Key`), then retrieve the intent.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use stripe_sim::{serve, Limits, SimConfig, Simulator};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const KEY: &str = "sk_test_memory";

/// Resident set size in bytes (Linux), 0 elsewhere.
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn post(
        &self,
        path: &str,
        key: Option<&str>,
        form: &[(&str, &str)],
    ) -> serde_json::Value {
        let mut b = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .form(form);
        if let Some(key) = key {
            b = b.header("Idempotency-Key", key);
        }
        let r = b.send().await.expect("simulator answers");
        assert!(r.status().is_success(), "POST {path}: {}", r.status());
        r.json().await.expect("JSON")
    }

    async fn get(&self, path: &str) -> serde_json::Value {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("simulator answers");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("JSON")
    }

    async fn sale(&self, n: usize, reader: &str) {
        let pi = self
            .post(
                "/v1/payment_intents",
                Some(&format!("sale-{n}-create")),
                &[
                    ("amount", "1299"),
                    ("currency", "usd"),
                    ("allowed_payment_method_types[]", "card_present"),
                    ("capture_method", "manual"),
                    ("metadata[order]", &format!("order-{n}")),
                ],
            )
            .await;
        let id = pi["id"].as_str().expect("id").to_string();
        self.post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            Some(&format!("sale-{n}-process")),
            &[("payment_intent", &id)],
        )
        .await;
        self.post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
            None,
            &[],
        )
        .await;
        let captured = self
            .post(
                &format!("/v1/payment_intents/{id}/capture"),
                Some(&format!("sale-{n}-capture")),
                &[],
            )
            .await;
        assert_eq!(captured["status"], "succeeded");
        self.get(&format!("/v1/payment_intents/{id}")).await;
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let sales: usize = args
        .next()
        .map(|n| n.parse().expect("a number of sales"))
        .unwrap_or(10_000);
    let mut limits = Limits::default();
    for arg in args {
        if arg == "unbounded" {
            limits = Limits {
                request_log: usize::MAX,
                idempotency_keys: usize::MAX,
                events: usize::MAX,
                finished_objects: usize::MAX / 2,
            };
            continue;
        }
        let (name, value) = arg.split_once('=').expect("LIMIT=N");
        let value: usize = value.parse().expect("a number");
        match name {
            "request_log" => limits.request_log = value,
            "idempotency_keys" => limits.idempotency_keys = value,
            "events" => limits.events = value,
            "finished_objects" => limits.finished_objects = value,
            _ => panic!("unknown limit {name}"),
        }
    }
    println!("{limits:?}");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let config = SimConfig {
        limits,
        ..SimConfig::default()
    };
    tokio::spawn(serve(listener, Simulator::new(config)));
    let client = Client {
        base,
        http: reqwest::Client::new(),
    };
    let reader = client
        .post(
            "/v1/terminal/readers",
            None,
            &[("registration_code", "simulated-wpe")],
        )
        .await;
    let reader = reader["id"].as_str().expect("reader id").to_string();
    // Warm up connections and lazily built tables before the baseline.
    for n in 0..50 {
        client.sale(n, &reader).await;
    }
    let (live0, rss0) = (LIVE.load(Ordering::Relaxed), rss());
    let started = std::time::Instant::now();
    for n in 50..50 + sales {
        client.sale(n, &reader).await;
        if (n - 49) % (sales / 10).max(1) == 0 {
            let live = LIVE.load(Ordering::Relaxed);
            println!(
                "{:>8} sales: live heap {:>7.1} MB, {:>6} B/sale, RSS {:>7.1} MB",
                n - 49,
                live as f64 / 1e6,
                (live.saturating_sub(live0)) / (n - 49),
                rss() as f64 / 1e6
            );
        }
    }
    let live1 = LIVE.load(Ordering::Relaxed);
    let rss1 = rss();
    println!(
        "{sales} sales in {:.1} s: {} bytes/sale live heap, RSS {:.1} MB (+{:.1} MB)",
        started.elapsed().as_secs_f64(),
        live1.saturating_sub(live0) / sales,
        rss1 as f64 / 1e6,
        rss1.saturating_sub(rss0) as f64 / 1e6
    );
    let cleared = client
        .http
        .delete(format!("{}/_sim/requests", client.base))
        .send()
        .await
        .expect("simulator answers");
    assert!(cleared.status().is_success());
    let live2 = LIVE.load(Ordering::Relaxed);
    println!(
        "of which the request log: {} bytes/sale",
        live1.saturating_sub(live2) / sales
    );
}
