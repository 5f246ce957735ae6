//! The simulator's in-memory state: every object by id (each tagged with the namespace — account
//! — it lives in), events, idempotency records, faults, the request log and the webhook endpoints.
//! Guarded by one std `Mutex`, never held across an `.await`.

use super::charges::{Charge, Refund};
use super::checkout::CheckoutSession;
use super::customers::Customer;
use super::disputes::Dispute;
use super::error::ApiError;
use super::events::Event;
use super::faults::Faults;
use super::files::{File, Upload};
use super::idempotency::Idempotency;
use super::params::Params;
use super::payment_intents::PaymentIntent;
use super::payment_methods::PaymentMethod;
use super::retention::{Limits, Watermarks};
use super::setup_intents::SetupIntent;
use super::terminal::{ConnectionToken, Location, Reader, TerminalSession};
use super::terminal_configurations::Configuration;
use super::webhook_endpoints::WebhookEndpoint;
use super::webhooks::Endpoint;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};

/// Identity shared by every stored object.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub id: String,
    /// The account the object belongs to: the `Stripe-Account` it was created under, or the
    /// namespace of the secret key itself.
    pub ns: String,
    /// Creation order (many objects share a `created` second).
    pub seq: u64,
    pub created: i64,
}

/// A stored Stripe object.
pub(crate) trait Object {
    fn meta(&self) -> &Meta;
}

/// Where a state change came from, for the events it emits.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub ns: String,
    /// `Stripe-Account` of the request, copied to events as `account`.
    pub account: Option<String>,
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub method: String,
    pub path: String,
}

impl Origin {
    /// A change made through a `/_sim` endpoint (hosted page, simulated terminal) in `ns`.
    pub fn simulator(ns: &str, path: &str) -> Origin {
        Origin {
            ns: ns.to_string(),
            account: ns.starts_with("acct_").then(|| ns.to_string()),
            request_id: None,
            idempotency_key: None,
            method: "POST".to_string(),
            path: path.to_string(),
        }
    }
}

/// Everything a handler needs to know about its request.
pub(crate) struct Ctx<'a> {
    pub origin: Origin,
    pub params: &'a Params,
    /// Values of the `{…}` segments of the route template, in order.
    pub path_params: Vec<String>,
    pub now: i64,
    /// Public base URL of the simulator (`http://host:port/sim/stripe`), for hosted pages.
    pub base_url: String,
    /// The file part of a `multipart/form-data` request (`POST /v1/files`).
    pub upload: Option<&'a Upload>,
}

impl Ctx<'_> {
    pub fn ns(&self) -> &str {
        &self.origin.ns
    }

    pub fn path_param(&self, i: usize) -> &str {
        &self.path_params[i]
    }
}

/// One logged API request (`GET /_sim/requests`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LogEntry {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub status: u16,
    pub stripe_account: Option<String>,
    pub params: Vec<String>,
    pub request_id: String,
}

#[derive(Default)]
pub(crate) struct State {
    seq: u64,
    pub customers: HashMap<String, Customer>,
    pub payment_intents: HashMap<String, PaymentIntent>,
    pub charges: HashMap<String, Charge>,
    pub refunds: HashMap<String, Refund>,
    pub disputes: HashMap<String, Dispute>,
    /// Uploaded files (`POST /v1/files`).
    pub files: HashMap<String, File>,
    pub payment_methods: HashMap<String, PaymentMethod>,
    pub setup_intents: HashMap<String, SetupIntent>,
    pub checkout_sessions: HashMap<String, CheckoutSession>,
    pub locations: HashMap<String, Location>,
    pub readers: HashMap<String, Reader>,
    pub configurations: HashMap<String, Configuration>,
    /// By secret.
    pub connection_tokens: HashMap<String, ConnectionToken>,
    pub terminal_sessions: HashMap<String, TerminalSession>,
    /// Refunds the simulated JS SDK collected, by terminal session (`reader_refunds`).
    pub sdk_refunds: HashMap<String, crate::reader_refunds::CollectedRefund>,
    /// In creation order; the oldest are evicted beyond the limits (`retention`).
    pub events: VecDeque<Event>,
    /// How many events were evicted from the front of `events`: event number `n` (counting
    /// from 0 since the start) is at `events[n - events_evicted]`.
    pub events_evicted: usize,
    pub idempotency: Idempotency,
    pub faults: Faults,
    /// The last `limits.request_log` requests, oldest first.
    pub requests: VecDeque<LogEntry>,
    pub webhook: Option<Endpoint>,
    /// Registered through `/v1/webhook_endpoints`.
    pub webhook_endpoints: HashMap<String, WebhookEndpoint>,
    /// The platform namespace (`platform:{key}`) that last acted for each connected account:
    /// whose Connect endpoints receive the account's events.
    pub platforms: HashMap<String, String>,
    /// Numbers of the events created by the current request, not yet handed to the webhook
    /// sender.
    pub outbox: Vec<usize>,
    pub limits: Limits,
    pub watermarks: Watermarks,
}

