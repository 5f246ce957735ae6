//! Errors from Stripe calls, and Stripe's error envelope.
//!
//! A failed call is one of: Stripe answered with an error ([`StripeError::Api`], decoded from
//! `{"error": {type, code, decline_code, param, message, payment_intent, …}}` plus the
//! `Request-Id` header); the request timed out ([`StripeError::Timeout`]: the outcome is unknown,
//! Stripe may have applied it — repeat it with the same Idempotency-Key to learn the result);
//! Stripe could not be reached or the connection broke ([`StripeError::Connection`]); a response
//! did not decode ([`StripeError::Decode`]); or the client refused the call before any I/O
//! ([`StripeError::InvalidArgument`]). None of them carries a key or a request body.

use serde::Deserialize;

use super::payment_intents::PaymentIntent;
use super::payment_methods::PaymentMethod;
use super::setup_intents::SetupIntent;
use super::types::string_enum;

string_enum! {
    /// `error.type` in Stripe's envelope.
    pub enum ErrorType {
        ApiError = "api_error",
        CardError = "card_error",
        IdempotencyError = "idempotency_error",
        InvalidRequestError = "invalid_request_error",
    }
}

/// The object inside Stripe's error envelope; also a PaymentIntent's `last_payment_error` and a
/// SetupIntent's `last_setup_error`.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiErrorObject {
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    pub code: Option<String>,
    pub decline_code: Option<String>,
    pub message: Option<String>,
    pub param: Option<String>,
    pub charge: Option<String>,
    pub doc_url: Option<String>,
    pub payment_intent: Option<Box<PaymentIntent>>,
    pub payment_method: Option<Box<PaymentMethod>>,
    pub setup_intent: Option<Box<SetupIntent>>,
}

#[derive(Deserialize)]
struct Envelope {
    error: ApiErrorObject,
}

