//! PaymentIntent state machine, captures, cancels, generated cards, refunds, saved cards.

use crate::{id, start, Sim};
use serde_json::{json, Value};

/// An authorized (requires_capture) intent for a customer that saves the card.
async fn authorized_with_customer(sim: &Sim, card: &str) -> (Value, Value) {
    let customer = sim.customer("cust-1").await;
    let pi = sim
        .intent(&[
            ("customer", id(&customer)),
            ("setup_future_usage", "off_session"),
        ])
        .await;
    let (_, after) = sim.pay_at_reader(id(&pi), card).await;
    (customer, after)
}

#[tokio::test]
async fn partial_capture_and_wrong_states() {
    let sim = start().await;
    let pi = sim.intent(&[]).await;
    let pid = id(&pi).to_string();
    let early = sim
        .post(&format!("/v1/payment_intents/{pid}/capture"), &[])
        .await;
    assert_eq!(
        (early.status, early.code()),
        (400, "payment_intent_unexpected_state")
    );
    assert!(early.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("requires_payment_method"));
    sim.pay_at_reader(&pid, "4242424242424242").await;
    // Beyond the overcapture limit ($12.99 authorized: up to $62.99).
    let over = sim
        .post(
            &format!("/v1/payment_intents/{pid}/capture"),
            &[("amount_to_capture", "6300")],
        )
        .await;
    assert_eq!((over.status, over.code()), (400, "amount_too_large"));
    assert_eq!(over.body["error"]["param"], "amount_to_capture");
    let captured = sim
        .post(
            &format!("/v1/payment_intents/{pid}/capture"),
            &[("amount_to_capture", "1000"), ("expand[]", "latest_charge")],
        )
        .await
        .ok();
    assert_eq!(captured["status"], "succeeded");
    assert_eq!(captured["amount_received"], 1000);
    assert_eq!(captured["amount_capturable"], 0);
    assert_eq!(captured["latest_charge"]["amount_captured"], 1000);
    assert_eq!(captured["latest_charge"]["captured"], true);
    let again = sim
        .post(&format!("/v1/payment_intents/{pid}/capture"), &[])
        .await;
    assert_eq!(again.code(), "payment_intent_unexpected_state");
    // Like Stripe's, an intent-state error carries the intent as it is.
    let shown = &again.body["error"]["payment_intent"];
    assert_eq!(shown["id"], pid.as_str());
    assert_eq!(shown["status"], "succeeded");
    assert_eq!(shown["amount_received"], 1000);
    let cancel = sim
        .post(&format!("/v1/payment_intents/{pid}/cancel"), &[])
        .await;
    assert_eq!(cancel.code(), "payment_intent_unexpected_state");
    assert_eq!(
        cancel.body["error"]["payment_intent"]["status"],
        "succeeded"
    );
    let update = sim
        .post(&format!("/v1/payment_intents/{pid}"), &[("amount", "2000")])
        .await;
    assert_eq!(update.code(), "payment_intent_unexpected_state");
    let meta = sim
        .post(
            &format!("/v1/payment_intents/{pid}"),
            &[("metadata[note]", "ok")],
        )
        .await
        .ok();
    assert_eq!(meta["metadata"]["note"], "ok");
}

#[tokio::test]
async fn cancel_releases_the_authorization() {
    let sim = start().await;
    let open = sim.intent(&[]).await;
    let canceled = sim
        .post(
            &format!("/v1/payment_intents/{}/cancel", id(&open)),
            &[("cancellation_reason", "requested_by_customer")],
        )
        .await
        .ok();
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["cancellation_reason"], "requested_by_customer");
    assert!(canceled["canceled_at"].is_i64());
    let pi = sim.intent(&[]).await;
    sim.pay_at_reader(id(&pi), "4242424242424242").await;
    let canceled = sim
        .post(
            &format!("/v1/payment_intents/{}/cancel", id(&pi)),
            &[("expand[]", "latest_charge")],
        )
        .await
        .ok();
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["amount_capturable"], 0);
    assert_eq!(canceled["latest_charge"]["refunded"], true);
    assert_eq!(canceled["latest_charge"]["amount_refunded"], 1299);
}

