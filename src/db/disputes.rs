//! `disputes`: the disputes of our payments as Stripe reported them (parked, without payment and
//! account, while no payment has recorded the disputed PaymentIntent).

use super::models::Dispute;
use super::schema::disputes;
use super::{DbConnection, Inserted};
use crate::dispute_state::DisputeStatus;
use diesel::prelude::*;

/// Inserts a new dispute; `Duplicate` if its Stripe id is already recorded.
pub fn insert(conn: &mut DbConnection, row: &Dispute) -> QueryResult<Inserted<()>> {
    let count = insert_or_skip!(
        conn,
        diesel::insert_into(disputes::table).values(row.clone())
    )?;
    Ok(Inserted::from_count(count, ()))
}

/// The dispute with this Stripe id, locked until the end of the transaction (PostgreSQL
/// `FOR UPDATE`; SQLite's write transactions already exclude each other).
pub fn lock_by_stripe_id(
    conn: &mut DbConnection,
    stripe_dispute_id: &str,
) -> QueryResult<Option<Dispute>> {
    match conn {
        DbConnection::Pg(pg) => disputes::table
            .filter(disputes::stripe_dispute_id.eq(stripe_dispute_id))
            .select(Dispute::as_select())
            .for_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(sqlite) => disputes::table
            .filter(disputes::stripe_dispute_id.eq(stripe_dispute_id))
            .select(Dispute::as_select())
            .first(sqlite)
            .optional(),
    }
}

pub fn update(conn: &mut DbConnection, row: &Dispute) -> QueryResult<()> {
    diesel::update(disputes::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(|_| ())
}

/// The account's dispute with this Stripe id.
pub fn find(
    conn: &mut DbConnection,
    account_id: &str,
    stripe_dispute_id: &str,
) -> QueryResult<Option<Dispute>> {
    disputes::table
        .filter(disputes::stripe_dispute_id.eq(stripe_dispute_id))
        .filter(disputes::account_id.eq(account_id))
        .select(Dispute::as_select())
        .first(conn)
        .optional()
}

/// The payment's disputes, newest first.
pub fn of_payment(conn: &mut DbConnection, payment_id: &str) -> QueryResult<Vec<Dispute>> {
    disputes::table
        .filter(disputes::payment_id.eq(payment_id))
        .order(disputes::id.desc())
        .select(Dispute::as_select())
        .load(conn)
}

/// The parked disputes of a PaymentIntent (no payment had recorded it when they arrived).
pub fn parked_for_intent(conn: &mut DbConnection, intent_id: &str) -> QueryResult<Vec<Dispute>> {
    disputes::table
        .filter(disputes::stripe_payment_intent_id.eq(intent_id))
        .filter(disputes::payment_id.is_null())
        .select(Dispute::as_select())
        .load(conn)
}

/// Filters of the account's dispute list.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    pub status: Option<DisputeStatus>,
    /// Our payment id.
    pub payment_id: Option<&'a str>,
    /// Only rows with a smaller (older) id than this one.
    pub before_id: Option<&'a str>,
    pub limit: i64,
}

/// The account's disputes, newest first.
pub fn list(
    conn: &mut DbConnection,
    account_id: &str,
    filter: &Filter<'_>,
) -> QueryResult<Vec<Dispute>> {
    let mut query = disputes::table
        .filter(disputes::account_id.eq(account_id))
        .select(Dispute::as_select())
        .order(disputes::id.desc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(before) = filter.before_id {
        query = query.filter(disputes::id.lt(before));
    }
    if let Some(status) = filter.status {
        query = query.filter(disputes::status.eq(status));
    }
    if let Some(payment) = filter.payment_id {
        query = query.filter(disputes::payment_id.eq(payment));
    }
    query.load(conn)
}
