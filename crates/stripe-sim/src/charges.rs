//! Charges (created when a PaymentIntent is confirmed; retrieve) and refunds (create, retrieve,
//! list; never more than captured minus already refunded).

use super::cards::Decline;
use super::error::ApiError;
use super::payment_intents::Status;
use super::state::{
    created_matches, find, find_mut, list, metadata_json, newest_first, Ctx, Meta, Object, Origin,
    State,
};
use crate::currencies::Currency;
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(crate) struct Charge {
    pub meta: Meta,
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub captured: bool,
    pub currency: String,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub payment_intent: String,
    pub payment_method: String,
    /// `payment_method_details`, fixed when the card was authorized (`generated_card` included).
    pub details: Value,
    pub failure: Option<Decline>,
    pub receipt_email: Option<String>,
    pub statement_descriptor: Option<String>,
    /// The simulated receipt page (`/_sim/receipts/{charge}`), shown once the charge succeeded.
    pub receipt_url: String,
    /// A dispute was opened on the charge.
    pub disputed: bool,
}

impl Object for Charge {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl Charge {
    /// `payment_method_details.type` (`card_present`, `interac_present`, `card`).
    pub fn method_type(&self) -> Option<&str> {
        self.details["type"].as_str()
    }

    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }

    pub fn refunded(&self) -> bool {
        if self.captured {
            self.amount_refunded >= self.amount_captured
        } else {
            self.amount_refunded >= self.amount
        }
    }

    pub fn render(&self) -> Value {
        let outcome = match &self.failure {
            None => json!({
                "advice_code": null,
                "network_advice_code": null,
                "network_decline_code": null,
                "network_status": "approved_by_network",
                "reason": null,
                "risk_level": "normal",
                "risk_score": 23,
                "seller_message": "Payment complete.",
                "type": "authorized",
            }),
            Some(decline) => json!({
                "advice_code": null,
                "network_advice_code": null,
                "network_decline_code": null,
                "network_status": "declined_by_network",
                "reason": decline.decline_code,
                "risk_level": "normal",
                "risk_score": 23,
                "seller_message": "The bank did not return any further details with this decline.",
                "type": "issuer_declined",
            }),
        };
        let mut out = json!({
            "id": self.meta.id,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": self.amount_captured,
            "amount_refunded": self.amount_refunded,
            "application": null,
            "application_fee": null,
            "application_fee_amount": null,
            "balance_transaction": null,
            "billing_details": {
                "address": {
                    "city": null, "country": null, "line1": null, "line2": null,
                    "postal_code": null, "state": null,
                },
                "email": null,
                "name": null,
                "phone": null,
                "tax_id": null,
            },
            "calculated_statement_descriptor": self.statement_descriptor.clone().unwrap_or_else(|| "SIMULATED".to_string()),
            "captured": self.captured,
            "created": self.meta.created,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "disputed": self.disputed,
            "failure_balance_transaction": null,
            "failure_code": self.failure.map(|d| d.code),
            "failure_message": self.failure.map(|d| d.message),
            "fraud_details": {},
        });
        let rest = json!({
            "livemode": false,
            "metadata": metadata_json(&self.metadata),
            "on_behalf_of": null,
            "outcome": outcome,
            "paid": self.succeeded(),
            "payment_intent": self.payment_intent,
            "payment_method": self.payment_method,
            "payment_method_details": self.details,
            "receipt_email": self.receipt_email,
            "source": null,
            "receipt_number": null,
            "receipt_url": if self.succeeded() { json!(self.receipt_url) } else { Value::Null },
            "refunded": self.refunded(),
            "review": null,
            "shipping": null,
            "source_transfer": null,
            "statement_descriptor": self.statement_descriptor,
            "statement_descriptor_suffix": null,
            "status": if self.succeeded() { "succeeded" } else { "failed" },
            "transfer_data": null,
            "transfer_group": null,
        });
        extend(&mut out, rest);
        out
    }
}

