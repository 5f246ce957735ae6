//! Errors on the wire: each [`ErrorKind`] mapped to its HTTP status and envelope `type`, the JSON
//! envelope `{"error": {"type", "code", "message", "param"?, "decline_code"?, "payment_status"?,
//! "payment_id"?, "stripe_request_id"?, "retryable"?}}`, the envelope for a bare status from the
//! HTTP layer ([`from_status`]), and the one place an error is logged: [`log_errors`], when its
//! response passes on its way out, with the request id.

use crate::app::RequestId;
use crate::error::{Error, ErrorKind};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use serde::Serialize;

/// The HTTP status of a kind.
pub fn status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Invalid
        | ErrorKind::Missing
        | ErrorKind::UnknownParam
        | ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::CardDeclined => StatusCode::PAYMENT_REQUIRED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict | ErrorKind::InProgress => StatusCode::CONFLICT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::StripeUnavailable | ErrorKind::StripeFailed => StatusCode::BAD_GATEWAY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::StripeTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Protocol { status } => {
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// The envelope's `type` of a kind (Stripe's error types).
fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Unauthorized => "authentication_error",
        ErrorKind::Forbidden => "permission_error",
        ErrorKind::CardDeclined => "card_error",
        ErrorKind::Internal
        | ErrorKind::StripeUnavailable
        | ErrorKind::StripeTimeout
        | ErrorKind::StripeFailed
        | ErrorKind::Unavailable => "api_error",
        ErrorKind::Protocol { status } if status >= 500 => "api_error",
        ErrorKind::Invalid
        | ErrorKind::Missing
        | ErrorKind::UnknownParam
        | ErrorKind::BadRequest
        | ErrorKind::NotFound
        | ErrorKind::Conflict
        | ErrorKind::InProgress
        | ErrorKind::Protocol { .. } => "invalid_request_error",
    }
}

/// The level an error is logged at: our faults and our dependencies' as errors, Stripe being
/// unavailable (retryable, not ours) as a warning, the caller's mistakes as information.
fn level(kind: ErrorKind) -> log::Level {
    match kind {
        ErrorKind::Internal | ErrorKind::StripeFailed | ErrorKind::Unavailable => log::Level::Error,
        ErrorKind::StripeUnavailable | ErrorKind::StripeTimeout => log::Level::Warn,
        ErrorKind::Protocol { status } if status >= 500 => log::Level::Error,
        _ => log::Level::Info,
    }
}

/// The envelope for a bare status produced outside our handlers (router, body limits, actix's
/// extractors).
pub fn from_status(status: StatusCode) -> Error {
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
    Error::new(
        ErrorKind::Protocol {
            status: status.as_u16(),
        },
        code,
        message,
    )
}

/// The envelope's content: what the caller is told, never the internal detail.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    error_type: &'static str,
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decline_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stripe_request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    retryable: bool,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        status(self.kind)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(Envelope {
            error: Body {
                error_type: error_type(self.kind),
                code: &self.code,
                message: &self.message,
                param: self.param.as_deref(),
                decline_code: self.decline_code.as_deref(),
                payment_status: self.payment_status.as_deref(),
                payment_id: self.payment_id.as_deref(),
                stripe_request_id: self.stripe_request_id.as_deref(),
                retryable: self.retryable,
            },
        })
    }
}

/// Middleware (`actix_web::middleware::from_fn(errors::log_errors)`, inside the one that sets the
/// [`RequestId`]): logs the error a response was made from, once, with the request id, at the
/// level of its kind, and its internal detail (which the caller never sees).
pub async fn log_errors<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let result = next.call(req).await;
    let error = match &result {
        Ok(response) => response.response().error(),
        Err(e) => Some(e),
    };
    if let Some(e) = error {
        log_error(e, id.as_deref().unwrap_or("-"));
    }
    result
}

