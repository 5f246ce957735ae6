//! `Error`: every failure the service reports, as the domain sees it — what happened
//! ([`ErrorKind`]) and what the caller is told (code, message, the field concerned, the payment's
//! state…), plus an internal detail for the operator that never reaches the caller.
//!
//! No HTTP here: `api::errors` maps a kind to its status, writes the JSON envelope and logs each
//! error once, when its response is made. Constructors do not log.

use crate::db::DbError;
use std::fmt;

/// What happened, in the caller's terms. Each kind has one HTTP status and one envelope `type`
/// (`api::errors`); the `code` names the case within the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A field is present but wrong (`parameter_invalid`, `param` names it).
    Invalid,
    /// A required field is absent (`parameter_missing`).
    Missing,
    /// A field the endpoint does not know (`parameter_unknown`).
    UnknownParam,
    /// The request as a whole is not what the endpoint takes (unreadable body, bad signature…).
    BadRequest,
    /// No valid token.
    Unauthorized,
    /// The token may not do this (scope) or act for that account.
    Forbidden,
    /// Unknown, or another account's object (never revealed to exist).
    NotFound,
    /// The object's state does not allow the request, or an idempotency conflict; `code` says
    /// which.
    Conflict,
    /// The same change is under way; retrying the same request is safe.
    InProgress,
    /// The card was declined.
    CardDeclined,
    /// Stripe was unreachable, busy or failing; retrying the same request is safe.
    StripeUnavailable,
    /// Stripe did not answer in time: the outcome is unknown, retrying the same request is safe.
    StripeTimeout,
    /// Stripe refused what we sent, or answered something we cannot read: our fault, not the
    /// caller's.
    StripeFailed,
    /// A dependency of ours (the database) is unavailable.
    Unavailable,
    /// Our own fault.
    Internal,
    /// Refused by the HTTP layer before any of our code ran (unknown route, wrong method, body
    /// over the limit, wrong content type); `status` is that layer's HTTP status code.
    Protocol { status: u16 },
}

/// A failure. Boxed, so results that carry it stay small on the happy path.
#[derive(Debug, Clone)]
pub struct Error(Box<ErrorBody>);

impl std::ops::Deref for Error {
    type Target = ErrorBody;
    fn deref(&self) -> &ErrorBody {
        &self.0
    }
}

impl std::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut ErrorBody {
        &mut self.0
    }
}

/// What an [`Error`] says: its kind, the envelope's fields, and the internal detail.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub code: String,
    pub message: String,
    /// The field concerned.
    pub param: Option<String>,
    /// The issuer's reason, on card declines.
    pub decline_code: Option<String>,
    /// The payment's current status, on state conflicts.
    pub payment_status: Option<String>,
    /// The payment concerned (`pi_…`), when the request created one that failed (a decline).
    pub payment_id: Option<String>,
    /// Stripe's request id, when Stripe answered with an error.
    pub stripe_request_id: Option<String>,
    /// Safe to retry the same request (Stripe was unreachable, timed out or failed).
    pub retryable: bool,
    /// For the operator: what went wrong inside (a database or Stripe error). Logged once when
    /// the response is made, never sent to the caller.
    pub detail: Option<String>,
}

impl Error {
    pub fn new(kind: ErrorKind, code: &str, message: impl Into<String>) -> Self {
        Error(Box::new(ErrorBody {
            kind,
            code: code.to_string(),
            message: message.into(),
            param: None,
            decline_code: None,
            payment_status: None,
            payment_id: None,
            stripe_request_id: None,
            retryable: false,
            detail: None,
        }))
    }

