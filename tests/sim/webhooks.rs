//! Events and signed webhook delivery to a local test endpoint.

use crate::support::wait::until_some;
use crate::{id, start, start_with, Sim};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use stripe_sim::SimConfig;

const SECRET: &str = "whsec_test_webhooks";

pub(crate) use crate::support::receiver::Receiver;

/// A local webhook endpoint at `/hook`; the first `fail_first` attempts get 500.
pub(crate) async fn receiver(fail_first: usize) -> Receiver {
    crate::support::receiver::start("/hook", fail_first).await
}

impl Receiver {
    /// Waits (briefly) until an event of `kind` arrived; returns its signature and JSON.
    async fn wait_for(&self, kind: &str) -> (String, Value) {
        let (sig, body) = until_some(5, &format!("a {kind} event delivered"), || {
            let found = self
                .received
                .lock()
                .unwrap()
                .iter()
                .find_map(|(sig, body)| {
                    let v: Value = serde_json::from_str(body).unwrap();
                    (v["type"] == kind).then(|| (sig.clone(), body.clone()))
                });
            async move { found }
        })
        .await;
        assert_valid_signature(&sig, &body);
        (sig, serde_json::from_str(&body).unwrap())
    }

    fn kinds(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| {
                serde_json::from_str::<Value>(b).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }
}

/// Verifies `t=…,v1=…` independently of the simulator's code.
fn assert_valid_signature(header: &str, body: &str) {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_string()),
            Some(("v1", value)) => v1 = Some(value.to_string()),
            _ => {}
        }
    }
    let (t, v1) = (t.expect("t"), v1.expect("v1"));
    let now = chrono::Utc::now().timestamp();
    assert!((now - t.parse::<i64>().unwrap()).abs() < 300);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    assert_eq!(
        hex::encode(mac.finalize().into_bytes()),
        v1,
        "signature of {body}"
    );
    assert_eq!(
        stripe_sim::webhooks::signature_header(SECRET, t.parse().unwrap(), body.as_bytes()),
        header
    );
}

async fn with_endpoint(fail_first: usize) -> (Sim, Receiver) {
    let hook = receiver(fail_first).await;
    let sim = start_with(SimConfig {
        webhook_url: Some(hook.url.clone()),
        webhook_secret: SECRET.into(),
        faults: vec![],
        ..Default::default()
    })
    .await;
    (sim, hook)
}

/// The simulator's delivery records, once none is pending any more.
async fn deliveries(sim: &Sim) -> Vec<Value> {
    until_some(5, "no delivery pending", || async {
        let data = sim
            .sim(Method::GET, "/_sim/webhook_deliveries", None)
            .await
            .ok()["data"]
            .as_array()
            .unwrap()
            .clone();
        data.iter()
            .all(|d| d["delivery"]["status"] != "pending")
            .then_some(data)
    })
    .await
}

#[tokio::test]
async fn signed_events_for_a_card_present_payment() {
    let (sim, hook) = with_endpoint(0).await;
    let customer = sim.customer("w1").await;
    let (_, created) = hook.wait_for("customer.created").await;
    assert_eq!(created["data"]["object"]["id"], id(&customer));
    assert_eq!(created["object"], "event");
    let stored = sim
        .get(&format!("/v1/events/{}", id(&created)), &[])
        .await
        .ok();
    assert_eq!(stored["type"], "customer.created");
    let pi = sim
        .intent(&[
            ("customer", id(&customer)),
            ("setup_future_usage", "off_session"),
        ])
        .await;
    sim.pay_at_reader(id(&pi), "4242424242424242").await;
    let (_, capturable) = hook
        .wait_for("payment_intent.amount_capturable_updated")
        .await;
    assert_eq!(capturable["data"]["object"]["status"], "requires_capture");
    hook.wait_for("charge.succeeded").await;
    hook.wait_for("payment_method.attached").await;
    hook.wait_for("terminal.reader.action_succeeded").await;
    sim.post(&format!("/v1/payment_intents/{}/capture", id(&pi)), &[])
        .await
        .ok();
    let (_, captured) = hook.wait_for("charge.captured").await;
    assert_eq!(captured["data"]["previous_attributes"]["captured"], false);
    hook.wait_for("payment_intent.succeeded").await;
    sim.post(
        "/v1/refunds",
        &[("payment_intent", id(&pi)), ("amount", "100")],
    )
    .await
    .ok();
    hook.wait_for("charge.refunded").await;
    hook.wait_for("charge.refund.updated").await;
    let listed = sim
        .get("/v1/events", &[("type", "payment_intent.*")])
        .await
        .ok();
    let kinds: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "payment_intent.succeeded",
            "payment_intent.amount_capturable_updated",
            "payment_intent.created"
        ]
    );
}

