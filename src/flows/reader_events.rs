//! A reader's actions as they happen: the action state recorded on the reader's row from our own
//! requests' answers and Stripe's `terminal.reader.action_succeeded` / `…action_failed` /
//! `…action_updated` events (forward only, `crate::reader_action_state`), the merchant's
//! `reader.action_succeeded` / `reader.action_failed` webhooks, the wait for the next change
//! (`GET /v1/terminal/readers/{id}/events`, a long poll that works across instances), and the
//! server-driven collect → inspect → confirm of a payment on a reader.
//!
//! Stripe's events are dispatched by the action's type ([`on_reader_event`]); a type we have no
//! module for is recorded and announced generically (its object unknown).

use super::Services;
use crate::db::models::{now, ReaderActionRow, TerminalReader};
use crate::db::{self, write_transaction, DbConnection};
use crate::error::Error;
use crate::reader_action_state::{decide, ActionStatus, Decision, Observed, Recorded, Source};
use chrono::NaiveDateTime;
use serde_json::{json, Value};
use std::sync::LazyLock;
use std::time::Duration;
use stripe_client::{Reader, ReaderAction, ReaderActionStatus, ReaderActionType};
use tokio::sync::Notify;

/// Wakes the waiters of this process when a reader's action changes here; changes recorded by
/// another instance are seen by the waiters' bounded poll of the row's version.
static CHANGED: LazyLock<Notify> = LazyLock::new(Notify::new);

/// How often a waiter reads the row's version while nothing woke it (another instance's change).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// The longest wait a caller may ask for, and the default.
pub const MAX_WAIT_SECS: u64 = 30;
pub const DEFAULT_WAIT_SECS: u64 = 25;

/// The merchant events of reader actions.
pub const ACTION_SUCCEEDED: &str = "reader.action_succeeded";
pub const ACTION_FAILED: &str = "reader.action_failed";

/// What a Stripe `terminal.reader.action_*` event says of the reader's action, or what our
/// request's answer shows, as an observation (`None`: the reader has no action to record).
pub fn observe(action: Option<&ReaderAction>, source: Source) -> Option<Observed> {
    let action = action?;
    let status = match action.status {
        ReaderActionStatus::InProgress => ActionStatus::InProgress,
        ReaderActionStatus::Succeeded => ActionStatus::Succeeded,
        ReaderActionStatus::Failed => ActionStatus::Failed,
        ReaderActionStatus::Unknown(_) => return None,
    };
    let (object, card) = action_object(action);
    Some(Observed {
        kind: action.action_type.as_str().to_string(),
        object,
        status,
        failure_code: action.failure_code.clone(),
        failure_message: action.failure_message.clone(),
        card,
        source,
    })
}

/// The object an action concerns and, for a collection, the card read — by the action's type.
/// Other action types add their arm here (their module's `on_reader_action`); an unknown type
/// is recorded without an object.
fn action_object(action: &ReaderAction) -> (Option<String>, Option<String>) {
    match &action.action_type {
        ReaderActionType::ProcessPaymentIntent | ReaderActionType::ConfirmPaymentIntent => {
            (action.payment_intent_id().map(str::to_string), None)
        }
        ReaderActionType::CollectPaymentMethod => (
            action.payment_intent_id().map(str::to_string),
            collected_card(action).map(|c| c.to_string()),
        ),
        // The SetupIntent of a card saved on the reader (`reader_setup`).
        ReaderActionType::ProcessSetupIntent => (
            action
                .process_setup_intent
                .as_ref()
                .map(|a| a.setup_intent.id().to_string()),
            None,
        ),
        // The payment refunded on the reader (`reader_refunds` names its PaymentIntent).
        ReaderActionType::RefundPayment => (
            action
                .refund_payment
                .as_ref()
                .and_then(|a| a.payment_intent.as_ref())
                .map(|pi| pi.id().to_string()),
            None,
        ),
        ReaderActionType::SetReaderDisplay | ReaderActionType::Unknown(_) => (None, None),
    }
}

