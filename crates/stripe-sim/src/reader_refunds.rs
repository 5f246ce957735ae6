//! Refunds in person, on a reader: the server-driven `POST /v1/terminal/readers/{reader}/refund_payment`
//! (completed by the `present_payment_method` test helper), and the simulated JS SDK's
//! `collectRefundPaymentMethod` / `processRefund` (`/_sim/terminal/refunds/…`, see `sim_api`).
//!
//! Stripe's rules, from its Terminal documentation: in-person refunds are how Interac payments
//! are refunded (`POST /v1/refunds` refuses them, `charges`); the cardholder presents the card of
//! the original charge, and "the currency and the card used for refund processing must be the
//! same used for the original charge, otherwise the request fails with an error"; partial refunds
//! pass an amount below the charge's, never more than what is left to refund. The refund made
//! carries the action's `metadata` and emits the same events as any refund (`refund.created`,
//! `charge.refunded`, `charge.refund.updated`), then `terminal.reader.action_succeeded`; a card
//! that does not match fails the action (`terminal.reader.action_failed`) and refunds nothing.
//! Stripe does not document the failure code of a mismatched card: the simulator answers
//! `card_mismatch` (an assumption, docs/decisions.md).

use super::cards::TestCard;
use super::charges::{self, display_amount, Charge};
use super::error::ApiError;
use super::payment_methods::Kind;
use super::state::{find, find_mut, metadata_json, Ctx, Origin, State};
use super::terminal::{path_reader, ActionKind, ReaderAction};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The failure code of a card that is not the charge's (see the module comment).
pub(crate) const CARD_MISMATCH: &str = "card_mismatch";

/// A reader's `refund_payment` action.
#[derive(Debug, Clone)]
pub(crate) struct RefundAction {
    pub charge: String,
    pub payment_intent: String,
    pub amount: i64,
    pub metadata: BTreeMap<String, String>,
    pub reason: Option<String>,
    pub refund_application_fee: Option<bool>,
    pub reverse_transfer: Option<bool>,
    pub enable_customer_cancellation: bool,
    /// The refund made, once the card was read.
    pub refund: Option<String>,
}

impl RefundAction {
    pub fn render(&self) -> Value {
        // Stripe leaves out (rather than nulls) what is not set.
        let mut out = json!({
            "amount": self.amount,
            "charge": self.charge,
            "metadata": metadata_json(&self.metadata),
            "payment_intent": self.payment_intent,
            "refund_payment_config": { "enable_customer_cancellation": self.enable_customer_cancellation },
        });
        let optional = [
            ("reason", self.reason.as_ref().map(|r| json!(r))),
            ("refund", self.refund.as_ref().map(|r| json!(r))),
            (
                "refund_application_fee",
                self.refund_application_fee.map(|b| json!(b)),
            ),
            ("reverse_transfer", self.reverse_transfer.map(|b| json!(b))),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                out[key] = value;
            }
        }
        out
    }

    /// What the reader's screen shows while it waits for the card (`/_sim`).
    pub fn screen(&self, state: &State) -> Value {
        json!({
            "screen": "collect_refund_payment_method",
            "charge": self.charge,
            "payment_intent": self.payment_intent,
            "amount": self.amount,
            "currency": state.charges.get(&self.charge).map(|c| c.currency.clone()),
        })
    }
}

/// A charge that can be refunded now, and how much of it may be: captured, succeeded, not fully
/// refunded; `amount` (default: the rest) positive and at most the rest.
fn refundable(charge: &Charge, amount: Option<i64>) -> Result<i64, ApiError> {
    if !charge.succeeded() || !charge.captured {
        return Err(ApiError::invalid(format!(
            "Charge {} has not been captured; cancel its PaymentIntent to release the authorization instead.",
            charge.meta.id
        ))
        .with_code("charge_not_refundable")
        .with_param("charge"));
    }
    let remaining = charge.amount_captured - charge.amount_refunded;
    if remaining <= 0 {
        return Err(ApiError::invalid(format!(
            "Charge {} has already been refunded.",
            charge.meta.id
        ))
        .with_code("charge_already_refunded")
        .with_param("charge"));
    }
    match amount {
        None => Ok(remaining),
        Some(a) if a <= 0 => Err(ApiError::invalid("Invalid positive integer")
            .with_code("parameter_invalid_integer")
            .with_param("amount")),
        Some(a) if a > remaining => Err(ApiError::invalid(format!(
            "Refund amount ({}) is greater than unrefunded amount on charge ({})",
            display_amount(a, &charge.currency),
            display_amount(remaining, &charge.currency)
        ))
        .with_code("amount_too_large")
        .with_param("amount")),
        Some(a) => Ok(a),
    }
}

