//! Stripe Terminal: connection tokens, locations, readers, the server-driven flow
//! (`process_payment_intent`, or its two halves `collect_payment_method` and
//! `confirm_payment_intent`; `process_setup_intent`, `set_reader_display`, `refund_payment`,
//! `cancel_action`) and the test helper that presents a card on a simulated reader.

use serde::Deserialize;

use super::charges::Charge;
use super::client::{id_path, StripeAccount, StripeClient};
use super::error::StripeError;
use super::form::Form;
use super::payment_intents::PaymentIntent;
use super::payment_methods::PaymentMethod;
use super::refunds::Refund;
use super::setup_intents::SetupIntent;
use super::types::{
    null_default, secret, string_enum, Address, Expandable, HasId, List, ListParams, Metadata,
};
use crate::secret::Secret;

/// A connection token for the Terminal SDK; `secret` never shows in logs. Single use: fetch a
/// fresh one every time the SDK asks.
#[derive(Debug, Clone, Deserialize)]
pub struct ConnectionToken {
    #[serde(deserialize_with = "secret")]
    pub secret: Secret<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Location {
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub address: Address,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    /// The Terminal Configuration its readers use, if not the account's.
    #[serde(default)]
    pub configuration_overrides: Option<String>,
    #[serde(default)]
    pub livemode: bool,
}

/// `POST /v1/terminal/locations/{id}`: what is `Some` is changed, the rest is left alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpdateLocation<'a> {
    /// `Some("")` unsets it.
    pub configuration_overrides: Option<&'a str>,
    pub display_name: Option<&'a str>,
    /// The fields given replace the location's (Stripe keeps `country`: a location does not
    /// move to another country).
    pub address: Option<AddressParams<'a>>,
}

impl UpdateLocation<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("configuration_overrides", self.configuration_overrides);
        f.push_opt("display_name", self.display_name);
        if let Some(a) = &self.address {
            a.encode_into(&mut f);
        }
        f
    }
}

impl HasId for Location {
    fn id(&self) -> &str {
        &self.id
    }
}

string_enum! {
    pub enum ReaderActionType {
        ProcessPaymentIntent = "process_payment_intent",
        CollectPaymentMethod = "collect_payment_method",
        ConfirmPaymentIntent = "confirm_payment_intent",
        ProcessSetupIntent = "process_setup_intent",
        RefundPayment = "refund_payment",
        SetReaderDisplay = "set_reader_display",
    }
}

