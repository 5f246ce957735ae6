//! Request extractors that answer every malformed input with our JSON envelope: `ApiJson<T>`
//! (content type, 64 KiB limit, syntax, unknown/missing/mistyped fields named in `param`) and
//! `ApiQuery<T>` for query strings. `Patch<T>` tells an absent field from an explicit `null`.

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// The body limit for every JSON endpoint.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON body deserialized into `T` (which should `deny_unknown_fields`).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
            }
            let bytes = body.await.map_err(|e| {
                let status = e.as_response_error().status_code();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::from_status(status)
                } else {
                    ApiError::bad_request("body_unreadable", "the request body could not be read")
                }
            })?;
            parse_json(&bytes).map(ApiJson)
        })
    }
}

/// Parses JSON into `T`, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError::bad_request(
                "body_invalid_json",
                format!("the body is not valid JSON: {inner}"),
            ),
            Category::Data => field_error(&path, &inner.to_string()),
        }
    })
}

/// Maps serde's data errors onto `param`: unknown and missing fields are named in the message,
/// the rest at the path.
fn field_error(path: &str, message: &str) -> ApiError {
    let message = message.split(" at line ").next().unwrap_or(message);
    let quoted = message.split('`').nth(1);
    let join = |field: &str| {
        if path.is_empty() || path == "." {
            field.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    if let (true, Some(field)) = (message.starts_with("unknown field"), quoted) {
        // The path already ends at the unknown field.
        let param = if path.ends_with(field) {
            path.to_string()
        } else {
            join(field)
        };
        return ApiError::unknown_param(&param);
    }
    if let (true, Some(field)) = (message.starts_with("missing field"), quoted) {
        return ApiError::missing(&join(field));
    }
    if path.is_empty() || path == "." {
        return ApiError::bad_request(
            "body_invalid",
            format!("the body must be a JSON object: {message}"),
        );
    }
    ApiError::invalid(path, format!("'{path}' {message}"))
}

/// A query string deserialized into `T`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(
            req.query_string().as_bytes(),
        ));
        std::future::ready(
            serde_path_to_error::deserialize(de)
                .map(ApiQuery)
                .map_err(|e| field_error(&e.path().to_string(), &e.into_inner().to_string())),
        )
    }
}

/// A field of a partial update: absent (leave as is), `null` (clear) or a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(d).map(|v| v.map_or(Patch::Null, Patch::Value))
    }
}

/// Checks a caller-supplied identifier (`external_*_id`): 1 to 255 characters, no control
/// characters.
pub fn external_id(param: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > 255 {
        return Err(ApiError::invalid(
            param,
            format!("'{param}' must be 1 to 255 characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            param,
            format!("'{param}' must not contain control characters"),
        ));
    }
    Ok(())
}

/// Checks a Stripe object id given as `param`: `prefix` then 1 to 250 letters, digits or `_`.
pub fn stripe_id(param: &str, prefix: &str, what: &str, value: &str) -> Result<(), ApiError> {
    let ok = value.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 250
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            param,
            format!("'{param}' must be a {what} id ({prefix}…)"),
        ))
    }
}

/// The caller's `Idempotency-Key` header, if any: 1 to 255 visible ASCII characters.
pub fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_string()))
        }
        _ => Err(ApiError::invalid(
            "Idempotency-Key",
            "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
        )),
    }
}