/// `prefix_` followed by random alphanumerics, like Stripe's ids.
pub(crate) fn random_id(prefix: &str, len: usize) -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}_{tail}")
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An object of `map` in namespace `ns`; objects of other namespaces do not exist for the caller.
pub(crate) fn find<'a, T: Object>(
    map: &'a HashMap<String, T>,
    ns: &str,
    id: &str,
) -> Option<&'a T> {
    map.get(id).filter(|o| o.meta().ns == ns)
}

pub(crate) fn find_mut<'a, T: Object>(
    map: &'a mut HashMap<String, T>,
    ns: &str,
    id: &str,
) -> Option<&'a mut T> {
    map.get_mut(id).filter(|o| o.meta().ns == ns)
}

/// The objects of one namespace, newest first.
pub(crate) fn newest_first<'a, T: Object>(map: &'a HashMap<String, T>, ns: &str) -> Vec<&'a T> {
    let mut items: Vec<&T> = map.values().filter(|o| o.meta().ns == ns).collect();
    items.sort_by_key(|o| std::cmp::Reverse(o.meta().seq));
    items
}

impl State {
    /// An empty state bounded by `limits`.
    pub fn new(limits: Limits) -> State {
        State {
            idempotency: Idempotency::new(limits.idempotency_keys),
            limits,
            ..State::default()
        }
    }

    /// Appends to the request log, dropping the oldest entry beyond the limit.
    pub fn log_request(&mut self, entry: LogEntry) {
        self.requests.push_back(entry);
        while self.requests.len() > self.limits.request_log {
            self.requests.pop_front();
        }
    }

    /// Event number `n` (see `events_evicted`), unless it was evicted.
    pub fn event_mut(&mut self, n: usize) -> Option<&mut Event> {
        let index = n.checked_sub(self.events_evicted)?;
        self.events.get_mut(index)
    }

    /// A fresh `Meta` for a new object.
    pub fn meta(&mut self, prefix: &str, ns: &str, now: i64) -> Meta {
        self.seq += 1;
        Meta {
            id: random_id(prefix, 24),
            ns: ns.to_string(),
            seq: self.seq,
            created: now,
        }
    }

    /// Renders the object with this id, whatever its kind, if it exists in `ns`.
    pub fn render_id(&self, ns: &str, id: &str) -> Option<Value> {
        let prefix = id.split('_').next().unwrap_or_default();
        match prefix {
            "cus" => find(&self.customers, ns, id).map(|o| o.render()),
            "pi" => find(&self.payment_intents, ns, id).map(|o| o.render()),
            "ch" | "py" => find(&self.charges, ns, id).map(|o| o.render()),
            "re" => find(&self.refunds, ns, id).map(|o| o.render()),
            "dp" => find(&self.disputes, ns, id).map(|o| o.render()),
            "file" => find(&self.files, ns, id).map(|o| o.render()),
            "pm" => find(&self.payment_methods, ns, id).map(|o| o.render()),
            "seti" => find(&self.setup_intents, ns, id).map(|o| o.render()),
            "setatt" => super::setup_intents::render_attempt(self, ns, id),
            "cs" => find(&self.checkout_sessions, ns, id).map(|o| o.render()),
            "tml" => find(&self.locations, ns, id).map(|o| o.render()),
            "tmr" => find(&self.readers, ns, id).map(|o| o.render()),
            "we" => find(&self.webhook_endpoints, ns, id).map(|o| o.render()),
            "evt" => self
                .events
                .iter()
                .find(|e| e.meta.id == id && e.meta.ns == ns)
                .map(|e| e.render()),
            _ => None,
        }
    }

