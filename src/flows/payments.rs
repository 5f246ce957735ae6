//! Payments: create a card-present PaymentIntent, capture it (above the authorisation: a tip on
//! receipt, where the card allows overcapture), raise its authorisation (increments), read it back.
//!
//! Crash safety (docs/architecture.md, rule 1): the payment row is written first (`creating`), then the intent is
//! created at Stripe with the Idempotency-Key stored on the row (derived from the account and the
//! caller's `external_transaction_id`, `flows::stripe_keys`), then the row is completed. A retry —
//! after a crash, a timeout or by a concurrent duplicate — replays the same Stripe request with the
//! same key and parameters, so it can only ever find the one PaymentIntent.

use super::line_items::{LineInput, Sale};
use super::payment_updates::{apply_now, history_entry, observe, observe_intent};
use super::{customers, Services};
use crate::db::models::{
    new_id, Account, Customer, Dispute, MethodTypes, Payment, PaymentHistory, PaymentLineItem,
};
use crate::db::{self, DbConnection, Inserted};
use crate::error::Error;
use crate::money::{Currency, DecimalText, MinorUnits, Money};
use crate::payment_state::{PaymentStatus, PaymentUpdate, Source};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use stripe_client::secret::Secret;
use stripe_client::{
    CaptureMethod, CapturePaymentIntent, CardPresentOptions, CreatePaymentIntent,
    IncrementAuthorization, Metadata, PaymentIntent, PaymentIntentStatus, SetupFutureUsage,
    StripeAccount, StripeError,
};

/// The actor of history entries for changes Stripe reported (a refresh, a webhook).
pub const STRIPE_ACTOR: &str = "stripe";

/// Metadata keys we set on Stripe objects ourselves.
pub const RESERVED_METADATA: [&str; 3] = [
    "external_account_id",
    "external_transaction_id",
    "external_customer_id",
];

/// A validated `POST /v1/payment/intent`.
#[derive(Debug, Clone)]
pub struct NewIntent {
    pub external_account_id: String,
    /// Checked for syntax already; parsed against the currency once it is known.
    pub amount: DecimalText,
    pub currency: Option<Currency>,
    pub payment_method_types: Vec<&'static str>,
    pub capture_method: &'static str,
    pub external_transaction_id: String,
    pub external_customer_id: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// What the card-present authorisation asks for.
    pub card_present: AuthorizationRequest,
    /// Charge this saved card off-session at once (`POST /v1/payment/charge`) instead of
    /// creating a card-present intent for a reader.
    pub saved_card: Option<CardRef>,
    /// What the sale was made of (syntax checked; checked against the amount once the
    /// currency is known), and its tax.
    pub line_items: Vec<LineInput>,
    pub tax: Option<DecimalText>,
    /// Where Stripe e-mails the receipt (validated).
    pub receipt_email: Option<String>,
    /// The merchant's cashier taking the payment (totals by cashier).
    pub external_cashier_id: Option<String>,
}

/// `request_incremental_authorization_support` and `request_extended_authorization` of an
/// intent request (card-present, manual capture only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AuthorizationRequest {
    pub incremental: bool,
    pub extended: bool,
}

/// A saved card, named by our id or by its Stripe PaymentMethod id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum CardRef {
    CardId(String),
    PaymentMethodId(String),
}

/// A payment with what the API shows next to it.
#[derive(Debug, Clone)]
pub struct PaymentView {
    pub payment: Payment,
    pub external_account_id: String,
    pub customer: Option<Customer>,
    /// Present only in answers to the intent request (never stored).
    pub client_secret: Option<Secret<String>>,
    pub history: Vec<PaymentHistory>,
    /// The payment's line items, where the answer shows them (`get`).
    pub line_items: Vec<PaymentLineItem>,
    /// Its latest dispute, where the answer shows it (`get`).
    pub dispute: Option<Dispute>,
}

/// Creates (or, for the same `external_transaction_id`, returns) the PaymentIntent.
pub async fn create_intent(
    services: &Services,
    actor: &str,
    input: NewIntent,
) -> Result<PaymentView, Error> {
    // One database hop before Stripe: what the request needs to know and, unless a Stripe
    // customer has to be made first, the `creating` row.
    let step = {
        let (keys, input, actor) = (services.keys(), input.clone(), actor.to_string());
        let at = services.clock.now();
        services
            .db
            .run(move |conn| prepare_intent(conn, &keys, &input, &actor, at))
            .await?
    };
    let (account, stripe_account, payment, customer) = match step {
        Prepared::Recorded {
            account,
            stripe_account,
            payment,
            customer,
        } => (account, stripe_account, payment, customer),
        Prepared::CustomerFirst {
            account,
            stripe_account,
            row,
            sale,
        } => {
            let external = input.external_customer_id.as_deref().unwrap_or_default();
            // Made at Stripe (new, or anew in this Stripe context), then recorded with the
            // payment in one hop; or already recorded, with the saved card to charge.
            let (customer, recorded, card) = match &input.saved_card {
                Some(card) => {
                    let (customer, card) =
                        super::cards::chargeable(services, &account, external, card).await?;
                    (customer, true, Some(card.stripe_payment_method_id))
                }
                None => (
                    customers::create_at_stripe(services, &stripe_account, &account, external)
                        .await?,
                    false,
                    None,
                ),
            };
            let row = Payment {
                id: new_id(),
                stripe_payment_method_id: card,
                created_at: services.clock.now(),
                updated_at: services.clock.now(),
                ..row
            };
            let actor = actor.to_string();
            let (payment, customer) = services
                .db
                .run(move |conn| {
                    let row = Payment {
                        customer_id: Some(customer.id.clone()),
                        ..row
                    };
                    // Stripe's new customer recorded in the payment row's transaction.
                    let new_customer = (!recorded).then(|| customer.clone());
                    let (payment, recorded_now) =
                        insert_creating(conn, row, sale.as_ref(), &actor, new_customer)?;
                    Ok::<_, Error>((payment, recorded_now.unwrap_or(customer)))
                })
                .await?;
            (account, stripe_account, payment, Some(customer))
        }
    };
    let intent = match &payment.stripe_payment_intent_id {
        // A declined saved-card charge stays declined for this external_transaction_id.
        Some(_) if payment.status == PaymentStatus::Failed => return Err(declined(&payment)),
        // Completed before: the same intent again, with its client secret from Stripe.
        Some(id) => {
            services
                .stripe
                .retrieve_payment_intent(&stripe_account, id, &[])
                .await?
        }
        // New, or left in `creating` by a crash or timeout: (re)play the creation.
        None => match create_at_stripe(
            services,
            &stripe_account,
            &account,
            &payment,
            customer.as_ref(),
        )
        .await
        {
            Ok(intent) => intent,
            Err(StripeError::Api {
                payment_intent: Some(intent),
                code,
                decline_code,
                ..
            }) if payment.stripe_payment_method_id.is_some() => {
                let failed = fail(
                    services,
                    payment,
                    &intent,
                    code.as_deref(),
                    decline_code.as_deref(),
                    actor,
                )
                .await?;
                return Err(declined(&failed));
            }
            Err(e) => return Err(e.into()),
        },
    };
    let payment = complete(services, payment, &intent, actor).await?;
    Ok(PaymentView {
        payment,
        external_account_id: account.external_account_id,
        customer,
        client_secret: intent.client_secret,
        history: Vec::new(),
        line_items: Vec::new(),
        dispute: None,
    })
}

