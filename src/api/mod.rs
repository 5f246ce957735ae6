//! HTTP only: routes, request and response types, one file per resource. Handlers parse and
//! authorise, then call `flows`.

pub mod accounts;
pub mod extract;
pub mod ops;

use actix_web::web;
use chrono::NaiveDateTime;

/// Registers every API route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .service(
            web::resource("/v1/accounts/{external_account_id}")
                .route(web::put().to(accounts::put))
                .route(web::get().to(accounts::get)),
        );
}

/// Timestamps leave the API as RFC 3339 in UTC with microseconds.
pub fn timestamp(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
