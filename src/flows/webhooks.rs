//! Stripe → us: signed events, verified against the platform's endpoint secrets and the account's
//! own, deduplicated by event id, and applied to our records in the same transaction that stores
//! them. Out-of-order events never move a payment backwards.

use super::payment_updates::{apply as apply_update, observe};
use super::payments::STRIPE_ACTOR;
use super::Services;
use crate::db::models::{now, Account, Card, Customer, Payment, StripeEvent};
use crate::db::schema::{
    accounts, cards, customers, payments as payments_table, refunds, stripe_events,
};
use crate::db::{write_transaction, DbConnection};
use crate::error::ApiError;
use crate::payment_state::{PaymentUpdate, Source};
use crate::stripe::webhook::{self, DEFAULT_TOLERANCE};
use crate::stripe::{Charge, Event, PaymentIntent, PaymentMethod, Refund};
use diesel::prelude::*;
use serde::de::DeserializeOwned;

/// What became of a delivered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    Applied,
    /// Seen before: acknowledged, no effect.
    Duplicate,
}

/// Whose records a verified event may change. A merchant's own endpoint secret vouches only for
/// that merchant's Stripe account: an event it signs never touches another merchant's records,
/// whatever ids the event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Signed with a platform endpoint secret and not for a connected account.
    Platform,
    /// Signed with this account's own secret, or the platform's for its connected account
    /// (`None`: a connected account that is none of ours, so nobody's).
    Account(Option<String>),
}

impl Scope {
    /// Whether the event may change a record of the account with this (internal) id.
    pub fn allows(&self, account_id: &str) -> bool {
        match self {
            Scope::Platform => true,
            Scope::Account(scoped) => scoped.as_deref() == Some(account_id),
        }
    }

    /// The scope of events read from Stripe with an account's own key or connected account (the
    /// reconciler), or with the platform's key (`None`).
    pub fn of(account: Option<&Account>) -> Scope {
        match account {
            None => Scope::Platform,
            Some(a) => Scope::Account(Some(a.id.clone())),
        }
    }
}

/// Verifies, stores and applies one webhook delivery.
pub async fn receive(
    services: &Services,
    payload: &[u8],
    signature: &str,
) -> Result<(Received, Event), ApiError> {
    let event = webhook::parse_event(payload).map_err(|_| {
        ApiError::bad_request("webhook_invalid", "the payload is not a Stripe event")
    })?;
    let account = event_account(services, &event).await?;
    let rejected = |e: webhook::WebhookError| {
        ApiError::bad_request(
            "webhook_signature_invalid",
            format!("signature rejected: {e}"),
        )
    };
    let now = chrono::Utc::now().timestamp();
    let platform: Vec<&str> = services
        .stripe_webhook_secrets
        .iter()
        .map(|s| s.expose().as_str())
        .collect();
    let scope = match webhook::verify(payload, signature, &platform, DEFAULT_TOLERANCE, now) {
        Ok(()) if event.account.is_some() => Scope::Account(account.map(|a| a.id)),
        Ok(()) => Scope::Platform,
        Err(e @ (webhook::WebhookError::SignatureMismatch | webhook::WebhookError::NoSecrets)) => {
            // Not the platform's: perhaps the account's own endpoint secret.
            let Some((account, sealed)) = account.as_ref().and_then(|a| {
                a.stripe_webhook_secret_enc
                    .as_ref()
                    .map(|sealed| (a, sealed))
            }) else {
                return Err(rejected(e));
            };
            let context = super::accounts::stripe_webhook_secret_context(account);
            let own = services
                .secrets
                .open(sealed, &context)
                .map_err(ApiError::internal)?;
            webhook::verify(
                payload,
                signature,
                &[own.expose().as_str()],
                DEFAULT_TOLERANCE,
                now,
            )
            .map_err(rejected)?;
            Scope::Account(Some(account.id.clone()))
        }
        Err(e) => return Err(rejected(e)),
    };
    let received = store_and_apply(services, event.clone(), &scope).await?;
    Ok((received, event))
}