/// Where an intent request stands after its first database hop.
enum Prepared {
    /// The payment row, recorded now (`creating`) or by an earlier identical request.
    Recorded {
        account: Account,
        stripe_account: StripeAccount,
        payment: Payment,
        customer: Option<Customer>,
    },
    /// The row to record once the customer is known: made at Stripe first (new, or of another
    /// Stripe context), or looked up with the saved card to charge.
    CustomerFirst {
        account: Account,
        stripe_account: StripeAccount,
        row: Payment,
        sale: Option<Sale>,
    },
}

/// The intent request's first hop: the account, an earlier payment for the same
/// `external_transaction_id` and the customer, the request checked against them; then the
/// `creating` row recorded, unless the customer has to be made (or its saved card found) first.
fn prepare_intent(
    conn: &mut DbConnection,
    keys: &super::StripeKeys,
    input: &NewIntent,
    actor: &str,
    at: chrono::NaiveDateTime,
) -> Result<Prepared, Error> {
    let (account, existing, known_customer) = db::payments::find_for_intent(
        conn,
        &input.external_account_id,
        &input.external_transaction_id,
        input.external_customer_id.as_deref(),
    )?
    .ok_or_else(super::accounts::not_found)?;
    let currency = input.currency.unwrap_or(account.default_currency);
    let money = Money::parse_charge(&input.amount.0, currency)
        .map_err(|e| Error::invalid("amount", format!("'amount' {e}")))?;
    if input.payment_method_types.contains(&"interac_present") && currency.code() != "cad" {
        return Err(Error::invalid(
            "payment_method_types",
            "interac_present is only available for payments in CAD",
        ));
    }
    let sale = super::line_items::check(&input.line_items, input.tax.as_ref(), money)?;
    let fingerprint = request_fingerprint(input, money, sale.as_ref());
    let stripe_account = keys.stripe_account(&account)?;
    let row = match existing {
        Some(p) if p.request_fingerprint != fingerprint => return Err(idempotency_conflict()),
        // The same request (same fingerprint, so the same customer).
        Some(payment) => {
            return Ok(Prepared::Recorded {
                account,
                stripe_account,
                payment,
                customer: known_customer,
            })
        }
        None => new_row(&account, input, money, fingerprint, sale.as_ref(), at),
    };
    let customer = match (&input.external_customer_id, &input.saved_card) {
        (None, _) => None,
        // Known, and made in the Stripe context calls act in now.
        (Some(_), None)
            if known_customer.as_ref().is_some_and(|c| {
                super::stripe_keys::customer_in(
                    c,
                    &super::stripe_keys::context(&account, &stripe_account),
                )
            }) =>
        {
            known_customer
        }
        (Some(_), _) => {
            return Ok(Prepared::CustomerFirst {
                account,
                stripe_account,
                row,
                sale,
            })
        }
    };
    let row = Payment {
        customer_id: customer.as_ref().map(|c| c.id.clone()),
        ..row
    };
    let (payment, _) = insert_creating(conn, row, sale.as_ref(), actor, None)?;
    Ok(Prepared::Recorded {
        account,
        stripe_account,
        payment,
        customer,
    })
}

/// The `creating` row of a new payment, without its customer or saved card yet.
fn new_row(
    account: &Account,
    input: &NewIntent,
    money: Money,
    fingerprint: String,
    sale: Option<&Sale>,
    at: chrono::NaiveDateTime,
) -> Payment {
    Payment {
        id: new_id(),
        account_id: account.id.clone(),
        external_transaction_id: input.external_transaction_id.clone(),
        customer_id: None,
        stripe_payment_intent_id: None,
        request_fingerprint: fingerprint,
        amount: money.minor,
        currency: money.currency,
        capture_method: input.capture_method.to_string(),
        payment_method_types: MethodTypes::new(input.payment_method_types.iter().copied()),
        description: input.description.clone(),
        metadata: (!input.metadata.is_empty())
            .then(|| serde_json::to_string(&input.metadata).expect("string map serializes")),
        status: PaymentStatus::Creating,
        amount_capturable: MinorUnits::ZERO,
        amount_captured: MinorUnits::ZERO,
        amount_refunded: MinorUnits::ZERO,
        stripe_charge_id: None,
        stripe_payment_method_id: None,
        failure_code: None,
        decline_code: None,
        created_at: at,
        updated_at: at,
        stripe_idempotency_key: Some(super::stripe_keys::payment_intent(
            &account.id,
            &input.external_transaction_id,
        )),
        amount_tip: MinorUnits::ZERO,
        capture_before: None,
        incremental_authorization_supported: None,
        overcapture_supported: None,
        request_incremental_authorization_support: input.card_present.incremental,
        request_extended_authorization: input.card_present.extended,
        tax: sale.map(|s| s.tax),
        receipt_email: input.receipt_email.clone(),
        external_cashier_id: input.external_cashier_id.clone(),
    }
}

