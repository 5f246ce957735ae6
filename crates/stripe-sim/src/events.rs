//! Events: one per state change, stored (retrieve, list newest first) and delivered to the
//! webhook endpoint by `webhooks`.

use super::error::ApiError;
use super::faults::glob_match;
use super::state::{created_matches, list, Ctx, Meta, Object, State};
use super::API_VERSION;
use serde::Serialize;
use serde_json::{json, Value};

/// Where an event's webhook delivery stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeliveryStatus {
    /// No webhook endpoint was configured when the event happened.
    #[default]
    NoEndpoint,
    Pending,
    Delivered,
    /// Every attempt failed.
    Failed,
    /// A `drop_webhooks` fault swallowed it.
    Dropped,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Delivery {
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub url: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub meta: Meta,
    pub account: Option<String>,
    pub kind: String,
    /// The object as it was when the event happened, as compact JSON: a `Value` tree costs
    /// several times its text, and events are the bulk of what the simulator keeps.
    pub object: String,
    /// `data.previous_attributes`, as compact JSON.
    pub previous_attributes: Option<String>,
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub source_method: String,
    pub source_path: String,
    pub delivery: Delivery,
}

impl Object for Event {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl Event {
    pub fn render(&self) -> Value {
        let parse = |text: &str| -> Value {
            serde_json::from_str(text).expect("stored from a serialized Value")
        };
        let mut data = json!({ "object": parse(&self.object) });
        if let Some(previous) = &self.previous_attributes {
            data["previous_attributes"] = parse(previous);
        }
        let mut out = json!({
            "id": self.meta.id,
            "object": "event",
            "api_version": API_VERSION,
            "created": self.meta.created,
            "data": data,
            "livemode": false,
            "pending_webhooks": u32::from(self.delivery.status == DeliveryStatus::Pending),
            "request": { "id": self.request_id, "idempotency_key": self.idempotency_key },
            "type": self.kind,
        });
        if let Some(account) = &self.account {
            out["account"] = json!(account);
        }
        out
    }
}

/// `GET /v1/events/{id}`
pub(crate) fn retrieve(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    state
        .events
        .iter()
        .find(|e| e.meta.id == id && e.meta.ns == ctx.ns())
        .map(Event::render)
        .ok_or_else(|| ApiError::no_such("event", id, "id"))
}

/// `GET /v1/events` (newest first; `type` with `*` wildcards, `types[]`, `created`,
/// `delivery_success`).
pub(crate) fn list_all(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    if p.has("type") && p.has("types") {
        return Err(ApiError::invalid(
            "You may only specify one of these parameters: type, types.",
        )
        .with_param("types"));
    }
    let types = p.strings("types");
    let items = state
        .events
        .iter()
        .rev()
        .filter(|e| e.meta.ns == ctx.ns())
        .filter(|e| p.str("type").is_none_or(|t| glob_match(t, &e.kind)))
        .filter(|e| {
            types
                .as_ref()
                .is_none_or(|ts| ts.iter().any(|t| glob_match(t, &e.kind)))
        })
        .filter(|e| created_matches(p, e.meta.created))
        .filter(|e| {
            p.bool("delivery_success")
                .is_none_or(|ok| ok == (e.delivery.status == DeliveryStatus::Delivered))
        })
        .collect::<Vec<_>>();
    list(items, Event::render, p, "/v1/events")
}
