//! Merchant accounts: create or update settings, read them back. The merchant's own Stripe key is
//! sealed with AES-256-GCM (bound to the account's row id) and never leaves this module in clear.

use crate::crypto::SecretBox;
use crate::db::models::{new_id, now, Account};
use crate::db::schema::accounts;
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use diesel::prelude::*;

/// Validated changes to an account; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Default, Clone)]
pub struct AccountChanges {
    pub display_name: Option<Option<String>>,
    pub default_currency: Option<String>,
    pub stripe_account_id: Option<Option<String>>,
    pub stripe_secret_key: Option<Option<crate::secret::Secret<String>>>,
    pub webhook_url: Option<Option<String>>,
    pub stripe_webhook_secret: Option<Option<crate::secret::Secret<String>>>,
}

/// The result of an upsert: the row, whether it was created, and — when a webhook URL was set or
/// changed — the new secret that signs our webhooks, shown to the caller this once.
pub struct Upserted {
    pub account: Account,
    pub created: bool,
    pub new_webhook_secret: Option<crate::secret::Secret<String>>,
}

/// The sealing context of an account's webhook-signing secret.
pub fn webhook_secret_context(account: &Account) -> String {
    format!("{}:webhook", account.id)
}

/// The sealing context of an account's own Stripe endpoint secret.
pub fn stripe_webhook_secret_context(account: &Account) -> String {
    format!("{}:stripe-webhook", account.id)
}

/// Creates the account or applies `changes` to it. Returns the row and whether it was created.
pub async fn upsert(
    db: &Db,
    secrets: &SecretBox,
    external_account_id: String,
    changes: AccountChanges,
) -> Result<Upserted, ApiError> {
    // A concurrent request may create the same new account first: then apply ours as an update.
    match upsert_once(db, secrets, external_account_id.clone(), changes.clone()).await {
        Err(e) if e.code == CREATED_CONCURRENTLY => {
            upsert_once(db, secrets, external_account_id, changes).await
        }
        other => other,
    }
}

const CREATED_CONCURRENTLY: &str = "account_created_concurrently";

async fn upsert_once(
    db: &Db,
    secrets: &SecretBox,
    external_account_id: String,
    changes: AccountChanges,
) -> Result<Upserted, ApiError> {
    let secrets = secrets.clone();
    db.run(move |conn| {
        crate::db::write_transaction(conn, |conn| {
            let existing = find(conn, &external_account_id)?;
            let created = existing.is_none();
            let at = now();
            let mut account = existing.unwrap_or_else(|| Account {
                id: new_id(),
                external_account_id: external_account_id.clone(),
                display_name: None,
                default_currency: "usd".into(),
                stripe_account_id: None,
                stripe_secret_key_enc: None,
                webhook_url: None,
                created_at: at,
                updated_at: at,
                webhook_secret_enc: None,
                stripe_webhook_secret_enc: None,
            });
            let context_before = (!created)
                .then(|| stripe_context(&secrets, &account))
                .transpose()?;
            let mut new_webhook_secret = None;
            if let Some(v) = changes.display_name {
                account.display_name = v;
            }
            if let Some(v) = changes.default_currency {
                account.default_currency = v;
            }
            if let Some(v) = changes.stripe_account_id {
                account.stripe_account_id = v;
            }
            if let Some(v) = changes.stripe_secret_key {
                account.stripe_secret_key_enc =
                    v.map(|key| secrets.seal(key.expose(), &account.id));
            }
            if let Some(v) = changes.webhook_url {
                if v.is_none() {
                    account.webhook_secret_enc = None;
                } else if v != account.webhook_url {
                    let secret = format!("whsec_{}", hex::encode(rand::random::<[u8; 24]>()));
                    account.webhook_secret_enc =
                        Some(secrets.seal(&secret, &webhook_secret_context(&account)));
                    new_webhook_secret = Some(crate::secret::Secret::new(secret));
                }
                account.webhook_url = v;
            }
            if let Some(v) = changes.stripe_webhook_secret {
                let context = stripe_webhook_secret_context(&account);
                account.stripe_webhook_secret_enc =
                    v.map(|key| secrets.seal(key.expose(), &context));
            }
            account.updated_at = at;
            let written = if created {
                diesel::insert_into(accounts::table)
                    .values(&account)
                    .execute(conn)
            } else {
                diesel::update(accounts::table.find(&account.id))
                    .set(&account)
                    .execute(conn)
            };
            written.map_err(|e| match e {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    info,
                ) if !info.message().contains("stripe_account_id")
                    && !info
                        .constraint_name()
                        .is_some_and(|c| c.contains("stripe_account_id")) =>
                {
                    ApiError::conflict(CREATED_CONCURRENTLY, "the account was created concurrently")
                }
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => ApiError::conflict(
                    "stripe_account_in_use",
                    "that Stripe account is already linked to another account",
                )
                .with_param("stripe_account_id"),
                other => ApiError::from(other),
            })?;
            // Customers and cards recorded without a context were made in the one left now.
            if let Some(before) = context_before {
                if before != stripe_context(&secrets, &account)? {
                    stamp_context(conn, &account.id, &before)?;
                }
            }
            Ok(Upserted {
                account,
                created,
                new_webhook_secret,
            })
        })
    })
    .await
}

/// The Stripe context (`stripe_keys::context_of`) of the account's settings.
fn stripe_context(secrets: &SecretBox, account: &Account) -> Result<String, ApiError> {
    let own_key = match &account.stripe_secret_key_enc {
        Some(sealed) => Some(secrets.open(sealed, &account.id).map_err(|e| {
            ApiError::internal(format!("account {}: stored Stripe key: {e}", account.id))
        })?),
        None => None,
    };
    Ok(super::stripe_keys::context_of(
        own_key.as_ref().map(|k| k.expose().as_str()),
        account.stripe_account_id.as_deref(),
    ))
}

/// Records `context` on the account's customers and cards that have none (NULL means "the
/// account's current context"), before the account moves to another one.
fn stamp_context(conn: &mut DbConnection, account_id: &str, context: &str) -> Result<(), ApiError> {
    use crate::db::schema::{cards, customers};
    diesel::update(
        customers::table
            .filter(customers::account_id.eq(account_id))
            .filter(customers::stripe_context.is_null()),
    )
    .set(customers::stripe_context.eq(context))
    .execute(conn)?;
    diesel::update(
        cards::table
            .filter(cards::account_id.eq(account_id))
            .filter(cards::stripe_context.is_null()),
    )
    .set(cards::stripe_context.eq(context))
    .execute(conn)?;
    Ok(())
}

/// The account with this external id, or 404.
pub async fn get(db: &Db, external_account_id: String) -> Result<Account, ApiError> {
    db.run(move |conn| require(conn, &external_account_id))
        .await
}

/// The account with this external id, or 404 (inside a database hop).
pub(crate) fn require(
    conn: &mut DbConnection,
    external_account_id: &str,
) -> Result<Account, ApiError> {
    find(conn, external_account_id)?.ok_or_else(|| ApiError::not_found("no such account"))
}

pub(crate) fn find(
    conn: &mut DbConnection,
    external_account_id: &str,
) -> Result<Option<Account>, ApiError> {
    accounts::table
        .filter(accounts::external_account_id.eq(external_account_id))
        .select(Account::as_select())
        .first(conn)
        .optional()
        .map_err(ApiError::from)
}
