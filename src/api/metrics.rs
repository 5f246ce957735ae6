//! `GET /metrics` (no auth): Prometheus text exposition (format 0.0.4), and the middleware that
//! feeds it.
//!
//! - `pos_http_requests_total{method,route,status}` and the histogram
//!   `pos_http_request_duration_seconds{method,route}`, keyed by the matched route PATTERN
//!   (`/v1/payment/{payment_id}`), never the raw path: cardinality stays bounded and no id ever
//!   reaches a label. Requests no route matched count as `route="unmatched"`, methods outside the
//!   standard ones as `method="OTHER"`. The embedded simulator (`/sim/stripe/…`) is not counted.
//! - `pos_webhook_deliveries{status="pending|failed"}`: one grouped `COUNT` at scrape time.
//! - `pos_database_up`: 1 when that query succeeded, 0 otherwise (the HTTP series are served
//!   either way).
//! - `pos_build_info{version}`.
//!
//! The series live in one process-wide registry (one server per process, as Prometheus expects).
//! Per request: one read-locked map lookup (a write lock only the first time a series is seen) and
//! a few relaxed atomic increments.

use crate::app::SIMULATOR_PATH;
use crate::db::{self, DbError};
use crate::flows::events::{FAILED, PENDING};
use crate::flows::Services;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Upper bounds (seconds) of the latency histogram's buckets; `+Inf` is implied.
pub const BUCKETS: [f64; 9] = [0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The `route` label of requests no route matched.
const UNMATCHED: &str = "unmatched";

/// Method labels; anything else is `OTHER`.
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "OTHER",
];

/// Status codes are 100..=999 (`http::StatusCode`): one counter each.
const STATUS_MIN: u16 = 100;
const STATUS_SLOTS: usize = 900;

