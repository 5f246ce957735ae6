//! `GET /v1/openapi.json` (no auth): the OpenAPI 3.0 description of this API (not Stripe's).
//!
//! The document is built once from [`OPERATIONS`], one row per route registered in
//! `api::configure` (the demo page's `/pos` routes, simulator mode only, are left out), plus the
//! shared components: request and response schemas, the error envelope and its responses, the
//! `Idempotency-Key` header (on every `POST /v1/…` but Stripe's webhook) and the bearer JWT
//! scheme. OpenAPI 3.0 lets only OAuth2 schemes list scopes in `security`, so the scope an
//! operation requires is given as `x-required-scope` and in its description.
//! The integration tests check both directions against the running app: every documented
//! operation is routed, and every route in `configure` is documented. Every answer the API
//! suite receives is validated against this document (`tests/support/openapi.rs`): our objects
//! are closed (`additionalProperties: false`), so a field, status or value the document does not
//! name fails the suite.

use crate::auth::Scope;
use actix_web::HttpResponse;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// Who may call an operation.
#[derive(Clone, Copy)]
pub enum Auth {
    /// No token (health, metrics, this document, Stripe's signed webhook).
    Public,
    /// A bearer JWT with this scope, acting for the account named in the request.
    Bearer(Scope),
}

/// What an operation's failure may also involve, beyond the input and auth errors.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    /// No I/O at all.
    Nothing,
    /// Our database only.
    Database,
    /// Stripe too (502/504 possible).
    Stripe,
    /// Stripe, and a card may be declined (402).
    Card,
}

/// One documented operation.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub id: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub auth: Auth,
    pub calls: Calls,
    /// Query parameters: name, required, schema.
    pub query: &'static [(&'static str, bool, Schema)],
    /// The JSON body's schema component, if any.
    pub body: Option<&'static str>,
    /// Success responses: status, description, schema component (`metrics` and `openapi` are
    /// not JSON objects of ours and ignore it).
    pub ok: &'static [(u16, &'static str, &'static str)],
}

/// Query parameter schemas, kept as names so the table stays `const`.
#[derive(Clone, Copy)]
pub enum Schema {
    ExternalId,
    Currency,
    Decimal,
    DateTime,
    PaymentStatus,
    DeliveryStatus,
    Limit(u32),
    PaymentId,
    ReceiptFormat,
    /// An RFC 3339 time or a date of the merchant's zone.
    DateOrTime,
    GroupBy,
    DisputeStatus,
    DisputeId,
    PayoutStatus,
    PayoutId,
    LocationId,
    ReaderStatus,
    /// The `version` of a reader's last events answer.
    EventsCursor,
    /// Seconds a long poll waits.
    WaitSeconds,
}

use Auth::{Bearer, Public};
use Calls::{Card, Database, Nothing, Stripe};
use Schema::{ExternalId, Limit};

const ACCOUNT_Q: &[(&str, bool, Schema)] = &[("external_account_id", true, ExternalId)];

