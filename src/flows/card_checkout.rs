//! Saving a card without a reader: a Checkout Session in `setup` mode for a customer (found or
//! created at Stripe). The session's SetupIntent's card is saved on the customer — with the same
//! de-duplication as a card saved from a card-present payment (`flows::cards`) — and recorded on
//! the session, once, by whichever comes first: the caller's GET ([`setup_card`]), Stripe's
//! `checkout.session.completed` ([`complete_session`]) or `setup_intent.succeeded`
//! ([`complete_setup_intent`]).

use super::cards::{self, CardView};
use super::checkout::{
    create_at_stripe, find_by_stripe_id, load, record_created, session_status, set_status, view,
    with_session_placeholder, SessionView, CHECKOUT_ID_METADATA, COMPLETE, CREATING, EXPIRED,
    SETUP,
};
use super::webhooks::Scope;
use super::{accounts, customers, Services};
use crate::db;
use crate::db::models::{new_id, now, Account, Card, CheckoutSessionRow};
use crate::error::Error;
use crate::money::Currency;
use stripe_client::{Expandable, PaymentMethod, StripeAccount, UiMode};

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

/// Creates a setup-mode session for the customer (found or created at Stripe).
pub async fn create_setup_session(
    services: &Services,
    input: NewSetupSession,
) -> Result<SessionView, Error> {
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
        currency: input.currency,
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
        .run(move |conn| db::checkout_sessions::insert(conn, &inserted).map_err(Error::from))
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
) -> Result<CardView, Error> {
    let (account, row) = load(services, external_account_id, session_id, SETUP).await?;
    match finish_setup(services, &account, row).await? {
        SetupOutcome::Saved(card) => Ok(*card),
        SetupOutcome::Open => Err(Error::conflict(
            "checkout_not_complete",
            "the customer has not completed the Checkout Session yet",
        )),
        SetupOutcome::Expired => Err(Error::conflict(
            "checkout_expired",
            "the Checkout Session expired without saving a card; create a new one",
        )),
    }
}

/// For the `checkout.session.completed` webhook: saves the card of a completed setup session of
/// ours. `None` for a session that is not ours, not in setup mode, or not complete. Idempotent
/// with [`setup_card`]: whichever runs second finds the card recorded and returns it.
pub async fn complete_session(
    services: &Services,
    stripe_session_id: &str,
    scope: &Scope,
) -> Result<Option<CardView>, Error> {
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

/// For the `setup_intent.succeeded` webhook: saves the card of a SetupIntent that one of our setup
/// sessions created (its metadata names the session), even if `checkout.session.completed` never
/// comes. One Stripe call (the PaymentMethod). Idempotent with [`setup_card`] and
/// [`complete_setup_session`]. `None` for a SetupIntent that is not one of ours in `scope`.
pub async fn complete_setup_intent(
    services: &Services,
    intent: &serde_json::Value,
    scope: &Scope,
) -> Result<Option<CardView>, Error> {
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
            db::checkout_sessions::find_with_account(conn, &row_id, SETUP).map_err(Error::from)
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
) -> Result<SetupOutcome, Error> {
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
        .map_err(|e| Error::from_stripe_input(e, None, "session_id"))?;
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

fn not_saveable(why: &str) -> Error {
    Error::conflict(
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
) -> Result<CardView, Error> {
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
            return Err(Error::conflict(
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
        move |conn, card| Ok(db::checkout_sessions::record_card(conn, &row_id, &card.id)?),
    )
    .await?;
    Ok(CardView::new(card, customer, &context))
}

async fn card_view(
    services: &Services,
    account: &Account,
    card_id: String,
) -> Result<CardView, Error> {
    let context = services.stripe_context(account)?;
    services
        .db
        .run(move |conn| {
            let card = db::cards::by_id(conn, &card_id)?;
            let customer = customers::by_id(conn, &card.customer_id)?;
            Ok(CardView::new(card, customer, &context))
        })
        .await
}