fn log_error(e: &actix_web::Error, id: &str) {
    let status = e.as_response_error().status_code().as_u16();
    let Some(ours) = e.as_error::<Error>() else {
        // Not ours: an actix error that `app::json_envelope` did not rewrite.
        let level = if status >= 500 {
            log::Level::Error
        } else {
            log::Level::Info
        };
        log::log!(level, "request {id}: {status} {e}");
        return;
    };
    let param = ours
        .param
        .as_deref()
        .map(|p| format!(" (param {p})"))
        .unwrap_or_default();
    let (code, message) = (&ours.code, &ours.message);
    match &ours.detail {
        Some(detail) => log::log!(
            level(ours.kind),
            "request {id}: {status} {code}{param}: {message}: {detail}"
        ),
        None => log::log!(
            level(ours.kind),
            "request {id}: {status} {code}{param}: {message}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test as actix_test;
    use actix_web::{web, App};
    use std::sync::Mutex;

    #[test]
    fn each_kind_has_its_status_and_type() {
        let cases = [
            (ErrorKind::Invalid, 400, "invalid_request_error"),
            (ErrorKind::Missing, 400, "invalid_request_error"),
            (ErrorKind::UnknownParam, 400, "invalid_request_error"),
            (ErrorKind::BadRequest, 400, "invalid_request_error"),
            (ErrorKind::Unauthorized, 401, "authentication_error"),
            (ErrorKind::CardDeclined, 402, "card_error"),
            (ErrorKind::Forbidden, 403, "permission_error"),
            (ErrorKind::NotFound, 404, "invalid_request_error"),
            (ErrorKind::Conflict, 409, "invalid_request_error"),
            (ErrorKind::InProgress, 409, "invalid_request_error"),
            (ErrorKind::Internal, 500, "api_error"),
            (ErrorKind::StripeUnavailable, 502, "api_error"),
            (ErrorKind::StripeFailed, 502, "api_error"),
            (ErrorKind::Unavailable, 503, "api_error"),
            (ErrorKind::StripeTimeout, 504, "api_error"),
            (
                ErrorKind::Protocol { status: 405 },
                405,
                "invalid_request_error",
            ),
            (
                ErrorKind::Protocol { status: 413 },
                413,
                "invalid_request_error",
            ),
            (ErrorKind::Protocol { status: 500 }, 500, "api_error"),
        ];
        for (kind, code, error_type_) in cases {
            assert_eq!(status(kind).as_u16(), code, "{kind:?}");
            assert_eq!(error_type(kind), error_type_, "{kind:?}");
        }
    }

    #[test]
    fn server_faults_log_as_errors_and_caller_mistakes_as_information() {
        assert_eq!(level(ErrorKind::Internal), log::Level::Error);
        assert_eq!(level(ErrorKind::Unavailable), log::Level::Error);
        assert_eq!(level(ErrorKind::StripeFailed), log::Level::Error);
        assert_eq!(level(ErrorKind::StripeTimeout), log::Level::Warn);
        assert_eq!(level(ErrorKind::StripeUnavailable), log::Level::Warn);
        assert_eq!(level(ErrorKind::Invalid), log::Level::Info);
        assert_eq!(level(ErrorKind::Forbidden), log::Level::Info);
    }

    async fn body_of(e: Error) -> (u16, String) {
        let response = e.error_response();
        let status = response.status().as_u16();
        let bytes = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[actix_web::test]
    async fn the_envelope_is_stripe_shaped() {
        let (status, body) = body_of(Error::invalid("amount", "'amount' must be positive")).await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            r#"{"error":{"type":"invalid_request_error","code":"parameter_invalid","message":"'amount' must be positive","param":"amount"}}"#
        );
        let mut declined = Error::card_declined(
            "card_declined",
            Some("insufficient_funds".into()),
            "Your card has insufficient funds.",
        );
        declined.payment_status = Some("failed".into());
        declined.payment_id = Some("pi_1".into());
        declined.stripe_request_id = Some("req_1".into());
        let (status, body) = body_of(declined).await;
        assert_eq!(status, 402);
        assert_eq!(
            body,
            r#"{"error":{"type":"card_error","code":"card_declined","message":"Your card has insufficient funds.","decline_code":"insufficient_funds","payment_status":"failed","payment_id":"pi_1","stripe_request_id":"req_1"}}"#
        );
        let (status, body) = body_of(Error::in_progress("busy")).await;
        assert_eq!(status, 409);
        assert_eq!(
            body,
            r#"{"error":{"type":"invalid_request_error","code":"request_in_progress","message":"busy","retryable":true}}"#
        );
        let unauthorized = Error::unauthorized("token_missing", "a token is required");
        assert_eq!(
            unauthorized
                .error_response()
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .unwrap(),
            "Bearer"
        );
    }

    #[actix_web::test]
    async fn bare_statuses_get_the_envelope() {
        let (status, body) = body_of(from_status(StatusCode::METHOD_NOT_ALLOWED)).await;
        assert_eq!(status, 405);
        assert_eq!(
            body,
            r#"{"error":{"type":"invalid_request_error","code":"method_not_allowed","message":"method not allowed on this route"}}"#
        );
        let (status, body) = body_of(from_status(StatusCode::BAD_GATEWAY)).await;
        assert_eq!(status, 502);
        assert!(body.contains(r#""type":"api_error","code":"internal_error""#));
        let (status, _) = body_of(from_status(StatusCode::REQUEST_TIMEOUT)).await;
        assert_eq!(status, 408);
    }

    /// Records every log line of this process (the library's unit tests set no other logger).
    struct Capture(Mutex<Vec<(log::Level, String)>>);

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, record: &log::Record) {
            let line = record.args().to_string();
            self.0.lock().unwrap().push((record.level(), line));
        }
        fn flush(&self) {}
    }

    fn captured() -> &'static Capture {
        static CAPTURE: std::sync::OnceLock<&'static Capture> = std::sync::OnceLock::new();
        CAPTURE.get_or_init(|| {
            let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
            log::set_logger(capture).expect("no other logger in unit tests");
            log::set_max_level(log::LevelFilter::Trace);
            capture
        })
    }

    #[actix_web::test]
    async fn an_internal_detail_is_logged_once_with_the_request_id_and_never_sent() {
        let capture = captured();
        const DETAIL: &str = "detail-7f3a: pool of postgres://user:pw@db";
        let app = actix_test::init_service(
            App::new()
                .route(
                    "/fail",
                    web::get().to(|| async { Err::<HttpResponse, _>(Error::internal(DETAIL)) }),
                )
                .wrap(actix_web::middleware::from_fn(log_errors))
                .wrap_fn(|req, srv| {
                    req.extensions_mut()
                        .insert(RequestId("req-id-5e1c".to_string()));
                    actix_web::dev::Service::call(srv, req)
                }),
        )
        .await;
        let response = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/fail").to_request(),
        )
        .await;
        assert_eq!(response.status(), 500);
        let body = String::from_utf8(actix_test::read_body(response).await.to_vec()).unwrap();
        assert_eq!(
            body,
            r#"{"error":{"type":"api_error","code":"internal_error","message":"an internal error occurred"}}"#
        );
        let lines: Vec<(log::Level, String)> = capture
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, line)| line.contains("detail-7f3a"))
            .cloned()
            .collect();
        assert_eq!(lines.len(), 1, "logged once: {lines:?}");
        let (level, line) = &lines[0];
        assert_eq!(*level, log::Level::Error);
        assert!(line.contains("req-id-5e1c"), "{line}");
        assert!(line.contains("500 internal_error"), "{line}");
    }

    #[actix_web::test]
    async fn constructing_an_error_logs_nothing() {
        let capture = captured();
        let _ = Error::internal("detail-91bd never answered");
        let _ = Error::from(crate::db::DbError::Unavailable("detail-91bd".into()));
        assert!(!capture
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|(_, line)| line.contains("detail-91bd")));
    }
}
