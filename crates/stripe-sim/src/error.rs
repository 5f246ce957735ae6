//! Stripe's error envelope: `{"error": {"type", "code", "message", "param", "decline_code", …}}`
//! with the HTTP status Stripe uses for each kind of failure.

use serde_json::{json, Map, Value};

/// One failed API request, rendered exactly like Stripe renders errors.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    /// `type`: `invalid_request_error`, `card_error`, `idempotency_error` or `api_error`.
    pub kind: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub param: Option<String>,
    /// What a card error carries besides the message (boxed: errors travel in every `Result`).
    pub card: Option<Box<CardErrorDetails>>,
    /// `Stripe-Should-Retry` response header, when Stripe would send one.
    pub should_retry: Option<bool>,
}

/// The objects an error refers to (a `card_error`'s charge and decline, an intent-state error's
/// PaymentIntent).
#[derive(Debug, Clone, Default)]
pub(crate) struct CardErrorDetails {
    pub decline_code: Option<String>,
    pub charge: Option<String>,
    pub payment_intent: Option<Value>,
    pub payment_method: Option<Value>,
    pub setup_intent: Option<Value>,
}

impl ApiError {
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            code: None,
            message: message.into(),
            param: None,
            card: None,
            should_retry: None,
        }
    }

    /// A 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_request_error", message)
    }

    pub fn with_code(mut self, code: &str) -> ApiError {
        self.code = Some(code.to_string());
        self
    }

    pub fn with_param(mut self, param: &str) -> ApiError {
        self.param = Some(param.to_string());
        self
    }

    pub fn with_status(mut self, status: u16) -> ApiError {
        self.status = status;
        self
    }

    pub fn unknown_param(param: &str) -> ApiError {
        ApiError::invalid(format!("Received unknown parameter: {param}"))
            .with_code("parameter_unknown")
            .with_param(param)
    }

    pub fn missing_param(param: &str) -> ApiError {
        ApiError::invalid(format!("Missing required param: {param}."))
            .with_code("parameter_missing")
            .with_param(param)
    }

    /// 404 for an object that does not exist in the caller's namespace (`param` names the path
    /// parameter, as Stripe does).
    pub fn no_such(object: &str, id: &str, param: &str) -> ApiError {
        ApiError::invalid(format!("No such {object}: '{id}'"))
            .with_code("resource_missing")
            .with_param(param)
            .with_status(404)
    }

    /// `No such …` for an id given in a parameter: Stripe answers 400 rather than 404 there.
    pub fn no_such_param(object: &str, id: &str, param: &str) -> ApiError {
        ApiError::no_such(object, id, param).with_status(400)
    }

    /// `payment_intent_unexpected_state`: the request does not fit the intent's status. Like
    /// Stripe's, the error carries the PaymentIntent as it is (`error.payment_intent`), so the
    /// caller learns the true state without another request.
    pub fn unexpected_state(message: impl Into<String>, intent: Value) -> ApiError {
        let mut error = ApiError::invalid(message).with_code("payment_intent_unexpected_state");
        error.card = Some(Box::new(CardErrorDetails {
            payment_intent: Some(intent),
            ..Default::default()
        }));
        error
    }

    pub fn server_error(status: u16, message: impl Into<String>) -> ApiError {
        let mut error = ApiError::new(status, "api_error", message);
        error.should_retry = Some(true);
        error
    }

    /// A 402 `card_error`.
    pub fn card_error(code: &str, message: &str, details: CardErrorDetails) -> ApiError {
        let mut error = ApiError::new(402, "card_error", message).with_code(code);
        error.card = Some(Box::new(details));
        error
    }

    /// The card error's details (empty for other errors).
    pub fn card_details(&self) -> CardErrorDetails {
        self.card.as_deref().cloned().unwrap_or_default()
    }

    /// Whether Stripe would store this error as the outcome of an idempotent request. Parameter
    /// validation failures are not stored ("results are only saved after execution begins").
    pub fn is_stored_for_idempotency(&self) -> bool {
        !matches!(self.code.as_deref(), Some(code) if code.starts_with("parameter_"))
    }

    /// The inner object of the envelope (also used as `last_payment_error`).
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        let card = self.card_details();
        if let Some(charge) = &card.charge {
            error.insert("charge".into(), json!(charge));
        }
        if let Some(code) = &self.code {
            error.insert("code".into(), json!(code));
            error.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
            );
        }
        if let Some(decline_code) = &card.decline_code {
            error.insert("decline_code".into(), json!(decline_code));
        }
        error.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        if let Some(pi) = card.payment_intent {
            error.insert("payment_intent".into(), pi);
        }
        if let Some(pm) = card.payment_method {
            error.insert("payment_method".into(), pm);
        }
        if let Some(si) = card.setup_intent {
            error.insert("setup_intent".into(), si);
        }
        error.insert("type".into(), json!(self.kind));
        Value::Object(error)
    }

    pub fn envelope(&self) -> Value {
        json!({ "error": self.body() })
    }
}