/// Every route of `api::configure`, in its order.
pub const OPERATIONS: &[Operation] = &[
    Operation { method: "get", path: "/", id: "home", tag: "ops", summary: "What this server is (mode, version) and links to the demo POS page (simulator mode), this document and the docs.", auth: Public, calls: Nothing, query: &[], body: None, ok: &[(200, "The links.", "Home")] },
    Operation { method: "get", path: "/healthz", id: "healthz", tag: "ops", summary: "The process is up.", auth: Public, calls: Nothing, query: &[], body: None, ok: &[(200, "Up.", "Health")] },
    Operation { method: "get", path: "/readyz", id: "readyz", tag: "ops", summary: "A database round trip succeeds.", auth: Public, calls: Database, query: &[], body: None, ok: &[(200, "Ready.", "Ready")] },
    Operation { method: "get", path: "/metrics", id: "metrics", tag: "ops", summary: "Prometheus metrics (text format 0.0.4): requests and latency by route pattern, webhook deliveries pending/failed, build info.", auth: Public, calls: Database, query: &[], body: None, ok: &[(200, "The exposition text.", "")] },
    Operation { method: "get", path: "/v1/openapi.json", id: "openapi", tag: "ops", summary: "This document.", auth: Public, calls: Nothing, query: &[], body: None, ok: &[(200, "The OpenAPI document.", "")] },
    Operation { method: "post", path: "/v1/payment/intent", id: "createPaymentIntent", tag: "payments", summary: "Create (or, for the same external_transaction_id and parameters, return again) a card-present PaymentIntent.", auth: Bearer(Scope::PaymentsWrite), calls: Stripe, query: &[], body: Some("IntentRequest"), ok: &[(200, "The payment.", "Payment")] },
    Operation { method: "post", path: "/v1/payment/capture", id: "capturePayment", tag: "payments", summary: "Capture an authorised payment, fully or partially.", auth: Bearer(Scope::PaymentsWrite), calls: Stripe, query: &[], body: Some("CaptureRequest"), ok: &[(200, "The payment.", "Payment")] },
    Operation { method: "post", path: "/v1/payment/cancel", id: "cancelPayment", tag: "payments", summary: "Cancel (void) a payment not yet captured.", auth: Bearer(Scope::PaymentsWrite), calls: Stripe, query: &[], body: Some("CancelRequest"), ok: &[(200, "The payment.", "Payment")] },
    Operation { method: "post", path: "/v1/payment/refund", id: "refundPayment", tag: "payments", summary: "Refund a captured payment, fully or partially. Send Idempotency-Key when retrying.", auth: Bearer(Scope::PaymentsWrite), calls: Stripe, query: &[], body: Some("RefundRequest"), ok: &[(200, "The payment.", "Payment")] },
    Operation { method: "post", path: "/v1/payment/refund/reader", id: "refundPaymentOnReader", tag: "payments", summary: "Refund a captured payment in person (Interac must be: an API refund of it is 409 refund_on_reader_required; any card may be). With `reader_id` the reader asks for the card at once (server-driven; 409 reader_offline, reader_busy); without it the answer's `sdk` gives the tablet's Terminal SDK what collectRefundPaymentMethod takes (Interac only). Pending until the card is read; the outcome comes from Stripe's events or GET /v1/payment/refund/reader/{id}. Send Idempotency-Key when retrying.", auth: Bearer(Scope::PaymentsWrite), calls: Stripe, query: &[], body: Some("ReaderRefundRequest"), ok: &[(200, "The reader refund (pending, or its outcome on a retry).", "ReaderRefund")] },
    Operation { method: "get", path: "/v1/payment/refund/reader/{id}", id: "getReaderRefund", tag: "payments", summary: "A refund on the reader; while pending, its outcome is read from Stripe (the refund made, the reader's failed or canceled action).", auth: Bearer(Scope::PaymentsRead), calls: Stripe, query: ACCOUNT_Q, body: None, ok: &[(200, "The reader refund.", "ReaderRefund")] },
    Operation { method: "post", path: "/v1/payment/charge", id: "chargeSavedCard", tag: "payments", summary: "Charge a saved card off-session, confirmed and captured at once (409 card_unavailable for a card saved under an earlier Stripe key or connected account).", auth: Bearer(Scope::PaymentsWrite), calls: Card, query: &[], body: Some("ChargeRequest"), ok: &[(200, "The payment.", "Payment")] },
    Operation { method: "post", path: "/v1/payment/increment", id: "incrementAuthorization", tag: "payments", summary: "Raise an authorised payment's authorisation to a new total (an open tab; Stripe's incremental authorisation): 402 when the card declines, 409 incremental_authorization_unavailable / increment_limit_reached / payment_not_incrementable.", auth: Bearer(Scope::PaymentsWrite), calls: Card, query: &[], body: Some("IncrementRequest"), ok: &[(200, "The payment.", "Payment")] },
    Operation { method: "get", path: "/v1/payment/{payment_id}", id: "getPayment", tag: "payments", summary: "A payment with its history; its status is refreshed from Stripe unless canceled.", auth: Bearer(Scope::PaymentsRead), calls: Stripe, query: ACCOUNT_Q, body: None, ok: &[(200, "The payment.", "Payment")] },
    Operation { method: "post", path: "/v1/payment/{payment_id}", id: "updatePayment", tag: "payments", summary: "Change a payment's receipt_email (null clears it), description (null clears it) or metadata (merged; an empty value removes a key), at Stripe and on our record, in any status.", auth: Bearer(Scope::PaymentsWrite), calls: Stripe, query: &[], body: Some("PaymentUpdateRequest"), ok: &[(200, "The payment.", "Payment")] },
    Operation { method: "get", path: "/v1/payment/{payment_id}/receipt", id: "getPaymentReceipt", tag: "payments", summary: "The receipt of a card-present (or Interac) payment, read from Stripe: merchant, amounts with tip and refunds so far, card, the EMV fields card networks require (Stripe's names and labels) and Stripe's receipt_url. `format=text`: 42 columns for an 80 mm printer; `format=html`: a printable page. 409 receipt_unavailable before a card is authorised.", auth: Bearer(Scope::PaymentsRead), calls: Stripe, query: &[("external_account_id", true, ExternalId), ("format", false, Schema::ReceiptFormat)], body: None, ok: &[(200, "The receipt (JSON, text or HTML by `format`).", "Receipt")] },
    Operation { method: "get", path: "/v1/payments", id: "listPayments", tag: "payments", summary: "Payments newest first, filtered, with cursor pagination.", auth: Bearer(Scope::PaymentsRead), calls: Database, query: &[
        ("external_account_id", true, ExternalId),
        ("status", false, Schema::PaymentStatus),
        ("external_customer_id", false, ExternalId),
        ("since", false, Schema::DateTime),
        ("until", false, Schema::DateTime),
        ("min_amount", false, Schema::Decimal),
        ("max_amount", false, Schema::Decimal),
        ("currency", false, Schema::Currency),
        ("limit", false, Limit(20)),
        ("starting_after", false, Schema::PaymentId),
    ], body: None, ok: &[(200, "A page of payments.", "PaymentList")] },
    Operation { method: "get", path: "/v1/payments/export", id: "exportPayments", tag: "reports", summary: "Every payment the list's filters select, newest first, as one streamed CSV (RFC 4180, UTF-8, CRLF; a header row, then one row per payment; the columns of docs/api-guide.md, \"Exports\", in that order; amounts as decimals; a cell starting with = + - @ tab or CR gets a leading '). Read in pages: any size in constant memory. A failure after the first row cuts the body short (the chunked encoding is not terminated).", auth: Bearer(Scope::PaymentsRead), calls: Database, query: &[
        ("external_account_id", true, ExternalId),
        ("status", false, Schema::PaymentStatus),
        ("external_customer_id", false, ExternalId),
        ("since", false, Schema::DateTime),
        ("until", false, Schema::DateTime),
        ("min_amount", false, Schema::Decimal),
        ("max_amount", false, Schema::Decimal),
        ("currency", false, Schema::Currency),
    ], body: None, ok: &[(200, "The CSV.", "")] },
    Operation { method: "get", path: "/v1/reports/totals", id: "reportTotals", tag: "reports", summary: "Sales (captured), refunds, voids and net over [since, until) — at most 366 days — per group and currency, in the account's time zone. `since`/`until`: RFC 3339 times, or dates (YYYY-MM-DD) meaning that local day's start. group_by `day` cuts local days (23 or 25 hours across DST changes); `location`/`reader`: the reader the payment was last handed to by POST /v1/terminal/readers/{id}/process; `cashier`: the intent's external_cashier_id; payments without one are the `null` group. Payments count by their creation time, like GET /v1/payments' since/until.", auth: Bearer(Scope::PaymentsRead), calls: Database, query: &[
        ("external_account_id", true, ExternalId),
        ("since", true, Schema::DateOrTime),
        ("until", true, Schema::DateOrTime),
        ("group_by", false, Schema::GroupBy),
    ], body: None, ok: &[(200, "The totals.", "Totals")] },
    Operation { method: "get", path: "/v1/payouts", id: "listPayouts", tag: "payouts", summary: "The Stripe payouts of the account's Stripe account (a connected account, or the account's own key), as recorded from Stripe's payout events, newest first, with their totals; cursor pagination.", auth: Bearer(Scope::PaymentsRead), calls: Database, query: &[
        ("external_account_id", true, ExternalId),
        ("status", false, Schema::PayoutStatus),
        ("limit", false, Limit(20)),
        ("starting_after", false, Schema::PayoutId),
    ], body: None, ok: &[(200, "A page of payouts.", "PayoutList")] },
    Operation { method: "get", path: "/v1/payout/{id}", id: "getPayout", tag: "payouts", summary: "A payout and what it paid out: the balance transactions (read from Stripe when it was paid) matched to the account's payments and refunds, with Stripe's fees, and those not matched; totals gross − fees = net.", auth: Bearer(Scope::PaymentsRead), calls: Database, query: ACCOUNT_Q, body: None, ok: &[(200, "The payout.", "PayoutDetail")] },
    Operation { method: "get", path: "/v1/disputes", id: "listDisputes", tag: "disputes", summary: "The disputes (chargebacks, inquiries) of the account's payments, newest first, with cursor pagination.", auth: Bearer(Scope::PaymentsRead), calls: Database, query: &[
        ("external_account_id", true, ExternalId),
        ("status", false, Schema::DisputeStatus),
        ("payment_id", false, Schema::PaymentId),
        ("limit", false, Limit(20)),
        ("starting_after", false, Schema::DisputeId),
    ], body: None, ok: &[(200, "A page of disputes.", "DisputeList")] },
    Operation { method: "get", path: "/v1/dispute/{id}", id: "getDispute", tag: "disputes", summary: "A dispute, as recorded from Stripe's events.", auth: Bearer(Scope::PaymentsRead), calls: Database, query: ACCOUNT_Q, body: None, ok: &[(200, "The dispute.", "Dispute")] },
    Operation { method: "post", path: "/v1/dispute/{id}/evidence", id: "giveDisputeEvidence", tag: "disputes", summary: "Evidence for a dispute: Stripe's text fields, and documents as base64 files (PDF, JPEG, PNG; 4.5 MB together) uploaded to Stripe; staged unless `submit` is true. 409 dispute_not_open once submitted or closed.", auth: Bearer(Scope::PaymentsWrite), calls: Stripe, query: &[], body: Some("EvidenceRequest"), ok: &[(200, "The dispute.", "Dispute")] },
    Operation { method: "post", path: "/v1/dispute/{id}/accept", id: "acceptDispute", tag: "disputes", summary: "Accept the loss: the dispute is closed at Stripe (an inquiry closes without a chargeback). 409 dispute_not_open once submitted or closed.", auth: Bearer(Scope::PaymentsWrite), calls: Stripe, query: &[], body: Some("AccountRequest"), ok: &[(200, "The dispute.", "Dispute")] },
    Operation { method: "post", path: "/v1/customer/card", id: "saveCard", tag: "cards", summary: "Save the card of a captured payment on the customer (the same card twice returns the existing one).", auth: Bearer(Scope::CardsWrite), calls: Stripe, query: &[], body: Some("SaveCardRequest"), ok: &[(200, "The saved card.", "Card")] },
    Operation { method: "get", path: "/v1/customer/cards", id: "listCards", tag: "cards", summary: "The customer's saved cards, newest first.", auth: Bearer(Scope::CardsRead), calls: Database, query: &[("external_account_id", true, ExternalId), ("external_customer_id", true, ExternalId)], body: None, ok: &[(200, "The cards.", "CardList")] },
    Operation { method: "post", path: "/v1/customer/card/checkout", id: "createSetupSession", tag: "checkout", summary: "A setup-mode Checkout Session that saves a card for the customer.", auth: Bearer(Scope::CardsWrite), calls: Stripe, query: &[], body: Some("SetupSessionRequest"), ok: &[(200, "The session.", "SetupSession")] },
    Operation { method: "get", path: "/v1/customer/card/checkout/{session_id}", id: "getSetupSessionCard", tag: "checkout", summary: "The card a completed setup session saved (409 checkout_not_complete / checkout_expired before).", auth: Bearer(Scope::CardsRead), calls: Stripe, query: ACCOUNT_Q, body: None, ok: &[(200, "The saved card.", "Card")] },
    Operation { method: "post", path: "/v1/customer/card/reader", id: "saveCardOnReader", tag: "cards", summary: "Save a card on the reader without a sale: a card_present SetupIntent for the customer, handed to the smart reader `reader_id` (409 reader_offline / reader_busy), or without it its client_secret for the tablet's Terminal SDK. Read the outcome with GET /v1/customer/card/reader/{setup_id}; the card is saved once (de-duplicated by fingerprint, card.saved), a failure announced as card_setup.failed.", auth: Bearer(Scope::CardsWrite), calls: Stripe, query: &[], body: Some("ReaderSetupRequest"), ok: &[(200, "The card setup, in progress.", "ReaderSetup")] },
    Operation { method: "get", path: "/v1/customer/card/reader/{setup_id}", id: "getReaderSetup", tag: "cards", summary: "A card setup on the reader as Stripe has it now (the card saved, the decline, or still in progress).", auth: Bearer(Scope::CardsRead), calls: Stripe, query: ACCOUNT_Q, body: None, ok: &[(200, "The card setup.", "ReaderSetup")] },
    Operation { method: "post", path: "/v1/customer/card/reader/{setup_id}/cancel", id: "cancelReaderSetup", tag: "cards", summary: "Cancel a card setup: the reader stops reading and the SetupIntent is canceled (409 card_setup_not_cancelable once the card is saved).", auth: Bearer(Scope::CardsWrite), calls: Stripe, query: &[], body: Some("ReaderSetupCancelRequest"), ok: &[(200, "The canceled card setup.", "ReaderSetup")] },
    Operation { method: "delete", path: "/v1/customer/card/{id}", id: "deleteCard", tag: "cards", summary: "Delete a saved card (detached at Stripe).", auth: Bearer(Scope::CardsWrite), calls: Stripe, query: ACCOUNT_Q, body: None, ok: &[(200, "The deleted card.", "DeletedCard")] },
    Operation { method: "post", path: "/v1/webhooks/stripe", id: "stripeWebhook", tag: "webhooks", summary: "Stripe's events, authenticated by the Stripe-Signature header (no JWT); deduplicated by event id.", auth: Public, calls: Stripe, query: &[], body: Some("StripeEvent"), ok: &[(200, "Received (or seen before).", "WebhookReceived")] },
    Operation { method: "get", path: "/v1/webhooks/deliveries", id: "listWebhookDeliveries", tag: "webhooks", summary: "The account's merchant-webhook deliveries, newest first.", auth: Bearer(Scope::PaymentsRead), calls: Database, query: &[("external_account_id", true, ExternalId), ("status", false, Schema::DeliveryStatus), ("limit", false, Limit(50))], body: None, ok: &[(200, "The deliveries.", "WebhookDeliveryList")] },
    Operation { method: "post", path: "/v1/webhooks/deliveries/{id}/retry", id: "retryWebhookDelivery", tag: "webhooks", summary: "Send a delivery again now.", auth: Bearer(Scope::PaymentsWrite), calls: Database, query: &[], body: Some("AccountRequest"), ok: &[(200, "The delivery.", "WebhookDelivery")] },
    Operation { method: "post", path: "/v1/checkout", id: "createCheckout", tag: "checkout", summary: "A payment-mode Checkout Session for a reference; earlier open sessions for it are expired first.", auth: Bearer(Scope::PaymentsWrite), calls: Stripe, query: &[], body: Some("CheckoutRequest"), ok: &[(200, "The session.", "CheckoutSession")] },
    Operation { method: "get", path: "/v1/checkout/{session_id}", id: "getCheckout", tag: "checkout", summary: "A payment-mode session, with its payment once paid.", auth: Bearer(Scope::PaymentsRead), calls: Stripe, query: ACCOUNT_Q, body: None, ok: &[(200, "The session.", "CheckoutSession")] },
    Operation { method: "post", path: "/v1/terminal/connection_token", id: "createConnectionToken", tag: "terminal", summary: "A fresh Terminal connection token (never cached).", auth: Bearer(Scope::Terminal), calls: Stripe, query: &[], body: Some("ConnectionTokenRequest"), ok: &[(200, "The token.", "ConnectionToken")] },
    Operation { method: "post", path: "/v1/terminal/locations", id: "createLocation", tag: "terminal", summary: "Create a Terminal location.", auth: Bearer(Scope::Terminal), calls: Stripe, query: &[], body: Some("LocationRequest"), ok: &[(200, "The location.", "Location")] },
    Operation { method: "get", path: "/v1/terminal/locations", id: "listLocations", tag: "terminal", summary: "The account's Terminal locations.", auth: Bearer(Scope::Terminal), calls: Database, query: ACCOUNT_Q, body: None, ok: &[(200, "The locations.", "LocationList")] },
    Operation { method: "post", path: "/v1/terminal/locations/{id}", id: "updateLocation", tag: "terminal", summary: "Rename a location and/or change fields of its address (not its country: 400). Idempotency-Key like every POST.", auth: Bearer(Scope::Terminal), calls: Stripe, query: &[], body: Some("LocationUpdateRequest"), ok: &[(200, "The location.", "Location")] },
    Operation { method: "delete", path: "/v1/terminal/locations/{id}", id: "deleteLocation", tag: "terminal", summary: "Delete a location at Stripe and here; 409 location_has_readers while readers of the account are registered there (delete them first).", auth: Bearer(Scope::Terminal), calls: Stripe, query: ACCOUNT_Q, body: None, ok: &[(200, "The deleted location.", "Deleted")] },
    Operation { method: "put", path: "/v1/terminal/locations/{id}/splashscreen", id: "putLocationSplashscreen", tag: "terminal", summary: "Set the image the location's smart readers show while idle (Stripe's terminal configuration splash screen, BBPOS WisePOS E): `image` base64, a JPEG or PNG less than 2 MB or a GIF less than 4 MB (crop JPEG/PNG to 720 x 1280). Uploaded to Stripe as a File of purpose terminal_reader_splashscreen, set on the location's configuration (the one its tipping uses; made when it has none).", auth: Bearer(Scope::Terminal), calls: Stripe, query: &[], body: Some("SplashscreenRequest"), ok: &[(200, "The location's splash screen.", "LocationSplashscreen")] },
    Operation { method: "get", path: "/v1/terminal/locations/{id}/splashscreen", id: "getLocationSplashscreen", tag: "terminal", summary: "The location's splash screen (a Stripe File id; null: the default).", auth: Bearer(Scope::Terminal), calls: Stripe, query: ACCOUNT_Q, body: None, ok: &[(200, "The location's splash screen.", "LocationSplashscreen")] },
    Operation { method: "delete", path: "/v1/terminal/locations/{id}/splashscreen", id: "deleteLocationSplashscreen", tag: "terminal", summary: "Back to the default splash screen: a configuration of ours with nothing else is deleted, otherwise its splash screen is unset.", auth: Bearer(Scope::Terminal), calls: Stripe, query: ACCOUNT_Q, body: None, ok: &[(200, "The location's splash screen (null).", "LocationSplashscreen")] },
    Operation { method: "put", path: "/v1/terminal/locations/{id}/tipping", id: "putLocationTipping", tag: "terminal", summary: "Set one currency's tip choices on the location's readers (a Stripe Terminal Configuration assigned to the location; other currencies kept).", auth: Bearer(Scope::Terminal), calls: Stripe, query: &[], body: Some("TippingRequest"), ok: &[(200, "The location's tipping.", "LocationTipping")] },
    Operation { method: "get", path: "/v1/terminal/locations/{id}/tipping", id: "getLocationTipping", tag: "terminal", summary: "The tip choices of the location's readers, per currency (read from Stripe).", auth: Bearer(Scope::Terminal), calls: Stripe, query: ACCOUNT_Q, body: None, ok: &[(200, "The location's tipping.", "LocationTipping")] },
    Operation { method: "delete", path: "/v1/terminal/locations/{id}/tipping", id: "deleteLocationTipping", tag: "terminal", summary: "No tipping screen at the location any more (a configuration made by this service is deleted; the merchant's own keeps its other settings).", auth: Bearer(Scope::Terminal), calls: Stripe, query: ACCOUNT_Q, body: None, ok: &[(200, "The location's tipping (now none).", "LocationTipping")] },
    Operation { method: "post", path: "/v1/terminal/readers", id: "registerReader", tag: "terminal", summary: "Register a reader by its registration code.", auth: Bearer(Scope::Terminal), calls: Stripe, query: &[], body: Some("ReaderRequest"), ok: &[(200, "The reader.", "Reader")] },
    Operation { method: "get", path: "/v1/terminal/readers", id: "listReaders", tag: "terminal", summary: "The account's readers, newest first, each with its status as Stripe has it now (online/offline, last seen, software version, serial number; status null for a reader Stripe no longer has). Filters: location, status (a reader Stripe no longer has is then left out).", auth: Bearer(Scope::Terminal), calls: Stripe, query: &[
        ("external_account_id", true, ExternalId),
        ("location", false, Schema::LocationId),
        ("status", false, Schema::ReaderStatus),
    ], body: None, ok: &[(200, "The readers.", "ReaderList")] },
    Operation { method: "get", path: "/v1/terminal/readers/{id}", id: "getReader", tag: "terminal", summary: "A reader with its live status and current action.", auth: Bearer(Scope::Terminal), calls: Stripe, query: ACCOUNT_Q, body: None, ok: &[(200, "The reader.", "Reader")] },
    Operation { method: "post", path: "/v1/terminal/readers/{id}", id: "renameReader", tag: "terminal", summary: "Rename a reader (label). A reader moves to another location by being deleted and registered again: `location` is a 400. Idempotency-Key like every POST.", auth: Bearer(Scope::Terminal), calls: Stripe, query: &[], body: Some("ReaderUpdateRequest"), ok: &[(200, "The reader.", "Reader")] },
    Operation { method: "delete", path: "/v1/terminal/readers/{id}", id: "deleteReader", tag: "terminal", summary: "Delete a reader at Stripe and here (its past payments keep its id).", auth: Bearer(Scope::Terminal), calls: Stripe, query: ACCOUNT_Q, body: None, ok: &[(200, "The deleted reader.", "Deleted")] },
    Operation { method: "post", path: "/v1/terminal/readers/{id}/process", id: "processOnReader", tag: "terminal", summary: "Hand a payment to a smart reader (server-driven).", auth: Bearer(Scope::Terminal), calls: Stripe, query: &[], body: Some("ProcessRequest"), ok: &[(200, "The reader.", "Reader")] },
    Operation { method: "post", path: "/v1/terminal/readers/{id}/collect", id: "collectOnReader", tag: "terminal", summary: "Have a smart reader read the card for a payment without confirming it (Stripe's collect_payment_method; the options of process). The card read (brand, last4, funding, wallet) then shows in the reader's action (GET reader, the events endpoint); confirm or cancel next.", auth: Bearer(Scope::Terminal), calls: Stripe, query: &[], body: Some("ProcessRequest"), ok: &[(200, "The reader, its action collect_payment_method in progress.", "Reader")] },
    Operation { method: "post", path: "/v1/terminal/readers/{id}/confirm", id: "confirmOnReader", tag: "terminal", summary: "Have the reader confirm the payment whose card it collected (Stripe's confirm_payment_intent). A decline shows as the action failed with Stripe's failure_code and failure_message; 409 payment_not_confirmable when no card was collected.", auth: Bearer(Scope::Terminal), calls: Stripe, query: &[], body: Some("ConfirmOnReaderRequest"), ok: &[(200, "The reader, its action confirm_payment_intent.", "Reader")] },
    Operation { method: "get", path: "/v1/terminal/readers/{id}/events", id: "waitForReaderEvents", tag: "terminal", summary: "Long poll: answers as soon as the reader's action (recorded from our requests and Stripe's terminal.reader.action_* events) changes past `after`, or after `timeout` seconds with the current state (`changed: false`). Pass the answer's `version` as the next `after`.", auth: Bearer(Scope::Terminal), calls: Database, query: &[("external_account_id", true, ExternalId), ("after", false, Schema::EventsCursor), ("timeout", false, Schema::WaitSeconds)], body: None, ok: &[(200, "The reader's action state.", "ReaderEvents")] },
    Operation { method: "post", path: "/v1/terminal/readers/{id}/display", id: "displayCartOnReader", tag: "terminal", summary: "Show a cart (lines, tax, total) on a smart reader until cancel clears it or a payment replaces it; 409 reader_busy during a payment.", auth: Bearer(Scope::Terminal), calls: Stripe, query: &[], body: Some("DisplayRequest"), ok: &[(200, "The reader, its action set_reader_display.", "Reader")] },
    Operation { method: "post", path: "/v1/terminal/readers/{id}/cancel", id: "cancelReaderAction", tag: "terminal", summary: "Cancel the reader's current action, or clear the cart it shows.", auth: Bearer(Scope::Terminal), calls: Stripe, query: &[], body: Some("AccountRequest"), ok: &[(200, "The reader.", "Reader")] },
    Operation { method: "put", path: "/v1/accounts/{external_account_id}", id: "putAccount", tag: "accounts", summary: "Create or update a merchant account: absent fields keep their value, null clears.", auth: Bearer(Scope::AccountsAdmin), calls: Database, query: &[], body: Some("AccountRequest_Put"), ok: &[(200, "Updated.", "Account"), (201, "Created.", "Account")] },
    Operation { method: "get", path: "/v1/accounts/{external_account_id}", id: "getAccount", tag: "accounts", summary: "A merchant account's settings (secrets never returned).", auth: Bearer(Scope::AccountsAdmin), calls: Database, query: &[], body: None, ok: &[(200, "The account.", "Account")] },
];

