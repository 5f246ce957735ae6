//! Stripe Terminal for a merchant: connection tokens, locations and readers (recorded per account,
//! since accounts without their own Stripe account share the platform's), and the server-driven
//! flow for smart readers (a payment, the cart on the screen, cancelling either); the fleet:
//! readers renamed and deleted, locations updated and deleted, each reader's status as Stripe
//! has it.

use super::payments;
use super::Services;
use crate::db;
use crate::db::models::{new_id, now, Account, PaymentReader, TerminalLocation, TerminalReader};
use crate::error::Error;
use crate::money::{Currency, DecimalText, MinorUnits, Money};
use crate::payment_state::PaymentStatus;
use std::collections::HashMap;
use stripe_client::secret::Secret;
use stripe_client::terminal::{AddressParams, CartLineItem, SetReaderDisplay};
use stripe_client::{
    AllowRedisplay, CreateLocation, CreateReader, ListParams, ListReaders, Metadata, ProcessConfig,
    ProcessPaymentIntent, Reader, ReaderCollectPaymentMethod, ReaderConfirmPaymentIntent,
    ReaderStatus, UpdateLocation, UpdateReader,
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
            db::write_alone(conn, |c| db::terminal::insert_location(c, &row))?;
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
            db::write_alone(conn, |c| db::terminal::insert_reader(c, &row))?;
            Ok(row)
        })
        .await
        .map(|row| (row, reader))
}

/// `GET /v1/terminal/readers` filters: a location and Stripe's network status.
#[derive(Debug, Clone, Default)]
pub struct ReaderFilter {
    pub location: Option<String>,
    pub status: Option<ReaderStatus>,
}

/// The account's readers (newest first), each with what Stripe says of it now (`None`: Stripe
/// has it no more, shown without status; left out when filtering by status). Stripe's list is
/// read page by page with the same filters: readers of other accounts sharing the platform's
/// Stripe account are in it, and only ours are kept.
pub async fn list_readers(
    services: &Services,
    external_account_id: String,
    filter: ReaderFilter,
) -> Result<Vec<(TerminalReader, Option<Reader>)>, Error> {
    let location = filter.location.clone();
    let (account, rows) = services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            let rows = db::terminal::readers_of(conn, &account.id, location.as_deref())?;
            Ok::<_, Error>((account, rows))
        })
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let stripe_account = services.stripe_account(&account)?;
    let mut live: HashMap<String, Reader> = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = services
            .stripe
            .list_readers(
                &stripe_account,
                &ListReaders {
                    location: filter.location.as_deref(),
                    status: filter.status.as_ref(),
                    page: ListParams {
                        limit: Some(100),
                        starting_after: after.as_deref(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await?;
        after = page.data.last().map(|r| r.id.clone());
        live.extend(page.data.into_iter().map(|r| (r.id.clone(), r)));
        if !page.has_more || after.is_none() {
            break;
        }
    }
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let reader = live.remove(&row.stripe_reader_id);
            (reader.is_some() || filter.status.is_none()).then_some((row, reader))
        })
        .collect())
}

/// Renames a reader (Stripe's `label`, and our record).
pub async fn rename_reader(
    services: &Services,
    external_account_id: String,
    reader_id: String,
    label: String,
) -> Result<(TerminalReader, Reader), Error> {
    let (account, mut row) = owned_reader(services, external_account_id, reader_id).await?;
    let reader = services
        .stripe
        .update_reader(
            &services.stripe_account(&account)?,
            &row.stripe_reader_id,
            &UpdateReader {
                label: Some(&label),
                metadata: None,
            },
            &format!("rename:{}:{}", row.stripe_reader_id, uuid::Uuid::new_v4()),
        )
        .await
        .map_err(|e| Error::from_stripe_input(e, Some("label"), "label"))?;
    row.label = Some(reader.label.clone());
    let (id, label) = (row.id.clone(), row.label.clone());
    services
        .db
        .run(move |conn| {
            db::terminal::set_reader_label(conn, &id, label.as_deref()).map_err(Error::from)
        })
        .await?;
    Ok((row, reader))
}

/// Deletes a reader at Stripe and our record of it (one Stripe already deleted is deleted here
/// too). Its past payments keep the reader's id.
pub async fn delete_reader(
    services: &Services,
    external_account_id: String,
    reader_id: String,
) -> Result<TerminalReader, Error> {
    let (account, row) = owned_reader(services, external_account_id, reader_id).await?;
    deleted_at_stripe(
        services
            .stripe
            .delete_reader(&services.stripe_account(&account)?, &row.stripe_reader_id)
            .await,
    )?;
    let id = row.id.clone();
    services
        .db
        .run(move |conn| db::terminal::delete_reader(conn, &id).map_err(Error::from))
        .await?;
    Ok(row)
}

