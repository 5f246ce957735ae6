//! Checkout: saving a card without a reader (a Checkout Session in `setup` mode for a customer)
//! and selling for a caller's reference (a session in `payment` mode).
//!
//! Crash safety (docs/architecture.md, rule 1): the `checkout_sessions` row is written first (`creating`),
//! the session is created at Stripe with the Idempotency-Key `cs:{row id}` and parameters built
//! from the row alone, then the row is completed (`open`). A row left in `creating` can be
//! replayed into the same session.
//!
//! Completion happens once, by whichever comes first: the caller's GET or Stripe's
//! `checkout.session.completed` webhook ([`complete_setup_session`], [`complete_payment_session`]).
//! A setup session saves its SetupIntent's card (same de-duplication as the card-present flow); a
//! payment session records its PaymentIntent as a payment. Later calls find the result recorded
//! and change nothing.
//!
//! Only one session per reference can be paid: a new one first expires every earlier open (or
//! `creating`) session for the same account and reference, and a reference already paid is 409.

use super::cards::{self, CardView};
use super::payments::{self, PaymentView};
use super::webhooks::Scope;
use super::{accounts, customers, Services};
use crate::db::models::{new_id, now, Account, Card, CheckoutSessionRow, Customer, Payment};
use crate::db::schema::{accounts as accounts_table, cards as cards_table, checkout_sessions};
use crate::db::{write_transaction, DbConnection};
use crate::error::ApiError;
use crate::money::{Currency, DecimalText, Money, MAX_AMOUNT_MINOR};
use crate::secret::Secret;
use crate::stripe::checkout::CheckoutPaymentIntentData;
use crate::stripe::{
    CheckoutLineItem, CheckoutMode, CheckoutSession, CreateCheckoutSession, Expandable, Metadata,
    PaymentMethod, StripeAccount, StripeError, UiMode,
};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const SETUP: &str = "setup";
pub const PAYMENT: &str = "payment";

/// Our status while the session is being created; afterwards, Stripe's (`open`, `complete`,
/// `expired`).
pub const CREATING: &str = "creating";
pub const OPEN: &str = "open";
pub const COMPLETE: &str = "complete";
pub const EXPIRED: &str = "expired";

/// What Stripe fills in with the session id when it redirects.
pub const SESSION_PLACEHOLDER: &str = "{CHECKOUT_SESSION_ID}";

/// Stripe's limit on a payment-mode session's line items.
pub const MAX_ITEMS: usize = 100;

/// Quantities a line item may have.
pub const QUANTITY: std::ops::RangeInclusive<i64> = 1..=999;

/// A validated `POST /v1/customer/card/checkout`.
#[derive(Debug, Clone)]
pub struct NewSetupSession {
    pub external_account_id: String,
    pub external_customer_id: String,
    pub success_url: String,
    pub cancel_url: String,
    /// With a currency, Stripe picks the payment methods (dynamic payment methods); without,
    /// cards only.
    pub currency: Option<Currency>,
}

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

/// A line item as sent to Stripe, and as kept on the row (JSON) to replay the creation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PricedItem {
    pub name: String,
    /// Minor units.
    pub unit_amount: i64,
    pub quantity: i64,
}

/// A session with what the API shows next to it.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: CheckoutSessionRow,
    pub external_account_id: String,
    pub customer: Option<Customer>,
    /// The hosted page, while the session is open (from Stripe's answer; never stored).
    pub url: Option<String>,
    /// For embedded sessions, while open (from Stripe's answer; never stored).
    pub client_secret: Option<Secret<String>>,
    pub payment_intent_id: Option<String>,
    /// The payment recorded once a payment session completed.
    pub payment: Option<PaymentView>,
}

