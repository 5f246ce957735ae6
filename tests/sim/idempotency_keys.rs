//! Idempotency-Keys the simulator cannot use as Stripe's key (over 255 characters, or anything but
//! printable ASCII) are refused with a 400 `invalid_request_error`, never ignored; and the list
//! endpoints that count what a key created (`GET /v1/customers`, `GET /v1/refunds`).

use crate::start;
use reqwest::header::HeaderValue;

const PI: &[(&str, &str)] = &[
    ("amount", "1299"),
    ("currency", "usd"),
    ("allowed_payment_method_types[]", "card_present"),
];

async fn intents(sim: &crate::Sim) -> usize {
    let all = sim
        .get("/v1/payment_intents", &[("limit", "100")])
        .await
        .ok();
    all["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn unreadable_keys_are_refused_not_ignored() {
    let sim = start().await;
    let raw_keys: Vec<Vec<u8>> = vec![
        "pi:acct:sub-ünicode-1".as_bytes().to_vec(),
        "注文-42".as_bytes().to_vec(),
        vec![b'k', 0xff, b'x'],
        "k".repeat(256).into_bytes(),
        format!("pi:acct:{}", "é".repeat(120)).into_bytes(),
    ];
    for raw in raw_keys {
        for _ in 0..2 {
            let answer = sim
                .send(
                    sim.builder(reqwest::Method::POST, "/v1/payment_intents")
                        .header("Idempotency-Key", HeaderValue::from_bytes(&raw).unwrap())
                        .form(PI),
                )
                .await;
            assert_eq!(answer.status, 400, "{:#}", answer.body);
            assert_eq!(answer.body["error"]["type"], "invalid_request_error");
            let message = answer.body["error"]["message"].as_str().unwrap();
            assert!(message.contains("Idempotency"), "{message}");
        }
    }
    assert_eq!(intents(&sim).await, 0, "nothing was created");
}

#[tokio::test]
async fn a_key_of_255_printable_characters_works() {
    let sim = start().await;
    let key = format!("k {}", "~".repeat(253));
    assert_eq!(key.len(), 255);
    let first = sim.post_idem("/v1/payment_intents", &key, PI).await;
    assert_eq!(first.status, 200, "{:#}", first.body);
    let again = sim.post_idem("/v1/payment_intents", &key, PI).await;
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(intents(&sim).await, 1);
}

#[tokio::test]
async fn customers_and_refunds_are_listed() {
    let sim = start().await;
    let a = sim.customer("a").await;
    let b = sim.customer("b").await;
    let all = sim.get("/v1/customers", &[]).await.ok();
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![crate::id(&b), crate::id(&a)], "newest first");
    let one = sim.get("/v1/customers", &[("limit", "1")]).await.ok();
    assert_eq!(one["has_more"], true);

    let pi = sim.post("/v1/payment_intents", PI).await.ok();
    let (_, paid) = sim.pay_at_reader(crate::id(&pi), "4242424242424242").await;
    assert_eq!(paid["status"], "succeeded", "{paid:#}");
    let pi_id = crate::id(&paid).to_string();
    for amount in ["100", "200"] {
        sim.post(
            "/v1/refunds",
            &[("payment_intent", pi_id.as_str()), ("amount", amount)],
        )
        .await
        .ok();
    }
    let refunds = sim
        .get("/v1/refunds", &[("payment_intent", pi_id.as_str())])
        .await
        .ok();
    let amounts: Vec<i64> = refunds["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![200, 100]);
    let none = sim
        .get("/v1/refunds", &[("payment_intent", "pi_other")])
        .await
        .ok();
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
}