string_enum! {
    pub enum ReaderActionStatus {
        InProgress = "in_progress",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

/// `action.process_payment_intent` on a reader.
#[derive(Debug, Clone, Deserialize)]
pub struct ProcessPaymentIntentAction {
    pub payment_intent: Expandable<PaymentIntent>,
}

/// `action.process_setup_intent` on a reader.
#[derive(Debug, Clone, Deserialize)]
pub struct ProcessSetupIntentAction {
    pub setup_intent: Expandable<SetupIntent>,
    /// The `card` PaymentMethod generated once the action succeeded.
    #[serde(default)]
    pub generated_card: Option<String>,
}

/// What a reader is doing (or last did) for a server-driven request.
#[derive(Debug, Clone, Deserialize)]
pub struct ReaderAction {
    #[serde(rename = "type")]
    pub action_type: ReaderActionType,
    pub status: ReaderActionStatus,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub process_payment_intent: Option<ProcessPaymentIntentAction>,
    /// A `collect_payment_method` action: the intent and, once read, the card.
    #[serde(default)]
    pub collect_payment_method: Option<CollectPaymentMethodAction>,
    #[serde(default)]
    pub confirm_payment_intent: Option<ConfirmPaymentIntentAction>,
    #[serde(default)]
    pub process_setup_intent: Option<ProcessSetupIntentAction>,
    /// What a `set_reader_display` action shows.
    #[serde(default)]
    pub set_reader_display: Option<SetReaderDisplayAction>,
    /// The refund a `refund_payment` action makes.
    #[serde(default)]
    pub refund_payment: Option<RefundPaymentAction>,
}

/// `action.refund_payment` on a reader: the charge refunded in person, and the refund once made.
#[derive(Debug, Clone, Deserialize)]
pub struct RefundPaymentAction {
    pub amount: Option<i64>,
    pub charge: Option<Expandable<Charge>>,
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    pub refund: Option<Expandable<Refund>>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
}

/// `action.collect_payment_method` on a reader.
#[derive(Debug, Clone, Deserialize)]
pub struct CollectPaymentMethodAction {
    pub payment_intent: Expandable<PaymentIntent>,
    /// The card the reader read (set once collected).
    #[serde(default)]
    pub payment_method: Option<PaymentMethod>,
}

/// `action.confirm_payment_intent` on a reader.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfirmPaymentIntentAction {
    pub payment_intent: Expandable<PaymentIntent>,
}

impl ReaderAction {
    /// The PaymentIntent a payment action (`process_payment_intent`, `collect_payment_method`,
    /// `confirm_payment_intent`) is about.
    pub fn payment_intent_id(&self) -> Option<&str> {
        self.process_payment_intent
            .as_ref()
            .map(|a| a.payment_intent.id())
            .or_else(|| {
                self.collect_payment_method
                    .as_ref()
                    .map(|a| a.payment_intent.id())
            })
            .or_else(|| {
                self.confirm_payment_intent
                    .as_ref()
                    .map(|a| a.payment_intent.id())
            })
    }
}

/// `action.set_reader_display` on a reader.
#[derive(Debug, Clone, Deserialize)]
pub struct SetReaderDisplayAction {
    pub cart: Option<DisplayedCart>,
}

/// The cart a reader shows; amounts in minor units.
#[derive(Debug, Clone, Deserialize)]
pub struct DisplayedCart {
    pub currency: String,
    #[serde(default)]
    pub line_items: Vec<DisplayedLine>,
    pub tax: Option<i64>,
    pub total: i64,
}

/// One line of a [`DisplayedCart`]: the unit `amount` and the quantity.
#[derive(Debug, Clone, Deserialize)]
pub struct DisplayedLine {
    pub amount: i64,
    pub description: String,
    pub quantity: i64,
}

string_enum! {
    /// A reader's network status.
    pub enum ReaderStatus {
        Online = "online",
        Offline = "offline",
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Reader {
    pub id: String,
    pub label: String,
    pub device_type: String,
    /// `online` / `offline` (null for readers that never reported).
    pub status: Option<ReaderStatus>,
    /// When the reader last reported to Stripe, in **milliseconds** since the epoch
    /// (2025-10-29.clover).
    #[serde(default)]
    pub last_seen_at: Option<i64>,
    pub location: Option<Expandable<Location>>,
    #[serde(default)]
    pub serial_number: String,
    pub action: Option<ReaderAction>,
    pub ip_address: Option<String>,
    pub device_sw_version: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    #[serde(default)]
    pub livemode: bool,
}

impl HasId for Reader {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `address[…]` of a new location; `country` is required.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddressParams<'a> {
    pub line1: Option<&'a str>,
    pub line2: Option<&'a str>,
    pub city: Option<&'a str>,
    pub state: Option<&'a str>,
    pub postal_code: Option<&'a str>,
    pub country: &'a str,
}

/// `POST /v1/terminal/locations`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateLocation<'a> {
    pub display_name: &'a str,
    pub address: AddressParams<'a>,
    pub metadata: Option<&'a Metadata>,
}

impl AddressParams<'_> {
    /// `address[…]`; an empty `country` is left out (an update keeps the location's).
    fn encode_into(&self, f: &mut Form) {
        let country = Some(self.country).filter(|c| !c.is_empty());
        for (field, value) in [
            ("line1", self.line1),
            ("line2", self.line2),
            ("city", self.city),
            ("state", self.state),
            ("postal_code", self.postal_code),
            ("country", country),
        ] {
            if let Some(value) = value {
                f.key("address").field(field).value(value);
            }
        }
    }
}

impl CreateLocation<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push("display_name", self.display_name);
        self.address.encode_into(&mut f);
        f.push_map_opt("metadata", self.metadata);
        f
    }
}

/// `GET /v1/terminal/locations`.
pub type ListLocations<'a> = ListParams<'a>;

/// `POST /v1/terminal/readers`: register a reader by the code it displays (`simulated-wpe` for a
/// simulated WisePOS E).
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateReader<'a> {
    pub registration_code: &'a str,
    pub label: Option<&'a str>,
    pub location: Option<&'a str>,
    pub metadata: Option<&'a Metadata>,
}

