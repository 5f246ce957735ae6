//! Terminal Configurations (`/v1/terminal/configurations`: create, retrieve, update, list,
//! delete) and what the simulator models of them: on-reader tipping per currency (`percentages`,
//! `fixed_amounts`, `smart_tip_threshold`) and the BBPOS WisePOS E's splash screen
//! (`bbpos_wisepos_e[splashscreen]`, a File of purpose `terminal_reader_splashscreen` of the same
//! account; empty unsets it). A location uses one through its `configuration_overrides`; the tip
//! choices a reader offers for a payment follow from it (`tip_options`). Other device settings
//! (other readers' splash screens, Wi-Fi, offline mode, …) are not modelled: a request that sets
//! one is refused rather than ignored.

use super::error::ApiError;
use super::state::{find, find_mut, list, newest_first, Ctx, Meta, Object, State};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Stripe's limits on a currency's tipping options: up to three percentages and three fixed
/// amounts.
const MAX_TIP_OPTIONS: usize = 3;

/// One currency's tipping options.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Tipping {
    pub fixed_amounts: Option<Vec<i64>>,
    pub percentages: Option<Vec<i64>>,
    pub smart_tip_threshold: Option<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct Configuration {
    pub meta: Meta,
    pub name: Option<String>,
    /// By lower-case currency code.
    pub tipping: BTreeMap<String, Tipping>,
    /// `bbpos_wisepos_e[splashscreen]`: a File id.
    pub wisepos_e_splashscreen: Option<String>,
}

impl Object for Configuration {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl Configuration {
    pub fn render(&self) -> Value {
        let mut out = json!({
            "id": self.meta.id,
            "object": "terminal.configuration",
            "is_account_default": false,
            "livemode": false,
            "name": self.name,
        });
        if let Some(file) = &self.wisepos_e_splashscreen {
            out["bbpos_wisepos_e"] = json!({ "splashscreen": file });
        }
        if !self.tipping.is_empty() {
            let mut tipping = Map::new();
            for (currency, t) in &self.tipping {
                let mut c = json!({
                    "fixed_amounts": t.fixed_amounts,
                    "percentages": t.percentages,
                });
                if let Some(threshold) = t.smart_tip_threshold {
                    c["smart_tip_threshold"] = json!(threshold);
                }
                tipping.insert(currency.clone(), c);
            }
            out["tipping"] = Value::Object(tipping);
        }
        out
    }
}

/// One tip choice the reader offers: a percentage of the tip-eligible amount or a fixed amount.
pub(crate) fn tip_options(tipping: &Tipping, eligible: i64) -> Value {
    let use_fixed = match (tipping.smart_tip_threshold, &tipping.fixed_amounts) {
        (Some(threshold), Some(_)) => eligible < threshold,
        (None, Some(_)) => tipping.percentages.is_none(),
        (_, None) => false,
    };
    let options: Vec<Value> = if use_fixed {
        tipping
            .fixed_amounts
            .iter()
            .flatten()
            .map(|a| json!({ "type": "fixed_amount", "amount": a }))
            .collect()
    } else {
        tipping
            .percentages
            .iter()
            .flatten()
            // Rounded half up to the currency's minor unit.
            .map(|pct| json!({ "type": "percentage", "percentage": pct, "amount": (eligible * pct + 50) / 100 }))
            .collect()
    };
    json!(options)
}

fn parse_amounts(value: &Value, param: &str, max: i64) -> Result<Option<Vec<i64>>, ApiError> {
    match value {
        Value::String(s) if s.is_empty() => Ok(None),
        Value::Array(items) => {
            if items.len() > MAX_TIP_OPTIONS {
                return Err(ApiError::invalid(format!(
                    "Invalid array: {param} can have at most {MAX_TIP_OPTIONS} values."
                ))
                .with_param(param));
            }
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let n = item
                    .as_str()
                    .and_then(|s| s.parse::<i64>().ok())
                    .filter(|n| (0..=max).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid(format!(
                            "Invalid value: {param}[{i}] must be an integer between 0 and {max}."
                        ))
                        .with_param(&format!("{param}[{i}]"))
                    })?;
                out.push(n);
            }
            Ok(Some(out))
        }
        _ => Err(ApiError::invalid("Invalid array").with_param(param)),
    }
}