/// `GET /v1/openapi.json`.
pub async fn document() -> HttpResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| spec().to_string());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.as_str())
}

/// The whole document.
pub fn spec() -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let item = paths
            .entry(op.path)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("path items are objects");
        item.insert(op.method.to_string(), operation(op));
    }
    let tags: Vec<Value> = [
        "ops", "payments", "reports", "payouts", "disputes", "cards", "checkout", "terminal",
        "webhooks", "accounts",
    ]
    .iter()
    .map(|t| json!({ "name": t }))
    .collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "pos-backend",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Card-present point-of-sale payments on Stripe Terminal. Amounts go in as \
                decimals in major units (JSON number or string, parsed exactly) and come out as \
                decimal strings with a lower-case ISO 4217 currency. Every failure answers with the \
                Error envelope; unknown routes are 404 `resource_missing`, wrong methods 405. The \
                demo POS page (`/pos…`, simulator mode only) is not part of the API and not listed.",
        },
        "tags": tags,
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "HS256 or RS256 JWT with claims `sub`, `accounts` (a list of \
                        external_account_id, or \"*\") and `scope` (space-separated: payments:read \
                        payments:write cards:read cards:write terminal accounts:admin), `exp`. Each \
                        operation names the scope it needs in `x-required-scope`.",
                },
            },
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": false,
                    "description": "Replays the first response to this key (24 h, per account) with \
                        `Idempotent-Replayed: true`; the same key with another request is 409 \
                        `idempotency_key_reused`, while the first still runs 409 `request_in_progress` \
                        (retryable; a request lost with a crashed server frees its key within the \
                        instance timeout, 15 s by default). Never stored for the intent, the charge and connection tokens (their answers \
                        carry secrets): those flows answer a repeat themselves.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
                },
                "StripeSignature": {
                    "name": "Stripe-Signature",
                    "in": "header",
                    "required": true,
                    "description": "Stripe's `t=…,v1=…` signature of the raw body (5-minute tolerance).",
                    "schema": {"type": "string"},
                },
            },
            "responses": error_responses(),
            "schemas": schemas(),
        },
    })
}

