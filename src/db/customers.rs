//! `customers`: one row per merchant account and `external_customer_id`, naming its Stripe
//! customer and the Stripe context it was made in.

use super::models::Customer;
use super::schema::customers;
use super::{DbConnection, Inserted};
use diesel::prelude::*;

/// Inserts the row; `Duplicate` when the account already has a customer with this external id
/// (or this Stripe customer is recorded).
pub fn insert(conn: &mut DbConnection, row: Customer) -> QueryResult<Inserted<Customer>> {
    let count = insert_or_skip!(conn, diesel::insert_into(customers::table).values(&row))?;
    Ok(Inserted::from_count(count, row))
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Customer> {
    on_backend!(conn, conn => {
        customers::table
            .find(id)
            .select(Customer::as_select())
            .first(conn)
    })
}

pub fn find(
    conn: &mut DbConnection,
    account_id: &str,
    external_customer_id: &str,
) -> QueryResult<Option<Customer>> {
    on_backend!(conn, conn => {
        customers::table
            .filter(customers::account_id.eq(account_id))
            .filter(customers::external_customer_id.eq(external_customer_id))
            .select(Customer::as_select())
            .first(conn)
            .optional()
    })
}

/// Makes row `id` name another Stripe customer (made in another Stripe context, with `key`).
pub fn repoint(
    conn: &mut DbConnection,
    id: &str,
    stripe_customer_id: &str,
    stripe_context: Option<&str>,
    key: Option<&str>,
) -> QueryResult<()> {
    diesel::update(customers::table.find(id))
        .set((
            customers::stripe_customer_id.eq(stripe_customer_id),
            customers::stripe_context.eq(stripe_context),
            customers::stripe_idempotency_key.eq(key),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Records `context` on the account's customers that have none.
pub fn stamp_context(conn: &mut DbConnection, account_id: &str, context: &str) -> QueryResult<()> {
    diesel::update(
        customers::table
            .filter(customers::account_id.eq(account_id))
            .filter(customers::stripe_context.is_null()),
    )
    .set(customers::stripe_context.eq(context))
    .execute(conn)
    .map(|_| ())
}
