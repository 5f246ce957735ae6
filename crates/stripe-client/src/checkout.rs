//! Checkout Sessions: create (setup mode to save a card, payment mode to sell), retrieve (with
//! `expand[]=setup_intent` to read the saved card in one call), expire, list by PaymentIntent.

use serde::Deserialize;

use super::client::{id_path, StripeAccount, StripeClient};
use super::customers::Customer;
use super::error::StripeError;
use super::form::Form;
use super::payment_intents::{CaptureMethod, PaymentIntent, SetupFutureUsage};
use super::setup_intents::SetupIntent;
use super::types::{
    null_default, opt_secret, string_enum, Expandable, HasId, List, ListParams, Metadata,
};
use crate::secret::Secret;

string_enum! {
    pub enum CheckoutMode {
        Payment = "payment",
        Setup = "setup",
        Subscription = "subscription",
    }
}

string_enum! {
    pub enum CheckoutSessionStatus {
        Open = "open",
        Complete = "complete",
        Expired = "expired",
    }
}

string_enum! {
    pub enum CheckoutPaymentStatus {
        Paid = "paid",
        Unpaid = "unpaid",
        NoPaymentRequired = "no_payment_required",
    }
}

string_enum! {
    /// How a session is shown. These are the project's names (stored with the session and
    /// returned by its API); on the wire, since 2026-03-25.dahlia, Stripe calls them
    /// `hosted_page` and `embedded_page` ([`UiMode::wire`], [`ui_mode_from_wire`]).
    pub enum UiMode {
        Hosted = "hosted",
        Embedded = "embedded",
    }
}

impl UiMode {
    /// Stripe's value at the pinned API version.
    pub fn wire(&self) -> &str {
        match self {
            UiMode::Hosted => "hosted_page",
            UiMode::Embedded => "embedded_page",
            UiMode::Unknown(other) => other,
        }
    }
}

/// Reads Stripe's `ui_mode` (`hosted_page`, `embedded_page`; the older `hosted` and `embedded`
/// too) as a [`UiMode`].
fn ui_mode_from_wire<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<UiMode>, D::Error> {
    let value: Option<String> = Option::deserialize(d)?;
    Ok(value.map(|v| match v.as_str() {
        "hosted_page" => UiMode::Hosted,
        "embedded_page" => UiMode::Embedded,
        other => UiMode::from(other),
    }))
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    pub mode: CheckoutMode,
    pub status: Option<CheckoutSessionStatus>,
    pub payment_status: Option<CheckoutPaymentStatus>,
    /// The hosted page (hosted mode).
    pub url: Option<String>,
    /// For embedded mode; never shows in logs.
    #[serde(default, deserialize_with = "opt_secret")]
    pub client_secret: Option<Secret<String>>,
    #[serde(default, deserialize_with = "ui_mode_from_wire")]
    pub ui_mode: Option<UiMode>,
    pub customer: Option<Expandable<Customer>>,
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    pub setup_intent: Option<Expandable<SetupIntent>>,
    pub amount_subtotal: Option<i64>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub client_reference_id: Option<String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub expires_at: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
}

impl HasId for CheckoutSession {
    fn id(&self) -> &str {
        &self.id
    }
}

/// One line, priced inline: `line_items[i][price_data][…]` and `line_items[i][quantity]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckoutLineItem<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    /// Minor units.
    pub unit_amount: i64,
    pub currency: &'a str,
    pub quantity: u64,
}

/// `payment_intent_data[…]` (payment mode).
#[derive(Debug, Clone, Default)]
pub struct CheckoutPaymentIntentData<'a> {
    pub capture_method: Option<CaptureMethod>,
    pub setup_future_usage: Option<SetupFutureUsage>,
    pub description: Option<&'a str>,
    pub metadata: Option<&'a Metadata>,
}

