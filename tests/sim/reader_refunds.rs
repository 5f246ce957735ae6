//! Refunds in person: Interac charges are refused by `POST /v1/refunds`; a reader's
//! `refund_payment`, completed by `present_payment_method` with the charge's card (else the
//! action fails), makes the refund with the action's metadata and the usual events; the simulated
//! JS SDK's `collectRefundPaymentMethod` / `processRefund` (Interac only).

use crate::{id, start, Sim};
use reqwest::Method;
use serde_json::{json, Value};

const INTERAC: &str = "4506445006931933";

/// An Interac payment of 25.00 CAD on a fresh reader: (intent, reader).
async fn interac_paid(sim: &Sim) -> (Value, String) {
    let pi = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2500"),
                ("currency", "cad"),
                ("allowed_payment_method_types[]", "card_present"),
                ("allowed_payment_method_types[]", "interac_present"),
                ("capture_method", "manual"),
            ],
        )
        .await
        .ok();
    let reader = sim.reader().await;
    let rid = id(&reader).to_string();
    sim.post(
        &format!("/v1/terminal/readers/{rid}/process_payment_intent"),
        &[("payment_intent", id(&pi))],
    )
    .await
    .ok();
    sim.post(
        &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
        &[("type", "interac_present")],
    )
    .await
    .ok();
    let pi = sim
        .get(&format!("/v1/payment_intents/{}", id(&pi)), &[])
        .await
        .ok();
    assert_eq!(pi["status"], "succeeded");
    (pi, rid)
}

async fn event_types(sim: &Sim) -> Vec<String> {
    let events = sim.get("/v1/events", &[("limit", "100")]).await.ok();
    events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn interac_is_refunded_on_the_reader_only_with_its_card() {
    let sim = start().await;
    let (pi, rid) = interac_paid(&sim).await;
    let refused = sim
        .post("/v1/refunds", &[("payment_intent", id(&pi))])
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (400, "charge_not_refundable")
    );
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("in person"));

    // Over the charge: refused when asked, nothing starts.
    let over = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/refund_payment"),
            &[("payment_intent", id(&pi)), ("amount", "2501")],
        )
        .await;
    assert_eq!((over.status, over.code()), (400, "amount_too_large"));
    let neither = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/refund_payment"),
            &[("amount", "100")],
        )
        .await;
    assert_eq!(neither.status, 400);

    let started = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/refund_payment"),
            &[
                ("payment_intent", id(&pi)),
                ("amount", "1000"),
                ("metadata[order]", "o-1"),
            ],
        )
        .await
        .ok();
    assert_eq!(started["action"]["type"], "refund_payment");
    assert_eq!(started["action"]["status"], "in_progress");
    assert_eq!(started["action"]["refund_payment"]["amount"], 1000);
    assert_eq!(
        started["action"]["refund_payment"]["charge"],
        pi["latest_charge"]
    );
    // Busy meanwhile.
    let busy = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/refund_payment"),
            &[("payment_intent", id(&pi))],
        )
        .await;
    assert_eq!((busy.status, busy.code()), (400, "terminal_reader_busy"));
    let screen = sim
        .sim(
            Method::GET,
            &format!("/_sim/terminal/readers/{rid}/screen"),
            None,
        )
        .await
        .ok();
    assert_eq!(screen["screen"], "collect_refund_payment_method");

    // Another card: the action fails, nothing is refunded.
    let failed = sim
        .post(
            &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
            &[("card_present[number]", "4242424242424242")],
        )
        .await
        .ok();
    assert_eq!(failed["action"]["status"], "failed");
    assert_eq!(failed["action"]["failure_code"], "card_mismatch");
    let charge = sim
        .get(
            &format!("/v1/charges/{}", pi["latest_charge"].as_str().unwrap()),
            &[],
        )
        .await
        .ok();
    assert_eq!(charge["amount_refunded"], 0);
    assert!(event_types(&sim)
        .await
        .contains(&"terminal.reader.action_failed".to_string()));

    // Again, with the charge's card.
    sim.post(
        &format!("/v1/terminal/readers/{rid}/refund_payment"),
        &[
            ("charge", charge["id"].as_str().unwrap()),
            ("amount", "1000"),
            ("metadata[order]", "o-1"),
        ],
    )
    .await
    .ok();
    let done = sim
        .post(
            &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
            &[
                ("type", "interac_present"),
                ("interac_present[number]", INTERAC),
            ],
        )
        .await
        .ok();
    assert_eq!(done["action"]["status"], "succeeded");
    let refund_id = done["action"]["refund_payment"]["refund"].as_str().unwrap();
    let refund = sim.get(&format!("/v1/refunds/{refund_id}"), &[]).await.ok();
    assert_eq!(
        (refund["amount"].as_i64(), refund["status"].as_str()),
        (Some(1000), Some("succeeded"))
    );
    assert_eq!(refund["metadata"]["order"], "o-1");
    let charge = sim
        .get(&format!("/v1/charges/{}", id(&charge)), &[])
        .await
        .ok();
    assert_eq!(charge["amount_refunded"], 1000);
    let types = event_types(&sim).await;
    for t in [
        "refund.created",
        "charge.refunded",
        "terminal.reader.action_succeeded",
    ] {
        assert!(types.contains(&t.to_string()), "{t}: {types:?}");
    }
    // The rest (default amount), then nothing is left.
    let rest = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/refund_payment"),
            &[("payment_intent", id(&pi))],
        )
        .await
        .ok();
    assert_eq!(rest["action"]["refund_payment"]["amount"], 1500);
    sim.post(
        &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
        &[("type", "interac_present")],
    )
    .await
    .ok();
    let none = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/refund_payment"),
            &[("payment_intent", id(&pi))],
        )
        .await;
    assert_eq!((none.status, none.code()), (400, "charge_already_refunded"));
}