#[tokio::test]
async fn update_and_confirm_with_magic_payment_method() {
    let sim = start().await;
    let pi = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "500"),
                ("currency", "usd"),
                ("metadata[order]", "o-1"),
            ],
        )
        .await
        .ok();
    assert_eq!(pi["payment_method_types"], json!(["card"]));
    assert_eq!(pi["capture_method"], "automatic");
    let updated = sim
        .post(
            &format!("/v1/payment_intents/{}", id(&pi)),
            &[
                ("amount", "700"),
                ("payment_method", "pm_card_visa"),
                ("description", "Coffee"),
            ],
        )
        .await
        .ok();
    assert_eq!(updated["amount"], 700);
    assert_eq!(updated["status"], "requires_confirmation");
    assert_eq!(updated["description"], "Coffee");
    let confirmed = sim
        .post(&format!("/v1/payment_intents/{}/confirm", id(&pi)), &[])
        .await
        .ok();
    assert_eq!(confirmed["status"], "succeeded");
    assert_eq!(confirmed["amount_received"], 700);
    let charge = sim
        .get(
            &format!(
                "/v1/charges/{}",
                confirmed["latest_charge"].as_str().unwrap()
            ),
            &[],
        )
        .await
        .ok();
    assert_eq!(charge["payment_method_details"]["type"], "card");
    assert_eq!(charge["metadata"]["order"], "o-1");
    let found = sim
        .get(
            "/v1/payment_intents/search",
            &[("query", "metadata['order']:'o-1' AND status:'succeeded'")],
        )
        .await
        .ok();
    assert_eq!(found["data"][0]["id"], id(&pi));
    let declined = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "500"),
                ("currency", "usd"),
                ("payment_method", "pm_card_chargeDeclined"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(declined.status, 402);
    assert_eq!(declined.body["error"]["type"], "card_error");
    assert_eq!(declined.body["error"]["decline_code"], "generic_decline");
    assert_eq!(
        declined.body["error"]["payment_intent"]["status"],
        "requires_payment_method"
    );
}

#[tokio::test]
async fn generated_card_only_with_customer_and_sfu_and_not_wallet() {
    let sim = start().await;
    let (customer, after) = authorized_with_customer(&sim, "4242424242424242").await;
    let details = &after["latest_charge"]["payment_method_details"]["card_present"];
    let generated = details["generated_card"]
        .as_str()
        .expect("generated_card")
        .to_string();
    let pm = sim
        .get(&format!("/v1/payment_methods/{generated}"), &[])
        .await
        .ok();
    assert_eq!(pm["type"], "card");
    assert_eq!(pm["customer"], id(&customer));
    assert_eq!(pm["card"]["last4"], "4242");
    assert_eq!(pm["card"]["fingerprint"], details["fingerprint"]);
    assert_eq!(
        pm["card"]["generated_from"]["charge"],
        after["latest_charge"]["id"]
    );
    let listed = sim
        .get(
            &format!("/v1/customers/{}/payment_methods", id(&customer)),
            &[("type", "card")],
        )
        .await
        .ok();
    assert_eq!(listed["data"][0]["id"], generated.as_str());
    // Customer but no setup_future_usage: nothing saved.
    let pi = sim.intent(&[("customer", id(&customer))]).await;
    let (_, after) = sim.pay_at_reader(id(&pi), "4242424242424242").await;
    assert!(
        after["latest_charge"]["payment_method_details"]["card_present"]["generated_card"]
            .is_null()
    );
    // Wallet tap: no generated card, wallet set.
    let (_, wallet) = authorized_with_customer(&sim, "4111111111111111").await;
    let details = &wallet["latest_charge"]["payment_method_details"]["card_present"];
    assert!(details["generated_card"].is_null());
    assert_eq!(details["wallet"]["type"], "apple_pay");
    // Same card twice: same fingerprint.
    let (_, second) = authorized_with_customer(&sim, "4242424242424242").await;
    assert_eq!(
        second["latest_charge"]["payment_method_details"]["card_present"]["fingerprint"],
        after["latest_charge"]["payment_method_details"]["card_present"]["fingerprint"]
    );
}

