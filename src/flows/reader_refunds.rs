//! Refunds on the reader, in person: Interac payments must be refunded so (Stripe refuses them
//! through the API, and so does `flows::refunds` — 409 `refund_on_reader_required` — without
//! asking Stripe), and any card may be when the merchant prefers.
//!
//! - **Server-driven** (a `reader_id`): `refund_payment` on the reader, with the payment's intent,
//!   the amount and our row's id in the action's `metadata` (Stripe copies it onto the refund).
//! - **SDK** (no reader): the tablet's Terminal SDK runs `collectRefundPaymentMethod(charge,
//!   amount, currency)` and `processRefund()` with what the answer gives (Interac only: the SDKs
//!   offer in-person refunds for the payment methods that require them).
//!
//! The row (`reader_refunds`, pending) is written before Stripe is asked, under the payment's
//! lock and with the same limit as API refunds (what is left to refund, minus the other pending
//! reader refunds); its id keys the Stripe request. A new SDK reader refund supersedes (cancels)
//! the payment's pending SDK one: the tablet's abandoned attempt is never reported otherwise. The outcome is learned from whichever comes
//! first — the reader's `terminal.reader.action_succeeded|failed` event ([`on_reader_action`]),
//! Stripe's `refund.created` ([`on_stripe_refund`]), or a read of the reader refund ([`get`],
//! which asks Stripe) — and recorded once: Stripe's refund goes into `refunds` like an API
//! refund, the payment's refunded amount moves through `payment_updates` (which announces
//! `payment.refunded` / `payment.partially_refunded` to the merchant), and the reader refund
//! only moves out of `pending` (`reader_refund_state`).

use super::payment_updates::apply;
use super::payments::{self, PaymentView, STRIPE_ACTOR};
use super::webhooks::Scope;
use super::Services;
use crate::db::models::{
    new_id, now, Account, Payment, PaymentChargeMethod, ReaderRefund, Refund as RefundRow,
};
use crate::db::{self, write_transaction, DbConnection, Inserted};
use crate::error::Error;
use crate::money::{DecimalText, MinorUnits, Money};
use crate::payment_state::{PaymentStatus, PaymentUpdate};
use crate::reader_refund_state::ReaderRefundStatus;
use stripe_client::{
    Charge, ListParams, ListRefunds, Metadata, Reader, ReaderActionStatus, ReaderActionType,
    Refund, RefundPayment, StripeError,
};

/// The metadata key naming our reader refund on the reader action and on Stripe's refund.
pub const METADATA_KEY: &str = "reader_refund_id";

const INTERAC: &str = "interac_present";

/// A reader refund as the API shows it: the row, its payment, and what the tablet's SDK needs.
#[derive(Debug, Clone)]
pub struct ReaderRefundView {
    pub refund: ReaderRefund,
    pub payment: PaymentView,
    /// The charge refunded (what `collectRefundPaymentMethod` takes).
    pub charge_id: Option<String>,
}

/// 409 `refund_on_reader_required`: the answer to an API refund of an Interac payment.
pub fn refund_on_reader_required() -> Error {
    Error::conflict(
        "refund_on_reader_required",
        "this payment was made with Interac, which can only be refunded in person: refund it on the reader with POST /v1/payment/refund/reader (the cardholder presents the card)",
    )
}

/// Whether the payment was charged with Interac. Known from its charge (`charge.succeeded`, or an
/// earlier answer); when it is not known yet and the payment could have been Interac, the charge
/// is read from Stripe once and remembered.
pub(crate) async fn charged_with_interac(
    services: &Services,
    account: &Account,
    payment: &Payment,
) -> Result<bool, Error> {
    Ok(charge_method(services, account, payment).await?.as_deref() == Some(INTERAC))
}

