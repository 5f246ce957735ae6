//! The dispute state machine, in one place: the statuses a dispute goes through (Stripe's
//! dispute lifecycle), their order, and what an observation of the dispute at Stripe changes in
//! our row and announces to the merchant. [`decide`] is pure; `flows::disputes` runs it under the
//! row's write transaction.
//!
//! Rules:
//! - Statuses are ordered `warning_needs_response` < `warning_under_review` < `needs_response` <
//!   `under_review` < {`warning_closed`, `won`, `lost`, `prevented`}: an inquiry may escalate to a
//!   chargeback, never the reverse; the last four are final and never change. A status only moves
//!   forward, so a stale, repeated or out-of-order event is never applied backwards.
//! - `amount_withdrawn`, `amount_reinstated` and `fee` (from the dispute's balance transactions)
//!   only go up; the withdrawn and reinstated amounts never exceed the disputed amount.
//! - Each change is announced once: `dispute.created` with the first observation,
//!   `dispute.funds_withdrawn` / `dispute.funds_reinstated` when money first moves,
//!   `dispute.closed` on the move into a final status, `dispute.updated` for any other move or a
//!   new evidence submission.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

/// Where a dispute stands: Stripe's dispute statuses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow, Serialize, Deserialize,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    WarningNeedsResponse,
    WarningUnderReview,
    NeedsResponse,
    UnderReview,
    WarningClosed,
    Won,
    Lost,
    Prevented,
}

impl DisputeStatus {
    pub const ALL: [DisputeStatus; 8] = [
        DisputeStatus::WarningNeedsResponse,
        DisputeStatus::WarningUnderReview,
        DisputeStatus::NeedsResponse,
        DisputeStatus::UnderReview,
        DisputeStatus::WarningClosed,
        DisputeStatus::Won,
        DisputeStatus::Lost,
        DisputeStatus::Prevented,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::WarningNeedsResponse => "warning_needs_response",
            DisputeStatus::WarningUnderReview => "warning_under_review",
            DisputeStatus::NeedsResponse => "needs_response",
            DisputeStatus::UnderReview => "under_review",
            DisputeStatus::WarningClosed => "warning_closed",
            DisputeStatus::Won => "won",
            DisputeStatus::Lost => "lost",
            DisputeStatus::Prevented => "prevented",
        }
    }

    pub fn parse(s: &str) -> Option<DisputeStatus> {
        DisputeStatus::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Position in the lifecycle; the final statuses share the last rank.
    fn rank(self) -> u8 {
        match self {
            DisputeStatus::WarningNeedsResponse => 0,
            DisputeStatus::WarningUnderReview => 1,
            DisputeStatus::NeedsResponse => 2,
            DisputeStatus::UnderReview => 3,
            DisputeStatus::WarningClosed
            | DisputeStatus::Won
            | DisputeStatus::Lost
            | DisputeStatus::Prevented => 4,
        }
    }

    pub fn is_final(self) -> bool {
        self.rank() == 4
    }

    /// Evidence can still be given (or the loss accepted).
    pub fn needs_response(self) -> bool {
        matches!(
            self,
            DisputeStatus::WarningNeedsResponse | DisputeStatus::NeedsResponse
        )
    }
}

impl std::fmt::Display for DisputeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<DB> ToSql<Text, DB> for DisputeStatus
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.as_str().to_sql(out)
    }
}

impl<DB> FromSql<Text, DB> for DisputeStatus
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let s = String::from_sql(bytes)?;
        DisputeStatus::parse(&s).ok_or_else(|| format!("unknown dispute status '{s}'").into())
    }
}

/// What one observation of a dispute at Stripe says, in minor units (already checked: amounts
/// not negative, withdrawn and reinstated not above `amount`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub status: DisputeStatus,
    pub amount_withdrawn: i64,
    pub amount_reinstated: i64,
    pub fee: i64,
    pub submission_count: i64,
    pub evidence_due_by: Option<i64>,
}

/// The state of our row (`None`: not recorded yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub status: DisputeStatus,
    pub amount_withdrawn: i64,
    pub amount_reinstated: i64,
    pub fee: i64,
    pub submission_count: i64,
    pub evidence_due_by: Option<i64>,
}

/// What the row becomes and which merchant events announce it, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub after: Recorded,
    pub events: Vec<&'static str>,
}

