//! `payment_readers`: the reader each payment was last handed to, and the reader's location then
//! (end-of-day totals by reader and location). Kept apart from the payment row, which only the
//! state machine changes after its insert.

use super::models::PaymentReader;
use super::schema::payment_readers;
use super::DbConnection;
use diesel::prelude::*;

/// Records (or replaces: the last reader wins) the reader of `row.payment_id`.
pub fn record(conn: &mut DbConnection, row: &PaymentReader) -> QueryResult<()> {
    let insert = diesel::insert_into(payment_readers::table).values(row);
    let replace = (
        payment_readers::stripe_reader_id.eq(&row.stripe_reader_id),
        payment_readers::stripe_location_id.eq(&row.stripe_location_id),
        payment_readers::processed_at.eq(row.processed_at),
    );
    match conn {
        DbConnection::Pg(pg) => insert
            .on_conflict(payment_readers::payment_id)
            .do_update()
            .set(replace)
            .execute(pg),
        DbConnection::Sqlite(sqlite) => insert
            .on_conflict(payment_readers::payment_id)
            .do_update()
            .set(replace)
            .execute(sqlite),
    }
    .map(|_| ())
}
