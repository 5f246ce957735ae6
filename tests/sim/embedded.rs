//! The simulator mounted inside another actix App under `/sim/stripe`, as the backend embeds it.

use crate::{id, Sim};
use actix_web::{web, App, HttpResponse, HttpServer};
use reqwest::Method;
use std::net::TcpListener;
use stripe_sim::{SimConfig, Simulator};

async fn embedded() -> (Sim, String) {
    let sim = Simulator::new(SimConfig {
        webhook_url: None,
        webhook_secret: "whsec_embedded".into(),
        faults: vec![],
        ..Default::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let root = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().body("ok") }),
            )
            .service(sim.scope("/sim/stripe"))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    let client = Sim {
        base: format!("{root}/sim/stripe"),
        http: reqwest::Client::new(),
        account: None,
    };
    (client, root)
}

#[tokio::test]
async fn mounted_under_a_prefix() {
    let (sim, root) = embedded().await;
    // The curl: basic auth, form body.
    let pi = sim
        .send(
            sim.http
                .post(format!("{}/v1/payment_intents", sim.base))
                .basic_auth("sk_test_x", Some(""))
                .form(&[
                    ("amount", "1299"),
                    ("currency", "usd"),
                    ("allowed_payment_method_types[]", "card_present"),
                    ("capture_method", "manual"),
                ]),
        )
        .await
        .ok();
    assert_eq!(pi["object"], "payment_intent");
    assert_eq!(pi["status"], "requires_payment_method");
    let unknown = sim.get("/v1/nothing/here", &[]).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["error"]["type"], "invalid_request_error");
    let health = reqwest::get(format!("{root}/healthz")).await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    let log = sim.requests().await;
    assert_eq!(log[0]["path"], "/v1/payment_intents");
    let customer = sim.customer("emb").await;
    let session = sim
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "setup"),
                ("customer", id(&customer)),
                ("success_url", "https://x"),
            ],
        )
        .await
        .ok();
    let url = session["url"].as_str().unwrap();
    assert_eq!(url, format!("{}/_sim/checkout/{}", sim.base, id(&session)));
    assert_eq!(reqwest::get(url).await.unwrap().status(), 200);
    let faults = sim.sim(Method::GET, "/_sim/faults", None).await.ok();
    assert!(faults["data"].as_array().unwrap().is_empty());
}