/// `POST /v1/checkout/sessions`.
#[derive(Debug, Clone)]
pub struct CreateCheckoutSession<'a> {
    pub mode: CheckoutMode,
    /// May carry `{CHECKOUT_SESSION_ID}`, which Stripe fills in.
    pub success_url: Option<&'a str>,
    pub cancel_url: Option<&'a str>,
    /// Embedded mode's return page: sent only when set.
    pub return_url: Option<&'a str>,
    pub ui_mode: Option<UiMode>,
    pub customer: Option<&'a str>,
    pub customer_email: Option<&'a str>,
    /// Setup mode with dynamic payment methods needs a currency.
    pub currency: Option<&'a str>,
    /// Sent as `allowed_payment_method_types` (2026-09-30.endive removed the writable
    /// `payment_method_types`).
    pub payment_method_types: &'a [&'a str],
    pub line_items: &'a [CheckoutLineItem<'a>],
    pub client_reference_id: Option<&'a str>,
    pub metadata: Option<&'a Metadata>,
    /// Unix time, 30 minutes to 24 hours from now.
    pub expires_at: Option<i64>,
    pub payment_intent_data: Option<CheckoutPaymentIntentData<'a>>,
    /// `setup_intent_data[metadata]` (setup mode).
    pub setup_intent_metadata: Option<&'a Metadata>,
    pub expand: &'a [&'a str],
}

impl<'a> CreateCheckoutSession<'a> {
    pub fn new(mode: CheckoutMode) -> Self {
        CreateCheckoutSession {
            mode,
            success_url: None,
            cancel_url: None,
            return_url: None,
            ui_mode: None,
            customer: None,
            customer_email: None,
            currency: None,
            payment_method_types: &[],
            line_items: &[],
            client_reference_id: None,
            metadata: None,
            expires_at: None,
            payment_intent_data: None,
            setup_intent_metadata: None,
            expand: &[],
        }
    }

    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push("mode", &self.mode);
        f.push_opt("success_url", self.success_url);
        f.push_opt("cancel_url", self.cancel_url);
        f.push_opt("return_url", self.return_url);
        f.push_opt("ui_mode", self.ui_mode.as_ref().map(UiMode::wire));
        f.push_opt("customer", self.customer);
        f.push_opt("customer_email", self.customer_email);
        f.push_opt("currency", self.currency);
        f.push_list("allowed_payment_method_types", self.payment_method_types);
        for (i, item) in self.line_items.iter().enumerate() {
            f.key("line_items")
                .index(i)
                .field("price_data")
                .field("currency")
                .value(item.currency);
            f.key("line_items")
                .index(i)
                .field("price_data")
                .field("unit_amount")
                .value(item.unit_amount);
            f.key("line_items")
                .index(i)
                .field("price_data")
                .field("product_data")
                .field("name")
                .value(item.name);
            if let Some(description) = item.description {
                f.key("line_items")
                    .index(i)
                    .field("price_data")
                    .field("product_data")
                    .field("description")
                    .value(description);
            }
            f.key("line_items")
                .index(i)
                .field("quantity")
                .value(item.quantity);
        }
        f.push_opt("client_reference_id", self.client_reference_id);
        f.push_map_opt("metadata", self.metadata);
        f.push_opt("expires_at", self.expires_at);
        if let Some(data) = &self.payment_intent_data {
            if let Some(v) = &data.capture_method {
                f.key("payment_intent_data")
                    .field("capture_method")
                    .value(v);
            }
            if let Some(v) = &data.setup_future_usage {
                f.key("payment_intent_data")
                    .field("setup_future_usage")
                    .value(v);
            }
            if let Some(v) = data.description {
                f.key("payment_intent_data").field("description").value(v);
            }
            for (k, v) in data.metadata.into_iter().flatten() {
                f.key("payment_intent_data")
                    .field("metadata")
                    .field(k)
                    .value(v.as_str());
            }
        }
        for (k, v) in self.setup_intent_metadata.into_iter().flatten() {
            f.key("setup_intent_data")
                .field("metadata")
                .field(k)
                .value(v.as_str());
        }
        f.push_expand(self.expand);
        f
    }
}

/// `GET /v1/checkout/sessions`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListCheckoutSessions<'a> {
    pub payment_intent: Option<&'a str>,
    pub customer: Option<&'a str>,
    pub page: ListParams<'a>,
}

const PATH: &str = "/v1/checkout/sessions";

impl StripeClient {
    pub async fn create_checkout_session(
        &self,
        account: &StripeAccount,
        params: &CreateCheckoutSession<'_>,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.post(account, PATH, params.encode(), idempotency_key)
            .await
    }

