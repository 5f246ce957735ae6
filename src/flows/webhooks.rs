//! Stripe → us: signed events, verified against the platform's endpoint secrets and the account's
//! own, deduplicated by event id, and applied to our records in the same transaction that stores
//! them. Out-of-order events never move a payment backwards.

use super::payment_updates::{apply as apply_update, observe};
use super::payments::STRIPE_ACTOR;
use super::Services;
use crate::db::models::{now, Account, Card, Payment, StripeEvent};
use crate::db::{self, write_transaction, DbConnection, Inserted};
use crate::error::Error;
use crate::money::MinorUnits;
use crate::payment_state::{PaymentUpdate, Source};
use serde::de::DeserializeOwned;
use stripe_client::webhook::{self, DEFAULT_TOLERANCE};
use stripe_client::{Charge, Dispute, Event, PaymentIntent, PaymentMethod, Reader, Refund};

/// What became of a delivered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    Applied,
    /// Seen before (or a payout event of the platform's own account, nobody's to record):
    /// acknowledged, no effect.
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
) -> Result<(Received, Event), Error> {
    let event = webhook::parse_event(payload)
        .map_err(|_| Error::bad_request("webhook_invalid", "the payload is not a Stripe event"))?;
    let account = event_account(services, &event).await?;
    let rejected = |e: webhook::WebhookError| {
        Error::bad_request(
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
                .map_err(Error::internal)?;
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
/// answers 5xx and Stripe's retry tries again; so is a `payout.*` event (a paid payout's balance
/// transactions are read from Stripe). Shared by the webhook endpoint and the reconciler,
/// which replays events that never arrived.
pub async fn store_and_apply(
    services: &Services,
    event: Event,
    scope: &Scope,
) -> Result<Received, Error> {
    let handled = HandledEvent::parse(&event.event_type);
    let completes = matches!(
        handled,
        Some(
            HandledEvent::CheckoutSessionCompleted
                | HandledEvent::SetupIntentSucceeded
                | HandledEvent::SetupIntentSetupFailed
                | HandledEvent::TerminalReaderActionSucceeded
                | HandledEvent::TerminalReaderActionFailed
                | HandledEvent::PayoutCreated
                | HandledEvent::PayoutUpdated
                | HandledEvent::PayoutPaid
                | HandledEvent::PayoutFailed
        )
    );
    if completes {
        let id = event.id.clone();
        let seen = services
            .db
            .run(move |conn| db::stripe_events::exists(conn, &id).map_err(Error::from))
            .await?;
        if seen {
            return Ok(Received::Duplicate);
        }
        // Both completions are idempotent with the synchronous GET and with each other.
        match (handled, event.object_id()) {
            (Some(HandledEvent::CheckoutSessionCompleted), Some(session)) => {
                super::card_checkout::complete_session(services, session, scope).await?;
                super::reference_checkout::complete_session(services, session, scope).await?;
            }
            (Some(HandledEvent::SetupIntentSucceeded), Some(_)) => {
                super::card_checkout::complete_setup_intent(services, &event.data.object, scope)
                    .await?;
                super::reader_setup::on_setup_intent_event(services, &event.data.object, scope)
                    .await?;
            }
            (Some(HandledEvent::SetupIntentSetupFailed), Some(_)) => {
                super::reader_setup::on_setup_intent_event(services, &event.data.object, scope)
                    .await?;
            }
            // A reader's action ended: a card saved on the reader without a sale (other action
            // types are not acted on here).
            (
                Some(
                    HandledEvent::TerminalReaderActionSucceeded
                    | HandledEvent::TerminalReaderActionFailed,
                ),
                Some(_),
            ) => {
                if let Some(reader) = decode::<stripe_client::Reader>(&event) {
                    super::reader_setup::on_reader_action(services, &reader, scope).await?;
                }
            }
            // A paid payout's balance transactions are read from Stripe (`flows::payouts`). A
            // payout event with the platform's scope is not stored: it is the platform's own
            // payout (nobody's), or — in simulator mode, where one secret signs every account's
            // events — a merchant's own-key account's, which the reconciler's pass over that
            // account then records with the merchant's scope.
            (
                Some(
                    HandledEvent::PayoutCreated
                    | HandledEvent::PayoutUpdated
                    | HandledEvent::PayoutPaid
                    | HandledEvent::PayoutFailed,
                ),
                Some(_),
            ) => {
                if *scope == Scope::Platform {
                    return Ok(Received::Duplicate);
                }
                super::payouts::record_event(services, &event, scope).await?
            }
            _ => {}
        }
    }
    let stored = event.clone();
    let scope = scope.clone();
    services
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                if db::stripe_events::exists(conn, &stored.id)? {
                    return Ok(Received::Duplicate);
                }
                let row = StripeEvent {
                    id: stored.id.clone(),
                    event_type: stored.event_type.clone(),
                    stripe_account: stored.account.clone(),
                    object_id: stored.object_id().map(str::to_string),
                    received_at: now(),
                };
                match db::stripe_events::insert(conn, &row)? {
                    Inserted::New(()) => {
                        apply(conn, &stored, &scope)?;
                        Ok(Received::Applied)
                    }
                    // The same event delivered twice at once: the other delivery stored it.
                    Inserted::Duplicate => Ok(Received::Duplicate),
                }
            })
        })
        .await
}