/// `tipping[<currency>][…]` from the parameters (`None`: not given; `Some(empty)`: cleared).
fn parse_tipping(ctx: &Ctx) -> Result<Option<BTreeMap<String, Tipping>>, ApiError> {
    let Some(value) = ctx.params.value("tipping") else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    let Value::Object(currencies) = value else {
        // `tipping=`: Stripe's "unset".
        return Ok(Some(out));
    };
    for (currency, v) in currencies {
        let base = format!("tipping[{currency}]");
        let mut t = Tipping::default();
        if let Some(p) = v.get("percentages") {
            t.percentages = parse_amounts(p, &format!("{base}[percentages]"), 100)?;
        }
        if let Some(f) = v.get("fixed_amounts") {
            t.fixed_amounts = parse_amounts(f, &format!("{base}[fixed_amounts]"), i64::MAX)?;
        }
        if let Some(threshold) = v.get("smart_tip_threshold").and_then(Value::as_str) {
            let n = threshold.parse::<i64>().ok().filter(|n| *n >= 0);
            t.smart_tip_threshold = Some(n.ok_or_else(|| {
                ApiError::invalid("This value must be greater than or equal to 0.")
                    .with_param(&format!("{base}[smart_tip_threshold]"))
            })?);
        }
        if t.smart_tip_threshold.is_some() && (t.fixed_amounts.is_none() || t.percentages.is_none())
        {
            return Err(ApiError::invalid(format!(
                "{base}[smart_tip_threshold] needs both {base}[fixed_amounts] (shown below the threshold) and {base}[percentages] (shown above it)."
            ))
            .with_param(&format!("{base}[smart_tip_threshold]")));
        }
        out.insert(currency.clone(), t);
    }
    Ok(Some(out))
}

/// The device settings the simulator does not model.
const DEVICE_SETTINGS: &[&str] = &[
    "bbpos_wisepad3",
    "bbpos_wisepos_e",
    "cellular",
    "offline",
    "reader_security",
    "reboot_window",
    "stripe_s700",
    "stripe_s710",
    "stripe_t600",
    "verifone_m425",
    "verifone_p400",
    "verifone_p630",
    "verifone_ux700",
    "verifone_v660p",
    "wifi",
];

const WISEPOS_E_SPLASH: &str = "bbpos_wisepos_e[splashscreen]";

/// `bbpos_wisepos_e[splashscreen]` when given: `Some(None)` unsets it (empty), else the File of
/// purpose `terminal_reader_splashscreen` of the account it names.
fn parse_splashscreen(state: &State, ctx: &Ctx) -> Result<Option<Option<String>>, ApiError> {
    let Some(device) = ctx.params.value("bbpos_wisepos_e") else {
        return Ok(None);
    };
    let Some(fields) = device.as_object() else {
        return Err(ApiError::invalid("Invalid object").with_param("bbpos_wisepos_e"));
    };
    if let Some(other) = fields.keys().find(|k| k.as_str() != "splashscreen") {
        return Err(ApiError::invalid(format!(
            "Received unknown parameter: bbpos_wisepos_e[{other}]"
        ))
        .with_param(&format!("bbpos_wisepos_e[{other}]")));
    }
    match ctx.params.at_str(&["bbpos_wisepos_e", "splashscreen"]) {
        None | Some("") => Ok(Some(None)),
        Some(id) => match find(&state.files, ctx.ns(), id) {
            None => Err(ApiError::no_such_param("file", id, WISEPOS_E_SPLASH)),
            Some(f) if f.purpose != super::files::SPLASHSCREEN => Err(ApiError::invalid(format!(
                "File {id} has purpose {}; a splash screen needs a file of purpose {}.",
                f.purpose,
                super::files::SPLASHSCREEN
            ))
            .with_param(WISEPOS_E_SPLASH)),
            Some(_) => Ok(Some(Some(id.to_string()))),
        },
    }
}

