//! Disputes: opened when a payment with one of Stripe's dispute test cards is captured
//! (`charge.dispute.created`, and `charge.dispute.funds_withdrawn` unless it is an inquiry);
//! retrieve, list (by `charge`, `payment_intent`, `created`), update (evidence staged, or
//! submitted with `submit`, Stripe's default) and close (the loss accepted).
//!
//! As in Stripe's test mode, submitted evidence whose `uncategorized_text` is `winning_evidence`
//! wins the dispute and `losing_evidence` loses it, at once (`charge.dispute.updated` to
//! `under_review`, then `charge.dispute.funds_reinstated` for a won chargeback and
//! `charge.dispute.closed`); other evidence leaves it under review. A lost inquiry becomes a
//! chargeback lost at once: its funds are withdrawn then. Evidence is due 21 days after the
//! dispute opened. Every withdrawal carries a 15.00 dispute fee in the dispute's currency, which
//! winning does not return.

use super::balance::Movement;
use super::error::ApiError;
use super::files;
use super::state::{
    created_matches, find, find_mut, list, metadata_json, newest_first, Ctx, Meta, Object, Origin,
    State,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// How long the merchant has to respond.
const RESPONSE_WINDOW_SECS: i64 = 21 * 24 * 60 * 60;
/// The dispute fee, in minor units of the dispute's currency.
pub(crate) const DISPUTE_FEE: i64 = 1500;

/// The magic `uncategorized_text` values of Stripe's test mode.
const WINNING: &str = "winning_evidence";
const LOSING: &str = "losing_evidence";

/// Text evidence fields.
const TEXT_FIELDS: &[&str] = &[
    "access_activity_log",
    "billing_address",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_tracking_number",
    "uncategorized_text",
];

/// Evidence fields that name an uploaded file (`file_…`, purpose `dispute_evidence`).
const FILE_FIELDS: &[&str] = &[
    "cancellation_policy",
    "customer_communication",
    "customer_signature",
    "duplicate_charge_documentation",
    "receipt",
    "refund_policy",
    "service_documentation",
    "shipping_documentation",
    "uncategorized_file",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    WarningNeedsResponse,
    WarningUnderReview,
    WarningClosed,
    NeedsResponse,
    UnderReview,
    Won,
    Lost,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::WarningNeedsResponse => "warning_needs_response",
            Status::WarningUnderReview => "warning_under_review",
            Status::WarningClosed => "warning_closed",
            Status::NeedsResponse => "needs_response",
            Status::UnderReview => "under_review",
            Status::Won => "won",
            Status::Lost => "lost",
        }
    }

    fn needs_response(self) -> bool {
        matches!(self, Status::WarningNeedsResponse | Status::NeedsResponse)
    }

    fn closed(self) -> bool {
        matches!(self, Status::WarningClosed | Status::Won | Status::Lost)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Dispute {
    pub meta: Meta,
    pub amount: i64,
    pub currency: String,
    pub charge: String,
    pub payment_intent: String,
    pub brand: &'static str,
    pub reason: &'static str,
    pub inquiry: bool,
    pub status: Status,
    /// Evidence field → text or file id.
    pub evidence: BTreeMap<String, String>,
    pub submission_count: i64,
    pub due_by: i64,
    pub metadata: BTreeMap<String, String>,
    /// Rendered balance transactions (withdrawal, reinstatement).
    pub balance_transactions: Vec<Value>,
}

impl Object for Dispute {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl Dispute {
    pub fn render(&self) -> Value {
        let mut evidence = serde_json::Map::new();
        for field in TEXT_FIELDS.iter().chain(FILE_FIELDS) {
            evidence.insert(field.to_string(), json!(self.evidence.get(*field)));
        }
        evidence.insert("appeal".into(), Value::Null);
        evidence.insert("enhanced_evidence".into(), json!({}));
        let withdrawn = !self.balance_transactions.is_empty();
        json!({
            "id": self.meta.id,
            "object": "dispute",
            "amount": self.amount,
            "balance_transactions": self.balance_transactions,
            "charge": self.charge,
            "created": self.meta.created,
            "currency": self.currency,
            "enhanced_eligibility_types": [],
            "evidence": evidence,
            "evidence_details": {
                "due_by": self.due_by,
                "enhanced_eligibility": {},
                "has_evidence": !self.evidence.is_empty(),
                "past_due": false,
                "submission_count": self.submission_count,
                "submission_method": if self.submission_count > 0 { "manual" } else { "not_submitted" },
            },
            "intended_submission_method": null,
            "is_charge_refundable": !withdrawn && !self.status.closed(),
            "livemode": false,
            "metadata": metadata_json(&self.metadata),
            "network_reason_code": null,
            "payment_intent": self.payment_intent,
            "payment_method_details": {
                "card": {
                    "brand": self.brand,
                    "case_type": if self.inquiry { "inquiry" } else { "chargeback" },
                    "network": self.brand,
                    "network_reason_code": null,
                },
                "type": "card",
            },
            "reason": self.reason,
            "status": self.status.as_str(),
        })
    }

    /// A balance transaction moving `amount` (negative: withdrawn) with `fee` for this dispute
    /// (recorded in the account's balance, `balance`), rendered.
    fn balance_transaction(&self, state: &mut State, now: i64, amount: i64, fee: i64) -> Value {
        let (description, category) = if amount < 0 {
            (
                format!("Chargeback withdrawal for {}", self.charge),
                "dispute",
            )
        } else {
            (
                format!("Chargeback reversal for {}", self.charge),
                "dispute_reversal",
            )
        };
        let id = state.record_balance(Movement {
            ns: &self.meta.ns,
            now,
            amount,
            fee,
            fee_description: "Dispute fee",
            currency: &self.currency,
            description: Some(description),
            available_on: now,
            kind: "adjustment",
            reporting_category: category,
            source: &self.meta.id,
            payout: None,
        });
        state.balance_transactions[&id].render()
    }
}

/// Opens a dispute on a just-captured charge paid with a dispute test card (nothing otherwise).
pub(crate) fn open_if_disputed(state: &mut State, origin: &Origin, now: i64, charge_id: &str) {
    let Some(charge) = state.charges.get(charge_id) else {
        return;
    };
    let Some(kind) = state
        .payment_methods
        .get(&charge.payment_method)
        .and_then(|pm| pm.card.dispute)
    else {
        return;
    };
    if !charge.captured || charge.amount_captured == 0 || charge.disputed {
        return;
    }
    let brand = state.payment_methods[&charge.payment_method].card.brand;
    let (amount, currency, intent) = (
        charge.amount_captured,
        charge.currency.clone(),
        charge.payment_intent.clone(),
    );
    let meta = state.meta("dp", &origin.ns, now);
    let mut dispute = Dispute {
        meta,
        amount,
        currency,
        charge: charge_id.to_string(),
        payment_intent: intent,
        brand,
        reason: kind.reason,
        inquiry: kind.inquiry,
        status: if kind.inquiry {
            Status::WarningNeedsResponse
        } else {
            Status::NeedsResponse
        },
        evidence: BTreeMap::new(),
        submission_count: 0,
        due_by: now + RESPONSE_WINDOW_SECS,
        metadata: BTreeMap::new(),
        balance_transactions: Vec::new(),
    };
    if !kind.inquiry {
        let withdrawal = dispute.balance_transaction(state, now, -amount, DISPUTE_FEE);
        dispute.balance_transactions.push(withdrawal);
    }
    let charge = state.charges.get_mut(charge_id).expect("found above");
    charge.disputed = true;
    let charge_json = charge.render();
    let rendered = dispute.render();
    state.disputes.insert(dispute.meta.id.clone(), dispute);
    state.emit(
        origin,
        "charge.updated",
        charge_json,
        Some(json!({ "disputed": false })),
        now,
    );
    state.emit(
        origin,
        "charge.dispute.created",
        rendered.clone(),
        None,
        now,
    );
    if !kind.inquiry {
        state.emit(
            origin,
            "charge.dispute.funds_withdrawn",
            rendered,
            None,
            now,
        );
    }
}

fn path_dispute<'a>(state: &'a State, ctx: &Ctx) -> Result<&'a Dispute, ApiError> {
    let id = ctx.path_param(0);
    find(&state.disputes, ctx.ns(), id).ok_or_else(|| ApiError::no_such("dispute", id, "dispute"))
}

