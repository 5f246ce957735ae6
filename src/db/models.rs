//! Rows as Rust structs, one per table, and the typed columns they carry (a currency, an amount
//! in minor units, a payment's status, a list of payment method types) instead of the strings and
//! integers stored.
//!
//! Every `Insertable` binds NULL for a `None` (`treat_none_as_default_value = false`; no nullable
//! column has a default): diesel would otherwise leave the column out, so an insert's SQL text
//! would vary with which fields are `None` and diesel would never cache it — each one parsed and
//! planned again (on PostgreSQL a Parse of its own, seen as `<unnamed>` in the server's log).

use super::schema::{
    accounts, cards, checkout_sessions, customers, disputes, payment_charge_methods,
    payment_history, payment_line_items, payment_readers, payments, reader_refunds, reader_setups,
    refunds, stripe_events, terminal_locations, terminal_readers, webhook_deliveries,
};
use crate::money::{Currency, MinorUnits};
use crate::payment_state::PaymentStatus;
use crate::reader_action_state::ActionStatus;
use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::prelude::*;
use diesel::sql_types::Text;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = accounts, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct Account {
    pub id: String,
    pub external_account_id: String,
    pub display_name: Option<String>,
    pub default_currency: Currency,
    pub stripe_account_id: Option<String>,
    pub stripe_secret_key_enc: Option<String>,
    pub webhook_url: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Signs our webhooks to the merchant (sealed; shown once when set).
    pub webhook_secret_enc: Option<String>,
    /// The merchant's own Stripe endpoint secret, for events from its own Stripe account (sealed).
    pub stripe_webhook_secret_enc: Option<String>,
    /// The merchant's address, printed on receipts: all of line1, city, postal code and country
    /// (ISO 3166-1 alpha-2) or none (`flows::accounts::Address`).
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub address_city: Option<String>,
    pub address_state: Option<String>,
    pub address_postal_code: Option<String>,
    pub address_country: Option<String>,
    /// The IANA time zone the merchant's days are cut in (end-of-day totals); `UTC` by default.
    pub time_zone: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = customers, treat_none_as_default_value = false)]
pub struct Customer {
    pub id: String,
    pub account_id: String,
    pub external_customer_id: String,
    pub stripe_customer_id: String,
    pub created_at: NaiveDateTime,
    /// The Idempotency-Key the Stripe customer was created with (NULL on rows written before
    /// keys were derived, `flows::stripe_keys`).
    pub stripe_idempotency_key: Option<String>,
    /// The Stripe context the customer was made in (`flows::stripe_keys::context`); NULL: the
    /// account's current one.
    pub stripe_context: Option<String>,
}

/// A payment's method types (`card_present`, `interac_present`, `card`…), in order. Stored as a
/// JSON array (`["card_present","interac_present"]`).
#[derive(Debug, Clone, PartialEq, Eq, FromSqlRow)]
pub struct MethodTypes(pub Vec<String>);

impl MethodTypes {
    pub fn new<S: Into<String>>(types: impl IntoIterator<Item = S>) -> MethodTypes {
        MethodTypes(types.into_iter().map(Into::into).collect())
    }

    pub fn as_strs(&self) -> Vec<&str> {
        self.0.iter().map(String::as_str).collect()
    }
}

/// The stored form of the list (written by value through `serialize_as`).
impl From<MethodTypes> for String {
    fn from(types: MethodTypes) -> String {
        serde_json::to_string(&types.0).expect("a list of strings serializes")
    }
}