    /// `GET /v1/checkout/sessions/{id}`, e.g. with `expand: &["setup_intent.payment_method"]`.
    pub async fn retrieve_checkout_session(
        &self,
        account: &StripeAccount,
        id: &str,
        expand: &[&str],
    ) -> Result<CheckoutSession, StripeError> {
        let mut query = Form::new();
        query.push_expand(expand);
        self.get(account, &id_path(PATH, id, "")?, query).await
    }

    /// `POST /v1/checkout/sessions/{id}/expire`: an open session can no longer be paid.
    pub async fn expire_checkout_session(
        &self,
        account: &StripeAccount,
        id: &str,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.post(
            account,
            &id_path(PATH, id, "/expire")?,
            Form::new(),
            idempotency_key,
        )
        .await
    }

    pub async fn list_checkout_sessions(
        &self,
        account: &StripeAccount,
        params: &ListCheckoutSessions<'_>,
    ) -> Result<List<CheckoutSession>, StripeError> {
        let mut query = Form::new();
        query.push_opt("payment_intent", params.payment_intent);
        query.push_opt("customer", params.customer);
        params.page.encode(&mut query);
        self.get(account, PATH, query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_setup_and_payment_sessions() {
        let setup = CreateCheckoutSession {
            success_url: Some("https://pos.example/ok?session={CHECKOUT_SESSION_ID}"),
            cancel_url: Some("https://pos.example/cancel"),
            customer: Some("cus_1"),
            payment_method_types: &["card"],
            ..CreateCheckoutSession::new(CheckoutMode::Setup)
        };
        assert_eq!(
            setup.encode().as_str(),
            "mode=setup&success_url=https%3A%2F%2Fpos.example%2Fok%3Fsession%3D%7BCHECKOUT_SESSION_ID%7D\
             &cancel_url=https%3A%2F%2Fpos.example%2Fcancel&customer=cus_1&allowed_payment_method_types[0]=card"
        );

        let mut metadata = Metadata::new();
        metadata.insert("reference".into(), "booking-7".into());
        let items = [
            CheckoutLineItem {
                name: "Room",
                unit_amount: 10000,
                currency: "eur",
                quantity: 2,
                ..Default::default()
            },
            CheckoutLineItem {
                name: "Breakfast",
                description: Some("Daily"),
                unit_amount: 1550,
                currency: "eur",
                quantity: 1,
            },
        ];
        let payment = CreateCheckoutSession {
            line_items: &items,
            client_reference_id: Some("booking-7"),
            expires_at: Some(1_700_003_600),
            payment_intent_data: Some(CheckoutPaymentIntentData {
                metadata: Some(&metadata),
                ..Default::default()
            }),
            ..CreateCheckoutSession::new(CheckoutMode::Payment)
        };
        assert_eq!(
            payment.encode().as_str(),
            "mode=payment\
             &line_items[0][price_data][currency]=eur&line_items[0][price_data][unit_amount]=10000\
             &line_items[0][price_data][product_data][name]=Room&line_items[0][quantity]=2\
             &line_items[1][price_data][currency]=eur&line_items[1][price_data][unit_amount]=1550\
             &line_items[1][price_data][product_data][name]=Breakfast\
             &line_items[1][price_data][product_data][description]=Daily&line_items[1][quantity]=1\
             &client_reference_id=booking-7&expires_at=1700003600\
             &payment_intent_data[metadata][reference]=booking-7"
        );
    }

    #[test]
    fn decodes_a_completed_setup_session() {
        let s: CheckoutSession = serde_json::from_str(
            r#"{"id":"cs_test_1","object":"checkout.session","mode":"setup","status":"complete",
                "payment_status":"no_payment_required","url":null,"customer":"cus_1","payment_intent":null,
                "setup_intent":{"id":"seti_1","status":"succeeded","payment_method":"pm_1","created":1},
                "success_url":"https://x/ok","cancel_url":null,"expires_at":2,"created":1,"metadata":{},
                "custom_fields":[],"automatic_tax":{"enabled":false}}"#,
        )
        .unwrap();
        assert_eq!(s.status, Some(CheckoutSessionStatus::Complete));
        let si = s.setup_intent.unwrap().into_object().unwrap();
        assert_eq!(si.payment_method.unwrap().id(), "pm_1");
    }
}
