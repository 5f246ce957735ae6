//! The one path that changes a payment row after its insert. [`apply`] locks the row (reading
//! whether its account has a webhook endpoint in the same statement), asks the state machine
//! (`crate::payment_state::decide`) what the proposed update does, writes the row and appends the
//! history entry (one statement on PostgreSQL), and queues the merchant event, all in the
//! caller's transaction. A stale or forbidden update changes nothing and is recorded as an
//! `ignored` history entry saying what was refused. On PostgreSQL, [`apply_now`] first tries a
//! plain change as one guarded statement ([`apply_unlocked`]), which writes only what `apply`
//! would have written under the lock.

use super::Services;
use crate::db::models::{new_id, now, Payment, PaymentHistory};
use crate::db::{self, write_transaction, DbConnection};
use crate::error::Error;
use crate::money::MinorUnits;
use crate::payment_state::{decide, Decision, IntentState, PaymentStatus, PaymentUpdate, Source};
use stripe_client::PaymentIntent;

/// The action of history entries that record a refused update.
pub const IGNORED: &str = "ignored";

/// The row after an update, and whether the update changed it.
#[derive(Debug, Clone)]
pub struct Applied {
    pub payment: Payment,
    pub changed: bool,
}

/// Applies `update` to the payment `payment_id`. Must run inside a write transaction (the row stays
/// locked until it ends, so racing writers are serialised and each sees the other's result).
pub fn apply(
    conn: &mut DbConnection,
    payment_id: &str,
    update: PaymentUpdate,
    actor: &str,
) -> Result<Applied, Error> {
    let (current, has_webhook) = db::payments::lock_with_webhook(conn, payment_id)?;
    if let DbConnection::Pg(_) = conn {
        webhook_hint::learn(&current.account_id, has_webhook);
    }
    match decide(&current, &update, now()) {
        Decision::Same => Ok(Applied {
            payment: current,
            changed: false,
        }),
        Decision::Refused(why) => {
            log::warn!("payment {payment_id}: ignored an update by {actor}: {why}");
            insert_history(
                conn,
                &current,
                IGNORED,
                None,
                actor,
                Some(format!("refused: {why}")),
            )?;
            Ok(Applied {
                payment: current,
                changed: false,
            })
        }
        Decision::Change {
            after,
            action,
            amount,
            event,
        } => {
            let after = *after;
            let row_changed = changes_row(&current, &after);
            let entry = history_entry(&after, action, amount, actor, None);
            if row_changed {
                db::payments::record_state(conn, &after, &entry)?;
            } else {
                db::payment_history::insert(conn, &entry)?;
            }
            // Disputes that arrived before the payment was recorded: only possible for a charge
            // made before our row left `creating` (a Checkout payment, a saved-card charge, a
            // creation completed late), so looked for only when a row leaves `creating` with a
            // charge — not on a card-present intent's creation (no charge yet), nor later (its
            // intent was known before any charge, so its disputes find it).
            if adopts_disputes(&current, &after) {
                super::disputes::adopt(conn, &after)?;
            }
            // An account without a webhook endpoint is told nothing (`emit_payment` would read
            // the account again to find that out).
            if let Some(event) = event.filter(|_| has_webhook) {
                super::events::emit_payment(conn, &after, event)?;
            }
            Ok(Applied {
                payment: if row_changed { after } else { current },
                changed: true,
            })
        }
    }
}

/// Whether `after` differs from `current` in more than `updated_at` (else the change is only a
/// history entry).
fn changes_row(current: &Payment, after: &Payment) -> bool {
    Payment {
        updated_at: current.updated_at,
        ..after.clone()
    } != *current
}

/// Whether a change from `current` to `after` must look for disputes that arrived before the
/// payment was recorded (see [`apply`]).
fn adopts_disputes(current: &Payment, after: &Payment) -> bool {
    current.status == PaymentStatus::Creating && after.stripe_charge_id.is_some()
}

/// [`apply`] to the payment `seen` (the row as the caller last read it), in a transaction of its
/// own; on PostgreSQL a plain change first goes through [`apply_unlocked`].
pub async fn apply_now(
    services: &Services,
    seen: &Payment,
    update: PaymentUpdate,
    actor: &str,
) -> Result<Applied, Error> {
    let (seen, actor) = (seen.clone(), actor.to_string());
    services
        .db
        .run(move |conn| {
            if let Some(applied) = apply_unlocked(conn, &seen, &update, &actor)? {
                return Ok(applied);
            }
            write_transaction(conn, |conn| apply(conn, &seen.id, update, &actor))
        })
        .await
}

