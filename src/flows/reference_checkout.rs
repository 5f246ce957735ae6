//! Paying for a caller's reference through Checkout: a session in `payment` mode, priced from the
//! caller's line items. When it completes, its PaymentIntent is recorded as a payment (through the
//! state machine, which announces it) and the session as complete — once, by whichever comes
//! first: the caller's GET ([`get_checkout`]) or Stripe's `checkout.session.completed`
//! ([`complete_session`]).
//!
//! Only one session per reference can be paid: a new one first expires every earlier open (or
//! `creating`) session for the same account and reference, and a reference already paid is 409.

use super::checkout::{
    by_id, create_at_stripe, find_by_stripe_id, load, load_customer, record_created,
    session_status, set_status, view, with_session_placeholder, PricedItem, SessionView, COMPLETE,
    CREATING, EXPIRED, PAYMENT,
};
use super::payments::{self, PaymentView};
use super::webhooks::Scope;
use super::{accounts, customers, Services};
use crate::db::models::{new_id, now, Account, CheckoutSessionRow, MethodTypes, Payment};
use crate::db::{self, write_transaction, Inserted};
use crate::error::Error;
use crate::money::{Currency, DecimalText, MinorUnits, Money, MAX_AMOUNT};
use sha2::{Digest, Sha256};
use stripe_client::{CheckoutSession, Expandable, StripeAccount, StripeError, UiMode};

/// Stripe's limit on a payment-mode session's line items.
pub const MAX_ITEMS: usize = 100;

/// Quantities a line item may have.
pub const QUANTITY: std::ops::RangeInclusive<i64> = 1..=999;

/// One line of a `POST /v1/checkout`: its unit amount is parsed in the session's currency.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub name: String,
    pub amount: DecimalText,
    pub quantity: i64,
}

/// A validated `POST /v1/checkout`.
#[derive(Debug, Clone)]
pub struct NewCheckout {
    pub external_account_id: String,
    pub reference: String,
    pub items: Vec<NewItem>,
    pub currency: Option<Currency>,
    /// Sent as `success_url` (hosted) or `return_url` (embedded).
    pub success_url: String,
    /// Hosted sessions only.
    pub cancel_url: Option<String>,
    pub ui_mode: UiMode,
    pub external_customer_id: Option<String>,
}

/// Prices the items (quantities already checked against [`QUANTITY`]) in `currency`: each unit
/// amount exact and positive, the total within Stripe's minimum charge and maximum amount. Errors
/// name the item's field (`items[0].amount`).
pub fn price_items(
    items: &[NewItem],
    currency: Currency,
) -> Result<(Vec<PricedItem>, MinorUnits), Error> {
    let mut priced = Vec::with_capacity(items.len());
    let mut total = MinorUnits::ZERO;
    for (i, item) in items.iter().enumerate() {
        let param = format!("items[{i}].amount");
        let unit = Money::parse(&item.amount.0, currency)
            .map_err(|e| Error::invalid(&param, format!("'{param}' {e}")))?;
        total = unit
            .minor
            .checked_mul(item.quantity)
            .and_then(|line| total.checked_add(line))
            .filter(|t| *t <= MAX_AMOUNT)
            .ok_or_else(|| {
                Error::invalid(
                    "items",
                    "the total of 'items' is over the maximum amount Stripe accepts (99999999 minor units)",
                )
            })?;
        priced.push(PricedItem {
            name: item.name.clone(),
            unit_amount: unit.minor,
            quantity: item.quantity,
        });
    }
    let minimum = currency.minimum_charge();
    if total < minimum.minor {
        return Err(Error::invalid(
            "items",
            format!(
                "the total of 'items' is under the minimum charge for the currency ({})",
                minimum.to_decimal_string()
            ),
        ));
    }
    Ok((priced, total))
}

