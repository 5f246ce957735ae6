//! HTTP only: routes, request and response types, one file per resource. Handlers parse and
//! authorise, then call `flows`.

pub mod accounts;
pub mod caller;
pub mod cards;
pub mod checkout;
pub mod demo;
pub mod disputes;
pub mod errors;
pub mod exports;
pub mod extract;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod payments;
pub mod payouts;
pub mod reader_events;
pub mod reader_refunds;
pub mod reader_setup;
pub mod receipts;
pub mod reports;
pub mod splashscreen;
pub mod terminal;
pub mod webhooks;

use actix_web::web;
use chrono::NaiveDateTime;

/// Registers every API route. Each path is one `web::resource` holding all of its methods, so a
/// wrong method on a known path is a 405 (with `Allow`), and a more general pattern registered
/// later (`/v1/payment/{payment_id}`) never swallows a fixed path (`/v1/payment/capture`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(ops::home)))
        .service(web::resource("/healthz").route(web::get().to(ops::healthz)))
        .service(web::resource("/readyz").route(web::get().to(ops::readyz)))
        .service(web::resource("/metrics").route(web::get().to(metrics::metrics)))
        .service(web::resource("/v1/openapi.json").route(web::get().to(openapi::document)))
        .service(web::resource("/v1/payment/intent").route(web::post().to(payments::intent)))
        .service(web::resource("/v1/payment/capture").route(web::post().to(payments::capture)))
        .service(web::resource("/v1/payment/cancel").route(web::post().to(payments::cancel)))
        .service(web::resource("/v1/payment/refund").route(web::post().to(payments::refund)))
        .service(
            web::resource("/v1/payment/refund/reader")
                .route(web::post().to(reader_refunds::create)),
        )
        .service(
            web::resource("/v1/payment/refund/reader/{id}")
                .route(web::get().to(reader_refunds::get)),
        )
        .service(web::resource("/v1/payment/charge").route(web::post().to(payments::charge)))
        .service(web::resource("/v1/payment/increment").route(web::post().to(payments::increment)))
        .service(
            web::resource("/v1/payment/{payment_id}")
                .route(web::get().to(payments::get))
                .route(web::post().to(payments::update)),
        )
        .service(
            web::resource("/v1/payment/{payment_id}/receipt").route(web::get().to(receipts::get)),
        )
        .service(web::resource("/v1/payments").route(web::get().to(payments::list)))
        .service(web::resource("/v1/payments/export").route(web::get().to(exports::payments)))
        .service(web::resource("/v1/reports/totals").route(web::get().to(reports::totals)))
        .service(web::resource("/v1/payouts").route(web::get().to(payouts::list)))
        .service(web::resource("/v1/payout/{id}").route(web::get().to(payouts::get)))
        .service(web::resource("/v1/disputes").route(web::get().to(disputes::list)))
        .service(web::resource("/v1/dispute/{id}").route(web::get().to(disputes::get)))
        .service(
            web::resource("/v1/dispute/{id}/evidence")
                .app_data(web::PayloadConfig::new(disputes::EVIDENCE_BODY_LIMIT))
                .route(web::post().to(disputes::evidence)),
        )
        .service(web::resource("/v1/dispute/{id}/accept").route(web::post().to(disputes::accept)))
        .service(web::resource("/v1/customer/card").route(web::post().to(cards::save)))
        .service(web::resource("/v1/customer/cards").route(web::get().to(cards::list)))
        .service(
            web::resource("/v1/customer/card/checkout")
                .route(web::post().to(checkout::create_setup_session)),
        )
        .service(
            web::resource("/v1/customer/card/checkout/{session_id}")
                .route(web::get().to(checkout::setup_card)),
        )
        .service(
            web::resource("/v1/customer/card/reader").route(web::post().to(reader_setup::start)),
        )
        .service(
            web::resource("/v1/customer/card/reader/{setup_id}")
                .route(web::get().to(reader_setup::get)),
        )
        .service(
            web::resource("/v1/customer/card/reader/{setup_id}/cancel")
                .route(web::post().to(reader_setup::cancel)),
        )
        .service(web::resource("/v1/customer/card/{id}").route(web::delete().to(cards::delete)))
        .service(
            web::resource("/v1/webhooks/stripe")
                .app_data(web::PayloadConfig::new(256 * 1024))
                .route(web::post().to(webhooks::stripe)),
        )
        .service(
            web::resource("/v1/webhooks/deliveries").route(web::get().to(webhooks::deliveries)),
        )
        .service(
            web::resource("/v1/webhooks/deliveries/{id}/retry")
                .route(web::post().to(webhooks::retry)),
        )
        .service(web::resource("/v1/checkout").route(web::post().to(checkout::create)))
        .service(web::resource("/v1/checkout/{session_id}").route(web::get().to(checkout::get)))
        .service(
            web::resource("/v1/terminal/connection_token")
                .route(web::post().to(terminal::connection_token)),
        )
        .service(
            web::resource("/v1/terminal/locations")
                .route(web::post().to(terminal::create_location))
                .route(web::get().to(terminal::list_locations)),
        )
        .service(
            web::resource("/v1/terminal/locations/{id}")
                .route(web::post().to(terminal::update_location))
                .route(web::delete().to(terminal::delete_location)),
        )
        .service(
            web::resource("/v1/terminal/locations/{id}/splashscreen")
                .app_data(web::PayloadConfig::new(splashscreen::SPLASH_BODY_LIMIT))
                .route(web::put().to(splashscreen::put))
                .route(web::get().to(splashscreen::get))
                .route(web::delete().to(splashscreen::delete)),
        )
        .service(
            web::resource("/v1/terminal/locations/{id}/tipping")
                .route(web::put().to(terminal::put_tipping))
                .route(web::get().to(terminal::get_tipping))
                .route(web::delete().to(terminal::delete_tipping)),
        )
        .service(
            web::resource("/v1/terminal/readers")
                .route(web::post().to(terminal::register_reader))
                .route(web::get().to(terminal::list_readers)),
        )
        .service(
            web::resource("/v1/terminal/readers/{id}")
                .route(web::get().to(terminal::get_reader))
                .route(web::post().to(terminal::update_reader))
                .route(web::delete().to(terminal::delete_reader)),
        )
        .service(
            web::resource("/v1/terminal/readers/{id}/process")
                .route(web::post().to(terminal::process)),
        )
        .service(
            web::resource("/v1/terminal/readers/{id}/collect")
                .route(web::post().to(terminal::collect)),
        )
        .service(
            web::resource("/v1/terminal/readers/{id}/confirm")
                .route(web::post().to(reader_events::confirm)),
        )
        .service(
            web::resource("/v1/terminal/readers/{id}/events")
                .route(web::get().to(reader_events::events)),
        )
        .service(
            web::resource("/v1/terminal/readers/{id}/display")
                .route(web::post().to(terminal::display)),
        )
        .service(
            web::resource("/v1/terminal/readers/{id}/cancel")
                .route(web::post().to(terminal::cancel_action)),
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

/// A page of a cursor-paginated list: `next_starting_after` is the last item's id when more
/// follow. Serialised straight from the items' structs: through a `serde_json::Value` a page
/// costs ~7× as much to encode (benches/latency.rs).
#[derive(serde::Serialize)]
pub struct Page<T> {
    data: Vec<T>,
    has_more: bool,
    next_starting_after: Option<String>,
}

impl<T: serde::Serialize> Page<T> {
    pub fn new(data: Vec<T>, has_more: bool, id: impl Fn(&T) -> Option<String>) -> Page<T> {
        let next_starting_after = if has_more {
            data.last().and_then(id)
        } else {
            None
        };
        Page {
            data,
            has_more,
            next_starting_after,
        }
    }

    pub fn response(self) -> actix_web::HttpResponse {
        actix_web::HttpResponse::Ok().json(self)
    }
}