/// `POST /v1/terminal/readers/{reader}/refund_payment`: the reader waits for the card of the
/// charge (`payment_intent` or `charge`), for `amount` (default: what is left to refund).
pub(crate) fn refund_payment(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let reader = path_reader(state, ctx)?;
    reader.require_online()?;
    if reader.busy() {
        return Err(ApiError::invalid(
            "Reader is currently busy processing another request. Cancel the current action or wait for it to finish.",
        )
        .with_code("terminal_reader_busy"));
    }
    let reader_id = reader.meta.id.clone();
    let charge_id = charges::refunded_charge(state, ctx)?;
    let charge = find(&state.charges, ctx.ns(), &charge_id)
        .cloned()
        .ok_or_else(|| ApiError::no_such_param("charge", &charge_id, "charge"))?;
    let amount = refundable(&charge, p.int("amount"))?;
    let mut metadata = BTreeMap::new();
    if let Some(update) = p.metadata() {
        update.apply(&mut metadata);
    }
    let action = RefundAction {
        charge: charge_id,
        payment_intent: charge.payment_intent.clone(),
        amount,
        metadata,
        reason: None,
        refund_application_fee: p.bool("refund_application_fee"),
        reverse_transfer: p.bool("reverse_transfer"),
        enable_customer_cancellation: p
            .at_bool(&["refund_payment_config", "enable_customer_cancellation"])
            .unwrap_or(false),
        refund: None,
    };
    let reader = find_mut(&mut state.readers, ctx.ns(), &reader_id).expect("found");
    reader.action = Some(ReaderAction {
        kind: ActionKind::RefundPayment(action),
        status: "in_progress",
        failure_code: None,
        failure_message: None,
    });
    reader.last_seen_at = ctx.now * 1000;
    Ok(reader.render())
}

/// The presented card against the charge's: the same type and card, and the same currency.
fn matches_charge(
    state: &State,
    charge: &Charge,
    kind: Kind,
    card: &TestCard,
) -> Result<(), ApiError> {
    let original = state.payment_methods.get(&charge.payment_method);
    let same = original.is_some_and(|pm| pm.kind == kind && pm.card.number == card.number);
    if same {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "The card presented does not match the card used for charge {}: refunds on a reader go back to the card of the original charge, presented by its cardholder.",
            charge.meta.id
        ))
        .with_code(CARD_MISMATCH))
    }
}

/// `present_payment_method` while a `refund_payment` action waits: the refund is made when the
/// card is the charge's, else the action fails.
pub(crate) fn present(
    state: &mut State,
    ctx: &Ctx,
    reader_id: &str,
    mut action: RefundAction,
    kind: Kind,
    card: &'static TestCard,
) -> Result<Value, ApiError> {
    let outcome = find(&state.charges, ctx.ns(), &action.charge)
        .cloned()
        .ok_or_else(|| ApiError::no_such_param("charge", &action.charge, "charge"))
        .and_then(|charge| {
            matches_charge(state, &charge, kind, card)?;
            // What is left may have shrunk since the action started (another refund).
            refundable(&charge, Some(action.amount))?;
            charges::refund_charge(
                state,
                &ctx.origin,
                ctx.now,
                &action.charge,
                Some(action.amount),
                action.reason.clone(),
                action.metadata.clone(),
            )
        });
    let reader = find_mut(&mut state.readers, ctx.ns(), reader_id).expect("found");
    let (status, failure) = match &outcome {
        Ok(refund) => {
            action.refund = Some(refund.meta.id.clone());
            ("succeeded", None)
        }
        Err(e) => (
            "failed",
            Some((
                e.code.clone().unwrap_or_else(|| e.kind.to_string()),
                e.message.clone(),
            )),
        ),
    };
    reader.action = Some(ReaderAction {
        kind: ActionKind::RefundPayment(action),
        status,
        failure_code: failure.as_ref().map(|f| f.0.clone()),
        failure_message: failure.map(|f| f.1),
    });
    let rendered = reader.render();
    let event = if outcome.is_ok() {
        "terminal.reader.action_succeeded"
    } else {
        "terminal.reader.action_failed"
    };
    state.emit(&ctx.origin, event, rendered.clone(), None, ctx.now);
    Ok(rendered)
}

