//! A POS client that follows the README's retry rules: a timeout, a lost connection, a 5xx, a 429,
//! `"retryable": true` or 409 `request_in_progress` is retried with the same body and the same
//! `Idempotency-Key` after a short, growing pause; any other 4xx is the definitive answer. Requests
//! go to a backend instance that is up (any of them). Also the simulator's reader and test helpers,
//! retried the same way.

use crate::cluster::Targets;
use rand::rngs::StdRng;
use rand::Rng;
use reqwest::Method;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counters shown in the run's figures.
#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub gave_up: AtomicU64,
    pub in_progress: AtomicU64,
}

impl Stats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The definitive outcome of one logical request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 2xx and its body.
    Ok(Value),
    /// A definitive 4xx (status, body).
    Final(u16, Value),
    /// No definitive answer before the deadline; the last thing seen.
    GaveUp(String),
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    targets: Targets,
    pub stats: Arc<Stats>,
    /// How long one logical request keeps being retried.
    deadline: Duration,
}

/// The pause before retry number `attempt` (1-based): 50 ms doubling to 1.6 s, with jitter.
fn pause(rng: &mut StdRng, attempt: u32) -> Duration {
    let base = 50u64 << attempt.saturating_sub(1).min(5);
    Duration::from_millis(base + rng.gen_range(0..=base / 2))
}

impl Api {
    pub fn new(targets: Targets, stats: Arc<Stats>, deadline: Duration) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .pool_idle_timeout(Duration::from_secs(20))
                .build()
                .expect("HTTP client"),
            targets,
            stats,
            deadline,
        }
    }

    fn pick(&self, rng: &mut StdRng) -> Option<String> {
        let up: Vec<String> = self
            .targets
            .read()
            .expect("targets")
            .iter()
            .flatten()
            .cloned()
            .collect();
        (!up.is_empty()).then(|| up[rng.gen_range(0..up.len())].clone())
    }

    /// Sends one logical request until it gets a definitive answer or the deadline passes.
    pub async fn call(
        &self,
        rng: &mut StdRng,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Reply {
        let start = Instant::now();
        let mut last = String::from("no attempt");
        for attempt in 0u32.. {
            if attempt > 0 {
                if start.elapsed() >= self.deadline {
                    self.stats.gave_up.fetch_add(1, Ordering::Relaxed);
                    return Reply::GaveUp(format!(
                        "{method} {path} after {attempt} attempts: {last}"
                    ));
                }
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(pause(rng, attempt)).await;
            }
            let Some(base) = self.pick(rng) else {
                last = "no backend instance up".into();
                continue;
            };
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let mut request = self
                .http
                .request(method.clone(), format!("{base}{path}"))
                .bearer_auth(token);
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    last = format!("transport: {e}");
                    continue;
                }
            };
            let status = response.status().as_u16();
            let json = match response.text().await {
                Ok(text) => serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
                Err(e) => {
                    last = format!("{status}, body lost: {e}");
                    continue;
                }
            };
            if (200..300).contains(&status) {
                return Reply::Ok(json);
            }
            let code = json["error"]["code"].as_str().unwrap_or_default();
            if code == "request_in_progress" {
                self.stats.in_progress.fetch_add(1, Ordering::Relaxed);
            }
            let retry = status >= 500
                || status == 429
                || json["error"]["retryable"] == Value::Bool(true)
                || (status == 409 && code == "request_in_progress");
            if !retry {
                return Reply::Final(status, json);
            }
            last = format!("{status} {code}");
        }
        unreachable!("the loop returns")
    }

    /// A form POST to the simulator's Stripe API (a reader or a test helper), retried on transport
    /// errors, 5xx and 429 until the deadline; returns (status, body).
    pub async fn sim_post(
        &self,
        rng: &mut StdRng,
        sim_url: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            let sent = self
                .http
                .post(format!("{sim_url}{path}"))
                .bearer_auth(crate::cluster::STRIPE_KEY)
                .form(form)
                .send()
                .await;
            let (status, body) = match sent {
                Ok(r) => {
                    let status = r.status().as_u16();
                    (status, r.json::<Value>().await.unwrap_or(Value::Null))
                }
                Err(e) => (0, Value::String(e.to_string())),
            };
            if (status != 0 && status < 500 && status != 429) || start.elapsed() >= self.deadline {
                return (status, body);
            }
            attempt += 1;
            tokio::time::sleep(pause(rng, attempt)).await;
        }
    }

    /// A GET on the simulator (checks, after faults are cleared).
    pub async fn sim_get(&self, sim_url: &str, path: &str) -> Result<Value, String> {
        let r = self
            .http
            .get(format!("{sim_url}{path}"))
            .bearer_auth(crate::cluster::STRIPE_KEY)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = r.status();
        let body: Value = r.json().await.map_err(|e| format!("GET {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!("GET {path}: {status} {body}"));
        }
        Ok(body)
    }

    /// A JSON request to the simulator's `/_sim` API.
    pub async fn sim_admin(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let r = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = r.status();
        let body: Value = r.json().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{url}: {status} {body}"));
        }
        Ok(body)
    }
}