/// Whether an account has a webhook endpoint, as the last locked change of one of its payments
/// found (PostgreSQL only, the one reader): which changes [`apply_unlocked`] need not try. Only a
/// hint (the unlocked write checks the endpoint itself), so being stale or shared by everything
/// in the process costs at most a failed attempt or a locked change, never a wrong one.
mod webhook_hint {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    static HAS_WEBHOOK: Mutex<BTreeMap<String, bool>> = Mutex::new(BTreeMap::new());

    fn known() -> std::sync::MutexGuard<'static, BTreeMap<String, bool>> {
        HAS_WEBHOOK.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn learn(account_id: &str, has_webhook: bool) {
        let mut known = known();
        if known.get(account_id) != Some(&has_webhook) {
            known.insert(account_id.to_string(), has_webhook);
        }
    }

    pub fn has_webhook(account_id: &str) -> Option<bool> {
        known().get(account_id).copied()
    }
}

/// PostgreSQL: a change decided on `seen` (the caller's read of the row, not locked) that writes
/// nothing but the row and its history entry — one autocommit statement, written only if the row
/// is still `seen` and its account has no webhook endpoint (so no event to queue;
/// `db::payments::record_state_if_unchanged`). One round trip instead of four (`BEGIN`, the lock,
/// the write, `COMMIT`). `None` — nothing written — otherwise: a refused or unchanged update, a
/// dispute to adopt, a row that moved, an account with an endpoint, and always on SQLite (where
/// a statement costs no round trip); then [`apply`] runs under the lock and decides again.
fn apply_unlocked(
    conn: &mut DbConnection,
    seen: &Payment,
    update: &PaymentUpdate,
    actor: &str,
) -> Result<Option<Applied>, Error> {
    let DbConnection::Pg(pg) = conn else {
        return Ok(None);
    };
    if webhook_hint::has_webhook(&seen.account_id) == Some(true) {
        return Ok(None);
    }
    let Decision::Change {
        after,
        action,
        amount,
        ..
    } = decide(seen, update, now())
    else {
        return Ok(None);
    };
    let after = *after;
    if !changes_row(seen, &after) || adopts_disputes(seen, &after) {
        return Ok(None);
    }
    let entry = history_entry(&after, action, amount, actor, None);
    let written = db::payments::record_state_if_unchanged(pg, seen, &after, &entry)?;
    Ok(written.then_some(Applied {
        payment: after,
        changed: true,
    }))
}

/// Reads an intent Stripe showed us; `None` (logged, without secrets) if it contradicts itself.
pub fn observe(intent: &PaymentIntent) -> Option<IntentState> {
    match IntentState::from_intent(intent) {
        Ok(state) => Some(state),
        Err(why) => {
            log::warn!("PaymentIntent {} ignored: {why}", intent.id);
            None
        }
    }
}

/// Records what Stripe showed about `payment`'s intent (in a transaction of its own). An intent
/// that contradicts itself changes nothing.
pub async fn observe_intent(
    services: &Services,
    payment: Payment,
    intent: &PaymentIntent,
    source: Source,
    actor: &str,
) -> Result<Payment, Error> {
    let Some(state) = observe(intent) else {
        return Ok(payment);
    };
    apply_now(
        services,
        &payment,
        PaymentUpdate::Intent { state, source },
        actor,
    )
    .await
    .map(|applied| applied.payment)
}

/// Appends an entry, with the payment's status as it now is, to its history.
pub fn insert_history(
    conn: &mut DbConnection,
    payment: &Payment,
    action: &str,
    amount: Option<MinorUnits>,
    actor: &str,
    detail: Option<String>,
) -> Result<(), Error> {
    let entry = history_entry(payment, action, amount, actor, detail);
    db::payment_history::insert(conn, &entry)?;
    Ok(())
}

/// A history entry of `payment` as it now is.
pub fn history_entry(
    payment: &Payment,
    action: &str,
    amount: Option<MinorUnits>,
    actor: &str,
    detail: Option<String>,
) -> PaymentHistory {
    PaymentHistory {
        id: new_id(),
        payment_id: payment.id.clone(),
        action: action.to_string(),
        status: payment.status,
        amount,
        actor: actor.to_string(),
        created_at: now(),
        detail,
    }
}