/// `GET /v1/disputes/{dispute}`
pub(crate) fn retrieve(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    path_dispute(state, ctx).map(Dispute::render)
}

/// `GET /v1/disputes`: newest first, filtered by `charge`, `payment_intent` and `created`.
pub(crate) fn list_all(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let items = newest_first(&state.disputes, ctx.ns())
        .into_iter()
        .filter(|d| p.str("charge").is_none_or(|c| d.charge == c))
        .filter(|d| {
            p.str("payment_intent")
                .is_none_or(|pi| d.payment_intent == pi)
        })
        .filter(|d| created_matches(p, d.meta.created))
        .collect::<Vec<_>>();
    list(items, Dispute::render, p, "/v1/disputes")
}

/// Refuses a change to a dispute that no longer takes a response.
fn check_open(dispute: &Dispute, action: &str) -> Result<(), ApiError> {
    if dispute.status.needs_response() {
        return Ok(());
    }
    let why = if dispute.status.closed() {
        "it has been closed"
    } else {
        "its evidence has already been submitted"
    };
    Err(ApiError::invalid(format!(
        "You cannot {action} dispute {} because {why} (status: {}).",
        dispute.meta.id,
        dispute.status.as_str()
    ))
    .with_code("dispute_already_submitted_or_closed"))
}