/// Records the `creating` row, its line items and its first history entry, before Stripe is
/// called — and first, in the same transaction, `new_customer`, a customer just made at Stripe
/// (the row then names the recorded one); a concurrent identical request that recorded the row
/// first is continued with (its row), a different one is 409.
fn insert_creating(
    conn: &mut DbConnection,
    row: Payment,
    sale: Option<&Sale>,
    actor: &str,
    new_customer: Option<Customer>,
) -> Result<(Payment, Option<Customer>), Error> {
    // Flushed by the synchronous commit that records Stripe's answer (a customer lost with it is
    // made again, under the same Stripe Idempotency-Key, by the retry).
    let (inserted, customer) = db::relaxed_write_transaction(conn, |conn| {
        let customer = new_customer
            .map(|c| customers::record_in(conn, c))
            .transpose()?;
        let row = Payment {
            customer_id: customer
                .as_ref()
                .map(|c| c.id.clone())
                .or_else(|| row.customer_id.clone()),
            ..row.clone()
        };
        let entry = history_entry(&row, "create", Some(row.amount), actor, None);
        let inserted = db::payments::insert_with_history(conn, row, &entry)?;
        if let (Inserted::New(row), Some(sale)) = (&inserted, sale) {
            db::line_items::insert(conn, &sale.rows(&row.id))?;
        }
        Ok::<_, Error>((inserted, customer))
    })?;
    let payment = match inserted {
        Inserted::New(row) => row,
        // A concurrent identical request wrote it first: continue with theirs.
        Inserted::Duplicate => {
            let theirs = db::payments::find_by_external_id(
                conn,
                &row.account_id,
                &row.external_transaction_id,
            )?
            .ok_or_else(|| Error::internal("payment vanished after a duplicate insert"))?;
            if theirs.request_fingerprint != row.request_fingerprint {
                return Err(idempotency_conflict());
            }
            theirs
        }
    };
    Ok((payment, customer))
}

/// The PaymentIntent request for a payment row. Built only from the row, so a replay sends
/// exactly the same parameters under the same Idempotency-Key.
pub(crate) async fn create_at_stripe(
    services: &Services,
    stripe_account: &StripeAccount,
    account: &Account,
    payment: &Payment,
    customer: Option<&Customer>,
) -> Result<PaymentIntent, StripeError> {
    let mut metadata: Metadata = payment
        .metadata
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_default();
    metadata.insert(
        "external_account_id".into(),
        account.external_account_id.clone(),
    );
    metadata.insert(
        "external_transaction_id".into(),
        payment.external_transaction_id.clone(),
    );
    if let Some(c) = customer {
        metadata.insert(
            "external_customer_id".into(),
            c.external_customer_id.clone(),
        );
    }
    let types = payment.payment_method_types.as_strs();
    let saved_card = payment.stripe_payment_method_id.as_deref();
    let params = CreatePaymentIntent {
        payment_method_types: &types,
        capture_method: Some(CaptureMethod::from(payment.capture_method.as_str())),
        customer: customer.map(|c| c.stripe_customer_id.as_str()),
        // Card-present intents with a customer are set up so the card can be saved afterwards;
        // a saved card is charged merchant-initiated, confirmed at once.
        setup_future_usage: customer
            .filter(|_| sets_up_future_usage(payment))
            .map(|_| SetupFutureUsage::OffSession),
        payment_method: saved_card,
        confirm: saved_card.map(|_| true),
        off_session: saved_card.map(|_| true),
        description: payment.description.as_deref(),
        metadata: Some(&metadata),
        card_present: (payment.request_incremental_authorization_support
            || payment.request_extended_authorization)
            .then_some(CardPresentOptions {
                request_incremental_authorization_support: payment
                    .request_incremental_authorization_support
                    .then_some(true),
                request_extended_authorization: payment
                    .request_extended_authorization
                    .then_some(true),
            }),
        receipt_email: payment.receipt_email.as_deref(),
        ..CreatePaymentIntent::new(payment.amount.get(), payment.currency.code())
    };
    let key = super::stripe_keys::of_payment(payment);
    services
        .stripe
        .create_payment_intent(stripe_account, &params, &key)
        .await
}

/// Records a declined saved-card charge: the intent Stripe created, and why it failed.
async fn fail(
    services: &Services,
    payment: Payment,
    intent: &PaymentIntent,
    code: Option<&str>,
    decline_code: Option<&str>,
    actor: &str,
) -> Result<Payment, Error> {
    let update = PaymentUpdate::Failed {
        intent_id: intent.id.clone(),
        code: code.unwrap_or("card_declined").to_string(),
        decline_code: decline_code.map(str::to_string),
    };
    apply_now(services, &payment, update, actor)
        .await
        .map(|applied| applied.payment)
}

/// The 402 of a declined saved-card charge, from what was recorded.
fn declined(payment: &Payment) -> Error {
    let mut e = Error::card_declined(
        payment.failure_code.as_deref().unwrap_or("card_declined"),
        payment.decline_code.clone(),
        "the card was declined; the payment is recorded as failed",
    );
    e.payment_status = Some(PaymentStatus::Failed.to_string());
    e.payment_id = payment.stripe_payment_intent_id.clone();
    e
}

