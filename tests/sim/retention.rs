//! The simulator's memory bounds (`SimConfig::limits`): the request log is a ring, idempotency
//! keys and events are bounded in count (the oldest go first), finished objects beyond the
//! horizon are evicted and then answer 404 `resource_missing`; what is recent or holds money stays.

use crate::{id, start_with, Sim};
use stripe_sim::{Limits, SimConfig};

async fn limited(limits: Limits) -> Sim {
    start_with(SimConfig {
        webhook_secret: "whsec_retention".into(),
        limits,
        ..Default::default()
    })
    .await
}

/// A captured card-present sale; returns the PaymentIntent (charge expanded).
async fn sale(sim: &Sim) -> serde_json::Value {
    let pi = sim.intent(&[]).await;
    let (_, pi) = sim.pay_at_reader(id(&pi), "4242424242424242").await;
    sim.post(&format!("/v1/payment_intents/{}/capture", id(&pi)), &[])
        .await
        .ok();
    sim.get(
        &format!("/v1/payment_intents/{}", id(&pi)),
        &[("expand[]", "latest_charge")],
    )
    .await
    .ok()
}

fn missing(answer: &crate::Answer) -> bool {
    answer.status == 404 && answer.code() == "resource_missing"
}

#[tokio::test]
async fn the_request_log_keeps_the_last_requests() {
    let sim = limited(Limits {
        request_log: 5,
        ..Limits::default()
    })
    .await;
    for i in 0..8 {
        let answer = sim.get(&format!("/v1/customers/cus_nr{i}"), &[]).await;
        assert!(missing(&answer));
    }
    let log = sim.requests().await;
    let paths: Vec<&str> = log.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        (3..8)
            .map(|i| format!("/v1/customers/cus_nr{i}"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn idempotency_keys_beyond_the_limit_are_forgotten_oldest_first() {
    let sim = limited(Limits {
        idempotency_keys: 3,
        ..Limits::default()
    })
    .await;
    let mut customers = Vec::new();
    for key in ["k1", "k2", "k3", "k4"] {
        let c = sim.post_idem("/v1/customers", key, &[]).await.ok();
        customers.push(id(&c).to_string());
    }
    // The recent keys replay: same customer, marked as a replay.
    for (key, customer) in [("k3", &customers[2]), ("k4", &customers[3])] {
        let again = sim.post_idem("/v1/customers", key, &[]).await;
        assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
        assert_eq!(id(&again.body), customer);
    }
    // The oldest was forgotten: the retry runs again.
    let again = sim.post_idem("/v1/customers", "k1", &[]).await;
    assert_eq!(again.header("Idempotent-Replayed"), None);
    assert_ne!(id(&again.ok()), customers[0]);
}

#[tokio::test]
async fn events_beyond_the_limit_are_evicted_oldest_first() {
    let sim = limited(Limits {
        events: 4,
        ..Limits::default()
    })
    .await;
    for i in 0..6 {
        sim.post("/v1/customers", &[("name", &format!("c{i}"))])
            .await
            .ok();
    }
    let events = sim.get("/v1/events", &[("limit", "100")]).await.ok();
    let names: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["object"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c5", "c4", "c3", "c2"]);
    let kept = events["data"][3]["id"].as_str().unwrap();
    sim.get(&format!("/v1/events/{kept}"), &[]).await.ok();
    let deliveries = sim
        .sim(reqwest::Method::GET, "/_sim/webhook_deliveries", None)
        .await
        .ok();
    assert_eq!(deliveries["data"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn finished_payments_beyond_the_horizon_answer_resource_missing() {
    // The two most recent finished intents are always kept; older ones go by the next sweep,
    // abandoned ones included; an authorization is never evicted.
    let sim = limited(Limits {
        finished_objects: 2,
        ..Limits::default()
    })
    .await;
    let abandoned = sim.intent(&[]).await;
    let held = sim.intent(&[]).await;
    sim.pay_at_reader(id(&held), "4242424242424242").await;
    let canceled = sim.intent(&[]).await;
    sim.post(
        &format!("/v1/payment_intents/{}/cancel", id(&canceled)),
        &[],
    )
    .await
    .ok();
    let mut sales = Vec::new();
    for _ in 0..8 {
        sales.push(sale(&sim).await);
    }
    for evicted in [
        &abandoned, &canceled, &sales[0], &sales[1], &sales[2], &sales[3],
    ] {
        let answer = sim
            .get(&format!("/v1/payment_intents/{}", id(evicted)), &[])
            .await;
        assert!(missing(&answer), "{:#}", answer.body);
    }
    // The evicted sale's charge and its card-present PaymentMethod are gone too.
    let charge = &sales[0]["latest_charge"];
    assert!(missing(
        &sim.get(&format!("/v1/charges/{}", id(charge)), &[]).await
    ));
    let pm = charge["payment_method"].as_str().unwrap();
    assert!(missing(
        &sim.get(&format!("/v1/payment_methods/{pm}"), &[]).await
    ));
    // A reference to an evicted object is an unknown one: Stripe's 400 naming the parameter.
    let refund = sim.post("/v1/refunds", &[("charge", id(charge))]).await;
    assert_eq!(
        (
            refund.status,
            refund.code(),
            refund.body["error"]["param"].as_str()
        ),
        (400, "resource_missing", Some("charge"))
    );
    // The most recent sales and the authorization stay, whole.
    for kept in &sales[6..] {
        let pi = sim
            .get(
                &format!("/v1/payment_intents/{}", id(kept)),
                &[("expand[]", "latest_charge")],
            )
            .await
            .ok();
        assert_eq!(pi["status"], "succeeded");
        assert_eq!(pi["latest_charge"]["captured"], true);
        let refund = sim
            .post("/v1/refunds", &[("payment_intent", id(kept))])
            .await
            .ok();
        assert_eq!(refund["status"], "succeeded");
    }
    let held = sim
        .get(&format!("/v1/payment_intents/{}", id(&held)), &[])
        .await
        .ok();
    assert_eq!(held["status"], "requires_capture");
    let listed = sim
        .get("/v1/payment_intents", &[("limit", "100")])
        .await
        .ok();
    let listed: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pi| pi["id"].as_str().unwrap())
        .collect();
    assert!(listed.len() < 3 + 8, "some were evicted: {listed:?}");
    assert!(listed.contains(&id(&held)));
}

#[tokio::test]
async fn a_saved_card_outlives_the_sale_that_saved_it() {
    let sim = limited(Limits {
        finished_objects: 1,
        ..Limits::default()
    })
    .await;
    let customer = sim.customer("ext-1").await;
    let pi = sim
        .intent(&[
            ("customer", id(&customer)),
            ("setup_future_usage", "off_session"),
        ])
        .await;
    let (_, first) = sim.pay_at_reader(id(&pi), "4242424242424242").await;
    let generated = first["latest_charge"]["payment_method_details"]["card_present"]
        ["generated_card"]
        .as_str()
        .expect("a generated card")
        .to_string();
    for _ in 0..4 {
        sale(&sim).await;
    }
    sim.post(&format!("/v1/payment_intents/{}/capture", id(&pi)), &[])
        .await
        .ok();
    for _ in 0..4 {
        sale(&sim).await;
    }
    assert!(missing(
        &sim.get(&format!("/v1/payment_intents/{}", id(&pi)), &[])
            .await
    ));
    let card = sim
        .get(&format!("/v1/payment_methods/{generated}"), &[])
        .await
        .ok();
    assert_eq!(card["customer"], id(&customer));
}

#[tokio::test]
async fn expired_checkout_sessions_beyond_the_horizon_are_evicted() {
    let sim = limited(Limits {
        finished_objects: 2,
        ..Limits::default()
    })
    .await;
    let session = || async {
        sim.post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("success_url", "https://pos.example/paid"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "1250"),
                ("line_items[0][price_data][product_data][name]", "Invoice"),
                ("line_items[0][quantity]", "1"),
            ],
        )
        .await
        .ok()
    };
    let open = session().await;
    let mut expired = Vec::new();
    for _ in 0..6 {
        let s = session().await;
        sim.post(&format!("/v1/checkout/sessions/{}/expire", id(&s)), &[])
            .await
            .ok();
        expired.push(s);
    }
    for gone in &expired[..2] {
        let answer = sim
            .get(&format!("/v1/checkout/sessions/{}", id(gone)), &[])
            .await;
        assert!(missing(&answer), "{:#}", answer.body);
    }
    for kept in &expired[4..] {
        let s = sim
            .get(&format!("/v1/checkout/sessions/{}", id(kept)), &[])
            .await
            .ok();
        assert_eq!(s["status"], "expired");
    }
    let open = sim
        .get(&format!("/v1/checkout/sessions/{}", id(&open)), &[])
        .await
        .ok();
    assert_eq!(open["status"], "open");
}
