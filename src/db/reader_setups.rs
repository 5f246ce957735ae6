//! `reader_setups`: cards saved on a reader without a sale, one row per request
//! (`flows::reader_setup`); its status moves forward only, by compare-and-set on the status read.

use super::models::{now, Account, ReaderSetup};
use super::schema::{accounts, reader_setups};
use super::DbConnection;
use crate::reader_setup_state::SetupStatus;
use diesel::prelude::*;

pub fn insert(conn: &mut DbConnection, row: &ReaderSetup) -> QueryResult<()> {
    diesel::insert_into(reader_setups::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<ReaderSetup> {
    reader_setups::table
        .find(id)
        .select(ReaderSetup::as_select())
        .first(conn)
}

/// The account's row with this id.
pub fn find_of_account(
    conn: &mut DbConnection,
    account_id: &str,
    id: &str,
) -> QueryResult<Option<ReaderSetup>> {
    reader_setups::table
        .filter(reader_setups::id.eq(id))
        .filter(reader_setups::account_id.eq(account_id))
        .select(ReaderSetup::as_select())
        .first(conn)
        .optional()
}

/// The row of this SetupIntent (`seti_…`), with its account.
pub fn find_by_setup_intent(
    conn: &mut DbConnection,
    setup_intent: &str,
) -> QueryResult<Option<(ReaderSetup, Account)>> {
    reader_setups::table
        .inner_join(accounts::table)
        .filter(reader_setups::stripe_setup_intent_id.eq(setup_intent))
        .select((ReaderSetup::as_select(), Account::as_select()))
        .first(conn)
        .optional()
}

/// Row `id` with its account.
pub fn find_with_account(
    conn: &mut DbConnection,
    id: &str,
) -> QueryResult<Option<(ReaderSetup, Account)>> {
    reader_setups::table
        .inner_join(accounts::table)
        .filter(reader_setups::id.eq(id))
        .select((ReaderSetup::as_select(), Account::as_select()))
        .first(conn)
        .optional()
}

/// Records the SetupIntent created for the row (once; a row that has it keeps it).
pub fn record_setup_intent(
    conn: &mut DbConnection,
    id: &str,
    setup_intent: &str,
) -> QueryResult<()> {
    diesel::update(
        reader_setups::table
            .find(id)
            .filter(reader_setups::stripe_setup_intent_id.is_null()),
    )
    .set((
        reader_setups::stripe_setup_intent_id.eq(setup_intent),
        reader_setups::updated_at.eq(now()),
    ))
    .execute(conn)
    .map(|_| ())
}

/// What a move writes besides the status.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub card_id: Option<String>,
    pub failure_code: Option<String>,
    pub decline_code: Option<String>,
    pub failure_message: Option<String>,
}

/// Moves row `id` from `from` to `to` with its outcome, if it is still in `from`; whether it
/// moved.
pub fn advance(
    conn: &mut DbConnection,
    id: &str,
    from: SetupStatus,
    to: SetupStatus,
    outcome: &Outcome,
) -> QueryResult<bool> {
    diesel::update(
        reader_setups::table
            .find(id)
            .filter(reader_setups::status.eq(from)),
    )
    .set((
        reader_setups::status.eq(to),
        reader_setups::card_id.eq(&outcome.card_id),
        reader_setups::failure_code.eq(&outcome.failure_code),
        reader_setups::decline_code.eq(&outcome.decline_code),
        reader_setups::failure_message.eq(&outcome.failure_message),
        reader_setups::updated_at.eq(now()),
    ))
    .execute(conn)
    .map(|n| n == 1)
}
