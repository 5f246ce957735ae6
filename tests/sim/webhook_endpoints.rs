//! `/v1/webhook_endpoints`: the object as Stripe documents it (the secret in the creation's answer
//! only), validation errors, pagination, deletion, and delivery of events to registered endpoints
//! (by `enabled_events`, platform or Connect, each signed with its own secret).

use crate::support::wait::until_some;
use crate::webhooks::{receiver, Receiver};
use crate::{id, start, Sim};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

const HOOK: &str = "https://pos.example/v1/webhooks/stripe";

async fn create(sim: &Sim, form: &[(&str, &str)]) -> Value {
    sim.post("/v1/webhook_endpoints", form).await.ok()
}

#[tokio::test]
async fn endpoints_are_created_read_updated_listed_and_deleted() {
    let sim = start().await;
    let created = create(
        &sim,
        &[
            ("url", HOOK),
            ("enabled_events[0]", "payment_intent.succeeded"),
            ("enabled_events[1]", "charge.refunded"),
            ("connect", "true"),
            ("api_version", "2026-11-18.endive"),
            ("metadata[role]", "connect"),
        ],
    )
    .await;
    let we = id(&created).to_string();
    assert!(we.starts_with("we_"), "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["api_version"], "2026-11-18.endive");
    assert_eq!(created["metadata"]["role"], "connect");
    assert!(created.get("connect").is_none(), "not part of the object");

    let path = format!("/v1/webhook_endpoints/{we}");
    let read = sim.get(&path, &[]).await.ok();
    assert!(read.get("secret").is_none(), "the secret only once: {read}");
    assert_eq!(read["url"], HOOK);

    let updated = sim
        .post(
            &path,
            &[
                ("enabled_events[0]", "*"),
                ("disabled", "true"),
                ("description", "all of them"),
            ],
        )
        .await
        .ok();
    assert_eq!(updated["enabled_events"], serde_json::json!(["*"]));
    assert_eq!(updated["status"], "disabled");
    assert_eq!(updated["description"], "all of them");
    assert!(updated.get("secret").is_none());
    let enabled = sim.post(&path, &[("disabled", "false")]).await.ok();
    assert_eq!(enabled["status"], "enabled");

    // Pagination, newest first.
    for i in 0..3 {
        let url = format!("https://pos.example/hook/{i}");
        create(&sim, &[("url", &url), ("enabled_events[]", "*")]).await;
    }
    let first = sim
        .get("/v1/webhook_endpoints", &[("limit", "2")])
        .await
        .ok();
    assert_eq!(first["has_more"], true);
    assert_eq!(first["data"][0]["url"], "https://pos.example/hook/2");
    let after = id(&first["data"][1]).to_string();
    let rest = sim
        .get(
            "/v1/webhook_endpoints",
            &[("limit", "2"), ("starting_after", &after)],
        )
        .await
        .ok();
    assert_eq!(rest["has_more"], false);
    assert_eq!(rest["data"][1]["id"], we.as_str());

    // Another account's endpoints are not this one's.
    let other = sim.as_account("acct_other");
    let listed = other.get("/v1/webhook_endpoints", &[]).await.ok();
    assert_eq!(listed["data"].as_array().unwrap().len(), 0);
    assert_eq!(other.get(&path, &[]).await.status, 404);

    let deleted = sim.delete(&path).await.ok();
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["id"], we.as_str());
    let gone = sim.get(&path, &[]).await;
    assert_eq!((gone.status, gone.code()), (404, "resource_missing"));
    assert_eq!(sim.delete(&path).await.status, 404);
}

#[tokio::test]
async fn bad_endpoints_are_refused_like_stripe() {
    let sim = start().await;
    let refused = |form: &'static [(&'static str, &'static str)]| {
        let sim = &sim;
        async move { sim.post("/v1/webhook_endpoints", form).await }
    };
    let missing_url = refused(&[("enabled_events[]", "*")]).await;
    assert_eq!(missing_url.status, 400);
    assert_eq!(missing_url.code(), "parameter_missing");
    assert_eq!(missing_url.body["error"]["param"], "url");

    let missing_events = refused(&[("url", HOOK)]).await;
    assert_eq!(missing_events.code(), "parameter_missing");
    assert_eq!(missing_events.body["error"]["param"], "enabled_events");

    for bad in ["not a url", "ftp://pos.example/hook", "/v1/webhooks/stripe"] {
        let answer = sim
            .post(
                "/v1/webhook_endpoints",
                &[("url", bad), ("enabled_events[]", "*")],
            )
            .await;
        assert_eq!(answer.status, 400, "{bad}");
        assert_eq!(answer.body["error"]["param"], "url", "{bad}");
        assert_eq!(answer.code(), "url_invalid", "{bad}");
    }

    let unknown = refused(&[
        ("url", HOOK),
        ("enabled_events[0]", "payment_intent.sucseeded"),
    ])
    .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["error"]["param"], "enabled_events[0]");
    let message = unknown.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("payment_intent.succeeded"), "{message}");

    let version = refused(&[
        ("url", HOOK),
        ("enabled_events[]", "*"),
        ("api_version", "1999-01-01"),
    ])
    .await;
    assert_eq!(version.body["error"]["param"], "api_version");

    let we = create(&sim, &[("url", HOOK), ("enabled_events[]", "*")]).await;
    let path = format!("/v1/webhook_endpoints/{}", id(&we));
    let update = sim.post(&path, &[("url", "nope")]).await;
    assert_eq!(update.body["error"]["param"], "url");
    let connect = sim.post(&path, &[("connect", "true")]).await;
    assert_eq!(connect.code(), "parameter_unknown", "fixed at creation");
    let none = sim
        .post("/v1/webhook_endpoints/we_missing", &[("disabled", "true")])
        .await;
    assert_eq!((none.status, none.code()), (404, "resource_missing"));
}

