//! The payment state machine, in one place: the statuses a payment goes through, their order,
//! which moves are legal, how the amounts may move, and which merchant event each change
//! announces. [`decide`] is pure: given the locked row and a proposed [`PaymentUpdate`] it says what
//! the row becomes, or why the update is refused. `flows::payment_updates::apply` is the only
//! writer of payment rows after their insert; it runs this under the row's lock.
//!
//! Rules:
//! - Statuses are ordered `creating` < `requires_payment_method` < `requires_confirmation` <
//!   `requires_action` < `processing` < `requires_capture` < {`succeeded`, `canceled`, `failed`}.
//!   A status only moves forward (strictly up this order); the last three are final and never
//!   change. A stale or repeated observation is therefore never applied.
//! - `amount` is what Stripe authorised (later: captured), tip included, and `amount_tip` the tip
//!   within it. Both are read from intents seen `requires_capture` or `succeeded` only (before the
//!   authorisation an intent's amount is a proposal: a declined card drops a reader tip again).
//!   They only grow, never shrink (a smaller amount seen is stale and left alone), never on a
//!   final payment. Growth is: a tip Stripe reports (`amount_details.tip`), up to the growth; on
//!   the move into `succeeded`, the rest is a capture above the authorisation (overcapture, how
//!   a tip "on receipt" is taken) and also tip; while `requires_capture`, the rest is an
//!   incremental authorisation (history `increment`, event `payment.amount_updated`).
//! - `amount_captured` is set once, from 0 to the captured amount, on the move into `succeeded`
//!   (never above the payment's amount as it then is), and never changes afterwards.
//! - The card's authorisation facts (`capture_before`, whether increments and overcapture are
//!   supported) are taken from the charge when an observation carries it (an expanded
//!   `latest_charge`), and kept when it does not; a change of facts alone is recorded too
//!   (history entry of the observer, no event).
//! - `amount_refunded` only goes up, never above `amount_captured`, and only on a `succeeded`
//!   payment.
//! - `amount_capturable` is the authorised amount while `requires_capture`, 0 in any other status.
//! - The PaymentIntent id is set once; an observation of another intent is refused.

use crate::db::models::Payment;
use crate::money::MinorUnits;
use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use stripe_client::{PaymentIntent, PaymentIntentStatus};

/// Where a payment stands. Stored as the same snake_case strings as Stripe's intent statuses
/// (plus our `creating` and `failed`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow, Serialize, Deserialize,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Our row exists; the PaymentIntent is being created.
    Creating,
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    /// Authorised, awaiting capture.
    RequiresCapture,
    /// Captured (final).
    Succeeded,
    /// Voided (final).
    Canceled,
    /// A declined saved-card charge (final; Stripe leaves such an intent awaiting a card).
    Failed,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 9] = [
        PaymentStatus::Creating,
        PaymentStatus::RequiresPaymentMethod,
        PaymentStatus::RequiresConfirmation,
        PaymentStatus::RequiresAction,
        PaymentStatus::Processing,
        PaymentStatus::RequiresCapture,
        PaymentStatus::Succeeded,
        PaymentStatus::Canceled,
        PaymentStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Creating => "creating",
            PaymentStatus::RequiresPaymentMethod => "requires_payment_method",
            PaymentStatus::RequiresConfirmation => "requires_confirmation",
            PaymentStatus::RequiresAction => "requires_action",
            PaymentStatus::Processing => "processing",
            PaymentStatus::RequiresCapture => "requires_capture",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Canceled => "canceled",
            PaymentStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Position in the order of states; the final states share the top.
    pub fn rank(self) -> u8 {
        match self {
            PaymentStatus::Creating => 0,
            PaymentStatus::RequiresPaymentMethod => 1,
            PaymentStatus::RequiresConfirmation => 2,
            PaymentStatus::RequiresAction => 3,
            PaymentStatus::Processing => 4,
            PaymentStatus::RequiresCapture => 5,
            PaymentStatus::Succeeded | PaymentStatus::Canceled | PaymentStatus::Failed => 6,
        }
    }

    pub fn is_final(self) -> bool {
        self.rank() == 6
    }

    /// Whether the status may move from `self` to `next`: strictly forward, never out of a final
    /// state.
    pub fn can_move_to(self, next: PaymentStatus) -> bool {
        !self.is_final() && next.rank() > self.rank()
    }

    /// Our status for a Stripe intent status (`None`: one this code does not know).
    pub fn from_intent(status: &PaymentIntentStatus) -> Option<PaymentStatus> {
        match status {
            PaymentIntentStatus::Unknown(_) => None,
            known => PaymentStatus::parse(known.as_str()),
        }
    }

    /// The merchant event announcing a move into this status.
    pub fn event(self) -> Option<&'static str> {
        match self {
            PaymentStatus::RequiresCapture => Some("payment.authorized"),
            PaymentStatus::Succeeded => Some("payment.captured"),
            PaymentStatus::Canceled => Some("payment.canceled"),
            PaymentStatus::Failed => Some("payment.failed"),
            _ => None,
        }
    }
}

