//! `terminal_locations` and `terminal_readers`: the Stripe Terminal locations and readers each
//! account registered through us.

use super::models::{ReaderActionRow, TerminalLocation, TerminalReader};
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

/// The account's readers (at `location` if given), newest first.
pub fn readers_of(
    conn: &mut DbConnection,
    account_id: &str,
    location: Option<&str>,
) -> QueryResult<Vec<TerminalReader>> {
    let mut query = terminal_readers::table
        .filter(terminal_readers::account_id.eq(account_id))
        .into_boxed();
    if let Some(location) = location {
        query = query.filter(terminal_readers::stripe_location_id.eq(location));
    }
    query
        .order(terminal_readers::id.desc())
        .select(TerminalReader::as_select())
        .load(conn)
}

pub fn set_reader_label(conn: &mut DbConnection, id: &str, label: Option<&str>) -> QueryResult<()> {
    diesel::update(terminal_readers::table.find(id))
        .set(terminal_readers::label.eq(label))
        .execute(conn)
        .map(|_| ())
}

pub fn delete_reader(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(terminal_readers::table.find(id))
        .execute(conn)
        .map(|_| ())
}

/// The account's location with this Stripe id.
pub fn find_location(
    conn: &mut DbConnection,
    account_id: &str,
    stripe_location_id: &str,
) -> QueryResult<Option<TerminalLocation>> {
    terminal_locations::table
        .filter(terminal_locations::account_id.eq(account_id))
        .filter(terminal_locations::stripe_location_id.eq(stripe_location_id))
        .select(TerminalLocation::as_select())
        .first(conn)
        .optional()
}

pub fn set_location_name(conn: &mut DbConnection, id: &str, display_name: &str) -> QueryResult<()> {
    diesel::update(terminal_locations::table.find(id))
        .set(terminal_locations::display_name.eq(display_name))
        .execute(conn)
        .map(|_| ())
}

pub fn delete_location(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::delete(terminal_locations::table.find(id))
        .execute(conn)
        .map(|_| ())
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

/// A reader's action state, by our row id, locked for the rest of the transaction on PostgreSQL
/// (racing recorders of the same reader are serialised; SQLite has one writer at a time).
pub fn lock_action(conn: &mut DbConnection, id: &str) -> QueryResult<ReaderActionRow> {
    match conn {
        DbConnection::Pg(pg) => terminal_readers::table
            .find(id)
            .select(ReaderActionRow::as_select())
            .for_update()
            .first(pg),
        DbConnection::Sqlite(sqlite) => terminal_readers::table
            .find(id)
            .select(ReaderActionRow::as_select())
            .first(sqlite),
    }
}

/// The action state of the reader with this Stripe id (any account: events name the reader only).
pub fn action_by_stripe_id(
    conn: &mut DbConnection,
    stripe_reader_id: &str,
) -> QueryResult<Option<ReaderActionRow>> {
    terminal_readers::table
        .filter(terminal_readers::stripe_reader_id.eq(stripe_reader_id))
        .select(ReaderActionRow::as_select())
        .first(conn)
        .optional()
}

/// The account's reader's action state (`None`: no such reader of the account).
pub fn action_of(
    conn: &mut DbConnection,
    account_id: &str,
    stripe_reader_id: &str,
) -> QueryResult<Option<ReaderActionRow>> {
    terminal_readers::table
        .filter(terminal_readers::account_id.eq(account_id))
        .filter(terminal_readers::stripe_reader_id.eq(stripe_reader_id))
        .select(ReaderActionRow::as_select())
        .first(conn)
        .optional()
}

/// Records the reader's action, one version later.
pub fn set_action(conn: &mut DbConnection, row: &ReaderActionRow) -> QueryResult<()> {
    diesel::update(terminal_readers::table.find(&row.id))
        .set((
            terminal_readers::action_type.eq(&row.action_type),
            terminal_readers::action_status.eq(&row.action_status),
            terminal_readers::action_object.eq(&row.action_object),
            terminal_readers::action_failure_code.eq(&row.action_failure_code),
            terminal_readers::action_failure_message.eq(&row.action_failure_message),
            terminal_readers::action_card.eq(&row.action_card),
            terminal_readers::action_updated_at.eq(&row.action_updated_at),
            terminal_readers::action_stripe_created.eq(&row.action_stripe_created),
            terminal_readers::action_version.eq(row.action_version),
        ))
        .execute(conn)
        .map(|_| ())
}
