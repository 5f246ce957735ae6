//! Webhook endpoints (`/v1/webhook_endpoints`): create, retrieve, update, list, delete, as
//! Stripe documents them. An endpoint belongs to the account of the request (the key's own, or
//! the `Stripe-Account`'s). Its signing `secret` is in the answer to its creation only. `connect`
//! (a creation parameter, not part of the object) makes it receive the events of the connected
//! accounts its platform acts for instead of the account's own. Stripe allows 16 endpoints per
//! account.
//!
//! `webhooks` delivers each event to every enabled endpoint whose `enabled_events` names its type
//! (or is `*`), signed with that endpoint's secret, besides the endpoint configured at start.

use super::error::ApiError;
use super::state::{find, find_mut, list, metadata_json, newest_first, random_id, Ctx, Meta};
use super::state::{Object, State};
use super::webhooks::Endpoint;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Stripe's limit of webhook endpoints per account.
const MAX_ENDPOINTS: usize = 16;

#[derive(Debug, Clone)]
pub(crate) struct WebhookEndpoint {
    pub meta: Meta,
    pub url: String,
    pub enabled_events: Vec<String>,
    pub connect: bool,
    pub enabled: bool,
    pub api_version: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub secret: String,
}

impl Object for WebhookEndpoint {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl WebhookEndpoint {
    pub fn render(&self) -> Value {
        json!({
            "id": self.meta.id,
            "object": "webhook_endpoint",
            "api_version": self.api_version,
            "application": null,
            "created": self.meta.created,
            "description": self.description,
            "enabled_events": self.enabled_events,
            "livemode": false,
            "metadata": metadata_json(&self.metadata),
            "status": if self.enabled { "enabled" } else { "disabled" },
            "url": self.url,
        })
    }

    /// Whether an event of `kind`, in namespace `ns` (`account`: its connected account), goes
    /// to this endpoint. `platform_of` names the platform namespace acting for an account.
    pub fn receives(
        &self,
        kind: &str,
        ns: &str,
        account: Option<&str>,
        platform_of: impl Fn(&str) -> Option<String>,
    ) -> bool {
        if !self.enabled || !self.enabled_events.iter().any(|e| e == "*" || e == kind) {
            return false;
        }
        match (self.connect, account) {
            (false, _) => self.meta.ns == ns,
            (true, Some(account)) => platform_of(account).as_deref() == Some(&self.meta.ns),
            (true, None) => false,
        }
    }

    pub fn target(&self) -> Endpoint {
        Endpoint {
            url: self.url.clone(),
            secret: self.secret.clone(),
        }
    }
}

/// A webhook URL as Stripe takes it: absolute, http(s), with a host.
fn check_url(url: &str) -> Result<(), ApiError> {
    let valid = url::Url::parse(url)
        .ok()
        .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Invalid URL: {url}. URLs must be absolute and start with http:// or https://."
        ))
        .with_code("url_invalid")
        .with_param("url"))
    }
}

/// `enabled_events`: at least one (the values are checked against Stripe's list with the other
/// parameters).
fn enabled_events(ctx: &Ctx) -> Result<Option<Vec<String>>, ApiError> {
    match ctx.params.strings("enabled_events") {
        Some(events) if events.is_empty() => Err(ApiError::missing_param("enabled_events")),
        other => Ok(other),
    }
}

/// `POST /v1/webhook_endpoints`
pub(crate) fn create(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let url = p.str("url").unwrap_or_default();
    check_url(url)?;
    let events = enabled_events(ctx)?.ok_or_else(|| ApiError::missing_param("enabled_events"))?;
    let count = state
        .webhook_endpoints
        .values()
        .filter(|e| e.meta.ns == ctx.ns())
        .count();
    if count >= MAX_ENDPOINTS {
        return Err(ApiError::invalid(format!(
            "You have reached the maximum of {MAX_ENDPOINTS} test webhook endpoints."
        )));
    }
    let mut metadata = BTreeMap::new();
    if let Some(update) = p.metadata() {
        update.apply(&mut metadata);
    }
    let endpoint = WebhookEndpoint {
        meta: state.meta("we", ctx.ns(), ctx.now),
        url: url.to_string(),
        enabled_events: events,
        connect: p.bool("connect").unwrap_or(false),
        enabled: true,
        api_version: p.str("api_version").map(str::to_string),
        description: p
            .str("description")
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        metadata,
        secret: random_id("whsec", 32),
    };
    let mut rendered = endpoint.render();
    rendered["secret"] = json!(endpoint.secret);
    state
        .webhook_endpoints
        .insert(endpoint.meta.id.clone(), endpoint);
    Ok(rendered)
}

/// `GET /v1/webhook_endpoints/{webhook_endpoint}`
pub(crate) fn retrieve(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    find(&state.webhook_endpoints, ctx.ns(), id)
        .map(WebhookEndpoint::render)
        .ok_or_else(|| ApiError::no_such("webhook_endpoint", id, "id"))
}

/// `POST /v1/webhook_endpoints/{webhook_endpoint}`: `url`, `enabled_events`, `disabled`,
/// `description`, `metadata`.
pub(crate) fn update(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let id = ctx.path_param(0);
    if let Some(url) = p.str("url") {
        check_url(url)?;
    }
    let events = enabled_events(ctx)?;
    let endpoint = find_mut(&mut state.webhook_endpoints, ctx.ns(), id)
        .ok_or_else(|| ApiError::no_such("webhook_endpoint", id, "id"))?;
    if let Some(url) = p.str("url") {
        endpoint.url = url.to_string();
    }
    if let Some(events) = events {
        endpoint.enabled_events = events;
    }
    if let Some(disabled) = p.bool("disabled") {
        endpoint.enabled = !disabled;
    }
    if p.has("description") {
        endpoint.description = p
            .str("description")
            .filter(|d| !d.is_empty())
            .map(str::to_string);
    }
    if let Some(update) = p.metadata() {
        update.apply(&mut endpoint.metadata);
    }
    Ok(endpoint.render())
}

/// `GET /v1/webhook_endpoints`: newest first.
pub(crate) fn list_all(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let items = newest_first(&state.webhook_endpoints, ctx.ns());
    list(
        items,
        WebhookEndpoint::render,
        ctx.params,
        "/v1/webhook_endpoints",
    )
}

/// `DELETE /v1/webhook_endpoints/{webhook_endpoint}`
pub(crate) fn delete(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    if find(&state.webhook_endpoints, ctx.ns(), id).is_none() {
        return Err(ApiError::no_such("webhook_endpoint", id, "id"));
    }
    state.webhook_endpoints.remove(id);
    Ok(json!({ "id": id, "object": "webhook_endpoint", "deleted": true }))
}