/// The card a `collect_payment_method` read: its PaymentMethod, brand, last4, funding, wallet.
pub fn collected_card(action: &ReaderAction) -> Option<Value> {
    let method = action
        .collect_payment_method
        .as_ref()?
        .payment_method
        .as_ref()?;
    let details = method
        .card_present
        .as_ref()
        .or(method.interac_present.as_ref());
    Some(json!({
        "payment_method": method.id,
        "type": method.method_type.as_str(),
        "brand": details.and_then(|d| d.brand.clone()),
        "last4": details.and_then(|d| d.last4.clone()),
        "funding": details.and_then(|d| d.funding.clone()),
        "wallet": details.and_then(|d| d.wallet.as_ref().map(|w| w.wallet_type.clone())),
    }))
}

fn recorded(row: &ReaderActionRow) -> Option<Recorded> {
    Some(Recorded {
        kind: row.action_type.clone()?,
        object: row.action_object.clone(),
        status: row.action_status?,
        failure_code: row.action_failure_code.clone(),
        failure_message: row.action_failure_message.clone(),
        card: row.action_card.clone(),
        updated_at: row.action_updated_at?,
        stripe_created: row.action_stripe_created,
    })
}

/// Records `observed` on the reader row `row_id` if it is news (inside the caller's write
/// transaction); returns the row after, and the decision.
fn record(
    conn: &mut DbConnection,
    row_id: &str,
    observed: &Observed,
) -> Result<(ReaderActionRow, Decision), Error> {
    let row = db::terminal::lock_action(conn, row_id)?;
    let decision = decide(recorded(&row).as_ref(), observed);
    if let Decision::Stale(why) = decision {
        log::info!(
            "reader {}: {} {} of {:?} not recorded: {why}",
            row.stripe_reader_id,
            observed.kind,
            observed.status,
            observed.object
        );
    }
    if decision != Decision::Apply {
        return Ok((row, decision));
    }
    let after = ReaderActionRow {
        action_type: Some(observed.kind.clone()),
        action_status: Some(observed.status),
        action_object: observed.object.clone(),
        action_failure_code: observed.failure_code.clone(),
        action_failure_message: observed.failure_message.clone(),
        // A card once read stays with the collection (its end may not repeat it).
        action_card: observed.card.clone().or_else(|| {
            (row.action_type.as_deref() == Some(observed.kind.as_str())
                && row.action_object == observed.object)
                .then(|| row.action_card.clone())
                .flatten()
        }),
        action_updated_at: Some(now()),
        action_stripe_created: match observed.source {
            Source::Event { created } => Some(created),
            Source::Answer { .. } => None,
        },
        action_version: row.action_version + 1,
        ..row
    };
    db::terminal::set_action(conn, &after)?;
    Ok((after, Decision::Apply))
}

/// Records what Stripe answered to our request about `reader` (sent at `requested_at`): its
/// action, or — a cancel answers none — the recorded action cancelled. Wakes the waiters.
pub async fn record_answer(
    services: &Services,
    row: &TerminalReader,
    reader: &Reader,
    requested_at: NaiveDateTime,
) -> Result<(), Error> {
    let source = Source::Answer { requested_at };
    let observed = observe(reader.action.as_ref(), source);
    let id = row.id.clone();
    let changed = services
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let observed = match observed {
                    Some(o) => o,
                    None => {
                        // Cleared by a cancel: the action that was recorded, cancelled.
                        let current = db::terminal::lock_action(conn, &id)?;
                        let Some(r) = recorded(&current) else {
                            return Ok(false);
                        };
                        Observed {
                            kind: r.kind,
                            object: r.object,
                            status: ActionStatus::Canceled,
                            failure_code: None,
                            failure_message: None,
                            card: None,
                            source,
                        }
                    }
                };
                let (_, decision) = record(conn, &id, &observed)?;
                Ok::<_, Error>(decision == Decision::Apply)
            })
        })
        .await?;
    if changed {
        CHANGED.notify_waiters();
    }
    Ok(())
}