/// Prices the items (quantities already checked against [`QUANTITY`]) in `currency`: each unit
/// amount exact and positive, the total within Stripe's minimum charge and maximum amount. Errors
/// name the item's field (`items[0].amount`).
pub fn price_items(
    items: &[NewItem],
    currency: Currency,
) -> Result<(Vec<PricedItem>, i64), ApiError> {
    let mut priced = Vec::with_capacity(items.len());
    let mut total: i64 = 0;
    for (i, item) in items.iter().enumerate() {
        let param = format!("items[{i}].amount");
        let unit = Money::parse(&item.amount.0, currency)
            .map_err(|e| ApiError::invalid(&param, format!("'{param}' {e}")))?;
        total = unit
            .minor
            .checked_mul(item.quantity)
            .and_then(|line| total.checked_add(line))
            .filter(|t| *t <= MAX_AMOUNT_MINOR)
            .ok_or_else(|| {
                ApiError::invalid(
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
    if total < currency.minimum_charge() {
        return Err(ApiError::invalid(
            "items",
            format!(
                "the total of 'items' is under the minimum charge for the currency ({})",
                Money::from_minor(currency.minimum_charge(), currency).to_decimal_string()
            ),
        ));
    }
    Ok((priced, total))
}

/// `url` with `session_id={CHECKOUT_SESSION_ID}` appended to its query, unless it already
/// carries the placeholder.
pub fn with_session_placeholder(url: &str) -> String {
    if url.contains(SESSION_PLACEHOLDER) {
        return url.to_string();
    }
    let (base, fragment) = url.split_at(url.find('#').unwrap_or(url.len()));
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    format!("{base}{separator}session_id={SESSION_PLACEHOLDER}{fragment}")
}

/// Creates a setup-mode session for the customer (found or created at Stripe).
pub async fn create_setup_session(
    services: &Services,
    input: NewSetupSession,
) -> Result<SessionView, ApiError> {
    let account = accounts::get(&services.db, input.external_account_id.clone()).await?;
    let stripe_account = services.stripe_account(&account)?;
    let customer = customers::find_or_create(
        services,
        &stripe_account,
        &account,
        &input.external_customer_id,
    )
    .await?;
    let at = now();
    let row = CheckoutSessionRow {
        id: new_id(),
        account_id: account.id.clone(),
        customer_id: Some(customer.id.clone()),
        stripe_checkout_session_id: None,
        mode: SETUP.into(),
        ui_mode: UiMode::Hosted.as_str().into(),
        status: CREATING.into(),
        reference: None,
        currency: input.currency.map(|c| c.code().to_string()),
        amount: None,
        line_items: None,
        success_url: Some(with_session_placeholder(&input.success_url)),
        cancel_url: Some(input.cancel_url),
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
            diesel::insert_into(checkout_sessions::table)
                .values(&inserted)
                .execute(conn)
                .map_err(ApiError::from)
        })
        .await?;
    let session =
        create_at_stripe(services, &stripe_account, &account, &row, Some(&customer)).await?;
    let row = record_created(services, &row, &session).await?;
    Ok(view(&account, Some(customer), row, Some(&session), None))
}

/// `GET /v1/customer/card/checkout/{session_id}`: the card the session saved, saving it first if
/// the session completed since. One Stripe call (the session with its SetupIntent and
/// PaymentMethod expanded) until the card is saved, none after. 409 `checkout_not_complete`
/// while the session is open, `checkout_expired` once it expired.
pub async fn setup_card(
    services: &Services,
    external_account_id: String,
    session_id: String,
) -> Result<CardView, ApiError> {
    let (account, row) = load(services, external_account_id, session_id, SETUP).await?;
    match finish_setup(services, &account, row).await? {
        SetupOutcome::Saved(card) => Ok(*card),
        SetupOutcome::Open => Err(ApiError::conflict(
            "checkout_not_complete",
            "the customer has not completed the Checkout Session yet",
        )),
        SetupOutcome::Expired => Err(ApiError::conflict(
            "checkout_expired",
            "the Checkout Session expired without saving a card; create a new one",
        )),
    }
}

/// For the `checkout.session.completed` webhook: saves the card of a completed setup session of
/// ours. `None` for a session that is not ours, not in setup mode, or not complete. Idempotent
/// with [`setup_card`]: whichever runs second finds the card recorded and returns it.
pub async fn complete_setup_session(
    services: &Services,
    stripe_session_id: &str,
    scope: &Scope,
) -> Result<Option<CardView>, ApiError> {
    let Some((account, row)) = find_by_stripe_id(services, stripe_session_id, scope).await? else {
        return Ok(None);
    };
    if row.mode != SETUP {
        return Ok(None);
    }
    Ok(match finish_setup(services, &account, row).await? {
        SetupOutcome::Saved(card) => Some(*card),
        SetupOutcome::Open | SetupOutcome::Expired => None,
    })
}

/// The SetupIntent metadata key naming the setup session's row (ours, known before Stripe's id).
pub const CHECKOUT_ID_METADATA: &str = "checkout_id";

/// For the `setup_intent.succeeded` webhook: saves the card of a SetupIntent that one of our setup
/// sessions created (its metadata names the session), even if `checkout.session.completed` never
/// comes. One Stripe call (the PaymentMethod). Idempotent with [`setup_card`] and
/// [`complete_setup_session`]. `None` for a SetupIntent that is not one of ours in `scope`.
pub async fn complete_setup_intent(
    services: &Services,
    intent: &serde_json::Value,
    scope: &Scope,
) -> Result<Option<CardView>, ApiError> {
    let method_id = match &intent["payment_method"] {
        serde_json::Value::String(id) => id.clone(),
        serde_json::Value::Object(pm) => match pm.get("id").and_then(|v| v.as_str()) {
            Some(id) => id.to_string(),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let (Some(row_id), Some("succeeded")) = (
        intent["metadata"][CHECKOUT_ID_METADATA].as_str(),
        intent["status"].as_str(),
    ) else {
        return Ok(None);
    };
    let row_id = row_id.to_string();
    let found = services
        .db
        .run(move |conn| {
            checkout_sessions::table
                .inner_join(accounts_table::table)
                .filter(checkout_sessions::id.eq(&row_id))
                .filter(checkout_sessions::mode.eq(SETUP))
                .select((CheckoutSessionRow::as_select(), Account::as_select()))
                .first(conn)
                .optional()
                .map_err(ApiError::from)
        })
        .await?;
    let Some((row, account)) = found.filter(|(_, a)| scope.allows(&a.id)) else {
        return Ok(None);
    };
    if let Some(card_id) = row.card_id.clone() {
        return card_view(services, &account, card_id).await.map(Some);
    }
    let stripe_account = services.stripe_account(&account)?;
    let method = services
        .stripe
        .retrieve_payment_method(&stripe_account, &method_id, &[])
        .await?;
    save_setup_card(services, &stripe_account, &account, row, method)
        .await
        .map(Some)
}

enum SetupOutcome {
    Saved(Box<CardView>),
    Open,
    Expired,
}

async fn finish_setup(
    services: &Services,
    account: &Account,
    row: CheckoutSessionRow,
) -> Result<SetupOutcome, ApiError> {
    if let Some(card_id) = row.card_id.clone() {
        return card_view(services, account, card_id)
            .await
            .map(|card| SetupOutcome::Saved(Box::new(card)));
    }
    if row.status == EXPIRED {
        return Ok(SetupOutcome::Expired);
    }
    let stripe_account = services.stripe_account(account)?;
    let session_id = row.stripe_checkout_session_id.clone().unwrap_or_default();
    let session = services
        .stripe
        .retrieve_checkout_session(
            &stripe_account,
            &session_id,
            &["setup_intent.payment_method"],
        )
        .await
        .map_err(|e| ApiError::from_stripe_input(e, None, "session_id"))?;
    match session_status(&session) {
        COMPLETE => {}
        EXPIRED => {
            set_status(services, &row.id, EXPIRED).await?;
            return Ok(SetupOutcome::Expired);
        }
        _ => return Ok(SetupOutcome::Open),
    }
    let method = session
        .setup_intent
        .and_then(Expandable::into_object)
        .and_then(|si| si.payment_method)
        .and_then(Expandable::into_object)
        .ok_or_else(|| not_saveable("its SetupIntent has no payment method"))?;
    save_setup_card(services, &stripe_account, account, row, method)
        .await
        .map(|card| SetupOutcome::Saved(Box::new(card)))
}

fn not_saveable(why: &str) -> ApiError {
    ApiError::conflict(
        "card_not_saveable",
        format!("the Checkout Session completed without a reusable card: {why}"),
    )
}

/// Saves a setup session's card on the session's customer (attaching it first if Checkout left it
/// unattached) and records it on the session, once: a concurrent completion gets the same card.
async fn save_setup_card(
    services: &Services,
    stripe_account: &StripeAccount,
    account: &Account,
    row: CheckoutSessionRow,
    method: PaymentMethod,
) -> Result<CardView, ApiError> {
    let context = super::stripe_keys::context(account, stripe_account);
    let customer_id = row.customer_id.clone().unwrap_or_default();
    let customer = services
        .db
        .run(move |c| customers::by_id(c, &customer_id))
        .await?;
    let details = method
        .card
        .as_ref()
        .ok_or_else(|| not_saveable("the payment method is not a card"))?;
    match method.customer.as_ref().map(Expandable::id) {
        Some(id) if id == customer.stripe_customer_id => {}
        Some(_) => {
            return Err(ApiError::conflict(
                "customer_mismatch",
                "the card is attached to another Stripe customer than the session's",
            ))
        }
        None => {
            let key = format!("attach:{}:{}", method.id, customer.stripe_customer_id);
            services
                .stripe
                .attach_payment_method(
                    stripe_account,
                    &method.id,
                    &customer.stripe_customer_id,
                    &key,
                )
                .await?;
        }
    }
    let at = now();
    let row_id = row.id.clone();
    // The session records its card in the transaction that saves the card; a concurrent
    // completion of the same session finds the same card (de-duplicated) and records nothing new.
    let card = cards::store_card_then(
        services,
        Card {
            id: new_id(),
            account_id: account.id.clone(),
            customer_id: customer.id.clone(),
            stripe_payment_method_id: method.id.clone(),
            fingerprint: details.fingerprint.clone().unwrap_or_default(),
            brand: details.brand.clone(),
            last4: details.last4.clone(),
            exp_month: details.exp_month.into(),
            exp_year: details.exp_year.into(),
            source_payment_id: None,
            deleted: false,
            created_at: at,
            updated_at: at,
            stripe_context: Some(context.clone()),
        },
        move |conn, card| {
            diesel::update(
                checkout_sessions::table
                    .find(&row_id)
                    .filter(checkout_sessions::card_id.is_null()),
            )
            .set((
                checkout_sessions::status.eq(COMPLETE),
                checkout_sessions::card_id.eq(&card.id),
                checkout_sessions::updated_at.eq(now()),
            ))
            .execute(conn)?;
            Ok(())
        },
    )
    .await?;
    Ok(CardView::new(card, customer, &context))
}

async fn card_view(
    services: &Services,
    account: &Account,
    card_id: String,
) -> Result<CardView, ApiError> {
    let context = services.stripe_context(account)?;
    services
        .db
        .run(move |conn| {
            let card = cards_table::table
                .find(&card_id)
                .select(Card::as_select())
                .first(conn)?;
            let customer = customers::by_id(conn, &card.customer_id)?;
            Ok(CardView::new(card, customer, &context))
        })
        .await
}

/// Creates a payment-mode session for the reference, after expiring every earlier open session
/// for it. 409 `reference_already_paid` once a session for the reference was paid.
pub async fn create_checkout(
    services: &Services,
    actor: &str,
    input: NewCheckout,
) -> Result<SessionView, ApiError> {
    let account = accounts::get(&services.db, input.external_account_id.clone()).await?;
    let currency = match input.currency {
        Some(c) => c,
        None => Currency::parse(&account.default_currency).map_err(ApiError::internal)?,
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
        currency: Some(currency.code().to_string()),
        amount: Some(total),
        line_items: Some(serde_json::to_string(&items).map_err(ApiError::internal)?),
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
                let paid: i64 = checkout_sessions::table
                    .filter(checkout_sessions::account_id.eq(&inserted.account_id))
                    .filter(checkout_sessions::mode.eq(PAYMENT))
                    .filter(checkout_sessions::reference.eq(&inserted.reference))
                    .filter(checkout_sessions::status.eq(COMPLETE))
                    .count()
                    .get_result(conn)?;
                if paid > 0 {
                    return Err(already_paid());
                }
                diesel::insert_into(checkout_sessions::table)
                    .values(&inserted)
                    .execute(conn)?;
                Ok(())
            })
        })
        .await?;
    expire_earlier(services, &stripe_account, &account, &row, actor).await?;
    // An earlier session may have been recorded paid meanwhile (by Stripe's webhook): then this
    // one is never created.
    let (account_id, reference, id) = (
        row.account_id.clone(),
        row.reference.clone(),
        row.id.clone(),
    );
    services
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let paid: i64 = checkout_sessions::table
                    .filter(checkout_sessions::account_id.eq(&account_id))
                    .filter(checkout_sessions::mode.eq(PAYMENT))
                    .filter(checkout_sessions::reference.eq(&reference))
                    .filter(checkout_sessions::status.eq(COMPLETE))
                    .count()
                    .get_result(conn)?;
                if paid == 0 {
                    return Ok(());
                }
                diesel::update(checkout_sessions::table.find(&id))
                    .set((
                        checkout_sessions::status.eq(EXPIRED),
                        checkout_sessions::updated_at.eq(now()),
                    ))
                    .execute(conn)?;
                Err(already_paid())
            })
        })
        .await?;
    let session =
        create_at_stripe(services, &stripe_account, &account, &row, customer.as_ref()).await?;
    let row = record_created(services, &row, &session).await?;
    Ok(view(&account, customer, row, Some(&session), None))
}

