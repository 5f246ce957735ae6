//! Stripe Terminal for a merchant: connection tokens, locations and readers (recorded per account,
//! since accounts without their own Stripe account share the platform's), and the server-driven
//! flow for smart readers (a payment, the cart on the screen, cancelling either).

use super::payments;
use super::Services;
use crate::db;
use crate::db::models::{new_id, now, Account, TerminalLocation, TerminalReader};
use crate::error::Error;
use crate::money::{Currency, DecimalText, MinorUnits, Money};
use crate::payment_state::PaymentStatus;
use stripe_client::secret::Secret;
use stripe_client::terminal::{AddressParams, CartLineItem, SetReaderDisplay};
use stripe_client::{
    AllowRedisplay, CreateLocation, CreateReader, Metadata, ProcessConfig, ProcessPaymentIntent,
    Reader,
};

/// A fresh connection token (never cached: the SDK redeems each one once).
pub async fn connection_token(
    services: &Services,
    external_account_id: String,
    location: Option<String>,
) -> Result<Secret<String>, Error> {
    let account = super::accounts::get(&services.db, external_account_id).await?;
    if let Some(location) = &location {
        owned_location(services, &account, location).await?;
    }
    let token = services
        .stripe
        .create_connection_token(
            &services.stripe_account(&account)?,
            location.as_deref(),
            &format!("cst:{}", uuid::Uuid::new_v4()),
        )
        .await
        .map_err(|e| Error::from_stripe_input(e, Some("location"), "location"))?;
    Ok(token.secret)
}

/// A new location for the account's readers.
pub struct NewLocation {
    pub display_name: String,
    pub line1: String,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: String,
}

pub async fn create_location(
    services: &Services,
    external_account_id: String,
    new: NewLocation,
) -> Result<TerminalLocation, Error> {
    let account = super::accounts::get(&services.db, external_account_id).await?;
    let mut metadata = Metadata::new();
    metadata.insert(
        "external_account_id".into(),
        account.external_account_id.clone(),
    );
    let location = services
        .stripe
        .create_location(
            &services.stripe_account(&account)?,
            &CreateLocation {
                display_name: &new.display_name,
                address: AddressParams {
                    line1: Some(&new.line1),
                    city: new.city.as_deref(),
                    state: new.state.as_deref(),
                    postal_code: new.postal_code.as_deref(),
                    country: &new.country,
                    ..Default::default()
                },
                metadata: Some(&metadata),
            },
            &format!("loc:{}", uuid::Uuid::new_v4()),
        )
        .await?;
    let row = TerminalLocation {
        id: new_id(),
        account_id: account.id,
        stripe_location_id: location.id,
        display_name: location.display_name,
        created_at: now(),
    };
    services
        .db
        .run(move |conn| {
            db::terminal::insert_location(conn, &row)?;
            Ok(row)
        })
        .await
}

pub async fn list_locations(
    services: &Services,
    external_account_id: String,
) -> Result<Vec<TerminalLocation>, Error> {
    services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            Ok(db::terminal::locations_of(conn, &account.id)?)
        })
        .await
}

pub(crate) async fn owned_location(
    services: &Services,
    account: &Account,
    location: &str,
) -> Result<(), Error> {
    let (account_id, location) = (account.id.clone(), location.to_string());
    let owned: bool = services
        .db
        .run(move |conn| {
            db::terminal::has_location(conn, &account_id, &location).map_err(Error::from)
        })
        .await?;
    if owned {
        Ok(())
    } else {
        Err(Error::not_found("no such location for this account").with_param("location"))
    }
}

/// Registers a reader by the code it displays (`simulated-wpe` for a simulated WisePOS E).
pub async fn register_reader(
    services: &Services,
    external_account_id: String,
    registration_code: String,
    label: Option<String>,
    location: Option<String>,
) -> Result<(TerminalReader, Reader), Error> {
    let account = super::accounts::get(&services.db, external_account_id).await?;
    if let Some(location) = &location {
        owned_location(services, &account, location).await?;
    }
    let mut metadata = Metadata::new();
    metadata.insert(
        "external_account_id".into(),
        account.external_account_id.clone(),
    );
    let reader = services
        .stripe
        .create_reader(
            &services.stripe_account(&account)?,
            &CreateReader {
                registration_code: &registration_code,
                label: label.as_deref(),
                location: location.as_deref(),
                metadata: Some(&metadata),
            },
            &format!("rdr:{}", uuid::Uuid::new_v4()),
        )
        .await
        .map_err(|e| match e.param() {
            Some("location") => Error::from_stripe_input(e, Some("location"), "location"),
            _ => Error::from_stripe_input(e, Some("registration_code"), "registration_code"),
        })?;
    let row = TerminalReader {
        id: new_id(),
        account_id: account.id,
        stripe_reader_id: reader.id.clone(),
        label: Some(reader.label.clone()),
        stripe_location_id: reader.location.as_ref().map(|l| l.id().to_string()),
        device_type: reader.device_type.clone(),
        created_at: now(),
    };
    services
        .db
        .run(move |conn| {
            db::terminal::insert_reader(conn, &row)?;
            Ok(row)
        })
        .await
        .map(|row| (row, reader))
}

