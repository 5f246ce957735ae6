//! `payment_charge_methods`: how each payment was charged (`card_present`, `interac_present`),
//! as its charge says; kept apart from the payment row, which only the state machine changes.

use super::models::PaymentChargeMethod;
use super::schema::payment_charge_methods;
use super::DbConnection;
use diesel::prelude::*;

/// Records the payment's charge method (the first record stays: a charge's method never changes).
pub fn record(conn: &mut DbConnection, row: &PaymentChargeMethod) -> QueryResult<()> {
    insert_or_skip!(
        conn,
        diesel::insert_into(payment_charge_methods::table).values(row.clone())
    )
    .map(|_| ())
}

/// The method the payment was charged with, if known.
pub fn of_payment(conn: &mut DbConnection, payment_id: &str) -> QueryResult<Option<String>> {
    payment_charge_methods::table
        .filter(payment_charge_methods::payment_id.eq(payment_id))
        .select(payment_charge_methods::method_type)
        .first(conn)
        .optional()
}