/// A Stripe `terminal.reader.action_*` event about `reader` (inside the webhook's transaction,
/// within `allows`): records the action if it is news and announces an action's end to the
/// merchant (once: a success per action, a failure per Stripe event).
pub fn on_reader_event(
    conn: &mut DbConnection,
    event_id: &str,
    created: i64,
    reader: &Reader,
    allows: impl Fn(&str) -> bool,
) -> Result<(), Error> {
    let Some(row) = db::terminal::action_by_stripe_id(conn, &reader.id)? else {
        return Ok(());
    };
    if !allows(&row.account_id) {
        return Ok(());
    }
    let Some(observed) = observe(reader.action.as_ref(), Source::Event { created }) else {
        return Ok(());
    };
    let (after, decision) = record(conn, &row.id, &observed)?;
    if decision == Decision::Apply {
        CHANGED.notify_waiters();
    }
    if matches!(decision, Decision::Stale(_)) {
        return Ok(());
    }
    let (event_type, dedupe) = match observed.status {
        ActionStatus::Succeeded => (
            ACTION_SUCCEEDED,
            format!(
                "reader:{}:{}:{}:succeeded",
                reader.id,
                observed.kind,
                observed.object.as_deref().unwrap_or("-")
            ),
        ),
        ActionStatus::Failed => (ACTION_FAILED, format!("reader:{}:{event_id}", reader.id)),
        ActionStatus::InProgress | ActionStatus::Canceled => return Ok(()),
    };
    let object = json!({
        "object": "reader_action",
        "reader_id": reader.id,
        "type": observed.kind,
        "status": observed.status.as_str(),
        "payment_id": payment_of_row(&after),
        "object_id": observed.object,
        "failure_code": observed.failure_code,
        "failure_message": observed.failure_message,
        "card": after.action_card.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok()),
        "version": after.action_version,
    });
    super::events::emit_reader_action(conn, &row.account_id, event_type, dedupe, object)
}

/// The payment (our id: its PaymentIntent's) the recorded action concerns: a payment action, or
/// the payment refunded on the reader.
pub fn payment_of_row(row: &ReaderActionRow) -> Option<String> {
    match row.action_type.as_deref() {
        Some(
            "process_payment_intent"
            | "collect_payment_method"
            | "confirm_payment_intent"
            | "refund_payment",
        ) => row.action_object.clone(),
        _ => None,
    }
}

/// What a wait found: the row, and whether it changed past the caller's cursor.
pub struct Waited {
    pub row: ReaderActionRow,
    pub changed: bool,
}

/// Waits until the account's reader's action version passes `after` (at once when it already
/// has, or when `after` is `None`), or `timeout` passes; answers the state then. Woken by
/// changes recorded in this process, and reads the row every [`POLL_INTERVAL`] for changes
/// recorded by another instance. Another account's reader is a 404.
pub async fn wait(
    services: &Services,
    external_account_id: String,
    reader_id: String,
    after: Option<i64>,
    timeout: Duration,
) -> Result<Waited, Error> {
    let account = super::accounts::get(&services.db, external_account_id).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // Registered before the read: a change recorded after it wakes this waiter.
        let notified = CHANGED.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (account_id, id) = (account.id.clone(), reader_id.clone());
        let row = services
            .db
            .run(move |conn| Ok::<_, Error>(db::terminal::action_of(conn, &account_id, &id)?))
            .await?
            .ok_or_else(|| Error::not_found("no such reader"))?;
        let changed = after.is_none_or(|a| row.action_version > a);
        let now = tokio::time::Instant::now();
        if changed || now >= deadline {
            return Ok(Waited { row, changed });
        }
        let until = deadline.min(now + POLL_INTERVAL);
        let _ = tokio::time::timeout_at(until, notified).await;
    }
}
