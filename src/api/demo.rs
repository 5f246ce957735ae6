//! The demo POS page (simulator mode only): `GET /pos`, `GET /pos/lib/{file}` (terminal-js's
//! `src/*.js`), `GET /pos/demo/{file}` (the page's script and styles), and `POST /pos/token`, which
//! hands the page a short-lived JWT for the `demo-merchant` account and its counter (a location
//! with on-reader tipping and a smart reader, `flows::demo_counter`).
//!
//! The files are embedded in the binary (`include_str!`), so the page works from any directory.
//! None of these routes exist when a real Stripe key is configured: the whole `/pos` scope is
//! guarded by `Services::simulator`, so in live mode `/pos…` falls through to the 404 envelope.

use crate::auth::{AccountsClaim, Authenticator, Scope};
use crate::error::{Error, ErrorKind};
use crate::flows::accounts::{self, AccountChanges};
use crate::flows::demo_counter;
use crate::flows::Services;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use actix_web::{guard, web, HttpResponse};
use serde_json::json;

/// The merchant account the demo page charges for.
pub const DEMO_ACCOUNT: &str = "demo-merchant";

/// How long a demo token lives (the page fetches a new one before it expires).
pub const DEMO_TOKEN_TTL_SECS: i64 = 3600;

/// What a demo token may do: everything a till needs, no account administration.
pub const DEMO_SCOPES: [Scope; 5] = [
    Scope::PaymentsRead,
    Scope::PaymentsWrite,
    Scope::CardsRead,
    Scope::CardsWrite,
    Scope::Terminal,
];

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const INDEX_HTML: &str = include_str!("../../terminal-js/demo/index.html");

/// terminal-js's modules, served as `/pos/lib/<name>.js`.
pub const LIB_FILES: &[(&str, &str)] = &[
    ("index.js", include_str!("../../terminal-js/src/index.js")),
    (
        "backend.js",
        include_str!("../../terminal-js/src/backend.js"),
    ),
    ("errors.js", include_str!("../../terminal-js/src/errors.js")),
    ("money.js", include_str!("../../terminal-js/src/money.js")),
    (
        "simulated.js",
        include_str!("../../terminal-js/src/simulated.js"),
    ),
];

/// The page's own assets, served as `/pos/demo/<file>`.
pub const DEMO_FILES: &[(&str, &str)] = &[
    ("app.js", include_str!("../../terminal-js/demo/app.js")),
    (
        "style.css",
        include_str!("../../terminal-js/demo/style.css"),
    ),
];

/// Registers the `/pos` scope, reachable only when Stripe is the embedded simulator.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/pos")
            .guard(guard::fn_guard(|ctx| {
                ctx.app_data::<web::Data<Services>>()
                    .is_some_and(|services| services.simulator)
            }))
            .service(web::resource(["", "/"]).route(web::get().to(page)))
            .service(web::resource("/token").route(web::post().to(token)))
            .service(web::resource("/lib/{file}").route(web::get().to(lib_file)))
            .service(web::resource("/demo/{file}").route(web::get().to(demo_file))),
    );
}

fn content_type(file: &str) -> &'static str {
    if file.ends_with(".css") {
        CSS
    } else if file.ends_with(".html") {
        HTML
    } else {
        JS
    }
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

fn embedded(
    files: &'static [(&'static str, &'static str)],
    file: &str,
) -> Result<HttpResponse, Error> {
    files
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(name, body)| asset(content_type(name), body))
        .ok_or_else(|| Error::not_found(format!("no such file: '{file}'")))
}

async fn page() -> HttpResponse {
    asset(HTML, INDEX_HTML)
}

async fn lib_file(file: web::Path<String>) -> Result<HttpResponse, Error> {
    embedded(LIB_FILES, &file)
}

async fn demo_file(file: web::Path<String>) -> Result<HttpResponse, Error> {
    embedded(DEMO_FILES, &file)
}

/// `POST /pos/token`: a JWT for `demo-merchant` (created on first use, currency usd).
async fn token(
    services: web::Data<Services>,
    auth: web::Data<Authenticator>,
) -> Result<HttpResponse, Error> {
    match accounts::get(&services.db, DEMO_ACCOUNT.to_string()).await {
        Ok(_) => {}
        Err(e) if e.kind == ErrorKind::NotFound => {
            let changes = AccountChanges {
                display_name: Some(Some("Demo merchant".to_string())),
                default_currency: Some(
                    crate::money::Currency::parse("usd").expect("a supported currency"),
                ),
                ..AccountChanges::default()
            };
            let created = accounts::upsert(
                &services.db,
                &services.secrets,
                DEMO_ACCOUNT.to_string(),
                changes,
            )
            .await;
            // Two first requests at once: one insert wins, the other finds the row.
            if let Err(e) = created {
                accounts::get(&services.db, DEMO_ACCOUNT.to_string())
                    .await
                    .map_err(|_| e)?;
            }
        }
        Err(e) => return Err(e),
    }
    let token = auth
        .issue(
            "demo-pos",
            AccountsClaim::List(vec![DEMO_ACCOUNT.to_string()]),
            &DEMO_SCOPES,
            DEMO_TOKEN_TTL_SECS,
        )
        .map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                "demo_token_unavailable",
                format!("the demo page cannot get a token: {e}"),
            )
        })?;
    // The counter (a location with on-reader tipping and a smart reader for the cart): the page
    // works without it (no cart on the reader, no tipping screen), so a failure is logged, not
    // fatal.
    let counter = match demo_counter::counter(&services, DEMO_ACCOUNT).await {
        Ok(c) => json!({"location": c.location, "reader": c.reader}),
        Err(e) => {
            log::warn!("demo counter unavailable: {e}");
            serde_json::Value::Null
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({
            "token": token,
            "external_account_id": DEMO_ACCOUNT,
            "stripe_api_base": crate::app::SIMULATOR_PATH,
            "counter": counter,
        })))
}
