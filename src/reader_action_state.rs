//! A reader's action state, in one place: what a server-driven action on a smart reader can be
//! (`in_progress`, then `succeeded`, `failed` or `canceled`), and whether an observation of it —
//! the answer to one of our requests, or a Stripe `terminal.reader.action_*` event — is news.
//! [`decide`] is pure; `flows::reader_events` runs it under the reader row's write transaction.
//!
//! Rules (an action is identified by its type and the object it concerns, e.g.
//! `process_payment_intent` of `pi_1`):
//! - For the same action, the status only moves forward: `in_progress` < every end (`failed`,
//!   `canceled`, `succeeded`). An end replaces another end only when newer (an answer to a request
//!   sent after the row last changed; an event not older than the one that set the row — on a tie
//!   `succeeded` wins). An `in_progress` after an end is a new attempt (the card declined, the
//!   till asks again): only our own request sent after the row last changed says so.
//! - Another action replaces the recorded one when it is newer: our request's answer if the row
//!   has not changed since the request was sent; an event if the recorded action has ended and the
//!   event is not older than it. An event never replaces an action in progress (a reader does one
//!   thing at a time: the current action ends with its own event or our cancel).
//! - `canceled` is ours: Stripe answers a cancel with no action; the row keeps the action that was
//!   cancelled, marked `canceled`.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

/// Where a reader's action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum ActionStatus {
    InProgress,
    Succeeded,
    Failed,
    /// Cancelled through our API (`cancel_action`).
    Canceled,
}

impl ActionStatus {
    pub const ALL: [ActionStatus; 4] = [
        ActionStatus::InProgress,
        ActionStatus::Succeeded,
        ActionStatus::Failed,
        ActionStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::InProgress => "in_progress",
            ActionStatus::Succeeded => "succeeded",
            ActionStatus::Failed => "failed",
            ActionStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<ActionStatus> {
        ActionStatus::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether the action is over.
    pub fn is_end(self) -> bool {
        self != ActionStatus::InProgress
    }

    /// The order among ends of the same action at the same time: a success is never undone.
    fn end_rank(self) -> u8 {
        match self {
            ActionStatus::InProgress => 0,
            ActionStatus::Canceled => 1,
            ActionStatus::Failed => 2,
            ActionStatus::Succeeded => 3,
        }
    }
}

impl std::fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<DB> ToSql<Text, DB> for ActionStatus
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.as_str().to_sql(out)
    }
}

impl<DB> FromSql<Text, DB> for ActionStatus
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let s = String::from_sql(bytes)?;
        ActionStatus::parse(&s).ok_or_else(|| format!("unknown reader action status '{s}'").into())
    }
}

/// The action recorded on the reader's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Stripe's action type (`process_payment_intent`, …).
    pub kind: String,
    pub object: Option<String>,
    pub status: ActionStatus,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// The card collected (JSON), for `collect_payment_method`.
    pub card: Option<String>,
    /// When the row last changed (our clock).
    pub updated_at: NaiveDateTime,
    /// The `created` of the Stripe event that set it (`None`: our answer did).
    pub stripe_created: Option<i64>,
}

/// Who says what the action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Stripe's answer to our request, sent at this time (our clock).
    Answer { requested_at: NaiveDateTime },
    /// A Stripe event, created at this time (Stripe's, seconds).
    Event { created: i64 },
}

/// One observation of the reader's action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub kind: String,
    pub object: Option<String>,
    pub status: ActionStatus,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub card: Option<String>,
    pub source: Source,
}

/// What [`decide`] concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// News: record it.
    Apply,
    /// Already recorded.
    Same,
    /// Older than what is recorded: nothing changes.
    Stale(&'static str),
}

impl Observed {
    fn same_action(&self, r: &Recorded) -> bool {
        self.kind == r.kind && self.object == r.object
    }

    fn same_facts(&self, r: &Recorded) -> bool {
        self.status == r.status
            && self.failure_code == r.failure_code
            && self.failure_message == r.failure_message
            && (self.card.is_none() || self.card == r.card)
    }
}