async fn charge_method(
    services: &Services,
    account: &Account,
    payment: &Payment,
) -> Result<Option<String>, Error> {
    let id = payment.id.clone();
    let known = services
        .db
        .run(move |conn| Ok::<_, Error>(db::payment_charge_methods::of_payment(conn, &id)?))
        .await?;
    if known.is_some() {
        return Ok(known);
    }
    let (Some(charge_id), true) = (
        payment.stripe_charge_id.clone(),
        payment.payment_method_types.0.iter().any(|t| t == INTERAC),
    ) else {
        return Ok(None);
    };
    let charge = services
        .stripe
        .retrieve_charge(&services.stripe_account(account)?, &charge_id, &[])
        .await
        .map_err(|e| Error::from_stripe_input(e, None, "payment_id"))?;
    let method = charge
        .payment_method_details
        .as_ref()
        .map(|d| d.details_type.clone());
    if let Some(method) = &method {
        let row = PaymentChargeMethod {
            payment_id: payment.id.clone(),
            stripe_charge_id: charge.id.clone(),
            method_type: method.clone(),
        };
        services
            .db
            .run(move |conn| Ok::<_, Error>(db::payment_charge_methods::record(conn, &row)?))
            .await?;
    }
    Ok(method)
}

/// Records how a payment was charged, from Stripe's `charge.succeeded` (within `scope`).
pub(crate) fn on_charge_succeeded(
    conn: &mut DbConnection,
    charge: &Charge,
    scope: &Scope,
) -> Result<(), Error> {
    let (Some(intent), Some(details)) = (
        charge.payment_intent.as_ref().map(|i| i.id().to_string()),
        charge.payment_method_details.as_ref(),
    ) else {
        return Ok(());
    };
    let Some(payment) =
        db::payments::find_by_intent_id(conn, &intent)?.filter(|p| scope.allows(&p.account_id))
    else {
        return Ok(());
    };
    db::payment_charge_methods::record(
        conn,
        &PaymentChargeMethod {
            payment_id: payment.id,
            stripe_charge_id: charge.id.clone(),
            method_type: details.details_type.clone(),
        },
    )?;
    Ok(())
}

/// A validated `POST /v1/payment/refund/reader`.
#[derive(Debug, Clone)]
pub struct NewReaderRefund {
    pub external_account_id: String,
    pub payment_id: String,
    /// Default: everything left to refund.
    pub amount: Option<DecimalText>,
    /// `None`: the tablet's SDK collects the card.
    pub reader_id: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Starts a refund on the reader (see the module comment). The answer is the pending reader
/// refund (or, on a retry, its outcome so far).
pub async fn start(
    services: &Services,
    actor: &str,
    new: NewReaderRefund,
) -> Result<ReaderRefundView, Error> {
    let (account, payment, customer) = payments::load_viewed(
        services,
        new.external_account_id.clone(),
        new.payment_id.clone(),
    )
    .await?;
    let reader = match &new.reader_id {
        Some(id) => Some(
            super::terminal::owned_reader(services, new.external_account_id.clone(), id.clone())
                .await
                .map_err(|e| e.with_param("reader_id"))?
                .1,
        ),
        None => None,
    };
    // A retry under the same Idempotency-Key finds its row and replays the same Stripe request.
    let existing = match &new.idempotency_key {
        Some(key) => {
            let (account_id, key) = (account.id.clone(), key.clone());
            services
                .db
                .run(move |conn| {
                    Ok::<_, Error>(db::reader_refunds::by_key(conn, &account_id, &key)?)
                })
                .await?
        }
        None => None,
    };
    let row = match existing {
        Some(row) if row.payment_id != payment.id => {
            return Err(Error::conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a reader refund of another payment",
            ))
        }
        Some(row) => row,
        None => {
            if payment.status != PaymentStatus::Succeeded {
                return Err(super::refunds::not_refundable(&payment));
            }
            let asked = new
                .amount
                .as_ref()
                .map(|a| {
                    Money::parse(&a.0, payment.currency)
                        .map(|m| m.minor)
                        .map_err(|e| Error::invalid("amount", format!("'amount' {e}")))
                })
                .transpose()?;
            if asked.is_some_and(|a| a.is_zero()) {
                return Err(Error::invalid("amount", "'amount' must be greater than 0"));
            }
            let interac = charged_with_interac(services, &account, &payment).await?;
            if reader.is_none() && !interac {
                return Err(Error::invalid(
                    "reader_id",
                    "'reader_id' is required: the Terminal SDK refunds in person only the payments that require it (Interac); give the reader that refunds this card",
                ));
            }
            write_row(
                services,
                actor,
                &account,
                &payment,
                asked,
                reader.as_ref().map(|r| r.stripe_reader_id.clone()),
                new.idempotency_key.clone(),
            )
            .await?
        }
    };
    let row = match (&row.stripe_reader_id, row.status) {
        (Some(reader_id), ReaderRefundStatus::Pending) => {
            send_to_reader(services, &account, &payment, row.clone(), reader_id).await?
        }
        _ => row,
    };
    view(services, account, customer, row).await
}