pub async fn list_readers(
    services: &Services,
    external_account_id: String,
) -> Result<Vec<TerminalReader>, Error> {
    services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            Ok(db::terminal::readers_of(conn, &account.id)?)
        })
        .await
}

/// The account and its reader with this Stripe id (404 if unknown or another account's).
async fn owned_reader(
    services: &Services,
    external_account_id: String,
    reader_id: String,
) -> Result<(Account, TerminalReader), Error> {
    services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            let reader = db::terminal::find_reader(conn, &account.id, &reader_id)?
                .ok_or_else(|| Error::not_found("no such reader"))?;
            Ok((account, reader))
        })
        .await
}

/// The reader as Stripe sees it now, with its current action.
pub async fn get_reader(
    services: &Services,
    external_account_id: String,
    reader_id: String,
) -> Result<(TerminalReader, Reader), Error> {
    let (account, row) = owned_reader(services, external_account_id, reader_id).await?;
    let reader = services
        .stripe
        .retrieve_reader(
            &services.stripe_account(&account)?,
            &row.stripe_reader_id,
            &[],
        )
        .await
        .map_err(|e| Error::from_stripe_input(e, None, "id"))?;
    Ok((row, reader))
}

/// Hands the account's PaymentIntent to the reader, which collects and confirms it. 409 when the
/// payment is past collecting a card (`payment_not_processable`, checked first from our record,
/// else as Stripe says) or the reader is busy with another action (`reader_busy`).
///
/// `allow_redisplay` (the customer's consent to see the card again) goes to Stripe as
/// `process_config[allow_redisplay]`; for a payment that saves the card (it has
/// `setup_future_usage`), Stripe requires `always` or `limited`: none given is
/// [`DEFAULT_ALLOW_REDISPLAY`], `unspecified` is a 400 (docs/decisions.md, "allow_redisplay on the
/// reader").
pub async fn process(
    services: &Services,
    external_account_id: String,
    reader_id: String,
    payment_id: String,
    allow_redisplay: Option<AllowRedisplay>,
    tipping: Tipping,
) -> Result<(TerminalReader, Reader), Error> {
    let (account, row) = owned_reader(services, external_account_id.clone(), reader_id).await?;
    let (_, payment) = payments::load(services, external_account_id, payment_id).await?;
    if !PROCESSABLE.contains(&payment.status) {
        return Err(not_processable(Some(payment.status.as_str())));
    }
    let eligible = tipping
        .eligible_amount
        .map(|a| {
            let param = "tip_eligible_amount";
            let minor = Money::parse(&a.0, payment.currency)
                .map_err(|e| Error::invalid(param, format!("'{param}' {e}")))?
                .minor;
            if minor > payment.amount {
                return Err(Error::invalid(
                    param,
                    format!(
                        "'{param}' must be at most the payment's amount ({})",
                        Money::from_minor(payment.amount, payment.currency).to_decimal_string()
                    ),
                ));
            }
            Ok(minor.get())
        })
        .transpose()?;
    let given = allow_redisplay.is_some();
    let allow_redisplay = match (allow_redisplay, payments::sets_up_future_usage(&payment)) {
        (Some(AllowRedisplay::Unspecified), true) => {
            return Err(Error::invalid(
                "allow_redisplay",
                "'allow_redisplay' must be always or limited for a payment with a customer (its card is saved for later use); leave it out for limited",
            ))
        }
        (None, true) => Some(DEFAULT_ALLOW_REDISPLAY),
        (given, _) => given,
    };
    let intent = payment.stripe_payment_intent_id.clone().unwrap_or_default();
    let reader = services
        .stripe
        .process_payment_intent(
            &services.stripe_account(&account)?,
            &row.stripe_reader_id,
            &ProcessPaymentIntent {
                payment_intent: &intent,
                process_config: (allow_redisplay.is_some()
                    || tipping.skip.is_some()
                    || eligible.is_some())
                .then_some(ProcessConfig {
                    allow_redisplay,
                    skip_tipping: tipping.skip,
                    tipping_amount_eligible: eligible,
                }),
                ..Default::default()
            },
            &format!(
                "process:{}:{intent}:{}",
                row.stripe_reader_id,
                uuid::Uuid::new_v4()
            ),
        )
        .await
        .map_err(|e| match e.code() {
            Some("intent_invalid_state" | "payment_intent_unexpected_state") => {
                not_processable(None)
            }
            Some("terminal_reader_busy") => reader_busy(),
            _ if e.param() == Some("payment_intent") => {
                Error::from_stripe_input(e, Some("payment_intent"), "payment_id")
            }
            // Only the caller's own value is the caller's mistake; our default refused is ours.
            _ if given && e.param() == Some(ALLOW_REDISPLAY_PARAM) => {
                Error::from_stripe_input(e, Some(ALLOW_REDISPLAY_PARAM), "allow_redisplay")
            }
            _ => Error::from_stripe_input(e, None, "id"),
        })?;
    Ok((row, reader))
}

