//! `refunds`: the refunds of each payment, as Stripe created them, with their status.

use super::models::Refund;
use super::schema::{payments, refunds};
use super::DbConnection;
use crate::money::MinorUnits;
use diesel::prelude::*;

pub fn insert(conn: &mut DbConnection, row: &Refund) -> QueryResult<()> {
    diesel::insert_into(refunds::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Whether the Stripe refund is recorded.
pub fn exists(conn: &mut DbConnection, stripe_refund_id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        refunds::table.filter(refunds::stripe_refund_id.eq(stripe_refund_id)),
    ))
    .get_result(conn)
}

/// The amount of the payment's refunds that neither failed nor were canceled.
pub fn total_of(conn: &mut DbConnection, payment_id: &str) -> QueryResult<MinorUnits> {
    let amounts = refunds::table
        .filter(refunds::payment_id.eq(payment_id))
        .filter(refunds::status.ne_all(["failed", "canceled"]))
        .select(refunds::amount)
        .load::<MinorUnits>(conn)?;
    MinorUnits::checked_sum(amounts).ok_or_else(|| {
        diesel::result::Error::DeserializationError(
            format!("the refunds of payment {payment_id} overflow").into(),
        )
    })
}

/// The account (our id) of the payment the Stripe refund belongs to, if it is recorded.
pub fn owner_account_id(
    conn: &mut DbConnection,
    stripe_refund_id: &str,
) -> QueryResult<Option<String>> {
    refunds::table
        .inner_join(payments::table.on(payments::id.eq(refunds::payment_id)))
        .filter(refunds::stripe_refund_id.eq(stripe_refund_id))
        .select(payments::account_id)
        .first(conn)
        .optional()
}

/// The payment (our id) of the Stripe refund, if it is one of ours.
pub fn payment_of(conn: &mut DbConnection, stripe_refund_id: &str) -> QueryResult<Option<String>> {
    refunds::table
        .filter(refunds::stripe_refund_id.eq(stripe_refund_id))
        .select(refunds::payment_id)
        .first(conn)
        .optional()
}

pub fn set_status(
    conn: &mut DbConnection,
    stripe_refund_id: &str,
    status: &str,
) -> QueryResult<()> {
    diesel::update(refunds::table.filter(refunds::stripe_refund_id.eq(stripe_refund_id)))
        .set(refunds::status.eq(status))
        .execute(conn)
        .map(|_| ())
}

/// The payment's refunds, oldest first (what a receipt lists).
pub fn of_payment(conn: &mut DbConnection, payment_id: &str) -> QueryResult<Vec<Refund>> {
    refunds::table
        .filter(refunds::payment_id.eq(payment_id))
        .order((refunds::created_at.asc(), refunds::id.asc()))
        .select(Refund::as_select())
        .load(conn)
}