/// What changes on a location: its name and (some of) its address; `None` keeps it.
#[derive(Debug, Clone, Default)]
pub struct LocationChange {
    pub display_name: Option<String>,
    pub line1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
}

/// Updates a location at Stripe, and the name we keep of it.
pub async fn update_location(
    services: &Services,
    external_account_id: String,
    location_id: String,
    change: LocationChange,
) -> Result<TerminalLocation, Error> {
    let (account, row) = owned_location_row(services, external_account_id, location_id).await?;
    let address_given = change.line1.is_some()
        || change.city.is_some()
        || change.state.is_some()
        || change.postal_code.is_some();
    let location = services
        .stripe
        .update_location(
            &services.stripe_account(&account)?,
            &row.stripe_location_id,
            &UpdateLocation {
                display_name: change.display_name.as_deref(),
                address: address_given.then(|| AddressParams {
                    line1: change.line1.as_deref(),
                    city: change.city.as_deref(),
                    state: change.state.as_deref(),
                    postal_code: change.postal_code.as_deref(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &format!(
                "location:update:{}:{}",
                row.stripe_location_id,
                uuid::Uuid::new_v4()
            ),
        )
        .await
        .map_err(|e| match e.param().map(str::to_string) {
            Some(p) if p == "display_name" => Error::from_stripe_input(e, Some(&p), "display_name"),
            Some(p) if p.starts_with("address") => Error::from_stripe_input(e, Some(&p), "address"),
            _ => Error::from_stripe_input(e, None, "id"),
        })?;
    let row = TerminalLocation {
        display_name: location.display_name,
        ..row
    };
    let (id, name) = (row.id.clone(), row.display_name.clone());
    services
        .db
        .run(move |conn| db::terminal::set_location_name(conn, &id, &name).map_err(Error::from))
        .await?;
    Ok(row)
}

/// Deletes a location at Stripe and our record of it, and the Terminal configuration this service
/// made for it (tipping, splash screen): 409 `location_has_readers` while readers of the account
/// are registered there (delete them first; a reader moves by being registered again).
pub async fn delete_location(
    services: &Services,
    external_account_id: String,
    location_id: String,
) -> Result<TerminalLocation, Error> {
    let (account, row) = owned_location_row(services, external_account_id, location_id).await?;
    let (account_id, stripe_id) = (account.id.clone(), row.stripe_location_id.clone());
    let readers = services
        .db
        .run(move |conn| {
            Ok::<_, Error>(db::terminal::readers_of(conn, &account_id, Some(&stripe_id))?.len())
        })
        .await?;
    if readers > 0 {
        return Err(Error::conflict(
            "location_has_readers",
            format!("{readers} reader(s) are registered at this location; delete them first (DELETE /v1/terminal/readers/{{id}})"),
        ));
    }
    let stripe_account = services.stripe_account(&account)?;
    let configuration =
        super::tipping::made_for_location(services, &stripe_account, &row.stripe_location_id)
            .await?;
    deleted_at_stripe(
        services
            .stripe
            .delete_location(&stripe_account, &row.stripe_location_id)
            .await,
    )?;
    if let Some(configuration) = configuration {
        deleted_at_stripe(
            services
                .stripe
                .delete_terminal_configuration(&stripe_account, &configuration)
                .await,
        )?;
    }
    let id = row.id.clone();
    services
        .db
        .run(move |conn| db::terminal::delete_location(conn, &id).map_err(Error::from))
        .await?;
    Ok(row)
}

/// A Stripe delete's outcome: done, or already gone at Stripe (a retry after our record's
/// removal failed) — either way our record goes next.
fn deleted_at_stripe<T>(result: Result<T, stripe_client::StripeError>) -> Result<(), Error> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("resource_missing") => Ok(()),
        Err(e) => Err(Error::from_stripe_input(e, None, "id")),
    }
}

/// The account and its location with this Stripe id (404 if unknown or another account's).
async fn owned_location_row(
    services: &Services,
    external_account_id: String,
    location_id: String,
) -> Result<(Account, TerminalLocation), Error> {
    services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            let location = db::terminal::find_location(conn, &account.id, &location_id)?
                .ok_or_else(|| Error::not_found("no such location"))?;
            Ok((account, location))
        })
        .await
}

/// The account and its reader with this Stripe id (404 if unknown or another account's).
pub(crate) async fn owned_reader(
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
    hand_over(
        services,
        external_account_id,
        reader_id,
        payment_id,
        allow_redisplay,
        tipping,
        HandOver::Process,
    )
    .await
}