/// Writes the pending reader refund, checking under the payment's lock that it fits in what is
/// left to refund (the recorded refunds and the other pending reader refunds count).
async fn write_row(
    services: &Services,
    actor: &str,
    account: &Account,
    payment: &Payment,
    asked: Option<MinorUnits>,
    stripe_reader_id: Option<String>,
    idempotency_key: Option<String>,
) -> Result<ReaderRefund, Error> {
    let id = format!("rrf_{}", new_id().replace('-', ""));
    let at = now();
    let row = ReaderRefund {
        stripe_idempotency_key: super::stripe_keys::reader_refund(&id),
        id,
        account_id: account.id.clone(),
        payment_id: payment.id.clone(),
        stripe_reader_id,
        amount: MinorUnits::ZERO,
        status: ReaderRefundStatus::Pending,
        stripe_refund_id: None,
        failure_code: None,
        failure_message: None,
        idempotency_key,
        actor: actor.to_string(),
        created_at: at,
        updated_at: at,
    };
    services
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let current = payments::lock(conn, &row.payment_id)?;
                if let Some(key) = &row.idempotency_key {
                    // A concurrent request under the same key wrote it first.
                    if let Some(existing) = db::reader_refunds::by_key(conn, &row.account_id, key)?
                    {
                        return Ok(existing);
                    }
                }
                if row.stripe_reader_id.is_none() {
                    // The tablet starts again: its earlier attempt was abandoned (a refund it
                    // made after all is still recorded from Stripe, and Stripe refuses more
                    // than the charge).
                    db::reader_refunds::supersede_pending_sdk(conn, &current.id, now())?;
                }
                let pending = db::reader_refunds::pending_total(conn, &current.id)?;
                let refundable = current
                    .amount_captured
                    .saturating_sub(current.amount_refunded)
                    .saturating_sub(pending);
                if refundable.is_zero() {
                    return Err(if pending.is_zero() {
                        super::refunds::fully_refunded()
                    } else {
                        Error::conflict(
                            "reader_refund_pending",
                            "what is left to refund is held by a reader refund in progress; wait for it, or cancel the reader's action",
                        )
                    });
                }
                let amount = asked.unwrap_or(refundable);
                if amount > refundable {
                    return Err(super::refunds::over_refundable(Money::from_minor(
                        refundable,
                        current.currency,
                    )));
                }
                let row = ReaderRefund { amount, ..row };
                match db::reader_refunds::insert(conn, &row)? {
                    Inserted::New(()) => Ok(row),
                    Inserted::Duplicate => Err(Error::internal(format!(
                        "reader refund {} written twice",
                        row.id
                    ))),
                }
            })
        })
        .await
}