/// Adds the fields of `more` to the object `base` (large objects are built in parts: `json!`
/// has a recursion limit).
pub(crate) fn extend(base: &mut Value, more: Value) {
    if let (Value::Object(base), Value::Object(more)) = (base, more) {
        base.extend(more);
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Refund {
    pub meta: Meta,
    pub amount: i64,
    pub charge: String,
    pub payment_intent: String,
    /// The charge's customer and payment method, as Stripe repeats them on the refund.
    pub customer: Option<String>,
    pub payment_method: String,
    pub currency: String,
    pub reason: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

impl Object for Refund {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl Refund {
    pub fn render(&self) -> Value {
        json!({
            "id": self.meta.id,
            "object": "refund",
            "amount": self.amount,
            "application": null,
            "balance_transaction": null,
            "charge": self.charge,
            "created": self.meta.created,
            "currency": self.currency,
            "customer": self.customer,
            "customer_account": null,
            "destination_details": {
                "card": { "reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund" },
                "type": "card",
            },
            "metadata": metadata_json(&self.metadata),
            "payment_intent": self.payment_intent,
            "payment_method": self.payment_method,
            "reason": self.reason,
            "receipt_number": null,
            "source_transfer_reversal": null,
            "status": "succeeded",
            "transfer_reversal": null,
        })
    }
}

/// `$12.99`, `¥1299`, `12.99 CHF`: an amount as Stripe's messages show it.
pub(crate) fn display_amount(minor: i64, currency: &str) -> String {
    let exponent = Currency::lookup(currency).map_or(2, |c| c.exponent());
    let scale = 10_i64.pow(exponent);
    let major = if exponent == 0 {
        format!("{minor}")
    } else {
        format!(
            "{}.{:0width$}",
            minor / scale,
            minor % scale,
            width = exponent as usize
        )
    };
    match currency {
        "usd" | "cad" | "aud" | "nzd" | "sgd" | "hkd" | "mxn" => format!("${major}"),
        "eur" => format!("€{major}"),
        "gbp" => format!("£{major}"),
        "jpy" => format!("¥{major}"),
        other => format!("{major} {}", other.to_uppercase()),
    }
}

/// `GET /v1/charges/{charge}`
pub(crate) fn retrieve(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    find(&state.charges, ctx.ns(), id)
        .map(Charge::render)
        .ok_or_else(|| ApiError::no_such("charge", id, "charge"))
}

/// The charge a refund names: `charge`, or the successful charge of `payment_intent` (one of
/// the two).
pub(crate) fn refunded_charge(state: &State, ctx: &Ctx) -> Result<String, ApiError> {
    let p = ctx.params;
    let charge_id = match (p.str("payment_intent"), p.str("charge")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "You can only pass in one of payment_intent or charge.",
            )
            .with_param("charge"))
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "One of the following params should be provided for this request: payment_intent or charge.",
            ))
        }
        (Some(pi_id), None) => {
            let pi = find(&state.payment_intents, ctx.ns(), pi_id)
                .ok_or_else(|| ApiError::no_such_param("payment_intent", pi_id, "payment_intent"))?;
            match (&pi.latest_charge, pi.status) {
                (Some(ch), Status::Succeeded) => ch.clone(),
                _ => {
                    return Err(ApiError::invalid(format!(
                        "This PaymentIntent ({pi_id}) does not have a successful charge to refund."
                    ))
                    .with_param("payment_intent"))
                }
            }
        }
        (None, Some(ch)) => ch.to_string(),
    };
    Ok(charge_id)
}

/// `POST /v1/refunds`
pub(crate) fn create_refund(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let charge_id = refunded_charge(state, ctx)?;
    let charge = find(&state.charges, ctx.ns(), &charge_id)
        .cloned()
        .ok_or_else(|| ApiError::no_such_param("charge", &charge_id, "charge"))?;
    // Interac is refunded in person only: "In-person refunds are mandatory for Interac
    // transactions in Canada. You can't create refunds in the API or in the Dashboard for these
    // payments" (Stripe Terminal, refunds).
    if charge.method_type() == Some("interac_present") {
        return Err(ApiError::invalid(format!(
            "Charge {charge_id} was paid with interac_present: Interac payments can only be refunded in person, with the card presented on a reader (refund_payment on the reader, or the Terminal SDK's collectRefundPaymentMethod and processRefund). Refunds through the API or the Dashboard are not supported."
        ))
        .with_code("charge_not_refundable")
        .with_param("charge"));
    }
    let mut metadata = BTreeMap::new();
    if let Some(update) = p.metadata() {
        update.apply(&mut metadata);
    }
    refund_charge(
        state,
        &ctx.origin,
        ctx.now,
        &charge_id,
        p.int("amount"),
        p.str("reason").map(str::to_string),
        metadata,
    )
    .map(|refund| refund.render())
}

