//! The [`Caller`] of a request, as an extractor: the `Authorization: Bearer <JWT>` header,
//! verified by the application's [`Authenticator`] (401 without a valid token). Handlers then
//! authorise with [`Caller::for_account`].

use crate::auth::{Authenticator, Caller};
use crate::error::Error;
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::{ready, Ready};

impl FromRequest for Caller {
    type Error = Error;
    type Future = Ready<Result<Caller, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Caller, Error> {
    let auth = req
        .app_data::<web::Data<Authenticator>>()
        .ok_or_else(|| Error::internal("Authenticator missing from app data"))?;
    let header = req.headers().get(AUTHORIZATION).ok_or_else(|| {
        Error::unauthorized(
            "token_missing",
            "an Authorization: Bearer token is required",
        )
    })?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::unauthorized(
                "token_invalid",
                "the Authorization header must be 'Bearer <token>'",
            )
        })?;
    auth.verify(token)
}
