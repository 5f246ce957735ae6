//! Embedded, stateful Stripe simulator speaking Stripe's wire protocol.
//!
//! Mounted inside the backend (`Simulator::scope("/sim/stripe")`) or run alone (`serve`). One
//! catch-all handler per scope routes every request, so authentication, the request log, fault
//! injection, idempotency and 404s behave the same everywhere:
//!
//! - `/v1/…`: the Stripe API (form-encoded requests, Stripe's objects, errors and headers; see
//!   `routes` for the operations). Any `sk_test_…` key (Bearer or basic auth). Objects live in
//!   the namespace of the `Stripe-Account` header, else of the secret key.
//! - `/_sim/…`: simulator controls (faults, request log, the configured webhook endpoint and its
//!   deliveries, hosted Checkout, 3-D Secure and receipt pages, endpoints for the simulated JS
//!   terminal and what a simulated reader's screen shows), JSON, no
//!   authentication, CORS enabled; see `sim_api`.
//!
//! Test cards (`card_present[number]` at a reader, `card_number` on `/_sim` endpoints and
//! Checkout; all expire 12/2030; the fingerprint is stable per number):
//!
//! | number             | brand      | behaviour                                                  |
//! |--------------------|------------|------------------------------------------------------------|
//! | 4242424242424242   | visa       | succeeds (default)                                         |
//! | 5555555555554444   | mastercard | succeeds; name MASTERCARD/TEST, signature                  |
//! | 4000056655665556   | visa debit | succeeds; online PIN                                       |
//! | 378282246310005    | amex       | succeeds; name AMEX/TEST; no incremental authorization     |
//! | 6011111111111117   | discover   | succeeds                                                   |
//! | 5200828282828210   | mastercard | debit: succeeds; online PIN                                |
//! | 5105105105105100   | mastercard | prepaid: succeeds                                          |
//! | 3566002020360505   | jcb        | succeeds (JP card): no overcapture, no increments          |
//! | 4001007020000002   | visa       | succeeds; offline PIN, name CUSTOMER/VALUED                |
//! | 4001000360000005   | visa       | succeeds; online PIN                                       |
//! | 4000000000000002   | visa       | card_declined / generic_decline                            |
//! | 4000000000009995   | visa       | card_declined / insufficient_funds                         |
//! | 4000000000000069   | visa       | expired_card                                               |
//! | 4000000000000119   | visa       | processing_error                                           |
//! | 4000000000009987   | visa       | card_declined / lost_card                                  |
//! | 4000000000009979   | visa       | card_declined / stolen_card                                |
//! | 4111111111111111   | visa       | Apple Pay wallet tap: succeeds, no `generated_card`        |
//! | 4000000000000341   | visa       | succeeds at the reader and saves; later charges of the     |
//! |                    |            | saved card and increments of the authorization decline     |
//! |                    |            | (card_declined / generic_decline)                          |
//! | 4000002760003184   | visa       | online payments need 3-D Secure (`requires_action`; off    |
//! |                    |            | session: authentication_required); fine at a reader        |
//! | 4506445006931933   | interac    | `interac_present` (CAD), captured at once; online PIN      |
//! | 4000000000000259   | visa       | succeeds; once captured, disputed as `fraudulent`          |
//! | 4000000000002685   | visa       | succeeds; once captured, disputed `product_not_received`   |
//! | 4000000000001976   | visa       | succeeds; once captured, an inquiry (`general`)            |
//!
//! Stripe documents the dispute cards for online payments; the simulated reader takes them too
//! (`card_present[number]`, `/_sim/terminal/collect`), so card-present disputes can be tested
//! (`disputes`: evidence, `winning_evidence` / `losing_evidence`, close). File uploads
//! (`POST /v1/files`, multipart) are served on the same base URL as the API (`files`).
//!
//! Card-present charges carry the card's receipt data (`payment_method_details.card_present.
//! receipt`: AID, application name, account type, CVM, cryptogram, authorization code, TVR, TSI),
//! `read_method` (wallets `contactless_emv`, cards `contact_emv`) and the cardholder name when the
//! chip gives one. With manual capture: `capture_before` (2 days; 30 with
//! `request_extended_authorization` on Visa, Mastercard, Amex, Discover),
//! `incremental_authorization_supported` (requested, and Visa, Mastercard or Discover; at most 10
//! attempts) and `overcapture_supported` (USD, US Visa, Mastercard, Amex or Discover: capture up
//! to 50% or 50 USD above the authorized amount, whichever is greater).
//!
//! Money moves through each account's balance (`balance`): a capture is a `charge` balance
//! transaction (the charge's `balance_transaction`) carrying the simulated fee — card-present and
//! Interac 2.7% + 5 minor units of the currency, online cards 2.9% + 30, the percentage rounded
//! half up — available 2 days later; a refund is a `refund` transaction (negative, no fee
//! returned); a dispute's withdrawal (with its 15.00 fee) and reinstatement are `adjustment`s.
//! Automatic payouts run on a payout clock that only the `POST /_sim/payouts` test helper moves
//! (`payouts`; `GET /v1/payouts`, `GET /v1/balance_transactions?payout=`).
//!
//! Magic PaymentMethod ids: `pm_card_visa`, `pm_card_mastercard`, `pm_card_visa_debit`,
//! `pm_card_amex`, `pm_card_discover`, `pm_card_chargeDeclined`,
//! `pm_card_chargeDeclinedInsufficientFunds`, `pm_card_chargeDeclinedExpiredCard`,
//! `pm_card_chargeDeclinedProcessingError`, `pm_card_chargeDeclinedLostCard`,
//! `pm_card_chargeDeclinedStolenCard`, `pm_card_chargeCustomerFail` (0341),
//! `pm_card_authenticationRequired`, `pm_card_createDispute`,
//! `pm_card_createDisputeProductNotReceived`, `pm_card_createDisputeInquiry`.
//!
//! State lives in memory behind one std `Mutex` that is never held across an `.await`; delays
//! (latency, hangs, webhook retries) sleep on tokio. Memory is bounded (`SimConfig::limits`):
//! the request log, idempotency keys and events are rings, finished objects beyond a horizon are
//! evicted and then answer 404 `resource_missing` (see `retention`).

