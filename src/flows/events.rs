//! Events for merchants (`payment.authorized`, `payment.captured`, …, `card.saved`,
//! `card.deleted`, `card_setup.failed`, `reader.action_succeeded`, `reader.action_failed`): written
//! to the `webhook_deliveries` outbox in the same transaction as the change they announce, then
//! delivered by the worker in `jobs::delivery`. Accounts without a webhook URL get no rows.

use crate::db::models::{
    new_id, now, Account, Card, Customer, Dispute, Payment, Payout, ReaderSetup, WebhookDelivery,
};
use crate::db::{self, DbConnection};
use crate::error::Error;
use crate::money::{MinorUnits, Money};
use serde_json::{json, Value};

pub use crate::db::webhook_deliveries::{DELIVERED, FAILED, PENDING};

/// Queues `event_type` about `payment` (inside the caller's transaction; the state machine,
/// `crate::payment_state`, decides which change announces what).
pub fn emit_payment(
    conn: &mut DbConnection,
    payment: &Payment,
    event_type: &str,
) -> Result<(), Error> {
    let Some(account) = webhook_account(conn, &payment.account_id)? else {
        return Ok(());
    };
    let customer: Option<Customer> = match &payment.customer_id {
        Some(id) => Some(db::customers::by_id(conn, id)?),
        None => None,
    };
    let amount = |minor: MinorUnits| Money::from_minor(minor, payment.currency).to_decimal_string();
    let object = json!({
        "object": "payment",
        "id": payment.stripe_payment_intent_id,
        "status": payment.status,
        "amount": amount(payment.amount),
        "amount_captured": amount(payment.amount_captured),
        "amount_refunded": amount(payment.amount_refunded),
        "amount_tip": amount(payment.amount_tip),
        "capture_before": payment.capture_before.map(|t| {
            t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        }),
        "currency": payment.currency.code(),
        "external_account_id": account.external_account_id,
        "external_transaction_id": payment.external_transaction_id,
        "external_customer_id": customer.as_ref().map(|c| c.external_customer_id.clone()),
        // When the payment changed into what this event shows (strictly later for each later
        // change of the payment, which is written under its row lock): orders one payment's
        // events, which may be delivered out of order and share a `created` second.
        "updated_at": payment
            .updated_at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "customer_id": customer.map(|c| c.stripe_customer_id),
    });
    // A change is announced once, whichever of our API and Stripe's webhook records it first.
    let once = matches!(
        event_type,
        "payment.authorized" | "payment.captured" | "payment.canceled"
    ) || (event_type == "payment.failed"
        && payment.status == crate::payment_state::PaymentStatus::Failed);
    let dedupe_key = once.then(|| format!("{}:{event_type}", payment.id));
    enqueue(conn, &account, event_type, dedupe_key, object)
}

/// Queues `card.saved` / `card.deleted` (inside the caller's transaction). The card's customer,
/// when the caller has not read it, is read only if there is a webhook endpoint to tell.
pub fn emit_card(
    conn: &mut DbConnection,
    card: &Card,
    customer: Option<&Customer>,
    event_type: &str,
) -> Result<(), Error> {
    let Some(account) = webhook_account(conn, &card.account_id)? else {
        return Ok(());
    };
    let read;
    let customer = match customer {
        Some(customer) => customer,
        None => {
            read = db::customers::by_id(conn, &card.customer_id)?;
            &read
        }
    };
    let object = json!({
        "object": "card",
        "id": card.id,
        "payment_method_id": card.stripe_payment_method_id,
        "external_account_id": account.external_account_id,
        "external_customer_id": customer.external_customer_id,
        "customer_id": customer.stripe_customer_id,
        "brand": card.brand,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "deleted": card.deleted,
    });
    let dedupe_key = Some(format!("{}:{event_type}", card.id));
    enqueue(conn, &account, event_type, dedupe_key, object)
}

/// Queues `card_setup.failed` (once per setup, inside the caller's transaction): a card could
/// not be saved on the reader (declined, the reader failed or could not take it).
pub fn emit_card_setup_failed(
    conn: &mut DbConnection,
    setup: &ReaderSetup,
    customer: &Customer,
) -> Result<(), Error> {
    let Some(account) = webhook_account(conn, &setup.account_id)? else {
        return Ok(());
    };
    let object = json!({
        "object": "card_setup",
        "id": setup.id,
        "status": setup.status,
        "external_account_id": account.external_account_id,
        "external_customer_id": customer.external_customer_id,
        "customer_id": customer.stripe_customer_id,
        "reader_id": setup.stripe_reader_id,
        "setup_intent_id": setup.stripe_setup_intent_id,
        "failure_code": setup.failure_code,
        "decline_code": setup.decline_code,
        "failure_message": setup.failure_message,
    });
    let dedupe_key = Some(format!("{}:card_setup.failed", setup.id));
    enqueue(conn, &account, "card_setup.failed", dedupe_key, object)
}