impl<DB> FromSql<Text, DB> for MethodTypes
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = String::from_sql(bytes)?;
        serde_json::from_str(&text)
            .map(MethodTypes)
            .map_err(|e| format!("payment method types '{text}': {e}").into())
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = payments, treat_none_as_default_value = false)]
pub struct Payment {
    pub id: String,
    pub account_id: String,
    pub external_transaction_id: String,
    pub customer_id: Option<String>,
    pub stripe_payment_intent_id: Option<String>,
    pub request_fingerprint: String,
    pub amount: MinorUnits,
    pub currency: Currency,
    pub capture_method: String,
    #[diesel(serialize_as = String)]
    pub payment_method_types: MethodTypes,
    pub description: Option<String>,
    pub metadata: Option<String>,
    pub status: PaymentStatus,
    pub amount_capturable: MinorUnits,
    pub amount_captured: MinorUnits,
    pub amount_refunded: MinorUnits,
    pub stripe_charge_id: Option<String>,
    /// The saved card charged off-session (saved-card charges only).
    pub stripe_payment_method_id: Option<String>,
    pub failure_code: Option<String>,
    pub decline_code: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The Idempotency-Key of the PaymentIntent creation, fixed when the row is written, so a
    /// replay sends exactly it. NULL on rows written before: they replay with the old formula
    /// (`flows::stripe_keys::legacy_payment_intent`).
    pub stripe_idempotency_key: Option<String>,
    /// The tip within `amount` (on the reader, or captured above the authorisation on receipt).
    pub amount_tip: MinorUnits,
    /// The card's authorisation facts, from the charge (`None`: not known yet).
    pub capture_before: Option<NaiveDateTime>,
    pub incremental_authorization_supported: Option<bool>,
    pub overcapture_supported: Option<bool>,
    /// What the PaymentIntent creation asked for (`payment_method_options[card_present]`).
    pub request_incremental_authorization_support: bool,
    pub request_extended_authorization: bool,
    /// The tax the line items' total includes (`payment_line_items`), when given.
    pub tax: Option<MinorUnits>,
    /// Where Stripe sends the receipt (as the intent has it).
    pub receipt_email: Option<String>,
    /// The merchant's cashier who took the payment (given with the intent), for totals.
    pub external_cashier_id: Option<String>,
}

/// One line of what a payment paid for, in the payment's currency.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_line_items, treat_none_as_default_value = false)]
pub struct PaymentLineItem {
    pub payment_id: String,
    /// 0, 1, …: the order the lines were given in.
    pub position: i64,
    pub description: String,
    pub unit_amount: MinorUnits,
    pub quantity: i64,
}

/// The reader a payment was last handed to, and the reader's location then (end-of-day totals).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_readers, treat_none_as_default_value = false)]
pub struct PaymentReader {
    pub payment_id: String,
    pub stripe_reader_id: String,
    pub stripe_location_id: Option<String>,
    pub processed_at: NaiveDateTime,
}

#[cfg(test)]
impl Payment {
    /// A payment row for unit tests: `creating`, 10.00 USD, card-present, manual capture, with
    /// no intent, customer or key yet. Tests change what they need with `..Payment::sample()`.
    pub fn sample() -> Payment {
        Payment {
            id: "p".into(),
            account_id: "a".into(),
            external_transaction_id: "tx-1".into(),
            customer_id: None,
            stripe_payment_intent_id: None,
            request_fingerprint: String::new(),
            amount: MinorUnits::new(1000).expect("not negative"),
            currency: Currency::parse("usd").expect("a supported currency"),
            capture_method: "manual".into(),
            payment_method_types: MethodTypes::new(["card_present"]),
            description: None,
            metadata: None,
            status: crate::payment_state::PaymentStatus::Creating,
            amount_capturable: MinorUnits::ZERO,
            amount_captured: MinorUnits::ZERO,
            amount_refunded: MinorUnits::ZERO,
            stripe_charge_id: None,
            stripe_payment_method_id: None,
            failure_code: None,
            decline_code: None,
            stripe_idempotency_key: None,
            amount_tip: MinorUnits::ZERO,
            capture_before: None,
            incremental_authorization_supported: None,
            overcapture_supported: None,
            request_incremental_authorization_support: false,
            request_extended_authorization: false,
            external_cashier_id: None,
            created_at: now(),
            updated_at: now(),
            tax: None,
            receipt_email: None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cards, treat_none_as_default_value = false)]
pub struct Card {
    pub id: String,
    pub account_id: String,
    pub customer_id: String,
    pub stripe_payment_method_id: String,
    pub fingerprint: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub source_payment_id: Option<String>,
    pub deleted: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The Stripe context the card was saved in; NULL: the account's current one. A card of
    /// another context than the account's current one cannot be charged.
    pub stripe_context: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_history, treat_none_as_default_value = false)]