#[tokio::test]
async fn refunds_never_exceed_captured() {
    let sim = start().await;
    let pi = sim.intent(&[]).await;
    let pid = id(&pi).to_string();
    sim.pay_at_reader(&pid, "4242424242424242").await;
    let uncaptured = sim.post("/v1/refunds", &[("payment_intent", &pid)]).await;
    assert_eq!(uncaptured.status, 400);
    sim.post(
        &format!("/v1/payment_intents/{pid}/capture"),
        &[("amount_to_capture", "1000")],
    )
    .await
    .ok();
    let too_much = sim
        .post(
            "/v1/refunds",
            &[("payment_intent", &pid), ("amount", "1001")],
        )
        .await;
    assert_eq!(
        (too_much.status, too_much.code()),
        (400, "amount_too_large")
    );
    let part = sim
        .post(
            "/v1/refunds",
            &[
                ("payment_intent", &pid),
                ("amount", "400"),
                ("reason", "requested_by_customer"),
            ],
        )
        .await
        .ok();
    assert_eq!(part["object"], "refund");
    assert_eq!(part["amount"], 400);
    assert_eq!(part["status"], "succeeded");
    let charge_id = part["charge"].as_str().unwrap().to_string();
    let rest = sim
        .post("/v1/refunds", &[("charge", &charge_id)])
        .await
        .ok();
    assert_eq!(rest["amount"], 600);
    let charge = sim.get(&format!("/v1/charges/{charge_id}"), &[]).await.ok();
    assert_eq!(charge["amount_refunded"], 1000);
    assert_eq!(charge["refunded"], true);
    let more = sim
        .post("/v1/refunds", &[("charge", &charge_id), ("amount", "1")])
        .await;
    assert_eq!((more.status, more.code()), (400, "charge_already_refunded"));
    let got = sim
        .get(&format!("/v1/refunds/{}", id(&part)), &[])
        .await
        .ok();
    assert_eq!(got["amount"], 400);
    let neither = sim.post("/v1/refunds", &[("amount", "1")]).await;
    assert_eq!(neither.status, 400);
}

async fn charge_saved_card(sim: &Sim, customer: &str, pm: &str) -> crate::Answer {
    sim.post(
        "/v1/payment_intents",
        &[
            ("amount", "2500"),
            ("currency", "usd"),
            ("customer", customer),
            ("payment_method", pm),
            ("allowed_payment_method_types[]", "card"),
            ("off_session", "true"),
            ("confirm", "true"),
        ],
    )
    .await
}

#[tokio::test]
async fn off_session_saved_card_success_and_decline() {
    let sim = start().await;
    let (customer, after) = authorized_with_customer(&sim, "4242424242424242").await;
    let pm = after["latest_charge"]["payment_method_details"]["card_present"]["generated_card"]
        .as_str()
        .unwrap()
        .to_string();
    let ok = charge_saved_card(&sim, id(&customer), &pm).await.ok();
    assert_eq!(ok["status"], "succeeded");
    assert_eq!(ok["amount_received"], 2500);
    // 4000000000000341 works at the reader, but its saved card is declined later.
    let (customer, after) = authorized_with_customer(&sim, "4000000000000341").await;
    assert_eq!(after["status"], "requires_capture");
    let pm = after["latest_charge"]["payment_method_details"]["card_present"]["generated_card"]
        .as_str()
        .unwrap()
        .to_string();
    let declined = charge_saved_card(&sim, id(&customer), &pm).await;
    assert_eq!(declined.status, 402);
    let error = &declined.body["error"];
    assert_eq!(error["type"], "card_error");
    assert_eq!(error["code"], "card_declined");
    assert_eq!(error["decline_code"], "generic_decline");
    assert_eq!(error["payment_intent"]["status"], "requires_payment_method");
    assert_eq!(
        error["payment_intent"]["last_payment_error"]["decline_code"],
        "generic_decline"
    );
    // Another customer's card is refused.
    let stranger = sim.customer("someone-else").await;
    let refused = charge_saved_card(&sim, id(&stranger), &pm).await;
    assert_eq!(refused.status, 400);
}