/// The Stripe event types we act on: the one list the webhook dispatcher (`apply`, and the
/// completions in `store_and_apply`), the reconciler's replay and `stripe setup-webhook`'s
/// registration at Stripe all read, so a newly handled event is also registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandledEvent {
    PaymentIntentAmountCapturableUpdated,
    PaymentIntentSucceeded,
    PaymentIntentCanceled,
    PaymentIntentRequiresAction,
    PaymentIntentProcessing,
    PaymentIntentPaymentFailed,
    ChargeRefunded,
    ChargeRefundUpdated,
    CheckoutSessionCompleted,
    SetupIntentSucceeded,
    SetupIntentSetupFailed,
    TerminalReaderActionSucceeded,
    TerminalReaderActionFailed,
    TerminalReaderActionUpdated,
    PaymentMethodDetached,
    ChargeDisputeCreated,
    ChargeDisputeUpdated,
    ChargeDisputeClosed,
    ChargeDisputeFundsWithdrawn,
    ChargeDisputeFundsReinstated,
    ChargeSucceeded,
    RefundCreated,
    PayoutCreated,
    PayoutUpdated,
    PayoutPaid,
    PayoutFailed,
}

impl HandledEvent {
    /// Every handled event, in the order they are registered at Stripe.
    pub const ALL: [HandledEvent; 26] = [
        HandledEvent::PaymentIntentAmountCapturableUpdated,
        HandledEvent::PaymentIntentSucceeded,
        HandledEvent::PaymentIntentCanceled,
        HandledEvent::PaymentIntentRequiresAction,
        HandledEvent::PaymentIntentProcessing,
        HandledEvent::PaymentIntentPaymentFailed,
        HandledEvent::ChargeRefunded,
        HandledEvent::ChargeRefundUpdated,
        HandledEvent::CheckoutSessionCompleted,
        HandledEvent::SetupIntentSucceeded,
        HandledEvent::SetupIntentSetupFailed,
        HandledEvent::TerminalReaderActionSucceeded,
        HandledEvent::TerminalReaderActionFailed,
        HandledEvent::TerminalReaderActionUpdated,
        HandledEvent::PaymentMethodDetached,
        HandledEvent::ChargeDisputeCreated,
        HandledEvent::ChargeDisputeUpdated,
        HandledEvent::ChargeDisputeClosed,
        HandledEvent::ChargeDisputeFundsWithdrawn,
        HandledEvent::ChargeDisputeFundsReinstated,
        HandledEvent::ChargeSucceeded,
        HandledEvent::RefundCreated,
        HandledEvent::PayoutCreated,
        HandledEvent::PayoutUpdated,
        HandledEvent::PayoutPaid,
        HandledEvent::PayoutFailed,
    ];

