//! A local HTTP endpoint standing in for a webhook receiver (ours or a merchant's): it records
//! the `Stripe-Signature` header and body of every POST to its path, and can refuse the first
//! few deliveries with a 500 to exercise the sender's retries.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub struct Receiver {
    /// `http://127.0.0.1:<port><path>`.
    pub url: String,
    /// `Stripe-Signature` and body of each delivery, in arrival order.
    pub received: Arc<Mutex<Vec<(String, String)>>>,
}

/// Starts a receiver at `path` on a free port; the first `fail_first` deliveries get a 500.
pub async fn start(path: &'static str, fail_first: usize) -> Receiver {
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let remaining = Arc::new(AtomicUsize::new(fail_first));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let store = received.clone();
    let server = HttpServer::new(move || {
        let store = store.clone();
        let remaining = remaining.clone();
        App::new().route(
            path,
            web::post().to(move |req: HttpRequest, body: String| {
                let store = store.clone();
                let remaining = remaining.clone();
                async move {
                    if remaining
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        return HttpResponse::InternalServerError().finish();
                    }
                    let signature = req
                        .headers()
                        .get("Stripe-Signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    store.lock().unwrap().push((signature, body));
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    Receiver { url, received }
}