#[tokio::test]
async fn payment_methods_attach_detach() {
    let sim = start().await;
    let customer = sim.customer("c").await;
    let pm = sim
        .post(
            "/v1/payment_methods/pm_card_mastercard/attach",
            &[("customer", id(&customer))],
        )
        .await
        .ok();
    assert_eq!(pm["customer"], id(&customer));
    assert_eq!(pm["card"]["brand"], "mastercard");
    let listed = sim
        .get(
            "/v1/payment_methods",
            &[("customer", id(&customer)), ("type", "card")],
        )
        .await
        .ok();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let detached = sim
        .post(&format!("/v1/payment_methods/{}/detach", id(&pm)), &[])
        .await
        .ok();
    assert!(detached["customer"].is_null());
    let twice = sim
        .post(&format!("/v1/payment_methods/{}/detach", id(&pm)), &[])
        .await;
    assert_eq!(twice.status, 400);
    let listed = sim
        .get(
            &format!("/v1/customers/{}/payment_methods", id(&customer)),
            &[],
        )
        .await
        .ok();
    assert!(listed["data"].as_array().unwrap().is_empty());
    let present = sim.intent(&[]).await;
    let (_, after) = sim.pay_at_reader(id(&present), "4242424242424242").await;
    let cp = after["latest_charge"]["payment_method"].as_str().unwrap();
    let refused = sim
        .post(
            &format!("/v1/payment_methods/{cp}/attach"),
            &[("customer", id(&customer))],
        )
        .await;
    assert_eq!(refused.status, 400);
}

#[tokio::test]
async fn increment_authorization_needs_support() {
    let sim = start().await;
    let plain = sim.intent(&[]).await;
    sim.pay_at_reader(id(&plain), "4242424242424242").await;
    let refused = sim
        .post(
            &format!("/v1/payment_intents/{}/increment_authorization", id(&plain)),
            &[("amount", "1500")],
        )
        .await;
    assert_eq!(refused.status, 400);
    let pi = sim
        .intent(&[(
            "payment_method_options[card_present][request_incremental_authorization_support]",
            "true",
        )])
        .await;
    assert_eq!(
        pi["payment_method_options"]["card_present"]["request_incremental_authorization_support"],
        true
    );
    sim.pay_at_reader(id(&pi), "4242424242424242").await;
    let lower = sim
        .post(
            &format!("/v1/payment_intents/{}/increment_authorization", id(&pi)),
            &[("amount", "1000")],
        )
        .await;
    assert_eq!(lower.status, 400);
    let raised = sim
        .post(
            &format!("/v1/payment_intents/{}/increment_authorization", id(&pi)),
            &[("amount", "1500")],
        )
        .await
        .ok();
    assert_eq!(raised["amount"], 1500);
    assert_eq!(raised["amount_capturable"], 1500);
    let captured = sim
        .post(&format!("/v1/payment_intents/{}/capture", id(&pi)), &[])
        .await
        .ok();
    assert_eq!(captured["amount_received"], 1500);
}

/// Every event of the simulator's account, oldest first (types only).
async fn event_types(sim: &Sim) -> Vec<String> {
    let events = sim.get("/v1/events", &[("limit", "100")]).await.ok();
    let mut types: Vec<String> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    types.reverse();
    types
}