    /// Applies `expand[]` paths to a rendered response. Each segment of a path names a field:
    /// an id there is replaced by the object, an object is descended into, a list (`data`) is
    /// applied element by element, an includable list the object omits is rendered
    /// ([`State::include`]); anything else cannot be expanded.
    pub fn expand(&self, ns: &str, value: &mut Value, paths: &[String]) -> Result<(), ApiError> {
        for path in paths {
            let segments: Vec<&str> = path.split('.').collect();
            if segments.len() > 4 {
                return Err(ApiError::invalid(format!(
                    "You cannot expand more than 4 levels of a property. Property: {path}"
                ))
                .with_param("expand"));
            }
            self.expand_path(ns, value, &segments, path, None)?;
        }
        Ok(())
    }

    /// `owner`: the resource `value` is part of and the dotted path to `value` inside it (empty
    /// at the resource itself), for includable fields.
    fn expand_path(
        &self,
        ns: &str,
        value: &mut Value,
        segments: &[&str],
        path: &str,
        owner: Option<(&str, &str, &str)>,
    ) -> Result<(), ApiError> {
        let Some((first, rest)) = segments.split_first() else {
            return Ok(());
        };
        let not_expandable = || {
            ApiError::invalid(format!("This property cannot be expanded ({path})."))
                .with_param("expand")
        };
        let Some(object) = value.as_object_mut() else {
            return Err(not_expandable());
        };
        let kind = object
            .get("object")
            .and_then(Value::as_str)
            .map(str::to_string);
        if !expandable(kind.as_deref(), first) {
            return Err(not_expandable());
        }
        let resource = match (&kind, object.get("id").and_then(Value::as_str)) {
            (Some(kind), Some(id)) if kind != "list" => Some((kind.clone(), id.to_string())),
            _ => None,
        };
        let (owner_kind, owner_id, at) = match (&resource, owner) {
            (Some((kind, id)), _) => (kind.as_str(), id.as_str(), String::new()),
            (None, Some((kind, id, at))) => (kind, id, at.to_string()),
            (None, None) => ("", "", String::new()),
        };
        let inside = if at.is_empty() {
            first.to_string()
        } else {
            format!("{at}.{first}")
        };
        if !object.contains_key(*first) {
            let included = self
                .include(ns, owner_kind, owner_id, &inside)
                .ok_or_else(not_expandable)??;
            object.insert(first.to_string(), included);
        }
        let field = object.get_mut(*first).ok_or_else(not_expandable)?;
        let owner = Some((owner_kind, owner_id, inside.as_str()));
        match field {
            Value::Null => Ok(()),
            Value::String(id) => {
                let expanded = self.render_id(ns, id).ok_or_else(not_expandable)?;
                *field = expanded;
                self.expand_path(ns, field, rest, path, None)
            }
            Value::Object(_) => self.expand_path(ns, field, rest, path, owner),
            Value::Array(items) if !rest.is_empty() => {
                for item in items {
                    self.expand_path(ns, item, rest, path, owner)?;
                }
                Ok(())
            }
            _ => Err(not_expandable()),
        }
    }

    /// An includable field (`field`, a dotted path inside the object) of object `id` of type
    /// `kind`: a list Stripe omits unless `expand[]` names it, rendered as a list object with its
    /// first page (10 items, newest first where Stripe lists them so) and the URL of the full list.
    /// `None`: not an includable field of that object.
    fn include(
        &self,
        ns: &str,
        kind: &str,
        id: &str,
        field: &str,
    ) -> Option<Result<Value, ApiError>> {
        let included = |items: Vec<Value>, url: String| {
            let has_more = items.len() > INCLUDED_ITEMS;
            let data: Vec<Value> = items.into_iter().take(INCLUDED_ITEMS).collect();
            json!({ "object": "list", "data": data, "has_more": has_more, "url": url })
        };
        match (kind, field) {
            ("charge", "refunds") => {
                let refunds = newest_first(&self.refunds, ns)
                    .into_iter()
                    .filter(|r| r.charge == id)
                    .map(|r| r.render())
                    .collect();
                Some(Ok(included(refunds, format!("/v1/charges/{id}/refunds"))))
            }
            ("checkout.session", "line_items") => {
                let session = find(&self.checkout_sessions, ns, id)?;
                let items = session.line_items.iter().map(|i| i.render()).collect();
                Some(Ok(included(
                    items,
                    format!("/v1/checkout/sessions/{id}/line_items"),
                )))
            }
            // The simulator has no sources, subscriptions or tax IDs: a customer's are none.
            ("customer", "sources" | "subscriptions" | "tax_ids") => Some(Ok(included(
                Vec::new(),
                format!("/v1/customers/{id}/{field}"),
            ))),
            // Accepted on create but not recorded: an empty list could misreport them.
            ("payment_intent", "amount_details.line_items") => Some(Err(ApiError::invalid(
                "The simulator does not record a PaymentIntent's amount_details line items, so it cannot expand amount_details.line_items.",
            )
            .with_param("expand"))),
            _ => None,
        }
    }