pub struct PaymentHistory {
    pub id: String,
    pub payment_id: String,
    pub action: String,
    /// The payment's status after the entry (unchanged for `ignored` entries).
    pub status: PaymentStatus,
    pub amount: Option<MinorUnits>,
    pub actor: String,
    pub created_at: NaiveDateTime,
    /// For `ignored` entries: the update that was refused, and why.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refunds, treat_none_as_default_value = false)]
pub struct Refund {
    pub id: String,
    pub payment_id: String,
    pub stripe_refund_id: String,
    pub amount: MinorUnits,
    pub reason: Option<String>,
    pub status: String,
    pub actor: String,
    pub created_at: NaiveDateTime,
    /// The Idempotency-Key the refund was created with (NULL on rows written before).
    pub stripe_idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = terminal_locations, treat_none_as_default_value = false)]
pub struct TerminalLocation {
    pub id: String,
    pub account_id: String,
    pub stripe_location_id: String,
    pub display_name: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = terminal_readers, treat_none_as_default_value = false)]
pub struct TerminalReader {
    pub id: String,
    pub account_id: String,
    pub stripe_reader_id: String,
    pub label: Option<String>,
    pub stripe_location_id: Option<String>,
    pub device_type: String,
    pub created_at: NaiveDateTime,
}

/// A reader's action state as recorded on its row (`crate::reader_action_state`), with the
/// version that grows with each change.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = terminal_readers)]
pub struct ReaderActionRow {
    pub id: String,
    pub account_id: String,
    pub stripe_reader_id: String,
    pub action_type: Option<String>,
    pub action_status: Option<ActionStatus>,
    pub action_object: Option<String>,
    pub action_failure_code: Option<String>,
    pub action_failure_message: Option<String>,
    pub action_card: Option<String>,
    pub action_updated_at: Option<NaiveDateTime>,
    pub action_stripe_created: Option<i64>,
    pub action_version: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = stripe_events, treat_none_as_default_value = false)]
pub struct StripeEvent {
    pub id: String,
    pub event_type: String,
    pub stripe_account: Option<String>,
    pub object_id: Option<String>,
    pub received_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries, treat_none_as_default_value = false)]
pub struct WebhookDelivery {
    pub id: String,
    pub account_id: String,
    pub event_type: String,
    /// Set for events announced once per object (`{payment id}:{type}`): a second announcement of
    /// the same change (by our API and by Stripe's webhook, racing) is dropped.
    pub dedupe_key: Option<String>,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: NaiveDateTime,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// Current time, truncated to microseconds so it round-trips identically through both backends.
pub fn now() -> NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    now.with_nanosecond_truncated()
}

trait TruncateNanos {
    fn with_nanosecond_truncated(self) -> Self;
}

impl TruncateNanos for NaiveDateTime {
    fn with_nanosecond_truncated(self) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(self.nanosecond() / 1000 * 1000)
            .unwrap_or(self)
    }
}

/// A new time-ordered primary key (UUIDv7).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A caller's `Idempotency-Key` on one of our POSTs and, once the handler has answered, the
/// response to replay (`api::idempotency`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::api_idempotency, treat_none_as_default_value = false)]
pub struct ApiIdempotency {
    pub id: String,
    /// `account:{external_account_id}`, or `subject:{sub}` when the body names no account.
    pub scope: String,
    pub idempotency_key: String,
    /// SHA-256 of method, path and (canonical JSON) body.
    pub request_fingerprint: String,
    /// `in_progress` or `completed`.
    pub status: String,
    pub response_status: Option<i64>,
    pub response_content_type: Option<String>,
    pub response_body: Option<String>,
    pub created_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
    /// The server process running an `in_progress` request (`jobs::instances`); `None` on claims
    /// made before instances were recorded.
    pub instance_id: Option<String>,
}