/// Records the intent's id and state on the row, through the state machine: a stale answer (a
/// concurrent duplicate request that finishes after the payment moved on) changes nothing. A
/// payment recorded as `failed` stays failed: Stripe keeps such an intent in
/// `requires_payment_method`.
pub(crate) async fn complete(
    services: &Services,
    payment: Payment,
    intent: &PaymentIntent,
    actor: &str,
) -> Result<Payment, Error> {
    if payment.stripe_payment_intent_id.as_deref() == Some(intent.id.as_str())
        && payment.status == intent.status.as_str()
    {
        return Ok(payment);
    }
    let state = observe(intent).ok_or_else(|| {
        Error::internal(format!(
            "Stripe answered with an inconsistent PaymentIntent {}",
            intent.id
        ))
    })?;
    let update = PaymentUpdate::Intent {
        state,
        source: Source::Sync,
    };
    apply_now(services, &payment, update, actor)
        .await
        .map(|applied| applied.payment)
}

/// Captures all or part of an authorised payment.
pub async fn capture(
    services: &Services,
    actor: &str,
    external_account_id: String,
    payment_id: String,
    amount: Option<DecimalText>,
) -> Result<PaymentView, Error> {
    let (account, mut payment, customer) =
        load_viewed(services, external_account_id, payment_id).await?;
    let currency = payment.currency;
    let amount = amount
        .map(|a| {
            Money::parse(&a.0, currency)
                .map_err(|e| Error::invalid("amount", format!("'amount' {e}")))
        })
        .transpose()?
        .map(|m| m.minor);
    let stripe_account = services.stripe_account(&account)?;
    if let Some(minor) = amount.filter(|a| *a > payment.amount) {
        if payment.status.is_final() {
            return Err(Error::invalid(
                "amount",
                format!(
                    "'amount' exceeds the payment's amount ({})",
                    Money::from_minor(payment.amount, currency).to_decimal_string()
                ),
            ));
        }
        // Above what we know is authorised: Stripe's view first (a tip on the reader we have
        // not seen yet, whether the card allows overcapture).
        payment = refresh(services, &stripe_account, payment).await?;
        if minor > payment.amount
            && payment.status == PaymentStatus::RequiresCapture
            && payment.overcapture_supported != Some(true)
        {
            return Err(overcapture_unavailable(&payment));
        }
    }
    match payment.status {
        // Repeating a completed capture returns the same result, without asking Stripe again.
        PaymentStatus::Succeeded if amount.is_none() || amount == Some(payment.amount_captured) => {
            return Ok(view_of(account, payment, customer));
        }
        PaymentStatus::Succeeded | PaymentStatus::Canceled | PaymentStatus::Creating => {
            return Err(not_capturable(payment.status.as_str()))
        }
        _ => {}
    }
    let intent_id = payment.stripe_payment_intent_id.clone().unwrap_or_default();
    // A PaymentIntent is captured at most once, whatever the key: a fresh key per request, so a
    // refused capture (not yet authorised) does not poison the next attempt.
    let key = format!("capture:{intent_id}:{}", uuid::Uuid::new_v4());
    let params = CapturePaymentIntent {
        amount_to_capture: amount.map(MinorUnits::get),
        ..Default::default()
    };
    let answer = services
        .stripe
        .capture_payment_intent(&stripe_account, &intent_id, &params, &key)
        .await;
    // Above the authorisation, beyond what Stripe allows for this card.
    if let Err(e) = &answer {
        if e.code() == Some("amount_too_large") && amount.is_some_and(|a| a > payment.amount) {
            return Err(Error::conflict(
                "overcapture_limit_exceeded",
                format!(
                    "'amount' is more above the authorised {} than Stripe allows for this card: {}",
                    Money::from_minor(payment.amount, currency).to_decimal_string(),
                    stripe_message(e).unwrap_or("amount too large")
                ),
            )
            .with_param("amount"));
        }
    }
    let intent = settle(
        services,
        &stripe_account,
        &payment,
        answer,
        Wanted::Capture(amount),
    )
    .await?;
    // Stripe's webhook may have recorded the capture first: recorded and announced once.
    let payment = observe_intent(services, payment, &intent, Source::Capture, actor).await?;
    Ok(view_of(account, payment, customer))
}

/// The payment after a read of its intent with the charge (the authorisation's amount, tip and
/// facts), recorded as Stripe's.
async fn refresh(
    services: &Services,
    stripe_account: &StripeAccount,
    payment: Payment,
) -> Result<Payment, Error> {
    let Some(id) = payment.stripe_payment_intent_id.clone() else {
        return Ok(payment);
    };
    let intent = services
        .stripe
        .retrieve_payment_intent(stripe_account, &id, &["latest_charge"])
        .await
        .map_err(|e| Error::from_stripe_input(e, None, "payment_id"))?;
    observe_intent(services, payment, &intent, Source::Sync, STRIPE_ACTOR).await
}

/// Stripe's message of an API error.
fn stripe_message(e: &StripeError) -> Option<&str> {
    match e {
        StripeError::Api { message, .. } => message.as_deref(),
        _ => None,
    }
}

fn overcapture_unavailable(payment: &Payment) -> Error {
    let mut e = Error::conflict(
        "overcapture_unavailable",
        format!(
            "'amount' is above the authorised {}, and this card does not allow capturing more than was authorised (overcapture: US Visa, Mastercard, American Express or Discover cards); capture at most the authorised amount, or take the tip on the reader",
            Money::from_minor(payment.amount, payment.currency).to_decimal_string()
        ),
    )
    .with_param("amount");
    e.payment_status = Some(payment.status.to_string());
    e
}

