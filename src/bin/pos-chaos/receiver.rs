//! The run's own HTTP server on loopback: the merchants' webhook endpoint (every delivery kept,
//! its `Pos-Signature` checked) and the relay that hands the simulator's Stripe webhooks to a
//! backend instance that is up, as a load balancer in front of the instances would.

use crate::cluster::Targets;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::Value;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One merchant webhook request as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub account: String,
    pub event_id: String,
    pub body: Value,
    pub signature_ok: bool,
}

#[derive(Default)]
pub struct Received {
    pub deliveries: Mutex<Vec<Delivery>>,
    /// `whsec_…` per external account id, as `PUT /v1/accounts` answered it.
    pub secrets: Mutex<HashMap<String, String>>,
    pub stripe_relayed: AtomicU64,
    pub stripe_refused: AtomicU64,
}

struct Shared {
    received: Arc<Received>,
    targets: Targets,
    http: reqwest::Client,
}

/// Whether `header` (`t=…,v1=…`) signs `body` with `secret`.
fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn header(req: &HttpRequest, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn merchant(
    shared: web::Data<Shared>,
    account: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let account = account.into_inner();
    let secret = shared
        .received
        .secrets
        .lock()
        .expect("secrets")
        .get(&account)
        .cloned();
    let signature_ok = secret.is_some_and(|s| verify(&s, &header(&req, "Pos-Signature"), &body));
    shared
        .received
        .deliveries
        .lock()
        .expect("deliveries")
        .push(Delivery {
            account,
            event_id: header(&req, "Pos-Event-Id"),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            signature_ok,
        });
    HttpResponse::Ok().finish()
}

async fn stripe(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let up: Vec<String> = shared
        .targets
        .read()
        .expect("targets")
        .iter()
        .flatten()
        .cloned()
        .collect();
    if up.is_empty() {
        shared
            .received
            .stripe_refused
            .fetch_add(1, Ordering::Relaxed);
        return HttpResponse::ServiceUnavailable().finish();
    }
    let target = &up[rand::thread_rng().gen_range(0..up.len())];
    let sent = shared
        .http
        .post(format!("{target}/v1/webhooks/stripe"))
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Stripe-Signature", header(&req, "Stripe-Signature"))
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Ok(r) => {
            shared
                .received
                .stripe_relayed
                .fetch_add(1, Ordering::Relaxed);
            let status = actix_web::http::StatusCode::from_u16(r.status().as_u16())
                .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
            HttpResponse::build(status).body(r.bytes().await.unwrap_or_default())
        }
        Err(_) => {
            shared
                .received
                .stripe_refused
                .fetch_add(1, Ordering::Relaxed);
            HttpResponse::BadGateway().finish()
        }
    }
}

/// Starts the server; returns its base URL (`/merchant/{account}`, `/stripe`).
pub fn start(received: Arc<Received>, targets: Targets) -> Result<String, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let shared = web::Data::new(Shared {
        received,
        targets,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .app_data(web::PayloadConfig::new(1024 * 1024))
            .route("/merchant/{account}", web::post().to(merchant))
            .route("/stripe", web::post().to(stripe))
    })
    .workers(2)
    .listen(listener)
    .map_err(|e| e.to_string())?
    .run();
    actix_web::rt::spawn(server);
    Ok(url)
}
