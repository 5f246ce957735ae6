//! Aggregates over an account's payments for the merchant's back office (`GET /v1/reports/totals`):
//! one `GROUP BY` statement per report, served by the `payments_listed_created` index (the
//! account's listed payments by `created_at`), never a walk of the rows in Rust.
//!
//! What is summed is the table [`MEASURES`]: a new measure (a column summed, a case counted) is
//! one line there, and the JSON answer and its OpenAPI schema list the measures
//! from that table. [`NET`] says which amounts make up the net.

use super::DbConnection;
use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, QueryableByName};
use diesel::prelude::*;
use diesel::row::NamedRow;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

/// What a measure's number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of payments.
    Count,
    /// Minor units of the group's currency.
    Amount,
}

/// One aggregate of a totals row: its name (the JSON field and the SQL alias), its unit, and an
/// aggregate expression over the group's payments `p` (and their reader row `r`).
#[derive(Debug)]
pub struct Measure {
    pub name: &'static str,
    pub unit: Unit,
    sql: &'static str,
}

const fn count(name: &'static str, sql: &'static str) -> Measure {
    Measure {
        name,
        unit: Unit::Count,
        sql,
    }
}

const fn amount(name: &'static str, sql: &'static str) -> Measure {
    Measure {
        name,
        unit: Unit::Amount,
        sql,
    }
}

/// Every measure of a totals row, in the order the API shows them. Sales are captured money;
/// refunds are the refunded part of those payments (counted once per refunded payment); voids are
/// canceled payments. Add a measure here (one line) and it is selected, returned and documented.
pub const MEASURES: &[Measure] = &[
    count("payments_count", "COUNT(*)"),
    count(
        "sales_count",
        "COUNT(CASE WHEN p.amount_captured > 0 THEN 1 END)",
    ),
    amount("sales_amount", "SUM(p.amount_captured)"),
    // The tips within those sales (on the reader or on receipt); part of `sales_amount`.
    amount(
        "tips_amount",
        "SUM(CASE WHEN p.amount_captured > 0 THEN p.amount_tip ELSE 0 END)",
    ),
    count(
        "refunds_count",
        "COUNT(CASE WHEN p.amount_refunded > 0 THEN 1 END)",
    ),
    amount("refunds_amount", "SUM(p.amount_refunded)"),
    count(
        "voids_count",
        "COUNT(CASE WHEN p.status = 'canceled' THEN 1 END)",
    ),
    // Disputes of those payments (by `disputes_payment`): how many payments were disputed, and
    // what the disputes took back so far (withdrawn less reinstated; an inquiry takes nothing).
    count(
        "disputes_count",
        // A scalar subquery, not EXISTS: PostgreSQL may turn an EXISTS into one hashed scan of
        // every dispute; this one is a probe of the index per payment.
        "COUNT(CASE WHEN (SELECT COUNT(*) FROM disputes d WHERE d.payment_id = p.id) > 0 THEN 1 END)",
    ),
    amount(
        "disputes_amount",
        "SUM((SELECT COALESCE(SUM(d.amount_withdrawn - d.amount_reinstated), 0) \
         FROM disputes d WHERE d.payment_id = p.id))",
    ),
];

/// The net (`net_amount`): each amount measure named here, added (+1) or taken off (-1): what
/// the sales brought in, less refunds and less what disputes took back (before Stripe's fees).
pub const NET: &[(&str, i64)] = &[
    ("sales_amount", 1),
    ("refunds_amount", -1),
    ("disputes_amount", -1),
];

/// What the rows of a report are grouped by (always also by currency).
#[derive(Debug, Clone, Copy)]
pub enum Grouping<'a> {
    /// By day: the instants (ascending, UTC) at which the window's second, third… day begin. The
    /// group key is the day's index, `"0"` for the day the window starts in.
    Day(&'a [NaiveDateTime]),
    /// The Stripe location of the reader the payment was last handed to.
    Location,
    /// The Stripe reader the payment was last handed to.
    Reader,
    /// The cashier given with the intent.
    Cashier,
    Currency,
}

/// One group's totals in one currency. `values` are in the order of [`MEASURES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalsRow {
    /// NULL: payments without a value for the grouping (no reader, no cashier…).
    pub group_key: Option<String>,
    pub currency: String,
    pub values: Vec<i64>,
}

impl TotalsRow {
    /// The value of the measure `name`.
    pub fn value(&self, name: &str) -> Option<i64> {
        MEASURES
            .iter()
            .position(|m| m.name == name)
            .map(|i| self.values[i])
    }
}

