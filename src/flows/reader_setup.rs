//! Saving a card on the reader without a sale (a gym, a hotel check-in): a `card_present`
//! SetupIntent for the customer (found or created at Stripe, `flows::customers`), handed to a
//! smart reader (`process_setup_intent`) or, without a reader, its `client_secret` returned for
//! the tablet's Terminal SDK (`collectSetupIntentPaymentMethod` + `confirmSetupIntent`).
//!
//! Our row (`db::reader_setups`) is written before the SetupIntent is created, and the Stripe
//! Idempotency-Key derives from it, so a retry finds the one SetupIntent. Once it succeeded, the
//! card saved is the SetupIntent's `latest_attempt.payment_method_details.card_present
//! .generated_card` (a `card` PaymentMethod Stripe attached to the customer), saved through
//! `flows::cards::store_card_then` — the same fingerprint de-duplication, and `card.saved`, as a
//! card saved after a payment. The outcome is learned from whichever comes first: Stripe's
//! `setup_intent.succeeded` / `setup_intent.setup_failed`, the reader's
//! `terminal.reader.action_succeeded` / `action_failed` ([`on_reader_action`]), or the caller's
//! GET, which reads the SetupIntent from Stripe ([`refresh`]); each is idempotent with the others.
//! A failure is announced once as `card_setup.failed`.

use super::cards::{self, CardView};
use super::webhooks::Scope;
use super::{accounts, customers, Services};
use crate::db::models::{new_id, now, Account, Card, Customer, ReaderSetup};
use crate::db::reader_setups::Outcome;
use crate::db::{self, write_transaction, DbConnection};
use crate::error::Error;
use crate::reader_setup_state::SetupStatus;
use stripe_client::secret::Secret;
use stripe_client::{
    AllowRedisplay, CreateSetupIntent, Metadata, ProcessSetupIntent, Reader, ReaderActionStatus,
    ReaderActionType, SetupCancellationReason, SetupIntent, SetupIntentStatus, StripeAccount,
};

/// The metadata key naming our row on the SetupIntent.
pub const SETUP_ID_METADATA: &str = "reader_setup_id";

/// A validated `POST /v1/customer/card/reader`.
#[derive(Debug, Clone)]
pub struct NewReaderSetup {
    pub external_account_id: String,
    pub external_customer_id: String,
    /// The smart reader to hand it to (Stripe's `tmr_…`); `None`: the SDK path.
    pub reader_id: Option<String>,
    /// The customer's consent; none given is [`super::terminal::DEFAULT_ALLOW_REDISPLAY`].
    pub allow_redisplay: Option<AllowRedisplay>,
}

/// A reader setup with its customer, and its card once saved.
#[derive(Debug, Clone)]
pub struct SetupView {
    pub setup: ReaderSetup,
    pub customer: Customer,
    pub card: Option<CardView>,
    /// For the SDK path, on the answer that created it.
    pub client_secret: Option<Secret<String>>,
}