impl CreateReader<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push("registration_code", self.registration_code);
        f.push_opt("label", self.label);
        f.push_opt("location", self.location);
        f.push_map_opt("metadata", self.metadata);
        f
    }
}

/// `GET /v1/terminal/readers`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListReaders<'a> {
    pub location: Option<&'a str>,
    pub status: Option<&'a ReaderStatus>,
    pub device_type: Option<&'a str>,
    pub serial_number: Option<&'a str>,
    pub page: ListParams<'a>,
}

/// `POST /v1/terminal/readers/{id}`: its label and metadata (a reader moves to another location
/// by being registered again).
#[derive(Debug, Clone, Copy, Default)]
pub struct UpdateReader<'a> {
    pub label: Option<&'a str>,
    pub metadata: Option<&'a Metadata>,
}

impl UpdateReader<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("label", self.label);
        f.push_map_opt("metadata", self.metadata);
        f
    }
}

/// What `DELETE` answers for a reader or a location: `{"id", "object", "deleted": true}`.
#[derive(Debug, Clone, Deserialize)]
pub struct DeletedTerminalObject {
    pub id: String,
    pub object: String,
    #[serde(default)]
    pub deleted: bool,
}

/// `process_config[…]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessConfig {
    pub skip_tipping: Option<bool>,
    /// `process_config[tipping][amount_eligible]`, minor units.
    pub tipping_amount_eligible: Option<i64>,
    /// Whether the saved card may be shown to its customer again. Stripe requires it when the
    /// PaymentIntent has `setup_future_usage` (since 2024-09-30.acacia, replacing
    /// `customer_consent_collected`).
    pub allow_redisplay: Option<AllowRedisplay>,
}

/// `process_config[allow_redisplay]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowRedisplay {
    Always,
    Limited,
    Unspecified,
}

impl AllowRedisplay {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            AllowRedisplay::Always => "always",
            AllowRedisplay::Limited => "limited",
            AllowRedisplay::Unspecified => "unspecified",
        }
    }

    /// The value of a wire string (`None` for anything else).
    pub fn parse(value: &str) -> Option<AllowRedisplay> {
        [
            AllowRedisplay::Always,
            AllowRedisplay::Limited,
            AllowRedisplay::Unspecified,
        ]
        .into_iter()
        .find(|a| a.as_str() == value)
    }
}

/// `POST /v1/terminal/readers/{id}/process_payment_intent`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessPaymentIntent<'a> {
    pub payment_intent: &'a str,
    pub process_config: Option<ProcessConfig>,
    pub expand: &'a [&'a str],
}

impl ProcessPaymentIntent<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push("payment_intent", self.payment_intent);
        if let Some(config) = &self.process_config {
            config.encode_into(&mut f, "process_config");
        }
        f.push_expand(self.expand);
        f
    }
}

impl ProcessConfig {
    /// `{key}[skip_tipping]`, `{key}[tipping][amount_eligible]`, `{key}[allow_redisplay]`.
    fn encode_into(&self, f: &mut Form, key: &str) {
        if let Some(skip) = self.skip_tipping {
            f.key(key).field("skip_tipping").value(skip);
        }
        if let Some(amount) = self.tipping_amount_eligible {
            f.key(key)
                .field("tipping")
                .field("amount_eligible")
                .value(amount);
        }
        if let Some(allow) = self.allow_redisplay {
            f.key(key).field("allow_redisplay").value(allow.as_str());
        }
    }
}

/// `POST /v1/terminal/readers/{id}/collect_payment_method`: the reader reads a card and attaches
/// it to the intent without confirming it; `collect_config[…]` takes the options of
/// `process_config[…]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReaderCollectPaymentMethod<'a> {
    pub payment_intent: &'a str,
    pub collect_config: Option<ProcessConfig>,
}

impl ReaderCollectPaymentMethod<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push("payment_intent", self.payment_intent);
        if let Some(config) = &self.collect_config {
            config.encode_into(&mut f, "collect_config");
        }
        f
    }
}

/// `POST /v1/terminal/readers/{id}/confirm_payment_intent`: the reader confirms the intent with
/// the card it collected.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReaderConfirmPaymentIntent<'a> {
    pub payment_intent: &'a str,
    /// `confirm_config[return_url]`.
    pub return_url: Option<&'a str>,
}

