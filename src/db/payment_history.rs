//! `payment_history`: what happened to each payment, in order (append only).

use super::models::PaymentHistory;
use super::schema::payment_history;
use super::DbConnection;
use diesel::prelude::*;

pub fn insert(conn: &mut DbConnection, entry: &PaymentHistory) -> QueryResult<()> {
    on_backend!(conn, conn => {
        diesel::insert_into(payment_history::table)
            .values(entry)
            .execute(conn)
            .map(|_| ())
    })
}

/// The payment's entries, oldest first.
pub fn of_payment(conn: &mut DbConnection, payment_id: &str) -> QueryResult<Vec<PaymentHistory>> {
    on_backend!(conn, conn => {
        payment_history::table
            .filter(payment_history::payment_id.eq(payment_id))
            .order((payment_history::created_at.asc(), payment_history::id.asc()))
            .select(PaymentHistory::as_select())
            .load(conn)
    })
}

/// Whether the payment has an entry of `action`.
pub fn has_action(conn: &mut DbConnection, payment_id: &str, action: &str) -> QueryResult<bool> {
    on_backend!(conn, conn => {
        diesel::select(diesel::dsl::exists(
            payment_history::table
                .filter(payment_history::payment_id.eq(payment_id))
                .filter(payment_history::action.eq(action)),
        ))
        .get_result(conn)
    })
}