/// Refunds `amount` (default: what is left) of a captured charge, as `POST /v1/refunds` and a
/// reader's `refund_payment` do: never more than captured minus refunded; emits
/// `refund.created`, `charge.refunded` and `charge.refund.updated`.
pub(crate) fn refund_charge(
    state: &mut State,
    origin: &Origin,
    now: i64,
    charge_id: &str,
    amount: Option<i64>,
    reason: Option<String>,
    metadata: BTreeMap<String, String>,
) -> Result<Refund, ApiError> {
    let charge = find(&state.charges, &origin.ns, charge_id)
        .cloned()
        .ok_or_else(|| ApiError::no_such_param("charge", charge_id, "charge"))?;
    if !charge.succeeded() || !charge.captured {
        return Err(ApiError::invalid(format!(
            "Charge {charge_id} has not been captured; cancel its PaymentIntent to release the authorization instead."
        ))
        .with_code("charge_not_refundable")
        .with_param("charge"));
    }
    let remaining = charge.amount_captured - charge.amount_refunded;
    if remaining <= 0 {
        return Err(
            ApiError::invalid(format!("Charge {charge_id} has already been refunded."))
                .with_code("charge_already_refunded")
                .with_param("charge"),
        );
    }
    let amount = match amount {
        None => remaining,
        Some(a) if a <= 0 => {
            return Err(ApiError::invalid("Invalid positive integer")
                .with_code("parameter_invalid_integer")
                .with_param("amount"))
        }
        Some(a) if a > remaining => {
            return Err(ApiError::invalid(format!(
                "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                display_amount(a, &charge.currency),
                display_amount(remaining, &charge.currency)
            ))
            .with_code("amount_too_large")
            .with_param("amount"))
        }
        Some(a) => a,
    };
    let meta = state.meta("re", &origin.ns, now);
    let refund = Refund {
        meta,
        amount,
        charge: charge_id.to_string(),
        payment_intent: charge.payment_intent.clone(),
        customer: charge.customer.clone(),
        payment_method: charge.payment_method.clone(),
        currency: charge.currency.clone(),
        reason,
        metadata,
    };
    let rendered = refund.render();
    state.refunds.insert(refund.meta.id.clone(), refund.clone());
    let charge = find_mut(&mut state.charges, &origin.ns, charge_id).expect("found above");
    let previous =
        json!({ "amount_refunded": charge.amount_refunded, "refunded": charge.refunded() });
    charge.amount_refunded += amount;
    let charge_json = charge.render();
    state.emit(origin, "refund.created", rendered.clone(), None, now);
    state.emit(origin, "charge.refunded", charge_json, Some(previous), now);
    state.emit(origin, "charge.refund.updated", rendered, None, now);
    Ok(refund)
}

/// `GET /v1/refunds`: newest first, filtered by `charge`, `payment_intent` and `created`.
pub(crate) fn list_refunds(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    let items = newest_first(&state.refunds, ctx.ns())
        .into_iter()
        .filter(|r| p.str("charge").is_none_or(|c| r.charge == c))
        .filter(|r| {
            p.str("payment_intent")
                .is_none_or(|pi| r.payment_intent == pi)
        })
        .filter(|r| created_matches(p, r.meta.created))
        .collect::<Vec<_>>();
    list(items, Refund::render, p, "/v1/refunds")
}

/// `GET /v1/refunds/{refund}`
pub(crate) fn retrieve_refund(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    find(&state.refunds, ctx.ns(), id)
        .map(Refund::render)
        .ok_or_else(|| ApiError::no_such("refund", id, "refund"))
}

#[cfg(test)]
mod tests {
    use super::display_amount;

    #[test]
    fn amounts_in_messages() {
        assert_eq!(display_amount(1299, "usd"), "$12.99");
        assert_eq!(display_amount(5, "usd"), "$0.05");
        assert_eq!(display_amount(1299, "jpy"), "¥1299");
        assert_eq!(display_amount(1500, "kwd"), "1.500 KWD");
    }
}
