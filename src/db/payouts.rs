//! `payouts` and `payout_items`: our merchants' Stripe payouts and the balance transactions each
//! paid out, matched to our payments and refunds.

use super::models::{Payout, PayoutItem};
use super::schema::{payout_items, payouts};
use super::{DbConnection, Inserted};
use crate::payout_state::PayoutStatus;
use diesel::prelude::*;

/// Inserts a new payout; `Duplicate` if its Stripe id is already recorded.
pub fn insert(conn: &mut DbConnection, row: &Payout) -> QueryResult<Inserted<()>> {
    let count = insert_or_skip!(
        conn,
        diesel::insert_into(payouts::table).values(row.clone())
    )?;
    Ok(Inserted::from_count(count, ()))
}

/// The payout with this Stripe id, locked until the end of the transaction (PostgreSQL
/// `FOR UPDATE`; SQLite's write transactions already exclude each other).
pub fn lock_by_stripe_id(
    conn: &mut DbConnection,
    stripe_payout_id: &str,
) -> QueryResult<Option<Payout>> {
    match conn {
        DbConnection::Pg(pg) => payouts::table
            .filter(payouts::stripe_payout_id.eq(stripe_payout_id))
            .select(Payout::as_select())
            .for_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(sqlite) => payouts::table
            .filter(payouts::stripe_payout_id.eq(stripe_payout_id))
            .select(Payout::as_select())
            .first(sqlite)
            .optional(),
    }
}

pub fn update(conn: &mut DbConnection, row: &Payout) -> QueryResult<()> {
    diesel::update(payouts::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(|_| ())
}

/// The account's payout with this Stripe id.
pub fn find(
    conn: &mut DbConnection,
    account_id: &str,
    stripe_payout_id: &str,
) -> QueryResult<Option<Payout>> {
    payouts::table
        .filter(payouts::stripe_payout_id.eq(stripe_payout_id))
        .filter(payouts::account_id.eq(account_id))
        .select(Payout::as_select())
        .first(conn)
        .optional()
}

/// Filters of the account's payout list.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    pub status: Option<PayoutStatus>,
    /// Only rows with a smaller (older) id than this one.
    pub before_id: Option<&'a str>,
    pub limit: i64,
}

/// The account's payouts, newest first.
pub fn list(
    conn: &mut DbConnection,
    account_id: &str,
    filter: &Filter<'_>,
) -> QueryResult<Vec<Payout>> {
    let mut query = payouts::table
        .filter(payouts::account_id.eq(account_id))
        .select(Payout::as_select())
        .order(payouts::id.desc())
        .limit(filter.limit)
        .into_boxed();
    if let Some(before) = filter.before_id {
        query = query.filter(payouts::id.lt(before));
    }
    if let Some(status) = filter.status {
        query = query.filter(payouts::status.eq(status));
    }
    query.load(conn)
}

/// Stores a payout's items (each balance transaction once per payout).
pub fn insert_items(conn: &mut DbConnection, items: &[PayoutItem]) -> QueryResult<()> {
    for item in items {
        insert_or_skip!(
            conn,
            diesel::insert_into(payout_items::table).values(item.clone())
        )?;
    }
    Ok(())
}

/// The items of several payouts (a page of the list) in one statement, each payout's in the order
/// Stripe listed them.
pub fn items_of(conn: &mut DbConnection, payout_ids: &[&str]) -> QueryResult<Vec<PayoutItem>> {
    payout_items::table
        .filter(payout_items::payout_id.eq_any(payout_ids))
        .order((payout_items::payout_id.asc(), payout_items::id.asc()))
        .select(PayoutItem::as_select())
        .load(conn)
}

/// A payout's items, in the order Stripe listed them.
pub fn items(conn: &mut DbConnection, payout_id: &str) -> QueryResult<Vec<PayoutItem>> {
    payout_items::table
        .filter(payout_items::payout_id.eq(payout_id))
        .order(payout_items::id.asc())
        .select(PayoutItem::as_select())
        .load(conn)
}
