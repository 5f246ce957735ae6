//! The HTTP core: configuration, account context, headers, retries, decoding.
//!
//! Every request carries `Authorization: Bearer <key>`, the pinned `Stripe-Version`, a
//! `User-Agent`, `Stripe-Account` when acting for a connected account, and on POST the caller's
//! `Idempotency-Key` and `Content-Type: application/x-www-form-urlencoded` (even when the body is
//! empty). GET parameters travel in the query string.
//!
//! Retries follow Stripe's own libraries: a connection failure, a 409 (lock timeout, idempotency
//! key in use) and any status ≥ 500 are retried; `Stripe-Should-Retry: true` always retries (the
//! only way a 429 is retried) and `Stripe-Should-Retry: false` never does. Waits grow
//! exponentially from `initial_backoff`, with jitter, capped at `max_backoff` and never shorter than
//! a (capped) `Retry-After`. Every attempt resends the identical body with the same
//! Idempotency-Key, so a retried POST can never create a second object. A timeout is not retried:
//! it is reported as [`StripeError::Timeout`], outcome unknown.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;

use super::error::StripeError;
use super::form::Form;
use crate::secret::Secret;

/// The Stripe API version this client is written against, sent as `Stripe-Version` on every
/// request: the version of `conformance/schemas/stripe.json` (stripe-node 23.2.0's declarations),
/// which the conformance tests check the client's requests and typed objects against.
pub const API_VERSION: &str = "2026-11-18.endive";

/// Stripe's production API.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

const USER_AGENT: &str = concat!("pos-backend/", env!("CARGO_PKG_VERSION"));
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// How the client reaches Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeConfig {
    /// `https://api.stripe.com`, or the simulator's base URL; no trailing path.
    pub api_base: String,
    /// Per attempt, from sending the request to the last byte of the answer.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Wait before the first retry (before jitter); doubles on each further retry.
    pub initial_backoff: Duration,
    /// Upper bound of any wait, including a server's `Retry-After`.
    pub max_backoff: Duration,
}