fn operation(op: &Operation) -> Value {
    let mut parameters: Vec<Value> = path_params(op.path)
        .map(|name| {
            json!({"name": name, "in": "path", "required": true,
                   "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
        })
        .collect();
    for (name, required, schema) in op.query {
        parameters.push(json!({"name": name, "in": "query", "required": required,
                               "schema": query_schema(*schema)}));
    }
    let idempotent = op.method == "post" && op.path.starts_with("/v1/") && op.id != "stripeWebhook";
    if idempotent {
        parameters.push(json!({"$ref": "#/components/parameters/IdempotencyKey"}));
    }
    if op.id == "stripeWebhook" {
        parameters.push(json!({"$ref": "#/components/parameters/StripeSignature"}));
    }

    let mut responses = Map::new();
    for (status, description, schema) in op.ok {
        let content = match op.id {
            "metrics" => json!({"text/plain; version=0.0.4": {"schema": {"type": "string"}}}),
            "openapi" => json!({"application/json": {"schema": {"type": "object"}}}),
            "exportPayments" => json!({"text/csv; charset=utf-8": {"schema": {"type": "string"}}}),
            "getPaymentReceipt" => json!({
                "application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}},
                "text/plain; charset=utf-8": {"schema": {"type": "string", "description": "Lines of at most 42 characters."}},
                "text/html; charset=utf-8": {"schema": {"type": "string"}},
            }),
            _ => {
                json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}})
            }
        };
        responses.insert(
            status.to_string(),
            json!({"description": description, "content": content}),
        );
    }
    let mut errors: Vec<u16> = Vec::new();
    if op.body.is_some() || !op.query.is_empty() || op.path.contains('{') {
        errors.push(400);
    }
    if let Bearer(_) = op.auth {
        errors.extend([401, 403, 404]);
    }
    if op.calls == Card {
        errors.push(402);
    }
    // A deletion may be refused while something depends on the object (`location_has_readers`).
    if op.body.is_some() || (op.method == "get" && op.path.contains('{')) || op.method == "delete" {
        errors.push(409);
    }
    if op.body.is_some() {
        errors.extend([413, 415]);
    }
    if matches!(op.calls, Stripe | Card) {
        errors.extend([502, 504]);
    }
    if op.calls != Nothing {
        errors.push(503);
    }
    // Our own fault, possible anywhere (the detail is logged, never returned).
    errors.push(500);
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        responses.insert(
            status.to_string(),
            json!({"$ref": format!("#/components/responses/{}", error_name(status))}),
        );
    }

    let mut operation = json!({
        "operationId": op.id,
        "tags": [op.tag],
        "summary": op.summary,
        "parameters": parameters,
        "responses": responses,
    });
    match op.auth {
        Public => operation["security"] = json!([]),
        Bearer(scope) => {
            operation["security"] = json!([{"bearerAuth": []}]);
            operation["x-required-scope"] = json!(scope.as_str());
            operation["description"] = json!(format!(
                "Requires scope `{}` and the request's account among the token's `accounts`.",
                scope.as_str()
            ));
        }
    }
    if let Some(body) = op.body {
        operation["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}},
        });
    }
    operation
}

/// The `{name}` segments of a path pattern.
pub fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

fn query_schema(schema: Schema) -> Value {
    match schema {
        Schema::ExternalId => json!({"$ref": "#/components/schemas/ExternalId"}),
        Schema::Currency => json!({"$ref": "#/components/schemas/Currency"}),
        Schema::Decimal => json!({"$ref": "#/components/schemas/DecimalString"}),
        Schema::DateTime => json!({"type": "string", "format": "date-time"}),
        Schema::PaymentStatus => json!({"$ref": "#/components/schemas/PaymentStatus"}),
        Schema::DeliveryStatus => {
            json!({"type": "string", "enum": ["pending", "delivered", "failed"]})
        }
        Schema::Limit(default) => {
            json!({"type": "integer", "minimum": 1, "maximum": 100, "default": default})
        }
        Schema::PaymentId => json!({"$ref": "#/components/schemas/PaymentId"}),
        Schema::ReceiptFormat => {
            json!({"type": "string", "enum": ["json", "text", "html"], "default": "json"})
        }
        Schema::DateOrTime => {
            json!({"type": "string", "description": "An RFC 3339 time, or a date (YYYY-MM-DD) of the account's time zone: that day's start."})
        }
        Schema::GroupBy => {
            json!({"type": "string", "enum": ["day", "location", "reader", "cashier", "currency"], "default": "currency"})
        }
        Schema::EventsCursor => {
            json!({"type": "integer", "minimum": 0, "description": "The `version` of the last answer: the wait ends once the reader's action changes past it (absent: answer at once)."})
        }
        Schema::WaitSeconds => {
            json!({"type": "integer", "minimum": 0, "maximum": 30, "default": 25})
        }
        Schema::DisputeStatus => json!({"$ref": "#/components/schemas/DisputeStatus"}),
        Schema::DisputeId => json!({"$ref": "#/components/schemas/DisputeId"}),
        Schema::PayoutStatus => json!({"$ref": "#/components/schemas/PayoutStatus"}),
        Schema::PayoutId => json!({"$ref": "#/components/schemas/PayoutId"}),
        Schema::LocationId => json!({"type": "string", "pattern": "^tml_"}),
        Schema::ReaderStatus => reader_status(),
    }
}

/// A reader's network status at Stripe.
fn reader_status() -> Value {
    json!({"type": "string", "enum": ["online", "offline"]})
}

fn error_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        402 => "CardDeclined",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        413 => "PayloadTooLarge",
        415 => "UnsupportedMediaType",
        500 => "InternalError",
        502 => "StripeFailed",
        503 => "Unavailable",
        504 => "StripeTimeout",
        _ => unreachable!("no shared response for {status}"),
    }
}