impl ReaderConfirmPaymentIntent<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push("payment_intent", self.payment_intent);
        if let Some(url) = self.return_url {
            f.key("confirm_config").field("return_url").value(url);
        }
        f
    }
}

/// `POST /v1/terminal/readers/{id}/process_setup_intent`: the reader reads a card for a
/// `card_present` SetupIntent and confirms it (saving a card without a payment).
#[derive(Debug, Clone, Copy)]
pub struct ProcessSetupIntent<'a> {
    pub setup_intent: &'a str,
    /// The customer's consent to see the saved card again (required).
    pub allow_redisplay: AllowRedisplay,
    /// `process_config[enable_customer_cancellation]`.
    pub enable_customer_cancellation: Option<bool>,
    pub expand: &'a [&'a str],
}

impl ProcessSetupIntent<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push("setup_intent", self.setup_intent);
        f.push("allow_redisplay", self.allow_redisplay.as_str());
        if let Some(enable) = self.enable_customer_cancellation {
            f.key("process_config")
                .field("enable_customer_cancellation")
                .value(enable);
        }
        f.push_expand(self.expand);
        f
    }
}

/// `cart[line_items][i]`: one line of a cart shown on a reader.
#[derive(Debug, Clone, Copy)]
pub struct CartLineItem<'a> {
    pub description: &'a str,
    /// The unit price, minor units.
    pub amount: i64,
    pub quantity: i64,
}

/// `POST /v1/terminal/readers/{id}/set_reader_display` with `type=cart`: the cart the reader
/// shows until `cancel_action` clears it or a payment replaces it. Display only: Stripe checks
/// nothing against a payment.
#[derive(Debug, Clone, Copy)]
pub struct SetReaderDisplay<'a> {
    /// Lower-case ISO code.
    pub currency: &'a str,
    pub line_items: &'a [CartLineItem<'a>],
    /// Minor units.
    pub tax: Option<i64>,
    /// Minor units.
    pub total: i64,
}

impl SetReaderDisplay<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push("type", "cart");
        f.key("cart").field("currency").value(self.currency);
        for (i, item) in self.line_items.iter().enumerate() {
            f.key("cart")
                .field("line_items")
                .index(i)
                .field("description")
                .value(item.description);
            f.key("cart")
                .field("line_items")
                .index(i)
                .field("amount")
                .value(item.amount);
            f.key("cart")
                .field("line_items")
                .index(i)
                .field("quantity")
                .value(item.quantity);
        }
        if let Some(tax) = self.tax {
            f.key("cart").field("tax").value(tax);
        }
        f.key("cart").field("total").value(self.total);
        f
    }
}

/// `POST /v1/test_helpers/terminal/readers/{id}/present_payment_method` (test mode only):
/// presents a test card on a simulated reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct PresentPaymentMethod<'a> {
    /// `card_present[number]`, a test card number.
    pub card_number: Option<&'a str>,
    /// `interac_present[number]`, for `type=interac_present`.
    pub interac_number: Option<&'a str>,
    /// `card_present` (default) or `interac_present`.
    pub payment_type: Option<&'a str>,
    pub amount_tip: Option<i64>,
}

impl PresentPaymentMethod<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("type", self.payment_type);
        if let Some(number) = self.card_number {
            f.key("card_present").field("number").value(number);
        }
        if let Some(number) = self.interac_number {
            f.key("interac_present").field("number").value(number);
        }
        f.push_opt("amount_tip", self.amount_tip);
        f
    }
}

/// `POST /v1/terminal/readers/{id}/refund_payment`: the reader asks for the card of the charge
/// (give `payment_intent` or `charge`) and refunds `amount` (default: what is left) to it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefundPayment<'a> {
    pub payment_intent: Option<&'a str>,
    pub charge: Option<&'a str>,
    /// Minor units.
    pub amount: Option<i64>,
    pub metadata: Option<&'a Metadata>,
    /// `refund_payment_config[enable_customer_cancellation]`: a cancel button on the reader.
    pub enable_customer_cancellation: Option<bool>,
    pub expand: &'a [&'a str],
}