    /// A field that is present but wrong.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, "parameter_invalid", message).with_param(param)
    }

    /// A required field that is absent.
    pub fn missing(param: &str) -> Self {
        Self::new(
            ErrorKind::Missing,
            "parameter_missing",
            format!("missing required parameter '{param}'"),
        )
        .with_param(param)
    }

    /// A field the endpoint does not know.
    pub fn unknown_param(param: &str) -> Self {
        Self::new(
            ErrorKind::UnknownParam,
            "parameter_unknown",
            format!("unknown parameter '{param}'"),
        )
        .with_param(param)
    }

    /// A body that is not what the endpoint takes as a whole.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, code, message)
    }

    pub fn unauthorized(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, code, message)
    }

    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, code, message)
    }

    /// Unknown, or another account's object (never revealed to exist).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, "resource_missing", message)
    }

    /// The object is not in a state that allows the request, or an idempotency conflict.
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, message)
    }

    /// `request_in_progress`: the same change is under way; retrying the same request is safe.
    pub fn in_progress(message: impl Into<String>) -> Self {
        let mut e = Self::new(ErrorKind::InProgress, "request_in_progress", message);
        e.retryable = true;
        e
    }

    /// The card was declined.
    pub fn card_declined(
        code: &str,
        decline_code: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        let mut e = Self::new(ErrorKind::CardDeclined, code, message);
        e.decline_code = decline_code;
        e
    }

    /// Our own fault: the caller is told only that; `detail` is kept for the log.
    pub fn internal(detail: impl fmt::Display) -> Self {
        Self::new(
            ErrorKind::Internal,
            "internal_error",
            "an internal error occurred",
        )
        .with_detail(detail)
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_string());
        self
    }

    /// Keeps `detail` for the operator's log (never sent to the caller).
    pub fn with_detail(mut self, detail: impl fmt::Display) -> Self {
        self.detail = Some(detail.to_string());
        self
    }
}

/// For operators (the logs of jobs, the reconcile report, startup failures): the code, the
/// message and the internal detail. Never sent to a caller: `api::errors` writes the fields.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        match &self.detail {
            Some(detail) => write!(f, ": {detail}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Error {}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(detail) => {
                let mut e = Error::new(
                    ErrorKind::Unavailable,
                    "database_unavailable",
                    "the database is unavailable; retry later",
                )
                .with_detail(format_args!("database unavailable: {detail}"));
                e.retryable = true;
                e
            }
            DbError::Query(diesel::result::Error::NotFound) => Error::not_found("no such object"),
            // The connection dropped under a statement (not retried by `Db::run`: it may have
            // committed): an outage, and the caller's retry is idempotent.
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection
                | diesel::result::DatabaseErrorKind::UnableToSendCommand,
                info,
            )) => Error::from(DbError::Unavailable(format!(
                "connection lost: {}",
                info.message()
            ))),
            other => Error::internal(other),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        Error::from(DbError::Query(e))
    }
}

impl Error {
    /// A Stripe error on a call that carries something the caller gave us, under our field
    /// `ours` and Stripe's parameter `theirs` (`None`: the object in the call's path). Stripe's
    /// refusal of that input is the caller's mistake, named by our field: `resource_missing` on
    /// it (or a 404 for the path's object) → not found, any other 400 `invalid_request_error` on
    /// that parameter (an unknown registration code) → invalid. Everything else, including a
    /// refusal of what we added ourselves, maps as [`From<StripeError>`] (Stripe failed: our
    /// request was wrong).
    pub fn from_stripe_input(
        e: stripe_client::StripeError,
        theirs: Option<&str>,
        ours: &str,
    ) -> Error {
        use stripe_client::StripeError;
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
        let mut error = match theirs {
            // The call's path names the object: Stripe answers 404 when it does not exist.
            None if *status == 404 => Error::not_found(format!("no such {ours} at Stripe")),
            Some(theirs) if param.as_deref() == Some(theirs) && resource_missing => {
                Error::not_found(format!("no such {ours} at Stripe"))
            }
            Some(theirs)
                if param.as_deref() == Some(theirs)
                    && *status == 400
                    && matches!(
                        error_type,
                        stripe_client::error::ErrorType::InvalidRequestError
                    ) =>
            {
                Error::invalid(
                    ours,
                    format!(
                        "Stripe refused '{ours}': {}",
                        message.as_deref().unwrap_or("invalid")
                    ),
                )
            }
            _ => return e.into(),
        };
        error.param = Some(ours.to_string());
        error.stripe_request_id = request_id.as_deref().map(str::to_string);
        error.with_detail(format_args!("Stripe refused the caller's {ours}: {e}"))
    }
}