    /// Stripe's name of the event type.
    pub fn as_str(self) -> &'static str {
        match self {
            HandledEvent::PaymentIntentAmountCapturableUpdated => {
                "payment_intent.amount_capturable_updated"
            }
            HandledEvent::PaymentIntentSucceeded => "payment_intent.succeeded",
            HandledEvent::PaymentIntentCanceled => "payment_intent.canceled",
            HandledEvent::PaymentIntentRequiresAction => "payment_intent.requires_action",
            HandledEvent::PaymentIntentProcessing => "payment_intent.processing",
            HandledEvent::PaymentIntentPaymentFailed => "payment_intent.payment_failed",
            HandledEvent::ChargeRefunded => "charge.refunded",
            HandledEvent::ChargeRefundUpdated => "charge.refund.updated",
            HandledEvent::CheckoutSessionCompleted => "checkout.session.completed",
            HandledEvent::SetupIntentSucceeded => "setup_intent.succeeded",
            HandledEvent::SetupIntentSetupFailed => "setup_intent.setup_failed",
            HandledEvent::TerminalReaderActionSucceeded => "terminal.reader.action_succeeded",
            HandledEvent::TerminalReaderActionFailed => "terminal.reader.action_failed",
            HandledEvent::TerminalReaderActionUpdated => "terminal.reader.action_updated",
            HandledEvent::PaymentMethodDetached => "payment_method.detached",
            HandledEvent::ChargeDisputeCreated => "charge.dispute.created",
            HandledEvent::ChargeDisputeUpdated => "charge.dispute.updated",
            HandledEvent::ChargeDisputeClosed => "charge.dispute.closed",
            HandledEvent::ChargeDisputeFundsWithdrawn => "charge.dispute.funds_withdrawn",
            HandledEvent::ChargeDisputeFundsReinstated => "charge.dispute.funds_reinstated",
            HandledEvent::ChargeSucceeded => "charge.succeeded",
            HandledEvent::RefundCreated => "refund.created",
            HandledEvent::PayoutCreated => "payout.created",
            HandledEvent::PayoutUpdated => "payout.updated",
            HandledEvent::PayoutPaid => "payout.paid",
            HandledEvent::PayoutFailed => "payout.failed",
        }
    }

    /// The handled event of this Stripe type (`None`: we do not act on it).
    pub fn parse(event_type: &str) -> Option<HandledEvent> {
        HandledEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == event_type)
    }

    /// The type names of every handled event, as registered at Stripe.
    pub fn names() -> Vec<&'static str> {
        HandledEvent::ALL.iter().map(|e| e.as_str()).collect()
    }
}

/// The merchant account an event concerns: by connected account, else by the external id we put
/// in the object's metadata, else (a dispute, or a refund the Terminal SDK made, which carry no
/// metadata of ours) by the payment of the PaymentIntent it names.
async fn event_account(services: &Services, event: &Event) -> Result<Option<Account>, Error> {
    let by_connect = event.account.clone();
    let object = &event.data.object;
    let by_metadata = object["metadata"]["external_account_id"]
        .as_str()
        .map(str::to_string);
    let by_intent = (object["object"] == "dispute" || object["object"] == "refund")
        .then(|| object["payment_intent"].as_str().map(str::to_string))
        .flatten();
    if by_connect.is_none() && by_metadata.is_none() && by_intent.is_none() {
        return Ok(None);
    }
    services
        .db
        .run(move |conn| {
            let found = match (by_connect, by_metadata, by_intent) {
                (Some(acct), _, _) => db::accounts::find_by_stripe_account_id(conn, &acct),
                (None, Some(external), _) => db::accounts::find_by_external_id(conn, &external),
                (None, None, Some(intent)) => match db::payments::find_by_intent_id(conn, &intent)?
                {
                    Some(payment) => db::accounts::by_id(conn, &payment.account_id).map(Some),
                    None => return Ok(None),
                },
                (None, None, None) => return Ok(None),
            };
            found.map_err(Error::from)
        })
        .await
}

