//! The payout state machine: Stripe's payout statuses and their order. `pending` <
//! `in_transit` < `paid` < {`failed`, `canceled`}: a status only moves forward, so a duplicated
//! or out-of-order `payout.*` event never moves a payout back (a `payout.paid` arriving after
//! `payout.failed` changes nothing). `paid` → `failed` is allowed because Stripe documents it (a
//! bank can return a payout after it was paid); `failed` and `canceled` are final.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

/// Where a payout stands: Stripe's payout statuses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow, Serialize, Deserialize,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    Pending,
    InTransit,
    Paid,
    Failed,
    Canceled,
}

impl PayoutStatus {
    pub const ALL: [PayoutStatus; 5] = [
        PayoutStatus::Pending,
        PayoutStatus::InTransit,
        PayoutStatus::Paid,
        PayoutStatus::Failed,
        PayoutStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Pending => "pending",
            PayoutStatus::InTransit => "in_transit",
            PayoutStatus::Paid => "paid",
            PayoutStatus::Failed => "failed",
            PayoutStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<PayoutStatus> {
        PayoutStatus::ALL.into_iter().find(|d| d.as_str() == s)
    }

    fn rank(self) -> u8 {
        match self {
            PayoutStatus::Pending => 0,
            PayoutStatus::InTransit => 1,
            PayoutStatus::Paid => 2,
            PayoutStatus::Failed | PayoutStatus::Canceled => 3,
        }
    }

    /// Whether a payout recorded as `self` may move to `next` (a repeat is no move).
    pub fn may_become(self, next: PayoutStatus) -> bool {
        next.rank() > self.rank()
    }

    /// The merchant event announcing the move into this status, if any.
    pub fn merchant_event(self) -> Option<&'static str> {
        match self {
            PayoutStatus::Paid => Some("payout.paid"),
            PayoutStatus::Failed => Some("payout.failed"),
            _ => None,
        }
    }
}

impl std::fmt::Display for PayoutStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<DB> ToSql<Text, DB> for PayoutStatus
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.as_str().to_sql(out)
    }
}

impl<DB> FromSql<Text, DB> for PayoutStatus
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let s = String::from_sql(bytes)?;
        PayoutStatus::parse(&s).ok_or_else(|| format!("unknown payout status '{s}'").into())
    }
}

#[cfg(test)]
mod tests {
    use super::PayoutStatus::*;

    #[test]
    fn statuses_only_move_forward() {
        assert!(Pending.may_become(Paid));
        assert!(Pending.may_become(Failed));
        assert!(Paid.may_become(Failed), "a bank may return a paid payout");
        assert!(!Failed.may_become(Paid));
        assert!(!Paid.may_become(Paid));
        assert!(!Paid.may_become(Pending));
        assert!(!Canceled.may_become(Failed));
        for s in super::PayoutStatus::ALL {
            assert_eq!(super::PayoutStatus::parse(s.as_str()), Some(s));
        }
    }
}
