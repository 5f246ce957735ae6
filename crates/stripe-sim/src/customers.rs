//! Customers: create, retrieve, update, list, search, and the customer's payment methods.

use super::error::ApiError;
use super::payment_methods;
use super::search::{FieldValue, Query, Searchable};
use super::state::{
    created_matches, find, list, metadata_json, newest_first, Ctx, Meta, Object, State,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(crate) struct Customer {
    pub meta: Meta,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub address: Option<Value>,
    pub shipping: Option<Value>,
    pub preferred_locales: Vec<String>,
    pub default_payment_method: Option<String>,
    pub invoice_prefix: String,
}

impl Object for Customer {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl Searchable for Customer {
    fn field(&self, name: &str) -> FieldValue {
        let text = |v: &Option<String>| v.clone().map_or(FieldValue::Null, FieldValue::Str);
        match name {
            "email" => text(&self.email),
            "name" => text(&self.name),
            "phone" => text(&self.phone),
            "created" => FieldValue::Num(self.meta.created),
            _ => FieldValue::Null,
        }
    }

    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
}

fn address_json(value: &Option<Value>) -> Value {
    match value {
        Some(Value::Object(a)) => {
            let field = |k: &str| a.get(k).cloned().unwrap_or(Value::Null);
            json!({
                "city": field("city"), "country": field("country"), "line1": field("line1"),
                "line2": field("line2"), "postal_code": field("postal_code"), "state": field("state"),
            })
        }
        _ => Value::Null,
    }
}

impl Customer {
    pub fn render(&self) -> Value {
        json!({
            "id": self.meta.id,
            "object": "customer",
            "address": address_json(&self.address),
            "balance": 0,
            "created": self.meta.created,
            "currency": null,
            "default_source": null,
            "delinquent": false,
            "description": self.description,
            "discount": null,
            "email": self.email,
            "invoice_prefix": self.invoice_prefix,
            "invoice_settings": {
                "custom_fields": null,
                "default_payment_method": self.default_payment_method,
                "footer": null,
                "rendering_options": null,
            },
            "livemode": false,
            "metadata": metadata_json(&self.metadata),
            "name": self.name,
            "next_invoice_sequence": 1,
            "phone": self.phone,
            "preferred_locales": self.preferred_locales,
            "shipping": self.shipping.as_ref().map(|s| json!({
                "address": address_json(&s.get("address").cloned()),
                "name": s.get("name"),
                "phone": s.get("phone"),
            })),
            "tax_exempt": "none",
            "test_clock": null,
        })
    }
}

/// A customer of the caller's namespace named by a parameter (400 when missing, like Stripe).
pub(crate) fn require<'a>(
    state: &'a State,
    ns: &str,
    id: &str,
    param: &str,
) -> Result<&'a Customer, ApiError> {
    find(&state.customers, ns, id).ok_or_else(|| ApiError::no_such_param("customer", id, param))
}

fn apply_common(state: &mut State, ctx: &Ctx, customer: &mut Customer) -> Result<(), ApiError> {
    let p = ctx.params;
    let text = |name: &str, field: &mut Option<String>| {
        if p.has(name) {
            *field = p.str(name).map(str::to_string);
        }
    };
    text("email", &mut customer.email);
    text("name", &mut customer.name);
    text("phone", &mut customer.phone);
    text("description", &mut customer.description);
    if p.has("address") {
        customer.address = p.value("address").filter(|v| v.is_object()).cloned();
    }
    if p.has("shipping") {
        customer.shipping = p.value("shipping").filter(|v| v.is_object()).cloned();
    }
    if let Some(locales) = p.strings("preferred_locales") {
        customer.preferred_locales = locales;
    }
    if let Some(update) = p.metadata() {
        update.apply(&mut customer.metadata);
    }
    if p.at(&["invoice_settings", "default_payment_method"])
        .is_some()
    {
        customer.default_payment_method = match p
            .at_str(&["invoice_settings", "default_payment_method"])
        {
            None => None,
            Some(pm) => {
                let attached = find(&state.payment_methods, ctx.ns(), pm)
                    .is_some_and(|m| m.customer.as_deref() == Some(customer.meta.id.as_str()));
                if !attached {
                    return Err(ApiError::invalid(format!(
                        "No such PaymentMethod: '{pm}'; It's possible this PaymentMethod exists on one of your connected accounts, in which case you should retry this request on that connected account."
                    ))
                    .with_code("resource_missing")
                    .with_param("invoice_settings[default_payment_method]"));
                }
                Some(pm.to_string())
            }
        };
    }
    Ok(())
}