fn already_paid() -> ApiError {
    ApiError::conflict(
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
) -> Result<(), ApiError> {
    let (account_id, reference, id) = (
        row.account_id.clone(),
        row.reference.clone(),
        row.id.clone(),
    );
    let earlier: Vec<CheckoutSessionRow> = services
        .db
        .run(move |conn| {
            checkout_sessions::table
                .filter(checkout_sessions::account_id.eq(&account_id))
                .filter(checkout_sessions::mode.eq(PAYMENT))
                .filter(checkout_sessions::reference.eq(&reference))
                .filter(checkout_sessions::id.lt(&id))
                .filter(checkout_sessions::status.eq_any([CREATING, OPEN]))
                .order(checkout_sessions::id.asc())
                .select(CheckoutSessionRow::as_select())
                .load(conn)
                .map_err(ApiError::from)
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
) -> Result<SessionView, ApiError> {
    let (account, row) = load(services, external_account_id, session_id, PAYMENT).await?;
    sync_payment_session(services, &account, row, actor).await
}

/// For the `checkout.session.completed` webhook: records the payment of a completed payment
/// session of ours. `None` for a session that is not ours, not in payment mode, or not complete.
/// Idempotent with [`get_checkout`]: whichever runs second finds the payment recorded.
pub async fn complete_payment_session(
    services: &Services,
    stripe_session_id: &str,
    scope: &Scope,
) -> Result<Option<PaymentView>, ApiError> {
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
) -> Result<SessionView, ApiError> {
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
        .map_err(|e| ApiError::from_stripe_input(e, None, "session_id"))?;
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
) -> Result<PaymentView, ApiError> {
    let intent = session
        .payment_intent
        .as_ref()
        .and_then(Expandable::as_object)
        .ok_or_else(|| {
            ApiError::internal(format!(
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
        amount: intent.amount,
        currency: intent.currency.clone(),
        capture_method: intent.capture_method.as_str().to_string(),
        payment_method_types: if intent.payment_method_types.is_empty() {
            "card".to_string()
        } else {
            intent.payment_method_types.join(",")
        },
        description: None,
        metadata: Some(serde_json::to_string(&metadata).map_err(ApiError::internal)?),
        // Inserted as `creating`, then moved to the intent's state by the state machine (in the
        // same transaction), which records and announces it.
        status: crate::payment_state::PaymentStatus::Creating,
        amount_capturable: 0,
        amount_captured: 0,
        amount_refunded: 0,
        stripe_charge_id: None,
        stripe_payment_method_id: None,
        failure_code: None,
        decline_code: None,
        created_at: at,
        updated_at: at,
        // Recorded from Stripe's intent, never created by us.
        stripe_idempotency_key: None,
    };
    let state = super::payment_updates::observe(intent).ok_or_else(|| {
        ApiError::internal(format!(
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
                    return payments::by_id(conn, &existing);
                }
                diesel::insert_into(crate::db::schema::payments::table)
                    .values(&payment)
                    .execute(conn)?;
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
                diesel::update(checkout_sessions::table.find(&row_id))
                    .set((
                        checkout_sessions::status.eq(COMPLETE),
                        checkout_sessions::payment_id.eq(&payment.id),
                        checkout_sessions::updated_at.eq(now()),
                    ))
                    .execute(conn)?;
                Ok::<_, ApiError>(payment.clone())
            });
            match inserted {
                // A concurrent completion (GET or webhook) recorded the same PaymentIntent first.
                Err(e) if e.code == crate::error::UNIQUE_VIOLATION => {
                    let existing = by_id(conn, &row_id)?.payment_id.ok_or(e)?;
                    payments::by_id(conn, &existing)
                }
                other => other,
            }
        })
        .await?;
    payments::view(services, account.clone(), recorded).await
}

/// The session request for a row, built only from the row (and its account and customer), so a
/// replay sends exactly the same parameters under the same Idempotency-Key.
async fn create_at_stripe(
    services: &Services,
    stripe_account: &StripeAccount,
    account: &Account,
    row: &CheckoutSessionRow,
    customer: Option<&Customer>,
) -> Result<CheckoutSession, StripeError> {
    let mut metadata = Metadata::new();
    metadata.insert(
        "external_account_id".into(),
        account.external_account_id.clone(),
    );
    if let Some(c) = customer {
        metadata.insert(
            "external_customer_id".into(),
            c.external_customer_id.clone(),
        );
    }
    if let Some(reference) = &row.reference {
        metadata.insert("reference".into(), reference.clone());
    }
    let priced: Vec<PricedItem> = row
        .line_items
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| StripeError::InvalidArgument(format!("stored line items: {e}")))?
        .unwrap_or_default();
    let currency = row.currency.as_deref().unwrap_or_default();
    let line_items: Vec<CheckoutLineItem> = priced
        .iter()
        .map(|item| CheckoutLineItem {
            name: &item.name,
            description: None,
            unit_amount: item.unit_amount,
            currency,
            quantity: item.quantity.unsigned_abs(),
        })
        .collect();
    let mut intent_metadata = metadata.clone();
    intent_metadata.insert(CHECKOUT_ID_METADATA.into(), row.id.clone());
    let embedded = row.ui_mode == UiMode::Embedded.as_str();
    let setup = row.mode == SETUP;
    let redirect = row.success_url.as_deref();
    let types: &[&str] = if setup && row.currency.is_some() {
        &[]
    } else {
        &["card"]
    };
    let params = CreateCheckoutSession {
        success_url: redirect.filter(|_| !embedded),
        cancel_url: row.cancel_url.as_deref(),
        return_url: redirect.filter(|_| embedded),
        // Hosted is Stripe's default: sent only for embedded sessions.
        ui_mode: embedded.then_some(UiMode::Embedded),
        customer: customer.map(|c| c.stripe_customer_id.as_str()),
        // Setup mode: cards, or Stripe's dynamic payment methods for a currency.
        currency: row.currency.as_deref().filter(|_| setup),
        payment_method_types: types,
        line_items: &line_items,
        client_reference_id: row.reference.as_deref(),
        metadata: Some(&metadata),
        payment_intent_data: (!setup).then(|| CheckoutPaymentIntentData {
            metadata: Some(&metadata),
            ..Default::default()
        }),
        setup_intent_metadata: setup.then_some(&intent_metadata),
        ..CreateCheckoutSession::new(if setup {
            CheckoutMode::Setup
        } else {
            CheckoutMode::Payment
        })
    };
    services
        .stripe
        .create_checkout_session(stripe_account, &params, &format!("cs:{}", row.id))
        .await
}

/// Records the created session on its row, unless the row moved on meanwhile (a newer session
/// for the same reference replayed and expired it): the row as it now is.
async fn record_created(
    services: &Services,
    row: &CheckoutSessionRow,
    session: &CheckoutSession,
) -> Result<CheckoutSessionRow, ApiError> {
    let (id, stripe_id, status) = (
        row.id.clone(),
        session.id.clone(),
        session_status(session).to_string(),
    );
    let expires_at = chrono::DateTime::from_timestamp(session.expires_at, 0).map(|t| t.naive_utc());
    services
        .db
        .run(move |conn| {
            diesel::update(
                checkout_sessions::table
                    .find(&id)
                    .filter(checkout_sessions::status.eq(CREATING)),
            )
            .set((
                checkout_sessions::stripe_checkout_session_id.eq(&stripe_id),
                checkout_sessions::status.eq(&status),
                checkout_sessions::expires_at.eq(expires_at),
                checkout_sessions::updated_at.eq(now()),
            ))
            .execute(conn)?;
            by_id(conn, &id)
        })
        .await
}

/// Moves an unfinished row to `status` (never out of `complete` or `expired`).
async fn set_status(
    services: &Services,
    id: &str,
    status: &'static str,
) -> Result<CheckoutSessionRow, ApiError> {
    let id = id.to_string();
    services
        .db
        .run(move |conn| {
            diesel::update(
                checkout_sessions::table
                    .find(&id)
                    .filter(checkout_sessions::status.eq_any([CREATING, OPEN])),
            )
            .set((
                checkout_sessions::status.eq(status),
                checkout_sessions::updated_at.eq(now()),
            ))
            .execute(conn)?;
            by_id(conn, &id)
        })
        .await
}

fn session_status(session: &CheckoutSession) -> &str {
    session.status.as_ref().map_or(OPEN, |s| s.as_str())
}

fn view(
    account: &Account,
    customer: Option<Customer>,
    row: CheckoutSessionRow,
    stripe: Option<&CheckoutSession>,
    payment: Option<PaymentView>,
) -> SessionView {
    let open = stripe.filter(|_| row.status == OPEN);
    let payment_intent_id = payment
        .as_ref()
        .and_then(|p| p.payment.stripe_payment_intent_id.clone())
        .or_else(|| {
            stripe
                .and_then(|s| s.payment_intent.as_ref())
                .map(|pi| pi.id().to_string())
        });
    SessionView {
        url: open.and_then(|s| s.url.clone()),
        client_secret: open.and_then(|s| s.client_secret.clone()),
        session: row,
        external_account_id: account.external_account_id.clone(),
        customer,
        payment_intent_id,
        payment,
    }
}

async fn load_customer(
    services: &Services,
    row: &CheckoutSessionRow,
) -> Result<Option<Customer>, ApiError> {
    match row.customer_id.clone() {
        Some(id) => services
            .db
            .run(move |c| customers::by_id(c, &id))
            .await
            .map(Some),
        None => Ok(None),
    }
}

/// The account (404 if unknown) and its session of this mode with this Stripe id (404 if
/// unknown, another account's, or of the other mode).
async fn load(
    services: &Services,
    external_account_id: String,
    session_id: String,
    mode: &'static str,
) -> Result<(Account, CheckoutSessionRow), ApiError> {
    services
        .db
        .run(move |conn| {
            let account = accounts::require(conn, &external_account_id)?;
            let row = checkout_sessions::table
                .filter(checkout_sessions::account_id.eq(&account.id))
                .filter(checkout_sessions::stripe_checkout_session_id.eq(&session_id))
                .filter(checkout_sessions::mode.eq(mode))
                .select(CheckoutSessionRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| {
                    ApiError::not_found(format!("no such checkout session: '{session_id}'"))
                        .with_param("session_id")
                })?;
            Ok((account, row))
        })
        .await
}

/// Our session with this Stripe id, with its account, if we created it for an account in `scope`.
async fn find_by_stripe_id(
    services: &Services,
    stripe_session_id: &str,
    scope: &Scope,
) -> Result<Option<(Account, CheckoutSessionRow)>, ApiError> {
    let scope = scope.clone();
    let stripe_session_id = stripe_session_id.to_string();
    services
        .db
        .run(move |conn| {
            checkout_sessions::table
                .inner_join(accounts_table::table)
                .filter(checkout_sessions::stripe_checkout_session_id.eq(&stripe_session_id))
                .select((CheckoutSessionRow::as_select(), Account::as_select()))
                .first(conn)
                .optional()
                .map(|found| {
                    found
                        .filter(|(_, account)| scope.allows(&account.id))
                        .map(|(row, account)| (account, row))
                })
                .map_err(ApiError::from)
        })
        .await
}

fn by_id(conn: &mut DbConnection, id: &str) -> Result<CheckoutSessionRow, ApiError> {
    checkout_sessions::table
        .find(id)
        .select(CheckoutSessionRow::as_select())
        .first(conn)
        .map_err(ApiError::from)
}