/// Stores a verified event (once: a repeat is `Duplicate`) and applies it, within `scope`, to our
/// records in the same transaction. An event that completes a Checkout Session or a SetupIntent
/// (which reads from Stripe) is handled first and stored only once that succeeded, so a failure
/// answers 5xx and Stripe's retry tries again. Shared by the webhook endpoint and the reconciler,
/// which replays events that never arrived.
pub async fn store_and_apply(
    services: &Services,
    event: Event,
    scope: &Scope,
) -> Result<Received, ApiError> {
    let completes = matches!(
        event.event_type.as_str(),
        "checkout.session.completed" | "setup_intent.succeeded"
    );
    if completes {
        let id = event.id.clone();
        let seen = services
            .db
            .run(move |conn| {
                diesel::select(diesel::dsl::exists(stripe_events::table.find(&id)))
                    .get_result::<bool>(conn)
                    .map_err(ApiError::from)
            })
            .await?;
        if seen {
            return Ok(Received::Duplicate);
        }
        // Both completions are idempotent with the synchronous GET and with each other.
        match (event.event_type.as_str(), event.object_id()) {
            ("checkout.session.completed", Some(session)) => {
                super::checkout::complete_setup_session(services, session, scope).await?;
                super::checkout::complete_payment_session(services, session, scope).await?;
            }
            ("setup_intent.succeeded", Some(_)) => {
                super::checkout::complete_setup_intent(services, &event.data.object, scope).await?;
            }
            _ => {}
        }
    }
    let stored = event.clone();
    let scope = scope.clone();
    let outcome: Result<Received, ApiError> = services
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let seen: bool =
                    diesel::select(diesel::dsl::exists(stripe_events::table.find(&stored.id)))
                        .get_result(conn)?;
                if seen {
                    return Ok(Received::Duplicate);
                }
                diesel::insert_into(stripe_events::table)
                    .values(StripeEvent {
                        id: stored.id.clone(),
                        event_type: stored.event_type.clone(),
                        stripe_account: stored.account.clone(),
                        object_id: stored.object_id().map(str::to_string),
                        received_at: now(),
                    })
                    .execute(conn)?;
                apply(conn, &stored, &scope)?;
                Ok(Received::Applied)
            })
        })
        .await;
    match outcome {
        // The same event delivered twice at once: the other delivery stored it.
        Err(e) if e.code == crate::error::UNIQUE_VIOLATION => Ok(Received::Duplicate),
        other => other,
    }
}

/// Whether we act on events of this type (the reconciler replays only these).
pub const HANDLED: [&str; 11] = [
    "payment_intent.amount_capturable_updated",
    "payment_intent.succeeded",
    "payment_intent.canceled",
    "payment_intent.requires_action",
    "payment_intent.processing",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.refund.updated",
    "checkout.session.completed",
    "setup_intent.succeeded",
    "payment_method.detached",
];

/// The merchant account an event concerns: by connected account, else by the external id we put
/// in the object's metadata.
async fn event_account(services: &Services, event: &Event) -> Result<Option<Account>, ApiError> {
    let by_connect = event.account.clone();
    let by_metadata = event.data.object["metadata"]["external_account_id"]
        .as_str()
        .map(str::to_string);
    if by_connect.is_none() && by_metadata.is_none() {
        return Ok(None);
    }
    services
        .db
        .run(move |conn| {
            let query = accounts::table.select(Account::as_select());
            let found = match (by_connect, by_metadata) {
                (Some(acct), _) => query
                    .filter(accounts::stripe_account_id.eq(acct))
                    .first(conn),
                (None, Some(external)) => query
                    .filter(accounts::external_account_id.eq(external))
                    .first(conn),
                (None, None) => return Ok(None),
            };
            found.optional().map_err(ApiError::from)
        })
        .await
}