    /// Records an event for a state change and queues it for webhook delivery.
    pub fn emit(
        &mut self,
        origin: &Origin,
        kind: &str,
        object: Value,
        previous: Option<Value>,
        now: i64,
    ) {
        let meta = self.meta("evt", &origin.ns, now);
        let event = Event {
            meta,
            account: origin.account.clone(),
            kind: kind.to_string(),
            object: object.to_string(),
            previous_attributes: previous.map(|p| p.to_string()),
            request_id: origin.request_id.clone(),
            idempotency_key: origin.idempotency_key.clone(),
            source_method: origin.method.clone(),
            source_path: origin.path.clone(),
            delivery: Default::default(),
        };
        self.events.push_back(event);
        self.outbox
            .push(self.events_evicted + self.events.len() - 1);
    }
}

/// A Stripe list object (`{"object": "list", "data", "has_more", "url"}`) over `items` (already
/// newest first), paginated with `limit`, `starting_after` and `ending_before`; only the page is
/// rendered.
pub(crate) fn list<T: Object>(
    items: Vec<&T>,
    render: impl Fn(&T) -> Value,
    params: &Params,
    url: &str,
) -> Result<Value, ApiError> {
    let limit = page_limit(params)?;
    let position = |id: &str, param: &str| {
        items.iter().position(|o| o.meta().id == id).ok_or_else(|| {
            ApiError::invalid(format!("No such object: '{id}'"))
                .with_code("resource_missing")
                .with_param(param)
        })
    };
    let (start, end) = if let Some(after) = params.str("starting_after") {
        let i = position(after, "starting_after")?;
        (i + 1, (i + 1 + limit).min(items.len()))
    } else if let Some(before) = params.str("ending_before") {
        let i = position(before, "ending_before")?;
        (i.saturating_sub(limit), i)
    } else {
        (0, limit.min(items.len()))
    };
    let has_more = if params.has("ending_before") {
        start > 0
    } else {
        end < items.len()
    };
    let data: Vec<Value> = items[start..end].iter().map(|o| render(o)).collect();
    Ok(json!({ "object": "list", "data": data, "has_more": has_more, "url": url }))
}

/// `limit`: 1 to 100, 10 by default.
pub(crate) fn page_limit(params: &Params) -> Result<usize, ApiError> {
    match params.int("limit") {
        None => Ok(10),
        Some(n) if (1..=100).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::invalid(format!(
            "Invalid limit: must be between 1 and 100 (got {n})"
        ))
        .with_param("limit")),
    }
}

/// Matches a `created` filter (`created=…` or `created[gte]=…`, `gt`, `lt`, `lte`).
pub(crate) fn created_matches(params: &Params, created: i64) -> bool {
    match params.value("created") {
        Some(Value::String(s)) => s.parse::<i64>().map_or(true, |t| created == t),
        Some(Value::Object(bounds)) => bounds.iter().all(|(op, v)| {
            let Some(t) = v.as_str().and_then(|s| s.parse::<i64>().ok()) else {
                return true;
            };
            match op.as_str() {
                "gt" => created > t,
                "gte" => created >= t,
                "lt" => created < t,
                "lte" => created <= t,
                _ => true,
            }
        }),
        _ => true,
    }
}

/// Metadata as a JSON object.
pub(crate) fn metadata_json(metadata: &std::collections::BTreeMap<String, String>) -> Value {
    json!(metadata)
}

/// How many items an included list shows (Stripe: "the first handful"; its default page).
const INCLUDED_ITEMS: usize = 10;

/// Whether the spec lets `field` of an object of type `object` be expanded (its
/// `x-expandableFields`, kept in `expandable.json`); a list's or search result's `data` always.
/// Objects the spec names no type for (nested hashes) are descended into freely.
fn expandable(object: Option<&str>, field: &str) -> bool {
    static TABLE: std::sync::OnceLock<HashMap<String, Vec<String>>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        serde_json::from_str(include_str!("expandable.json"))
            .expect("src/sim/expandable.json is valid")
    });
    match object {
        Some("list" | "search_result") => field == "data",
        Some(kind) => table
            .get(kind)
            .is_none_or(|fields| fields.iter().any(|f| f == field)),
        None => true,
    }
}