/// `POST /v1/customers`
pub(crate) fn create(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let meta = state.meta("cus", ctx.ns(), ctx.now);
    let prefix: String = meta.id[4..12].to_uppercase();
    let mut customer = Customer {
        meta,
        email: None,
        name: None,
        phone: None,
        description: None,
        metadata: BTreeMap::new(),
        address: None,
        shipping: None,
        preferred_locales: Vec::new(),
        default_payment_method: None,
        invoice_prefix: prefix,
    };
    apply_common(state, ctx, &mut customer)?;
    let id = customer.meta.id.clone();
    state.customers.insert(id.clone(), customer);
    if let Some(pm) = ctx.params.str("payment_method") {
        if let Err(error) = payment_methods::attach_to(state, ctx, pm, &id, "payment_method") {
            state.customers.remove(&id);
            return Err(error);
        }
    }
    let rendered = state.customers[&id].render();
    state.emit(
        &ctx.origin,
        "customer.created",
        rendered.clone(),
        None,
        ctx.now,
    );
    Ok(rendered)
}

/// `GET /v1/customers/{customer}`
pub(crate) fn retrieve(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    find(&state.customers, ctx.ns(), id)
        .map(Customer::render)
        .ok_or_else(|| ApiError::no_such("customer", id, "id"))
}

/// `POST /v1/customers/{customer}`
pub(crate) fn update(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0).to_string();
    let mut customer = find(&state.customers, ctx.ns(), &id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("customer", &id, "id"))?;
    let before = customer.render();
    apply_common(state, ctx, &mut customer)?;
    let after = customer.render();
    state.customers.insert(id, customer);
    let previous = previous_attributes(&before, &after);
    if previous.as_object().is_some_and(|m| !m.is_empty()) {
        state.emit(
            &ctx.origin,
            "customer.updated",
            after.clone(),
            Some(previous),
            ctx.now,
        );
    }
    Ok(after)
}

/// The top-level fields of `before` that differ in `after` (an event's `previous_attributes`).
pub(crate) fn previous_attributes(before: &Value, after: &Value) -> Value {
    let mut previous = serde_json::Map::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (k, v) in b {
            if a.get(k) != Some(v) {
                previous.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(previous)
}

/// `GET /v1/customers/search`
pub(crate) fn search(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let query = Query::parse(
        ctx.params.str("query").unwrap_or_default(),
        &["email", "name", "phone", "created"],
    )?;
    let items = newest_first(&state.customers, ctx.ns())
        .into_iter()
        .filter(|c| query.matches(*c))
        .map(Customer::render)
        .collect();
    super::search::result(items, ctx.params, "/v1/customers/search")
}

/// `GET /v1/customers`: newest first, filtered by `email` (exact) and `created`.
pub(crate) fn list_all(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let email = ctx.params.str("email");
    let items = newest_first(&state.customers, ctx.ns())
        .into_iter()
        .filter(|c| email.is_none() || c.email.as_deref() == email)
        .filter(|c| created_matches(ctx.params, c.meta.created))
        .collect::<Vec<_>>();
    list(items, Customer::render, ctx.params, "/v1/customers")
}

/// `GET /v1/customers/{customer}/payment_methods`
pub(crate) fn list_payment_methods(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    if find(&state.customers, ctx.ns(), id).is_none() {
        return Err(ApiError::no_such("customer", id, "customer"));
    }
    payment_methods::list_for(
        state,
        ctx,
        id,
        &format!("/v1/customers/{id}/payment_methods"),
    )
}