/// Creates the SetupIntent and hands it to the reader (or returns its client secret). 404 for an
/// unknown (or another account's) reader; 409 `reader_offline` / `reader_busy` when the reader
/// cannot take it (the SetupIntent is then canceled and the setup recorded as failed).
pub async fn start(services: &Services, input: NewReaderSetup) -> Result<SetupView, Error> {
    let (external_account, reader_id) =
        (input.external_account_id.clone(), input.reader_id.clone());
    let (account, reader) = services
        .db
        .run(move |conn| {
            let account = accounts::require(conn, &external_account)?;
            let reader = match &reader_id {
                Some(id) => Some(
                    db::terminal::find_reader(conn, &account.id, id)?.ok_or_else(|| {
                        Error::not_found("no such reader").with_param("reader_id")
                    })?,
                ),
                None => None,
            };
            Ok::<_, Error>((account, reader))
        })
        .await?;
    let stripe_account = services.stripe_account(&account)?;
    let customer = customers::find_or_create(
        services,
        &stripe_account,
        &account,
        &input.external_customer_id,
    )
    .await?;
    let allow_redisplay = input
        .allow_redisplay
        .unwrap_or(super::terminal::DEFAULT_ALLOW_REDISPLAY);
    let id = new_id();
    let at = now();
    let row = ReaderSetup {
        stripe_idempotency_key: format!("reader_setup:{id}"),
        id,
        account_id: account.id.clone(),
        customer_id: customer.id.clone(),
        stripe_reader_id: reader.map(|r| r.stripe_reader_id),
        stripe_setup_intent_id: None,
        allow_redisplay: allow_redisplay.as_str().to_string(),
        status: SetupStatus::Creating,
        card_id: None,
        failure_code: None,
        decline_code: None,
        failure_message: None,
        created_at: at,
        updated_at: at,
    };
    let inserted = row.clone();
    services
        .db
        .run(move |conn| db::reader_setups::insert(conn, &inserted).map_err(Error::from))
        .await?;
    let (row, intent) = create_intent(services, &stripe_account, &account, &customer, row).await?;
    let Some(reader) = row.stripe_reader_id.clone() else {
        let client_secret = intent.client_secret.clone();
        return Ok(SetupView {
            setup: row,
            customer,
            card: None,
            client_secret,
        });
    };
    let handed = services
        .stripe
        .process_setup_intent(
            &stripe_account,
            &reader,
            &ProcessSetupIntent {
                setup_intent: &intent.id,
                allow_redisplay,
                enable_customer_cancellation: None,
                expand: &[],
            },
            &format!("reader_setup_process:{}", row.id),
        )
        .await;
    if let Err(e) = handed {
        let error = match e.code() {
            Some("terminal_reader_busy") => super::terminal::reader_busy(),
            Some("terminal_reader_offline") => super::terminal::reader_offline(),
            _ if e.param() == Some("allow_redisplay") => {
                Error::from_stripe_input(e, Some("allow_redisplay"), "allow_redisplay")
            }
            _ => Error::from_stripe_input(e, None, "reader_id"),
        };
        // Nothing reads a card for it any more: the SetupIntent goes, the row says why.
        if let Err(cancel) = services
            .stripe
            .cancel_setup_intent(
                &stripe_account,
                &intent.id,
                Some(SetupCancellationReason::Abandoned),
                &format!("reader_setup_cancel:{}", row.id),
            )
            .await
        {
            log::warn!(
                "reader setup {}: its SetupIntent stays open: {cancel}",
                row.id
            );
        }
        let outcome = Outcome {
            failure_code: Some(error.code.clone()),
            failure_message: Some(error.message.clone()),
            ..Default::default()
        };
        record(services, &row.id, SetupStatus::Failed, outcome).await?;
        return Err(error);
    }
    Ok(SetupView {
        setup: row,
        customer,
        card: None,
        client_secret: None,
    })
}

/// Creates the row's SetupIntent at Stripe (its key derives from the row: a retry finds the same
/// one) and records it: the row is then `in_progress`.
async fn create_intent(
    services: &Services,
    stripe_account: &StripeAccount,
    account: &Account,
    customer: &Customer,
    row: ReaderSetup,
) -> Result<(ReaderSetup, SetupIntent), Error> {
    let mut metadata = Metadata::new();
    metadata.insert(
        "external_account_id".into(),
        account.external_account_id.clone(),
    );
    metadata.insert(
        "external_customer_id".into(),
        customer.external_customer_id.clone(),
    );
    metadata.insert(SETUP_ID_METADATA.into(), row.id.clone());
    let intent = services
        .stripe
        .create_setup_intent(
            stripe_account,
            &CreateSetupIntent {
                customer: Some(&customer.stripe_customer_id),
                payment_method_types: &["card_present"],
                usage: Some(stripe_client::SetupFutureUsage::OffSession),
                metadata: Some(&metadata),
                ..Default::default()
            },
            &row.stripe_idempotency_key,
        )
        .await?;
    let (id, seti) = (row.id.clone(), intent.id.clone());
    let row = services
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                db::reader_setups::record_setup_intent(conn, &id, &seti)?;
                let current = db::reader_setups::by_id(conn, &id)?;
                if current.status.can_move_to(SetupStatus::InProgress) {
                    db::reader_setups::advance(
                        conn,
                        &id,
                        current.status,
                        SetupStatus::InProgress,
                        &Outcome::default(),
                    )?;
                }
                Ok::<_, Error>(db::reader_setups::by_id(conn, &id)?)
            })
        })
        .await?;
    Ok((row, intent))
}

/// `GET /v1/customer/card/reader/{setup_id}`: the setup as Stripe has it now (one Stripe call
/// until it is final, none after); a card saved meanwhile is saved here if no webhook did.
pub async fn refresh(
    services: &Services,
    external_account_id: String,
    setup_id: String,
) -> Result<SetupView, Error> {
    let (account, row) = load(services, external_account_id, setup_id).await?;
    if row.status.is_final() {
        return view(services, &account, row, None).await;
    }
    let stripe_account = services.stripe_account(&account)?;
    let row = match row.stripe_setup_intent_id.clone() {
        Some(_) => row,
        // Crashed before the SetupIntent was recorded: the same key finds (or makes) it.
        None => {
            let customer_id = row.customer_id.clone();
            let customer = services
                .db
                .run(move |c| customers::by_id(c, &customer_id))
                .await?;
            create_intent(services, &stripe_account, &account, &customer, row)
                .await?
                .0
        }
    };
    let intent = retrieve(services, &stripe_account, &row).await?;
    sync(services, &stripe_account, &account, row, &intent).await
}