#[tokio::test]
async fn failed_attempts_are_retried() {
    let (sim, hook) = with_endpoint(1).await;
    let customer = sim.customer("retry").await;
    let (_, event) = hook.wait_for("customer.created").await;
    assert_eq!(event["data"]["object"]["id"], id(&customer));
    let d = deliveries(&sim).await;
    assert_eq!(d[0]["delivery"]["status"], "delivered");
    assert_eq!(d[0]["delivery"]["attempts"], 2);
    assert_eq!(hook.kinds(), ["customer.created"]);
}

#[tokio::test]
async fn endpoint_set_at_runtime_and_dropped_events() {
    let sim = start().await;
    sim.customer("before").await;
    let hook = receiver(0).await;
    sim.sim(
        Method::POST,
        "/_sim/webhook_endpoint",
        Some(json!({"url": hook.url, "secret": SECRET})),
    )
    .await
    .ok();
    sim.fault(json!({"path": "customer.*", "drop_webhooks": true, "times": 1}))
        .await;
    sim.customer("dropped").await;
    sim.customer("delivered").await;
    let (_, event) = hook.wait_for("customer.created").await;
    assert_eq!(
        event["data"]["object"]["metadata"]["external_customer_id"],
        "delivered"
    );
    let d = deliveries(&sim).await;
    let statuses: Vec<&str> = d
        .iter()
        .map(|e| e["delivery"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["no_endpoint", "dropped", "delivered"]);
    assert_eq!(hook.kinds(), ["customer.created"]);
}

#[tokio::test]
async fn events_list_filters() {
    let sim = start().await;
    let before = chrono::Utc::now().timestamp();
    sim.customer("e1").await;
    let pi = sim.intent(&[]).await;
    sim.post(&format!("/v1/payment_intents/{}/cancel", id(&pi)), &[])
        .await
        .ok();
    let all = sim.get("/v1/events", &[]).await.ok();
    let kinds: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "payment_intent.canceled",
            "payment_intent.created",
            "customer.created"
        ]
    );
    assert_eq!(
        all["data"][0]["request"]["id"].as_str().unwrap()[..4],
        *"req_"
    );
    let typed = sim
        .get("/v1/events", &[("type", "customer.created")])
        .await
        .ok();
    assert_eq!(typed["data"].as_array().unwrap().len(), 1);
    let many = sim
        .get(
            "/v1/events",
            &[
                ("types[]", "customer.created"),
                ("types[]", "payment_intent.canceled"),
            ],
        )
        .await
        .ok();
    assert_eq!(many["data"].as_array().unwrap().len(), 2);
    let recent = sim
        .get("/v1/events", &[("created[gte]", &before.to_string())])
        .await
        .ok();
    assert_eq!(recent["data"].as_array().unwrap().len(), 3);
    let future = sim
        .get(
            "/v1/events",
            &[("created[gte]", &(before + 3600).to_string())],
        )
        .await
        .ok();
    assert!(future["data"].as_array().unwrap().is_empty());
    let page = sim.get("/v1/events", &[("limit", "2")]).await.ok();
    assert_eq!(page["has_more"], true);
    let next = sim
        .get(
            "/v1/events",
            &[
                ("limit", "2"),
                ("starting_after", page["data"][1]["id"].as_str().unwrap()),
            ],
        )
        .await
        .ok();
    assert_eq!(next["data"][0]["type"], "customer.created");
    assert_eq!(next["has_more"], false);
    let back = sim
        .get(
            "/v1/events",
            &[
                ("limit", "1"),
                ("ending_before", next["data"][0]["id"].as_str().unwrap()),
            ],
        )
        .await
        .ok();
    assert_eq!(back["data"][0]["id"], page["data"][1]["id"]);
    assert_eq!(back["has_more"], true);
}