impl From<stripe_client::StripeError> for Error {
    fn from(e: stripe_client::StripeError) -> Self {
        use stripe_client::StripeError;
        let request_id = e.request_id().map(str::to_string);
        let mut error = match &e {
            StripeError::Api { .. } if e.is_card_error() => {
                let message = match &e {
                    StripeError::Api {
                        message: Some(m), ..
                    } => m.to_string(),
                    _ => "the card was declined".to_string(),
                };
                Error::card_declined(
                    e.code().unwrap_or("card_declined"),
                    e.decline_code().map(str::to_string),
                    message,
                )
            }
            StripeError::Api { status, .. } if matches!(*status, 409 | 429 | 500..) => {
                let mut error = Error::new(
                    ErrorKind::StripeUnavailable,
                    "stripe_unavailable",
                    "Stripe is unavailable or busy; retry the same request",
                )
                .with_detail(format_args!("Stripe unavailable: {e}"));
                error.retryable = true;
                error
            }
            StripeError::Api { .. } => Error::new(
                ErrorKind::StripeFailed,
                "stripe_request_failed",
                "Stripe rejected the request; see stripe_request_id",
            )
            .with_detail(format_args!("Stripe rejected our request: {e}")),
            StripeError::Timeout { .. } => {
                let mut error = Error::new(
                    ErrorKind::StripeTimeout,
                    "stripe_timeout",
                    "Stripe did not answer in time; the outcome is unknown: retry the same request",
                )
                .with_detail(&e);
                error.retryable = true;
                error
            }
            StripeError::Connection { .. } => {
                let mut error = Error::new(
                    ErrorKind::StripeUnavailable,
                    "stripe_unreachable",
                    "Stripe could not be reached; retry the same request",
                )
                .with_detail(&e);
                error.retryable = true;
                error
            }
            StripeError::Decode { .. } => Error::new(
                ErrorKind::StripeFailed,
                "stripe_bad_response",
                "Stripe's answer could not be read",
            )
            .with_detail(&e),
            StripeError::InvalidArgument(_) => return Error::internal(e),
        };
        error.stripe_request_id = request_id;
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_name_the_field_and_the_kind() {
        let e = Error::invalid("amount", "'amount' must be positive");
        assert_eq!(
            (e.kind, e.code.as_str(), e.param.as_deref()),
            (ErrorKind::Invalid, "parameter_invalid", Some("amount"))
        );
        let e = Error::missing("currency");
        assert_eq!(e.message, "missing required parameter 'currency'");
        assert_eq!(e.param.as_deref(), Some("currency"));
        let e = Error::in_progress("busy");
        assert!(e.retryable);
        assert_eq!(e.code, "request_in_progress");
    }

    #[test]
    fn internal_keeps_its_detail_apart_from_the_message() {
        let e = Error::internal("connection string postgres://u:pw@h");
        assert_eq!(e.kind, ErrorKind::Internal);
        assert_eq!(e.message, "an internal error occurred");
        assert_eq!(
            e.detail.as_deref(),
            Some("connection string postgres://u:pw@h")
        );
        // Displayed for operators (jobs log errors they swallow), with the detail.
        assert_eq!(
            e.to_string(),
            "internal_error: an internal error occurred: connection string postgres://u:pw@h"
        );
    }

    #[test]
    fn database_errors_map_to_kinds() {
        let e = Error::from(DbError::Unavailable("pool timed out".into()));
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(e.retryable);
        assert!(e.detail.as_deref().unwrap().contains("pool timed out"));
        let e = Error::from(diesel::result::Error::NotFound);
        assert_eq!(e.kind, ErrorKind::NotFound);
        let e = Error::from(diesel::result::Error::RollbackTransaction);
        assert_eq!(e.kind, ErrorKind::Internal);
    }
}
