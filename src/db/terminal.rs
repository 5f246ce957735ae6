//! `terminal_locations` and `terminal_readers`: the Stripe Terminal locations and readers each
//! account registered through us.

use super::models::{TerminalLocation, TerminalReader};
use super::schema::{terminal_locations, terminal_readers};
use super::DbConnection;
use diesel::prelude::*;

pub fn insert_location(conn: &mut DbConnection, row: &TerminalLocation) -> QueryResult<()> {
    diesel::insert_into(terminal_locations::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The account's locations, newest first.
pub fn locations_of(
    conn: &mut DbConnection,
    account_id: &str,
) -> QueryResult<Vec<TerminalLocation>> {
    terminal_locations::table
        .filter(terminal_locations::account_id.eq(account_id))
        .order(terminal_locations::id.desc())
        .select(TerminalLocation::as_select())
        .load(conn)
}

/// Whether the account registered this Stripe location.
pub fn has_location(
    conn: &mut DbConnection,
    account_id: &str,
    stripe_location_id: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        terminal_locations::table
            .filter(terminal_locations::account_id.eq(account_id))
            .filter(terminal_locations::stripe_location_id.eq(stripe_location_id)),
    ))
    .get_result(conn)
}

pub fn insert_reader(conn: &mut DbConnection, row: &TerminalReader) -> QueryResult<()> {
    diesel::insert_into(terminal_readers::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The account's readers, newest first.
pub fn readers_of(conn: &mut DbConnection, account_id: &str) -> QueryResult<Vec<TerminalReader>> {
    terminal_readers::table
        .filter(terminal_readers::account_id.eq(account_id))
        .order(terminal_readers::id.desc())
        .select(TerminalReader::as_select())
        .load(conn)
}

/// The account's reader with this Stripe id.
pub fn find_reader(
    conn: &mut DbConnection,
    account_id: &str,
    stripe_reader_id: &str,
) -> QueryResult<Option<TerminalReader>> {
    terminal_readers::table
        .filter(terminal_readers::account_id.eq(account_id))
        .filter(terminal_readers::stripe_reader_id.eq(stripe_reader_id))
        .select(TerminalReader::as_select())
        .first(conn)
        .optional()
}