mod balance;
mod cards;
mod charges;
mod checkout;
mod currencies;
mod customers;
mod disputes;
mod error;
mod events;
mod faults;
mod files;
mod hosted;
mod idempotency;
mod params;
mod payment_intents;
mod payment_methods;
mod payouts;
mod reader_refunds;
mod retention;
mod routes;
mod search;
mod setup_intents;
mod sim_api;
mod state;
mod terminal;
mod terminal_configurations;
mod webhook_endpoints;
pub mod webhooks;

pub use faults::FaultRule;
pub use retention::Limits;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer, Scope};
use error::ApiError;
use idempotency::{Begin, Fingerprint, Stored};
use params::Params;
use state::{random_id, Ctx, LogEntry, Origin, State};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use webhooks::{Endpoint, Job};

/// The API version the simulator reports (`Stripe-Version`) unless the request pins one.
pub const API_VERSION: &str = "2026-11-18.endive";

/// The largest request body the simulator reads (file uploads with their multipart framing).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// Stripe's limit on `Idempotency-Key` length.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Simulator settings.
#[derive(Clone, Default)]
pub struct SimConfig {
    /// Where signed events are POSTed (None: nowhere until set via `/_sim/webhook_endpoint`).
    pub webhook_url: Option<String>,
    /// The endpoint's signing secret, `whsec_…`.
    pub webhook_secret: String,
    /// Faults active from the start (same JSON as `POST /_sim/faults`).
    pub faults: Vec<FaultRule>,
    /// How much the simulator remembers (request log, idempotency keys, events, finished
    /// objects); see [`Limits`].
    pub limits: Limits,
}

/// The webhook secret stays out of logs.
impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("webhook_url", &self.webhook_url)
            .field("webhook_secret", &"***")
            .field("faults", &self.faults)
            .field("limits", &self.limits)
            .finish()
    }
}