/// Merges an observation into the row: statuses only forward, amounts only up.
pub fn decide(current: Option<&Recorded>, seen: &Observed) -> Decision {
    let mut events = Vec::new();
    let after = match current {
        None => {
            events.push("dispute.created");
            Recorded {
                status: seen.status,
                amount_withdrawn: seen.amount_withdrawn,
                amount_reinstated: seen.amount_reinstated,
                fee: seen.fee,
                submission_count: seen.submission_count,
                evidence_due_by: seen.evidence_due_by,
            }
        }
        Some(row) => {
            let status = if !row.status.is_final() && seen.status.rank() > row.status.rank() {
                seen.status
            } else {
                row.status
            };
            Recorded {
                status,
                amount_withdrawn: row.amount_withdrawn.max(seen.amount_withdrawn),
                amount_reinstated: row.amount_reinstated.max(seen.amount_reinstated),
                fee: row.fee.max(seen.fee),
                submission_count: row.submission_count.max(seen.submission_count),
                evidence_due_by: seen.evidence_due_by.or(row.evidence_due_by),
            }
        }
    };
    let before = current.cloned().unwrap_or(Recorded {
        status: after.status,
        amount_withdrawn: 0,
        amount_reinstated: 0,
        fee: 0,
        submission_count: after.submission_count,
        evidence_due_by: after.evidence_due_by,
    });
    if current.is_some()
        && !after.status.is_final()
        && (after.status != before.status
            || after.submission_count != before.submission_count
            || after.evidence_due_by != before.evidence_due_by)
    {
        events.push("dispute.updated");
    }
    if after.amount_withdrawn > before.amount_withdrawn {
        events.push("dispute.funds_withdrawn");
    }
    if after.amount_reinstated > before.amount_reinstated {
        events.push("dispute.funds_reinstated");
    }
    if after.status.is_final() && (current.is_none() || !before.status.is_final()) {
        events.push("dispute.closed");
    }
    Decision { after, events }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(status: DisputeStatus, withdrawn: i64, reinstated: i64) -> Observed {
        Observed {
            status,
            amount_withdrawn: withdrawn,
            amount_reinstated: reinstated,
            fee: if withdrawn > 0 { 1500 } else { 0 },
            submission_count: 0,
            evidence_due_by: Some(10),
        }
    }

    #[test]
    fn a_won_chargeback_announces_each_step_once_in_order() {
        let created = decide(None, &seen(DisputeStatus::NeedsResponse, 1000, 0));
        assert_eq!(
            created.events,
            ["dispute.created", "dispute.funds_withdrawn"]
        );
        let mut review = seen(DisputeStatus::UnderReview, 1000, 0);
        review.submission_count = 1;
        let reviewed = decide(Some(&created.after), &review);
        assert_eq!(reviewed.events, ["dispute.updated"]);
        let won = decide(Some(&reviewed.after), &seen(DisputeStatus::Won, 1000, 1000));
        assert_eq!(won.events, ["dispute.funds_reinstated", "dispute.closed"]);
        assert_eq!(won.after.submission_count, 1);
        // Repeats and stale observations change nothing.
        let again = decide(
            Some(&won.after),
            &seen(DisputeStatus::NeedsResponse, 1000, 0),
        );
        assert_eq!(again.after, won.after);
        assert!(again.events.is_empty());
    }

    #[test]
    fn the_close_arriving_first_announces_the_whole_life() {
        let first = decide(None, &seen(DisputeStatus::Lost, 1000, 0));
        assert_eq!(
            first.events,
            [
                "dispute.created",
                "dispute.funds_withdrawn",
                "dispute.closed"
            ]
        );
        let late = decide(
            Some(&first.after),
            &seen(DisputeStatus::NeedsResponse, 1000, 0),
        );
        assert!(late.events.is_empty());
        assert_eq!(late.after.status, DisputeStatus::Lost);
    }

    #[test]
    fn an_inquiry_may_escalate_but_not_go_back() {
        let inquiry = decide(None, &seen(DisputeStatus::WarningNeedsResponse, 0, 0));
        assert_eq!(inquiry.events, ["dispute.created"]);
        let escalated = decide(
            Some(&inquiry.after),
            &seen(DisputeStatus::NeedsResponse, 1000, 0),
        );
        assert_eq!(
            escalated.events,
            ["dispute.updated", "dispute.funds_withdrawn"]
        );
        let back = decide(
            Some(&escalated.after),
            &seen(DisputeStatus::WarningUnderReview, 0, 0),
        );
        assert_eq!(back.after.status, DisputeStatus::NeedsResponse);
        assert_eq!(back.after.amount_withdrawn, 1000);
        assert!(back.events.is_empty());
    }
}