impl Default for StripeConfig {
    fn default() -> Self {
        StripeConfig {
            api_base: DEFAULT_API_BASE.to_string(),
            timeout: Duration::from_secs(30),
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Whose Stripe account a call acts on: the platform key alone, the platform key plus a connected
/// account (`Stripe-Account: acct_…`), or a merchant's own key.
#[derive(Debug, Clone)]
pub struct StripeAccount {
    pub secret_key: Secret<String>,
    pub stripe_account: Option<String>,
}

impl StripeAccount {
    /// Acting with `secret_key` on its own account.
    pub fn new(secret_key: impl Into<String>) -> Self {
        StripeAccount {
            secret_key: Secret::new(secret_key.into()),
            stripe_account: None,
        }
    }

    /// Acting for the connected account `acct_…`.
    pub fn for_connected_account(mut self, stripe_account: impl Into<String>) -> Self {
        self.stripe_account = Some(stripe_account.into());
        self
    }

    /// A live-mode key (`sk_live_…`, `rk_live_…`): real money.
    pub fn is_live(&self) -> bool {
        let key = self.secret_key.expose();
        key.starts_with("sk_live_") || key.starts_with("rk_live_")
    }
}

/// The Stripe client. Clones share one connection pool.
#[derive(Clone)]
pub struct StripeClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `config.api_base` without a trailing `/`.
    api_base: String,
    config: StripeConfig,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Why an attempt failed, as far as the retry decision is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No complete answer: could not connect, or the connection broke.
    Connection,
    /// An error status, with the `Stripe-Should-Retry` header if present.
    Status {
        status: u16,
        should_retry: Option<bool>,
    },
}

/// Whether to retry after `retries_done` retries, as Stripe's libraries decide.
pub(crate) fn should_retry(failure: Failure, retries_done: u32, max_retries: u32) -> bool {
    if retries_done >= max_retries {
        return false;
    }
    match failure {
        Failure::Connection => true,
        Failure::Status {
            should_retry: Some(verdict),
            ..
        } => verdict,
        Failure::Status { status, .. } => status == 409 || status >= 500,
    }
}

/// The wait before retry number `retry` (1-based): `initial · 2^(retry−1)` capped at `max`, scaled
/// by a jitter factor in [0.5, 1) (`jitter` ∈ [0, 1)), never below `initial`, never below
/// `retry_after` (itself capped at `max`), never above `max`.
pub(crate) fn backoff_delay(
    initial: Duration,
    max: Duration,
    retry: u32,
    jitter: f64,
    retry_after: Option<Duration>,
) -> Duration {
    let exponential = initial
        .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
        .min(max);
    let jittered = exponential.mul_f64(0.5 * (1.0 + jitter.clamp(0.0, 1.0)));
    let mut delay = jittered.max(initial);
    if let Some(retry_after) = retry_after {
        delay = delay.max(retry_after.min(max));
    }
    delay.min(max)
}

/// `{prefix}/{id}{suffix}`, refusing anything that is not a Stripe object id (so an id taken from
/// user input can never change the path: no `/`, `..`, `?`, `%`).
pub(crate) fn id_path(prefix: &str, id: &str, suffix: &str) -> Result<String, StripeError> {
    let valid = !id.is_empty()
        && id.len() <= 255
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(StripeError::InvalidArgument(format!(
            "'{}' is not a Stripe object id",
            id.escape_debug()
        )));
    }
    let mut path = String::with_capacity(prefix.len() + 1 + id.len() + suffix.len());
    path.push_str(prefix);
    path.push('/');
    path.push_str(id);
    path.push_str(suffix);
    Ok(path)
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl StripeClient {
    /// Builds the client and its connection pool. Fails on an `api_base` that is not an http(s)
    /// URL, or if TLS cannot be initialised.
    pub fn new(config: StripeConfig) -> Result<Self, StripeError> {
        match url::Url::parse(&config.api_base) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => {
                return Err(StripeError::InvalidArgument(format!(
                    "api_base '{}' is not an http(s) URL",
                    config.api_base.escape_debug()
                )))
            }
        }
        let mut headers = HeaderMap::new();
        headers.insert("stripe-version", HeaderValue::from_static(API_VERSION));
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .timeout(config.timeout)
            // Shorter than the whole timeout, so an unreachable host is a (retried) connection
            // failure, not an "outcome unknown" timeout.
            .connect_timeout((config.timeout / 2).min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| {
                StripeError::InvalidArgument(format!("cannot build the HTTP client: {e}"))
            })?;
        let api_base = config.api_base.trim_end_matches('/').to_string();
        Ok(StripeClient {
            inner: Arc::new(Inner {
                http,
                api_base,
                config,
            }),
        })
    }

    pub fn config(&self) -> &StripeConfig {
        &self.inner.config
    }

    /// GET `path?query`.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        account: &StripeAccount,
        path: &str,
        query: Form,
    ) -> Result<T, StripeError> {
        self.execute(account, Method::GET, path, query.as_str(), None)
            .await
    }