/// Asks the reader to refund (the same request on any retry: the key is the row's). Stripe's
/// definite refusals end the reader refund as `failed` with Stripe's code; an answer lost on the
/// way leaves it pending, to be learned from the reader's events or a read.
async fn send_to_reader(
    services: &Services,
    account: &Account,
    payment: &Payment,
    row: ReaderRefund,
    stripe_reader_id: &str,
) -> Result<ReaderRefund, Error> {
    let intent = payment.stripe_payment_intent_id.clone().unwrap_or_default();
    let mut metadata = Metadata::new();
    metadata.insert(
        "external_account_id".into(),
        account.external_account_id.clone(),
    );
    metadata.insert(
        "external_transaction_id".into(),
        payment.external_transaction_id.clone(),
    );
    metadata.insert(METADATA_KEY.into(), row.id.clone());
    let answer = services
        .stripe
        .refund_payment(
            &services.stripe_account(account)?,
            stripe_reader_id,
            &RefundPayment {
                payment_intent: Some(&intent),
                amount: Some(row.amount.get()),
                metadata: Some(&metadata),
                ..Default::default()
            },
            &row.stripe_idempotency_key,
        )
        .await;
    let e = match answer {
        Ok(_) => return Ok(row),
        Err(e) => e,
    };
    let definite = matches!(&e, StripeError::Api { status, .. } if (400..500).contains(status) && *status != 409 && *status != 429);
    if definite {
        let code = e.code().unwrap_or("stripe_refused").to_string();
        let message = match &e {
            StripeError::Api { message, .. } => message.as_deref().unwrap_or_default().to_string(),
            _ => String::new(),
        };
        let id = row.id.clone();
        services
            .db
            .run(move |conn| {
                Ok::<_, Error>(db::reader_refunds::complete(
                    conn,
                    &id,
                    ReaderRefundStatus::Failed,
                    None,
                    Some((&code, &message)),
                    now(),
                )?)
            })
            .await?;
    }
    Err(match e.code() {
        Some("terminal_reader_busy") => super::terminal::reader_busy(),
        Some("terminal_reader_offline") => super::terminal::reader_offline(),
        Some("amount_too_large") => Error::invalid(
            "amount",
            "'amount' exceeds what is left to refund (other refunds of this payment were made meanwhile)",
        ),
        Some("charge_already_refunded") => super::refunds::fully_refunded(),
        _ => Error::from_stripe_input(e, Some("payment_intent"), "payment_id"),
    })
}

/// The API's view of a reader refund, with its payment as it is now.
async fn view(
    services: &Services,
    account: Account,
    customer: Option<crate::db::models::Customer>,
    row: ReaderRefund,
) -> Result<ReaderRefundView, Error> {
    let (payment_id, refund_id) = (row.payment_id.clone(), row.id.clone());
    let (payment, row) = services
        .db
        .run(move |conn| {
            let payment = payments::by_id(conn, &payment_id)?;
            let row = db::reader_refunds::by_id(conn, &refund_id)?
                .ok_or_else(|| Error::internal(format!("reader refund {refund_id} vanished")))?;
            Ok::<_, Error>((payment, row))
        })
        .await?;
    Ok(ReaderRefundView {
        charge_id: payment.stripe_charge_id.clone(),
        refund: row,
        payment: payments::view_of(account, payment, customer),
    })
}

/// A reader refund, its outcome refreshed from Stripe while it is pending: the refunds of the
/// payment's intent (ours carry our id; the SDK's are matched by amount), then — server-driven —
/// the reader's action (gone, or another one: the refund was canceled).
pub async fn get(
    services: &Services,
    external_account_id: String,
    id: String,
) -> Result<ReaderRefundView, Error> {
    let (account, row, payment, customer) = services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            let row = db::reader_refunds::find(conn, &account.id, &id)?
                .ok_or_else(|| Error::not_found(format!("no such reader refund: '{id}'")))?;
            let payment = payments::by_id(conn, &row.payment_id)?;
            let customer = match &payment.customer_id {
                Some(c) => Some(db::customers::by_id(conn, c)?),
                None => None,
            };
            Ok::<_, Error>((account, row, payment, customer))
        })
        .await?;
    if row.status == ReaderRefundStatus::Pending {
        refresh(services, &account, &payment, &row).await?;
    }
    view(services, account, customer, row).await
}