/// Which registered endpoint (by its secret) a delivery is signed for, verified independently.
fn signed_by(signature: &str, body: &str, secrets: &[(&str, String)]) -> String {
    let mut t = "";
    let mut v1 = Vec::new();
    for part in signature.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value,
            Some(("v1", value)) => v1.push(value),
            _ => {}
        }
    }
    let matching: Vec<&str> = secrets
        .iter()
        .filter(|(_, secret)| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(format!("{t}.{body}").as_bytes());
            v1.contains(&hex::encode(mac.finalize().into_bytes()).as_str())
        })
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "signed by exactly one endpoint: {signature}"
    );
    matching[0].to_string()
}

/// (endpoint name, event type, connected account) of every delivery so far.
fn arrived(hook: &Receiver, secrets: &[(&str, String)]) -> Vec<(String, String, Option<String>)> {
    hook.received
        .lock()
        .unwrap()
        .iter()
        .map(|(signature, body)| {
            let event: Value = serde_json::from_str(body).unwrap();
            (
                signed_by(signature, body, secrets),
                event["type"].as_str().unwrap().to_string(),
                event["account"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// The deliveries once there are at least `count`.
async fn wait_for(
    hook: &Receiver,
    secrets: &[(&str, String)],
    count: usize,
) -> Vec<(String, String, Option<String>)> {
    let what = format!("{count} deliveries");
    until_some(5, &what, || {
        let got = arrived(hook, secrets);
        async move { (got.len() >= count).then_some(got) }
    })
    .await
}

#[tokio::test]
async fn events_go_to_the_endpoints_that_take_them() {
    let hook = receiver(0).await;
    let sim = start().await;
    let register = |events: &'static [&'static str], connect: bool| {
        let (sim, url) = (&sim, hook.url.clone());
        async move {
            let mut form: Vec<(String, String)> = vec![("url".into(), url)];
            for (i, e) in events.iter().enumerate() {
                form.push((format!("enabled_events[{i}]"), e.to_string()));
            }
            if connect {
                form.push(("connect".into(), "true".into()));
            }
            let form: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let created = create(sim, &form).await;
            created["secret"].as_str().unwrap().to_string()
        }
    };
    let secrets = [
        ("customers", register(&["customer.created"], false).await),
        ("all", register(&["*"], false).await),
        ("connect", register(&["customer.created"], true).await),
    ];
    let disabled = create(
        &sim,
        &[("url", hook.url.as_str()), ("enabled_events[]", "*")],
    )
    .await;
    sim.post(
        &format!("/v1/webhook_endpoints/{}", id(&disabled)),
        &[("disabled", "true")],
    )
    .await
    .ok();
    let all: Vec<(&str, String)> = secrets
        .iter()
        .cloned()
        .chain([("disabled", disabled["secret"].as_str().unwrap().to_string())])
        .collect();
    // A platform customer: to the customer.created and the `*` platform endpoints.
    sim.post("/v1/customers", &[]).await.ok();
    let mut got = wait_for(&hook, &all, 2).await;
    got.sort();
    assert_eq!(
        got,
        [
            ("all".to_string(), "customer.created".to_string(), None),
            (
                "customers".to_string(),
                "customer.created".to_string(),
                None
            ),
        ]
    );
    // A connected account's customer, then a platform PaymentIntent (only `*` takes it), which
    // arrives after anything the customer's request could have sent.
    sim.as_account("acct_connected")
        .post("/v1/customers", &[])
        .await
        .ok();
    let got = wait_for(&hook, &all, 3).await;
    assert_eq!(
        got[2],
        (
            "connect".to_string(),
            "customer.created".to_string(),
            Some("acct_connected".to_string())
        )
    );
    sim.post(
        "/v1/payment_intents",
        &[("amount", "500"), ("currency", "usd")],
    )
    .await
    .ok();
    let got = wait_for(&hook, &all, 4).await;
    assert_eq!(got[3].0, "all");
    assert_eq!(got[3].1, "payment_intent.created");
    assert_eq!(
        arrived(&hook, &all).len(),
        4,
        "nothing for the disabled endpoint, nothing more for the others: {:?}",
        arrived(&hook, &all)
    );
}
