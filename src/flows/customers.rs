//! Customers: one Stripe customer per merchant account and `external_customer_id`, found in our
//! database or created at Stripe (with an Idempotency-Key derived from both ids) and recorded.

use super::Services;
use crate::db::models::{new_id, now, Account, Customer};
use crate::db::schema::customers;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::stripe::{CreateCustomer, Metadata, StripeAccount};
use diesel::prelude::*;

/// The customer row for `external_customer_id`, creating the Stripe customer the first time.
pub async fn find_or_create(
    services: &Services,
    stripe_account: &StripeAccount,
    account: &Account,
    external_customer_id: &str,
) -> Result<Customer, ApiError> {
    let (account_id, external) = (account.id.clone(), external_customer_id.to_string());
    if let Some(found) = services
        .db
        .run(move |c| find(c, &account_id, &external))
        .await?
    {
        return Ok(found);
    }
    create(services, stripe_account, account, external_customer_id).await
}

/// Creates the Stripe customer for `external_customer_id` (idempotently: the key is derived from
/// both ids) and records it; a concurrent creation's row wins.
pub async fn create(
    services: &Services,
    stripe_account: &StripeAccount,
    account: &Account,
    external_customer_id: &str,
) -> Result<Customer, ApiError> {
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
            &format!("cus:{}:{external_customer_id}", account.id),
        )
        .await?;
    let row = Customer {
        id: new_id(),
        account_id: account.id.clone(),
        external_customer_id: external_customer_id.to_string(),
        stripe_customer_id: created.id,
        created_at: now(),
    };
    services
        .db
        .run(move |conn| {
            match diesel::insert_into(customers::table)
                .values(&row)
                .execute(conn)
            {
                Ok(_) => Ok(row),
                // A concurrent request recorded it first (same Stripe customer, by idempotency).
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => find(conn, &row.account_id, &row.external_customer_id)?.ok_or_else(|| {
                    ApiError::internal("customer vanished after a unique violation")
                }),
                Err(e) => Err(ApiError::from(e)),
            }
        })
        .await
}

pub fn find(
    conn: &mut DbConnection,
    account_id: &str,
    external_customer_id: &str,
) -> Result<Option<Customer>, ApiError> {
    customers::table
        .filter(customers::account_id.eq(account_id))
        .filter(customers::external_customer_id.eq(external_customer_id))
        .select(Customer::as_select())
        .first(conn)
        .optional()
        .map_err(ApiError::from)
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> Result<Customer, ApiError> {
    customers::table
        .find(id)
        .select(Customer::as_select())
        .first(conn)
        .map_err(ApiError::from)
}
