//! PaymentIntents: create, retrieve, update, confirm, capture, cancel, increment an
//! authorisation, search.
//!
//! Card-present intents are created with `allowed_payment_method_types[0]=card_present` and usually
//! `capture_method=manual`; with a `customer` and `setup_future_usage=off_session` the charge's
//! `generated_card` becomes a reusable card on that customer.

use serde::Deserialize;

use super::charges::Charge;
use super::client::{id_path, StripeAccount, StripeClient};
use super::customers::Customer;
use super::error::{ApiErrorObject, StripeError};
use super::form::Form;
use super::payment_methods::PaymentMethod;
use super::types::{
    null_default, opt_secret, string_enum, Expandable, HasId, Metadata, SearchParams, SearchResult,
};
use crate::secret::Secret;

string_enum! {
    pub enum PaymentIntentStatus {
        RequiresPaymentMethod = "requires_payment_method",
        RequiresConfirmation = "requires_confirmation",
        RequiresAction = "requires_action",
        Processing = "processing",
        RequiresCapture = "requires_capture",
        Canceled = "canceled",
        Succeeded = "succeeded",
    }
}

string_enum! {
    pub enum CaptureMethod {
        Automatic = "automatic",
        AutomaticAsync = "automatic_async",
        Manual = "manual",
    }
}

string_enum! {
    pub enum SetupFutureUsage {
        OffSession = "off_session",
        OnSession = "on_session",
    }
}

string_enum! {
    /// Why an intent was canceled (the last three only ever come from Stripe).
    pub enum CancellationReason {
        Abandoned = "abandoned",
        Duplicate = "duplicate",
        Fraudulent = "fraudulent",
        RequestedByCustomer = "requested_by_customer",
        Automatic = "automatic",
        /// An uncaptured authorisation that expired (`automatic` before 2026-09-30.endive).
        Expired = "expired",
        FailedInvoice = "failed_invoice",
        VoidInvoice = "void_invoice",
    }
}

/// A PaymentIntent. `client_secret` is a [`Secret`]: it never shows in logs.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_capturable: i64,
    #[serde(default)]
    pub amount_received: i64,
    /// The tip Stripe recorded (on the reader's tipping screen), part of `amount`.
    pub amount_details: Option<AmountDetails>,
    pub currency: String,
    pub status: PaymentIntentStatus,
    pub capture_method: CaptureMethod,
    #[serde(default, deserialize_with = "opt_secret")]
    pub client_secret: Option<Secret<String>>,
    pub customer: Option<Expandable<Customer>>,
    pub payment_method: Option<Expandable<PaymentMethod>>,
    pub latest_charge: Option<Expandable<Charge>>,
    pub last_payment_error: Option<ApiErrorObject>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    pub setup_future_usage: Option<SetupFutureUsage>,
    pub created: i64,
    pub cancellation_reason: Option<CancellationReason>,
    pub description: Option<String>,
    /// Where Stripe e-mails the receipt.
    #[serde(default)]
    pub receipt_email: Option<String>,
    #[serde(default)]
    pub payment_method_types: Vec<String>,
    #[serde(default)]
    pub livemode: bool,
}

/// `amount_details` of a PaymentIntent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AmountDetails {
    pub tip: Option<Tip>,
}

/// `amount_details.tip`: empty when no tip was taken.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Tip {
    pub amount: Option<i64>,
}

impl PaymentIntent {
    /// The tip included in `amount`, when Stripe reports one.
    pub fn tip(&self) -> Option<i64> {
        self.amount_details.as_ref()?.tip.as_ref()?.amount
    }
}