/// Whether `observed` is news against what the row records (`None`: nothing yet).
pub fn decide(recorded: Option<&Recorded>, observed: &Observed) -> Decision {
    let Some(r) = recorded else {
        return Decision::Apply;
    };
    // When the recorded action was set, on Stripe's clock when an event set it (else ours).
    let stamp = r
        .stripe_created
        .unwrap_or_else(|| r.updated_at.and_utc().timestamp());
    if observed.same_action(r) {
        if observed.same_facts(r) {
            return Decision::Same;
        }
        return match (observed.source, observed.status.is_end(), r.status.is_end()) {
            // Forward: the action ended.
            (_, true, false) => Decision::Apply,
            (Source::Answer { requested_at }, _, _) if requested_at > r.updated_at => {
                // Our request after the row last changed: a new attempt, or its outcome.
                Decision::Apply
            }
            (Source::Answer { .. }, _, _) => {
                Decision::Stale("the row changed after the request was sent")
            }
            (Source::Event { .. }, false, _) => {
                Decision::Stale("in progress again only by a request of ours")
            }
            (Source::Event { created }, true, _) => {
                // Another end of the same action: the newer one, a success on a tie.
                let newer = created > stamp
                    || (created == stamp && observed.status.end_rank() >= r.status.end_rank());
                if newer {
                    Decision::Apply
                } else {
                    Decision::Stale("an older end of the same action")
                }
            }
        };
    }
    match observed.source {
        Source::Answer { requested_at } if requested_at > r.updated_at => Decision::Apply,
        Source::Answer { .. } => Decision::Stale("the row changed after the request was sent"),
        Source::Event { .. } if !r.status.is_end() => {
            Decision::Stale("another action is in progress on the reader")
        }
        Source::Event { created } if created >= stamp => Decision::Apply,
        Source::Event { .. } => Decision::Stale("an event older than the recorded action"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(secs, 0)
            .unwrap()
            .naive_utc()
    }

    fn recorded(kind: &str, object: &str, status: ActionStatus, secs: i64) -> Recorded {
        Recorded {
            kind: kind.into(),
            object: Some(object.into()),
            status,
            failure_code: None,
            failure_message: None,
            card: None,
            updated_at: at(secs),
            stripe_created: None,
        }
    }

    fn observed(kind: &str, object: &str, status: ActionStatus, source: Source) -> Observed {
        Observed {
            kind: kind.into(),
            object: Some(object.into()),
            status,
            failure_code: None,
            failure_message: None,
            card: None,
            source,
        }
    }

    const P: &str = "process_payment_intent";
    use ActionStatus::*;

    #[test]
    fn statuses_round_trip() {
        for s in ActionStatus::ALL {
            assert_eq!(ActionStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ActionStatus::parse("done"), None);
    }

    #[test]
    fn an_end_is_never_undone_by_a_late_answer_or_event() {
        let done = recorded(P, "pi_1", Succeeded, 100);
        // Our answer (in progress) to a request sent before the event was recorded.
        let late = observed(
            P,
            "pi_1",
            InProgress,
            Source::Answer {
                requested_at: at(99),
            },
        );
        assert!(matches!(decide(Some(&done), &late), Decision::Stale(_)));
        // An in-progress state from an event never restarts an action.
        let event = observed(P, "pi_1", InProgress, Source::Event { created: 200 });
        assert!(matches!(decide(Some(&done), &event), Decision::Stale(_)));
        // A failure of the same second does not undo the success.
        let failed = observed(P, "pi_1", Failed, Source::Event { created: 100 });
        let mut by_event = done.clone();
        by_event.stripe_created = Some(100);
        assert!(matches!(
            decide(Some(&by_event), &failed),
            Decision::Stale(_)
        ));
        // The same again is nothing new.
        let again = observed(P, "pi_1", Succeeded, Source::Event { created: 100 });
        assert_eq!(decide(Some(&by_event), &again), Decision::Same);
    }

    #[test]
    fn an_action_moves_forward_and_a_new_attempt_restarts_it() {
        let started = recorded(P, "pi_1", InProgress, 100);
        let failed = observed(P, "pi_1", Failed, Source::Event { created: 90 });
        assert_eq!(decide(Some(&started), &failed), Decision::Apply);
        let declined = recorded(P, "pi_1", Failed, 101);
        let retry = observed(
            P,
            "pi_1",
            InProgress,
            Source::Answer {
                requested_at: at(102),
            },
        );
        assert_eq!(decide(Some(&declined), &retry), Decision::Apply);
        // The retry's success arriving before its answer: forward too.
        let mut by_event = declined.clone();
        by_event.stripe_created = Some(101);
        let ok = observed(P, "pi_1", Succeeded, Source::Event { created: 101 });
        assert_eq!(decide(Some(&by_event), &ok), Decision::Apply);
    }

    #[test]
    fn another_action_replaces_an_ended_one_but_not_one_in_progress() {
        let busy = recorded(P, "pi_2", InProgress, 100);
        let old = observed(P, "pi_1", Succeeded, Source::Event { created: 99 });
        assert!(matches!(decide(Some(&busy), &old), Decision::Stale(_)));
        let mut ended = recorded(P, "pi_1", Succeeded, 100);
        ended.stripe_created = Some(100);
        let next = observed(P, "pi_2", Succeeded, Source::Event { created: 100 });
        assert_eq!(decide(Some(&ended), &next), Decision::Apply);
        let older = observed(P, "pi_0", Failed, Source::Event { created: 98 });
        assert!(matches!(decide(Some(&ended), &older), Decision::Stale(_)));
        // Our own request's answer is the newest view unless the row changed since it was sent.
        let asked = observed(
            P,
            "pi_3",
            InProgress,
            Source::Answer {
                requested_at: at(101),
            },
        );
        assert_eq!(decide(Some(&ended), &asked), Decision::Apply);
        let overtaken = observed(
            P,
            "pi_3",
            InProgress,
            Source::Answer {
                requested_at: at(99),
            },
        );
        assert!(matches!(
            decide(Some(&ended), &overtaken),
            Decision::Stale(_)
        ));
        assert_eq!(decide(None, &overtaken), Decision::Apply);
    }
}