/// Raises an authorised payment's authorisation to `amount` (the new total, as Stripe's
/// `increment_authorization` takes it): bar tabs, hotels. Declines are 402s that change nothing
/// but Stripe's count of attempts (recorded in the history as `increment_declined`); Stripe's
/// limit of attempts is a 409.
pub async fn increment(
    services: &Services,
    actor: &str,
    external_account_id: String,
    payment_id: String,
    amount: DecimalText,
    idempotency_key: Option<String>,
) -> Result<PaymentView, Error> {
    let (account, payment, customer) =
        load_viewed(services, external_account_id, payment_id).await?;
    let currency = payment.currency;
    let amount = Money::parse_charge(&amount.0, currency)
        .map_err(|e| Error::invalid("amount", format!("'amount' {e}")))?
        .minor;
    let stripe_account = services.stripe_account(&account)?;
    let refreshed = match payment.status {
        PaymentStatus::RequiresCapture if payment.incremental_authorization_supported.is_some() => {
            payment
        }
        status if status.is_final() || status == PaymentStatus::Creating => payment,
        _ => refresh(services, &stripe_account, payment).await?,
    };
    let payment = refreshed;
    if payment.status != PaymentStatus::RequiresCapture {
        let mut e = Error::conflict(
            "payment_not_incrementable",
            format!(
                "the payment's authorisation cannot be raised in status '{}' (only in requires_capture)",
                payment.status
            ),
        );
        e.payment_status = Some(payment.status.to_string());
        return Err(e);
    }
    // The same total again: done already (a repeat whose first answer was lost).
    if amount == payment.amount {
        return Ok(view_of(account, payment, customer));
    }
    if amount < payment.amount {
        return Err(Error::invalid(
            "amount",
            format!(
                "'amount' is the new total to authorise and must be above the authorised {}",
                Money::from_minor(payment.amount, currency).to_decimal_string()
            ),
        ));
    }
    if payment.incremental_authorization_supported != Some(true) {
        let mut e = Error::conflict(
            "incremental_authorization_unavailable",
            "this authorisation cannot be raised: create the intent with request_incremental_authorization_support, and take a card that supports it (Visa, Mastercard or Discover)",
        );
        e.payment_status = Some(payment.status.to_string());
        return Err(e);
    }
    let intent_id = payment.stripe_payment_intent_id.clone().unwrap_or_default();
    // The same caller key and total replay Stripe's answer; without a key, every request is an
    // attempt of its own (a repeat of a done increment is answered above).
    let key = format!(
        "increment:{intent_id}:{}:{}",
        amount.get(),
        idempotency_key
            .map(|k| hex::encode(&Sha256::digest(k.as_bytes())[..16]))
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    );
    let answer = services
        .stripe
        .increment_authorization(
            &stripe_account,
            &intent_id,
            &IncrementAuthorization {
                amount: amount.get(),
                expand: &["latest_charge"],
                ..Default::default()
            },
            &key,
        )
        .await;
    let intent = match answer {
        Ok(intent) => intent,
        Err(StripeError::Api {
            error_type: stripe_client::ErrorType::CardError,
            code,
            decline_code,
            ..
        }) => {
            let decline_code = decline_code.map(String::from);
            let update = PaymentUpdate::IncrementDeclined {
                intent_id: intent_id.clone(),
                amount,
                decline_code: decline_code.clone(),
            };
            apply_now(services, &payment, update, actor).await?;
            let mut e = Error::card_declined(
                code.as_deref().unwrap_or("card_declined"),
                decline_code,
                "the card declined the increment; the authorisation stays as it was",
            );
            e.payment_status = Some(payment.status.to_string());
            e.payment_id = payment.stripe_payment_intent_id.clone();
            return Err(e);
        }
        Err(e @ StripeError::Api { status: 400, .. })
            if e.code().is_none() && e.param().is_none() =>
        {
            // Support was checked: what Stripe refuses without a code then is its limit of
            // attempts per authorisation.
            let mut error = Error::conflict(
                "increment_limit_reached",
                format!(
                    "Stripe allows no more increments of this authorisation: {}",
                    stripe_message(&e).unwrap_or("attempt limit reached")
                ),
            );
            error.payment_status = Some(payment.status.to_string());
            return Err(error);
        }
        Err(e) => return Err(Error::from_stripe_input(e, Some("amount"), "amount")),
    };
    let payment = observe_intent(services, payment, &intent, Source::Sync, actor).await?;
    Ok(view_of(account, payment, customer))
}

/// Our record of a payment, with its status refreshed from Stripe while it can still change
/// (not once canceled or failed). Changes the refresh finds are Stripe's (or the reader's), and
/// recorded as such, not as the reader of the payment's.
pub async fn get(
    services: &Services,
    external_account_id: String,
    payment_id: String,
) -> Result<PaymentView, Error> {
    let (account, payment, customer) =
        load_viewed(services, external_account_id, payment_id).await?;
    if let (Some(id), false) = (&payment.stripe_payment_intent_id, payment.status.is_final()) {
        // With its charge, for the authorisation's facts (capture deadline, increments,
        // overcapture).
        let intent = services
            .stripe
            .retrieve_payment_intent(&services.stripe_account(&account)?, id, &["latest_charge"])
            .await
            .map_err(|e| Error::from_stripe_input(e, None, "payment_id"))?;
        let facts_unknown = intent.status == PaymentIntentStatus::RequiresCapture
            && payment.incremental_authorization_supported.is_none();
        if payment.status != intent.status.as_str()
            || intent.amount_capturable != payment.amount_capturable.get()
            || intent.amount != payment.amount.get()
            || facts_unknown
        {
            observe_intent(
                services,
                payment.clone(),
                &intent,
                Source::Sync,
                STRIPE_ACTOR,
            )
            .await?;
        }
    }
    // The row as it is now, with its history, in one hop: a capture (or webhook) that completed
    // while Stripe was being read is shown, never the row as it was before the read.
    let id = payment.id.clone();
    let (payment, history, lines, dispute) = services
        .db
        .run(move |conn| {
            let payment = by_id(conn, &id)?;
            let history = db::payment_history::of_payment(conn, &id)?;
            let lines = line_items_of(conn, &payment)?;
            // Only a captured payment can be disputed: no query for the others.
            let dispute = match payment.amount_captured.get() > 0 {
                true => db::disputes::of_payment(conn, &id)?.into_iter().next(),
                false => None,
            };
            Ok::<_, Error>((payment, history, lines, dispute))
        })
        .await?;
    let mut view = view_of(account, payment, customer);
    view.history = history;
    view.line_items = lines;
    view.dispute = dispute;
    Ok(view)
}