/// A refund the simulated JS SDK collected (`collectRefundPaymentMethod`), waiting for
/// `processRefund`; one per terminal session.
#[derive(Debug, Clone)]
pub(crate) struct CollectedRefund {
    pub charge: String,
    pub amount: i64,
}

/// `collectRefundPaymentMethod(charge_id, amount, currency)` on the simulated JS terminal: the
/// cardholder presents `card_number` (default: the charge's own card). The Terminal SDKs' refund
/// methods are "only available for payment methods that require in-person refunds, such as
/// Interac Debit": an `interac_present` charge only.
pub(crate) fn collect(
    state: &mut State,
    ns: &str,
    session: &str,
    charge_id: &str,
    amount: i64,
    currency: &str,
    card_number: Option<&str>,
) -> Result<Value, ApiError> {
    let charge = find(&state.charges, ns, charge_id)
        .cloned()
        .ok_or_else(|| ApiError::no_such_param("charge", charge_id, "charge"))?;
    if charge.method_type() != Some("interac_present") {
        return Err(ApiError::invalid(
            "The charge to be refunded and the PaymentMethod provided for the refund must be interac_present type.",
        )
        .with_param("charge"));
    }
    if !currency.eq_ignore_ascii_case(&charge.currency) {
        return Err(ApiError::invalid(format!(
            "The refund's currency ({currency}) must be the charge's ({}).",
            charge.currency
        ))
        .with_param("currency"));
    }
    refundable(&charge, Some(amount))?;
    let original = state
        .payment_methods
        .get(&charge.payment_method)
        .map(|pm| (pm.kind, pm.card));
    let (kind, card) = match (card_number, original) {
        (Some(number), _) => {
            let card = super::cards::lookup(number, "card_number")?;
            let kind = if card.interac {
                Kind::InteracPresent
            } else {
                Kind::CardPresent
            };
            (kind, card)
        }
        (None, Some(original)) => original,
        (None, None) => return Err(ApiError::missing_param("card_number")),
    };
    matches_charge(state, &charge, kind, card)?;
    state.sdk_refunds.insert(
        session.to_string(),
        CollectedRefund {
            charge: charge_id.to_string(),
            amount,
        },
    );
    Ok(json!({ "charge": charge_id, "amount": amount, "currency": charge.currency }))
}

/// `processRefund()` on the simulated JS terminal: makes the collected refund (once).
pub(crate) fn process(
    state: &mut State,
    origin: &Origin,
    now: i64,
    session: &str,
) -> Result<Value, ApiError> {
    let Some(collected) = state.sdk_refunds.remove(session) else {
        return Err(ApiError::invalid(
            "No refund payment method was collected: call collectRefundPaymentMethod first.",
        ));
    };
    charges::refund_charge(
        state,
        origin,
        now,
        &collected.charge,
        Some(collected.amount),
        None,
        BTreeMap::new(),
    )
    .map(|refund| refund.render())
}

/// `cancelCollectRefundPaymentMethod()`: forgets the collected refund.
pub(crate) fn cancel(state: &mut State, session: &str) -> Value {
    let canceled = state.sdk_refunds.remove(session).is_some();
    json!({ "canceled": canceled })
}