/// The counters of one `(method, route)`.
struct Series {
    /// Requests by status, at `status - 100`.
    statuses: Box<[AtomicU64]>,
    /// Observations per bucket (not cumulative; the last slot is `+Inf`).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Series {
    fn new() -> Series {
        Series {
            statuses: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, status: u16, seconds: f64) {
        let slot = usize::from(status.saturating_sub(STATUS_MIN)).min(STATUS_SLOTS - 1);
        self.statuses[slot].fetch_add(1, Ordering::Relaxed);
        let bucket = BUCKETS
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Every `(method index, route pattern)` seen so far.
#[derive(Default)]
struct Registry {
    series: RwLock<HashMap<(u8, String), Arc<Series>>>,
}

impl Registry {
    fn global() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(Registry::default)
    }

    fn series(&self, key: (u8, String)) -> Arc<Series> {
        let found = self
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        found.unwrap_or_else(|| {
            self.series
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .entry(key)
                .or_insert_with(|| Arc::new(Series::new()))
                .clone()
        })
    }

    /// A snapshot sorted by route, then method.
    fn snapshot(&self) -> Vec<((u8, String), Arc<Series>)> {
        let mut all: Vec<_> = self
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort_by(|(a, _), (b, _)| (&a.1, a.0).cmp(&(&b.1, b.0)));
        all
    }
}

fn method_index(method: &Method) -> u8 {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::DELETE => 3,
        Method::PATCH => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// The middleware (`actix_web::middleware::from_fn(metrics::middleware)`): counts and times every
/// request but the simulator's, under its route pattern.
pub async fn middleware<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    if req.path().starts_with(SIMULATOR_PATH) {
        return next.call(req).await;
    }
    let started = Instant::now();
    let method = method_index(req.method());
    let result = next.call(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let (status, route) = match &result {
        Ok(res) => (res.status().as_u16(), res.request().match_pattern()),
        // Errors that escaped every handler; the router matched nothing we can ask about here.
        Err(e) => (e.as_response_error().status_code().as_u16(), None),
    };
    let route = route.unwrap_or_else(|| UNMATCHED.to_string());
    Registry::global()
        .series((method, route))
        .observe(status, seconds);
    result
}

/// `GET /metrics`.
pub async fn metrics(services: web::Data<Services>) -> HttpResponse {
    let deliveries = services
        .db
        .run(|conn| {
            db::webhook_deliveries::count_by_status(conn, &[PENDING, FAILED]).map_err(DbError::from)
        })
        .await;
    let deliveries = deliveries
        .map_err(|e| log::warn!("metrics: cannot count webhook deliveries: {e}"))
        .ok();
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(render(deliveries.as_deref()))
}

/// The exposition text: the HTTP series, then the database gauges (when the count succeeded),
/// then the build info.
fn render(deliveries: Option<&[(String, i64)]>) -> String {
    let snapshot = Registry::global().snapshot();
    let mut out = String::with_capacity(4096 + snapshot.len() * 2048);
    out.push_str(
        "# HELP pos_http_requests_total HTTP requests by method, route pattern and status.\n",
    );
    out.push_str("# TYPE pos_http_requests_total counter\n");
    for ((method, route), series) in &snapshot {
        let (method, route) = (METHODS[usize::from(*method)], escape(route));
        for (slot, counter) in series.statuses.iter().enumerate() {
            let n = counter.load(Ordering::Relaxed);
            if n > 0 {
                let status = slot + usize::from(STATUS_MIN);
                let _ = writeln!(
                    out,
                    "pos_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
    }
    out.push_str(
        "# HELP pos_http_request_duration_seconds Time to produce the response, by method and route pattern.\n",
    );
    out.push_str("# TYPE pos_http_request_duration_seconds histogram\n");
    for ((method, route), series) in &snapshot {
        let (method, route) = (METHODS[usize::from(*method)], escape(route));
        let labels = format!("method=\"{method}\",route=\"{route}\"");
        let mut cumulative = 0;
        for (i, bucket) in series.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "pos_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = series.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "pos_http_request_duration_seconds_sum{{{labels}}} {sum}"
        );
        // The count is the +Inf bucket, so the two always agree within one scrape.
        let _ = writeln!(
            out,
            "pos_http_request_duration_seconds_count{{{labels}}} {cumulative}"
        );
    }
    if let Some(rows) = deliveries {
        out.push_str(
            "# HELP pos_webhook_deliveries Merchant webhook deliveries waiting (pending) or given up (failed).\n",
        );
        out.push_str("# TYPE pos_webhook_deliveries gauge\n");
        for status in [PENDING, FAILED] {
            let n = rows
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "pos_webhook_deliveries{{status=\"{status}\"}} {n}");
        }
    }
    out.push_str("# HELP pos_database_up Whether the scrape's database query succeeded.\n");
    out.push_str("# TYPE pos_database_up gauge\n");
    let _ = writeln!(out, "pos_database_up {}", u8::from(deliveries.is_some()));
    out.push_str("# HELP pos_build_info The running build; always 1.\n");
    out.push_str("# TYPE pos_build_info gauge\n");
    let _ = writeln!(
        out,
        "pos_build_info{{version=\"{}\"}} 1",
        escape(env!("CARGO_PKG_VERSION"))
    );
    out
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("a\nb"), "a\\nb");
    }

    /// The only test in this binary that sends requests through the middleware, so it owns the
    /// process-wide registry and can expect exact counts.
    #[actix_web::test]
    async fn the_middleware_counts_route_patterns_and_skips_the_simulator() {
        use actix_web::{test, App};
        let app = test::init_service(
            App::new()
                .route("/probe/{id}", web::get().to(HttpResponse::Ok))
                .service(web::scope(SIMULATOR_PATH).default_service(web::to(HttpResponse::Ok)))
                .wrap(actix_web::middleware::from_fn(middleware)),
        )
        .await;
        for uri in [
            "/probe/secret-1",
            "/probe/secret-2",
            "/sim/stripe/v1/payment_intents",
            "/nowhere/secret-3",
        ] {
            test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        }
        let post = test::TestRequest::post()
            .uri("/probe/secret-4")
            .to_request();
        test::call_service(&app, post).await;
        let text = render(Some(&[("pending".to_string(), 3)]));
        let counted: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("pos_http_requests_total{"))
            .collect();
        assert_eq!(
            counted,
            [
                r#"pos_http_requests_total{method="GET",route="/probe/{id}",status="200"} 2"#,
                r#"pos_http_requests_total{method="POST",route="/probe/{id}",status="404"} 1"#,
                r#"pos_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
            ]
        );
        for line in [
            r#"pos_http_request_duration_seconds_count{method="GET",route="/probe/{id}"} 2"#,
            r#"pos_http_request_duration_seconds_bucket{method="GET",route="/probe/{id}",le="+Inf"} 2"#,
            r#"pos_webhook_deliveries{status="pending"} 3"#,
            r#"pos_webhook_deliveries{status="failed"} 0"#,
            "pos_database_up 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert!(
            !text.contains("secret") && !text.contains("/sim/"),
            "{text}"
        );
        assert!(render(None).contains("pos_database_up 0\n"));
    }

    #[test]
    fn observations_land_in_their_bucket_and_status() {
        let series = Series::new();
        series.observe(200, 0.001);
        series.observe(200, 0.3);
        series.observe(404, 60.0);
        series.observe(999, 0.0);
        assert_eq!(series.statuses[100].load(Ordering::Relaxed), 2);
        assert_eq!(series.statuses[304].load(Ordering::Relaxed), 1);
        assert_eq!(series.statuses[899].load(Ordering::Relaxed), 1);
        let buckets: Vec<u64> = series
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        assert_eq!(buckets, [2, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
        assert_eq!(series.count.load(Ordering::Relaxed), 4);
    }
}