/// The payment's line items; no query for a payment without (its `tax` is set exactly when it
/// has lines, `flows::line_items`).
pub fn line_items_of(
    conn: &mut DbConnection,
    payment: &Payment,
) -> Result<Vec<PaymentLineItem>, Error> {
    match payment.tax {
        Some(_) => Ok(db::line_items::of_payment(conn, &payment.id)?),
        None => Ok(Vec::new()),
    }
}

/// Whether the payment's PaymentIntent has `setup_future_usage` (`off_session`): a card-present
/// payment with a customer, not itself a charge of a saved card.
pub fn sets_up_future_usage(payment: &Payment) -> bool {
    payment.customer_id.is_some() && payment.stripe_payment_method_id.is_none()
}

/// The account (404 if unknown) and its payment with this PaymentIntent id (404 if unknown or
/// another account's).
pub async fn load(
    services: &Services,
    external_account_id: String,
    payment_id: String,
) -> Result<(Account, Payment), Error> {
    services
        .db
        .run(move |conn| load_in(conn, &external_account_id, &payment_id))
        .await
}

/// [`load`], with the payment's customer, in the same hop.
pub async fn load_viewed(
    services: &Services,
    external_account_id: String,
    payment_id: String,
) -> Result<(Account, Payment, Option<Customer>), Error> {
    services
        .db
        .run(move |conn| load_viewed_in(conn, &external_account_id, &payment_id))
        .await
}

/// [`load_viewed`] on a connection in hand: one statement, unless an id is unknown (then the
/// separate reads tell which).
pub fn load_viewed_in(
    conn: &mut DbConnection,
    external_account_id: &str,
    payment_id: &str,
) -> Result<(Account, Payment, Option<Customer>), Error> {
    if let Some(found) = db::payments::find_viewed_by_intent(conn, external_account_id, payment_id)?
    {
        return Ok(found);
    }
    load_viewed_apart(conn, external_account_id, payment_id)
}

/// [`load_viewed_in`] by separate reads, after its one statement found nothing: the error that
/// tells an unknown account from an unknown payment (or the row, if it appeared meanwhile).
pub fn load_viewed_apart(
    conn: &mut DbConnection,
    external_account_id: &str,
    payment_id: &str,
) -> Result<(Account, Payment, Option<Customer>), Error> {
    let (account, payment) = load_in(conn, external_account_id, payment_id)?;
    let customer = match &payment.customer_id {
        Some(id) => Some(customers::by_id(conn, id)?),
        None => None,
    };
    Ok((account, payment, customer))
}

/// [`load`] on a connection in hand.
pub fn load_in(
    conn: &mut DbConnection,
    external_account_id: &str,
    payment_id: &str,
) -> Result<(Account, Payment), Error> {
    let account = super::accounts::require(conn, external_account_id)?;
    let payment =
        db::payments::find_by_intent(conn, &account.id, payment_id)?.ok_or_else(|| {
            Error::not_found(format!("no such payment: '{payment_id}'")).with_param("payment_id")
        })?;
    Ok((account, payment))
}

/// What the API shows of a payment whose customer is in hand (a payment's customer never
/// changes once it is recorded).
pub fn view_of(account: Account, payment: Payment, customer: Option<Customer>) -> PaymentView {
    PaymentView {
        payment,
        external_account_id: account.external_account_id,
        customer,
        client_secret: None,
        history: Vec::new(),
        line_items: Vec::new(),
        dispute: None,
    }
}

pub async fn view(
    services: &Services,
    account: Account,
    payment: Payment,
) -> Result<PaymentView, Error> {
    let customer = load_customer(services, &payment).await?;
    Ok(PaymentView {
        payment,
        external_account_id: account.external_account_id,
        customer,
        client_secret: None,
        history: Vec::new(),
        line_items: Vec::new(),
        dispute: None,
    })
}

async fn load_customer(services: &Services, payment: &Payment) -> Result<Option<Customer>, Error> {
    match payment.customer_id.clone() {
        Some(id) => services
            .db
            .run(move |c| customers::by_id(c, &id))
            .await
            .map(Some),
        None => Ok(None),
    }
}