impl RefundPayment<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("payment_intent", self.payment_intent);
        f.push_opt("charge", self.charge);
        f.push_opt("amount", self.amount);
        f.push_map_opt("metadata", self.metadata);
        if let Some(enable) = self.enable_customer_cancellation {
            f.key("refund_payment_config")
                .field("enable_customer_cancellation")
                .value(enable);
        }
        f.push_expand(self.expand);
        f
    }
}

const READERS: &str = "/v1/terminal/readers";

impl StripeClient {
    /// `POST /v1/terminal/connection_tokens`, optionally restricted to a location. Tokens are
    /// single use: pass a fresh Idempotency-Key (a UUID) for every token, or a retry of the same
    /// call gets the same token back.
    pub async fn create_connection_token(
        &self,
        account: &StripeAccount,
        location: Option<&str>,
        idempotency_key: &str,
    ) -> Result<ConnectionToken, StripeError> {
        let mut form = Form::new();
        form.push_opt("location", location);
        self.post(
            account,
            "/v1/terminal/connection_tokens",
            form,
            idempotency_key,
        )
        .await
    }

    pub async fn create_location(
        &self,
        account: &StripeAccount,
        params: &CreateLocation<'_>,
        idempotency_key: &str,
    ) -> Result<Location, StripeError> {
        self.post(
            account,
            "/v1/terminal/locations",
            params.encode(),
            idempotency_key,
        )
        .await
    }

    pub async fn retrieve_location(
        &self,
        account: &StripeAccount,
        id: &str,
    ) -> Result<Location, StripeError> {
        self.get(
            account,
            &id_path("/v1/terminal/locations", id, "")?,
            Form::new(),
        )
        .await
    }

    pub async fn update_location(
        &self,
        account: &StripeAccount,
        id: &str,
        params: &UpdateLocation<'_>,
        idempotency_key: &str,
    ) -> Result<Location, StripeError> {
        self.post(
            account,
            &id_path("/v1/terminal/locations", id, "")?,
            params.encode(),
            idempotency_key,
        )
        .await
    }

    /// `DELETE /v1/terminal/locations/{id}`.
    pub async fn delete_location(
        &self,
        account: &StripeAccount,
        id: &str,
    ) -> Result<DeletedTerminalObject, StripeError> {
        self.delete(account, &id_path("/v1/terminal/locations", id, "")?)
            .await
    }

    pub async fn list_locations(
        &self,
        account: &StripeAccount,
        params: &ListLocations<'_>,
    ) -> Result<List<Location>, StripeError> {
        let mut query = Form::new();
        params.encode(&mut query);
        self.get(account, "/v1/terminal/locations", query).await
    }

    pub async fn create_reader(
        &self,
        account: &StripeAccount,
        params: &CreateReader<'_>,
        idempotency_key: &str,
    ) -> Result<Reader, StripeError> {
        self.post(account, READERS, params.encode(), idempotency_key)
            .await
    }

    pub async fn list_readers(
        &self,
        account: &StripeAccount,
        params: &ListReaders<'_>,
    ) -> Result<List<Reader>, StripeError> {
        let mut query = Form::new();
        query.push_opt("location", params.location);
        query.push_opt("status", params.status);
        query.push_opt("device_type", params.device_type);
        query.push_opt("serial_number", params.serial_number);
        params.page.encode(&mut query);
        self.get(account, READERS, query).await
    }

    pub async fn retrieve_reader(
        &self,
        account: &StripeAccount,
        id: &str,
        expand: &[&str],
    ) -> Result<Reader, StripeError> {
        let mut query = Form::new();
        query.push_expand(expand);
        self.get(account, &id_path(READERS, id, "")?, query).await
    }

    /// `POST /v1/terminal/readers/{id}`: label and metadata.
    pub async fn update_reader(
        &self,
        account: &StripeAccount,
        id: &str,
        params: &UpdateReader<'_>,
        idempotency_key: &str,
    ) -> Result<Reader, StripeError> {
        self.post(
            account,
            &id_path(READERS, id, "")?,
            params.encode(),
            idempotency_key,
        )
        .await
    }

    /// `DELETE /v1/terminal/readers/{id}`.
    pub async fn delete_reader(
        &self,
        account: &StripeAccount,
        id: &str,
    ) -> Result<DeletedTerminalObject, StripeError> {
        self.delete(account, &id_path(READERS, id, "")?).await
    }