impl<DB> QueryableByName<DB> for TotalsRow
where
    DB: Backend,
    String: FromSql<Text, DB>,
    Option<String>: FromSql<Nullable<Text>, DB>,
    i64: FromSql<BigInt, DB>,
{
    fn build<'a>(row: &impl NamedRow<'a, DB>) -> deserialize::Result<Self> {
        Ok(TotalsRow {
            group_key: NamedRow::get::<Nullable<Text>, Option<String>>(row, "group_key")?,
            currency: NamedRow::get::<Text, String>(row, "currency")?,
            values: MEASURES
                .iter()
                .map(|m| NamedRow::get::<BigInt, i64>(row, m.name))
                .collect::<deserialize::Result<_>>()?,
        })
    }
}

/// The account's listed payments (those with a PaymentIntent) created in `[since, until)`, summed
/// per group of `grouping` and currency, in one statement. Groups without payments are absent.
pub fn totals(
    conn: &mut DbConnection,
    account_id: &str,
    since: NaiveDateTime,
    until: NaiveDateTime,
    grouping: Grouping<'_>,
) -> QueryResult<Vec<TotalsRow>> {
    let pg = matches!(conn, DbConnection::Pg(_));
    // Numbered parameters on both backends (`$n`; SQLite's `?n`), bound in number order.
    let param = |n: usize| if pg { format!("${n}") } else { format!("?{n}") };
    let (key, join) = match grouping {
        Grouping::Day(starts) => (day_index(0, starts.len(), 4, &param), ""),
        Grouping::Location => ("r.stripe_location_id".to_string(), READERS),
        Grouping::Reader => ("r.stripe_reader_id".to_string(), READERS),
        Grouping::Cashier => ("p.external_cashier_id".to_string(), ""),
        Grouping::Currency => ("p.currency".to_string(), ""),
    };
    let measures: Vec<String> = MEASURES
        .iter()
        .map(|m| format!("CAST(COALESCE({}, 0) AS BIGINT) AS {}", m.sql, m.name))
        .collect();
    let sql = format!(
        "SELECT {key} AS group_key, p.currency AS currency, {measures} \
         FROM payments p{join} \
         WHERE p.account_id = {account} AND p.stripe_payment_intent_id IS NOT NULL \
         AND p.created_at >= {since} AND p.created_at < {until} \
         GROUP BY 1, 2",
        measures = measures.join(", "),
        account = param(1),
        since = param(2),
        until = param(3),
    );
    let mut query = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Text, _>(account_id.to_string())
        .bind::<Timestamp, _>(since)
        .bind::<Timestamp, _>(until);
    if let Grouping::Day(starts) = grouping {
        for start in starts {
            query = query.bind::<Timestamp, _>(*start);
        }
    }
    query.load(conn)
}

/// The reader each payment was last handed to (one probe of its primary key per payment).
const READERS: &str = " LEFT JOIN payment_readers r ON r.payment_id = p.id";

/// The index of the day `p.created_at` falls in, among days `lo..=hi` whose starts (day `i`
/// begins at parameter `first_param + i - 1`; day 0 at the window's start) are compared: a
/// balanced tree of `CASE`s, so each row is placed in log2(days) comparisons and the expression
/// stays shallow however long the window.
fn day_index(lo: usize, hi: usize, first_param: usize, param: &dyn Fn(usize) -> String) -> String {
    if lo == hi {
        // After the start of day `lo` (or the window's own start, for day 0).
        return format!("'{lo}'");
    }
    let mid = (lo + hi) / 2;
    format!(
        "CASE WHEN p.created_at < {} THEN {} ELSE {} END",
        param(first_param + mid),
        day_index(lo, mid, first_param, param),
        day_index(mid + 1, hi, first_param, param),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment_state::PaymentStatus;

    #[test]
    fn the_void_measure_names_the_canceled_status() {
        assert_eq!(PaymentStatus::Canceled.as_str(), "canceled");
        assert!(MEASURES
            .iter()
            .any(|m| m.sql.contains(&format!("'{}'", PaymentStatus::Canceled))));
    }

    #[test]
    fn the_net_is_made_of_amount_measures() {
        for (name, sign) in NET {
            let m = MEASURES
                .iter()
                .find(|m| m.name == *name)
                .expect("a measure");
            assert_eq!(m.unit, Unit::Amount, "{name}");
            assert!(*sign == 1 || *sign == -1);
        }
    }

    #[test]
    fn days_are_found_by_a_balanced_tree_of_comparisons() {
        let param = |n: usize| format!("${n}");
        assert_eq!(day_index(0, 0, 4, &param), "'0'");
        assert_eq!(
            day_index(0, 2, 4, &param),
            "CASE WHEN p.created_at < $5 THEN CASE WHEN p.created_at < $4 THEN '0' ELSE '1' END ELSE '2' END"
        );
        let sql = day_index(0, 366, 4, &param);
        assert_eq!(sql.matches("CASE WHEN").count(), 366);
        for day in 0..=366 {
            assert!(sql.contains(&format!("'{day}'")), "day {day}");
        }
    }
}
