//! Charges: retrieve, and the card details a charge carries.
//!
//! For a card-present payment, `payment_method_details.card_present` holds the brand, last4,
//! expiry, fingerprint, `capture_before` and — when the intent had a customer and
//! `setup_future_usage` and the card was not a wallet — `generated_card`, the reusable `card`
//! PaymentMethod to save.

use serde::Deserialize;

use super::client::{id_path, StripeAccount, StripeClient};
use super::customers::Customer;
use super::error::StripeError;
use super::form::Form;
use super::payment_intents::PaymentIntent;
use super::types::{null_default, string_enum, Expandable, HasId, Metadata};

string_enum! {
    pub enum ChargeStatus {
        Succeeded = "succeeded",
        Pending = "pending",
        Failed = "failed",
    }
}

/// A wallet the card was presented through (Apple Pay, Google Pay, …).
#[derive(Debug, Clone, Deserialize)]
pub struct Wallet {
    #[serde(rename = "type")]
    pub wallet_type: String,
}

/// `payment_method_details.card_present` (and `interac_present`, which has the same shape).
#[derive(Debug, Clone, Deserialize)]
pub struct CardPresentDetails {
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<u32>,
    pub exp_year: Option<u32>,
    pub fingerprint: Option<String>,
    /// The reusable `card` PaymentMethod generated from this payment, attached to the intent's
    /// customer.
    pub generated_card: Option<String>,
    /// Unix time by which an uncaptured authorisation must be captured.
    pub capture_before: Option<i64>,
    pub cardholder_name: Option<String>,
    pub funding: Option<String>,
    pub network: Option<String>,
    pub read_method: Option<String>,
    pub amount_authorized: Option<i64>,
    #[serde(default)]
    pub incremental_authorization_supported: bool,
    #[serde(default)]
    pub overcapture_supported: bool,
    /// Set when the card was a phone or watch wallet (newer API versions).
    pub wallet: Option<Wallet>,
    /// What a receipt must print for an EMV (chip or contactless) payment.
    pub receipt: Option<ReceiptDetails>,
}

/// `payment_method_details.card_present.receipt` (and `interac_present.receipt`): the EMV data
/// card networks require on receipts (Stripe's "Provide receipts" page lists which).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReceiptDetails {
    /// `checking`, `credit`, `prepaid` or `unknown`.
    pub account_type: Option<String>,
    /// EMV tag 9F26.
    pub application_cryptogram: Option<String>,
    /// EMV tag 9F12, the application's name.
    pub application_preferred_name: Option<String>,
    pub authorization_code: Option<String>,
    /// EMV tag 8A.
    pub authorization_response_code: Option<String>,
    /// `approval`, `failure`, `none`, `offline_pin`, `offline_pin_and_signature`, `online_pin`
    /// or `signature`.
    pub cardholder_verification_method: Option<String>,
    /// EMV tag 84, the AID.
    pub dedicated_file_name: Option<String>,
    /// EMV tag 95, TVR.
    pub terminal_verification_results: Option<String>,
    /// EMV tag 9B, TSI.
    pub transaction_status_information: Option<String>,
}

/// `payment_method_details.card` (card-not-present payments).
#[derive(Debug, Clone, Deserialize)]
pub struct CardDetails {
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<u32>,
    pub exp_year: Option<u32>,
    pub fingerprint: Option<String>,
    pub funding: Option<String>,
    pub country: Option<String>,
    pub network: Option<String>,
    pub wallet: Option<Wallet>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentMethodDetails {
    #[serde(rename = "type")]
    pub details_type: String,
    pub card_present: Option<CardPresentDetails>,
    pub interac_present: Option<CardPresentDetails>,
    pub card: Option<CardDetails>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_captured: i64,
    #[serde(default)]
    pub amount_refunded: i64,
    #[serde(default)]
    pub captured: bool,
    #[serde(default)]
    pub refunded: bool,
    #[serde(default)]
    pub paid: bool,
    pub currency: String,
    pub status: ChargeStatus,
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    pub payment_method: Option<String>,
    pub payment_method_details: Option<PaymentMethodDetails>,
    pub customer: Option<Expandable<Customer>>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    /// Stripe's receipt page for a successful charge.
    pub receipt_url: Option<String>,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
}

impl HasId for Charge {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Charge {
    /// The card-present (or Interac) details, if the charge was card-present.
    pub fn card_present(&self) -> Option<&CardPresentDetails> {
        let details = self.payment_method_details.as_ref()?;
        details
            .card_present
            .as_ref()
            .or(details.interac_present.as_ref())
    }

    /// The card details, if the charge was a card-not-present card payment.
    pub fn card(&self) -> Option<&CardDetails> {
        self.payment_method_details.as_ref()?.card.as_ref()
    }
}

impl StripeClient {
    /// `GET /v1/charges/{id}`.
    pub async fn retrieve_charge(
        &self,
        account: &StripeAccount,
        id: &str,
        expand: &[&str],
    ) -> Result<Charge, StripeError> {
        let mut query = Form::new();
        query.push_expand(expand);
        self.get(account, &id_path("/v1/charges", id, "")?, query)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_and_wallet_details() {
        let charge: Charge = serde_json::from_str(
            r#"{"id":"ch_2","amount":500,"currency":"usd","status":"succeeded","created":1,
                "metadata":null,"payment_intent":"pi_2",
                "payment_method_details":{"type":"card","card":{"brand":"mastercard","last4":"4444",
                  "exp_month":1,"exp_year":2031,"fingerprint":"fp","wallet":{"type":"apple_pay","apple_pay":{}}}}}"#,
        )
        .unwrap();
        assert!(charge.card_present().is_none());
        let card = charge.card().unwrap();
        assert_eq!(card.wallet.as_ref().unwrap().wallet_type, "apple_pay");
        assert_eq!(charge.payment_intent.unwrap().id(), "pi_2");
        assert!(!charge.captured && charge.amount_refunded == 0);
    }

    #[test]
    fn card_present_receipt_and_receipt_url() {
        let charge: Charge = serde_json::from_str(
            r#"{"id":"ch_3","amount":1494,"currency":"usd","status":"succeeded","created":1,
                "receipt_url":"https://pay.stripe.com/receipts/x",
                "payment_method_details":{"type":"interac_present","interac_present":{
                  "brand":"interac","last4":"1933","funding":"debit","read_method":"contact_emv",
                  "cardholder_name":null,"receipt":{"account_type":"checking",
                  "application_cryptogram":"0123456789ABCDEF","application_preferred_name":"Interac",
                  "authorization_code":"123456","authorization_response_code":"3030",
                  "cardholder_verification_method":"online_pin","dedicated_file_name":"A0000002771010",
                  "terminal_verification_results":"0000040000","transaction_status_information":"E800",
                  "newer":"ignored"}}}}"#,
        )
        .unwrap();
        assert_eq!(
            charge.receipt_url.as_deref(),
            Some("https://pay.stripe.com/receipts/x")
        );
        let card = charge.card_present().unwrap();
        let receipt = card.receipt.as_ref().unwrap();
        assert_eq!(
            receipt.dedicated_file_name.as_deref(),
            Some("A0000002771010")
        );
        assert_eq!(
            receipt.cardholder_verification_method.as_deref(),
            Some("online_pin")
        );
        assert_eq!(
            receipt.transaction_status_information.as_deref(),
            Some("E800")
        );
        assert!(card.cardholder_name.is_none());
    }
}
