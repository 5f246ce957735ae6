//! `ApiError`: every failure the API reports, mapped to an HTTP status and the JSON envelope
//! `{"error": {"type", "code", "message", "param"?, "decline_code"?}}`.

use crate::db::DbError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

/// An API failure. Boxed, so results that carry it stay small on the happy path.
#[derive(Debug, Clone)]
pub struct ApiError(Box<ErrorBody>);

impl std::ops::Deref for ApiError {
    type Target = ErrorBody;
    fn deref(&self) -> &ErrorBody {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorBody {
        &mut self.0
    }
}

/// What an `ApiError` says: the HTTP status and the envelope's fields.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    #[serde(skip)]
    pub status: StatusCode,
    #[serde(rename = "type")]
    pub error_type: &'static str,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<String>,
    /// The payment's current status, on state conflicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<String>,
    /// The payment concerned (`pi_…`), when the request created one that failed (a decline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// Stripe's request id, when Stripe answered with an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe_request_id: Option<String>,
    /// Safe to retry the same request (Stripe was unreachable, timed out or failed).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        error_type: &'static str,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        ApiError(Box::new(ErrorBody {
            status,
            error_type,
            code: code.to_string(),
            message: message.into(),
            param: None,
            decline_code: None,
            payment_status: None,
            payment_id: None,
            stripe_request_id: None,
            retryable: false,
        }))
    }

    /// 400 for a field that is present but wrong.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "parameter_invalid",
            message,
        );
        e.param = Some(param.to_string());
        e
    }

    /// 400 for a required field that is absent.
    pub fn missing(param: &str) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "parameter_missing",
            format!("missing required parameter '{param}'"),
        );
        e.param = Some(param.to_string());
        e
    }

    /// 400 for a field the endpoint does not know.
    pub fn unknown_param(param: &str) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "parameter_unknown",
            format!("unknown parameter '{param}'"),
        );
        e.param = Some(param.to_string());
        e
    }

    /// 400 for a body that is not what the endpoint takes as a whole.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message,
        )
    }

    pub fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            code,
            message,
        )
    }

    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission_error", code, message)
    }

    /// 404: unknown, or another account's object (never revealed to exist).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "resource_missing",
            message,
        )
    }

    /// 409: the object is not in a state that allows the request, or an idempotency conflict.
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "invalid_request_error", code, message)
    }

    /// 409 `request_in_progress`: the same change is under way; retrying the same request is safe.
    pub fn in_progress(message: impl Into<String>) -> Self {
        let mut e = Self::conflict("request_in_progress", message);
        e.retryable = true;
        e
    }

    /// 402: the card was declined.
    pub fn card_declined(
        code: &str,
        decline_code: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        let mut e = Self::new(StatusCode::PAYMENT_REQUIRED, "card_error", code, message);
        e.decline_code = decline_code;
        e
    }

    /// 500 for our own faults; the detail is logged, never returned.
    pub fn internal(detail: impl fmt::Display) -> Self {
        log::error!("internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "internal_error",
            "an internal error occurred",
        )
    }

    /// The envelope for a bare status produced outside our handlers (router, actix extractors).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("resource_missing", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "method not allowed on this route")
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("body_too_large", "request body is over the 64 KiB limit")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "content_type_invalid",
                "Content-Type must be application/json",
            ),
            s if s.is_client_error() => ("invalid_request", "the request could not be processed"),
            _ => ("internal_error", "an internal error occurred"),
        };
        let error_type = if status.is_server_error() {
            "api_error"
        } else {
            "invalid_request_error"
        };
        Self::new(status, error_type, code, message)
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_string());
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: &'a ErrorBody,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(Envelope { error: &self.0 })
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(detail) => {
                log::error!("database unavailable: {detail}");
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "api_error",
                    "database_unavailable",
                    "the database is unavailable; retry later",
                );
                e.retryable = true;
                e
            }
            DbError::Query(diesel::result::Error::NotFound) => {
                ApiError::not_found("no such object")
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        ApiError::from(DbError::Query(e))
    }
}