fn refuse_device_settings(ctx: &Ctx) -> Result<(), ApiError> {
    match DEVICE_SETTINGS
        .iter()
        .filter(|name| **name != "bbpos_wisepos_e")
        .find(|name| ctx.params.has(name))
    {
        Some(name) => Err(ApiError::invalid(format!(
            "The simulator models the name, tipping and WisePOS E splash screen of Terminal configurations only, not {name}."
        ))
        .with_param(name)),
        None => Ok(()),
    }
}

/// `POST /v1/terminal/configurations`
pub(crate) fn create(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    refuse_device_settings(ctx)?;
    let tipping = parse_tipping(ctx)?.unwrap_or_default();
    let splash = parse_splashscreen(state, ctx)?.flatten();
    let configuration = Configuration {
        meta: state.meta("tmc", ctx.ns(), ctx.now),
        name: ctx.params.str("name").map(str::to_string),
        tipping,
        wisepos_e_splashscreen: splash,
    };
    let rendered = configuration.render();
    state
        .configurations
        .insert(configuration.meta.id.clone(), configuration);
    Ok(rendered)
}

fn path_id<'a>(state: &State, ctx: &'a Ctx) -> Result<&'a str, ApiError> {
    let id = ctx.path_param(0);
    find(&state.configurations, ctx.ns(), id)
        .map(|_| id)
        .ok_or_else(|| ApiError::no_such("terminal.configuration", id, "configuration"))
}

/// `GET /v1/terminal/configurations/{configuration}`
pub(crate) fn retrieve(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = path_id(state, ctx)?;
    Ok(state.configurations[id].render())
}

/// `POST /v1/terminal/configurations/{configuration}`
pub(crate) fn update(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = path_id(state, ctx)?.to_string();
    refuse_device_settings(ctx)?;
    let tipping = parse_tipping(ctx)?;
    let splash = parse_splashscreen(state, ctx)?;
    let c = find_mut(&mut state.configurations, ctx.ns(), &id).expect("found");
    if let Some(splash) = splash {
        c.wisepos_e_splashscreen = splash;
    }
    if ctx.params.has("name") {
        c.name = ctx.params.str("name").map(str::to_string);
    }
    if let Some(tipping) = tipping {
        c.tipping = tipping;
    }
    Ok(c.render())
}

/// `DELETE /v1/terminal/configurations/{configuration}`: locations that used it go back to the
/// account's settings.
pub(crate) fn delete(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = path_id(state, ctx)?.to_string();
    state.configurations.remove(&id);
    for location in state.locations.values_mut() {
        if location.configuration_overrides.as_deref() == Some(id.as_str()) {
            location.configuration_overrides = None;
        }
    }
    Ok(json!({ "id": id, "object": "terminal.configuration", "deleted": true }))
}

/// `GET /v1/terminal/configurations`
pub(crate) fn list_all(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    // No configuration the simulator creates is the account default.
    let default_only = ctx.params.bool("is_account_default") == Some(true);
    let items = newest_first(&state.configurations, ctx.ns())
        .into_iter()
        .filter(|_| !default_only)
        .collect::<Vec<_>>();
    list(
        items,
        Configuration::render,
        ctx.params,
        "/v1/terminal/configurations",
    )
}

/// The configuration `id` in the request's account, or a 404 naming `param`.
pub(crate) fn require(state: &State, ctx: &Ctx, id: &str, param: &str) -> Result<(), ApiError> {
    find(&state.configurations, ctx.ns(), id)
        .map(|_| ())
        .ok_or_else(|| ApiError::no_such_param("terminal.configuration", id, param))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_tips_switch_from_fixed_amounts_to_percentages_at_the_threshold() {
        let t = Tipping {
            fixed_amounts: Some(vec![100, 200]),
            percentages: Some(vec![15, 20]),
            smart_tip_threshold: Some(1000),
        };
        assert_eq!(tip_options(&t, 999)[1]["amount"], 200);
        let above = tip_options(&t, 1299);
        assert_eq!(above[0]["percentage"], 15);
        // 15% of 12.99 is 1.9485: 1.95.
        assert_eq!(above[0]["amount"], 195);
        let only_fixed = Tipping {
            fixed_amounts: Some(vec![300]),
            ..Default::default()
        };
        assert_eq!(tip_options(&only_fixed, 5000)[0]["amount"], 300);
    }
}