    /// Hands a PaymentIntent to a smart reader; the reader's `action` tracks the outcome.
    pub async fn process_payment_intent(
        &self,
        account: &StripeAccount,
        reader: &str,
        params: &ProcessPaymentIntent<'_>,
        idempotency_key: &str,
    ) -> Result<Reader, StripeError> {
        let path = id_path(READERS, reader, "/process_payment_intent")?;
        self.post(account, &path, params.encode(), idempotency_key)
            .await
    }

    /// Has a smart reader read a card for a PaymentIntent without confirming it; the reader's
    /// `action.collect_payment_method.payment_method` shows the card once read.
    pub async fn collect_payment_method(
        &self,
        account: &StripeAccount,
        reader: &str,
        params: &ReaderCollectPaymentMethod<'_>,
        idempotency_key: &str,
    ) -> Result<Reader, StripeError> {
        let path = id_path(READERS, reader, "/collect_payment_method")?;
        self.post(account, &path, params.encode(), idempotency_key)
            .await
    }

    /// Has the reader confirm the PaymentIntent with the card it collected.
    pub async fn confirm_reader_payment_intent(
        &self,
        account: &StripeAccount,
        reader: &str,
        params: &ReaderConfirmPaymentIntent<'_>,
        idempotency_key: &str,
    ) -> Result<Reader, StripeError> {
        let path = id_path(READERS, reader, "/confirm_payment_intent")?;
        self.post(account, &path, params.encode(), idempotency_key)
            .await
    }

    /// Hands a `card_present` SetupIntent to a smart reader (`terminal_reader_busy` /
    /// `terminal_reader_offline` as for a payment).
    pub async fn process_setup_intent(
        &self,
        account: &StripeAccount,
        reader: &str,
        params: &ProcessSetupIntent<'_>,
        idempotency_key: &str,
    ) -> Result<Reader, StripeError> {
        let path = id_path(READERS, reader, "/process_setup_intent")?;
        self.post(account, &path, params.encode(), idempotency_key)
            .await
    }

    /// Shows a cart on a smart reader (refused with `terminal_reader_busy` while it processes a
    /// payment).
    pub async fn set_reader_display(
        &self,
        account: &StripeAccount,
        reader: &str,
        params: &SetReaderDisplay<'_>,
        idempotency_key: &str,
    ) -> Result<Reader, StripeError> {
        let path = id_path(READERS, reader, "/set_reader_display")?;
        self.post(account, &path, params.encode(), idempotency_key)
            .await
    }

    /// Starts a refund in person on a smart reader (Interac must be refunded so); the reader's
    /// `action` tracks the outcome, and the refund made carries the action's `metadata`.
    pub async fn refund_payment(
        &self,
        account: &StripeAccount,
        reader: &str,
        params: &RefundPayment<'_>,
        idempotency_key: &str,
    ) -> Result<Reader, StripeError> {
        let path = id_path(READERS, reader, "/refund_payment")?;
        self.post(account, &path, params.encode(), idempotency_key)
            .await
    }

    /// Cancels the reader's current action (an empty POST).
    pub async fn cancel_reader_action(
        &self,
        account: &StripeAccount,
        reader: &str,
        idempotency_key: &str,
    ) -> Result<Reader, StripeError> {
        let path = id_path(READERS, reader, "/cancel_action")?;
        self.post(account, &path, Form::new(), idempotency_key)
            .await
    }

