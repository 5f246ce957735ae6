//! Stripe API client over reqwest.
//!
//! One [`StripeClient`] (cheap to clone; one pooled HTTP client inside) talks to `api.stripe.com`
//! or to anything speaking the same protocol (the embedded simulator): only
//! [`StripeConfig::api_base`] differs. Every call takes a [`StripeAccount`] — the secret key to
//! use and, for Connect, the `acct_…` to act for — and every POST takes the caller's
//! Idempotency-Key, which the client reuses on each of its retries.
//!
//! - [`form`]: Stripe's bracketed form encoding (`metadata[k]`, `expand[]`, `a[0]`).
//! - [`client`]: configuration, headers, retries with backoff, response and error decoding.
//! - [`error`]: [`StripeError`], the decoded error envelope.
//! - [`types`]: shared object plumbing — expandable fields, lists, string enums.
//! - one module per resource: typed objects, typed parameters and the calls on [`StripeClient`].
//! - [`webhook`]: `Stripe-Signature` verification and signing; [`webhook_endpoints`]: where
//!   Stripe sends events.

pub mod charges;
pub mod checkout;
pub mod client;
pub mod customers;
pub mod disputes;
pub mod error;
pub mod events;
pub mod files;
pub mod form;
pub mod payment_intents;
pub mod payment_methods;
pub mod payouts;
pub mod refunds;
pub mod secret;
pub mod setup_intents;
pub mod terminal;
pub mod terminal_configurations;
pub mod types;
pub mod webhook;
pub mod webhook_endpoints;

pub use charges::{
    CardDetails, CardPresentDetails, Charge, ChargeStatus, PaymentMethodDetails, ReceiptDetails,
    Wallet,
};
pub use checkout::{
    CheckoutLineItem, CheckoutMode, CheckoutPaymentIntentData, CheckoutPaymentStatus,
    CheckoutSession, CheckoutSessionStatus, CreateCheckoutSession, ListCheckoutSessions, UiMode,
};
pub use client::{
    usable_idempotency_key, StripeAccount, StripeClient, StripeConfig, API_VERSION,
    DEFAULT_API_BASE, FILES_API_BASE,
};
pub use customers::{CreateCustomer, Customer, UpdateCustomer};
pub use disputes::{
    Dispute, DisputeBalanceTransaction, DisputeEvidence, DisputeStatus, EvidenceDetails,
    ListDisputes, UpdateDispute,
};
pub use error::{ApiErrorObject, ErrorType, StripeError};
pub use events::{Event, EventData, EventRequest, ListEvents};
pub use files::{File, FilePurpose, UploadFile};
pub use payment_intents::{
    AmountDetails, CancelPaymentIntent, CancellationReason, CaptureMethod, CapturePaymentIntent,
    CardPresentOptions, ConfirmPaymentIntent, CreatePaymentIntent, IncrementAuthorization,
    PaymentIntent, PaymentIntentStatus, SetupFutureUsage, Tip, UpdatePaymentIntent,
};
pub use payment_methods::{
    GeneratedFrom, ListCustomerPaymentMethods, PaymentMethod, PaymentMethodCard, PaymentMethodType,
};
pub use payouts::{
    BalanceTransaction, BalanceTransactionType, FeeDetail, ListBalanceTransactions, ListPayouts,
    Payout, PayoutStatus,
};
pub use refunds::{CreateRefund, ListRefunds, Refund, RefundReason, RefundStatus};
pub use setup_intents::{
    CreateSetupIntent, SetupAttempt, SetupAttemptCardPresent, SetupAttemptDetails,
    SetupCancellationReason, SetupIntent, SetupIntentStatus,
};
pub use terminal::{
    AddressParams, AllowRedisplay, ConnectionToken, CreateLocation, CreateReader, ListLocations,
    ListReaders, Location, PresentPaymentMethod, ProcessConfig, ProcessPaymentIntent,
    ProcessPaymentIntentAction, Reader, ReaderAction, ReaderActionStatus, ReaderActionType,
    UpdateLocation,
};
pub use terminal::{
    CollectPaymentMethodAction, ConfirmPaymentIntentAction, ReaderCollectPaymentMethod,
    ReaderConfirmPaymentIntent,
};
pub use terminal::{DeletedTerminalObject, ReaderStatus, UpdateReader};
pub use terminal::{DisplayedCart, DisplayedLine, SetReaderDisplayAction};
pub use terminal::{ProcessSetupIntent, ProcessSetupIntentAction};
pub use terminal::{RefundPayment, RefundPaymentAction};
pub use terminal_configurations::{
    ConfigurationParams, CurrencyTipping, DeletedConfiguration, TerminalConfiguration,
};
pub use types::{
    metadata_query, Address, Expandable, HasId, List, ListParams, Metadata, SearchParams,
    SearchResult,
};
pub use webhook_endpoints::{
    CreateWebhookEndpoint, UpdateWebhookEndpoint, WebhookEndpoint, WebhookEndpointStatus,
};
