//! `payment_line_items`: what a payment paid for, written with the payment's row ([`insert`], in
//! its insert's transaction) and never changed.

use super::models::PaymentLineItem;
use super::schema::payment_line_items;
use super::DbConnection;
use diesel::prelude::*;

/// Inserts a payment's lines in one statement (a multi-row insert, which diesel's
/// `MultiConnection` only builds per backend).
pub fn insert(conn: &mut DbConnection, lines: &[PaymentLineItem]) -> QueryResult<()> {
    let insert = diesel::insert_into(payment_line_items::table).values(lines);
    match conn {
        DbConnection::Pg(pg) => insert.execute(pg),
        DbConnection::Sqlite(sqlite) => insert.execute(sqlite),
    }
    .map(|_| ())
}

/// A payment's lines, in their order.
pub fn of_payment(conn: &mut DbConnection, payment_id: &str) -> QueryResult<Vec<PaymentLineItem>> {
    payment_line_items::table
        .filter(payment_line_items::payment_id.eq(payment_id))
        .order(payment_line_items::position.asc())
        .select(PaymentLineItem::as_select())
        .load(conn)
}
