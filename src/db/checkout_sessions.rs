//! `checkout_sessions`: the Checkout Sessions we created, in setup mode (save a card) or payment
//! mode (pay for a reference), and how each ended: [`CREATING`] until Stripe answered, then
//! [`OPEN`], at last [`COMPLETE`] (with the saved card or the recorded payment) or [`EXPIRED`].

use super::models::{now, Account, CheckoutSessionRow};
use super::schema::{accounts, checkout_sessions};
use super::DbConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Session modes.
pub const SETUP: &str = "setup";
pub const PAYMENT: &str = "payment";

/// Our status while the session is being created; afterwards, Stripe's.
pub const CREATING: &str = "creating";
pub const OPEN: &str = "open";
pub const COMPLETE: &str = "complete";
pub const EXPIRED: &str = "expired";

pub fn insert(conn: &mut DbConnection, row: &CheckoutSessionRow) -> QueryResult<()> {
    diesel::insert_into(checkout_sessions::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<CheckoutSessionRow> {
    checkout_sessions::table
        .find(id)
        .select(CheckoutSessionRow::as_select())
        .first(conn)
}

/// Row `id` of this mode, with its account.
pub fn find_with_account(
    conn: &mut DbConnection,
    id: &str,
    mode: &str,
) -> QueryResult<Option<(CheckoutSessionRow, Account)>> {
    checkout_sessions::table
        .inner_join(accounts::table)
        .filter(checkout_sessions::id.eq(id))
        .filter(checkout_sessions::mode.eq(mode))
        .select((CheckoutSessionRow::as_select(), Account::as_select()))
        .first(conn)
        .optional()
}

/// The row of this Stripe session (`cs_…`), with its account.
pub fn find_by_stripe_id(
    conn: &mut DbConnection,
    stripe_session_id: &str,
) -> QueryResult<Option<(CheckoutSessionRow, Account)>> {
    checkout_sessions::table
        .inner_join(accounts::table)
        .filter(checkout_sessions::stripe_checkout_session_id.eq(stripe_session_id))
        .select((CheckoutSessionRow::as_select(), Account::as_select()))
        .first(conn)
        .optional()
}

/// The account's row of this mode for this Stripe session.
pub fn find_of_account(
    conn: &mut DbConnection,
    account_id: &str,
    stripe_session_id: &str,
    mode: &str,
) -> QueryResult<Option<CheckoutSessionRow>> {
    checkout_sessions::table
        .filter(checkout_sessions::account_id.eq(account_id))
        .filter(checkout_sessions::stripe_checkout_session_id.eq(stripe_session_id))
        .filter(checkout_sessions::mode.eq(mode))
        .select(CheckoutSessionRow::as_select())
        .first(conn)
        .optional()
}

/// Records the Stripe session created for a `creating` row (a row that moved on meanwhile is
/// left as it is).
pub fn record_created(
    conn: &mut DbConnection,
    id: &str,
    stripe_session_id: &str,
    status: &str,
    expires_at: Option<NaiveDateTime>,
) -> QueryResult<()> {
    diesel::update(
        checkout_sessions::table
            .find(id)
            .filter(checkout_sessions::status.eq(CREATING)),
    )
    .set((
        checkout_sessions::stripe_checkout_session_id.eq(stripe_session_id),
        checkout_sessions::status.eq(status),
        checkout_sessions::expires_at.eq(expires_at),
        checkout_sessions::updated_at.eq(now()),
    ))
    .execute(conn)
    .map(|_| ())
}

/// Moves an unfinished (`creating` or `open`) row to `status`.
pub fn finish(conn: &mut DbConnection, id: &str, status: &str) -> QueryResult<()> {
    diesel::update(
        checkout_sessions::table
            .find(id)
            .filter(checkout_sessions::status.eq_any([CREATING, OPEN])),
    )
    .set((
        checkout_sessions::status.eq(status),
        checkout_sessions::updated_at.eq(now()),
    ))
    .execute(conn)
    .map(|_| ())
}

/// Sets row `id` to `status`, whatever it was.
pub fn set_status(conn: &mut DbConnection, id: &str, status: &str) -> QueryResult<()> {
    diesel::update(checkout_sessions::table.find(id))
        .set((
            checkout_sessions::status.eq(status),
            checkout_sessions::updated_at.eq(now()),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Completes a setup session with the card it saved, unless it has one already.
pub fn record_card(conn: &mut DbConnection, id: &str, card_id: &str) -> QueryResult<()> {
    diesel::update(
        checkout_sessions::table
            .find(id)
            .filter(checkout_sessions::card_id.is_null()),
    )
    .set((
        checkout_sessions::status.eq(COMPLETE),
        checkout_sessions::card_id.eq(card_id),
        checkout_sessions::updated_at.eq(now()),
    ))
    .execute(conn)
    .map(|_| ())
}

/// Completes a payment session with the payment it recorded.
pub fn record_payment(conn: &mut DbConnection, id: &str, payment_id: &str) -> QueryResult<()> {
    diesel::update(checkout_sessions::table.find(id))
        .set((
            checkout_sessions::status.eq(COMPLETE),
            checkout_sessions::payment_id.eq(payment_id),
            checkout_sessions::updated_at.eq(now()),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Whether a payment session of the account for `reference` completed.
pub fn is_reference_paid(
    conn: &mut DbConnection,
    account_id: &str,
    reference: &str,
) -> QueryResult<bool> {
    let paid: i64 = checkout_sessions::table
        .filter(checkout_sessions::account_id.eq(account_id))
        .filter(checkout_sessions::mode.eq(PAYMENT))
        .filter(checkout_sessions::reference.eq(reference))
        .filter(checkout_sessions::status.eq(COMPLETE))
        .count()
        .get_result(conn)?;
    Ok(paid > 0)
}

/// The account's unfinished payment sessions for `reference` created before row `before_id`,
/// oldest first.
pub fn unfinished_before(
    conn: &mut DbConnection,
    account_id: &str,
    reference: &str,
    before_id: &str,
) -> QueryResult<Vec<CheckoutSessionRow>> {
    checkout_sessions::table
        .filter(checkout_sessions::account_id.eq(account_id))
        .filter(checkout_sessions::mode.eq(PAYMENT))
        .filter(checkout_sessions::reference.eq(reference))
        .filter(checkout_sessions::id.lt(before_id))
        .filter(checkout_sessions::status.eq_any([CREATING, OPEN]))
        .order(checkout_sessions::id.asc())
        .select(CheckoutSessionRow::as_select())
        .load(conn)
}