    /// POST `form` to `path` with `Idempotency-Key: idempotency_key`.
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        account: &StripeAccount,
        path: &str,
        form: Form,
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
        if idempotency_key.is_empty() {
            return Err(StripeError::InvalidArgument(
                "a POST needs a non-empty Idempotency-Key".into(),
            ));
        }
        // Stripe takes at most 255 characters; anything but printable ASCII would not be read as
        // the key we meant (and HTTP trims outer spaces). Never sent: such a key is a bug of ours
        // (`flows::stripe_keys`).
        if !usable_idempotency_key(idempotency_key) {
            return Err(StripeError::InvalidArgument(
                "an Idempotency-Key must be at most 255 printable ASCII characters".into(),
            ));
        }
        let key = HeaderValue::from_str(idempotency_key).map_err(|_| {
            StripeError::InvalidArgument("the Idempotency-Key is not a valid header value".into())
        })?;
        self.execute(
            account,
            Method::POST,
            path,
            "",
            Some((form.into_string(), key)),
        )
        .await
    }

    /// DELETE `path` (idempotent by itself: no key).
    pub(crate) async fn delete<T: DeserializeOwned>(
        &self,
        account: &StripeAccount,
        path: &str,
    ) -> Result<T, StripeError> {
        self.execute(account, Method::DELETE, path, "", None).await
    }

    async fn execute<T: DeserializeOwned>(
        &self,
        account: &StripeAccount,
        method: Method,
        path: &str,
        query: &str,
        post: Option<(String, HeaderValue)>,
    ) -> Result<T, StripeError> {
        let inner = &*self.inner;
        let method_name: &'static str = match method {
            Method::POST => "POST",
            Method::DELETE => "DELETE",
            _ => "GET",
        };

        let mut url = String::with_capacity(inner.api_base.len() + path.len() + 1 + query.len());
        url.push_str(&inner.api_base);
        url.push_str(path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }

        let mut auth = HeaderValue::try_from(format!("Bearer {}", account.secret_key.expose()))
            .map_err(|_| {
                StripeError::InvalidArgument("the secret key is not a valid header value".into())
            })?;
        auth.set_sensitive(true);
        let stripe_account = match &account.stripe_account {
            Some(acct) => Some(HeaderValue::from_str(acct).map_err(|_| {
                StripeError::InvalidArgument(format!(
                    "'{}' is not a valid Stripe-Account",
                    acct.escape_debug()
                ))
            })?),
            None => None,
        };

        // Built once; each attempt sends a clone (the body is shared, not copied).
        let mut builder = inner
            .http
            .request(method, url.as_str())
            .header(AUTHORIZATION, auth);
        if let Some(acct) = stripe_account {
            builder = builder.header("stripe-account", acct);
        }
        if let Some((body, key)) = post {
            // Explicit even for an empty body: some front ends answer a bodiless POST without
            // Content-Length with 411.
            builder = builder
                .header(CONTENT_TYPE, HeaderValue::from_static(FORM_CONTENT_TYPE))
                .header(CONTENT_LENGTH, HeaderValue::from(body.len()))
                .header("idempotency-key", key)
                .body(body);
        }
        let template = builder.build().map_err(|e| {
            StripeError::InvalidArgument(format!("cannot build the request: {}", e.without_url()))
        })?;

        let mut retries = 0u32;
        loop {
            let request = template.try_clone().ok_or_else(|| {
                StripeError::InvalidArgument("the request body cannot be replayed".into())
            })?;

            let timeout = || StripeError::Timeout {
                method: method_name,
                path: path.to_string(),
            };
            let connection = |e: reqwest::Error| StripeError::Connection {
                method: method_name,
                path: path.to_string(),
                source: e.without_url(),
            };

            let (failure, error, retry_after) = match inner.http.execute(request).await {
                Err(e) if e.is_timeout() && !e.is_connect() => return Err(timeout()),
                Err(e) => (Failure::Connection, connection(e), None),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers();
                    let request_id = header_str(headers, "request-id").map(str::to_owned);
                    let should_retry_header = match header_str(headers, "stripe-should-retry") {
                        Some("true") => Some(true),
                        Some("false") => Some(false),
                        _ => None,
                    };
                    let retry_after = header_str(headers, "retry-after")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    match response.bytes().await {
                        Err(e) if e.is_timeout() => return Err(timeout()),
                        Err(e) => (Failure::Connection, connection(e), None),
                        Ok(body) if (200..300).contains(&status) => {
                            let mut de = serde_json::Deserializer::from_slice(&body);
                            return serde_path_to_error::deserialize(&mut de).map_err(|source| {
                                StripeError::Decode {
                                    path: path.to_string(),
                                    status,
                                    request_id,
                                    source,
                                }
                            });
                        }
                        Ok(body) => (
                            Failure::Status {
                                status,
                                should_retry: should_retry_header,
                            },
                            StripeError::from_response(status, request_id, &body),
                            retry_after,
                        ),
                    }
                }
            };

            if !should_retry(failure, retries, inner.config.max_retries) {
                return Err(error);
            }
            retries += 1;
            let delay = backoff_delay(
                inner.config.initial_backoff,
                inner.config.max_backoff,
                retries,
                rand::thread_rng().gen::<f64>(),
                retry_after,
            );
            log::warn!(
                "stripe {method_name} {path}: attempt {retries} failed ({}, code {}, request id {}); retry {retries}/{} in {} ms",
                match failure {
                    Failure::Connection => "connection error".to_string(),
                    Failure::Status { status, .. } => format!("status {status}"),
                },
                error.code().unwrap_or("-"),
                error.request_id().unwrap_or("-"),
                inner.config.max_retries,
                delay.as_millis()
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// Whether Stripe can take `key` as an Idempotency-Key: 1 to 255 printable ASCII characters, not
/// starting or ending with a space (HTTP would trim it).
pub fn usable_idempotency_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 255
        && key.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !key.starts_with(' ')
        && !key.ends_with(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn retry_decisions_follow_stripe_libraries() {
        let status = |status, should_retry| Failure::Status {
            status,
            should_retry,
        };
        assert!(should_retry(Failure::Connection, 0, 2));
        assert!(should_retry(status(500, None), 0, 2));
        assert!(should_retry(status(503, None), 1, 2));
        assert!(should_retry(status(409, None), 0, 2));
        assert!(!should_retry(status(429, None), 0, 2));
        assert!(should_retry(status(429, Some(true)), 0, 2));
        assert!(!should_retry(status(500, Some(false)), 0, 2));
        assert!(!should_retry(status(409, Some(false)), 0, 2));
        assert!(should_retry(status(400, Some(true)), 0, 2));
        assert!(!should_retry(status(400, None), 0, 2));
        assert!(!should_retry(status(402, None), 0, 2));
        // The budget is spent.
        assert!(!should_retry(Failure::Connection, 2, 2));
        assert!(!should_retry(status(500, Some(true)), 2, 2));
        assert!(!should_retry(Failure::Connection, 0, 0));
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_caps() {
        let (initial, max) = (500 * MS, 5000 * MS);
        // Without jitter (factor 0.5) the floor is `initial`.
        assert_eq!(backoff_delay(initial, max, 1, 0.0, None), 500 * MS);
        assert_eq!(backoff_delay(initial, max, 2, 0.0, None), 500 * MS);
        assert_eq!(backoff_delay(initial, max, 3, 0.0, None), 1000 * MS);
        assert_eq!(backoff_delay(initial, max, 4, 0.0, None), 2000 * MS);
        // Full jitter approaches the exponential value.
        assert_eq!(
            backoff_delay(initial, max, 3, 0.999_999, None).as_millis(),
            1999
        );
        assert_eq!(backoff_delay(initial, max, 2, 0.5, None), 750 * MS);
        // Capped, however many retries.
        assert!(backoff_delay(initial, max, 10, 0.999, None) <= max);
        assert!(backoff_delay(initial, max, 60, 0.999, None) <= max);
        assert!(backoff_delay(initial, max, 60, 0.0, None) >= 2500 * MS);
        // Retry-After is honoured up to the cap.
        assert_eq!(
            backoff_delay(initial, max, 1, 0.0, Some(2000 * MS)),
            2000 * MS
        );
        assert_eq!(backoff_delay(initial, max, 1, 0.0, Some(60_000 * MS)), max);
        // Always within [initial, max] for any jitter.
        for retry in 1..8 {
            for j in [0.0, 0.25, 0.5, 0.75, 0.99] {
                let d = backoff_delay(initial, max, retry, j, None);
                assert!(d >= initial && d <= max, "{retry} {j} {d:?}");
            }
        }
    }

    #[test]
    fn id_paths_refuse_non_ids() {
        assert_eq!(
            id_path("/v1/payment_intents", "pi_123", "/capture").unwrap(),
            "/v1/payment_intents/pi_123/capture"
        );
        assert_eq!(
            id_path("/v1/checkout/sessions", "cs_test_a1B2-c", "").unwrap(),
            "/v1/checkout/sessions/cs_test_a1B2-c"
        );
        for bad in [
            "",
            "..",
            "pi_1/../../customers",
            "pi_1?expand[]=x",
            "pi%2F",
            "pi 1",
        ] {
            assert!(
                matches!(
                    id_path("/v1/payment_intents", bad, ""),
                    Err(StripeError::InvalidArgument(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn account_context() {
        let acct = StripeAccount::new("sk_test_abc").for_connected_account("acct_1");
        assert_eq!(acct.stripe_account.as_deref(), Some("acct_1"));
        assert!(!acct.is_live());
        assert!(StripeAccount::new("sk_live_abc").is_live());
        assert!(!format!("{acct:?}").contains("sk_test_abc"));
    }

    #[test]
    fn default_config() {
        let c = StripeConfig::default();
        assert_eq!(c.api_base, "https://api.stripe.com");
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.max_retries, 2);
        assert_eq!((c.initial_backoff, c.max_backoff), (500 * MS, 5000 * MS));
        let client = StripeClient::new(c).unwrap();
        assert!(format!("{client:?}").contains("api.stripe.com"));
    }
}