async fn refresh(
    services: &Services,
    account: &Account,
    payment: &Payment,
    row: &ReaderRefund,
) -> Result<(), Error> {
    let stripe_account = services.stripe_account(account)?;
    let intent = payment.stripe_payment_intent_id.clone().unwrap_or_default();
    let refunds = services
        .stripe
        .list_refunds(
            &stripe_account,
            &ListRefunds {
                payment_intent: Some(&intent),
                page: ListParams {
                    limit: Some(100),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .map_err(|e| Error::from_stripe_input(e, None, "id"))?;
    let scope = Scope::Account(Some(account.id.clone()));
    let found = refunds.data;
    let row_id = row.id.clone();
    let settled = services
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                for refund in &found {
                    on_stripe_refund(conn, refund, &scope)?;
                }
                let row = db::reader_refunds::by_id(conn, &row_id)?;
                Ok::<_, Error>(row.is_some_and(|r| r.status.is_final()))
            })
        })
        .await?;
    let Some(reader_id) = row.stripe_reader_id.as_deref().filter(|_| !settled) else {
        return Ok(());
    };
    let reader = services
        .stripe
        .retrieve_reader(&stripe_account, reader_id, &[])
        .await
        .map_err(|e| Error::from_stripe_input(e, None, "id"))?;
    let scope = Scope::Account(Some(account.id.clone()));
    let row_id = row.id.clone();
    services
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if reader_action_of(&reader).is_some_and(|(id, _)| id == row_id) {
                    on_reader_action(conn, &reader, &scope)
                } else {
                    // The reader does something else (or nothing): the action was canceled
                    // before a card was read (a refund made is in the list read above).
                    finish(conn, &row_id, ReaderRefundStatus::Canceled, None, None)
                }
            })
        })
        .await
}

/// The reader refund a reader's `refund_payment` action is for, and the action's status.
fn reader_action_of(reader: &Reader) -> Option<(String, ReaderActionStatus)> {
    let action = reader.action.as_ref()?;
    if action.action_type != ReaderActionType::RefundPayment {
        return None;
    }
    let id = action
        .refund_payment
        .as_ref()?
        .metadata
        .get(METADATA_KEY)?
        .clone();
    Some((id, action.status.clone()))
}

/// The reader's `refund_payment` action, as a `terminal.reader.action_succeeded|failed` event
/// (or a read of the reader) shows it: the refund made is recorded, a failure is kept with
/// Stripe's code and message. Actions of other types, or not ours (within `scope`), change
/// nothing. For the generic reader-action handler.
pub(crate) fn on_reader_action(
    conn: &mut DbConnection,
    reader: &Reader,
    scope: &Scope,
) -> Result<(), Error> {
    let Some((id, status)) = reader_action_of(reader) else {
        return Ok(());
    };
    let Some(row) = db::reader_refunds::by_id(conn, &id)?.filter(|r| scope.allows(&r.account_id))
    else {
        return Ok(());
    };
    let action = reader.action.as_ref().expect("read above");
    match status {
        ReaderActionStatus::Succeeded => {
            let refund = action
                .refund_payment
                .as_ref()
                .and_then(|r| r.refund.as_ref());
            let Some(refund_id) = refund.map(|r| r.id().to_string()) else {
                return Ok(());
            };
            let amount = action
                .refund_payment
                .as_ref()
                .and_then(|r| r.amount)
                .and_then(|a| MinorUnits::new(a).ok())
                .unwrap_or(row.amount);
            record(
                conn,
                &row.payment_id,
                Some(&row),
                &refund_id,
                amount,
                "succeeded",
            )
        }
        ReaderActionStatus::Failed => {
            let code = action.failure_code.clone().unwrap_or_default();
            let message = action.failure_message.clone().unwrap_or_default();
            finish(
                conn,
                &row.id,
                ReaderRefundStatus::Failed,
                None,
                Some((&code, &message)),
            )
        }
        _ => Ok(()),
    }
}

