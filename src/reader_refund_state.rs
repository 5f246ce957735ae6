//! A refund on the reader, from our request to its outcome: `pending` while the reader (or the
//! tablet's SDK) collects the card, then `succeeded` (Stripe made the refund), `failed` (the
//! reader action failed: wrong card, declined, …) or `canceled` (the action was canceled before a
//! card was read). The last three are final: a stale or repeated observation never moves a
//! reader refund back, and a final one never changes.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum ReaderRefundStatus {
    Pending,
    Succeeded,
    Failed,
    Canceled,
}

impl ReaderRefundStatus {
    pub const ALL: [ReaderRefundStatus; 4] = [
        ReaderRefundStatus::Pending,
        ReaderRefundStatus::Succeeded,
        ReaderRefundStatus::Failed,
        ReaderRefundStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReaderRefundStatus::Pending => "pending",
            ReaderRefundStatus::Succeeded => "succeeded",
            ReaderRefundStatus::Failed => "failed",
            ReaderRefundStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<ReaderRefundStatus> {
        ReaderRefundStatus::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        self != ReaderRefundStatus::Pending
    }

    /// Whether a reader refund in `self` may become `next`: only out of `pending`.
    pub fn can_move_to(self, next: ReaderRefundStatus) -> bool {
        self == ReaderRefundStatus::Pending && next.is_final()
    }
}

impl std::fmt::Display for ReaderRefundStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<DB> ToSql<Text, DB> for ReaderRefundStatus
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.as_str().to_sql(out)
    }
}

impl<DB> FromSql<Text, DB> for ReaderRefundStatus
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let s = String::from_sql(bytes)?;
        ReaderRefundStatus::parse(&s)
            .ok_or_else(|| format!("unknown reader refund status '{s}'").into())
    }
}

#[cfg(test)]
mod tests {
    use super::ReaderRefundStatus::*;

    #[test]
    fn only_pending_moves_and_only_forward() {
        assert!(Pending.can_move_to(Succeeded));
        assert!(Pending.can_move_to(Failed));
        assert!(Pending.can_move_to(Canceled));
        assert!(!Pending.can_move_to(Pending));
        for done in [Succeeded, Failed, Canceled] {
            for next in [Pending, Succeeded, Failed, Canceled] {
                assert!(!done.can_move_to(next), "{done} -> {next}");
            }
        }
        for s in super::ReaderRefundStatus::ALL {
            assert_eq!(super::ReaderRefundStatus::parse(s.as_str()), Some(s));
        }
    }
}