#[tokio::test]
async fn an_offline_reader_and_an_uncaptured_charge_are_refused() {
    let sim = start().await;
    let pi = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "900"),
                ("currency", "usd"),
                ("allowed_payment_method_types[]", "card_present"),
                ("capture_method", "manual"),
            ],
        )
        .await
        .ok();
    let (reader, _) = sim.pay_at_reader(id(&pi), "4242424242424242").await;
    let rid = id(&reader).to_string();
    let uncaptured = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/refund_payment"),
            &[("payment_intent", id(&pi))],
        )
        .await;
    assert_eq!(uncaptured.status, 400);
    sim.post(&format!("/v1/payment_intents/{}/capture", id(&pi)), &[])
        .await
        .ok();
    sim.sim(
        Method::POST,
        &format!("/_sim/terminal/readers/{rid}/offline"),
        None,
    )
    .await
    .ok();
    let offline = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/refund_payment"),
            &[("payment_intent", id(&pi))],
        )
        .await;
    assert_eq!(
        (offline.status, offline.code()),
        (400, "terminal_reader_offline")
    );
    sim.sim(
        Method::POST,
        &format!("/_sim/terminal/readers/{rid}/online"),
        None,
    )
    .await
    .ok();
    // A card (not Interac) may be refunded on the reader too, and through the API.
    sim.post(
        &format!("/v1/terminal/readers/{rid}/refund_payment"),
        &[("payment_intent", id(&pi)), ("amount", "100")],
    )
    .await
    .ok();
    let done = sim
        .post(
            &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
            &[("card_present[number]", "4242424242424242")],
        )
        .await
        .ok();
    assert_eq!(done["action"]["status"], "succeeded");
    sim.post("/v1/refunds", &[("payment_intent", id(&pi))])
        .await
        .ok();
}

#[tokio::test]
async fn the_js_sdk_refunds_interac_in_person() {
    let sim = start().await;
    let (pi, _) = interac_paid(&sim).await;
    let charge = pi["latest_charge"].as_str().unwrap();
    let token = sim.post("/v1/terminal/connection_tokens", &[]).await.ok();
    let session = sim
        .sim(
            Method::POST,
            "/_sim/terminal/sessions",
            Some(json!({"connection_token": token["secret"]})),
        )
        .await
        .ok();
    let session = session["session"].as_str().unwrap();
    let call = |step: &'static str, body: Value| {
        let sim = &sim;
        async move {
            sim.sim(
                Method::POST,
                &format!("/_sim/terminal/refunds/{step}"),
                Some(body),
            )
            .await
        }
    };
    // Nothing collected yet.
    let early = call("process", json!({"session": session})).await;
    assert_eq!(early.status, 400);
    for (body, param) in [
        (
            json!({"session": session, "charge": charge, "amount": 2600, "currency": "cad"}),
            "amount",
        ),
        (
            json!({"session": session, "charge": charge, "amount": 500, "currency": "usd"}),
            "currency",
        ),
        (
            json!({"session": session, "charge": charge, "amount": 500, "currency": "cad", "card_number": "4242424242424242"}),
            "",
        ),
    ] {
        let refused = call("collect", body.clone()).await;
        assert_eq!(refused.status, 400, "{body}");
        if !param.is_empty() {
            assert_eq!(refused.body["error"]["param"], param, "{}", refused.body);
        }
    }
    let collected = call(
        "collect",
        json!({"session": session, "charge": charge, "amount": 500, "currency": "CAD"}),
    )
    .await
    .ok();
    assert_eq!(collected["amount"], 500);
    let refund = call("process", json!({"session": session})).await.ok();
    assert_eq!(
        (refund["object"].as_str(), refund["amount"].as_i64()),
        (Some("refund"), Some(500))
    );
    assert_eq!(refund["charge"], charge);
    // Once.
    assert_eq!(
        call("process", json!({"session": session})).await.status,
        400
    );
    let charge = sim.get(&format!("/v1/charges/{charge}"), &[]).await.ok();
    assert_eq!(charge["amount_refunded"], 500);

    // A card payment is not for the SDK's in-person refunds.
    let card = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "900"),
                ("currency", "usd"),
                ("allowed_payment_method_types[]", "card_present"),
                ("capture_method", "automatic"),
            ],
        )
        .await
        .ok();
    sim.pay_at_reader(id(&card), "4242424242424242").await;
    let card = sim
        .get(&format!("/v1/payment_intents/{}", id(&card)), &[])
        .await
        .ok();
    let refused = call("collect", json!({"session": session, "charge": card["latest_charge"], "amount": 100, "currency": "usd"})).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("interac_present"));
}