impl ApiError {
    /// A Stripe error on a call that carries something the caller gave us, under our field
    /// `ours` and Stripe's parameter `theirs` (`None`: the object in the call's path). Stripe's
    /// refusal of that input is the caller's mistake, named by our field: `resource_missing` on
    /// it (or a 404 for the path's object) → 404, any other 400 `invalid_request_error` on that
    /// parameter (an unknown registration code) → 400. Everything else, including a refusal of
    /// what we added ourselves, maps as [`From<StripeError>`] (502: our request was wrong).
    pub fn from_stripe_input(
        e: crate::stripe::StripeError,
        theirs: Option<&str>,
        ours: &str,
    ) -> ApiError {
        use crate::stripe::StripeError;
        let StripeError::Api {
            status,
            code,
            param,
            message,
            request_id,
            error_type,
            ..
        } = &e
        else {
            return e.into();
        };
        let resource_missing = code.as_deref() == Some("resource_missing");
        let mut api = match theirs {
            // The call's path names the object: Stripe answers 404 when it does not exist.
            None if *status == 404 => ApiError::not_found(format!("no such {ours} at Stripe")),
            Some(theirs) if param.as_deref() == Some(theirs) && resource_missing => {
                ApiError::not_found(format!("no such {ours} at Stripe"))
            }
            Some(theirs)
                if param.as_deref() == Some(theirs)
                    && *status == 400
                    && matches!(
                        error_type,
                        crate::stripe::error::ErrorType::InvalidRequestError
                    ) =>
            {
                ApiError::invalid(
                    ours,
                    format!(
                        "Stripe refused '{ours}': {}",
                        message.as_deref().unwrap_or("invalid")
                    ),
                )
            }
            _ => return e.into(),
        };
        log::info!("Stripe refused the caller's {ours}: {e}");
        api.param = Some(ours.to_string());
        api.stripe_request_id = request_id.as_deref().map(str::to_string);
        api
    }
}

impl From<crate::stripe::StripeError> for ApiError {
    fn from(e: crate::stripe::StripeError) -> Self {
        use crate::stripe::StripeError;
        let request_id = e.request_id().map(str::to_string);
        let mut api = match &e {
            StripeError::Api { .. } if e.is_card_error() => {
                let mut api = ApiError::new(
                    StatusCode::PAYMENT_REQUIRED,
                    "card_error",
                    e.code().unwrap_or("card_declined"),
                    match &e {
                        StripeError::Api {
                            message: Some(m), ..
                        } => m.to_string(),
                        _ => "the card was declined".to_string(),
                    },
                );
                api.decline_code = e.decline_code().map(str::to_string);
                api
            }
            StripeError::Api { status, .. } if matches!(*status, 409 | 429 | 500..) => {
                log::warn!("Stripe unavailable: {e}");
                let mut api = ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "api_error",
                    "stripe_unavailable",
                    "Stripe is unavailable or busy; retry the same request",
                );
                api.retryable = true;
                api
            }
            StripeError::Api { .. } => {
                log::error!("Stripe rejected our request: {e}");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "api_error",
                    "stripe_request_failed",
                    "Stripe rejected the request; see stripe_request_id",
                )
            }
            StripeError::Timeout { .. } => {
                log::warn!("{e}");
                let mut api = ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "api_error",
                    "stripe_timeout",
                    "Stripe did not answer in time; the outcome is unknown: retry the same request",
                );
                api.retryable = true;
                api
            }
            StripeError::Connection { .. } => {
                log::warn!("{e}");
                let mut api = ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "api_error",
                    "stripe_unreachable",
                    "Stripe could not be reached; retry the same request",
                );
                api.retryable = true;
                api
            }
            StripeError::Decode { .. } => {
                log::error!("{e}");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "api_error",
                    "stripe_bad_response",
                    "Stripe's answer could not be read",
                )
            }
            StripeError::InvalidArgument(_) => return ApiError::internal(e),
        };
        api.stripe_request_id = request_id;
        api
    }
}