/// `POST /v1/customer/card/reader/{setup_id}/cancel`: stops the reader (when it is still reading
/// a card for this setup) and cancels the SetupIntent. Canceling again answers the canceled setup;
/// 409 `card_setup_not_cancelable` once it succeeded (the card is saved; delete it instead).
pub async fn cancel(
    services: &Services,
    external_account_id: String,
    setup_id: String,
) -> Result<SetupView, Error> {
    let (account, row) = load(services, external_account_id, setup_id).await?;
    match row.status {
        SetupStatus::Canceled => return view(services, &account, row, None).await,
        SetupStatus::Succeeded => return Err(not_cancelable()),
        _ => {}
    }
    let stripe_account = services.stripe_account(&account)?;
    let Some(intent_id) = row.stripe_setup_intent_id.clone() else {
        let id = row.id.clone();
        record(services, &id, SetupStatus::Canceled, Outcome::default()).await?;
        return refresh(services, account.external_account_id.clone(), id).await;
    };
    if let Some(reader) = row.stripe_reader_id.clone() {
        cancel_reader_action(services, &stripe_account, &row, &reader, &intent_id).await?;
    }
    let canceled = services
        .stripe
        .cancel_setup_intent(
            &stripe_account,
            &intent_id,
            Some(SetupCancellationReason::RequestedByCustomer),
            &format!("reader_setup_cancel:{}", row.id),
        )
        .await;
    let intent = match canceled {
        Ok(intent) => intent,
        // Succeeded (or canceled) meanwhile: Stripe's state decides.
        Err(e) if e.code() == Some("setup_intent_unexpected_state") => {
            retrieve(services, &stripe_account, &row).await?
        }
        Err(e) => return Err(Error::from_stripe_input(e, None, "setup_id")),
    };
    let view = sync(services, &stripe_account, &account, row, &intent).await?;
    if view.setup.status == SetupStatus::Succeeded {
        return Err(not_cancelable());
    }
    Ok(view)
}

fn not_cancelable() -> Error {
    Error::conflict(
        "card_setup_not_cancelable",
        "the card was saved already, so the setup cannot be canceled; delete the card with DELETE /v1/customer/card/{id}",
    )
}

/// Cancels the reader's action if it is still reading a card for this SetupIntent (another
/// action — a payment started since — is left alone).
async fn cancel_reader_action(
    services: &Services,
    stripe_account: &StripeAccount,
    row: &ReaderSetup,
    reader: &str,
    intent_id: &str,
) -> Result<(), Error> {
    let current = services
        .stripe
        .retrieve_reader(stripe_account, reader, &[])
        .await;
    let ours = match current {
        Ok(reader) => reader.action.is_some_and(|a| {
            a.status == ReaderActionStatus::InProgress
                && a.process_setup_intent
                    .is_some_and(|p| p.setup_intent.id() == intent_id)
        }),
        // The reader is gone: nothing to stop.
        Err(e) if e.code() == Some("resource_missing") => false,
        Err(e) => return Err(e.into()),
    };
    if !ours {
        return Ok(());
    }
    match services
        .stripe
        .cancel_reader_action(
            stripe_account,
            reader,
            &format!("reader_setup_cancel_action:{}", row.id),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Finished meanwhile: the SetupIntent's state tells how.
        Err(e) if e.code() == Some("terminal_reader_action_not_found") => Ok(()),
        Err(e) if e.code() == Some("terminal_reader_offline") => {
            Err(super::terminal::reader_offline())
        }
        Err(e) => Err(e.into()),
    }
}

