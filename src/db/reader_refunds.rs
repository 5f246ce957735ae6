//! `reader_refunds`: refunds on a reader, written before Stripe is asked and completed with the
//! outcome (`reader_refund_state` decides which moves are legal; this module only stores).

use super::models::ReaderRefund;
use super::schema::reader_refunds;
use super::{DbConnection, Inserted};
use crate::money::MinorUnits;
use crate::reader_refund_state::ReaderRefundStatus;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Writes a new reader refund; `Duplicate` when the account already has one under the caller's
/// Idempotency-Key (a retry, or a concurrent request that wrote it first).
pub fn insert(conn: &mut DbConnection, row: &ReaderRefund) -> QueryResult<Inserted<()>> {
    let count = insert_or_skip!(
        conn,
        diesel::insert_into(reader_refunds::table).values(row.clone())
    )?;
    Ok(Inserted::from_count(count, ()))
}

/// The account's reader refund written under the caller's Idempotency-Key.
pub fn by_key(
    conn: &mut DbConnection,
    account_id: &str,
    idempotency_key: &str,
) -> QueryResult<Option<ReaderRefund>> {
    reader_refunds::table
        .filter(reader_refunds::account_id.eq(account_id))
        .filter(reader_refunds::idempotency_key.eq(idempotency_key))
        .select(ReaderRefund::as_select())
        .first(conn)
        .optional()
}

/// The account's reader refund with this id (`None`: unknown, or another account's).
pub fn find(
    conn: &mut DbConnection,
    account_id: &str,
    id: &str,
) -> QueryResult<Option<ReaderRefund>> {
    reader_refunds::table
        .filter(reader_refunds::id.eq(id))
        .filter(reader_refunds::account_id.eq(account_id))
        .select(ReaderRefund::as_select())
        .first(conn)
        .optional()
}

/// The reader refund with this id, whoever's (for Stripe's events, which the caller scopes).
pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ReaderRefund>> {
    reader_refunds::table
        .filter(reader_refunds::id.eq(id))
        .select(ReaderRefund::as_select())
        .first(conn)
        .optional()
}

/// The payment's pending reader refunds, oldest first.
pub fn pending_of(conn: &mut DbConnection, payment_id: &str) -> QueryResult<Vec<ReaderRefund>> {
    reader_refunds::table
        .filter(reader_refunds::payment_id.eq(payment_id))
        .filter(reader_refunds::status.eq(ReaderRefundStatus::Pending))
        .order((reader_refunds::created_at.asc(), reader_refunds::id.asc()))
        .select(ReaderRefund::as_select())
        .load(conn)
}

/// The amount of the payment's pending reader refunds (what they may still refund).
pub fn pending_total(conn: &mut DbConnection, payment_id: &str) -> QueryResult<MinorUnits> {
    let amounts = pending_of(conn, payment_id)?.into_iter().map(|r| r.amount);
    MinorUnits::checked_sum(amounts).ok_or_else(|| {
        diesel::result::Error::DeserializationError(
            format!("the reader refunds of payment {payment_id} overflow").into(),
        )
    })
}

/// Records the outcome of a pending reader refund (a final one is left alone: 0 rows).
pub fn complete(
    conn: &mut DbConnection,
    id: &str,
    status: ReaderRefundStatus,
    stripe_refund_id: Option<&str>,
    failure: Option<(&str, &str)>,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        reader_refunds::table
            .filter(reader_refunds::id.eq(id))
            .filter(reader_refunds::status.eq(ReaderRefundStatus::Pending)),
    )
    .set((
        reader_refunds::status.eq(status),
        reader_refunds::stripe_refund_id.eq(stripe_refund_id),
        reader_refunds::failure_code.eq(failure.map(|f| f.0)),
        reader_refunds::failure_message.eq(failure.map(|f| f.1)),
        reader_refunds::updated_at.eq(at),
    ))
    .execute(conn)
}

/// Cancels the payment's pending SDK reader refunds (a new one from the tablet supersedes them:
/// the SDK's outcome of an abandoned attempt never reaches us otherwise); how many.
pub fn supersede_pending_sdk(
    conn: &mut DbConnection,
    payment_id: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        reader_refunds::table
            .filter(reader_refunds::payment_id.eq(payment_id))
            .filter(reader_refunds::status.eq(ReaderRefundStatus::Pending))
            .filter(reader_refunds::stripe_reader_id.is_null()),
    )
    .set((
        reader_refunds::status.eq(ReaderRefundStatus::Canceled),
        reader_refunds::failure_code.eq("superseded"),
        reader_refunds::failure_message
            .eq("a newer reader refund of this payment was started on the tablet"),
        reader_refunds::updated_at.eq(at),
    ))
    .execute(conn)
}
