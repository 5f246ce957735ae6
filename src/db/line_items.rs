//! `payment_line_items`: what a payment paid for, written with the payment's row ([`insert`], in
//! its insert's transaction) and never changed.

use super::models::PaymentLineItem;
use super::schema::payment_line_items;
use super::DbConnection;
use diesel::prelude::*;

/// Inserts a payment's lines, inside the caller's transaction: one multi-row statement on
/// PostgreSQL; a statement per line on SQLite (diesel's SQLite batch insert opens a transaction
/// of its own, which cannot nest in ours; in-process, the statements are cheap).
pub fn insert(conn: &mut DbConnection, lines: &[PaymentLineItem]) -> QueryResult<()> {
    match conn {
        DbConnection::Pg(pg) => diesel::insert_into(payment_line_items::table)
            .values(lines)
            .execute(pg)
            .map(|_| ()),
        DbConnection::Sqlite(sqlite) => lines.iter().try_for_each(|line| {
            diesel::insert_into(payment_line_items::table)
                .values(line)
                .execute(sqlite)
                .map(|_| ())
        }),
    }
}

/// A payment's lines, in their order.
pub fn of_payment(conn: &mut DbConnection, payment_id: &str) -> QueryResult<Vec<PaymentLineItem>> {
    on_backend!(conn, conn => {
        payment_line_items::table
            .filter(payment_line_items::payment_id.eq(payment_id))
            .order(payment_line_items::position.asc())
            .select(PaymentLineItem::as_select())
            .load(conn)
    })
}