/// For `setup_intent.succeeded` / `setup_intent.setup_failed`: records the outcome of a
/// SetupIntent of ours (in `scope`); the SetupIntent is read from Stripe (the event's copy may be
/// stale, and names the SetupAttempt only by id). `false`: not one of ours.
pub async fn on_setup_intent_event(
    services: &Services,
    intent: &serde_json::Value,
    scope: &Scope,
) -> Result<bool, Error> {
    let Some(row_id) = intent["metadata"][SETUP_ID_METADATA].as_str() else {
        return Ok(false);
    };
    let Some(id) = intent["id"].as_str() else {
        return Ok(false);
    };
    // A SetupIntent whose id our row has not recorded yet (its creation's answer was lost): the
    // metadata names the row, which records it now.
    let (row_id, seti, allowed) = (row_id.to_string(), id.to_string(), scope.clone());
    services
        .db
        .run(move |conn| {
            match db::reader_setups::find_with_account(conn, &row_id)? {
                Some((row, account))
                    if row.stripe_setup_intent_id.is_none() && allowed.allows(&account.id) =>
                {
                    db::reader_setups::record_setup_intent(conn, &row_id, &seti)?;
                }
                _ => {}
            }
            Ok::<_, Error>(())
        })
        .await?;
    on_setup_intent(services, id, scope, None).await
}

/// For `terminal.reader.action_succeeded` / `terminal.reader.action_failed` of a
/// `process_setup_intent` action: records how the setup on that reader ended (from the
/// SetupIntent as Stripe has it; a failure the SetupIntent does not show — the reader failed
/// before reading a card — from the action's `failure_code` and `failure_message`). `false`: not
/// a setup action of ours (another action type is for the generic reader-action handler).
pub(crate) async fn on_reader_action(
    services: &Services,
    reader: &Reader,
    scope: &Scope,
) -> Result<bool, Error> {
    let Some(action) = &reader.action else {
        return Ok(false);
    };
    if action.action_type != ReaderActionType::ProcessSetupIntent {
        return Ok(false);
    }
    let Some(process) = &action.process_setup_intent else {
        return Ok(false);
    };
    let failure = (action.status == ReaderActionStatus::Failed).then(|| Outcome {
        failure_code: action.failure_code.clone(),
        failure_message: action.failure_message.clone(),
        ..Default::default()
    });
    on_setup_intent(services, process.setup_intent.id(), scope, failure).await
}

async fn on_setup_intent(
    services: &Services,
    intent_id: &str,
    scope: &Scope,
    reader_failure: Option<Outcome>,
) -> Result<bool, Error> {
    let seti = intent_id.to_string();
    let found = services
        .db
        .run(move |conn| db::reader_setups::find_by_setup_intent(conn, &seti).map_err(Error::from))
        .await?;
    let Some((row, account)) = found.filter(|(_, a)| scope.allows(&a.id)) else {
        return Ok(false);
    };
    if row.status.is_final() {
        return Ok(true);
    }
    let stripe_account = services.stripe_account(&account)?;
    let intent = retrieve(services, &stripe_account, &row).await?;
    let view = sync(services, &stripe_account, &account, row, &intent).await?;
    if let (Some(outcome), SetupStatus::InProgress) = (reader_failure, view.setup.status) {
        record(services, &view.setup.id, SetupStatus::Failed, outcome).await?;
    }
    Ok(true)
}

/// The row's SetupIntent with its latest attempt.
async fn retrieve(
    services: &Services,
    stripe_account: &StripeAccount,
    row: &ReaderSetup,
) -> Result<SetupIntent, Error> {
    let id = row.stripe_setup_intent_id.clone().unwrap_or_default();
    Ok(services
        .stripe
        .retrieve_setup_intent(stripe_account, &id, &["latest_attempt"])
        .await?)
}

/// Records what the SetupIntent says: the card saved once it succeeded, the decline once it
/// failed, canceled; anything else leaves the row as it is.
async fn sync(
    services: &Services,
    stripe_account: &StripeAccount,
    account: &Account,
    row: ReaderSetup,
    intent: &SetupIntent,
) -> Result<SetupView, Error> {
    match intent.status {
        SetupIntentStatus::Succeeded => {
            return save_card(services, stripe_account, account, row, intent).await
        }
        SetupIntentStatus::Canceled => {
            record(services, &row.id, SetupStatus::Canceled, Outcome::default()).await?;
        }
        SetupIntentStatus::RequiresPaymentMethod => {
            if let Some(error) = &intent.last_setup_error {
                let outcome = Outcome {
                    failure_code: error.code.clone(),
                    decline_code: error.decline_code.clone(),
                    failure_message: error.message.clone(),
                    card_id: None,
                };
                record(services, &row.id, SetupStatus::Failed, outcome).await?;
            }
        }
        _ => {}
    }
    let id = row.id.clone();
    let row = services
        .db
        .run(move |conn| db::reader_setups::by_id(conn, &id).map_err(Error::from))
        .await?;
    view(services, account, row, None).await
}