/// A refund Stripe made (`refund.created`, or a read of the intent's refunds): recorded when it is
/// one of our reader refunds — named by its metadata, or, for the SDK (which sets none), the
/// oldest pending SDK reader refund of the payment for the same amount. Other refunds are left to
/// the flows that made them (`charge.refunded` counts every one).
pub(crate) fn on_stripe_refund(
    conn: &mut DbConnection,
    refund: &Refund,
    scope: &Scope,
) -> Result<(), Error> {
    let Ok(amount) = MinorUnits::new(refund.amount) else {
        return Ok(());
    };
    let status = refund.status.as_ref().map_or("pending", |s| s.as_str());
    if let Some(id) = refund.metadata.get(METADATA_KEY) {
        let Some(row) =
            db::reader_refunds::by_id(conn, id)?.filter(|r| scope.allows(&r.account_id))
        else {
            return Ok(());
        };
        return record(
            conn,
            &row.payment_id,
            Some(&row),
            &refund.id,
            amount,
            status,
        );
    }
    let Some(intent) = refund.payment_intent.as_ref().map(|i| i.id().to_string()) else {
        return Ok(());
    };
    if db::refunds::exists(conn, &refund.id)? {
        return Ok(());
    }
    let Some(payment) =
        db::payments::find_by_intent_id(conn, &intent)?.filter(|p| scope.allows(&p.account_id))
    else {
        return Ok(());
    };
    let sdk = db::reader_refunds::pending_of(conn, &payment.id)?
        .into_iter()
        .find(|r| r.stripe_reader_id.is_none() && r.amount == amount);
    match sdk {
        Some(row) => record(conn, &payment.id, Some(&row), &refund.id, amount, status),
        None => Ok(()),
    }
}

/// Records Stripe's refund (once) like an API refund, completes the reader refund, and moves the
/// payment's refunded amount (announced to the merchant by `payment_updates`).
fn record(
    conn: &mut DbConnection,
    payment_id: &str,
    row: Option<&ReaderRefund>,
    stripe_refund_id: &str,
    amount: MinorUnits,
    status: &str,
) -> Result<(), Error> {
    payments::lock(conn, payment_id)?;
    if !db::refunds::exists(conn, stripe_refund_id)? {
        db::refunds::insert(
            conn,
            &RefundRow {
                id: new_id(),
                payment_id: payment_id.to_string(),
                stripe_refund_id: stripe_refund_id.to_string(),
                amount,
                reason: None,
                status: status.to_string(),
                actor: row.map_or(STRIPE_ACTOR.to_string(), |r| r.actor.clone()),
                created_at: now(),
                stripe_idempotency_key: row.map(|r| r.stripe_idempotency_key.clone()),
            },
        )?;
    }
    if let Some(row) = row {
        finish(
            conn,
            &row.id,
            ReaderRefundStatus::Succeeded,
            Some(stripe_refund_id),
            None,
        )?;
    }
    let total = db::refunds::total_of(conn, payment_id)?;
    // Stripe's charge.refunded may have counted it already: the amount only goes up, and each
    // change is announced once.
    apply(
        conn,
        payment_id,
        PaymentUpdate::Refunded { total },
        STRIPE_ACTOR,
    )
    .map(|_| ())
}

/// Moves a pending reader refund to its outcome (a final one stays as it is).
fn finish(
    conn: &mut DbConnection,
    id: &str,
    status: ReaderRefundStatus,
    stripe_refund_id: Option<&str>,
    failure: Option<(&str, &str)>,
) -> Result<(), Error> {
    db::reader_refunds::complete(conn, id, status, stripe_refund_id, failure, now())?;
    Ok(())
}
