//! Where a card saved on a reader without a sale stands (`db::reader_setups`, `flows::reader_setup`):
//! `creating` (our row written, the SetupIntent being created) → `in_progress` (on the reader, or
//! handed to the tablet's SDK) → `succeeded` (a card saved), `failed` (the card was declined, the
//! reader failed or could not take it) or `canceled`. Statuses only move forward; `failed` may
//! still become `succeeded` (Stripe's SetupIntent decides: a retried card on the same intent
//! succeeded), nothing leaves `succeeded` or `canceled`.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow, Serialize)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum SetupStatus {
    Creating,
    InProgress,
    Failed,
    Succeeded,
    Canceled,
}

impl SetupStatus {
    pub const ALL: [SetupStatus; 5] = [
        SetupStatus::Creating,
        SetupStatus::InProgress,
        SetupStatus::Failed,
        SetupStatus::Succeeded,
        SetupStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SetupStatus::Creating => "creating",
            SetupStatus::InProgress => "in_progress",
            SetupStatus::Failed => "failed",
            SetupStatus::Succeeded => "succeeded",
            SetupStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<SetupStatus> {
        SetupStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Nothing moves on from it.
    pub fn is_final(self) -> bool {
        matches!(self, SetupStatus::Succeeded | SetupStatus::Canceled)
    }

    /// Whether a row in `self` may move to `next` (a repeat of the same status is no move).
    pub fn can_move_to(self, next: SetupStatus) -> bool {
        use SetupStatus::*;
        match (self, next) {
            (a, b) if a == b => false,
            (Creating, _) => true,
            (InProgress, Creating) => false,
            (InProgress, _) => true,
            (Failed, Succeeded | Canceled) => true,
            _ => false,
        }
    }
}

impl<DB> ToSql<Text, DB> for SetupStatus
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.as_str().to_sql(out)
    }
}

impl<DB> FromSql<Text, DB> for SetupStatus
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let s = String::from_sql(bytes)?;
        SetupStatus::parse(&s).ok_or_else(|| format!("unknown reader setup status '{s}'").into())
    }
}

#[cfg(test)]
mod tests {
    use super::SetupStatus::{self, *};

    #[test]
    fn statuses_only_move_forward() {
        for s in SetupStatus::ALL {
            assert_eq!(SetupStatus::parse(s.as_str()), Some(s));
            assert!(!s.can_move_to(s));
            assert!(!s.can_move_to(Creating));
        }
        assert!(Creating.can_move_to(InProgress));
        assert!(InProgress.can_move_to(Failed));
        assert!(Failed.can_move_to(Succeeded));
        assert!(!Failed.can_move_to(InProgress));
        for next in SetupStatus::ALL {
            assert!(!Succeeded.can_move_to(next));
            assert!(!Canceled.can_move_to(next));
        }
    }
}
