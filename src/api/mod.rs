//! HTTP only: routes, request and response types, one file per resource. Handlers parse and
//! authorise, then call `flows`.

pub mod accounts;
pub mod cards;
pub mod checkout;
pub mod demo;
pub mod extract;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod payments;
pub mod terminal;
pub mod webhooks;

use actix_web::web;
use chrono::NaiveDateTime;

/// Registers every API route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/v1/openapi.json", web::get().to(openapi::document))
        .route("/v1/payment/intent", web::post().to(payments::intent))
        .route("/v1/payment/capture", web::post().to(payments::capture))
        .route("/v1/payment/cancel", web::post().to(payments::cancel))
        .route("/v1/payment/refund", web::post().to(payments::refund))
        .route("/v1/payment/charge", web::post().to(payments::charge))
        .route("/v1/payment/{payment_id}", web::get().to(payments::get))
        .route("/v1/payments", web::get().to(payments::list))
        .route("/v1/customer/card", web::post().to(cards::save))
        .route("/v1/customer/cards", web::get().to(cards::list))
        .route(
            "/v1/customer/card/checkout",
            web::post().to(checkout::create_setup_session),
        )
        .route(
            "/v1/customer/card/checkout/{session_id}",
            web::get().to(checkout::setup_card),
        )
        .route("/v1/customer/card/{id}", web::delete().to(cards::delete))
        .service(
            web::resource("/v1/webhooks/stripe")
                .app_data(web::PayloadConfig::new(256 * 1024))
                .route(web::post().to(webhooks::stripe)),
        )
        .route(
            "/v1/webhooks/deliveries",
            web::get().to(webhooks::deliveries),
        )
        .route(
            "/v1/webhooks/deliveries/{id}/retry",
            web::post().to(webhooks::retry),
        )
        .route("/v1/checkout", web::post().to(checkout::create))
        .route("/v1/checkout/{session_id}", web::get().to(checkout::get))
        .route(
            "/v1/terminal/connection_token",
            web::post().to(terminal::connection_token),
        )
        .service(
            web::resource("/v1/terminal/locations")
                .route(web::post().to(terminal::create_location))
                .route(web::get().to(terminal::list_locations)),
        )
        .service(
            web::resource("/v1/terminal/readers")
                .route(web::post().to(terminal::register_reader))
                .route(web::get().to(terminal::list_readers)),
        )
        .route(
            "/v1/terminal/readers/{id}",
            web::get().to(terminal::get_reader),
        )
        .route(
            "/v1/terminal/readers/{id}/process",
            web::post().to(terminal::process),
        )
        .route(
            "/v1/terminal/readers/{id}/cancel",
            web::post().to(terminal::cancel_action),
        )
        .service(
            web::resource("/v1/accounts/{external_account_id}")
                .route(web::put().to(accounts::put))
                .route(web::get().to(accounts::get)),
        )
        // The demo POS page: registered always, reachable only in simulator mode (guarded).
        .configure(demo::configure);
}

/// Timestamps leave the API as RFC 3339 in UTC with microseconds.
pub fn timestamp(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
