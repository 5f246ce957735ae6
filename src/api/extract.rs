//! Request extractors that answer every malformed input with our JSON envelope: `ApiJson<T>`
//! (content type, 64 KiB limit, syntax, unknown/missing/mistyped fields named in `param`) and
//! `ApiQuery<T>` for query strings. A key given twice (`{"amount": 1, "amount": 2}`,
//! `?limit=1&limit=2`) is a 400 naming it: which one was meant is not ours to guess. `Patch<T>` tells an absent field from an explicit `null`.
//! No client text may hold a NUL character (PostgreSQL rejects it in text): JSON bodies, queries
//! and, through the `reject_nul_in_path` middleware, path parameters answer it with a 400.

use super::errors::from_status;
pub use crate::auth::external_id;
use crate::error::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// The body limit for every JSON endpoint.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON body deserialized into `T` (which should `deny_unknown_fields`).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
            }
            let bytes = body.await.map_err(|e| {
                let status = e.as_response_error().status_code();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    from_status(status)
                } else {
                    Error::bad_request("body_unreadable", "the request body could not be read")
                        .with_detail(e)
                }
            })?;
            parse_json(&bytes).map(ApiJson)
        })
    }
}

/// Parses a JSON object into `T`, naming the offending field on failure. The body must be an
/// object (serde would otherwise fill a struct from an array by position), and no string in it,
/// key or value, may hold a NUL character (PostgreSQL cannot store one in text).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let syntax = |e: serde_json::Error| {
        Error::bad_request(
            "body_invalid_json",
            format!("the body is not valid JSON: {e}"),
        )
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(syntax)?;
    if !value.is_object() {
        return Err(Error::bad_request(
            "body_invalid",
            "the body must be a JSON object",
        ));
    }
    if let Some(path) = nul_path(&value, String::new()) {
        return Err(nul_error(&path));
    }
    if let Some(path) = duplicate_key(bytes) {
        return Err(duplicate_error(&path));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => syntax(inner),
            Category::Data => field_error(&path, &inner.to_string()),
        }
    })
}

/// The path (`a.b[0]`, as serde_path_to_error writes it) of the first string in `value` that
/// holds a NUL character, or of the object key that does.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => Some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let path = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                Some(path)
            } else {
                nul_path(v, path)
            }
        }),
        _ => None,
    }
}

/// The path (as [`nul_path`] writes it) of the first key that appears twice in one object of
/// the JSON document `bytes` (`serde_json::Value` would keep the last one silently).
fn duplicate_key(bytes: &[u8]) -> Option<String> {
    use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};

    /// Walks the value at a path; yields the first duplicated key's path.
    struct Walk<'p>(&'p str);

    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = Option<String>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            let mut i = 0;
            while let Some(inner) = seq.next_element_seed(Walk(&format!("{}[{i}]", self.0)))? {
                found = found.or(inner);
                i += 1;
            }
            Ok(found)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut found = None;
            while let Some(key) = map.next_key::<String>()? {
                let path = if self.0.is_empty() {
                    key.clone()
                } else {
                    format!("{}.{key}", self.0)
                };
                let inner = map.next_value_seed(Walk(&path))?;
                if found.is_none() && !seen.insert(key) {
                    found = Some(path);
                }
                found = found.or(inner);
            }
            Ok(found)
        }
    }

    let mut de = serde_json::Deserializer::from_slice(bytes);
    Walk("").deserialize(&mut de).ok().flatten()
}

/// 400 for a key given twice.
fn duplicate_error(param: &str) -> Error {
    Error::invalid(
        param,
        format!("'{param}' is given more than once; give it once"),
    )
}

/// 400 for client text holding a NUL character.
fn nul_error(param: &str) -> Error {
    let param = param.replace('\0', "\\u0000");
    Error::invalid(&param, format!("'{param}' must not contain NUL characters"))
}

/// Maps serde's data errors onto `param`: unknown and missing fields are named in the message,
/// the rest at the path.
fn field_error(path: &str, message: &str) -> Error {
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
        return Error::unknown_param(&param);
    }
    if let (true, Some(field)) = (message.starts_with("missing field"), quoted) {
        return Error::missing(&join(field));
    }
    if path.is_empty() || path == "." {
        return Error::bad_request(
            "body_invalid",
            format!("the body must be a JSON object: {message}"),
        );
    }
    Error::invalid(path, format!("'{path}' {message}"))
}

/// A query string deserialized into `T`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = Error;
    type Future = std::future::Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pairs = form_urlencoded::parse(req.query_string().as_bytes());
        if let Some((key, _)) = pairs
            .clone()
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return std::future::ready(Err(nul_error(&key)));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some((key, _)) = pairs.clone().find(|(k, _)| !seen.insert(k.clone())) {
            return std::future::ready(Err(duplicate_error(&key)));
        }
        let de = serde_urlencoded::Deserializer::new(pairs);
        std::future::ready(
            serde_path_to_error::deserialize(de)
                .map(ApiQuery)
                .map_err(|e| field_error(&e.path().to_string(), &e.into_inner().to_string())),
        )
    }
}

/// Middleware: a path parameter holding a NUL character (`%00`) is a 400 naming the parameter,
/// before any handler or the idempotency store sees it. Paths no route matches go on to the 404.
pub async fn reject_nul_in_path(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let param = req.path().contains("%00").then(|| {
        let pattern = req.match_pattern()?;
        let (segments, names) = (req.path().split('/'), pattern.split('/'));
        let name = segments.zip(names).find(|(s, _)| s.contains("%00"))?.1;
        let name = name.strip_prefix('{')?.strip_suffix('}')?;
        Some(name.split(':').next().unwrap_or(name).to_string())
    });
    match param.flatten() {
        Some(param) => {
            // Made from the error, so that `errors::log_errors` logs it.
            let response = HttpResponse::from_error(nul_error(&param));
            Ok(req.into_response(response).map_into_right_body())
        }
        None => next.call(req).await.map(|r| r.map_into_left_body()),
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

/// A list's `status` filter: `parse` of the value, else a 400 naming `status` with the values
/// `names` it takes.
pub fn status_filter<T>(
    value: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
    names: impl Iterator<Item = &'static str>,
) -> Result<Option<T>, Error> {
    value
        .map(|s| {
            parse(s).ok_or_else(|| {
                let all: Vec<&str> = names.collect();
                Error::invalid(
                    "status",
                    format!("'status' must be one of {}", all.join(", ")),
                )
            })
        })
        .transpose()
}

/// A list's `limit` query parameter: 1 to 100, `default` when absent.
pub fn page_limit(value: Option<&str>, default: i64) -> Result<i64, Error> {
    match value.map(str::parse::<i64>) {
        None => Ok(default),
        Some(Ok(n)) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(
            "limit",
            "'limit' must be a whole number from 1 to 100",
        )),
    }
}

/// Checks a Stripe object id given as `param`: `prefix` then 1 to 250 letters, digits or `_`.
pub fn stripe_id(param: &str, prefix: &str, what: &str, value: &str) -> Result<(), Error> {
    let ok = value.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 250
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            param,
            format!("'{param}' must be a {what} id ({prefix}…)"),
        ))
    }
}

/// The caller's `Idempotency-Key` header, if any: 1 to 255 visible ASCII characters.
pub fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, Error> {
    let Some(value) = request.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_string()))
        }
        _ => Err(Error::invalid(
            "Idempotency-Key",
            "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
        )),
    }
}