async fn intent_count(sim: &Sim) -> usize {
    let list = sim
        .get("/v1/payment_intents", &[("limit", "100")])
        .await
        .ok();
    list["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_create_whose_confirmation_is_rejected_creates_nothing() {
    let sim = start().await;
    let owner = sim.customer("owner").await;
    let owned = sim
        .post(
            "/v1/payment_methods/pm_card_visa/attach",
            &[("customer", id(&owner))],
        )
        .await
        .ok();
    let events_before = event_types(&sim).await;
    let base = [("amount", "1299"), ("currency", "usd"), ("confirm", "true")];
    let rejected: [&[(&str, &str)]; 3] = [
        // A `card` PaymentMethod for a card-present intent.
        &[
            ("allowed_payment_method_types[]", "card_present"),
            ("payment_method", "pm_card_visa"),
            ("metadata[order]", "o-1"),
        ],
        // Another customer's PaymentMethod.
        &[("payment_method", id(&owned))],
        // Nothing to confirm with.
        &[("allowed_payment_method_types[]", "card")],
    ];
    for extra in rejected {
        let mut form = base.to_vec();
        form.extend_from_slice(extra);
        let answer = sim.post("/v1/payment_intents", &form).await;
        assert_eq!(answer.status, 400, "{extra:?}: {:#}", answer.body);
        assert!(answer.body["error"].get("payment_intent").is_none());
    }
    assert_eq!(intent_count(&sim).await, 0, "no orphan intent");
    assert_eq!(event_types(&sim).await, events_before, "no event");
    let search = sim
        .get(
            "/v1/payment_intents/search",
            &[("query", "metadata['order']:'o-1'")],
        )
        .await
        .ok();
    assert_eq!(search["data"], json!([]));

    // A decline is different: Stripe creates the intent and returns it inside the 402.
    let mut form = base.to_vec();
    form.push(("payment_method", "pm_card_chargeDeclined"));
    let declined = sim.post("/v1/payment_intents", &form).await;
    assert_eq!((declined.status, declined.code()), (402, "card_declined"));
    let pi = &declined.body["error"]["payment_intent"];
    assert_eq!(pi["status"], "requires_payment_method");
    let stored = sim
        .get(&format!("/v1/payment_intents/{}", id(pi)), &[])
        .await
        .ok();
    assert_eq!(stored["last_payment_error"]["code"], "card_declined");
    assert_eq!(intent_count(&sim).await, 1);
    let new_events = event_types(&sim).await[events_before.len()..].to_vec();
    assert_eq!(
        new_events,
        [
            "payment_intent.created",
            "charge.failed",
            "payment_intent.payment_failed"
        ]
    );
}

#[tokio::test]
async fn a_rejected_confirm_leaves_the_intent_unchanged() {
    let sim = start().await;
    let owner = sim.customer("owner").await;
    let owned = sim
        .post(
            "/v1/payment_methods/pm_card_visa/attach",
            &[("customer", id(&owner))],
        )
        .await
        .ok();
    let pi = sim.intent(&[]).await;
    let path = format!("/v1/payment_intents/{}", id(&pi));
    let before = sim.get(&path, &[]).await.ok();
    let events_before = event_types(&sim).await;
    let rejected: [&[(&str, &str)]; 3] = [
        &[("payment_method", "pm_card_visa")],
        &[
            ("payment_method", id(&owned)),
            ("allowed_payment_method_types[]", "card"),
            ("receipt_email", "a@example.com"),
            ("capture_method", "automatic"),
        ],
        &[("setup_future_usage", "off_session")],
    ];
    for form in rejected {
        let answer = sim.post(&format!("{path}/confirm"), form).await;
        assert_eq!(answer.status, 400, "{form:?}: {:#}", answer.body);
        assert_eq!(sim.get(&path, &[]).await.ok(), before, "after {form:?}");
    }
    assert_eq!(event_types(&sim).await, events_before);

    // The intent is still usable: a valid confirm goes through.
    let confirmed = sim
        .post(
            &format!("{path}/confirm"),
            &[
                ("payment_method", "pm_card_visa"),
                ("allowed_payment_method_types[]", "card"),
            ],
        )
        .await
        .ok();
    assert_eq!(confirmed["status"], "requires_capture");
}
