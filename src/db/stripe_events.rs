//! `stripe_events`: the Stripe events we stored (and applied), by event id, so each applies once.

use super::models::StripeEvent;
use super::schema::stripe_events;
use super::{DbConnection, Inserted};
use diesel::prelude::*;

pub fn exists(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    on_backend!(conn, conn => {
        diesel::select(diesel::dsl::exists(stripe_events::table.find(id))).get_result(conn)
    })
}

/// Stores the event; `Duplicate` when it is stored already.
pub fn insert(conn: &mut DbConnection, row: &StripeEvent) -> QueryResult<Inserted<()>> {
    let count = insert_or_skip!(conn, diesel::insert_into(stripe_events::table).values(row))?;
    Ok(Inserted::from_count(count, ()))
}

/// Those of `ids` that are stored.
pub fn known_among(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<String>> {
    on_backend!(conn, conn => {
        stripe_events::table
            .filter(stripe_events::id.eq_any(ids))
            .select(stripe_events::id)
            .load(conn)
    })
}