fn error_responses() -> Value {
    let described = [
        (400, "Bad input (`invalid_request_error`); `param` names the field: parameter_invalid, parameter_missing, parameter_unknown, body_invalid_json."),
        (401, "No, malformed, expired or wrongly signed token (`authentication_error`)."),
        (402, "The card was declined (`card_error`, with `decline_code`)."),
        (403, "Missing scope, or an account outside the token (`permission_error`)."),
        (404, "Unknown object, or another account's (never revealed)."),
        (409, "Wrong state (`payment_status` tells the current one) or an idempotency conflict."),
        (413, "Body over 64 KiB."),
        (415, "Content-Type is not JSON."),
        (500, "Our fault (`api_error`, `internal_error`); the detail is in our log, not the answer."),
        (502, "Stripe failed or could not be reached (`api_error`); `retryable` tells whether the same request may be retried."),
        (503, "The database is unavailable (`api_error`, retryable)."),
        (504, "Stripe did not answer in time; the outcome is unknown: retry the same request."),
    ];
    let mut out = Map::new();
    for (status, description) in described {
        out.insert(
            error_name(status).to_string(),
            json!({"description": description,
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    Value::Object(out)
}

/// `{"type": "object", …}` with the given required fields; `closed` adds
/// `additionalProperties: false`.
fn object(required: &[&str], properties: Value, closed: bool) -> Value {
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    if closed {
        schema["additionalProperties"] = json!(false);
    }
    schema
}

/// A request body: unknown fields are rejected (400 `parameter_unknown`).
fn request(required: &[&str], properties: Value) -> Value {
    object(required, properties, true)
}

/// An answer of ours: every property is present (null where nullable), none other; the API
/// tests validate every response against it, so a field added to a response must be added here.
fn response(properties: Value) -> Value {
    let required: Vec<&str> = properties
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    object(&required, properties.clone(), true)
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn nullable(mut schema: Value) -> Value {
    if schema.get("$ref").is_some() {
        return json!({"allOf": [schema], "nullable": true});
    }
    schema["nullable"] = json!(true);
    schema
}

fn list_of(name: &str) -> Value {
    response(json!({"data": {"type": "array", "items": r(name)}}))
}

fn schemas() -> Value {
    let string = || json!({"type": "string"});
    let time = || json!({"type": "string", "format": "date-time"});
    let nstring = || nullable(json!({"type": "string"}));
    // A Stripe id of ours to show: `prefix_…`.
    let id =
        |prefix: &str| json!({"type": "string", "pattern": format!("^{prefix}_[A-Za-z0-9_]+$")});
    let session_status = || json!({"type": "string", "enum": ["creating", "open", "complete", "expired"], "description": "`creating` until Stripe answered the creation."});
    // A saved card; `DeletedCard` adds `deleted` (both closed, so not an `allOf`).
    let card = json!({
        "id": string(),
        "payment_method_id": id("pm"),
        "customer_id": id("cus"),
        "external_customer_id": string(),
        "brand": string(),
        "last4": {"type": "string", "minLength": 4, "maxLength": 4},
        "exp_month": {"type": "integer"},
        "exp_year": {"type": "integer"},
        "chargeable": {"type": "boolean", "description": "False for a card saved in another Stripe account than the merchant uses now (its Stripe key or connected account changed since; `POST /v1/payment/charge` answers 409 `card_unavailable`), or deleted."},
        "created_at": time(),
    });
    let entries: Vec<(&str, Value)> = vec![
        (
            "Error",
            json!({
                "type": "object",
                "required": ["error"],
                "additionalProperties": false,
                "properties": {"error": {
                    "type": "object",
                    "required": ["type", "code", "message"],
                    "additionalProperties": false,
                    "properties": {
                        "type": {"type": "string", "enum": ["invalid_request_error", "authentication_error", "permission_error", "card_error", "api_error"]},
                        "code": string(),
                        "message": string(),
                        "param": {"type": "string", "description": "The offending field (or header)."},
                        "decline_code": {"type": "string"},
                        "payment_status": {"type": "string", "description": "The payment's current status, on state conflicts."},
                        "payment_id": {"type": "string", "description": "The payment (`pi_…`) a declined charge recorded as failed."},
                        "stripe_request_id": {"type": "string"},
                        "retryable": {"type": "boolean", "description": "Present (true) when the same request may be retried."},
                    },
                }},
            }),
        ),
        (
            "Amount",
            json!({
                "description": "A positive decimal in major units, as a JSON number or string (`12.99`, `\"12.99\"`), parsed exactly; at most the currency's decimals, no exponent, within Stripe's minimum and maximum.",
                "oneOf": [{"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"}, {"type": "number", "exclusiveMinimum": true, "minimum": 0}],
            }),
        ),
        (
            "DecimalString",
            json!({"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$", "example": "12.99"}),
        ),
        (
            "Currency",
            json!({"type": "string", "minLength": 3, "maxLength": 3, "description": "ISO 4217 code (answered in lower case).", "example": "usd"}),
        ),
        (
            "ExternalId",
            json!({"type": "string", "minLength": 1, "maxLength": 255, "description": "The caller's identifier (no control characters)."}),
        ),
        (
            "PaymentId",
            json!({"type": "string", "pattern": "^pi_[A-Za-z0-9_]+$", "description": "A Stripe PaymentIntent id."}),
        ),
        (
            "CurrencyCode",
            json!({"type": "string", "pattern": "^[a-z]{3}$", "description": "ISO 4217 code, lower case (as answered).", "example": "usd"}),
        ),
        (
            "DisputeId",
            json!({"type": "string", "pattern": "^dp_[A-Za-z0-9_]+$", "description": "A Stripe dispute id."}),
        ),
        (
            "DisputeStatus",
            json!({"type": "string", "enum": ["warning_needs_response", "warning_under_review", "needs_response", "under_review", "warning_closed", "won", "lost", "prevented"], "description": "Stripe's dispute statuses; `warning_*`: an inquiry. Only moves forward; `warning_closed`, `won`, `lost`, `prevented` are final."}),
        ),
        (
            "Dispute",
            response(json!({
                "id": r("DisputeId"),
                "payment_id": r("PaymentId"),
                "charge_id": id("ch"),
                "status": r("DisputeStatus"),
                "reason": {"type": "string", "description": "Stripe's reason (`fraudulent`, `product_not_received`, `general`, …)."},
                "amount": r("DecimalString"),
                "currency": r("CurrencyCode"),
                "amount_withdrawn": {"allOf": [r("DecimalString")], "description": "Taken from the balance for the dispute."},
                "amount_reinstated": {"allOf": [r("DecimalString")], "description": "Given back (a won chargeback)."},
                "fee": {"allOf": [r("DecimalString")], "description": "Stripe's dispute fees."},
                "evidence_due_by": nullable(time()),
                "submission_count": {"type": "integer", "minimum": 0},
                "evidence": {"type": "object", "additionalProperties": string(), "description": "The evidence Stripe holds: text, or file ids (`file_…`) for documents."},
                "external_account_id": string(),
                "external_transaction_id": string(),
                "opened_at": time(),
                "created_at": time(),
                "updated_at": time(),
            })),
        ),
        (
            "PayoutId",
            json!({"type": "string", "pattern": "^po_[A-Za-z0-9_]+$", "description": "A Stripe payout id."}),
        ),
        (
            "PayoutStatus",
            json!({"type": "string", "enum": ["pending", "in_transit", "paid", "failed", "canceled"], "description": "Stripe's payout statuses. Only moves forward (pending < in_transit < paid < failed, canceled): a paid payout may still fail (the bank returned it); failed and canceled are final."}),
        ),
        (
            "SignedDecimalString",
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "description": "A signed decimal in major units (money out is negative).", "example": "-2.50"}),
        ),
        (
            "PayoutTotals",
            response(json!({
                "gross": {"allOf": [r("SignedDecimalString")], "description": "Sum of the items' amounts (payments in, refunds and disputes out)."},
                "fees": {"allOf": [r("SignedDecimalString")], "description": "Sum of Stripe's fees on the items."},
                "net": {"allOf": [r("SignedDecimalString")], "description": "gross − fees: what the payout pays (its amount, for a paid payout)."},
                "count": {"type": "integer", "minimum": 0},
            })),
        ),
        (
            "PayoutItem",
            response(json!({
                "balance_transaction_id": id("txn"),
                "type": {"type": "string", "description": "Stripe's balance transaction type: `charge`, `refund`, `adjustment` (a dispute), `payout_failure`, …"},
                "source_id": nstring(),
                "payment_id": nullable(r("PaymentId")),
                "external_transaction_id": nstring(),
                "refund_id": nstring(),
                "gross": r("SignedDecimalString"),
                "fee": r("SignedDecimalString"),
                "net": r("SignedDecimalString"),
            })),
        ),
        (
            "Payout",
            response(json!({
                "id": r("PayoutId"),
                "status": r("PayoutStatus"),
                "amount": r("DecimalString"),
                "currency": r("CurrencyCode"),
                "arrival_date": time(),
                "failure_code": nstring(),
                "failure_message": nstring(),
                "reconciled": {"type": "boolean", "description": "Its balance transactions were read from Stripe (once paid)."},
                "totals": r("PayoutTotals"),
                "external_account_id": string(),
                "created_at": time(),
                "updated_at": time(),
            })),
        ),
        (
            "PayoutDetail",
            response(json!({
                "id": r("PayoutId"),
                "status": r("PayoutStatus"),
                "amount": r("DecimalString"),
                "currency": r("CurrencyCode"),
                "arrival_date": time(),
                "failure_code": nstring(),
                "failure_message": nstring(),
                "reconciled": {"type": "boolean", "description": "Its balance transactions were read from Stripe (once paid)."},
                "totals": r("PayoutTotals"),
                "external_account_id": string(),
                "created_at": time(),
                "updated_at": time(),
                "items": {"type": "array", "items": r("PayoutItem"), "description": "The items that are the account's payments (charges, dispute adjustments) and refunds."},
                "unmatched": {"type": "array", "items": r("PayoutItem"), "description": "The items we could not match to a payment or refund of ours."},
            })),
        ),
        (
            "PayoutList",
            response(json!({
                "data": {"type": "array", "items": r("Payout")},
                "has_more": {"type": "boolean"},
                "next_starting_after": nullable(r("PayoutId")),
            })),
        ),
        (
            "DisputeBrief",
            response(json!({
                "id": r("DisputeId"),
                "status": r("DisputeStatus"),
                "reason": string(),
                "amount": r("DecimalString"),
                "evidence_due_by": nullable(time()),
            })),
        ),
        (
            "DisputeList",
            response(json!({
                "data": {"type": "array", "items": r("Dispute")},
                "has_more": {"type": "boolean"},
                "next_starting_after": nullable(r("DisputeId")),
            })),
        ),
        (
            "EvidenceRequest",
            request(
                &["external_account_id"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "evidence": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 20000}, "description": "Stripe's text evidence fields: access_activity_log, billing_address, cancellation_policy_disclosure, cancellation_rebuttal, customer_email_address, customer_name, customer_purchase_ip, duplicate_charge_explanation, duplicate_charge_id, product_description, refund_policy_disclosure, refund_refusal_explanation, service_date, shipping_address, shipping_carrier, shipping_date, shipping_tracking_number, uncategorized_text."},
                    "files": {"type": "object", "description": "Stripe's document fields (cancellation_policy, customer_communication, customer_signature, duplicate_charge_documentation, receipt, refund_policy, service_documentation, shipping_documentation, uncategorized_file), each a file.", "additionalProperties": request(&["filename", "content_type", "data"], json!({
                        "filename": {"type": "string", "minLength": 1, "maxLength": 255},
                        "content_type": {"type": "string", "enum": ["application/pdf", "image/jpeg", "image/png"]},
                        "data": {"type": "string", "format": "byte", "description": "The file, base64."},
                    }))},
                    "submit": {"type": "boolean", "default": false, "description": "Submit to the cardholder's bank now (final). False: staged at Stripe."},
                }),
            ),
        ),
        (
            "PaymentStatus",
            json!({"type": "string", "enum": ["creating", "requires_payment_method", "requires_confirmation", "requires_action", "processing", "requires_capture", "succeeded", "canceled", "failed"]}),
        ),
        (
            "Metadata",
            json!({"type": "object", "maxProperties": 20, "additionalProperties": {"type": "string", "maxLength": 500}, "description": "Keys 1–40 characters without brackets; some keys are reserved."}),
        ),
        (
            "IntentRequest",
            request(
                &["external_account_id", "amount", "external_transaction_id"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "amount": r("Amount"),
                    "currency": r("Currency"),
                    "payment_method_types": {"description": "Default `card_present`.", "oneOf": [
                        {"type": "string", "enum": ["card_present"]},
                        {"type": "array", "items": {"type": "string", "enum": ["card_present", "interac_present"]}, "minItems": 1},
                    ]},
                    "capture_method": {"type": "string", "enum": ["manual", "automatic"], "default": "manual"},
                    "external_transaction_id": r("ExternalId"),
                    "external_customer_id": r("ExternalId"),
                    "description": {"type": "string", "maxLength": 1000},
                    "metadata": r("Metadata"),
                    "request_incremental_authorization_support": {"type": "boolean", "default": false, "description": "Ask for an authorisation that POST /v1/payment/increment can raise (manual capture only)."},
                    "request_extended_authorization": {"type": "boolean", "default": false, "description": "Ask for a longer capture window (manual capture only); see capture_before."},
                    "line_items": {"type": "array", "maxItems": 100, "description": "What the sale was made of, printed on the receipt: Σ amount × quantity + tax must be exactly `amount` (else 400 naming line_items).", "items": r("LineItemRequest")},
                    "tax": {"description": "The tax included in `amount` (zero allowed); only with line_items.", "oneOf": [{"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"}, {"type": "number", "minimum": 0}]},
                    "receipt_email": r("Email"),
                    "external_cashier_id": {"allOf": [r("ExternalId")], "description": "The merchant's cashier taking the payment (totals by cashier)."},
                }),
            ),
        ),
        (
            "IncrementRequest",
            request(
                &["payment_id", "amount", "external_account_id"],
                json!({
                    "payment_id": r("PaymentId"),
                    "amount": {"allOf": [r("Amount")], "description": "The new total to authorise (not the difference), above the current amount."},
                    "external_account_id": r("ExternalId"),
                }),
            ),
        ),
        (
            "LineItemRequest",
            request(
                &["description", "amount", "quantity"],
                json!({
                    "description": {"type": "string", "minLength": 1, "maxLength": 500},
                    "amount": {"allOf": [r("Amount")], "description": "The unit price, major units."},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 9999},
                }),
            ),
        ),
        (
            "TippingRequest",
            request(
                &["external_account_id", "currency"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "currency": r("Currency"),
                    "percentages": {"type": "array", "maxItems": 3, "items": {"type": "integer", "minimum": 0, "maximum": 100}},
                    "fixed_amounts": {"type": "array", "maxItems": 3, "items": r("Amount")},
                    "smart_tip_threshold": {"allOf": [r("Amount")], "description": "Below it the reader offers the fixed amounts, at or above it the percentages; needs both lists."},
                }),
            ),
        ),
        (
            "Email",
            json!({"type": "string", "maxLength": 254, "pattern": "^[^@ ]+@[^@ ]+[.][^@ ]+$", "description": "An e-mail address; Stripe sends the receipt there (live mode)."}),
        ),
        (
            "PaymentUpdateRequest",
            request(
                &["external_account_id"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "receipt_email": nullable(r("Email")),
                    "description": nullable(json!({"type": "string", "minLength": 1, "maxLength": 1000})),
                    "metadata": {"allOf": [r("Metadata")], "description": "Merged into the payment's metadata; an empty value removes its key."},
                }),
            ),
        ),
        (
            "LocationTipping",
            response(json!({
                "location": id("tml"),
                "configuration_id": nullable(id("tmc")),
                "tipping": {"type": "object", "description": "By currency code.", "additionalProperties": response(json!({
                    "percentages": {"type": "array", "items": {"type": "integer"}},
                    "fixed_amounts": {"type": "array", "items": r("DecimalString")},
                    "smart_tip_threshold": nullable(r("DecimalString")),
                }))},
            })),
        ),
        (
            "Address",
            response(json!({
                "line1": string(),
                "line2": nstring(),
                "city": string(),
                "state": nstring(),
                "postal_code": string(),
                "country": {"type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2."},
            })),
        ),
        (
            "CaptureRequest",
            request(
                &["payment_id", "external_account_id"],
                json!({
                    "payment_id": r("PaymentId"),
                    "amount": r("Amount"),
                    "external_account_id": r("ExternalId"),
                }),
            ),
        ),
        (
            "CancelRequest",
            request(
                &["payment_id", "external_account_id"],
                json!({
                    "payment_id": r("PaymentId"),
                    "external_account_id": r("ExternalId"),
                }),
            ),
        ),
        (
            "RefundRequest",
            request(
                &["payment_id", "external_account_id"],
                json!({
                    "payment_id": r("PaymentId"),
                    "external_account_id": r("ExternalId"),
                    "amount": r("Amount"),
                    "reason": {"type": "string", "enum": ["duplicate", "fraudulent", "requested_by_customer"]},
                }),
            ),
        ),
        (
            "ReaderRefundRequest",
            request(
                &["payment_id", "external_account_id"],
                json!({
                    "payment_id": r("PaymentId"),
                    "external_account_id": r("ExternalId"),
                    "amount": {"allOf": [r("Amount")], "description": "Default: everything left to refund."},
                    "reader_id": {"type": "string", "pattern": "^tmr_[A-Za-z0-9_]+$", "description": "The account's reader that asks for the card (server-driven); leave out for the Terminal SDK on the tablet (Interac only)."},
                }),
            ),
        ),
        (
            "ReaderRefund",
            response(json!({
                "id": id("rrf"),
                "object": {"type": "string", "enum": ["reader_refund"]},
                "payment_id": nullable(r("PaymentId")),
                "mode": {"type": "string", "enum": ["server_driven", "sdk"]},
                "reader_id": nullable(id("tmr")),
                "status": {"type": "string", "enum": ["pending", "succeeded", "failed", "canceled"], "description": "Only `pending` changes."},
                "amount": r("DecimalString"),
                "currency": r("CurrencyCode"),
                "stripe_refund_id": nullable(id("re")),
                "failure_code": {"type": "string", "nullable": true, "description": "Stripe's code of the failed reader action (`card_mismatch`: not the card of the payment) or refused request."},
                "failure_message": nstring(),
                "sdk": nullable(response(json!({
                    "charge_id": nullable(id("ch")),
                    "amount": {"type": "integer", "description": "Minor units, as collectRefundPaymentMethod takes it."},
                    "currency": r("CurrencyCode"),
                }))),
                "created_at": time(),
                "payment": r("Payment"),
            })),
        ),
        (
            "ChargeRequest",
            request(
                &[
                    "external_account_id",
                    "external_customer_id",
                    "amount",
                    "external_transaction_id",
                ],
                json!({
                    "external_account_id": r("ExternalId"),
                    "external_customer_id": r("ExternalId"),
                    "card_id": {"allOf": [r("ExternalId")], "description": "Our saved card's id; or give payment_method_id (exactly one of the two)."},
                    "payment_method_id": {"type": "string", "pattern": "^pm_", "maxLength": 255},
                    "amount": r("Amount"),
                    "currency": r("Currency"),
                    "external_transaction_id": r("ExternalId"),
                    "description": {"type": "string", "maxLength": 1000},
                    "metadata": r("Metadata"),
                }),
            ),
        ),
        (
            "SaveCardRequest",
            request(
                &["payment_id", "external_customer_id", "external_account_id"],
                json!({
                    "payment_id": r("PaymentId"),
                    "external_customer_id": r("ExternalId"),
                    "external_account_id": r("ExternalId"),
                }),
            ),
        ),
        (
            "ReaderSetupRequest",
            request(
                &["external_account_id", "external_customer_id"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "external_customer_id": r("ExternalId"),
                    "reader_id": {"type": "string", "pattern": "^tmr_[A-Za-z0-9_]+$", "description": "The smart reader to read the card on (server-driven); without it, the answer's client_secret is for the tablet's Terminal SDK (collectSetupIntentPaymentMethod, confirmSetupIntent)."},
                    "allow_redisplay": {"type": "string", "enum": ["always", "limited", "unspecified"], "description": "The customer's consent to see the card again in online checkouts (Stripe's allow_redisplay); limited when left out."},
                }),
            ),
        ),
        (
            "ReaderSetupCancelRequest",
            request(
                &["external_account_id"],
                json!({ "external_account_id": r("ExternalId") }),
            ),
        ),
        (
            "SetupSessionRequest",
            request(
                &[
                    "external_account_id",
                    "external_customer_id",
                    "success_url",
                    "cancel_url",
                ],
                json!({
                    "external_account_id": r("ExternalId"),
                    "external_customer_id": r("ExternalId"),
                    "success_url": {"type": "string", "format": "uri", "maxLength": 2048},
                    "cancel_url": {"type": "string", "format": "uri", "maxLength": 2048},
                    "currency": r("Currency"),
                }),
            ),
        ),
        (
            "CheckoutItem",
            request(
                &["name", "amount", "quantity"],
                json!({
                    "name": {"type": "string", "minLength": 1, "maxLength": 250},
                    "amount": r("Amount"),
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 999},
                }),
            ),
        ),
        (
            "CheckoutRequest",
            request(
                &["external_account_id", "reference", "items", "success_url"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "reference": {"type": "string", "minLength": 1, "maxLength": 200},
                    "items": {"type": "array", "items": r("CheckoutItem"), "minItems": 1, "maxItems": 100},
                    "currency": r("Currency"),
                    "success_url": {"type": "string", "format": "uri", "maxLength": 2048},
                    "cancel_url": {"type": "string", "format": "uri", "maxLength": 2048, "description": "Hosted sessions only."},
                    "ui_mode": {"type": "string", "enum": ["hosted", "embedded"], "default": "hosted"},
                    "external_customer_id": r("ExternalId"),
                }),
            ),
        ),
        (
            "ConnectionTokenRequest",
            request(
                &["external_account_id"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "location": {"type": "string", "pattern": "^tml_"},
                }),
            ),
        ),
        (
            "LocationRequest",
            request(
                &["external_account_id", "display_name", "address"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "display_name": {"type": "string", "minLength": 1, "maxLength": 100},
                    "address": request(&["line1", "country"], json!({
                        "line1": {"type": "string", "minLength": 1, "maxLength": 200},
                        "city": {"type": "string", "maxLength": 100},
                        "state": {"type": "string", "maxLength": 100},
                        "postal_code": {"type": "string", "maxLength": 100},
                        "country": {"type": "string", "minLength": 2, "maxLength": 2},
                    })),
                }),
            ),
        ),
        (
            "ReaderRequest",
            request(
                &["external_account_id", "registration_code"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "registration_code": {"type": "string", "minLength": 1, "maxLength": 100},
                    "label": {"type": "string", "maxLength": 100},
                    "location": {"type": "string", "pattern": "^tml_"},
                }),
            ),
        ),
        (
            "ReaderUpdateRequest",
            request(
                &["external_account_id", "label"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "label": {"type": "string", "minLength": 1, "maxLength": 100},
                }),
            ),
        ),
        (
            "LocationUpdateRequest",
            request(
                &["external_account_id"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "display_name": {"type": "string", "minLength": 1, "maxLength": 100},
                    "address": request(&[], json!({
                        "line1": {"type": "string", "minLength": 1, "maxLength": 200},
                        "city": {"type": "string", "maxLength": 100},
                        "state": {"type": "string", "maxLength": 100},
                        "postal_code": {"type": "string", "maxLength": 100},
                    })),
                }),
            ),
        ),
        (
            "ProcessRequest",
            request(
                &["external_account_id", "payment_id"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "payment_id": r("PaymentId"),
                    "allow_redisplay": {"type": "string", "enum": ["always", "limited", "unspecified"], "description": "Whether the saved card may be shown again to its customer in online checkouts; sent to Stripe as process_config[allow_redisplay]. For a payment with a customer (its card is saved for later use) Stripe requires always or limited: limited when left out, unspecified is a 400. For other payments it is sent only when given."},
                    "skip_tipping": {"type": "boolean", "description": "No tipping screen for this sale (process_config[skip_tipping])."},
                    "tip_eligible_amount": {"allOf": [r("Amount")], "description": "The part of the amount tip suggestions are computed on, at most the payment's amount (process_config[tipping][amount_eligible])."},
                }),
            ),
        ),
        (
            "DisplayRequest",
            request(
                &["external_account_id", "currency", "line_items", "total"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "currency": r("Currency"),
                    "line_items": {"type": "array", "minItems": 1, "maxItems": 100, "items": request(
                        &["description", "amount", "quantity"],
                        json!({
                            "description": {"type": "string", "minLength": 1, "maxLength": 5000},
                            "amount": {"allOf": [r("Amount")], "description": "The unit price, major units."},
                            "quantity": {"type": "integer", "minimum": 1, "maximum": 9999},
                        }),
                    )},
                    "tax": {
                        "description": "The tax, major units (zero allowed).",
                        "oneOf": [{"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"}, {"type": "number", "minimum": 0}],
                    },
                    "total": {"allOf": [r("Amount")], "description": "Exactly the sum of amount × quantity over the lines, plus the tax; else 400 naming total."},
                }),
            ),
        ),
        (
            "AccountRequest",
            request(
                &["external_account_id"],
                json!({"external_account_id": r("ExternalId")}),
            ),
        ),
        (
            "AccountRequest_Put",
            request(
                &[],
                json!({
                    "display_name": nullable(json!({"type": "string", "minLength": 1, "maxLength": 200})),
                    "default_currency": r("Currency"),
                    "stripe_account_id": nullable(json!({"type": "string", "pattern": "^acct_[A-Za-z0-9]+$"})),
                    "stripe_secret_key": nullable(json!({"type": "string", "pattern": "^(sk|rk)_(test|live)_", "description": "Encrypted at rest, never returned."})),
                    "webhook_url": nullable(json!({"type": "string", "format": "uri", "maxLength": 2048, "description": "https (http for loopback only); setting it answers once with webhook_secret."})),
                    "stripe_webhook_secret": nullable(json!({"type": "string", "pattern": "^whsec_"})),
                    "address": nullable(request(&["line1", "city", "postal_code", "country"], json!({
                        "line1": {"type": "string", "minLength": 1, "maxLength": 200},
                        "line2": {"type": "string", "minLength": 1, "maxLength": 200},
                        "city": {"type": "string", "minLength": 1, "maxLength": 200},
                        "state": {"type": "string", "minLength": 1, "maxLength": 200},
                        "postal_code": {"type": "string", "minLength": 1, "maxLength": 20},
                        "country": {"type": "string", "minLength": 2, "maxLength": 2, "description": "ISO 3166-1 alpha-2 (either case; answered in upper case)."},
                    }))),
                    "time_zone": {"type": "string", "description": "An IANA time zone name (Europe/Paris); default UTC. The days of GET /v1/reports/totals are cut in it."},
                }),
            ),
        ),
        (
            "StripeEvent",
            json!({"type": "object", "required": ["id", "type"], "description": "A Stripe Event, as Stripe signs and sends it.",
            "properties": {"id": string(), "type": string(), "data": {"type": "object"}}}),
        ),
        (
            "PaymentHistoryEntry",
            json!({"type": "object", "required": ["action", "status", "actor", "at"], "additionalProperties": false, "properties": {
                "action": string(), "status": r("PaymentStatus"), "amount": r("DecimalString"), "actor": string(), "at": time(),
                "detail": {"type": "string", "description": "For `ignored` entries: the update that was refused."},
            }}),
        ),
        (
            "Payment",
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["id", "status", "amount", "amount_capturable", "amount_captured", "amount_refunded", "currency", "capture_method", "payment_method_types", "external_account_id", "external_transaction_id", "external_customer_id", "customer_id", "external_cashier_id", "description", "metadata", "created_at", "updated_at",
                    "amount_tip", "capture_before", "incremental_authorization_supported", "overcapture_supported", "tax", "receipt_email"],
                "properties": {
                    "id": nullable(r("PaymentId")),
                    "client_secret": {"type": "string", "description": "Only where the Terminal SDK needs it (creation)."},
                    "status": r("PaymentStatus"),
                    "amount": r("DecimalString"),
                    "amount_capturable": r("DecimalString"),
                    "amount_captured": r("DecimalString"),
                    "amount_refunded": r("DecimalString"),
                    "currency": r("CurrencyCode"),
                    "capture_method": {"type": "string", "enum": ["manual", "automatic"]},
                    "payment_method_types": {"type": "array", "items": {"type": "string", "enum": ["card_present", "interac_present", "card"]}, "minItems": 1, "description": "`card` for a saved card charged off-session."},
                    "external_account_id": string(),
                    "external_transaction_id": string(),
                    "external_customer_id": nstring(),
                    "customer_id": nullable(id("cus")),
                    "external_cashier_id": nstring(),
                    "description": nstring(),
                    "metadata": {"type": "object", "additionalProperties": string()},
                    "created_at": time(),
                    "updated_at": time(),
                    "amount_tip": {"allOf": [r("DecimalString")], "description": "The tip within `amount` (on the reader, or captured above the authorisation)."},
                    "capture_before": nullable(json!({"type": "string", "format": "date-time", "description": "The authorisation's capture deadline, when Stripe has told it."})),
                    "incremental_authorization_supported": {"type": "boolean", "nullable": true, "description": "Whether POST /v1/payment/increment can raise the authorisation (null: not known yet)."},
                    "overcapture_supported": {"type": "boolean", "nullable": true, "description": "Whether a capture may exceed the authorisation (a tip on receipt; null: not known yet)."},
                    "history": {"type": "array", "items": r("PaymentHistoryEntry"), "description": "GET /v1/payment/{payment_id} only."},
                    "tax": nullable(json!({"allOf": [r("DecimalString")], "description": "The tax of the line items (0 when none was given); null without line items."})),
                    "receipt_email": nullable(r("Email")),
                    "line_items": {"type": "array", "items": r("LineItem"), "description": "GET /v1/payment/{payment_id} only (empty without line items)."},
                    "dispute": {"allOf": [r("DisputeBrief")], "description": "GET /v1/payment/{payment_id} only: the payment's latest dispute, if any."},
                },
            }),
        ),
        (
            "LineItem",
            response(json!({
                "description": string(),
                "unit_amount": r("DecimalString"),
                "quantity": {"type": "integer", "minimum": 1},
                "amount": {"allOf": [r("DecimalString")], "description": "unit_amount × quantity."},
            })),
        ),
        (
            "PaymentList",
            response(json!({
                "data": {"type": "array", "items": r("Payment")},
                "has_more": {"type": "boolean"},
                "next_starting_after": nullable(r("PaymentId")),
            })),
        ),
        (
            "Receipt",
            response(json!({
                "payment_id": r("PaymentId"),
                "external_account_id": string(),
                "external_transaction_id": string(),
                "merchant": response(json!({
                    "name": nullable(json!({"type": "string", "description": "The account's display_name; set it, card networks require the merchant's name on receipts."})),
                    "address": nullable(r("Address")),
                })),
                "line_items": {"type": "array", "items": r("LineItem"), "description": "What the sale was made of, as the intent request said (empty when it did not)."},
                "tax": nullable(r("DecimalString")),
                "description": nstring(),
                "status": {"allOf": [r("PaymentStatus")], "description": "The PaymentIntent's status at Stripe now."},
                "currency": r("CurrencyCode"),
                "amount": {"allOf": [r("DecimalString")], "description": "Charged, tip included."},
                "subtotal": {"allOf": [r("DecimalString")], "description": "`amount` without the tip."},
                "tip": nullable(r("DecimalString")),
                "amount_captured": r("DecimalString"),
                "amount_refunded": {"allOf": [r("DecimalString")], "description": "The refunds that neither failed nor were canceled."},
                "refunds": {"type": "array", "items": response(json!({
                    "id": id("re"),
                    "amount": r("DecimalString"),
                    "status": string(),
                    "created_at": time(),
                }))},
                "authorized_at": time(),
                "card": response(json!({
                    "payment_method_type": {"type": "string", "enum": ["card_present", "interac_present"]},
                    "brand": nstring(),
                    "last4": nstring(),
                    "funding": nstring(),
                    "read_method": nstring(),
                    "cardholder_name": nstring(),
                })),
                "emv": {"type": "array", "description": "The EMV data Stripe returned, in print order (empty for a swiped card).", "items": response(json!({
                    "field": {"type": "string", "enum": ["application_preferred_name", "dedicated_file_name", "account_type", "authorization_code", "authorization_response_code", "application_cryptogram", "terminal_verification_results", "transaction_status_information", "cardholder_verification_method"], "description": "Stripe's name in payment_method_details.card_present.receipt."},
                    "label": {"type": "string", "description": "What Stripe's receipt page prints it as."},
                    "value": string(),
                    "required": {"type": "boolean", "description": "Required on EMV receipts by Stripe's receipt page."},
                }))},
                "receipt_url": nullable(json!({"type": "string", "format": "uri"})),
            })),
        ),
        ("Card", response(card.clone())),
        (
            "ReaderSetup",
            response(json!({
                "id": {"type": "string", "minLength": 36, "maxLength": 36, "description": "Our id of the card setup (a UUID)."},
                "object": {"type": "string", "enum": ["card_setup"]},
                "status": {"type": "string", "enum": ["creating", "in_progress", "succeeded", "failed", "canceled"], "description": "Forward only; `failed` may still become `succeeded` when a card retried on the same SetupIntent is saved."},
                "external_customer_id": string(),
                "customer_id": id("cus"),
                "reader_id": nullable(id("tmr")),
                "setup_intent_id": nullable(id("seti")),
                "allow_redisplay": {"type": "string", "enum": ["always", "limited", "unspecified"]},
                "client_secret": nullable(json!({"type": "string", "description": "The SetupIntent's client secret for the Terminal SDK: in the answer that created a setup without reader_id only."})),
                "card": nullable(r("Card")),
                "failure": nullable(response(json!({
                    "code": string(),
                    "decline_code": nstring(),
                    "message": nstring(),
                }))),
                "created_at": time(),
            })),
        ),
        ("CardList", list_of("Card")),
        ("DeletedCard", {
            let mut deleted = card;
            deleted["deleted"] = json!({"type": "boolean", "enum": [true]});
            response(deleted)
        }),
        (
            "SetupSession",
            response(json!({
                "session_id": nullable(id("cs")),
                "url": nullable(json!({"type": "string", "format": "uri"})),
                "status": session_status(),
                "external_account_id": string(),
                "customer_id": nullable(id("cus")),
                "external_customer_id": nstring(),
                "expires_at": nullable(time()),
                "created_at": time(),
            })),
        ),
        (
            "CheckoutSession",
            response(json!({
                "session_id": nullable(id("cs")),
                "url": nullable(json!({"type": "string", "format": "uri", "description": "Hosted sessions."})),
                "client_secret": nullable(json!({"type": "string", "description": "Embedded sessions."})),
                "status": session_status(),
                "ui_mode": {"type": "string", "enum": ["hosted", "embedded"]},
                "reference": nstring(),
                "amount": nullable(r("DecimalString")),
                "currency": nullable(r("CurrencyCode")),
                "external_account_id": string(),
                "customer_id": nullable(id("cus")),
                "external_customer_id": nstring(),
                "payment_intent_id": nullable(r("PaymentId")),
                "payment": nullable(r("Payment")),
                "expires_at": nullable(time()),
                "created_at": time(),
            })),
        ),
        (
            "ConnectionToken",
            response(
                json!({"secret": {"type": "string", "minLength": 1}, "location": nullable(id("tml"))}),
            ),
        ),
        (
            "Location",
            response(
                json!({"id": nullable(id("tml")), "display_name": string(), "created_at": time()}),
            ),
        ),
        ("LocationList", list_of("Location")),
        (
            "Reader",
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["id", "label", "device_type", "location", "created_at"],
                "properties": {
                    "id": id("tmr"),
                    "label": nstring(),
                    "device_type": nstring(),
                    "location": nullable(id("tml")),
                    "created_at": time(),
                    "status": nullable(json!({"allOf": [reader_status()], "description": "As Stripe has it now; null when Stripe no longer has the reader."})),
                    "last_seen_at": nullable(json!({"allOf": [time()], "description": "When the reader last reported to Stripe (Stripe's last_seen_at)."})),
                    "device_sw_version": nstring(),
                    "serial_number": string(),
                    "action": nullable(response(json!({
                        "type": r("ReaderActionType"),
                        "status": {"type": "string", "enum": ["in_progress", "succeeded", "failed"]},
                        "failure_code": nstring(),
                        "failure_message": nstring(),
                        "payment_id": nullable(r("PaymentId")),
                        "card": nullable(r("CollectedCard")),
                    }))),
                    "cart": nullable(response(json!({
                        "currency": r("CurrencyCode"),
                        "line_items": {"type": "array", "items": response(json!({
                            "description": string(),
                            "amount": {"allOf": [r("DecimalString")], "description": "The unit price."},
                            "quantity": {"type": "integer", "minimum": 1},
                        }))},
                        "tax": nullable(r("DecimalString")),
                        "total": r("DecimalString"),
                    }))),
                },
            }),
        ),
        ("ReaderList", list_of("Reader")),
        (
            "SplashscreenRequest",
            request(
                &["external_account_id", "image"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "image": {"type": "string", "description": "The image, base64: JPEG or PNG less than 2 MB, GIF less than 4 MB."},
                }),
            ),
        ),
        (
            "LocationSplashscreen",
            response(json!({
                "location": id("tml"),
                "configuration_id": nstring(),
                "splashscreen": nullable(json!({"type": "string", "description": "The Stripe File id of the image."})),
            })),
        ),
        (
            "ReaderActionType",
            json!({"type": "string", "description": "Stripe's action type (a newer one is passed through).", "enum": ["process_payment_intent", "collect_payment_method", "confirm_payment_intent", "process_setup_intent", "refund_payment", "set_reader_display"]}),
        ),
        (
            "CollectedCard",
            response(json!({
                "payment_method": string(),
                "type": string(),
                "brand": nstring(),
                "last4": nstring(),
                "funding": nstring(),
                "wallet": nstring(),
            })),
        ),
        (
            "ReaderEvents",
            response(json!({
                "reader_id": id("tmr"),
                "version": {"type": "integer", "minimum": 0},
                "changed": {"type": "boolean", "description": "false: the wait timed out (or nothing was recorded past `after`)."},
                "action": nullable(response(json!({
                    "type": r("ReaderActionType"),
                    "status": {"type": "string", "enum": ["in_progress", "succeeded", "failed", "canceled"]},
                    "payment_id": nullable(r("PaymentId")),
                    "object_id": nstring(),
                    "failure_code": nstring(),
                    "failure_message": nstring(),
                    "card": nullable(r("CollectedCard")),
                    "updated_at": nullable(time()),
                }))),
            })),
        ),
        (
            "ConfirmOnReaderRequest",
            request(
                &["external_account_id", "payment_id"],
                json!({
                    "external_account_id": r("ExternalId"),
                    "payment_id": r("PaymentId"),
                }),
            ),
        ),
        (
            "Deleted",
            response(json!({
                "id": string(),
                "deleted": {"type": "boolean", "enum": [true]},
            })),
        ),
        ("TotalsGroup", super::reports::group_schema()),
        (
            "Totals",
            response(json!({
                "external_account_id": string(),
                "time_zone": string(),
                "since": time(),
                "until": time(),
                "group_by": query_schema(Schema::GroupBy),
                "groups": {"type": "array", "items": r("TotalsGroup")},
            })),
        ),
        (
            "Account",
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["external_account_id", "display_name", "default_currency", "stripe_account_id", "has_stripe_secret_key", "webhook_url", "has_stripe_webhook_secret", "address", "time_zone", "created_at", "updated_at"],
                "properties": {
                    "external_account_id": string(),
                    "display_name": nstring(),
                    "default_currency": r("CurrencyCode"),
                    "stripe_account_id": nullable(id("acct")),
                    "has_stripe_secret_key": {"type": "boolean"},
                    "webhook_url": nstring(),
                    "webhook_secret": {"type": "string", "description": "Only in the answer that set or changed webhook_url; keep it."},
                    "has_stripe_webhook_secret": {"type": "boolean"},
                    "address": nullable(r("Address")),
                    "time_zone": string(),
                    "created_at": time(),
                    "updated_at": time(),
                },
            }),
        ),
        (
            "WebhookDelivery",
            response(json!({
                "id": string(),
                "event_id": nstring(),
                "event_type": {"type": "string", "enum": ["payment.authorized", "payment.amount_updated", "payment.authorization_expiring", "payment.captured", "payment.canceled", "payment.failed", "payment.refunded", "card.saved", "card.deleted", "card_setup.failed", "dispute.created", "dispute.updated", "dispute.closed", "dispute.funds_withdrawn", "dispute.funds_reinstated", "payout.paid", "payout.failed", "reader.action_succeeded", "reader.action_failed"]},
                "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                "attempts": {"type": "integer", "minimum": 0},
                "last_status": nullable(json!({"type": "integer", "description": "The merchant endpoint's HTTP status on the last attempt."})),
                "last_error": nstring(),
                "next_attempt_at": nullable(time()),
                "delivered_at": nullable(time()),
                "created_at": time(),
                "payload": {"type": "object"},
            })),
        ),
        ("WebhookDeliveryList", list_of("WebhookDelivery")),
        (
            "WebhookReceived",
            response(
                json!({"received": {"type": "boolean"}, "id": string(), "duplicate": {"type": "boolean"}}),
            ),
        ),
        (
            "Home",
            response(json!({
                "name": {"type": "string", "enum": ["pos-backend"]},
                "version": string(),
                "mode": {"type": "string", "enum": ["simulator", "stripe"]},
                "links": object(
                    &["openapi", "healthz", "readyz", "metrics", "docs"],
                    json!({
                        "pos": {"type": "string", "description": "The demo POS page (simulator mode only)."},
                        "openapi": string(),
                        "healthz": string(),
                        "readyz": string(),
                        "metrics": string(),
                        "docs": {"type": "string", "description": "Where the guides are: README.md and docs/ of the source repository."},
                    }),
                    true,
                ),
            })),
        ),
        (
            "Health",
            response(json!({"status": {"type": "string", "enum": ["ok"]}})),
        ),
        (
            "Ready",
            response(
                json!({"status": {"type": "string", "enum": ["ready"]}, "database": {"type": "string", "enum": ["sqlite", "postgres"]}}),
            ),
        ),
    ];
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` in the document points at a component that exists.
    #[test]
    fn references_resolve() {
        let doc = spec();
        fn walk(v: &Value, doc: &Value, seen: &mut usize) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        let pointer = target.strip_prefix('#').expect("local ref");
                        assert!(doc.pointer(pointer).is_some(), "dangling {target}");
                        *seen += 1;
                    }
                    map.values().for_each(|v| walk(v, doc, seen));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, doc, seen)),
                _ => {}
            }
        }
        let mut seen = 0;
        walk(&doc, &doc, &mut seen);
        assert!(seen > 100, "{seen} refs");
    }

    #[test]
    fn operation_ids_are_unique_and_posts_take_idempotency_keys() {
        let mut ids: Vec<&str> = OPERATIONS.iter().map(|o| o.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before);
        let doc = spec();
        let intent = &doc["paths"]["/v1/payment/intent"]["post"];
        assert!(intent["parameters"]
            .as_array()
            .unwrap()
            .contains(&json!({"$ref": "#/components/parameters/IdempotencyKey"})));
        assert_eq!(intent["x-required-scope"], "payments:write");
        let webhook = &doc["paths"]["/v1/webhooks/stripe"]["post"];
        assert!(!webhook["parameters"]
            .as_array()
            .unwrap()
            .contains(&json!({"$ref": "#/components/parameters/IdempotencyKey"})));
        assert_eq!(webhook["security"], json!([]));
    }
}
