//! A location's splash screen (`PUT/GET/DELETE /v1/terminal/locations/{id}/splashscreen`): the
//! image its smart readers show while idle, sent as base64 in the JSON body (JPEG or PNG less than
//! 2 MB, GIF less than 4 MB, as Stripe takes them), checked here before any Stripe call.

use super::extract::{ApiJson, ApiQuery};
use super::payments::AccountQuery;
use super::terminal::stripe_id;
use crate::auth::{Caller, Scope};
use crate::error::Error;
use crate::flows::splashscreen::{self, ImageKind, LocationSplash, SplashImage};
use crate::flows::Services;
use actix_web::{web, HttpResponse};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

/// The body limit of `PUT …/splashscreen`: a 4 MB GIF, base64-encoded, and the rest.
pub const SPLASH_BODY_LIMIT: usize = 6 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplashRequest {
    external_account_id: String,
    /// The image, base64 (standard alphabet, padded).
    image: String,
}

fn splash_json(s: LocationSplash) -> serde_json::Value {
    json!({"location": s.location, "configuration_id": s.configuration_id, "splashscreen": s.file})
}

/// The image of a request, checked: base64, a JPEG, PNG or GIF, under Stripe's size limit.
fn image_of(body: &SplashRequest) -> Result<SplashImage, Error> {
    let param = "image";
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body.image.trim())
        .map_err(|_| Error::invalid(param, "'image' must be base64 (standard alphabet, padded)"))?;
    let kind = ImageKind::sniff(&bytes)
        .ok_or_else(|| Error::invalid(param, "'image' must be a JPEG, PNG or GIF image"))?;
    if bytes.len() >= kind.limit() {
        return Err(Error::invalid(
            param,
            format!(
                "'image' is {} bytes: a splash screen must be less than 2 MB (JPEG, PNG) or 4 MB (GIF)",
                bytes.len()
            ),
        ));
    }
    Ok(SplashImage { bytes, kind })
}

pub async fn put(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<SplashRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &body.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tml_", &id)?;
    let image = image_of(&body)?;
    let s = splashscreen::put(&services, account.into_string(), id, image).await?;
    Ok(HttpResponse::Ok().json(splash_json(s)))
}

pub async fn get(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &q.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tml_", &id)?;
    let s = splashscreen::get(&services, account.into_string(), id).await?;
    Ok(HttpResponse::Ok().json(splash_json(s)))
}

pub async fn delete(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::Terminal, &q.external_account_id)?;
    let id = path.into_inner();
    stripe_id("id", "tml_", &id)?;
    let s = splashscreen::delete(&services, account.into_string(), id).await?;
    Ok(HttpResponse::Ok().json(splash_json(s)))
}