/// The payment row, locked until the end of the transaction (PostgreSQL `FOR UPDATE`; SQLite's
/// write transactions already exclude each other), so that our API and Stripe's webhooks, racing
/// on the same change, record and announce it once.
pub fn lock(conn: &mut DbConnection, id: &str) -> Result<Payment, Error> {
    Ok(db::payments::lock(conn, id)?)
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> Result<Payment, Error> {
    Ok(db::payments::by_id(conn, id)?)
}

/// A digest of everything that defines the payment, to tell a retry from a conflicting reuse of
/// the same `external_transaction_id`.
fn request_fingerprint(input: &NewIntent, money: Money, sale: Option<&Sale>) -> String {
    let mut canonical = serde_json::json!([
        money.minor.get(),
        money.currency.code(),
        input.payment_method_types,
        input.capture_method,
        input.external_customer_id,
        input.description,
        input.metadata,
        input.saved_card,
    ]);
    // Each addition only when given, so requests recorded before these fields existed keep their
    // digest.
    let list = canonical.as_array_mut().expect("an array");
    if input.card_present != AuthorizationRequest::default() {
        list.push(serde_json::json!({ "card_present": input.card_present }));
    }
    if let Some(sale) = sale {
        list.push(serde_json::json!({"line_items": sale.lines.iter().map(|(d, unit, qty)| (d, unit.get(), qty)).collect::<Vec<_>>(), "tax": sale.tax.get()}));
    }
    if let Some(email) = &input.receipt_email {
        list.push(serde_json::json!({ "receipt_email": email }));
    }
    if let Some(cashier) = &input.external_cashier_id {
        list.push(serde_json::json!({ "cashier": cashier }));
    }
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

fn idempotency_conflict() -> Error {
    Error::conflict(
        "idempotency_conflict",
        "this external_transaction_id was already used with different parameters",
    )
    .with_param("external_transaction_id")
}

fn not_capturable(status: &str) -> Error {
    let mut e = Error::conflict(
        "payment_not_capturable",
        format!("the payment cannot be captured in status '{status}' (only from requires_capture)"),
    );
    e.payment_status = Some(status.to_string());
    e
}

/// Voids an uncaptured authorisation. A captured payment is refunded instead (409).
pub async fn cancel(
    services: &Services,
    actor: &str,
    external_account_id: String,
    payment_id: String,
) -> Result<PaymentView, Error> {
    let (account, payment, customer) =
        load_viewed(services, external_account_id, payment_id).await?;
    match payment.status {
        PaymentStatus::Canceled => return Ok(view_of(account, payment, customer)),
        PaymentStatus::Succeeded => {
            let mut e = Error::conflict(
                "payment_already_captured",
                "the payment is captured and can no longer be voided; refund it with POST /v1/payment/refund",
            );
            e.payment_status = Some(payment.status.to_string());
            return Err(e);
        }
        PaymentStatus::Failed => return Err(not_cancelable(PaymentStatus::Failed.as_str())),
        _ => {}
    }
    let stripe_account = services.stripe_account(&account)?;
    let intent_id = payment.stripe_payment_intent_id.clone().unwrap_or_default();
    let answer = services
        .stripe
        .cancel_payment_intent(
            &stripe_account,
            &intent_id,
            &Default::default(),
            &format!("cancel:{intent_id}:{}", uuid::Uuid::new_v4()),
        )
        .await;
    let intent = settle(services, &stripe_account, &payment, answer, Wanted::Cancel).await?;
    let payment = observe_intent(services, payment, &intent, Source::Cancel, actor).await?;
    Ok(view_of(account, payment, customer))
}

/// A validated `POST /v1/payment/{payment_id}`: what to change (`None`: leave as it is).
#[derive(Debug, Clone, Default)]
pub struct DetailsChange {
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
    /// Merged into the payment's metadata, as Stripe does: an empty value removes its key.
    pub metadata: Option<BTreeMap<String, String>>,
    /// `Some(None)` clears it.
    pub receipt_email: Option<Option<String>>,
}

/// The most metadata keys a payment keeps (ours, reserved ones aside).
pub const MAX_METADATA_KEYS: usize = 20;

/// Changes the payment's description, metadata or receipt e-mail at Stripe (any status: Stripe
/// allows it), then records Stripe's values on our row through the state machine.
pub async fn update_details(
    services: &Services,
    actor: &str,
    external_account_id: String,
    payment_id: String,
    change: DetailsChange,
) -> Result<PaymentView, Error> {
    let (account, payment, customer) =
        load_viewed(services, external_account_id, payment_id).await?;
    if let Some(given) = &change.metadata {
        let mut merged: BTreeMap<String, String> = payment
            .metadata
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        for (k, v) in given {
            match v.is_empty() {
                true => merged.remove(k),
                false => merged.insert(k.clone(), v.clone()),
            };
        }
        if merged.len() > MAX_METADATA_KEYS {
            return Err(Error::invalid(
                "metadata",
                format!(
                    "'metadata' would have {} keys; a payment keeps at most {MAX_METADATA_KEYS}",
                    merged.len()
                ),
            ));
        }
    }
    let intent_id = payment.stripe_payment_intent_id.clone().unwrap_or_default();
    let stripe_account = services.stripe_account(&account)?;
    let metadata: Option<Metadata> = change.metadata.map(|m| m.into_iter().collect());
    // Stripe clears a field given as an empty string.
    let cleared = |v: &Option<Option<String>>| v.as_ref().map(|v| v.clone().unwrap_or_default());
    let (description, receipt_email) =
        (cleared(&change.description), cleared(&change.receipt_email));
    let params = stripe_client::UpdatePaymentIntent {
        description: description.as_deref(),
        metadata: metadata.as_ref(),
        receipt_email: receipt_email.as_deref(),
        ..Default::default()
    };
    // The change is the same whatever the key: a fresh one per request.
    let key = format!("update:{intent_id}:{}", uuid::Uuid::new_v4());
    let intent = services
        .stripe
        .update_payment_intent(&stripe_account, &intent_id, &params, &key)
        .await
        .map_err(|e| Error::from_stripe_input(e, None, "payment_id"))?;
    let theirs: BTreeMap<&String, &String> = intent
        .metadata
        .iter()
        .filter(|(k, _)| !RESERVED_METADATA.contains(&k.as_str()))
        .collect();
    let update = PaymentUpdate::Details {
        description: intent.description.clone().filter(|d| !d.is_empty()),
        metadata: (!theirs.is_empty())
            .then(|| serde_json::to_string(&theirs).expect("string map serializes")),
        receipt_email: intent.receipt_email.clone().filter(|e| !e.is_empty()),
    };
    let applied = apply_now(services, &payment, update, actor).await?;
    Ok(view_of(account, applied.payment, customer))
}

/// What a capture or a void asked of Stripe, to judge the intent Stripe shows.
#[derive(Debug, Clone, Copy)]
enum Wanted {
    /// Captured; `Some(amount)` for a partial capture, `None` for the whole authorisation.
    Capture(Option<MinorUnits>),
    Cancel,
}

impl Wanted {
    /// Whether the intent as it is at Stripe is what the request asked for: an earlier attempt
    /// (whose answer was lost) or a concurrent duplicate already did it.
    fn done_by(self, payment: &Payment, intent: &PaymentIntent) -> bool {
        match self {
            Wanted::Capture(amount) => {
                intent.status == PaymentIntentStatus::Succeeded
                    && intent.amount_received == amount.unwrap_or(payment.amount).get()
            }
            Wanted::Cancel => intent.status == PaymentIntentStatus::Canceled,
        }
    }

    /// The definitive refusal, once the intent's true status says the request cannot happen.
    fn refused(self, status: &str) -> Error {
        match self {
            Wanted::Capture(_) => not_capturable(status),
            Wanted::Cancel => not_cancelable(status),
        }
    }
}

/// Stripe's answer to a capture or a void, decided by the intent's true state. When Stripe says
/// the intent is not in a state for it (`payment_intent_unexpected_state`), the intent it shows
/// (`error.payment_intent`, read from Stripe when the error carries none) decides:
/// - it already is what was asked (an earlier attempt whose answer was lost, or a concurrent
///   duplicate): that is the result, a success;
/// - it is still in motion (`requires_capture`, `processing`): a retryable 409
///   `request_in_progress`, never a definitive refusal;
/// - otherwise the refusal, with the true status, after our record caught up with it.
async fn settle(
    services: &Services,
    stripe_account: &StripeAccount,
    payment: &Payment,
    answer: Result<PaymentIntent, StripeError>,
    wanted: Wanted,
) -> Result<PaymentIntent, Error> {
    let shown = match answer {
        Ok(intent) => return Ok(intent),
        Err(StripeError::Api {
            code: Some(code),
            payment_intent,
            ..
        }) if &*code == "payment_intent_unexpected_state" => payment_intent,
        // An intent Stripe does not know (the merchant moved to another Stripe account): the
        // caller's payment_id, not our failure.
        Err(e) => return Err(Error::from_stripe_input(e, None, "payment_id")),
    };
    let intent = match shown {
        Some(intent) => *intent,
        None => {
            let id = payment
                .stripe_payment_intent_id
                .as_deref()
                .unwrap_or_default();
            services
                .stripe
                .retrieve_payment_intent(stripe_account, id, &[])
                .await
                .map_err(|e| Error::from_stripe_input(e, None, "payment_id"))?
        }
    };
    if wanted.done_by(payment, &intent) {
        return Ok(intent);
    }
    if matches!(
        intent.status,
        PaymentIntentStatus::RequiresCapture | PaymentIntentStatus::Processing
    ) {
        return Err(Error::in_progress(
            "Stripe is still changing this payment; retry the same request shortly",
        ));
    }
    let status = intent.status.as_str().to_string();
    observe_intent(
        services,
        payment.clone(),
        &intent,
        Source::Sync,
        STRIPE_ACTOR,
    )
    .await?;
    Err(wanted.refused(&status))
}

fn not_cancelable(status: &str) -> Error {
    let mut e = Error::conflict(
        "payment_not_cancelable",
        format!("the payment cannot be canceled in status '{status}'"),
    );
    e.payment_status = Some(status.to_string());
    e
}

/// Filters of `GET /v1/payments`, validated.
#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    pub status: Option<PaymentStatus>,
    pub external_customer_id: Option<String>,
    pub since: Option<chrono::NaiveDateTime>,
    pub until: Option<chrono::NaiveDateTime>,
    /// In `currency`.
    pub min_amount: Option<MinorUnits>,
    pub max_amount: Option<MinorUnits>,
    pub currency: Option<String>,
    pub limit: i64,
    /// The PaymentIntent id of the last payment of the previous page.
    pub starting_after: Option<String>,
}

/// One page of an account's payments, newest first, and whether more follow. Pages are cut on the
/// time-ordered primary key, so payments created meanwhile never shift later pages.
pub async fn list(
    services: &Services,
    external_account_id: String,
    filter: PaymentFilter,
) -> Result<(Vec<PaymentView>, bool), Error> {
    services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            let before_id = match &filter.starting_after {
                Some(cursor) => Some(
                    db::payments::id_by_intent(conn, &account.id, cursor)?.ok_or_else(|| {
                        Error::invalid(
                            "starting_after",
                            "'starting_after' is not a payment of this account",
                        )
                    })?,
                ),
                None => None,
            };
            let mut rows = db::payments::list(
                conn,
                &account.id,
                &db::payments::Filter {
                    status: filter.status,
                    external_customer_id: filter.external_customer_id.as_deref(),
                    since: filter.since,
                    until: filter.until,
                    min_amount: filter.min_amount,
                    max_amount: filter.max_amount,
                    currency: filter.currency.as_deref(),
                    before_id: before_id.as_deref(),
                    limit: filter.limit + 1,
                },
            )?;
            let has_more = rows.len() as i64 > filter.limit;
            rows.truncate(filter.limit as usize);
            let views = rows
                .into_iter()
                .map(|(payment, customer)| PaymentView {
                    payment,
                    external_account_id: account.external_account_id.clone(),
                    customer,
                    client_secret: None,
                    history: Vec::new(),
                    line_items: Vec::new(),
                    dispute: None,
                })
                .collect();
            Ok((views, has_more))
        })
        .await
}