/// A sale's tipping on the reader: `process_config[skip_tipping]`, and the amount the tip
/// suggestions are computed on (`process_config[tipping][amount_eligible]`; default the amount).
#[derive(Debug, Clone, Default)]
pub struct Tipping {
    pub skip: Option<bool>,
    /// Checked for syntax; parsed in the payment's currency, at most its amount.
    pub eligible_amount: Option<DecimalText>,
}

fn reader_busy() -> Error {
    Error::conflict(
        "reader_busy",
        "the reader is busy with another action; wait for it, or cancel it with POST /v1/terminal/readers/{id}/cancel",
    )
}

/// One line of a cart: `quantity` × `unit_amount`.
pub struct CartLine {
    pub description: String,
    pub unit_amount: MinorUnits,
    pub quantity: i64,
}

/// A cart for a reader's screen, checked by the caller: its total is the lines plus the tax.
pub struct Cart {
    pub currency: Currency,
    pub line_items: Vec<CartLine>,
    pub tax: Option<MinorUnits>,
    pub total: MinorUnits,
}

/// Shows the cart on the reader until `cancel_action` clears it or a payment replaces it (409
/// `reader_busy` while the reader processes a payment). Display only: nothing is recorded.
pub async fn display_cart(
    services: &Services,
    external_account_id: String,
    reader_id: String,
    cart: Cart,
) -> Result<(TerminalReader, Reader), Error> {
    let (account, row) = owned_reader(services, external_account_id, reader_id).await?;
    let line_items: Vec<CartLineItem> = cart
        .line_items
        .iter()
        .map(|line| CartLineItem {
            description: &line.description,
            amount: line.unit_amount.get(),
            quantity: line.quantity,
        })
        .collect();
    let reader = services
        .stripe
        .set_reader_display(
            &services.stripe_account(&account)?,
            &row.stripe_reader_id,
            &SetReaderDisplay {
                currency: cart.currency.code(),
                line_items: &line_items,
                tax: cart.tax.map(MinorUnits::get),
                total: cart.total.get(),
            },
            &format!("display:{}:{}", row.stripe_reader_id, uuid::Uuid::new_v4()),
        )
        .await
        .map_err(|e| match e.code() {
            Some("terminal_reader_busy") => reader_busy(),
            _ => Error::from_stripe_input(e, None, "id"),
        })?;
    Ok((row, reader))
}

/// What a reader sends for a payment that saves the card when the caller gives no
/// `allow_redisplay`: the customer agreed to have the card kept for the merchant's own later
/// charges, not to have it offered again in online checkouts (docs/decisions.md).
pub const DEFAULT_ALLOW_REDISPLAY: AllowRedisplay = AllowRedisplay::Limited;

const ALLOW_REDISPLAY_PARAM: &str = "process_config[allow_redisplay]";

/// The statuses in which a reader can collect a card for the payment.
const PROCESSABLE: [PaymentStatus; 2] = [
    PaymentStatus::RequiresPaymentMethod,
    PaymentStatus::RequiresConfirmation,
];

fn not_processable(status: Option<&str>) -> Error {
    let mut e = Error::conflict(
        "payment_not_processable",
        match status {
            Some(status) => format!("the payment cannot be collected by a reader in status '{status}' (only while it awaits a card)"),
            None => "the payment no longer awaits a card; read it with GET /v1/payment/{id}".to_string(),
        },
    );
    e.payment_status = status.map(str::to_string);
    e
}

/// Cancels what the reader is doing, or clears the cart it shows (409 `reader_action_not_found`
/// when it is doing and showing nothing).
pub async fn cancel_action(
    services: &Services,
    external_account_id: String,
    reader_id: String,
) -> Result<(TerminalReader, Reader), Error> {
    let (account, row) = owned_reader(services, external_account_id, reader_id).await?;
    let reader = services
        .stripe
        .cancel_reader_action(
            &services.stripe_account(&account)?,
            &row.stripe_reader_id,
            &format!(
                "cancel_action:{}:{}",
                row.stripe_reader_id,
                uuid::Uuid::new_v4()
            ),
        )
        .await
        .map_err(|e| match e.code() {
            Some("terminal_reader_action_not_found") => Error::conflict(
                "reader_action_not_found",
                "the reader has no action in progress to cancel",
            ),
            _ => Error::from_stripe_input(e, None, "id"),
        })?;
    Ok((row, reader))
}