/// Creates a payment-mode session for the reference, after expiring every earlier open session
/// for it. 409 `reference_already_paid` once a session for the reference was paid.
pub async fn create_checkout(
    services: &Services,
    actor: &str,
    input: NewCheckout,
) -> Result<SessionView, Error> {
    let account = accounts::get(&services.db, input.external_account_id.clone()).await?;
    let currency = match input.currency {
        Some(c) => c,
        None => account.default_currency,
    };
    let (items, total) = price_items(&input.items, currency)?;
    let stripe_account = services.stripe_account(&account)?;
    let customer = match &input.external_customer_id {
        Some(external) => {
            Some(customers::find_or_create(services, &stripe_account, &account, external).await?)
        }
        None => None,
    };
    let at = now();
    let row = CheckoutSessionRow {
        id: new_id(),
        account_id: account.id.clone(),
        customer_id: customer.as_ref().map(|c| c.id.clone()),
        stripe_checkout_session_id: None,
        mode: PAYMENT.into(),
        ui_mode: input.ui_mode.as_str().into(),
        status: CREATING.into(),
        reference: Some(input.reference.clone()),
        currency: Some(currency),
        amount: Some(total),
        line_items: Some(serde_json::to_string(&items).map_err(Error::internal)?),
        success_url: Some(with_session_placeholder(&input.success_url)),
        cancel_url: input.cancel_url,
        card_id: None,
        payment_id: None,
        expires_at: None,
        created_at: at,
        updated_at: at,
    };
    let inserted = row.clone();
    services
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if db::checkout_sessions::is_reference_paid(
                    conn,
                    &inserted.account_id,
                    reference_of(&inserted),
                )? {
                    return Err(already_paid());
                }
                db::checkout_sessions::insert(conn, &inserted)?;
                Ok(())
            })
        })
        .await?;
    expire_earlier(services, &stripe_account, &account, &row, actor).await?;
    // An earlier session may have been recorded paid meanwhile (by Stripe's webhook): then this
    // one is never created.
    let (account_id, reference, id) = (
        row.account_id.clone(),
        reference_of(&row).to_string(),
        row.id.clone(),
    );
    services
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if !db::checkout_sessions::is_reference_paid(conn, &account_id, &reference)? {
                    return Ok(());
                }
                db::checkout_sessions::set_status(conn, &id, EXPIRED)?;
                Err(already_paid())
            })
        })
        .await?;
    let session =
        create_at_stripe(services, &stripe_account, &account, &row, customer.as_ref()).await?;
    let row = record_created(services, &row, &session).await?;
    Ok(view(&account, customer, row, Some(&session), None))
}

/// A payment-mode row's reference (always set).
fn reference_of(row: &CheckoutSessionRow) -> &str {
    row.reference.as_deref().unwrap_or_default()
}

fn already_paid() -> Error {
    Error::conflict(
        "reference_already_paid",
        "a Checkout Session for this reference was already paid; see GET /v1/payments",
    )
    .with_param("reference")
}