/// Queues a `dispute.*` event about `dispute` of `payment` (inside the caller's transaction;
/// `crate::dispute_state` decides which change announces what). Each is announced once: `created`,
/// `closed` and the funds events per dispute, `updated` per status and evidence submission.
pub fn emit_dispute(
    conn: &mut DbConnection,
    dispute: &Dispute,
    payment: &Payment,
    event_type: &str,
) -> Result<(), Error> {
    let Some(account) = webhook_account(conn, &payment.account_id)? else {
        return Ok(());
    };
    let object = dispute_object(dispute, payment, &account);
    let dedupe_key = if event_type == "dispute.updated" {
        format!(
            "{}:{event_type}:{}:{}",
            dispute.id, dispute.status, dispute.submission_count
        )
    } else {
        format!("{}:{event_type}", dispute.id)
    };
    enqueue(conn, &account, event_type, Some(dedupe_key), object)
}

/// A dispute as merchant events show it (amounts in decimal major units).
pub fn dispute_object(dispute: &Dispute, payment: &Payment, account: &Account) -> Value {
    let amount = |minor: MinorUnits| Money::from_minor(minor, dispute.currency).to_decimal_string();
    json!({
        "object": "dispute",
        "id": dispute.stripe_dispute_id,
        "payment_id": payment.stripe_payment_intent_id,
        "status": dispute.status,
        "reason": dispute.reason,
        "amount": amount(dispute.amount),
        "currency": dispute.currency.code(),
        "amount_withdrawn": amount(dispute.amount_withdrawn),
        "amount_reinstated": amount(dispute.amount_reinstated),
        "fee": amount(dispute.fee),
        "evidence_due_by": dispute
            .evidence_due_by
            .map(|t| t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "external_account_id": account.external_account_id,
        "external_transaction_id": payment.external_transaction_id,
    })
}

/// Queues `payout.paid` / `payout.failed` about the account's payout (inside the caller's
/// transaction), once per payout and event.
pub fn emit_payout(
    conn: &mut DbConnection,
    account: &Account,
    payout: &Payout,
    totals: &crate::flows::payouts::Totals,
    event_type: &str,
) -> Result<(), Error> {
    if account.webhook_url.is_none() {
        return Ok(());
    }
    let signed = |minor: i64| crate::money::decimal_string(minor, payout.currency);
    let object = json!({
        "object": "payout",
        "id": payout.stripe_payout_id,
        "status": payout.status,
        "amount": Money::from_minor(payout.amount, payout.currency).to_decimal_string(),
        "currency": payout.currency.code(),
        "arrival_date": payout.arrival_date.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "failure_code": payout.failure_code,
        "failure_message": payout.failure_message,
        "totals": {
            "gross": signed(totals.gross),
            "fees": signed(totals.fee),
            "net": signed(totals.net),
            "count": totals.count,
        },
        "external_account_id": account.external_account_id,
    });
    let dedupe_key = Some(format!("{}:{event_type}", payout.id));
    enqueue(conn, account, event_type, dedupe_key, object)
}

/// Queues a `reader.action_*` event (inside the caller's transaction): `object` says which
/// reader, action type, object and Stripe failure; `dedupe_key` makes it once.
pub fn emit_reader_action(
    conn: &mut DbConnection,
    account_id: &str,
    event_type: &str,
    dedupe_key: String,
    mut object: Value,
) -> Result<(), Error> {
    let Some(account) = webhook_account(conn, account_id)? else {
        return Ok(());
    };
    object["external_account_id"] = json!(account.external_account_id);
    enqueue(conn, &account, event_type, Some(dedupe_key), object)
}

fn webhook_account(conn: &mut DbConnection, account_id: &str) -> Result<Option<Account>, Error> {
    let account = db::accounts::by_id(conn, account_id)?;
    Ok(account.webhook_url.is_some().then_some(account))
}

fn enqueue(
    conn: &mut DbConnection,
    account: &Account,
    event_type: &str,
    dedupe_key: Option<String>,
    object: Value,
) -> Result<(), Error> {
    let at = now();
    let id = format!("evt_{}", uuid::Uuid::now_v7().simple());
    let payload = json!({
        "id": id,
        "type": event_type,
        "created": at.and_utc().timestamp(),
        "data": {"object": object},
    });
    let row = WebhookDelivery {
        id: new_id(),
        account_id: account.id.clone(),
        event_type: event_type.to_string(),
        dedupe_key,
        payload: payload.to_string(),
        status: PENDING.to_string(),
        attempts: 0,
        next_attempt_at: at,
        last_status: None,
        last_error: None,
        delivered_at: None,
        created_at: at,
    };
    // A second announcement of a change announced once (`dedupe_key`) is dropped.
    let _ = db::webhook_deliveries::insert(conn, &row)?;
    Ok(())
}