/// Like [`process`], but the reader only reads the card (Stripe's `collect_payment_method`): the
/// payment then awaits [`confirm`], and the card read shows in the reader's action (GET reader,
/// the events endpoint) for the till to inspect first.
pub async fn collect(
    services: &Services,
    external_account_id: String,
    reader_id: String,
    payment_id: String,
    allow_redisplay: Option<AllowRedisplay>,
    tipping: Tipping,
) -> Result<(TerminalReader, Reader), Error> {
    hand_over(
        services,
        external_account_id,
        reader_id,
        payment_id,
        allow_redisplay,
        tipping,
        HandOver::Collect,
    )
    .await
}

/// What the reader does with a payment handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HandOver {
    /// Reads the card and confirms (`process_payment_intent`).
    Process,
    /// Reads the card only (`collect_payment_method`).
    Collect,
}

impl HandOver {
    fn allow_redisplay_param(self) -> &'static str {
        match self {
            HandOver::Process => ALLOW_REDISPLAY_PARAM,
            HandOver::Collect => "collect_config[allow_redisplay]",
        }
    }
}

async fn hand_over(
    services: &Services,
    external_account_id: String,
    reader_id: String,
    payment_id: String,
    allow_redisplay: Option<AllowRedisplay>,
    tipping: Tipping,
    mode: HandOver,
) -> Result<(TerminalReader, Reader), Error> {
    // One hop: the reader, the payment, and — when it can be processed — the reader it is handed
    // to (for totals by reader and location; a later hand-over to another reader replaces it).
    let processed_at = services.clock.now();
    let (account, row, payment) = services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            let reader = db::terminal::find_reader(conn, &account.id, &reader_id)?
                .ok_or_else(|| Error::not_found("no such reader"))?;
            let payment = db::payments::find_by_intent(conn, &account.id, &payment_id)?
                .ok_or_else(|| {
                    Error::not_found(format!("no such payment: '{payment_id}'"))
                        .with_param("payment_id")
                })?;
            if PROCESSABLE.contains(&payment.status) {
                db::payment_readers::record(
                    conn,
                    &PaymentReader {
                        payment_id: payment.id.clone(),
                        stripe_reader_id: reader.stripe_reader_id.clone(),
                        stripe_location_id: reader.stripe_location_id.clone(),
                        processed_at,
                    },
                )?;
            }
            Ok::<_, Error>((account, reader, payment))
        })
        .await?;
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
    let config = (allow_redisplay.is_some() || tipping.skip.is_some() || eligible.is_some())
        .then_some(ProcessConfig {
            allow_redisplay,
            skip_tipping: tipping.skip,
            tipping_amount_eligible: eligible,
        });
    let stripe_account = services.stripe_account(&account)?;
    let requested_at = now();
    let key = format!(
        "{}:{}:{intent}:{}",
        match mode {
            HandOver::Process => "process",
            HandOver::Collect => "collect",
        },
        row.stripe_reader_id,
        uuid::Uuid::new_v4()
    );
    let allow_param = mode.allow_redisplay_param();
    let answer = match mode {
        HandOver::Process => {
            services
                .stripe
                .process_payment_intent(
                    &stripe_account,
                    &row.stripe_reader_id,
                    &ProcessPaymentIntent {
                        payment_intent: &intent,
                        process_config: config,
                        ..Default::default()
                    },
                    &key,
                )
                .await
        }
        HandOver::Collect => {
            services
                .stripe
                .collect_payment_method(
                    &stripe_account,
                    &row.stripe_reader_id,
                    &ReaderCollectPaymentMethod {
                        payment_intent: &intent,
                        collect_config: config,
                    },
                    &key,
                )
                .await
        }
    };
    let reader = answer.map_err(|e| match e.code() {
        Some("intent_invalid_state" | "payment_intent_unexpected_state") => not_processable(None),
        Some("terminal_reader_busy") => reader_busy(),
        Some("terminal_reader_offline") => reader_offline(),
        _ if e.param() == Some("payment_intent") => {
            Error::from_stripe_input(e, Some("payment_intent"), "payment_id")
        }
        // Only the caller's own value is the caller's mistake; our default refused is ours.
        _ if given && e.param() == Some(allow_param) => {
            Error::from_stripe_input(e, Some(allow_param), "allow_redisplay")
        }
        _ => Error::from_stripe_input(e, None, "id"),
    })?;
    recorded(services, &row, &reader, requested_at).await;
    Ok((row, reader))
}

