//! Refunds: full or partial, several partials up to the captured amount and never more.
//!
//! Each refund's Stripe Idempotency-Key is derived (`flows::stripe_keys`) from the caller's own
//! `Idempotency-Key` header when there is one (any repeat replays the same refund); otherwise from
//! the payment, the amount already refunded and the amount asked for, so a retry before the refund
//! is recorded replays it while a later, separate refund gets a new key. The refund row records
//! the key it was created with.
//!
//! Concurrent refunds of one payment all pass our check against the recorded amount; Stripe
//! refuses what would exceed the charge, and its refusal is the caller's 400 (or 409 once nothing
//! is left), as if our check had seen the other refunds.

use super::payment_updates::apply;
use super::payments::{self, PaymentView};
use super::Services;
use crate::db::models::{new_id, now, Refund};
use crate::db::{self, write_transaction};
use crate::error::Error;
use crate::money::{DecimalText, MinorUnits, Money};
use crate::payment_state::{PaymentStatus, PaymentUpdate};
use stripe_client::{CreateRefund, Metadata, RefundReason, StripeError};

/// Refunds `amount` (or everything not yet refunded) of a captured payment.
pub async fn refund(
    services: &Services,
    actor: &str,
    external_account_id: String,
    payment_id: String,
    amount: Option<DecimalText>,
    reason: Option<RefundReason>,
    idempotency_key: Option<String>,
) -> Result<PaymentView, Error> {
    let (account, payment, customer) =
        payments::load_viewed(services, external_account_id, payment_id).await?;
    if payment.status != PaymentStatus::Succeeded {
        return Err(not_refundable(&payment));
    }
    // Interac is refunded in person only (Stripe refuses it through the API): said here,
    // without asking Stripe to refuse it.
    if super::reader_refunds::charged_with_interac(services, &account, &payment).await? {
        return Err(super::reader_refunds::refund_on_reader_required());
    }
    let currency = payment.currency;
    // The state machine keeps the refunded amount at most the captured one.
    let refundable = payment
        .amount_captured
        .saturating_sub(payment.amount_refunded);
    let asked = amount
        .map(|a| {
            Money::parse(&a.0, currency)
                .map(|m| m.minor)
                .map_err(|e| Error::invalid("amount", format!("'amount' {e}")))
        })
        .transpose()?;
    if asked.is_some_and(|a| a > payment.amount_captured) {
        return Err(over_refundable(Money::from_minor(refundable, currency)));
    }
    // With the caller's key, a repeat must reach Stripe as the same request, whatever our record
    // learned meanwhile (the first attempt's refund may be recorded already, or known only from
    // Stripe's webhook): the request is built from the caller's input alone (no amount: Stripe
    // refunds what is left), and Stripe's replay under the same key — or its refusal of what
    // exceeds the charge — decides. Without a key, our record is the check.
    let amount = match (&idempotency_key, asked) {
        (Some(_), asked) => asked,
        (None, _) if refundable.is_zero() => return Err(fully_refunded()),
        (None, Some(a)) if a > refundable => {
            return Err(over_refundable(Money::from_minor(refundable, currency)))
        }
        (None, asked) => Some(asked.unwrap_or(refundable)),
    };
    let stripe_account = services.stripe_account(&account)?;
    let intent_id = payment.stripe_payment_intent_id.clone().unwrap_or_default();
    let mut metadata = Metadata::new();
    metadata.insert(
        "external_account_id".into(),
        account.external_account_id.clone(),
    );
    metadata.insert(
        "external_transaction_id".into(),
        payment.external_transaction_id.clone(),
    );
    // The caller's Idempotency-Key makes any repeat safe; without one, a repeat is recognised only
    // until the first refund is recorded (after that, the same request is a new refund).
    let key = match &idempotency_key {
        Some(k) => super::stripe_keys::refund_for_caller_key(&intent_id, k),
        None => super::stripe_keys::refund_for_amounts(
            &intent_id,
            payment.amount_refunded,
            amount.unwrap_or(refundable),
        ),
    };
    let refund = services
        .stripe
        .create_refund(
            &stripe_account,
            &CreateRefund {
                payment_intent: Some(&intent_id),
                amount: amount.map(MinorUnits::get),
                reason: reason.clone(),
                metadata: Some(&metadata),
                ..Default::default()
            },
            &key,
        )
        .await
        .map_err(refused)?;
    // Stripe made the refund: an amount it cannot have (negative) is its error, and the refund
    // is recorded from its charge.refunded webhook instead.
    let refunded = MinorUnits::new(refund.amount)
        .map_err(|e| Error::internal(format!("Stripe's refund {}: {e}", refund.id)))?;
    let actor = actor.to_string();
    let row = Refund {
        id: new_id(),
        payment_id: payment.id.clone(),
        stripe_refund_id: refund.id.clone(),
        amount: refunded,
        reason: reason.map(|r| r.as_str().to_string()),
        status: refund
            .status
            .as_ref()
            .map_or("pending", |s| s.as_str())
            .to_string(),
        actor: actor.clone(),
        created_at: now(),
        stripe_idempotency_key: Some(key),
    };
    let payment = services
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let current = payments::lock(conn, &row.payment_id)?;
                if db::refunds::exists(conn, &row.stripe_refund_id)? {
                    return Ok(current);
                }
                db::refunds::insert(conn, &row)?;
                let total = db::refunds::total_of(conn, &row.payment_id)?;
                // Stripe's charge.refunded webhook may have counted it already: the amount
                // refunded only goes up, and is announced once per change.
                apply(
                    conn,
                    &row.payment_id,
                    PaymentUpdate::Refunded { total },
                    &actor,
                )
                .map(|applied| applied.payment)
            })
        })
        .await?;
    Ok(payments::view_of(account, payment, customer))
}

/// Stripe's refusals of a refund that (concurrent) other refunds made too large, as our own check
/// answers them; anything else as usual.
fn refused(e: StripeError) -> Error {
    match e.code() {
        Some("amount_too_large") => Error::invalid(
            "amount",
            "'amount' exceeds what is left to refund (other refunds of this payment were made meanwhile)",
        ),
        Some("charge_already_refunded") => fully_refunded(),
        _ => Error::from_stripe_input(e, Some("payment_intent"), "payment_id"),
    }
}

/// 409 `payment_not_refundable`: only a captured payment can be refunded.
pub(crate) fn not_refundable(payment: &crate::db::models::Payment) -> Error {
    let mut e = Error::conflict(
        "payment_not_refundable",
        format!(
            "only captured payments can be refunded (status '{}'); void an uncaptured one with POST /v1/payment/cancel",
            payment.status
        ),
    );
    e.payment_status = Some(payment.status.to_string());
    e
}

pub(crate) fn over_refundable(refundable: Money) -> Error {
    Error::invalid(
        "amount",
        format!(
            "'amount' exceeds what is left to refund ({})",
            refundable.to_decimal_string()
        ),
    )
}

pub(crate) fn fully_refunded() -> Error {
    Error::conflict(
        "payment_fully_refunded",
        "the payment is already fully refunded",
    )
}
