//! Business operations: each validates what it needs, reads and writes its rows through `db`
//! (no SQL here), talks to Stripe, and returns domain results. No HTTP types here.

pub mod accounts;
pub mod card_checkout;
pub mod cards;
pub mod checkout;
pub mod customers;
pub mod demo_counter;
pub mod disputes;
pub mod events;
pub mod line_items;
pub mod payment_updates;
pub mod payments;
pub mod payouts;
pub mod reader_events;
pub mod reader_refunds;
pub mod reader_setup;
pub mod receipts;
pub mod reference_checkout;
pub mod refunds;
pub mod reports;
pub mod splashscreen;
pub mod stripe_keys;
pub mod terminal;
pub mod tipping;
pub mod webhook_setup;
pub mod webhooks;

use crate::crypto::SecretBox;
use crate::db::models::Account;
use crate::db::Db;
use crate::error::Error;
use stripe_client::secret::Secret;
use stripe_client::{StripeAccount, StripeClient};

/// What the flows work with: the database, Stripe, and the key that seals secrets at rest.
pub struct Services {
    pub db: Db,
    pub stripe: StripeClient,
    /// The platform's Stripe key (`sk_test_simulator` in simulator mode).
    pub platform_key: Secret<String>,
    pub secrets: SecretBox,
    /// The platform's Stripe webhook endpoint secrets (several while one is rotated).
    pub stripe_webhook_secrets: Vec<Secret<String>>,
    /// True when Stripe is the embedded simulator.
    pub simulator: bool,
    /// What "now" is for the rows the requests stamp that reports cut by time (a payment's
    /// `created_at`); tests move it (`Clock::adjustable`).
    pub clock: crate::clock::Clock,
}

impl Services {
    /// Whose Stripe account this merchant's calls act on: its own key if it has one, else the
    /// platform key, for its connected account when it has one.
    pub fn stripe_account(&self, account: &Account) -> Result<StripeAccount, Error> {
        self.keys().stripe_account(account)
    }

    /// What [`Services::stripe_account`] needs, to take into a database hop.
    pub fn keys(&self) -> StripeKeys {
        StripeKeys {
            platform_key: self.platform_key.clone(),
            secrets: self.secrets.clone(),
        }
    }

    /// The Stripe context (`stripe_keys::context`) the account's calls act in now.
    pub fn stripe_context(&self, account: &Account) -> Result<String, Error> {
        Ok(stripe_keys::context(
            account,
            &self.stripe_account(account)?,
        ))
    }
}

/// The keys that decide whose Stripe account a merchant's calls act on (see
/// [`Services::stripe_account`]).
#[derive(Clone)]
pub struct StripeKeys {
    platform_key: Secret<String>,
    secrets: SecretBox,
}

impl StripeKeys {
    pub fn stripe_account(&self, account: &Account) -> Result<StripeAccount, Error> {
        if let Some(sealed) = &account.stripe_secret_key_enc {
            let key = self.secrets.open(sealed, &account.id).map_err(|e| {
                Error::internal(format!("account {}: stored Stripe key: {e}", account.id))
            })?;
            return Ok(StripeAccount {
                secret_key: key,
                stripe_account: None,
            });
        }
        Ok(StripeAccount {
            secret_key: self.platform_key.clone(),
            stripe_account: account.stripe_account_id.clone(),
        })
    }
}