/// `POST /v1/disputes/{dispute}`: evidence (text fields, file ids of `dispute_evidence`
/// uploads), metadata, and `submit` (default true when evidence is given, as Stripe's).
pub(crate) fn update(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let mut dispute = path_dispute(state, ctx)?.clone();
    // Evidence, or an explicit `submit=true` of what is staged; metadata alone submits nothing.
    let changes_evidence = p.has("evidence") || p.bool("submit") == Some(true);
    if changes_evidence {
        check_open(&dispute, "update")?;
    }
    if let Some(Value::Object(evidence)) = p.value("evidence") {
        for (field, value) in evidence {
            let param = format!("evidence[{field}]");
            let Some(text) = value.as_str() else {
                return Err(
                    ApiError::invalid(format!("Invalid {param}: must be a string"))
                        .with_param(&param),
                );
            };
            if FILE_FIELDS.contains(&field.as_str()) && !text.is_empty() {
                files::check_evidence_file(state, ctx.ns(), text, &param)?;
            } else if !TEXT_FIELDS.contains(&field.as_str()) {
                return Err(ApiError::unknown_param(&param));
            }
            if text.is_empty() {
                dispute.evidence.remove(field);
            } else {
                dispute.evidence.insert(field.clone(), text.to_string());
            }
        }
    }
    if let Some(update) = p.metadata() {
        update.apply(&mut dispute.metadata);
    }
    let before = state.disputes[&dispute.meta.id].render();
    let submit = changes_evidence && p.bool("submit") != Some(false);
    let ns = ctx.ns().to_string();
    let (origin, now) = (&ctx.origin, ctx.now);
    if !submit {
        let rendered = dispute.render();
        store(state, &ns, dispute);
        if rendered != before {
            let previous = previous_attributes(&before, &rendered);
            state.emit(
                origin,
                "charge.dispute.updated",
                rendered.clone(),
                Some(previous),
                now,
            );
        }
        return Ok(rendered);
    }
    dispute.submission_count += 1;
    dispute.status = if dispute.inquiry {
        Status::WarningUnderReview
    } else {
        Status::UnderReview
    };
    let rendered = dispute.render();
    let previous = previous_attributes(&before, &rendered);
    state.emit(
        origin,
        "charge.dispute.updated",
        rendered.clone(),
        Some(previous),
        now,
    );
    let outcome = match dispute
        .evidence
        .get("uncategorized_text")
        .map(String::as_str)
    {
        Some(WINNING) => Some(true),
        Some(LOSING) => Some(false),
        _ => None,
    };
    let Some(won) = outcome else {
        store(state, &ns, dispute);
        return Ok(rendered);
    };
    let id = dispute.meta.id.clone();
    store(state, &ns, dispute);
    Ok(close_with(state, origin, now, &id, won))
}

/// `POST /v1/disputes/{dispute}/close`: the merchant accepts the loss (an inquiry is closed
/// without a chargeback).
pub(crate) fn close(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let dispute = path_dispute(state, ctx)?.clone();
    check_open(&dispute, "close")?;
    // Accepting an inquiry ends it: the cardholder's bank asked, nothing was withdrawn.
    let won = dispute.inquiry;
    Ok(close_with(
        state,
        &ctx.origin,
        ctx.now,
        &dispute.meta.id,
        won,
    ))
}

/// Decides dispute `id`: won (inquiry: `warning_closed`; a chargeback's funds are reinstated)
/// or lost (an inquiry's funds are withdrawn now). Emits the events; returns the dispute.
fn close_with(state: &mut State, origin: &Origin, now: i64, id: &str, won: bool) -> Value {
    let mut dispute = state.disputes[id].clone();
    let before = dispute.render();
    let mut money_event = None;
    if won {
        dispute.status = if dispute.inquiry {
            Status::WarningClosed
        } else {
            Status::Won
        };
        if !dispute.balance_transactions.is_empty() {
            let reinstated = dispute.balance_transaction(state, now, dispute.amount, 0);
            dispute.balance_transactions.push(reinstated);
            money_event = Some("charge.dispute.funds_reinstated");
        }
    } else {
        dispute.status = Status::Lost;
        if dispute.balance_transactions.is_empty() {
            let withdrawal = dispute.balance_transaction(state, now, -dispute.amount, DISPUTE_FEE);
            dispute.balance_transactions.push(withdrawal);
            money_event = Some("charge.dispute.funds_withdrawn");
        }
    }
    let rendered = dispute.render();
    state.disputes.insert(id.to_string(), dispute);
    if let Some(kind) = money_event {
        state.emit(origin, kind, rendered.clone(), None, now);
    }
    let previous = previous_attributes(&before, &rendered);
    state.emit(
        origin,
        "charge.dispute.closed",
        rendered.clone(),
        Some(previous),
        now,
    );
    rendered
}

fn store(state: &mut State, ns: &str, dispute: Dispute) {
    if let Some(slot) = find_mut(&mut state.disputes, ns, &dispute.meta.id) {
        *slot = dispute;
    }
}

/// The top-level fields of `before` that differ in `after`, with their old values.
fn previous_attributes(before: &Value, after: &Value) -> Value {
    let mut previous = serde_json::Map::new();
    if let (Some(before), Some(after)) = (before.as_object(), after.as_object()) {
        for (key, old) in before {
            if after.get(key) != Some(old) {
                previous.insert(key.clone(), old.clone());
            }
        }
    }
    Value::Object(previous)
}
