//! `accounts`: merchant accounts, found by our id, their external id or their connected Stripe
//! account, and written whole (insert or update).

use super::models::Account;
use super::schema::accounts;
use super::DbConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What writing an account's row did. After a refusal the statement failed: on PostgreSQL the
/// transaction is aborted and must end (return an error from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Written {
    Done,
    /// Another account has this `external_account_id` (created concurrently).
    ExternalIdTaken,
    /// Another account is linked to this `stripe_account_id`.
    StripeAccountTaken,
}

pub fn insert(conn: &mut DbConnection, account: &Account) -> QueryResult<Written> {
    written(
        diesel::insert_into(accounts::table)
            .values(account)
            .execute(conn),
    )
}

pub fn update(conn: &mut DbConnection, account: &Account) -> QueryResult<Written> {
    written(
        diesel::update(accounts::table.find(&account.id))
            .set(account)
            .execute(conn),
    )
}

/// Which unique index refused the write, if one did.
fn written(result: QueryResult<usize>) -> QueryResult<Written> {
    match result {
        Ok(_) => Ok(Written::Done),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)) => {
            let on_stripe_account = info.message().contains("stripe_account_id")
                || info
                    .constraint_name()
                    .is_some_and(|c| c.contains("stripe_account_id"));
            Ok(if on_stripe_account {
                Written::StripeAccountTaken
            } else {
                Written::ExternalIdTaken
            })
        }
        Err(e) => Err(e),
    }
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Account> {
    on_backend!(conn, conn => {
        accounts::table
            .find(id)
            .select(Account::as_select())
            .first(conn)
    })
}

pub fn find_by_external_id(
    conn: &mut DbConnection,
    external_account_id: &str,
) -> QueryResult<Option<Account>> {
    on_backend!(conn, conn => {
        accounts::table
            .filter(accounts::external_account_id.eq(external_account_id))
            .select(Account::as_select())
            .first(conn)
            .optional()
    })
}

/// The account linked to this connected Stripe account (`acct_…`).
pub fn find_by_stripe_account_id(
    conn: &mut DbConnection,
    stripe_account_id: &str,
) -> QueryResult<Option<Account>> {
    accounts::table
        .filter(accounts::stripe_account_id.eq(stripe_account_id))
        .select(Account::as_select())
        .first(conn)
        .optional()
}

pub fn by_ids(conn: &mut DbConnection, ids: &[&str]) -> QueryResult<Vec<Account>> {
    accounts::table
        .filter(accounts::id.eq_any(ids))
        .select(Account::as_select())
        .load(conn)
}

/// Accounts with a Stripe key of their own or a connected account (whose Stripe events are
/// theirs alone).
pub fn with_own_stripe(conn: &mut DbConnection) -> QueryResult<Vec<Account>> {
    accounts::table
        .filter(
            accounts::stripe_secret_key_enc
                .is_not_null()
                .or(accounts::stripe_account_id.is_not_null()),
        )
        .select(Account::as_select())
        .load(conn)
}