/// A failed Stripe call.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with an error status.
    #[error(
        "Stripe returned {status} {error_type}{}{}: {} (request {})",
        code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
        decline_code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
        message.as_deref().unwrap_or("no message"),
        request_id.as_deref().unwrap_or("-")
    )]
    Api {
        status: u16,
        error_type: ErrorType,
        code: Option<Box<str>>,
        decline_code: Option<Box<str>>,
        param: Option<Box<str>>,
        message: Option<Box<str>>,
        /// The `Request-Id` response header.
        request_id: Option<Box<str>>,
        /// The PaymentIntent the error concerns (card errors on confirm, capture, …).
        payment_intent: Option<Box<PaymentIntent>>,
    },
    /// No answer within the timeout: the request may or may not have been applied. Not retried by
    /// the client; repeating it with the same Idempotency-Key is safe and tells the outcome.
    #[error("Stripe {method} {path} timed out; the outcome is unknown")]
    Timeout { method: &'static str, path: String },
    /// Stripe could not be reached, or the connection broke before a full answer arrived
    /// (retried by the client; this is the last attempt's error). See
    /// [`StripeError::is_outcome_unknown`].
    #[error("could not reach Stripe for {method} {path}: {source}")]
    Connection {
        method: &'static str,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    /// A success response that did not decode into the expected object.
    #[error("undecodable Stripe response to {path} (status {status}, request {}): {source}", request_id.as_deref().unwrap_or("-"))]
    Decode {
        path: String,
        status: u16,
        request_id: Option<String>,
        #[source]
        source: serde_path_to_error::Error<serde_json::Error>,
    },
    /// Refused before any I/O (an id that is not a Stripe id, a test helper with a live key, …).
    #[error("invalid Stripe call: {0}")]
    InvalidArgument(String),
}

impl StripeError {
    /// Decodes an error response. A body that is not Stripe's envelope (a proxy's HTML page, …)
    /// still yields [`StripeError::Api`] with the status, typed `api_error`.
    pub(crate) fn from_response(status: u16, request_id: Option<String>, body: &[u8]) -> Self {
        match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error }) => StripeError::Api {
                status,
                error_type: error.error_type,
                code: error.code.map(String::into_boxed_str),
                decline_code: error.decline_code.map(String::into_boxed_str),
                param: error.param.map(String::into_boxed_str),
                message: error.message.map(String::into_boxed_str),
                request_id: request_id.map(String::into_boxed_str),
                payment_intent: error.payment_intent,
            },
            Err(_) => StripeError::Api {
                status,
                error_type: ErrorType::ApiError,
                code: None,
                decline_code: None,
                param: None,
                message: Some(
                    format!(
                        "HTTP {status} without a Stripe error body ({} bytes)",
                        body.len()
                    )
                    .into_boxed_str(),
                ),
                request_id: request_id.map(String::into_boxed_str),
                payment_intent: None,
            },
        }
    }

    /// A card was declined (or its details were rejected): show the decline to the customer.
    pub fn is_card_error(&self) -> bool {
        matches!(
            self,
            StripeError::Api {
                error_type: ErrorType::CardError,
                ..
            }
        )
    }

    /// Repeating the same request (same Idempotency-Key) later may succeed: timeouts, connection
    /// failures, 409 (lock or key in use), 429 and 5xx. False for card errors, bad requests, …
    pub fn is_retryable(&self) -> bool {
        match self {
            StripeError::Timeout { .. } | StripeError::Connection { .. } => true,
            StripeError::Api { status, .. } => matches!(*status, 409 | 429 | 500..),
            StripeError::Decode { .. } | StripeError::InvalidArgument(_) => false,
        }
    }

    /// True when the request may have been applied although no complete answer arrived: a
    /// timeout, or a connection that broke after the request was sent. Repeat the call with the
    /// same Idempotency-Key to learn the outcome; do not treat it as a failure.
    pub fn is_outcome_unknown(&self) -> bool {
        match self {
            StripeError::Timeout { .. } => true,
            StripeError::Connection { source, .. } => !source.is_connect(),
            _ => false,
        }
    }

    /// Stripe's `Request-Id` for the failed call, when Stripe answered.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            StripeError::Api { request_id, .. } => request_id.as_deref(),
            StripeError::Decode { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status, when Stripe answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            StripeError::Api { status, .. } | StripeError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// `error.code` (`resource_missing`, `card_declined`, `amount_too_small`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            StripeError::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// `error.param`: the request parameter the error is about.
    pub fn param(&self) -> Option<&str> {
        match self {
            StripeError::Api { param, .. } => param.as_deref(),
            _ => None,
        }
    }

    /// `error.decline_code` (`generic_decline`, `insufficient_funds`, …).
    pub fn decline_code(&self) -> Option<&str> {
        match self {
            StripeError::Api { decline_code, .. } => decline_code.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment_intents::PaymentIntentStatus;

    #[test]
    fn card_error_with_payment_intent() {
        let body = br#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds",
            "message":"Your card has insufficient funds.","charge":"ch_1","doc_url":"https://stripe.com/docs/error-codes/card-declined",
            "payment_intent":{"id":"pi_1","object":"payment_intent","amount":1299,"currency":"usd","status":"requires_payment_method",
              "capture_method":"manual","created":1700000000,"livemode":false,"client_secret":"pi_1_secret_x",
              "last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds"}},
            "some_new_field":true}}"#;
        let err = StripeError::from_response(402, Some("req_123".into()), body);
        assert!(err.is_card_error());
        assert!(!err.is_retryable());
        assert_eq!(err.request_id(), Some("req_123"));
        assert_eq!(err.code(), Some("card_declined"));
        assert_eq!(err.decline_code(), Some("insufficient_funds"));
        assert_eq!(err.status(), Some(402));
        let StripeError::Api { payment_intent, .. } = &err else {
            panic!("{err:?}")
        };
        let pi = payment_intent.as_ref().unwrap();
        assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
        let last = pi.last_payment_error.as_ref().unwrap();
        assert_eq!(last.decline_code.as_deref(), Some("insufficient_funds"));
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("card_declined") && shown.contains("req_123"));
        assert!(
            !shown.contains("pi_1_secret_x"),
            "client secret leaked: {shown}"
        );
    }

    #[test]
    fn invalid_request_with_param() {
        let body = br#"{"error":{"type":"invalid_request_error","code":"parameter_unknown","param":"foo","message":"Received unknown parameter: foo"}}"#;
        let err = StripeError::from_response(400, None, body);
        let StripeError::Api {
            error_type, param, ..
        } = &err
        else {
            panic!()
        };
        assert_eq!(*error_type, ErrorType::InvalidRequestError);
        assert_eq!(param.as_deref(), Some("foo"));
        assert!(!err.is_card_error());
        assert!(!err.is_retryable());
    }

    #[test]
    fn non_stripe_body_and_retryable_statuses() {
        let err = StripeError::from_response(502, None, b"<html>Bad gateway</html>");
        assert_eq!(err.status(), Some(502));
        assert!(err.is_retryable());
        let StripeError::Api { error_type, .. } = &err else {
            panic!()
        };
        assert_eq!(*error_type, ErrorType::ApiError);
        for (status, retryable) in [
            (409, true),
            (429, true),
            (500, true),
            (503, true),
            (404, false),
            (401, false),
        ] {
            let body = br#"{"error":{"type":"invalid_request_error","message":"x"}}"#;
            assert_eq!(
                StripeError::from_response(status, None, body).is_retryable(),
                retryable,
                "{status}"
            );
        }
        let odd = StripeError::from_response(400, None, br#"{"error":{"type":"brand_new_error"}}"#);
        let StripeError::Api { error_type, .. } = &odd else {
            panic!()
        };
        assert_eq!(error_type.as_str(), "brand_new_error");
    }

    #[test]
    fn stays_small_enough_to_return_by_value() {
        // clippy's result_large_err threshold; callers return Result<(), StripeError> freely.
        assert!(std::mem::size_of::<StripeError>() <= 128);
    }

    #[test]
    fn timeout_is_outcome_unknown() {
        let err = StripeError::Timeout {
            method: "POST",
            path: "/v1/payment_intents".into(),
        };
        assert!(err.is_outcome_unknown() && err.is_retryable());
        assert_eq!(err.request_id(), None);
        assert!(err.to_string().contains("outcome is unknown"));
    }
}