fn apply(conn: &mut DbConnection, event: &Event, scope: &Scope) -> Result<(), Error> {
    let Some(handled) = HandledEvent::parse(&event.event_type) else {
        return Ok(());
    };
    match handled {
        HandledEvent::PaymentIntentAmountCapturableUpdated
        | HandledEvent::PaymentIntentSucceeded
        | HandledEvent::PaymentIntentCanceled
        | HandledEvent::PaymentIntentRequiresAction
        | HandledEvent::PaymentIntentProcessing
        | HandledEvent::PaymentIntentPaymentFailed => match decode::<PaymentIntent>(event) {
            Some(intent) => payment_intent_changed(conn, handled, &intent, scope),
            None => Ok(()),
        },
        HandledEvent::ChargeRefunded => match decode::<Charge>(event) {
            Some(charge) => charge_refunded(conn, &charge, scope),
            None => Ok(()),
        },
        HandledEvent::ChargeRefundUpdated => match decode::<Refund>(event) {
            Some(refund) => refund_updated(conn, &refund, scope),
            None => Ok(()),
        },
        HandledEvent::PaymentMethodDetached => match decode::<PaymentMethod>(event) {
            Some(method) => payment_method_detached(conn, &method, scope),
            None => Ok(()),
        },
        // Every dispute event carries the whole dispute: each is recorded the same way, the
        // state machine keeps it moving forward only.
        HandledEvent::ChargeDisputeCreated
        | HandledEvent::ChargeDisputeUpdated
        | HandledEvent::ChargeDisputeClosed
        | HandledEvent::ChargeDisputeFundsWithdrawn
        | HandledEvent::ChargeDisputeFundsReinstated => match decode::<Dispute>(event) {
            Some(dispute) => super::disputes::record(conn, &dispute, scope),
            None => Ok(()),
        },
        // The reader's action, recorded forward only, whatever its type (dispatched there); a
        // refund on the reader is recorded from it too (a card saved on the reader was completed
        // before the event was stored, `store_and_apply`).
        HandledEvent::TerminalReaderActionSucceeded
        | HandledEvent::TerminalReaderActionFailed
        | HandledEvent::TerminalReaderActionUpdated => match decode::<Reader>(event) {
            Some(reader) => {
                super::reader_events::on_reader_event(
                    conn,
                    &event.id,
                    event.created,
                    &reader,
                    |account| scope.allows(account),
                )?;
                super::reader_refunds::on_reader_action(conn, &reader, scope)
            }
            None => Ok(()),
        },
        // How the payment was charged (Interac is refunded on the reader only).
        HandledEvent::ChargeSucceeded => match decode::<Charge>(event) {
            Some(charge) => super::reader_refunds::on_charge_succeeded(conn, &charge, scope),
            None => Ok(()),
        },
        HandledEvent::RefundCreated => match decode::<Refund>(event) {
            Some(refund) => super::reader_refunds::on_stripe_refund(conn, &refund, scope),
            None => Ok(()),
        },
        // Completed before the event is stored (`store_and_apply`): they read from Stripe.
        HandledEvent::CheckoutSessionCompleted
        | HandledEvent::SetupIntentSucceeded
        | HandledEvent::SetupIntentSetupFailed
        | HandledEvent::PayoutCreated
        | HandledEvent::PayoutUpdated
        | HandledEvent::PayoutPaid
        | HandledEvent::PayoutFailed => Ok(()),
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
) -> Result<Option<Payment>, Error> {
    let found = db::payments::find_by_intent_id(conn, &intent.id)?;
    if let Some(payment) = found {
        return Ok(scope.allows(&payment.account_id).then_some(payment));
    }
    let (Some(external_account), Some(tx)) = (
        intent.metadata.get("external_account_id"),
        intent.metadata.get("external_transaction_id"),
    ) else {
        return Ok(None);
    };
    Ok(db::payments::find_unrecorded(conn, external_account, tx)?
        .filter(|p| scope.allows(&p.account_id)))
}

fn payment_intent_changed(
    conn: &mut DbConnection,
    event_type: HandledEvent,
    intent: &PaymentIntent,
    scope: &Scope,
) -> Result<(), Error> {
    let Some(payment) = payment_for_intent(conn, intent, scope)? else {
        return Ok(());
    };
    let update = if event_type == HandledEvent::PaymentIntentPaymentFailed {
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

fn charge_refunded(conn: &mut DbConnection, charge: &Charge, scope: &Scope) -> Result<(), Error> {
    let Some(intent_id) = charge.payment_intent.as_ref().map(|i| i.id().to_string()) else {
        return Ok(());
    };
    let amounts = (
        MinorUnits::new(charge.amount),
        MinorUnits::new(charge.amount_captured),
        MinorUnits::new(charge.amount_refunded),
    );
    let (Ok(amount), Ok(captured), Ok(refunded)) = amounts else {
        inconsistent(charge);
        return Ok(());
    };
    if captured > amount || refunded > amount {
        inconsistent(charge);
        return Ok(());
    }
    let Some(payment) =
        db::payments::find_by_intent_id(conn, &intent_id)?.filter(|p| scope.allows(&p.account_id))
    else {
        return Ok(());
    };
    // Stripe counts the uncaptured rest of a partial capture as refunded: leave it out. A
    // released authorisation (nothing captured) is not a refund.
    let uncaptured = amount.saturating_sub(captured);
    let total = refunded.saturating_sub(uncaptured);
    if captured.is_zero() || total.is_zero() {
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

/// Logs a charge whose amounts contradict each other; it is ignored.
fn inconsistent(charge: &Charge) {
    log::warn!(
        "charge {} ignored: inconsistent amounts (amount {}, captured {}, refunded {})",
        charge.id,
        charge.amount,
        charge.amount_captured,
        charge.amount_refunded
    );
}

fn refund_updated(conn: &mut DbConnection, refund: &Refund, scope: &Scope) -> Result<(), Error> {
    let (id, Some(status)) = (
        refund.id.as_str(),
        refund.status.as_ref().map(|s| s.as_str()),
    ) else {
        return Ok(());
    };
    let owner = db::refunds::owner_account_id(conn, id)?;
    if !owner.is_some_and(|owner| scope.allows(&owner)) {
        return Ok(());
    }
    db::refunds::set_status(conn, id, status)?;
    Ok(())
}

fn payment_method_detached(
    conn: &mut DbConnection,
    method: &PaymentMethod,
    scope: &Scope,
) -> Result<(), Error> {
    let id = method.id.as_str();
    let Some(card) =
        db::cards::find_live_by_payment_method(conn, id)?.filter(|c| scope.allows(&c.account_id))
    else {
        return Ok(());
    };
    db::cards::mark_deleted(conn, &card.id)?;
    let card = Card {
        deleted: true,
        ..card
    };
    super::events::emit_card(conn, &card, None, "card.deleted")
}

#[cfg(test)]
mod tests {
    use super::HandledEvent;

    /// The list registered at Stripe and the dispatcher are one: every handled event parses back
    /// to itself (the dispatcher's `match` on `HandledEvent` is exhaustive), and each type name
    /// is a distinct, well-formed Stripe event type.
    #[test]
    fn every_handled_event_round_trips_through_its_name() {
        let names = HandledEvent::names();
        for event in HandledEvent::ALL {
            assert_eq!(HandledEvent::parse(event.as_str()), Some(event));
        }
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(names.iter().all(|n| n.contains('.') && !n.contains('*')));
        assert_eq!(HandledEvent::parse("customer.created"), None);
    }
}
