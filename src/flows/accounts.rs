//! Merchant accounts: create or update settings, read them back. The merchant's own Stripe key is
//! sealed with AES-256-GCM (bound to the account's row id) and never leaves this module in clear.

use crate::crypto::SecretBox;
use crate::db::accounts::Written;
use crate::db::models::{new_id, now, Account};
use crate::db::{self, Db, DbConnection, DbError};
use crate::error::Error;
use crate::money::Currency;

/// Validated changes to an account; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Default, Clone)]
pub struct AccountChanges {
    pub display_name: Option<Option<String>>,
    pub default_currency: Option<Currency>,
    pub stripe_account_id: Option<Option<String>>,
    pub stripe_secret_key: Option<Option<stripe_client::secret::Secret<String>>>,
    pub webhook_url: Option<Option<String>>,
    pub stripe_webhook_secret: Option<Option<stripe_client::secret::Secret<String>>>,
    pub address: Option<Option<Address>>,
    /// A valid IANA time zone name.
    pub time_zone: Option<chrono_tz::Tz>,
}

/// The merchant's postal address, as receipts print it (validated by the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub state: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
}

impl Address {
    /// The account's address, when it has one (line1, city, postal code and country are
    /// written together).
    pub fn of(account: &Account) -> Option<Address> {
        Some(Address {
            line1: account.address_line1.clone()?,
            line2: account.address_line2.clone(),
            city: account.address_city.clone()?,
            state: account.address_state.clone(),
            postal_code: account.address_postal_code.clone()?,
            country: account.address_country.clone()?,
        })
    }

    /// Writes the address (or none) on the account's row.
    fn set_on(address: Option<Address>, account: &mut Account) {
        let a = address.as_ref();
        account.address_line1 = a.map(|a| a.line1.clone());
        account.address_line2 = a.and_then(|a| a.line2.clone());
        account.address_city = a.map(|a| a.city.clone());
        account.address_state = a.and_then(|a| a.state.clone());
        account.address_postal_code = a.map(|a| a.postal_code.clone());
        account.address_country = a.map(|a| a.country.clone());
    }
}

/// The result of an upsert: the row, whether it was created, and — when a webhook URL was set or
/// changed — the new secret that signs our webhooks, shown to the caller this once.
pub struct Upserted {
    pub account: Account,
    pub created: bool,
    pub new_webhook_secret: Option<stripe_client::secret::Secret<String>>,
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
) -> Result<Upserted, Error> {
    // A concurrent request may create the same new account first: then apply ours as an update.
    match upsert_once(db, secrets, external_account_id.clone(), changes.clone()).await {
        Err(UpsertError::CreatedConcurrently) => {
            upsert_once(db, secrets, external_account_id, changes).await
        }
        other => other,
    }
    .map_err(|e| match e {
        UpsertError::Api(e) => e,
        UpsertError::CreatedConcurrently => {
            Error::internal("the account was created concurrently twice")
        }
    })
}

/// Why one attempt at an upsert failed.
enum UpsertError {
    Api(Error),
    /// Another request created the account first (its transaction is rolled back; try again as
    /// an update).
    CreatedConcurrently,
}

impl From<Error> for UpsertError {
    fn from(e: Error) -> Self {
        UpsertError::Api(e)
    }
}

impl From<DbError> for UpsertError {
    fn from(e: DbError) -> Self {
        UpsertError::Api(e.into())
    }
}

async fn upsert_once(
    db: &Db,
    secrets: &SecretBox,
    external_account_id: String,
    changes: AccountChanges,
) -> Result<Upserted, UpsertError> {
    let secrets = secrets.clone();
    db.run(move |conn| {
        db::write_transaction(conn, |conn| {
            let existing = find(conn, &external_account_id)?;
            let created = existing.is_none();
            let at = now();
            let mut account = existing.unwrap_or_else(|| Account {
                id: new_id(),
                external_account_id: external_account_id.clone(),
                display_name: None,
                default_currency: Currency::parse("usd").expect("a supported currency"),
                stripe_account_id: None,
                stripe_secret_key_enc: None,
                webhook_url: None,
                created_at: at,
                updated_at: at,
                webhook_secret_enc: None,
                stripe_webhook_secret_enc: None,
                address_line1: None,
                address_line2: None,
                address_city: None,
                address_state: None,
                address_postal_code: None,
                address_country: None,
                time_zone: chrono_tz::Tz::UTC.name().to_string(),
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
            if let Some(v) = changes.time_zone {
                account.time_zone = v.name().to_string();
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
                    new_webhook_secret = Some(stripe_client::secret::Secret::new(secret));
                }
                account.webhook_url = v;
            }
            if let Some(v) = changes.stripe_webhook_secret {
                let context = stripe_webhook_secret_context(&account);
                account.stripe_webhook_secret_enc =
                    v.map(|key| secrets.seal(key.expose(), &context));
            }
            if let Some(v) = changes.address {
                Address::set_on(v, &mut account);
            }
            account.updated_at = at;
            let written = if created {
                db::accounts::insert(conn, &account).map_err(Error::from)?
            } else {
                db::accounts::update(conn, &account).map_err(Error::from)?
            };
            match written {
                Written::Done => {}
                Written::ExternalIdTaken => return Err(UpsertError::CreatedConcurrently),
                Written::StripeAccountTaken => {
                    return Err(Error::conflict(
                        "stripe_account_in_use",
                        "that Stripe account is already linked to another account",
                    )
                    .with_param("stripe_account_id")
                    .into())
                }
            }
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
fn stripe_context(secrets: &SecretBox, account: &Account) -> Result<String, Error> {
    let own_key = match &account.stripe_secret_key_enc {
        Some(sealed) => Some(secrets.open(sealed, &account.id).map_err(|e| {
            Error::internal(format!("account {}: stored Stripe key: {e}", account.id))
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
fn stamp_context(conn: &mut DbConnection, account_id: &str, context: &str) -> Result<(), Error> {
    db::customers::stamp_context(conn, account_id, context)?;
    db::cards::stamp_context(conn, account_id, context)?;
    Ok(())
}

/// The account with this external id, or 404.
pub async fn get(db: &Db, external_account_id: String) -> Result<Account, Error> {
    db.run(move |conn| require(conn, &external_account_id))
        .await
}

/// The account with this external id, or 404 (inside a database hop).
pub(crate) fn require(
    conn: &mut DbConnection,
    external_account_id: &str,
) -> Result<Account, Error> {
    find(conn, external_account_id)?.ok_or_else(not_found)
}

/// 404: the caller's `external_account_id` names no account.
pub(crate) fn not_found() -> Error {
    Error::not_found("no such account")
}

pub(crate) fn find(
    conn: &mut DbConnection,
    external_account_id: &str,
) -> Result<Option<Account>, Error> {
    Ok(db::accounts::find_by_external_id(
        conn,
        external_account_id,
    )?)
}