fn apply(conn: &mut DbConnection, event: &Event, scope: &Scope) -> Result<(), ApiError> {
    match event.event_type.as_str() {
        "payment_intent.amount_capturable_updated"
        | "payment_intent.succeeded"
        | "payment_intent.canceled"
        | "payment_intent.requires_action"
        | "payment_intent.processing"
        | "payment_intent.payment_failed" => match decode::<PaymentIntent>(event) {
            Some(intent) => payment_intent_changed(conn, &event.event_type, &intent, scope),
            None => Ok(()),
        },
        "charge.refunded" => match decode::<Charge>(event) {
            Some(charge) => charge_refunded(conn, &charge, scope),
            None => Ok(()),
        },
        "charge.refund.updated" => match decode::<Refund>(event) {
            Some(refund) => refund_updated(conn, &refund, scope),
            None => Ok(()),
        },
        "payment_method.detached" => match decode::<PaymentMethod>(event) {
            Some(method) => payment_method_detached(conn, &method, scope),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The event's object as the Stripe type it must be; an object that does not decode changes
/// nothing and is logged (by event id and type, never its content).
fn decode<T: DeserializeOwned>(event: &Event) -> Option<T> {
    match event.object::<T>() {
        Ok(object) => Some(object),
        Err(e) => {
            log::warn!(
                "Stripe event {} ({}) ignored: its object does not decode: {e}",
                event.id,
                event.event_type
            );
            None
        }
    }
}

/// Our payment for a PaymentIntent, within `scope`: by its id, or — when the creating request has
/// not recorded the id yet — by the external ids in its metadata (the update then records it).
fn payment_for_intent(
    conn: &mut DbConnection,
    intent: &PaymentIntent,
    scope: &Scope,
) -> Result<Option<Payment>, ApiError> {
    let found = payments_table::table
        .filter(payments_table::stripe_payment_intent_id.eq(&intent.id))
        .select(Payment::as_select())
        .first(conn)
        .optional()?;
    if let Some(payment) = found {
        return Ok(scope.allows(&payment.account_id).then_some(payment));
    }
    let (Some(external_account), Some(tx)) = (
        intent.metadata.get("external_account_id"),
        intent.metadata.get("external_transaction_id"),
    ) else {
        return Ok(None);
    };
    Ok(payments_table::table
        .inner_join(accounts::table)
        .filter(accounts::external_account_id.eq(external_account))
        .filter(payments_table::external_transaction_id.eq(tx))
        .filter(payments_table::stripe_payment_intent_id.is_null())
        .select(Payment::as_select())
        .first(conn)
        .optional()?
        .filter(|p| scope.allows(&p.account_id)))
}

fn payment_intent_changed(
    conn: &mut DbConnection,
    event_type: &str,
    intent: &PaymentIntent,
    scope: &Scope,
) -> Result<(), ApiError> {
    let Some(payment) = payment_for_intent(conn, intent, scope)? else {
        return Ok(());
    };
    let update = if event_type == "payment_intent.payment_failed" {
        // A decline: the intent awaits another card.
        PaymentUpdate::Declined {
            intent_id: intent.id.clone(),
        }
    } else {
        let Some(state) = observe(intent) else {
            return Ok(());
        };
        PaymentUpdate::Intent {
            state,
            source: Source::Webhook,
        }
    };
    apply_update(conn, &payment.id, update, STRIPE_ACTOR).map(|_| ())
}

fn charge_refunded(
    conn: &mut DbConnection,
    charge: &Charge,
    scope: &Scope,
) -> Result<(), ApiError> {
    let Some(intent_id) = charge.payment_intent.as_ref().map(|i| i.id().to_string()) else {
        return Ok(());
    };
    if charge.amount_captured < 0
        || charge.amount_refunded < 0
        || charge.amount_captured > charge.amount
        || charge.amount_refunded > charge.amount
    {
        log::warn!(
            "charge {} ignored: inconsistent amounts (amount {}, captured {}, refunded {})",
            charge.id,
            charge.amount,
            charge.amount_captured,
            charge.amount_refunded
        );
        return Ok(());
    }
    let Some(payment) = payments_table::table
        .filter(payments_table::stripe_payment_intent_id.eq(&intent_id))
        .select(Payment::as_select())
        .first(conn)
        .optional()?
        .filter(|p| scope.allows(&p.account_id))
    else {
        return Ok(());
    };
    // Stripe counts the uncaptured rest of a partial capture as refunded: leave it out. A
    // released authorisation (nothing captured) is not a refund.
    let uncaptured = charge.amount - charge.amount_captured;
    let total = charge.amount_refunded - uncaptured;
    if charge.amount_captured == 0 || total <= 0 {
        return Ok(());
    }
    apply_update(
        conn,
        &payment.id,
        PaymentUpdate::Refunded { total },
        STRIPE_ACTOR,
    )
    .map(|_| ())
}

fn refund_updated(conn: &mut DbConnection, refund: &Refund, scope: &Scope) -> Result<(), ApiError> {
    let (id, Some(status)) = (
        refund.id.as_str(),
        refund.status.as_ref().map(|s| s.as_str()),
    ) else {
        return Ok(());
    };
    let owner: Option<String> = refunds::table
        .inner_join(payments_table::table.on(payments_table::id.eq(refunds::payment_id)))
        .filter(refunds::stripe_refund_id.eq(id))
        .select(payments_table::account_id)
        .first(conn)
        .optional()?;
    if !owner.is_some_and(|owner| scope.allows(&owner)) {
        return Ok(());
    }
    diesel::update(refunds::table.filter(refunds::stripe_refund_id.eq(id)))
        .set(refunds::status.eq(status))
        .execute(conn)?;
    Ok(())
}

fn payment_method_detached(
    conn: &mut DbConnection,
    method: &PaymentMethod,
    scope: &Scope,
) -> Result<(), ApiError> {
    let id = method.id.as_str();
    let Some(card) = cards::table
        .filter(cards::stripe_payment_method_id.eq(id))
        .filter(cards::deleted.eq(false))
        .select(Card::as_select())
        .first(conn)
        .optional()?
        .filter(|c| scope.allows(&c.account_id))
    else {
        return Ok(());
    };
    diesel::update(cards::table.find(&card.id))
        .set((cards::deleted.eq(true), cards::updated_at.eq(now())))
        .execute(conn)?;
    let customer: Customer = customers::table
        .find(&card.customer_id)
        .select(Customer::as_select())
        .first(conn)?;
    let card = Card {
        deleted: true,
        ..card
    };
    super::events::emit_card(conn, &card, &customer, "card.deleted")
}
