//! Automatic payouts, run on the simulator's payout clock (`POST /_sim/payouts`, see `sim_api`):
//! the clock moves forward, every balance transaction whose `available_on` it has reached becomes
//! `available`, and each account's available transactions not yet paid out are grouped per
//! currency into one automatic payout (`po_…`) of their net total — when that total is positive
//! (a negative balance waits for more sales). The payout gets its own balance transaction (type
//! `payout`, minus the amount) and `payout.created` (pending); it is then `paid`
//! (`payout.paid`), or, when the helper is asked to fail it, `failed` with Stripe's
//! `failure_code` and `failure_message` (`payout.failed`): the money comes back to the balance as
//! a `payout_failure` transaction, which the next payout pays out. As at Stripe, the transactions
//! of a failed payout stay listed under it (`GET /v1/balance_transactions?payout=`).
//! Retrieve and list (by `status`, `arrival_date`, `created`) as Stripe's `/v1/payouts`.

use super::balance::Movement;
use super::error::ApiError;
use super::state::{created_matches, find, list, newest_first, Ctx, Meta, Object, Origin, State};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Stripe's payout failure codes the helper can ask for, with Stripe's messages.
pub(crate) const FAILURES: &[(&str, &str)] = &[
    ("account_closed", "The bank account has been closed."),
    ("account_frozen", "The bank account has been frozen."),
    ("bank_account_restricted", "The bank account has restrictions on either the type, or the number, of payouts allowed. This normally indicates that the bank account is a savings or other non-checking account."),
    ("could_not_process", "The bank could not process this payout."),
    ("insufficient_funds", "Your Stripe account has insufficient funds to cover the payout."),
    ("invalid_account_number", "The routing number seems correct, but the account number is invalid."),
    ("no_account", "The bank account details on file are probably incorrect. No bank account could be located with those details."),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Pending,
    Paid,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Paid => "paid",
            Status::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Payout {
    pub meta: Meta,
    pub amount: i64,
    pub currency: String,
    pub arrival_date: i64,
    pub status: Status,
    pub balance_transaction: String,
    pub failure: Option<(&'static str, &'static str)>,
    pub failure_balance_transaction: Option<String>,
}

impl Object for Payout {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl Payout {
    pub fn finished(&self) -> bool {
        self.status != Status::Pending
    }

    pub fn render(&self) -> Value {
        json!({
            "id": self.meta.id,
            "object": "payout",
            "amount": self.amount,
            "application_fee": null,
            "application_fee_amount": null,
            "arrival_date": self.arrival_date,
            "automatic": true,
            "balance_transaction": self.balance_transaction,
            "created": self.meta.created,
            "currency": self.currency,
            "description": "STRIPE PAYOUT",
            "destination": null,
            "failure_balance_transaction": self.failure_balance_transaction,
            "failure_code": self.failure.map(|f| f.0),
            "failure_message": self.failure.map(|f| f.1),
            "livemode": false,
            "metadata": {},
            "method": "standard",
            "original_payout": null,
            "payout_method": null,
            "reconciliation_status": if self.status == Status::Pending { "not_applicable" } else { "completed" },
            "reversed_by": null,
            "source_type": "card",
            "statement_descriptor": null,
            "status": self.status.as_str(),
            "trace_id": null,
            "type": "bank_account",
        })
    }
}

/// Moves the payout clock of the whole simulator forward by `advance` seconds and runs the payout
/// schedule of namespace `ns` at the new time; `failure`: fail every payout it makes with that
/// code. Returns the payouts made, in currency order.
pub(crate) fn run_schedule(
    state: &mut State,
    ns: &str,
    now: i64,
    advance: i64,
    failure: Option<(&'static str, &'static str)>,
) -> Vec<Value> {
    state.payout_clock += advance;
    let clock = now + state.payout_clock;
    for txn in state.balance_transactions.values_mut() {
        if !txn.available && txn.available_on <= clock {
            txn.available = true;
        }
    }
    let mut by_currency: BTreeMap<String, (i64, Vec<String>)> = BTreeMap::new();
    for txn in state.balance_transactions.values() {
        if txn.meta.ns == ns && txn.available && txn.payout.is_none() && txn.kind != "payout" {
            let entry = by_currency.entry(txn.currency.clone()).or_default();
            entry.0 += txn.net();
            entry.1.push(txn.meta.id.clone());
        }
    }
    let origin = Origin::simulator(ns, "/_sim/payouts");
    let mut made = Vec::new();
    for (currency, (total, txns)) in by_currency {
        if total <= 0 {
            continue;
        }
        let meta = state.meta("po", ns, now);
        let id = meta.id.clone();
        for txn in &txns {
            if let Some(t) = state.balance_transactions.get_mut(txn) {
                t.payout = Some(id.clone());
            }
        }
        let own = state.record_balance(Movement {
            ns,
            now,
            amount: -total,
            fee: 0,
            fee_description: "",
            currency: &currency,
            description: Some("STRIPE PAYOUT".to_string()),
            available_on: now,
            kind: "payout",
            reporting_category: "payout",
            source: &id,
            payout: Some(id.clone()),
        });
        let mut payout = Payout {
            meta,
            amount: total,
            currency: currency.clone(),
            arrival_date: clock,
            status: Status::Pending,
            balance_transaction: own,
            failure: None,
            failure_balance_transaction: None,
        };
        state.emit(&origin, "payout.created", payout.render(), None, now);
        let before = payout.render();
        match failure {
            None => {
                payout.status = Status::Paid;
                let rendered = payout.render();
                state.emit(
                    &origin,
                    "payout.paid",
                    rendered,
                    Some(previous(&before, &payout.render())),
                    now,
                );
            }
            Some(f) => {
                let returned = state.record_balance(Movement {
                    ns,
                    now,
                    amount: total,
                    fee: 0,
                    fee_description: "",
                    currency: &currency,
                    description: Some(format!("Payout failure for {id}")),
                    available_on: now,
                    kind: "payout_failure",
                    reporting_category: "payout_reversal",
                    source: &id,
                    payout: None,
                });
                payout.status = Status::Failed;
                payout.failure = Some(f);
                payout.failure_balance_transaction = Some(returned);
                let rendered = payout.render();
                state.emit(
                    &origin,
                    "payout.failed",
                    rendered,
                    Some(previous(&before, &payout.render())),
                    now,
                );
            }
        }
        made.push(payout.render());
        state.payouts.insert(id, payout);
    }
    made
}

/// The top-level fields of `before` that differ in `after`, with their old values.
fn previous(before: &Value, after: &Value) -> Value {
    let mut out = serde_json::Map::new();
    if let (Some(before), Some(after)) = (before.as_object(), after.as_object()) {
        for (key, old) in before {
            if after.get(key) != Some(old) {
                out.insert(key.clone(), old.clone());
            }
        }
    }
    Value::Object(out)
}

/// `GET /v1/payouts/{payout}`
pub(crate) fn retrieve(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    find(&state.payouts, ctx.ns(), id)
        .map(Payout::render)
        .ok_or_else(|| ApiError::no_such("payout", id, "payout"))
}

/// Matches `arrival_date` (`arrival_date=…` or `arrival_date[gte]=…`, `gt`, `lt`, `lte`).
fn arrival_matches(p: &super::params::Params, arrival: i64) -> bool {
    match p.value("arrival_date") {
        Some(Value::String(s)) => s.parse::<i64>().map_or(true, |t| arrival == t),
        Some(Value::Object(bounds)) => bounds.iter().all(|(op, v)| {
            let Some(t) = v.as_str().and_then(|s| s.parse::<i64>().ok()) else {
                return true;
            };
            match op.as_str() {
                "gt" => arrival > t,
                "gte" => arrival >= t,
                "lt" => arrival < t,
                "lte" => arrival <= t,
                _ => true,
            }
        }),
        _ => true,
    }
}

/// `GET /v1/payouts`: newest first, filtered by `status`, `arrival_date` and `created`.
pub(crate) fn list_all(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    if let Some(status) = p.str("status") {
        if !["pending", "paid", "failed", "canceled", "in_transit"].contains(&status) {
            return Err(ApiError::invalid(format!(
                "Invalid status: must be one of canceled, failed, in_transit, paid or pending (got {status})"
            ))
            .with_param("status"));
        }
    }
    let items = newest_first(&state.payouts, ctx.ns())
        .into_iter()
        .filter(|po| p.str("status").is_none_or(|s| po.status.as_str() == s))
        .filter(|po| arrival_matches(p, po.arrival_date))
        .filter(|po| created_matches(p, po.meta.created))
        .collect::<Vec<_>>();
    list(items, Payout::render, p, "/v1/payouts")
}
