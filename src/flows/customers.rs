//! Customers: one Stripe customer per merchant account and `external_customer_id`, found in our
//! database or created at Stripe (with an Idempotency-Key derived from both ids and the Stripe
//! context, `flows::stripe_keys`) and recorded.
//!
//! A customer row belongs to the Stripe context it was made in. Once the merchant's Stripe key
//! or connected account changed, its `cus_` is not reachable any more: the next use creates the
//! customer anew in the current context and the same row (same `external_customer_id`) names it
//! from then on; cards saved in the old context stay listed but cannot be charged.

use super::{stripe_keys, Services};
use crate::db::models::{new_id, now, Account, Customer};
use crate::db::{self, write_transaction, DbConnection, Inserted};
use crate::error::Error;
use stripe_client::{CreateCustomer, Metadata, StripeAccount};

/// The customer row for `external_customer_id`, creating the Stripe customer the first time (or
/// anew when the row names one of another Stripe context).
pub async fn find_or_create(
    services: &Services,
    stripe_account: &StripeAccount,
    account: &Account,
    external_customer_id: &str,
) -> Result<Customer, Error> {
    let (account_id, external) = (account.id.clone(), external_customer_id.to_string());
    let found = services
        .db
        .run(move |c| find(c, &account_id, &external))
        .await?;
    let context = stripe_keys::context(account, stripe_account);
    match found {
        Some(found) if stripe_keys::customer_in(&found, &context) => Ok(found),
        _ => create(services, stripe_account, account, external_customer_id).await,
    }
}

/// Creates the Stripe customer for `external_customer_id` in the current Stripe context
/// (idempotently: the key is derived from the ids and the context) and records it: a new row, or
/// the row of another context now naming the new customer. A concurrent creation's row wins.
pub async fn create(
    services: &Services,
    stripe_account: &StripeAccount,
    account: &Account,
    external_customer_id: &str,
) -> Result<Customer, Error> {
    let row = create_at_stripe(services, stripe_account, account, external_customer_id).await?;
    services.db.run(move |conn| record(conn, row)).await
}

/// The Stripe half of [`create`]: the customer made at Stripe, as the row to [`record`].
pub async fn create_at_stripe(
    services: &Services,
    stripe_account: &StripeAccount,
    account: &Account,
    external_customer_id: &str,
) -> Result<Customer, Error> {
    let context = stripe_keys::context(account, stripe_account);
    let key = stripe_keys::customer(&account.id, &context, external_customer_id);
    let mut metadata = Metadata::new();
    metadata.insert("external_customer_id".into(), external_customer_id.into());
    metadata.insert(
        "external_account_id".into(),
        account.external_account_id.clone(),
    );
    let created = services
        .stripe
        .create_customer(
            stripe_account,
            &CreateCustomer {
                metadata: Some(&metadata),
                ..Default::default()
            },
            &key,
        )
        .await?;
    Ok(Customer {
        id: new_id(),
        account_id: account.id.clone(),
        external_customer_id: external_customer_id.to_string(),
        stripe_customer_id: created.id,
        created_at: now(),
        stripe_idempotency_key: Some(key),
        stripe_context: Some(context),
    })
}

/// The database half of [`create`]: records the customer Stripe made, on a connection in hand,
/// in a write transaction of its own (on SQLite every write takes the process's writer lock:
/// `db::write_transaction`).
pub fn record(conn: &mut DbConnection, row: Customer) -> Result<Customer, Error> {
    write_transaction(conn, |conn| record_in(conn, row))
}

/// [`record`] inside a write transaction in hand.
pub fn record_in(conn: &mut DbConnection, row: Customer) -> Result<Customer, Error> {
    match db::customers::insert(conn, row.clone())? {
        Inserted::New(row) => Ok(row),
        // Recorded already: by a concurrent request (the same Stripe customer, by idempotency),
        // or in another Stripe context, which from now on names this one.
        Inserted::Duplicate => repoint(conn, row),
    }
}

/// The recorded customer for `row`'s ids: as it is when it was made in `row`'s context, else
/// naming `row`'s Stripe customer and context from now on.
fn repoint(conn: &mut DbConnection, row: Customer) -> Result<Customer, Error> {
    let theirs = find(conn, &row.account_id, &row.external_customer_id)?
        .ok_or_else(|| Error::internal("customer vanished after a duplicate insert"))?;
    if stripe_keys::customer_in(&theirs, row.stripe_context.as_deref().unwrap_or_default()) {
        return Ok(theirs);
    }
    db::customers::repoint(
        conn,
        &theirs.id,
        &row.stripe_customer_id,
        row.stripe_context.as_deref(),
        row.stripe_idempotency_key.as_deref(),
    )?;
    Ok(Customer {
        stripe_customer_id: row.stripe_customer_id,
        stripe_context: row.stripe_context,
        stripe_idempotency_key: row.stripe_idempotency_key,
        ..theirs
    })
}

pub fn find(
    conn: &mut DbConnection,
    account_id: &str,
    external_customer_id: &str,
) -> Result<Option<Customer>, Error> {
    Ok(db::customers::find(conn, account_id, external_customer_id)?)
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> Result<Customer, Error> {
    Ok(db::customers::by_id(conn, id)?)
}