impl std::fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for PaymentStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<DB> ToSql<Text, DB> for PaymentStatus
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.as_str().to_sql(out)
    }
}

impl<DB> FromSql<Text, DB> for PaymentStatus
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let s = String::from_sql(bytes)?;
        PaymentStatus::parse(&s).ok_or_else(|| format!("unknown payment status '{s}'").into())
    }
}

/// What a PaymentIntent says, checked for consistency (see [`IntentState::from_intent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentState {
    pub intent_id: String,
    pub status: PaymentStatus,
    /// The intent's amount (tip and increments included).
    pub amount: MinorUnits,
    /// `amount_details.tip.amount`, when Stripe reports one.
    pub tip: Option<MinorUnits>,
    pub amount_capturable: MinorUnits,
    pub amount_received: MinorUnits,
    pub latest_charge: Option<String>,
    /// The card's authorisation facts, when the intent came with its charge expanded.
    pub authorization: Option<Authorization>,
}

/// What the charge says of the authorisation (`payment_method_details.card_present`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authorization {
    pub capture_before: Option<NaiveDateTime>,
    pub incremental_authorization_supported: bool,
    pub overcapture_supported: bool,
}

impl Authorization {
    /// From a charge's card-present (or Interac) details, if it has them.
    pub fn of_charge(charge: &stripe_client::Charge) -> Option<Authorization> {
        let details = charge.payment_method_details.as_ref()?;
        let cp = details
            .card_present
            .as_ref()
            .or(details.interac_present.as_ref())?;
        Some(Authorization {
            capture_before: cp
                .capture_before
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|t| t.naive_utc()),
            incremental_authorization_supported: cp.incremental_authorization_supported,
            overcapture_supported: cp.overcapture_supported,
        })
    }
}

impl IntentState {
    /// Reads an intent, refusing (with the reason) an unknown status or amounts that contradict
    /// each other: negative, above the intent's amount, capturable outside `requires_capture`,
    /// received outside `succeeded` or nothing received on a `succeeded` intent.
    pub fn from_intent(intent: &PaymentIntent) -> Result<IntentState, String> {
        let status = PaymentStatus::from_intent(&intent.status)
            .ok_or_else(|| format!("unknown intent status '{}'", intent.status.as_str()))?;
        let (amount, capturable, received) = match (
            MinorUnits::new(intent.amount),
            MinorUnits::new(intent.amount_capturable),
            MinorUnits::new(intent.amount_received),
        ) {
            (Ok(amount), Ok(capturable), Ok(received)) if !amount.is_zero() => {
                (amount, capturable, received)
            }
            _ => {
                return Err(format!(
                    "negative or zero amounts (amount {}, capturable {}, received {})",
                    intent.amount, intent.amount_capturable, intent.amount_received
                ))
            }
        };
        if capturable > amount || received > amount {
            return Err(format!(
                "amounts above the intent's amount {amount} (capturable {capturable}, received {received})"
            ));
        }
        if !capturable.is_zero() && status != PaymentStatus::RequiresCapture {
            return Err(format!(
                "amount_capturable {capturable} on a '{status}' intent"
            ));
        }
        if received.is_zero() == (status == PaymentStatus::Succeeded) {
            return Err(format!("amount_received {received} on a '{status}' intent"));
        }
        let tip = match intent.tip().map(MinorUnits::new) {
            None => None,
            Some(Ok(tip)) if tip <= amount => Some(tip),
            Some(_) => {
                return Err(format!(
                    "a tip of {:?} on an amount of {amount}",
                    intent.tip()
                ))
            }
        };
        Ok(IntentState {
            intent_id: intent.id.clone(),
            status,
            amount,
            tip,
            amount_capturable: capturable,
            amount_received: received,
            latest_charge: intent.latest_charge.as_ref().map(|c| c.id().to_string()),
            authorization: intent
                .latest_charge
                .as_ref()
                .and_then(|c| c.as_object())
                .and_then(Authorization::of_charge),
        })
    }
}