    /// Test helper: presents a card on a simulated reader. Refused without I/O for a live key.
    pub async fn present_payment_method(
        &self,
        account: &StripeAccount,
        reader: &str,
        params: &PresentPaymentMethod<'_>,
        idempotency_key: &str,
    ) -> Result<Reader, StripeError> {
        if account.is_live() {
            return Err(StripeError::InvalidArgument(
                "present_payment_method is a test helper; it cannot be used with a live key".into(),
            ));
        }
        let path = id_path(
            "/v1/test_helpers/terminal/readers",
            reader,
            "/present_payment_method",
        )?;
        self.post(account, &path, params.encode(), idempotency_key)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_redisplay_round_trips_its_wire_values() {
        for allow in [
            AllowRedisplay::Always,
            AllowRedisplay::Limited,
            AllowRedisplay::Unspecified,
        ] {
            assert_eq!(AllowRedisplay::parse(allow.as_str()), Some(allow));
        }
        assert_eq!(AllowRedisplay::parse("Always"), None);
        assert_eq!(AllowRedisplay::parse(""), None);
    }

    #[test]
    fn encodes_terminal_params() {
        let location = CreateLocation {
            display_name: "Till 1",
            address: AddressParams {
                line1: Some("1 Main St"),
                city: Some("Springfield"),
                country: "US",
                ..Default::default()
            },
            metadata: None,
        };
        assert_eq!(
            location.encode().as_str(),
            "display_name=Till+1&address[line1]=1+Main+St&address[city]=Springfield&address[country]=US"
        );
        let process = ProcessPaymentIntent {
            payment_intent: "pi_1",
            process_config: Some(ProcessConfig {
                skip_tipping: Some(true),
                tipping_amount_eligible: None,
                allow_redisplay: Some(AllowRedisplay::Always),
            }),
            expand: &[],
        };
        assert_eq!(
            process.encode().as_str(),
            "payment_intent=pi_1&process_config[skip_tipping]=true\
             &process_config[allow_redisplay]=always"
        );
        let collect = ReaderCollectPaymentMethod {
            payment_intent: "pi_1",
            collect_config: Some(ProcessConfig {
                skip_tipping: None,
                tipping_amount_eligible: Some(500),
                allow_redisplay: Some(AllowRedisplay::Limited),
            }),
        };
        assert_eq!(
            collect.encode().as_str(),
            "payment_intent=pi_1&collect_config[tipping][amount_eligible]=500\
             &collect_config[allow_redisplay]=limited"
        );
        let confirm = ReaderConfirmPaymentIntent {
            payment_intent: "pi_1",
            return_url: None,
        };
        assert_eq!(confirm.encode().as_str(), "payment_intent=pi_1");
        let present = PresentPaymentMethod {
            card_number: Some("4242424242424242"),
            ..Default::default()
        };
        assert_eq!(
            present.encode().as_str(),
            "card_present[number]=4242424242424242"
        );
        let display = SetReaderDisplay {
            currency: "usd",
            line_items: &[
                CartLineItem {
                    description: "Latte & cake",
                    amount: 450,
                    quantity: 2,
                },
                CartLineItem {
                    description: "Water",
                    amount: 100,
                    quantity: 1,
                },
            ],
            tax: Some(80),
            total: 1080,
        };
        assert_eq!(
            display.encode().as_str(),
            "type=cart&cart[currency]=usd\
             &cart[line_items][0][description]=Latte+%26+cake&cart[line_items][0][amount]=450\
             &cart[line_items][0][quantity]=2\
             &cart[line_items][1][description]=Water&cart[line_items][1][amount]=100\
             &cart[line_items][1][quantity]=1&cart[tax]=80&cart[total]=1080"
        );
        let reader = CreateReader {
            registration_code: "simulated-wpe",
            label: Some("Front"),
            location: Some("tml_1"),
            metadata: None,
        };
        assert_eq!(
            reader.encode().as_str(),
            "registration_code=simulated-wpe&label=Front&location=tml_1"
        );
    }

    #[test]
    fn decodes_a_reader_with_action_and_a_token() {
        let reader: Reader = serde_json::from_str(
            r#"{"id":"tmr_1","object":"terminal.reader","label":"Front","device_type":"simulated_wisepos_e",
                "status":"online","location":"tml_1","serial_number":"SIM-1","metadata":{},"livemode":false,
                "action":{"type":"process_payment_intent","status":"in_progress","failure_code":null,
                  "failure_message":null,"process_payment_intent":{"payment_intent":"pi_1","process_config":{}}}}"#,
        )
        .unwrap();
        let action = reader.action.unwrap();
        assert_eq!(action.action_type, ReaderActionType::ProcessPaymentIntent);
        assert_eq!(action.status, ReaderActionStatus::InProgress);
        assert_eq!(
            action.process_payment_intent.unwrap().payment_intent.id(),
            "pi_1"
        );
        assert_eq!(reader.location.unwrap().id(), "tml_1");

        let token: ConnectionToken = serde_json::from_str(
            r#"{"object":"terminal.connection_token","secret":"pst_test_abc","location":null}"#,
        )
        .unwrap();
        assert_eq!(token.secret.expose(), "pst_test_abc");
        assert!(!format!("{token:?}").contains("pst_test_abc"));
    }
}