impl HasId for PaymentIntent {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `payment_method_options[card_present][…]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CardPresentOptions {
    /// Ask for an extended authorisation window (eligible cards only).
    pub request_extended_authorization: Option<bool>,
    /// Needed for a later `increment_authorization`.
    pub request_incremental_authorization_support: Option<bool>,
}

impl CardPresentOptions {
    fn encode(&self, f: &mut Form) {
        if let Some(v) = self.request_extended_authorization {
            f.key("payment_method_options")
                .field("card_present")
                .field("request_extended_authorization")
                .value(v);
        }
        if let Some(v) = self.request_incremental_authorization_support {
            f.key("payment_method_options")
                .field("card_present")
                .field("request_incremental_authorization_support")
                .value(v);
        }
    }
}

/// `POST /v1/payment_intents`.
#[derive(Debug, Clone, Default)]
pub struct CreatePaymentIntent<'a> {
    /// Minor units.
    pub amount: i64,
    /// Lower-case ISO 4217.
    pub currency: &'a str,
    /// `card_present`, `interac_present`, `card`, …: sent as `allowed_payment_method_types`
    /// (2026-09-30.endive removed the writable `payment_method_types`).
    pub payment_method_types: &'a [&'a str],
    pub capture_method: Option<CaptureMethod>,
    pub customer: Option<&'a str>,
    pub setup_future_usage: Option<SetupFutureUsage>,
    pub description: Option<&'a str>,
    pub metadata: Option<&'a Metadata>,
    pub receipt_email: Option<&'a str>,
    pub statement_descriptor_suffix: Option<&'a str>,
    /// A saved PaymentMethod to charge (with `confirm` and `off_session` for a merchant-initiated
    /// charge).
    pub payment_method: Option<&'a str>,
    pub confirm: Option<bool>,
    pub off_session: Option<bool>,
    pub card_present: Option<CardPresentOptions>,
    pub expand: &'a [&'a str],
}

impl<'a> CreatePaymentIntent<'a> {
    pub fn new(amount: i64, currency: &'a str) -> Self {
        CreatePaymentIntent {
            amount,
            currency,
            ..Default::default()
        }
    }

    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push("amount", self.amount);
        f.push("currency", self.currency);
        f.push_list("allowed_payment_method_types", self.payment_method_types);
        f.push_opt("capture_method", self.capture_method.as_ref());
        f.push_opt("customer", self.customer);
        f.push_opt("setup_future_usage", self.setup_future_usage.as_ref());
        f.push_opt("description", self.description);
        f.push_map_opt("metadata", self.metadata);
        f.push_opt("receipt_email", self.receipt_email);
        f.push_opt(
            "statement_descriptor_suffix",
            self.statement_descriptor_suffix,
        );
        f.push_opt("payment_method", self.payment_method);
        f.push_opt("confirm", self.confirm);
        f.push_opt("off_session", self.off_session);
        if let Some(options) = &self.card_present {
            options.encode(&mut f);
        }
        f.push_expand(self.expand);
        f
    }
}

/// `POST /v1/payment_intents/{id}`: only the fields set are changed.
#[derive(Debug, Clone, Default)]
pub struct UpdatePaymentIntent<'a> {
    pub amount: Option<i64>,
    pub currency: Option<&'a str>,
    pub customer: Option<&'a str>,
    pub description: Option<&'a str>,
    /// Merged into the existing metadata (an empty value removes a key).
    pub metadata: Option<&'a Metadata>,
    pub setup_future_usage: Option<SetupFutureUsage>,
    pub capture_method: Option<CaptureMethod>,
    pub payment_method: Option<&'a str>,
    pub receipt_email: Option<&'a str>,
    pub expand: &'a [&'a str],
}

impl UpdatePaymentIntent<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("amount", self.amount);
        f.push_opt("currency", self.currency);
        f.push_opt("customer", self.customer);
        f.push_opt("description", self.description);
        f.push_map_opt("metadata", self.metadata);
        f.push_opt("setup_future_usage", self.setup_future_usage.as_ref());
        f.push_opt("capture_method", self.capture_method.as_ref());
        f.push_opt("payment_method", self.payment_method);
        f.push_opt("receipt_email", self.receipt_email);
        f.push_expand(self.expand);
        f
    }
}

/// `POST /v1/payment_intents/{id}/confirm`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfirmPaymentIntent<'a> {
    pub payment_method: Option<&'a str>,
    pub off_session: Option<bool>,
    pub return_url: Option<&'a str>,
    pub expand: &'a [&'a str],
}

impl ConfirmPaymentIntent<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("payment_method", self.payment_method);
        f.push_opt("off_session", self.off_session);
        f.push_opt("return_url", self.return_url);
        f.push_expand(self.expand);
        f
    }
}

/// `POST /v1/payment_intents/{id}/capture`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CapturePaymentIntent<'a> {
    /// Partial capture; omitted captures everything capturable.
    pub amount_to_capture: Option<i64>,
    pub metadata: Option<&'a Metadata>,
    pub expand: &'a [&'a str],
}

impl CapturePaymentIntent<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("amount_to_capture", self.amount_to_capture);
        f.push_map_opt("metadata", self.metadata);
        f.push_expand(self.expand);
        f
    }
}

/// `POST /v1/payment_intents/{id}/cancel`.
#[derive(Debug, Clone, Default)]
pub struct CancelPaymentIntent<'a> {
    pub cancellation_reason: Option<CancellationReason>,
    pub expand: &'a [&'a str],
}

impl CancelPaymentIntent<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("cancellation_reason", self.cancellation_reason.as_ref());
        f.push_expand(self.expand);
        f
    }
}

/// `POST /v1/payment_intents/{id}/increment_authorization`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IncrementAuthorization<'a> {
    /// The new total amount (not the increment), minor units.
    pub amount: i64,
    pub description: Option<&'a str>,
    pub metadata: Option<&'a Metadata>,
    pub expand: &'a [&'a str],
}

impl IncrementAuthorization<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push("amount", self.amount);
        f.push_opt("description", self.description);
        f.push_map_opt("metadata", self.metadata);
        f.push_expand(self.expand);
        f
    }
}

const PATH: &str = "/v1/payment_intents";

impl StripeClient {
    pub async fn create_payment_intent(
        &self,
        account: &StripeAccount,
        params: &CreatePaymentIntent<'_>,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        self.post(account, PATH, params.encode(), idempotency_key)
            .await
    }

    /// `GET /v1/payment_intents/{id}`, e.g. with `expand: &["latest_charge"]`.
    pub async fn retrieve_payment_intent(
        &self,
        account: &StripeAccount,
        id: &str,
        expand: &[&str],
    ) -> Result<PaymentIntent, StripeError> {
        let mut query = Form::new();
        query.push_expand(expand);
        self.get(account, &id_path(PATH, id, "")?, query).await
    }

    pub async fn update_payment_intent(
        &self,
        account: &StripeAccount,
        id: &str,
        params: &UpdatePaymentIntent<'_>,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        self.post(
            account,
            &id_path(PATH, id, "")?,
            params.encode(),
            idempotency_key,
        )
        .await
    }

    pub async fn confirm_payment_intent(
        &self,
        account: &StripeAccount,
        id: &str,
        params: &ConfirmPaymentIntent<'_>,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        self.post(
            account,
            &id_path(PATH, id, "/confirm")?,
            params.encode(),
            idempotency_key,
        )
        .await
    }

    pub async fn capture_payment_intent(
        &self,
        account: &StripeAccount,
        id: &str,
        params: &CapturePaymentIntent<'_>,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        self.post(
            account,
            &id_path(PATH, id, "/capture")?,
            params.encode(),
            idempotency_key,
        )
        .await
    }

    pub async fn cancel_payment_intent(
        &self,
        account: &StripeAccount,
        id: &str,
        params: &CancelPaymentIntent<'_>,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        self.post(
            account,
            &id_path(PATH, id, "/cancel")?,
            params.encode(),
            idempotency_key,
        )
        .await
    }

    pub async fn increment_authorization(
        &self,
        account: &StripeAccount,
        id: &str,
        params: &IncrementAuthorization<'_>,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let path = id_path(PATH, id, "/increment_authorization")?;
        self.post(account, &path, params.encode(), idempotency_key)
            .await
    }

    /// `GET /v1/payment_intents/search`, e.g. with
    /// [`metadata_query`](super::types::metadata_query)`("external_transaction_id", …)`.
    pub async fn search_payment_intents(
        &self,
        account: &StripeAccount,
        params: &SearchParams<'_>,
    ) -> Result<SearchResult<PaymentIntent>, StripeError> {
        let mut query = Form::new();
        params.encode(&mut query);
        self.get(account, "/v1/payment_intents/search", query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tip_from_amount_details() {
        let decode = |details: &str| -> PaymentIntent {
            serde_json::from_str(&format!(
                r#"{{"id":"pi_1","amount":1494,"currency":"usd","status":"requires_capture",
                    "capture_method":"manual","created":1{details}}}"#
            ))
            .unwrap()
        };
        assert_eq!(
            decode(r#","amount_details":{"tip":{"amount":195}}"#).tip(),
            Some(195)
        );
        assert_eq!(decode(r#","amount_details":{"tip":{}}"#).tip(), None);
        assert_eq!(decode("").tip(), None);
    }

    #[test]
    fn create_encodes_the_card_present_intent() {
        let mut metadata = Metadata::new();
        metadata.insert("external_transaction_id".into(), "tx 1".into());
        let params = CreatePaymentIntent {
            payment_method_types: &["card_present"],
            capture_method: Some(CaptureMethod::Manual),
            customer: Some("cus_1"),
            setup_future_usage: Some(SetupFutureUsage::OffSession),
            metadata: Some(&metadata),
            card_present: Some(CardPresentOptions {
                request_incremental_authorization_support: Some(true),
                ..Default::default()
            }),
            expand: &["latest_charge"],
            ..CreatePaymentIntent::new(1299, "usd")
        };
        assert_eq!(
            params.encode().as_str(),
            "amount=1299&currency=usd&allowed_payment_method_types[0]=card_present&capture_method=manual\
             &customer=cus_1&setup_future_usage=off_session&metadata[external_transaction_id]=tx+1\
             &payment_method_options[card_present][request_incremental_authorization_support]=true\
             &expand[]=latest_charge"
        );
    }

    #[test]
    fn empty_bodies_and_partial_capture() {
        assert!(CapturePaymentIntent::default().encode().is_empty());
        assert!(CancelPaymentIntent::default().encode().is_empty());
        let capture = CapturePaymentIntent {
            amount_to_capture: Some(1000),
            ..Default::default()
        };
        assert_eq!(capture.encode().as_str(), "amount_to_capture=1000");
        let cancel = CancelPaymentIntent {
            cancellation_reason: Some(CancellationReason::RequestedByCustomer),
            ..Default::default()
        };
        assert_eq!(
            cancel.encode().as_str(),
            "cancellation_reason=requested_by_customer"
        );
    }

    #[test]
    fn decodes_an_intent_with_expanded_charge() {
        let json = r#"{
          "id": "pi_1", "object": "payment_intent", "amount": 1299, "amount_capturable": 0,
          "amount_received": 1299, "currency": "usd", "status": "succeeded", "capture_method": "manual",
          "client_secret": "pi_1_secret_abc", "customer": "cus_1", "payment_method": "pm_1",
          "latest_charge": {"id": "ch_1", "object": "charge", "amount": 1299, "amount_captured": 1299,
             "amount_refunded": 0, "captured": true, "refunded": false, "currency": "usd",
             "status": "succeeded", "created": 1700000000, "metadata": {},
             "payment_method_details": {"type": "card_present", "card_present": {
                "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030,
                "fingerprint": "fp_1", "generated_card": "pm_gen", "capture_before": 1700600000,
                "incremental_authorization_supported": false, "overcapture_supported": false,
                "receipt": {"application_cryptogram": "x"}}}},
          "last_payment_error": null, "metadata": {"k": "v"}, "setup_future_usage": "off_session",
          "created": 1700000000, "cancellation_reason": null, "payment_method_types": ["card_present"],
          "livemode": false, "amount_details": {"tip": {}}, "brand_new_field": [1, 2.5]
        }"#;
        let pi: PaymentIntent = serde_json::from_str(json).unwrap();
        assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
        assert_eq!(pi.capture_method, CaptureMethod::Manual);
        assert_eq!(
            pi.client_secret.as_ref().unwrap().expose(),
            "pi_1_secret_abc"
        );
        assert!(!format!("{pi:?}").contains("pi_1_secret_abc"));
        assert_eq!(pi.customer.as_ref().unwrap().id(), "cus_1");
        let charge = pi.latest_charge.as_ref().unwrap().as_object().unwrap();
        let cp = charge.card_present().unwrap();
        assert_eq!(cp.generated_card.as_deref(), Some("pm_gen"));
        assert_eq!((cp.exp_month, cp.exp_year), (Some(12), Some(2030)));
        assert_eq!(pi.setup_future_usage, Some(SetupFutureUsage::OffSession));
        assert_eq!(pi.metadata["k"], "v");

        let unknown: PaymentIntent = serde_json::from_str(
            r#"{"id":"pi_2","amount":1,"currency":"usd","status":"requires_reauthorization",
                "capture_method":"manual","created":1}"#,
        )
        .unwrap();
        assert_eq!(unknown.status.as_str(), "requires_reauthorization");
        assert!(unknown.client_secret.is_none() && unknown.latest_charge.is_none());
    }
}