/// Who observed an intent's state: it names the history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Our creation request or a read of the intent (`sync`).
    Sync,
    /// Our capture request.
    Capture,
    /// Our void request.
    Cancel,
    /// A Stripe webhook (or an event the reconciler replayed).
    Webhook,
    /// A completed Checkout Session.
    Checkout,
}

impl Source {
    fn action(self) -> &'static str {
        match self {
            Source::Sync => "sync",
            Source::Capture => "capture",
            Source::Cancel => "cancel",
            Source::Webhook => "webhook",
            Source::Checkout => "checkout",
        }
    }
}

/// A proposed change of a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentUpdate {
    /// Stripe's view of the intent (an answer to create, retrieve, capture or cancel; a webhook).
    Intent { state: IntentState, source: Source },
    /// A saved-card charge was declined: the payment is over.
    Failed {
        intent_id: String,
        code: String,
        decline_code: Option<String>,
    },
    /// A card-present attempt was declined; the intent awaits another card.
    Declined { intent_id: String },
    /// Stripe's (or our) total refunded so far.
    Refunded { total: MinorUnits },
    /// The authorisation's capture deadline is near.
    Expiring,
    /// The card declined raising the authorisation to `amount`: nothing changes but Stripe's
    /// count of attempts, recorded in the history.
    IncrementDeclined {
        intent_id: String,
        amount: MinorUnits,
        decline_code: Option<String>,
    },
}

/// What [`decide`] concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Apply: the row as it becomes, the history entry and the merchant event.
    Change {
        after: Box<Payment>,
        action: &'static str,
        amount: Option<MinorUnits>,
        event: Option<&'static str>,
    },
    /// Already so: nothing to write.
    Same,
    /// Not a legal move: nothing changes, the refusal is recorded.
    Refused(String),
}

/// The payment's amount and tip after seeing `state`, when the authorised amount grew (`None`:
/// unchanged). Only an authorised or captured intent's amount counts; a smaller one is stale.
fn grown_amounts(current: &Payment, state: &IntentState) -> Option<(MinorUnits, MinorUnits)> {
    if !matches!(
        state.status,
        PaymentStatus::RequiresCapture | PaymentStatus::Succeeded
    ) {
        return None;
    }
    let growth = state
        .amount
        .checked_sub(current.amount)
        .filter(|g| !g.is_zero())?;
    // A tip Stripe reports, as far as it is news and within the growth.
    let reader_tip = state
        .tip
        .unwrap_or(MinorUnits::ZERO)
        .saturating_sub(current.amount_tip)
        .min(growth);
    let rest = growth.saturating_sub(reader_tip);
    // Above the authorisation at capture: a tip on receipt. Still authorised: an increment.
    let on_receipt = if state.status == PaymentStatus::Succeeded {
        rest
    } else {
        MinorUnits::ZERO
    };
    let tip = current
        .amount_tip
        .checked_add(reader_tip)?
        .checked_add(on_receipt)?;
    Some((state.amount, tip))
}

