//! The Idempotency-Keys we send to Stripe, and the Stripe context customers and cards are made in.
//!
//! A key is never the caller's text: Stripe takes at most 255 characters, and the simulator (like
//! any strict HTTP stack) cannot read bytes outside visible ASCII. Every key derived from a
//! caller's ids is `{prefix}_` followed by the hex SHA-256 of a canonical encoding of its parts
//! (each part preceded by its length in bytes, so no two lists of parts encode alike): visible
//! ASCII, at most 68 characters whatever the ids are. Rows that Stripe objects are created for
//! store the key when they are first written, so a replay sends exactly that key.
//!
//! The Stripe context says which Stripe account a customer or card lives in, without a secret:
//! `acct:{id}` for a connected account (platform key), `key:{fingerprint}` for the merchant's own
//! key (a truncated SHA-256 of the key, which cannot be turned back into it), `platform` for the
//! platform's own account. See docs/decisions.md, "Stripe idempotency keys and Stripe context".

use crate::db::models::{Account, Card, Customer};
use crate::money::MinorUnits;
use sha2::{Digest, Sha256};
use stripe_client::StripeAccount;

/// `{prefix}_` + hex SHA-256 of the length-prefixed parts (prefix included).
fn derive(prefix: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in std::iter::once(&prefix).chain(parts) {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    format!("{prefix}_{}", hex::encode(hash.finalize()))
}

/// The key creating the PaymentIntent of a payment (stored on the row).
pub fn payment_intent(account_id: &str, external_transaction_id: &str) -> String {
    derive("pi", &[account_id, external_transaction_id])
}

/// The key the code before derived keys sent for a payment row written then (its
/// `stripe_idempotency_key` is NULL): such a row, left in `creating`, must replay with the very
/// key its first attempt used, or Stripe would create a second PaymentIntent. Used for nothing
/// else.
pub fn legacy_payment_intent(account_id: &str, external_transaction_id: &str) -> String {
    format!("pi:{account_id}:{external_transaction_id}")
}

/// The key a payment row replays its PaymentIntent creation with: the stored one; for a row from
/// before, the old formula — unless that key was unusable (over 255 characters, or not printable
/// ASCII), so the old attempt could not have created an intent under it: then the derived key.
pub fn of_payment(payment: &crate::db::models::Payment) -> String {
    if let Some(key) = &payment.stripe_idempotency_key {
        return key.clone();
    }
    let legacy = legacy_payment_intent(&payment.account_id, &payment.external_transaction_id);
    if stripe_client::usable_idempotency_key(&legacy) {
        legacy
    } else {
        payment_intent(&payment.account_id, &payment.external_transaction_id)
    }
}

/// The key creating the Stripe customer for `external_customer_id` in `context`.
pub fn customer(account_id: &str, context: &str, external_customer_id: &str) -> String {
    derive("cus", &[account_id, context, external_customer_id])
}

/// The key of a refund the caller sent with its own `Idempotency-Key`: any repeat replays it.
pub fn refund_for_caller_key(payment_intent: &str, caller_key: &str) -> String {
    derive("re", &[payment_intent, "key", caller_key])
}

/// The key of a reader refund's `refund_payment` request: derived from our row's id, written
/// before Stripe is asked, so any retry of the row replays the same action.
pub fn reader_refund(reader_refund_id: &str) -> String {
    derive("rrf", &[reader_refund_id])
}

/// The key of a refund without the caller's key: the same until the refund is recorded.
pub fn refund_for_amounts(
    payment_intent: &str,
    already_refunded: MinorUnits,
    amount: MinorUnits,
) -> String {
    derive(
        "re",
        &[
            payment_intent,
            "amounts",
            &already_refunded.to_string(),
            &amount.to_string(),
        ],
    )
}

/// The Stripe context calls for `account` act in (`stripe` is `Services::stripe_account`).
pub fn context(account: &Account, stripe: &StripeAccount) -> String {
    let own_key = account
        .stripe_secret_key_enc
        .as_ref()
        .map(|_| stripe.secret_key.expose().as_str());
    context_of(own_key, stripe.stripe_account.as_deref())
}

/// The Stripe context of a merchant's own key (which wins), else of its connected account, else
/// the platform's.
pub fn context_of(own_key: Option<&str>, connected_account: Option<&str>) -> String {
    if let Some(key) = own_key {
        let mut hash = Sha256::new();
        hash.update(b"pos-backend stripe context\0");
        hash.update(key.as_bytes());
        return format!("key:{}", &hex::encode(hash.finalize())[..32]);
    }
    match connected_account {
        Some(acct) => format!("acct:{acct}"),
        None => "platform".to_string(),
    }
}

/// Whether a customer was made in `current` (rows from before contexts were recorded: yes).
pub fn customer_in(customer: &Customer, current: &str) -> bool {
    customer
        .stripe_context
        .as_deref()
        .is_none_or(|c| c == current)
}

/// Whether a live card can be charged in `current`: it was saved there.
pub fn card_chargeable(card: &Card, current: &str) -> bool {
    !card.deleted && card.stripe_context.as_deref().is_none_or(|c| c == current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(minor: i64) -> MinorUnits {
        MinorUnits::new(minor).unwrap()
    }

    fn visible_ascii(key: &str) -> bool {
        stripe_client::usable_idempotency_key(key) && !key.contains(' ')
    }

    #[test]
    fn keys_are_short_visible_ascii_whatever_the_ids() {
        let long = "🙂".repeat(255);
        for id in ["sub-ünicode-1", "注文-42", "طلب-٧", long.as_str(), "a"] {
            for key in [
                payment_intent("acct-row", id),
                customer("acct-row", "acct:acct_1", id),
                refund_for_caller_key("pi_1", id),
            ] {
                assert!(visible_ascii(&key), "{key}");
                assert!(key.len() <= 68);
            }
        }
    }

    #[test]
    fn a_row_from_before_replays_the_old_key_and_a_new_row_its_own() {
        let mut payment = crate::db::models::Payment {
            account_id: "acct-row".into(),
            ..crate::db::models::Payment::sample()
        };
        assert_eq!(of_payment(&payment), "pi:acct-row:tx-1");
        payment.external_transaction_id = "tx with spaces".into();
        assert_eq!(of_payment(&payment), "pi:acct-row:tx with spaces");
        // Keys the old code could not have used: the derived one.
        for tx in ["sub-ünicode-1".to_string(), "t".repeat(250)] {
            payment.external_transaction_id = tx.clone();
            assert_eq!(of_payment(&payment), payment_intent("acct-row", &tx));
        }
        payment.external_transaction_id = "tx-1".into();
        payment.stripe_idempotency_key = Some(payment_intent("acct-row", "tx-1"));
        assert_eq!(of_payment(&payment), payment_intent("acct-row", "tx-1"));
        assert!(of_payment(&payment).starts_with("pi_"));
    }

    #[test]
    fn contexts_never_contain_the_key() {
        let key = "sk_test_merchantSecret";
        let context = context_of(Some(key), Some("acct_1"));
        assert!(
            context.starts_with("key:") && context.len() == 36,
            "{context}"
        );
        assert!(!context.contains("merchantSecret"));
        assert_ne!(context, context_of(Some("sk_test_other"), None));
        assert_eq!(context_of(None, Some("acct_1")), "acct:acct_1");
        assert_eq!(context_of(None, None), "platform");
    }

    #[test]
    fn parts_are_length_prefixed() {
        assert_ne!(payment_intent("a:b", "c"), payment_intent("a", "b:c"));
        assert_ne!(payment_intent("ab", "c"), payment_intent("a", "bc"));
        assert_ne!(
            refund_for_amounts("pi_1", units(1), units(23)),
            refund_for_amounts("pi_1", units(12), units(3))
        );
        assert_eq!(payment_intent("a", "b"), payment_intent("a", "b"));
    }
}