/// A Checkout Session we created (setup or payment mode) and how it ended.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = checkout_sessions, treat_none_as_default_value = false)]
pub struct CheckoutSessionRow {
    pub id: String,
    pub account_id: String,
    pub customer_id: Option<String>,
    /// `cs_…`; none while the session is being created.
    pub stripe_checkout_session_id: Option<String>,
    /// `setup` or `payment`.
    pub mode: String,
    /// `hosted` or `embedded`.
    pub ui_mode: String,
    /// `creating`, `open`, `complete` or `expired`.
    pub status: String,
    /// The caller's reference (payment mode).
    pub reference: Option<String>,
    pub currency: Option<Currency>,
    /// The total (payment mode).
    pub amount: Option<MinorUnits>,
    /// The line items as sent to Stripe, JSON (payment mode).
    pub line_items: Option<String>,
    /// As sent to Stripe (an embedded session's `return_url`), with `{CHECKOUT_SESSION_ID}`.
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    /// The card saved when a setup session completed.
    pub card_id: Option<String>,
    /// The payment recorded when a payment session completed.
    pub payment_id: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A dispute of one of our payments (`payment_id`/`account_id` NULL: parked until a payment
/// records its PaymentIntent). Amounts in minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = disputes, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct Dispute {
    pub id: String,
    pub stripe_dispute_id: String,
    pub stripe_payment_intent_id: String,
    pub stripe_charge_id: String,
    pub payment_id: Option<String>,
    pub account_id: Option<String>,
    pub amount: MinorUnits,
    pub currency: Currency,
    pub reason: String,
    pub status: crate::dispute_state::DisputeStatus,
    pub amount_withdrawn: MinorUnits,
    pub amount_reinstated: MinorUnits,
    pub fee: MinorUnits,
    pub evidence_due_by: Option<NaiveDateTime>,
    pub submission_count: i64,
    /// The evidence Stripe holds: a JSON object of the non-empty fields (text, or file ids).
    pub evidence: String,
    /// When Stripe opened the dispute.
    pub opened_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A refund on a reader (see `reader_refund_state`): written before Stripe is asked; amounts in
/// minor units of the payment's currency. `stripe_reader_id` `None`: collected by the tablet's SDK.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = reader_refunds, treat_none_as_default_value = false)]
pub struct ReaderRefund {
    pub id: String,
    pub account_id: String,
    pub payment_id: String,
    pub stripe_reader_id: Option<String>,
    pub amount: MinorUnits,
    pub status: crate::reader_refund_state::ReaderRefundStatus,
    pub stripe_refund_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// The caller's Idempotency-Key, when given.
    pub idempotency_key: Option<String>,
    /// The key of the Stripe request (`refund_payment`), derived from `id`.
    pub stripe_idempotency_key: String,
    pub actor: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// How a payment was charged, from its charge (`card_present`, `interac_present`, `card`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_charge_methods, treat_none_as_default_value = false)]
pub struct PaymentChargeMethod {
    pub payment_id: String,
    pub stripe_charge_id: String,
    pub method_type: String,
}

/// A card saved on a reader without a sale (`db::reader_setups`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = reader_setups, treat_none_as_default_value = false)]
pub struct ReaderSetup {
    pub id: String,
    pub account_id: String,
    pub customer_id: String,
    /// The reader it was handed to; `None`: the tablet's SDK reads the card.
    pub stripe_reader_id: Option<String>,
    /// `seti_…`; none while it is being created.
    pub stripe_setup_intent_id: Option<String>,
    /// The Idempotency-Key of the SetupIntent's creation at Stripe (derived from the row).
    pub stripe_idempotency_key: String,
    /// The customer's consent (`always`, `limited`, `unspecified`).
    pub allow_redisplay: String,
    pub status: crate::reader_setup_state::SetupStatus,
    /// The card saved once it succeeded.
    pub card_id: Option<String>,
    pub failure_code: Option<String>,
    pub decline_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A Stripe automatic payout of a merchant's Stripe account (`payouts`), recorded from Stripe's
/// `payout.*` events; `reconciled` once its balance transactions are stored as items.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = super::schema::payouts, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct Payout {
    pub id: String,
    pub stripe_payout_id: String,
    pub account_id: String,
    pub amount: MinorUnits,
    pub currency: Currency,
    pub status: crate::payout_state::PayoutStatus,
    pub arrival_date: NaiveDateTime,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub reconciled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// One balance transaction a payout paid out (`payout_items`), matched to our payment (a charge,
/// or a dispute's adjustment) or refund when we know it; signed minor units of the payout's
/// currency.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::payout_items, treat_none_as_default_value = false)]
pub struct PayoutItem {
    pub id: String,
    pub payout_id: String,
    pub stripe_balance_transaction_id: String,
    /// Stripe's balance transaction type (`charge`, `refund`, `adjustment`, `payout_failure`, …).
    pub transaction_type: String,
    /// The charge, refund, dispute or payout that moved the money.
    pub stripe_source_id: Option<String>,
    /// Our payment, when the item is one of ours.
    pub payment_id: Option<String>,
    /// The Stripe refund of ours (`re_…`) for a refund item.
    pub stripe_refund_id: Option<String>,
    pub gross: i64,
    pub fee: i64,
    pub net: i64,
    pub created_at: NaiveDateTime,
}