/// Records the reader's action Stripe answered (a failure to record is logged: the reader did
/// what Stripe said, and its events will record it).
async fn recorded(
    services: &Services,
    row: &TerminalReader,
    reader: &Reader,
    requested_at: chrono::NaiveDateTime,
) {
    if let Err(e) = super::reader_events::record_answer(services, row, reader, requested_at).await {
        log::warn!(
            "reader {}: its action was not recorded: {e}",
            row.stripe_reader_id
        );
    }
}

/// Has the reader confirm the payment with the card it collected ([`collect`]). 409
/// `payment_not_confirmable` when the payment does not await confirmation (checked from our
/// record, else as Stripe says), `reader_busy` / `reader_offline` as for [`process`]. A decline
/// shows in the reader's action (`failed`, with Stripe's code and message); the payment's own
/// status follows from Stripe's PaymentIntent events.
pub async fn confirm(
    services: &Services,
    external_account_id: String,
    reader_id: String,
    payment_id: String,
) -> Result<(TerminalReader, Reader), Error> {
    let (account, row, payment) = services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            let reader = db::terminal::find_reader(conn, &account.id, &reader_id)?
                .ok_or_else(|| Error::not_found("no such reader"))?;
            let payment = db::payments::find_by_intent(conn, &account.id, &payment_id)?
                .ok_or_else(|| {
                    Error::not_found(format!("no such payment: '{payment_id}'"))
                        .with_param("payment_id")
                })?;
            Ok::<_, Error>((account, reader, payment))
        })
        .await?;
    if !PROCESSABLE.contains(&payment.status) {
        return Err(not_confirmable(Some(payment.status.as_str())));
    }
    let intent = payment.stripe_payment_intent_id.clone().unwrap_or_default();
    let requested_at = now();
    let reader = services
        .stripe
        .confirm_reader_payment_intent(
            &services.stripe_account(&account)?,
            &row.stripe_reader_id,
            &ReaderConfirmPaymentIntent {
                payment_intent: &intent,
                return_url: None,
            },
            &format!(
                "confirm:{}:{intent}:{}",
                row.stripe_reader_id,
                uuid::Uuid::new_v4()
            ),
        )
        .await
        .map_err(|e| match e.code() {
            Some("intent_invalid_state" | "payment_intent_unexpected_state") => {
                not_confirmable(None)
            }
            Some("terminal_reader_busy") => reader_busy(),
            Some("terminal_reader_offline") => reader_offline(),
            _ if e.param() == Some("payment_intent") => {
                Error::from_stripe_input(e, Some("payment_intent"), "payment_id")
            }
            _ => Error::from_stripe_input(e, None, "id"),
        })?;
    recorded(services, &row, &reader, requested_at).await;
    Ok((row, reader))
}

fn not_confirmable(status: Option<&str>) -> Error {
    let mut e = Error::conflict(
        "payment_not_confirmable",
        match status {
            Some(status) => format!("the payment cannot be confirmed by a reader in status '{status}': collect its card first (POST /v1/terminal/readers/{{id}}/collect)"),
            None => "the payment has no card collected by a reader to confirm: collect it first (POST /v1/terminal/readers/{id}/collect)".to_string(),
        },
    );
    e.payment_status = status.map(str::to_string);
    e
}

/// A sale's tipping on the reader: `process_config[skip_tipping]`, and the amount the tip
/// suggestions are computed on (`process_config[tipping][amount_eligible]`; default the amount).
#[derive(Debug, Clone, Default)]
pub struct Tipping {
    pub skip: Option<bool>,
    /// Checked for syntax; parsed in the payment's currency, at most its amount.
    pub eligible_amount: Option<DecimalText>,
}

pub(crate) fn reader_busy() -> Error {
    Error::conflict(
        "reader_busy",
        "the reader is busy with another action; wait for it, or cancel it with POST /v1/terminal/readers/{id}/cancel",
    )
}

/// Stripe's `terminal_reader_offline`: the reader is not connected, nothing was sent to it.
pub(crate) fn reader_offline() -> Error {
    Error::conflict(
        "reader_offline",
        "the reader is offline; check that it is powered on and connected to the internet, then retry",
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
    let requested_at = now();
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
            Some("terminal_reader_offline") => reader_offline(),
            _ => Error::from_stripe_input(e, None, "id"),
        })?;
    recorded(services, &row, &reader, requested_at).await;
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
    let requested_at = now();
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
            Some("terminal_reader_offline") => reader_offline(),
            _ => Error::from_stripe_input(e, None, "id"),
        })?;
    recorded(services, &row, &reader, requested_at).await;
    Ok((row, reader))
}