/// Decides what `update` does to the row `current` (locked by the caller), at time `at`.
pub fn decide(current: &Payment, update: &PaymentUpdate, at: NaiveDateTime) -> Decision {
    let cur = current.status;
    let other_intent = |id: &str| {
        current
            .stripe_payment_intent_id
            .as_deref()
            .is_some_and(|ours| ours != id)
    };
    match update {
        PaymentUpdate::Intent { state, source } => {
            if other_intent(&state.intent_id) {
                return Decision::Refused(format!(
                    "intent {} is not this payment's",
                    state.intent_id
                ));
            }
            let next = state.status;
            let moves = next != cur;
            if moves && !cur.can_move_to(next) {
                return Decision::Refused(format!("{next} after {cur}"));
            }
            // Within a status, only an authorisation can change (it grows, its facts arrive).
            // A smaller authorisation than ours is an older view of it.
            if !moves && (cur != PaymentStatus::RequiresCapture || state.amount < current.amount) {
                return Decision::Same;
            }
            let grown = grown_amounts(current, state);
            let (amount, amount_tip) = grown.unwrap_or((current.amount, current.amount_tip));
            if state.amount_received > amount || state.amount_capturable > amount {
                return Decision::Refused(format!(
                    "{next} with amounts above the payment's {amount} (capturable {}, received {})",
                    state.amount_capturable, state.amount_received
                ));
            }
            let captured = next == PaymentStatus::Succeeded && moves;
            let authorization = state.authorization;
            let after = Payment {
                stripe_payment_intent_id: Some(state.intent_id.clone()),
                status: next,
                amount,
                amount_tip,
                amount_capturable: if next == PaymentStatus::RequiresCapture {
                    state.amount_capturable
                } else {
                    MinorUnits::ZERO
                },
                amount_captured: if captured {
                    state.amount_received
                } else {
                    current.amount_captured
                },
                stripe_charge_id: state
                    .latest_charge
                    .clone()
                    .or_else(|| current.stripe_charge_id.clone()),
                capture_before: authorization.map_or(current.capture_before, |a| a.capture_before),
                incremental_authorization_supported: authorization
                    .map(|a| a.incremental_authorization_supported)
                    .or(current.incremental_authorization_supported),
                overcapture_supported: authorization
                    .map(|a| a.overcapture_supported)
                    .or(current.overcapture_supported),
                updated_at: at,
                ..current.clone()
            };
            if moves {
                return Decision::Change {
                    after: Box::new(after),
                    action: source.action(),
                    amount: captured.then_some(state.amount_received),
                    event: next.event(),
                };
            }
            // The same status: an increment, or news of the authorisation, or nothing.
            let unchanged = Payment {
                updated_at: current.updated_at,
                ..after.clone()
            } == *current;
            if unchanged {
                return Decision::Same;
            }
            let incremented = after.amount > current.amount;
            Decision::Change {
                after: Box::new(after),
                action: if incremented {
                    "increment"
                } else {
                    source.action()
                },
                amount: incremented.then_some(amount),
                event: incremented.then_some("payment.amount_updated"),
            }
        }
        PaymentUpdate::Failed {
            intent_id,
            code,
            decline_code,
        } => {
            if cur == PaymentStatus::Failed {
                return Decision::Same;
            }
            if other_intent(intent_id) {
                return Decision::Refused(format!("intent {intent_id} is not this payment's"));
            }
            if cur.is_final() {
                return Decision::Refused(format!("failed after {cur}"));
            }
            let after = Payment {
                stripe_payment_intent_id: Some(intent_id.clone()),
                status: PaymentStatus::Failed,
                amount_capturable: MinorUnits::ZERO,
                failure_code: Some(code.clone()),
                decline_code: decline_code.clone(),
                updated_at: at,
                ..current.clone()
            };
            Decision::Change {
                after: Box::new(after),
                action: "charge",
                amount: Some(current.amount),
                event: Some("payment.failed"),
            }
        }
        PaymentUpdate::Declined { intent_id } => {
            if other_intent(intent_id) {
                return Decision::Refused(format!("intent {intent_id} is not this payment's"));
            }
            // A decline is news only while nothing later happened; a saved-card decline is
            // recorded (as failed) by the charge request itself.
            if cur.rank() > PaymentStatus::RequiresPaymentMethod.rank() {
                return Decision::Refused(format!("a decline after {cur}"));
            }
            if current.stripe_payment_method_id.is_some() {
                return Decision::Same;
            }
            let after = Payment {
                stripe_payment_intent_id: Some(intent_id.clone()),
                status: PaymentStatus::RequiresPaymentMethod,
                amount_capturable: MinorUnits::ZERO,
                updated_at: at,
                ..current.clone()
            };
            Decision::Change {
                after: Box::new(after),
                action: "declined",
                amount: None,
                event: Some("payment.failed"),
            }
        }
        PaymentUpdate::Refunded { total } => {
            if cur != PaymentStatus::Succeeded {
                return Decision::Refused(format!("a refund of {total} on a {cur} payment"));
            }
            if *total > current.amount_captured {
                return Decision::Refused(format!(
                    "refunded {total} above the captured {}",
                    current.amount_captured
                ));
            }
            // Never down; equal is a repeat.
            let Some(added) = total
                .checked_sub(current.amount_refunded)
                .filter(|added| !added.is_zero())
            else {
                return Decision::Same;
            };
            let after = Payment {
                amount_refunded: *total,
                updated_at: at,
                ..current.clone()
            };
            Decision::Change {
                after: Box::new(after),
                action: "refund",
                amount: Some(added),
                event: Some("payment.refunded"),
            }
        }
        PaymentUpdate::IncrementDeclined { intent_id, .. } if other_intent(intent_id) => {
            Decision::Refused(format!("intent {intent_id} is not this payment's"))
        }
        PaymentUpdate::IncrementDeclined { amount, .. } => {
            if cur != PaymentStatus::RequiresCapture {
                return Decision::Refused(format!("an increment declined after {cur}"));
            }
            Decision::Change {
                after: Box::new(current.clone()),
                action: "increment_declined",
                amount: Some(*amount),
                event: None,
            }
        }
        PaymentUpdate::Expiring => {
            if cur != PaymentStatus::RequiresCapture {
                return Decision::Refused(format!("expiring after {cur}"));
            }
            Decision::Change {
                after: Box::new(current.clone()),
                action: "expiring",
                amount: None,
                event: Some("payment.authorization_expiring"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::models::now;
    use PaymentStatus::*;

    fn units(minor: i64) -> MinorUnits {
        MinorUnits::new(minor).unwrap()
    }

    fn refunded(total: i64) -> PaymentUpdate {
        PaymentUpdate::Refunded {
            total: units(total),
        }
    }

    fn payment(status: PaymentStatus) -> Payment {
        Payment {
            stripe_payment_intent_id: Some("pi_1".into()),
            status,
            amount_capturable: units(if status == RequiresCapture { 1000 } else { 0 }),
            amount_captured: units(if status == Succeeded { 1000 } else { 0 }),
            ..Payment::sample()
        }
    }

    fn seen(status: PaymentStatus, capturable: i64, received: i64) -> PaymentUpdate {
        PaymentUpdate::Intent {
            state: IntentState {
                intent_id: "pi_1".into(),
                status,
                amount: units(1000.max(capturable).max(received)),
                tip: None,
                amount_capturable: units(capturable),
                amount_received: units(received),
                latest_charge: Some("ch_1".into()),
                authorization: None,
            },
            source: Source::Webhook,
        }
    }

    #[test]
    fn statuses_round_trip_as_their_strings() {
        for s in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(PaymentStatus::parse("pwned"), None);
    }

    #[test]
    fn only_forward_moves_out_of_non_final_states() {
        for from in PaymentStatus::ALL {
            for to in PaymentStatus::ALL {
                let allowed = from.can_move_to(to);
                assert_eq!(
                    allowed,
                    !from.is_final() && to.rank() > from.rank(),
                    "{from} → {to}"
                );
            }
        }
        assert!(!Succeeded.can_move_to(Canceled));
        assert!(!RequiresCapture.can_move_to(RequiresPaymentMethod));
        assert!(RequiresPaymentMethod.can_move_to(Succeeded));
    }

    #[test]
    fn a_stale_intent_never_overwrites_a_capture() {
        let captured = payment(Succeeded);
        let d = decide(&captured, &seen(RequiresPaymentMethod, 0, 0), now());
        assert!(matches!(d, Decision::Refused(_)), "{d:?}");
        let d = decide(&captured, &seen(RequiresCapture, 1000, 0), now());
        assert!(matches!(d, Decision::Refused(_)), "{d:?}");
        assert_eq!(
            decide(&captured, &seen(Succeeded, 0, 0), now()),
            Decision::Same
        );
    }

    #[test]
    fn capture_sets_the_captured_amount_once() {
        let authorised = payment(RequiresCapture);
        let Decision::Change { after, event, .. } =
            decide(&authorised, &seen(Succeeded, 0, 600), now())
        else {
            panic!("capture refused")
        };
        assert_eq!(
            (
                after.status,
                after.amount_captured,
                after.amount_capturable,
                event
            ),
            (
                Succeeded,
                units(600),
                MinorUnits::ZERO,
                Some("payment.captured")
            )
        );
        // A late, smaller capture of the same payment changes nothing.
        let Decision::Change { after, .. } = decide(&authorised, &seen(Succeeded, 0, 600), now())
        else {
            panic!()
        };
        assert_eq!(
            decide(&after, &seen(Succeeded, 0, 500), now()),
            Decision::Same
        );
    }

    fn with(update: PaymentUpdate, change: impl FnOnce(&mut IntentState)) -> PaymentUpdate {
        let PaymentUpdate::Intent { mut state, source } = update else {
            panic!()
        };
        change(&mut state);
        PaymentUpdate::Intent { state, source }
    }

    #[test]
    fn a_reader_tip_raises_the_amount_and_is_recorded_apart() {
        let waiting = payment(RequiresPaymentMethod);
        let tipped = with(seen(RequiresCapture, 1195, 0), |s| s.tip = Some(units(195)));
        let Decision::Change { after, event, .. } = decide(&waiting, &tipped, now()) else {
            panic!()
        };
        assert_eq!(
            (
                after.amount,
                after.amount_tip,
                after.amount_capturable,
                event
            ),
            (
                units(1195),
                units(195),
                units(1195),
                Some("payment.authorized")
            )
        );
        // Before the authorisation an intent's amount is not what was authorised.
        let proposed = with(seen(RequiresConfirmation, 0, 0), |s| {
            s.amount = units(1195);
            s.tip = Some(units(195));
        });
        let Decision::Change { after, .. } = decide(&waiting, &proposed, now()) else {
            panic!()
        };
        assert_eq!(
            (after.amount, after.amount_tip),
            (units(1000), MinorUnits::ZERO)
        );
    }

    #[test]
    fn an_overcapture_is_a_tip_on_receipt() {
        let authorised = Payment {
            amount: units(1195),
            amount_tip: units(195),
            amount_capturable: units(1195),
            ..payment(RequiresCapture)
        };
        let captured = with(seen(Succeeded, 0, 1500), |s| s.tip = Some(units(195)));
        let Decision::Change { after, amount, .. } = decide(&authorised, &captured, now()) else {
            panic!()
        };
        assert_eq!(
            (
                after.amount,
                after.amount_tip,
                after.amount_captured,
                amount
            ),
            (units(1500), units(500), units(1500), Some(units(1500)))
        );
    }

    #[test]
    fn increments_grow_the_authorisation_never_shrink_it() {
        let authorised = payment(RequiresCapture);
        let facts = Authorization {
            capture_before: Some(now()),
            incremental_authorization_supported: true,
            overcapture_supported: false,
        };
        let raised = with(seen(RequiresCapture, 2500, 0), |s| {
            s.authorization = Some(facts)
        });
        let Decision::Change {
            after,
            action,
            amount,
            event,
        } = decide(&authorised, &raised, now())
        else {
            panic!()
        };
        assert_eq!(
            (
                after.amount,
                after.amount_tip,
                after.amount_capturable,
                action,
                amount,
                event
            ),
            (
                units(2500),
                MinorUnits::ZERO,
                units(2500),
                "increment",
                Some(units(2500)),
                Some("payment.amount_updated")
            )
        );
        assert_eq!(after.incremental_authorization_supported, Some(true));
        assert_eq!(after.capture_before, facts.capture_before);
        // Seen again, or an older (smaller) view: nothing changes.
        assert_eq!(decide(&after, &raised, now()), Decision::Same);
        let stale = with(seen(RequiresCapture, 1000, 0), |s| {
            s.authorization = Some(facts)
        });
        assert_eq!(decide(&after, &stale, now()), Decision::Same);
        // The facts alone are news once, without an event.
        let learned = with(seen(RequiresCapture, 1000, 0), |s| {
            s.authorization = Some(facts)
        });
        let Decision::Change { after, event, .. } = decide(&authorised, &learned, now()) else {
            panic!()
        };
        assert_eq!((after.overcapture_supported, event), (Some(false), None));
    }

    #[test]
    fn refunds_only_go_up_to_the_captured_amount() {
        let captured = payment(Succeeded);
        assert!(matches!(
            decide(&captured, &refunded(1001), now()),
            Decision::Refused(_)
        ));
        let Decision::Change { after, amount, .. } = decide(&captured, &refunded(400), now())
        else {
            panic!()
        };
        assert_eq!(
            (after.amount_refunded, amount),
            (units(400), Some(units(400)))
        );
        assert_eq!(decide(&after, &refunded(300), now()), Decision::Same);
        assert!(matches!(
            decide(&payment(RequiresCapture), &refunded(1), now()),
            Decision::Refused(_)
        ));
    }

    proptest::proptest! {
        /// Whatever totals are reported, in whatever order: the refunded amount only rises, never
        /// above the captured one, and the history's refund entries add up to it.
        #[test]
        fn refunded_only_rises_up_to_captured(totals in proptest::collection::vec(0i64..1500, 0..20)) {
            let mut row = payment(Succeeded);
            let mut announced = MinorUnits::ZERO;
            for total in totals {
                match decide(&row, &refunded(total), now()) {
                    Decision::Change { after, amount, .. } => {
                        proptest::prop_assert!(after.amount_refunded > row.amount_refunded);
                        proptest::prop_assert_eq!(after.amount_refunded, units(total));
                        proptest::prop_assert_eq!(after.amount_captured, row.amount_captured);
                        announced = announced.checked_add(amount.unwrap()).unwrap();
                        row = *after;
                    }
                    Decision::Same => proptest::prop_assert!(units(total) <= row.amount_refunded),
                    Decision::Refused(_) => {
                        proptest::prop_assert!(units(total) > row.amount_captured)
                    }
                }
                proptest::prop_assert!(row.amount_refunded <= row.amount_captured);
            }
            proptest::prop_assert_eq!(announced, row.amount_refunded);
        }
    }

    #[test]
    fn expiring_only_while_authorised() {
        assert!(matches!(
            decide(&payment(Succeeded), &PaymentUpdate::Expiring, now()),
            Decision::Refused(_)
        ));
        assert!(matches!(
            decide(&payment(RequiresCapture), &PaymentUpdate::Expiring, now()),
            Decision::Change { .. }
        ));
    }

    #[test]
    fn another_intent_is_refused() {
        let mut update = seen(RequiresCapture, 1000, 0);
        if let PaymentUpdate::Intent { state, .. } = &mut update {
            state.intent_id = "pi_other".into();
        }
        assert!(matches!(
            decide(&payment(RequiresPaymentMethod), &update, now()),
            Decision::Refused(_)
        ));
    }
}