/// Expires, at Stripe and here, every session for the reference created before `row` that may
/// still be payable. A `creating` one is replayed first to learn its id. One found paid is
/// recorded, and the new session is refused (409).
async fn expire_earlier(
    services: &Services,
    stripe_account: &StripeAccount,
    account: &Account,
    row: &CheckoutSessionRow,
    actor: &str,
) -> Result<(), Error> {
    let (account_id, reference, id) = (
        row.account_id.clone(),
        reference_of(row).to_string(),
        row.id.clone(),
    );
    let earlier = services
        .db
        .run(move |conn| {
            db::checkout_sessions::unfinished_before(conn, &account_id, &reference, &id)
                .map_err(Error::from)
        })
        .await?;
    for old in earlier {
        let stripe_id = match old.stripe_checkout_session_id.clone() {
            Some(id) => id,
            None => {
                let customer = load_customer(services, &old).await?;
                match create_at_stripe(services, stripe_account, account, &old, customer.as_ref())
                    .await
                {
                    Ok(session) => {
                        record_created(services, &old, &session).await?;
                        session.id
                    }
                    // Stripe refused it: nothing payable exists for that row.
                    Err(StripeError::Api { status: 400, .. }) => {
                        set_status(services, &old.id, EXPIRED).await?;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let key = format!("cs_expire:{stripe_id}");
        match services
            .stripe
            .expire_checkout_session(stripe_account, &stripe_id, &key)
            .await
        {
            Ok(_) => {
                set_status(services, &old.id, EXPIRED).await?;
            }
            // No longer open: see how it ended.
            Err(e @ StripeError::Api { status: 400, .. }) => {
                let session = services
                    .stripe
                    .retrieve_checkout_session(stripe_account, &stripe_id, &["payment_intent"])
                    .await?;
                match session_status(&session) {
                    COMPLETE => {
                        finish_payment(services, account, &old, &session, actor).await?;
                        return Err(already_paid());
                    }
                    EXPIRED => {
                        set_status(services, &old.id, EXPIRED).await?;
                    }
                    _ => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `GET /v1/checkout/{session_id}`: the session, with the payment once paid. Asks Stripe (one
/// call) only while the session may still change here; records the payment when it completed.
pub async fn get_checkout(
    services: &Services,
    actor: &str,
    external_account_id: String,
    session_id: String,
) -> Result<SessionView, Error> {
    let (account, row) = load(services, external_account_id, session_id, PAYMENT).await?;
    sync_payment_session(services, &account, row, actor).await
}

/// For the `checkout.session.completed` webhook: records the payment of a completed payment
/// session of ours. `None` for a session that is not ours, not in payment mode, or not complete.
/// Idempotent with [`get_checkout`]: whichever runs second finds the payment recorded.
pub async fn complete_session(
    services: &Services,
    stripe_session_id: &str,
    scope: &Scope,
) -> Result<Option<PaymentView>, Error> {
    let Some((account, row)) = find_by_stripe_id(services, stripe_session_id, scope).await? else {
        return Ok(None);
    };
    if row.mode != PAYMENT {
        return Ok(None);
    }
    Ok(sync_payment_session(services, &account, row, "stripe")
        .await?
        .payment)
}

async fn sync_payment_session(
    services: &Services,
    account: &Account,
    row: CheckoutSessionRow,
    actor: &str,
) -> Result<SessionView, Error> {
    let customer = load_customer(services, &row).await?;
    if row.status == COMPLETE || row.status == EXPIRED {
        let payment = match row.payment_id.clone() {
            Some(id) => {
                let payment = services.db.run(move |c| payments::by_id(c, &id)).await?;
                Some(payments::view(services, account.clone(), payment).await?)
            }
            None => None,
        };
        return Ok(view(account, customer, row, None, payment));
    }
    let stripe_account = services.stripe_account(account)?;
    let session_id = row.stripe_checkout_session_id.clone().unwrap_or_default();
    let session = services
        .stripe
        .retrieve_checkout_session(&stripe_account, &session_id, &["payment_intent"])
        .await
        .map_err(|e| Error::from_stripe_input(e, None, "session_id"))?;
    let (row, payment) = match session_status(&session) {
        COMPLETE => {
            let payment = finish_payment(services, account, &row, &session, actor).await?;
            let id = row.id.clone();
            (
                services.db.run(move |c| by_id(c, &id)).await?,
                Some(payment),
            )
        }
        EXPIRED => (set_status(services, &row.id, EXPIRED).await?, None),
        _ => (row, None),
    };
    Ok(view(account, customer, row, Some(&session), payment))
}

/// Records the PaymentIntent of a completed payment session as a payment (once) and the session
/// as complete, in one transaction.
async fn finish_payment(
    services: &Services,
    account: &Account,
    row: &CheckoutSessionRow,
    session: &CheckoutSession,
    actor: &str,
) -> Result<PaymentView, Error> {
    let intent = session
        .payment_intent
        .as_ref()
        .and_then(Expandable::as_object)
        .ok_or_else(|| {
            Error::internal(format!(
                "completed Checkout Session {} has no expanded PaymentIntent",
                session.id
            ))
        })?;
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("checkout_session_id", session.id.as_str());
    metadata.insert("reference", row.reference.as_deref().unwrap_or_default());
    let at = now();
    let payment = Payment {
        id: new_id(),
        account_id: account.id.clone(),
        external_transaction_id: format!(
            "checkout:{}:{}",
            row.reference.as_deref().unwrap_or_default(),
            session.id
        ),
        customer_id: row.customer_id.clone(),
        stripe_payment_intent_id: Some(intent.id.clone()),
        request_fingerprint: hex::encode(Sha256::digest(format!("checkout:{}", session.id))),
        amount: MinorUnits::new(intent.amount).map_err(|e| {
            Error::internal(format!(
                "PaymentIntent {} of a Checkout Session: {e}",
                intent.id
            ))
        })?,
        currency: Currency::parse(&intent.currency).map_err(|e| {
            Error::internal(format!(
                "PaymentIntent {} of a Checkout Session: {e}",
                intent.id
            ))
        })?,
        capture_method: intent.capture_method.as_str().to_string(),
        payment_method_types: if intent.payment_method_types.is_empty() {
            MethodTypes::new(["card"])
        } else {
            MethodTypes::new(intent.payment_method_types.iter().cloned())
        },
        description: None,
        metadata: Some(serde_json::to_string(&metadata).map_err(Error::internal)?),
        // Inserted as `creating`, then moved to the intent's state by the state machine (in the
        // same transaction), which records and announces it.
        status: crate::payment_state::PaymentStatus::Creating,
        amount_capturable: MinorUnits::ZERO,
        amount_captured: MinorUnits::ZERO,
        amount_refunded: MinorUnits::ZERO,
        stripe_charge_id: None,
        stripe_payment_method_id: None,
        failure_code: None,
        decline_code: None,
        created_at: at,
        updated_at: at,
        // Recorded from Stripe's intent, never created by us.
        stripe_idempotency_key: None,
        amount_tip: MinorUnits::ZERO,
        capture_before: None,
        incremental_authorization_supported: None,
        overcapture_supported: None,
        request_incremental_authorization_support: false,
        request_extended_authorization: false,
    };
    let state = super::payment_updates::observe(intent).ok_or_else(|| {
        Error::internal(format!(
            "completed Checkout Session {} has an inconsistent PaymentIntent",
            session.id
        ))
    })?;
    let (row_id, actor) = (row.id.clone(), actor.to_string());
    let recorded = services
        .db
        .run(move |conn| {
            let inserted = write_transaction(conn, |conn| {
                if let Some(existing) = by_id(conn, &row_id)?.payment_id {
                    return payments::by_id(conn, &existing).map(Some);
                }
                let Inserted::New(payment) = db::payments::insert(conn, payment)? else {
                    return Ok(None);
                };
                let payment = super::payment_updates::apply(
                    conn,
                    &payment.id,
                    crate::payment_state::PaymentUpdate::Intent {
                        state: state.clone(),
                        source: crate::payment_state::Source::Checkout,
                    },
                    &actor,
                )?
                .payment;
                db::checkout_sessions::record_payment(conn, &row_id, &payment.id)?;
                Ok::<_, Error>(Some(payment))
            })?;
            match inserted {
                Some(payment) => Ok(payment),
                // A concurrent completion (GET or webhook) recorded the same PaymentIntent first.
                None => {
                    let existing = by_id(conn, &row_id)?.payment_id.ok_or_else(|| {
                        Error::internal(format!(
                            "the PaymentIntent of Checkout Session row {row_id} is recorded, but not on the session"
                        ))
                    })?;
                    payments::by_id(conn, &existing)
                }
            }
        })
        .await?;
    payments::view(services, account.clone(), recorded).await
}