/// Saves the SetupIntent's generated card on the customer (de-duplicated by fingerprint, as after
/// a payment) and records it on the row, in the transaction that saves a new card.
async fn save_card(
    services: &Services,
    stripe_account: &StripeAccount,
    account: &Account,
    row: ReaderSetup,
    intent: &SetupIntent,
) -> Result<SetupView, Error> {
    if row.card_id.is_some() {
        return view(services, account, row, None).await;
    }
    let Some(generated) = intent.generated_card() else {
        // A phone or watch wallet was tapped: no reusable card.
        let outcome = Outcome {
            failure_code: Some("card_not_saveable".into()),
            failure_message: Some(
                "the card read produced no reusable card (a phone or watch wallet was tapped); present a physical card".into(),
            ),
            ..Default::default()
        };
        record(services, &row.id, SetupStatus::Failed, outcome).await?;
        let id = row.id.clone();
        let row = services
            .db
            .run(move |conn| db::reader_setups::by_id(conn, &id).map_err(Error::from))
            .await?;
        return view(services, account, row, None).await;
    };
    let method = match generated.as_object() {
        Some(method) => method.clone(),
        None => {
            services
                .stripe
                .retrieve_payment_method(stripe_account, generated.id(), &[])
                .await?
        }
    };
    let details = method.card.as_ref().ok_or_else(|| {
        Error::internal(format!("generated card {} has no card details", method.id))
    })?;
    let context = super::stripe_keys::context(account, stripe_account);
    let at = now();
    let row_id = row.id.clone();
    cards::store_card_then(
        services,
        Card {
            id: new_id(),
            account_id: account.id.clone(),
            customer_id: row.customer_id.clone(),
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
            stripe_context: Some(context),
        },
        move |conn, card| {
            let outcome = Outcome {
                card_id: Some(card.id.clone()),
                ..Default::default()
            };
            advance(conn, &row_id, SetupStatus::Succeeded, &outcome)
        },
    )
    .await?;
    let id = row.id.clone();
    let row = services
        .db
        .run(move |conn| db::reader_setups::by_id(conn, &id).map_err(Error::from))
        .await?;
    view(services, account, row, None).await
}

/// Moves the row to `to` (when the state allows it) in its own transaction.
async fn record(
    services: &Services,
    id: &str,
    to: SetupStatus,
    outcome: Outcome,
) -> Result<(), Error> {
    let id = id.to_string();
    services
        .db
        .run(move |conn| write_transaction(conn, |conn| advance(conn, &id, to, &outcome)))
        .await
}

/// Moves the row to `to` if its status allows, announcing a failure once (`card_setup.failed`);
/// inside the caller's transaction.
fn advance(
    conn: &mut DbConnection,
    id: &str,
    to: SetupStatus,
    outcome: &Outcome,
) -> Result<(), Error> {
    let current = db::reader_setups::by_id(conn, id)?;
    if !current.status.can_move_to(to) {
        return Ok(());
    }
    if db::reader_setups::advance(conn, id, current.status, to, outcome)?
        && to == SetupStatus::Failed
    {
        let setup = db::reader_setups::by_id(conn, id)?;
        let customer = customers::by_id(conn, &setup.customer_id)?;
        super::events::emit_card_setup_failed(conn, &setup, &customer)?;
    }
    Ok(())
}

/// The account's setup with this id (404 if unknown or another account's).
async fn load(
    services: &Services,
    external_account_id: String,
    setup_id: String,
) -> Result<(Account, ReaderSetup), Error> {
    services
        .db
        .run(move |conn| {
            let account = accounts::require(conn, &external_account_id)?;
            let row = db::reader_setups::find_of_account(conn, &account.id, &setup_id)?
                .ok_or_else(|| Error::not_found("no such card setup"))?;
            Ok((account, row))
        })
        .await
}

async fn view(
    services: &Services,
    account: &Account,
    row: ReaderSetup,
    client_secret: Option<Secret<String>>,
) -> Result<SetupView, Error> {
    let context = services.stripe_context(account)?;
    let (customer_id, card_id) = (row.customer_id.clone(), row.card_id.clone());
    let (customer, card) = services
        .db
        .run(move |conn| {
            let customer = customers::by_id(conn, &customer_id)?;
            let card = card_id.map(|id| db::cards::by_id(conn, &id)).transpose()?;
            Ok::<_, Error>((customer, card))
        })
        .await?;
    let card = card.map(|card| CardView::new(card, customer.clone(), &context));
    Ok(SetupView {
        setup: row,
        customer,
        card,
        client_secret,
    })
}
