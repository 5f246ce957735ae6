//! What the two Checkout features share — saving a card through a setup-mode session
//! (`flows::card_checkout`) and paying for a reference through a payment-mode session
//! (`flows::reference_checkout`): the session's row and how it is created at Stripe, read back and
//! shown.
//!
//! Crash safety (docs/architecture.md, rule 1): the `checkout_sessions` row is written first
//! (`creating`), the session is created at Stripe with the Idempotency-Key `cs:{row id}` and
//! parameters built from the row alone ([`create_at_stripe`]), then the row is completed (`open`,
//! [`record_created`]). A row left in `creating` can be replayed into the same session.
//!
//! Completion happens once, by whichever comes first: the caller's GET or Stripe's
//! `checkout.session.completed` webhook. Later calls find the result recorded and change nothing.

use super::payments::PaymentView;
use super::webhooks::Scope;
use super::{accounts, customers, Services};
use crate::db::models::{Account, CheckoutSessionRow, Customer};
use crate::db::{self, DbConnection};
use crate::error::Error;
use crate::money::MinorUnits;
use serde::{Deserialize, Serialize};
use stripe_client::checkout::CheckoutPaymentIntentData;
use stripe_client::secret::Secret;
use stripe_client::{
    CheckoutLineItem, CheckoutMode, CheckoutSession, CreateCheckoutSession, Metadata,
    StripeAccount, StripeError, UiMode,
};

pub use crate::db::checkout_sessions::{COMPLETE, CREATING, EXPIRED, OPEN, PAYMENT, SETUP};

/// What Stripe fills in with the session id when it redirects.
pub const SESSION_PLACEHOLDER: &str = "{CHECKOUT_SESSION_ID}";

/// The SetupIntent metadata key naming the setup session's row (ours, known before Stripe's id).
pub const CHECKOUT_ID_METADATA: &str = "checkout_id";

/// A line item as sent to Stripe, and as kept on the row (JSON) to replay the creation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PricedItem {
    pub name: String,
    /// Stored as its integer minor units.
    pub unit_amount: MinorUnits,
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

/// The session request for a row, built only from the row (and its account and customer), so a
/// replay sends exactly the same parameters under the same Idempotency-Key.
pub(crate) async fn create_at_stripe(
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
    let currency = row.currency.map_or("", |c| c.code());
    let line_items: Vec<CheckoutLineItem> = priced
        .iter()
        .map(|item| CheckoutLineItem {
            name: &item.name,
            description: None,
            unit_amount: item.unit_amount.get(),
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
        currency: row.currency.map(|c| c.code()).filter(|_| setup),
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
pub(crate) async fn record_created(
    services: &Services,
    row: &CheckoutSessionRow,
    session: &CheckoutSession,
) -> Result<CheckoutSessionRow, Error> {
    let (id, stripe_id, status) = (
        row.id.clone(),
        session.id.clone(),
        session_status(session).to_string(),
    );
    let expires_at = chrono::DateTime::from_timestamp(session.expires_at, 0).map(|t| t.naive_utc());
    services
        .db
        .run(move |conn| {
            db::checkout_sessions::record_created(conn, &id, &stripe_id, &status, expires_at)?;
            by_id(conn, &id)
        })
        .await
}

/// Moves an unfinished row to `status` (never out of `complete` or `expired`).
pub(crate) async fn set_status(
    services: &Services,
    id: &str,
    status: &'static str,
) -> Result<CheckoutSessionRow, Error> {
    let id = id.to_string();
    services
        .db
        .run(move |conn| {
            db::checkout_sessions::finish(conn, &id, status)?;
            by_id(conn, &id)
        })
        .await
}

pub(crate) fn session_status(session: &CheckoutSession) -> &str {
    session.status.as_ref().map_or(OPEN, |s| s.as_str())
}

pub(crate) fn view(
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

pub(crate) async fn load_customer(
    services: &Services,
    row: &CheckoutSessionRow,
) -> Result<Option<Customer>, Error> {
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
pub(crate) async fn load(
    services: &Services,
    external_account_id: String,
    session_id: String,
    mode: &'static str,
) -> Result<(Account, CheckoutSessionRow), Error> {
    services
        .db
        .run(move |conn| {
            let account = accounts::require(conn, &external_account_id)?;
            let row = db::checkout_sessions::find_of_account(conn, &account.id, &session_id, mode)?
                .ok_or_else(|| {
                    Error::not_found(format!("no such checkout session: '{session_id}'"))
                        .with_param("session_id")
                })?;
            Ok((account, row))
        })
        .await
}

/// Our session with this Stripe id, with its account, if we created it for an account in `scope`.
pub(crate) async fn find_by_stripe_id(
    services: &Services,
    stripe_session_id: &str,
    scope: &Scope,
) -> Result<Option<(Account, CheckoutSessionRow)>, Error> {
    let scope = scope.clone();
    let stripe_session_id = stripe_session_id.to_string();
    services
        .db
        .run(move |conn| {
            db::checkout_sessions::find_by_stripe_id(conn, &stripe_session_id)
                .map(|found| {
                    found
                        .filter(|(_, account)| scope.allows(&account.id))
                        .map(|(row, account)| (account, row))
                })
                .map_err(Error::from)
        })
        .await
}

pub(crate) fn by_id(conn: &mut DbConnection, id: &str) -> Result<CheckoutSessionRow, Error> {
    Ok(db::checkout_sessions::by_id(conn, id)?)
}
