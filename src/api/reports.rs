//! `GET /v1/reports/totals` (scope `payments:read`): an account's sales, refunds, voids and net
//! over a window, per group (local day, location, reader, cashier or currency) and currency, in
//! the merchant's time zone. The measures are `db::reports::MEASURES`, shown by name: counts as
//! integers, amounts as exact decimal strings of the group's currency.

use super::extract::ApiQuery;
use crate::auth::{Caller, Scope};
use crate::db::reports::{TotalsRow, Unit, MEASURES, NET};
use crate::error::Error;
use crate::flows::reports::{self, Bound, GroupBy};
use crate::flows::Services;
use crate::money::{decimal_string, Currency};
use actix_web::{web, HttpResponse};
use chrono::SecondsFormat;
use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotalsQuery {
    external_account_id: String,
    since: Option<String>,
    until: Option<String>,
    group_by: Option<String>,
}

/// `GET /v1/reports/totals`.
pub async fn totals(
    services: web::Data<Services>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TotalsQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsRead, &q.external_account_id)?;
    let bound = |field: &str, v: Option<String>| {
        v.ok_or_else(|| Error::missing(field))
            .and_then(|v| Bound::parse(field, &v))
    };
    let (since, until) = (bound("since", q.since)?, bound("until", q.until)?);
    let group_by = match q.group_by.as_deref() {
        None => GroupBy::Currency,
        Some(g) => GroupBy::parse(g).ok_or_else(|| {
            let names: Vec<&str> = GroupBy::ALL.iter().map(|(n, _)| *n).collect();
            Error::invalid(
                "group_by",
                format!("'group_by' must be one of {}", names.join(", ")),
            )
        })?,
    };
    let totals = reports::totals(&services, account.into_string(), since, until, group_by).await?;
    let groups = totals
        .rows
        .iter()
        .map(group_json)
        .collect::<Result<Vec<Value>, Error>>()?;
    let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    Ok(HttpResponse::Ok().json(json!({
        "external_account_id": totals.external_account_id,
        "time_zone": totals.time_zone.name(),
        "since": at(totals.since),
        "until": at(totals.until),
        "group_by": totals.group_by.as_str(),
        "groups": groups,
    })))
}

/// One row as JSON: `group`, `currency`, every measure, and `net_amount`.
fn group_json(row: &TotalsRow) -> Result<Value, Error> {
    let currency = Currency::parse(&row.currency)
        .map_err(|_| Error::internal(format!("a stored currency '{}'", row.currency)))?;
    let mut object = Map::new();
    object.insert("group".into(), json!(row.group_key));
    object.insert("currency".into(), json!(currency.code()));
    for (measure, value) in MEASURES.iter().zip(&row.values) {
        let shown = match measure.unit {
            Unit::Count => json!(value),
            Unit::Amount => json!(decimal_string(*value, currency)),
        };
        object.insert(measure.name.into(), shown);
    }
    let net = NET.iter().try_fold(0i64, |net, (name, sign)| {
        row.value(name)
            .and_then(|v| v.checked_mul(*sign))
            .and_then(|v| net.checked_add(v))
    });
    let net = net.ok_or_else(|| Error::internal("the net of a totals row overflows"))?;
    object.insert("net_amount".into(), json!(decimal_string(net, currency)));
    Ok(Value::Object(object))
}

/// The JSON schema of one group, from [`MEASURES`] (for the OpenAPI document).
pub fn group_schema() -> Value {
    let mut properties = Map::new();
    properties.insert(
        "group".into(),
        json!({"type": "string", "nullable": true, "description": "The local date (YYYY-MM-DD), Stripe location id, Stripe reader id, external_cashier_id or currency; null: payments without one."}),
    );
    properties.insert("currency".into(), json!({"type": "string"}));
    let mut required = vec![json!("group"), json!("currency"), json!("net_amount")];
    for measure in MEASURES {
        let schema = match measure.unit {
            Unit::Count => json!({"type": "integer", "minimum": 0}),
            Unit::Amount => json!({"$ref": "#/components/schemas/DecimalString"}),
        };
        properties.insert(measure.name.into(), schema);
        required.push(json!(measure.name));
    }
    properties.insert(
        "net_amount".into(),
        json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "description": "Sales less refunds, exact, in the group's currency."}),
    );
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": properties,
    })
}