/// A running simulator; cheap to clone (shared state).
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    state: Mutex<State>,
    http: reqwest::Client,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The status, body and headers of one simulated API answer.
struct Reply {
    status: u16,
    body: String,
    should_retry: Option<bool>,
    /// For an idempotent replay: the request id of the original request.
    replay_of: Option<String>,
}

impl Reply {
    /// An error answer; like Stripe's, it links the request's log entry (`request_log_url`).
    fn error(error: &ApiError, request_id: &str) -> Reply {
        let mut envelope = error.envelope();
        envelope["error"]["request_log_url"] = serde_json::json!(format!(
            "https://dashboard.stripe.com/test/logs/{request_id}"
        ));
        Reply {
            status: error.status,
            body: pretty(&envelope),
            should_retry: error.should_retry,
            replay_of: None,
        }
    }
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON values serialize")
}

impl Simulator {
    pub fn new(config: SimConfig) -> Simulator {
        let mut state = State::new(config.limits);
        if let Some(url) = config.webhook_url {
            state.webhook = Some(Endpoint {
                url,
                secret: config.webhook_secret,
            });
        }
        for rule in config.faults {
            state.faults.add(rule);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client builds");
        Simulator {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                http,
            }),
        }
    }

    /// All simulator routes under `prefix` ("/sim/stripe" when embedded, "" standalone). Unknown
    /// paths get Stripe's 404 envelope.
    pub fn scope(&self, prefix: &str) -> Scope {
        let sim = self.clone();
        let prefix = prefix.trim_end_matches('/').to_string();
        web::scope(&prefix.clone())
            // File uploads: the largest Stripe takes here (5 MB of dispute evidence, a 4 MB GIF
            // splash screen) in a multipart body, whatever limit the host app sets for its own.
            .app_data(web::PayloadConfig::new(MAX_REQUEST_BYTES))
            .default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let sim = sim.clone();
                let prefix = prefix.clone();
                async move { sim.handle(req, body, &prefix).await }
            }))
    }

    async fn handle(&self, req: HttpRequest, body: web::Bytes, prefix: &str) -> HttpResponse {
        let path = req
            .path()
            .strip_prefix(prefix)
            .filter(|p| p.is_empty() || p.starts_with('/'))
            .unwrap_or(req.path())
            .to_string();
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        let base_url = {
            let info = req.connection_info();
            format!("{}://{}{}", info.scheme(), info.host(), prefix)
        };
        if path == "/_sim" || path.starts_with("/_sim/") {
            return sim_api::handle(self, &req, &body, &path, &base_url).await;
        }
        let request_id = random_id("req", 14);
        let version = header(&req, "Stripe-Version").unwrap_or_else(|| API_VERSION.to_string());
        let idempotency_key = if req.method() == actix_web::http::Method::POST {
            idempotency_key_header(&req)
        } else {
            Ok(None)
        };
        let reply = self
            .api(
                &req,
                &body,
                &path,
                &base_url,
                &request_id,
                idempotency_key.as_ref().map(Option::as_deref),
            )
            .await;
        let idempotency_key = idempotency_key.ok().flatten();
        let mut response = HttpResponse::build(
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        );
        response
            .content_type("application/json")
            .insert_header(("Request-Id", request_id.as_str()))
            .insert_header(("Stripe-Version", version))
            .insert_header(("Cache-Control", "no-cache, no-store"))
            .insert_header(("Access-Control-Allow-Origin", "*"));
        if let Some(key) = &idempotency_key {
            response.insert_header(("Idempotency-Key", key.as_str()));
        }
        if let Some(original) = &reply.replay_of {
            response
                .insert_header(("Idempotent-Replayed", "true"))
                .insert_header(("Original-Request", original.as_str()));
        }
        if let Some(retry) = reply.should_retry {
            response.insert_header(("Stripe-Should-Retry", if retry { "true" } else { "false" }));
        }
        response.body(reply.body)
    }

    /// One Stripe API request: auth → parameters → idempotency → faults → handler → stored
    /// result → webhooks → (hang) → answer.
    async fn api(
        &self,
        req: &HttpRequest,
        body: &[u8],
        path: &str,
        base_url: &str,
        request_id: &str,
        idempotency_key: Result<Option<&str>, &ApiError>,
    ) -> Reply {
        // An unreadable key is refused (after authentication and parameters), never ignored.
        let (idempotency_key, key_error) = match idempotency_key {
            Ok(key) => (key, None),
            Err(error) => (None, Some(error.clone())),
        };
        let method = req.method().as_str().to_ascii_uppercase();
        let account = header(req, "Stripe-Account");
        let mut pairs = Params::pairs(req.query_string().as_bytes());
        let mut upload = None;
        let mut unreadable = None;
        if method != "GET" && method != "DELETE" {
            let content_type = header(req, "Content-Type").unwrap_or_default();
            if content_type
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
            {
                match files::parse_multipart(&content_type, body) {
                    Some((fields, file)) => {
                        pairs.extend(fields);
                        upload = file;
                    }
                    None => {
                        unreadable = Some(ApiError::invalid(
                            "Invalid request: the multipart/form-data body could not be read.",
                        ))
                    }
                }
            } else {
                pairs.extend(Params::pairs(body));
            }
        }
        // The file part stands in the parameters as `file[name]` (Stripe's `file` is an object
        // of `data`, `name` and `type`); its bytes reach the handler as `Ctx::upload`.
        if let Some(file) = &upload {
            pairs.push((
                "file[name]".to_string(),
                file.filename.clone().unwrap_or_default(),
            ));
        }
        let mut entry = LogEntry {
            method: method.clone(),
            path: path.to_string(),
            idempotency_key: idempotency_key.map(str::to_string),
            status: 0,
            stripe_account: account.clone(),
            params: pairs.iter().map(|(k, _)| k.clone()).collect(),
            request_id: request_id.to_string(),
        };
        let prepared = prepare(req, body, path, &method, account.as_deref(), &pairs)
            .and_then(|p| match unreadable {
                Some(error) => Err(error),
                None => Ok(p),
            })
            .and_then(|p| match key_error {
                Some(error) => Err(error),
                None => Ok(p),
            });
        let (ns, platform, route, path_params, params) = match prepared {
            Ok(p) => p,
            Err(error) => return self.logged(entry, Reply::error(&error, request_id)),
        };
        let fingerprint = Fingerprint {
            method: method.clone(),
            path: path.to_string(),
            params: params.tree().clone(),
        };
        let now = state::now();
        let effects = {
            let mut state = self.inner.lock();
            if let Some(key) = idempotency_key {
                match state.idempotency.begin(&ns, key, fingerprint, now) {
                    Begin::Proceed => {}
                    Begin::Replay(stored) => {
                        drop(state);
                        return self.logged(
                            entry,
                            Reply {
                                status: stored.status,
                                body: stored.body,
                                should_retry: stored.should_retry,
                                replay_of: Some(stored.request_id),
                            },
                        );
                    }
                    Begin::Reject(error) => {
                        drop(state);
                        return self.logged(entry, Reply::error(&error, request_id));
                    }
                }
            }
            state.faults.on_request(&method, path)
        };
        if effects.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(effects.latency_ms)).await;
        }
        if let Some(error) = effects.failure() {
            if let Some(key) = idempotency_key {
                self.inner.lock().idempotency.abandon(&ns, key);
            }
            return self.logged(entry, Reply::error(&error, request_id));
        }
        let (reply, jobs) = {
            let mut state = self.inner.lock();
            if let Some(account) = &account {
                if state.platforms.get(account) != Some(&platform) {
                    state.platforms.insert(account.clone(), platform);
                }
            }
            let ctx = Ctx {
                origin: Origin {
                    ns: ns.clone(),
                    account: account.clone(),
                    request_id: Some(request_id.to_string()),
                    idempotency_key: idempotency_key.map(str::to_string),
                    method: method.clone(),
                    path: path.to_string(),
                },
                params: &params,
                path_params,
                now,
                base_url: base_url.to_string(),
                upload: upload.as_ref(),
            };
            let result = (route.handler)(&mut state, &ctx).and_then(|mut value| {
                state.expand(&ns, &mut value, &params.expand())?;
                Ok(value)
            });
            let (reply, store) = match result {
                Ok(value) => (
                    Reply {
                        status: 200,
                        body: pretty(&value),
                        should_retry: None,
                        replay_of: None,
                    },
                    true,
                ),
                Err(error) => (
                    Reply::error(&error, request_id),
                    error.is_stored_for_idempotency(),
                ),
            };
            if let Some(key) = idempotency_key {
                if store {
                    let stored = Stored {
                        status: reply.status,
                        body: reply.body.clone(),
                        request_id: request_id.to_string(),
                        should_retry: reply.should_retry,
                    };
                    state.idempotency.finish(&ns, key, stored, now);
                } else {
                    state.idempotency.abandon(&ns, key);
                }
            }
            entry.status = reply.status;
            state.log_request(entry);
            (reply, take_jobs(&mut state))
        };
        self.spawn_deliveries(jobs);
        if effects.hang_ms > 0 {
            tokio::time::sleep(Duration::from_millis(effects.hang_ms)).await;
        }
        reply
    }

    fn logged(&self, mut entry: LogEntry, reply: Reply) -> Reply {
        entry.status = reply.status;
        self.inner.lock().log_request(entry);
        reply
    }

    pub(crate) fn spawn_deliveries(&self, jobs: Vec<Job>) {
        for job in jobs {
            tokio::spawn(webhooks::deliver(self.inner.clone(), job));
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

/// Hands the events of the current request to the webhook sender (or marks them dropped), then
/// brings the state back within its limits (`retention`).
pub(crate) fn take_jobs(state: &mut State) -> Vec<Job> {
    let outbox = std::mem::take(&mut state.outbox);
    let mut jobs = Vec::new();
    for number in outbox {
        let Some(e) = state.event_mut(number) else {
            continue;
        };
        let (kind, method, path, ns, account) = (
            e.kind.clone(),
            e.source_method.clone(),
            e.source_path.clone(),
            e.meta.ns.clone(),
            e.account.clone(),
        );
        let mut registered: Vec<(u64, webhooks::Endpoint)> = state
            .webhook_endpoints
            .values()
            .filter(|endpoint| {
                endpoint.receives(&kind, &ns, account.as_deref(), |a| {
                    state.platforms.get(a).cloned()
                })
            })
            .map(|endpoint| (endpoint.meta.seq, endpoint.target()))
            .collect();
        registered.sort_by_key(|(seq, _)| *seq);
        let configured = state.webhook.clone();
        if configured.is_none() && registered.is_empty() {
            continue;
        }
        let dropped = state.faults.drop_event(&kind, &method, &path);
        let event = state.event_mut(number).expect("looked up above");
        if let Some(endpoint) = &configured {
            event.delivery.url = Some(endpoint.url.clone());
            event.delivery.status = if dropped {
                events::DeliveryStatus::Dropped
            } else {
                events::DeliveryStatus::Pending
            };
        }
        if dropped {
            continue;
        }
        let body = serde_json::to_string(&event.render()).expect("JSON values serialize");
        if let Some(endpoint) = configured {
            jobs.push(Job {
                event: number,
                body: body.clone(),
                endpoint,
                recorded: true,
            });
        }
        for (_, endpoint) in registered {
            jobs.push(Job {
                event: number,
                body: body.clone(),
                endpoint,
                recorded: false,
            });
        }
    }
    state.compact(state::now());
    jobs
}

/// A POST's `Idempotency-Key`: none when absent or blank; a 400 `invalid_request_error` when it
/// cannot be used as Stripe's key (over 255 characters, or anything but printable ASCII).
fn idempotency_key_header(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let bytes = raw.as_bytes().trim_ascii();
    if bytes.is_empty() {
        return Ok(None);
    }
    if bytes.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(ApiError::invalid(format!(
            "Idempotency keys must be at most {MAX_IDEMPOTENCY_KEY_LEN} characters long."
        )));
    }
    if !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(ApiError::invalid(
            "Idempotency keys may contain only printable ASCII characters.",
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The secret key of a request: `Authorization: Bearer sk_test_…` or basic auth with the key as
/// user name.
fn secret_key(req: &HttpRequest) -> Result<String, ApiError> {
    let no_key = || {
        ApiError::invalid(
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
        )
        .with_status(401)
    };
    let value = header(req, "Authorization").ok_or_else(no_key)?;
    let key = if let Some(token) = value.strip_prefix("Bearer ") {
        token.trim().to_string()
    } else if let Some(encoded) = value.strip_prefix("Basic ") {
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(no_key)?;
        decoded.split(':').next().unwrap_or_default().to_string()
    } else {
        return Err(no_key());
    };
    if key.starts_with("sk_test_") && key.len() > "sk_test_".len() {
        Ok(key)
    } else {
        let shown: String = key
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(ApiError::invalid(format!(
            "Invalid API Key provided: {}****{shown}",
            key.chars().take(8).collect::<String>()
        ))
        .with_status(401))
    }
}

/// The request's namespace, its key's own namespace, the route, its path values and parameters.
type Prepared = (String, String, &'static routes::Route, Vec<String>, Params);

/// Authentication, body format, routing and parameter validation: everything that happens
/// before a request can execute.
fn prepare(
    req: &HttpRequest,
    body: &[u8],
    path: &str,
    method: &str,
    account: Option<&str>,
    pairs: &[(String, String)],
) -> Result<Prepared, ApiError> {
    let key = secret_key(req)?;
    if let Some(account) = account {
        if !account.starts_with("acct_") || account.len() <= "acct_".len() {
            return Err(ApiError::invalid(format!(
                "The provided key '{}' does not have access to account '{account}' (or that account does not exist). Application access may have been revoked.",
                &key[..8]
            ))
            .with_code("account_invalid")
            .with_status(403));
        }
    }
    let content_type = header(req, "Content-Type")
        .unwrap_or_default()
        .to_lowercase();
    if !body.is_empty()
        && method != "GET"
        && method != "DELETE"
        && !content_type.is_empty()
        && !content_type.starts_with("application/x-www-form-urlencoded")
        && !content_type.starts_with("multipart/form-data")
    {
        return Err(ApiError::invalid(format!(
            "Invalid request: the body must be form-encoded (Content-Type: application/x-www-form-urlencoded, or multipart/form-data), not {content_type}. Stripe's API does not accept JSON request bodies."
        )));
    }
    let (route, path_params) = routes::find(method, path)?;
    let params = Params::parse(params::operation(&route.operation()), pairs)?;
    let platform = format!("platform:{key}");
    let ns = match account {
        Some(account) => account.to_string(),
        None => platform.clone(),
    };
    Ok((ns, platform, route, path_params, params))
}

/// How long an idle client connection is kept open: longer than the idle time after which HTTP
/// clients drop a pooled connection (60 s is common), so a client never reuses a connection the
/// simulator is closing at that moment; actix's default is 5 s.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(75);

/// Runs the simulator alone (`pos-backend stripe-sim --listen …`).
pub async fn serve(listener: std::net::TcpListener, sim: Simulator) -> std::io::Result<()> {
    // Built in its own statement so that only the (Send) server handle lives across the await.
    let server = HttpServer::new(move || App::new().service(sim.scope("")))
        .keep_alive(KEEP_ALIVE)
        .listen(listener)?
        .run();
    server.await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_hides_the_webhook_secret() {
        let config = SimConfig {
            webhook_url: Some("http://localhost/hook".into()),
            webhook_secret: "whsec_very_secret".into(),
            faults: vec![],
            limits: Limits::default(),
        };
        let shown = format!("{config:?}");
        assert!(shown.contains("http://localhost/hook"));
        assert!(!shown.contains("very_secret"));
    }
}
