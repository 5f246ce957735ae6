//! Terminal objects and the server-driven reader flow.

use crate::{id, start, Answer, Sim};
use serde_json::json;

#[tokio::test]
async fn locations_readers_and_connection_tokens() {
    let sim = start().await;
    let missing = sim
        .post("/v1/terminal/locations", &[("display_name", "Shop")])
        .await;
    assert_eq!((missing.status, missing.code()), (400, "parameter_missing"));
    let loc = sim
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Shop"),
                ("address[line1]", "1 Main St"),
                ("address[city]", "Springfield"),
                ("address[country]", "US"),
                ("address[postal_code]", "12345"),
            ],
        )
        .await
        .ok();
    assert_eq!(loc["object"], "terminal.location");
    assert_eq!(loc["address"]["country"], "US");
    let reader = sim
        .post(
            "/v1/terminal/readers",
            &[
                ("registration_code", "simulated-wpe"),
                ("location", id(&loc)),
            ],
        )
        .await
        .ok();
    assert_eq!(reader["device_type"], "simulated_wisepos_e");
    assert_eq!(reader["label"], "simulated-wpe");
    assert_eq!(reader["location"], id(&loc));
    assert!(reader["action"].is_null());
    let bad = sim
        .post("/v1/terminal/readers", &[("registration_code", "nope")])
        .await;
    assert_eq!(
        (
            bad.status,
            bad.body["error"]["type"].as_str(),
            bad.body["error"]["param"].as_str()
        ),
        (
            400,
            Some("invalid_request_error"),
            Some("registration_code")
        )
    );
    assert!(
        bad.body["error"]["code"].is_null(),
        "Stripe has no error code for it: {}",
        bad.body
    );
    let listed = sim
        .get("/v1/terminal/readers", &[("location", id(&loc))])
        .await
        .ok();
    assert_eq!(listed["data"][0]["id"], id(&reader));
    let got = sim
        .get(
            &format!("/v1/terminal/readers/{}", id(&reader)),
            &[("expand[]", "location")],
        )
        .await
        .ok();
    assert_eq!(got["location"]["display_name"], "Shop");
    assert_eq!(
        sim.get("/v1/terminal/locations", &[]).await.ok()["data"][0]["id"],
        id(&loc)
    );
    let token = sim.post("/v1/terminal/connection_tokens", &[]).await.ok();
    assert!(token["secret"].as_str().unwrap().starts_with("pst_test_"));
    assert!(token.get("location").is_none());
    let scoped = sim
        .post("/v1/terminal/connection_tokens", &[("location", id(&loc))])
        .await
        .ok();
    assert_eq!(scoped["location"], id(&loc));
    assert_ne!(scoped["secret"], token["secret"]);
}

#[tokio::test]
async fn process_present_capture() {
    let sim = start().await;
    let pi = sim.intent(&[]).await;
    assert_eq!(pi["status"], "requires_payment_method");
    assert!(pi["client_secret"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}_secret_", id(&pi))));
    let reader = sim.reader().await;
    let rid = id(&reader).to_string();
    let early = sim
        .post(
            &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
            &[],
        )
        .await;
    assert_eq!(early.status, 400);
    let processing = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/process_payment_intent"),
            &[("payment_intent", id(&pi))],
        )
        .await
        .ok();
    assert_eq!(processing["action"]["status"], "in_progress");
    assert_eq!(processing["action"]["type"], "process_payment_intent");
    assert_eq!(
        processing["action"]["process_payment_intent"]["payment_intent"],
        id(&pi)
    );
    let busy = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/process_payment_intent"),
            &[("payment_intent", id(&pi))],
        )
        .await;
    assert_eq!((busy.status, busy.code()), (400, "terminal_reader_busy"));
    let done = sim
        .post(
            &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
            &[],
        )
        .await
        .ok();
    assert_eq!(done["action"]["status"], "succeeded");
    let pi = sim
        .get(
            &format!("/v1/payment_intents/{}", id(&pi)),
            &[("expand[]", "latest_charge")],
        )
        .await
        .ok();
    assert_eq!(pi["status"], "requires_capture");
    assert_eq!(pi["amount_capturable"], 1299);
    assert_eq!(pi["amount_received"], 0);
    let charge = &pi["latest_charge"];
    assert_eq!(charge["captured"], false);
    let card = &charge["payment_method_details"]["card_present"];
    assert_eq!(card["brand"], "visa");
    assert_eq!(card["last4"], "4242");
    assert_eq!(card["exp_month"], 12);
    assert_eq!(card["exp_year"], 2030);
    assert!(card["capture_before"].as_i64().unwrap() > pi["created"].as_i64().unwrap());
    assert!(
        card["generated_card"].is_null(),
        "no customer → no generated card"
    );
    // The card-present PaymentMethod is what the intent used.
    let pm = sim
        .get(
            &format!(
                "/v1/payment_methods/{}",
                charge["payment_method"].as_str().unwrap()
            ),
            &[],
        )
        .await
        .ok();
    assert_eq!(pm["type"], "card_present");
    assert_eq!(pm["card_present"]["fingerprint"], card["fingerprint"]);
}

#[tokio::test]
async fn declined_at_reader_then_another_card() {
    let sim = start().await;
    let pi = sim.intent(&[]).await;
    let (reader, after) = sim.pay_at_reader(id(&pi), "4000000000000002").await;
    assert_eq!(reader["action"]["status"], "failed");
    assert_eq!(reader["action"]["failure_code"], "card_declined");
    assert_eq!(after["status"], "requires_payment_method");
    assert_eq!(
        after["last_payment_error"]["decline_code"],
        "generic_decline"
    );
    assert_eq!(after["last_payment_error"]["type"], "card_error");
    assert_eq!(after["latest_charge"]["status"], "failed");
    assert!(after["payment_method"].is_null());
    let capture = sim
        .post(&format!("/v1/payment_intents/{}/capture", id(&pi)), &[])
        .await;
    assert_eq!(
        (capture.status, capture.code()),
        (400, "payment_intent_unexpected_state")
    );
    let (reader, after) = sim.pay_at_reader(id(&pi), "5555555555554444").await;
    assert_eq!(reader["action"]["status"], "succeeded");
    assert_eq!(after["status"], "requires_capture");
    assert!(after["last_payment_error"].is_null());
    assert_eq!(
        after["latest_charge"]["payment_method_details"]["card_present"]["brand"],
        "mastercard"
    );
}

#[tokio::test]
async fn decline_codes_of_test_cards() {
    let sim = start().await;
    for (number, code, decline) in [
        ("4000000000009995", "card_declined", "insufficient_funds"),
        ("4000000000000069", "expired_card", "expired_card"),
        ("4000000000000119", "processing_error", "processing_error"),
    ] {
        let pi = sim.intent(&[]).await;
        let (reader, after) = sim.pay_at_reader(id(&pi), number).await;
        assert_eq!(reader["action"]["failure_code"], code);
        assert_eq!(after["last_payment_error"]["code"], code);
        assert_eq!(after["last_payment_error"]["decline_code"], decline);
    }
}

#[tokio::test]
async fn cancel_action_and_automatic_capture() {
    let sim = start().await;
    let pi = sim.intent(&[("capture_method", "automatic")]).await;
    let reader = sim.reader().await;
    let rid = id(&reader).to_string();
    sim.post(
        &format!("/v1/terminal/readers/{rid}/process_payment_intent"),
        &[("payment_intent", id(&pi))],
    )
    .await
    .ok();
    let canceled = sim
        .post(&format!("/v1/terminal/readers/{rid}/cancel_action"), &[])
        .await
        .ok();
    assert!(canceled["action"].is_null());
    let again = sim
        .post(&format!("/v1/terminal/readers/{rid}/cancel_action"), &[])
        .await;
    assert_eq!(again.status, 400);
    let (_, after) = sim.pay_at_reader(id(&pi), "4242424242424242").await;
    assert_eq!(after["status"], "succeeded");
    assert_eq!(after["amount_received"], 1299);
    assert_eq!(after["latest_charge"]["captured"], true);
    assert_eq!(after["latest_charge"]["amount_captured"], 1299);
}

#[tokio::test]
async fn tips_and_interac() {
    let sim = start().await;
    let pi = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "cad"),
                ("allowed_payment_method_types[]", "card_present"),
                ("allowed_payment_method_types[]", "interac_present"),
                ("capture_method", "manual"),
            ],
        )
        .await
        .ok();
    // Tipping in CAD at the reader's location.
    let rid =
        crate::sale::tipping_reader(&sim, &[("tipping[cad][percentages][]", "15")], "CA").await;
    sim.post(
        &format!("/v1/terminal/readers/{rid}/process_payment_intent"),
        &[("payment_intent", id(&pi))],
    )
    .await
    .ok();
    sim.post(
        &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
        &[("type", "interac_present"), ("amount_tip", "150")],
    )
    .await
    .ok();
    let after = sim
        .get(
            &format!("/v1/payment_intents/{}", id(&pi)),
            &[("expand[]", "latest_charge")],
        )
        .await
        .ok();
    // Interac is single-message: captured at once whatever capture_method says.
    assert_eq!(after["status"], "succeeded");
    assert_eq!(after["amount"], 1150);
    assert_eq!(after["amount_details"]["tip"]["amount"], 150);
    assert_eq!(
        after["latest_charge"]["payment_method_details"]["type"],
        "interac_present"
    );
    let usd = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("allowed_payment_method_types[]", "interac_present"),
            ],
        )
        .await;
    assert_eq!(usd.status, 400);
}

/// Since 2024-09-30.acacia an intent with `setup_future_usage` needs the customer's consent at the
/// reader: `process_config[allow_redisplay]` `always` or `limited`; without it the reader takes
/// nothing (no action starts), and the consent given reaches the saved card.
#[tokio::test]
async fn allow_redisplay_is_required_to_save_the_card() {
    let sim = start().await;
    let customer = sim.customer("c-1").await;
    let pi = sim
        .intent(&[
            ("customer", id(&customer)),
            ("setup_future_usage", "off_session"),
        ])
        .await;
    let rid = id(&sim.reader().await).to_string();
    let path = format!("/v1/terminal/readers/{rid}/process_payment_intent");
    let missing = sim.post(&path, &[("payment_intent", id(&pi))]).await;
    assert_eq!(
        (
            missing.status,
            missing.body["error"]["type"].as_str(),
            missing.code(),
            missing.body["error"]["param"].as_str(),
            missing.body["error"]["message"].as_str(),
        ),
        (
            400,
            Some("invalid_request_error"),
            "parameter_missing",
            Some("process_config[allow_redisplay]"),
            Some("Missing required param: process_config[allow_redisplay]."),
        ),
        "{}",
        missing.body
    );
    let unspecified = sim
        .post(
            &path,
            &[
                ("payment_intent", id(&pi)),
                ("process_config[allow_redisplay]", "unspecified"),
            ],
        )
        .await;
    assert_eq!(
        (
            unspecified.status,
            unspecified.body["error"]["param"].as_str()
        ),
        (400, Some("process_config[allow_redisplay]")),
        "{}",
        unspecified.body
    );
    let idle = sim
        .get(&format!("/v1/terminal/readers/{rid}"), &[])
        .await
        .ok();
    assert!(idle["action"].is_null(), "{idle:#}");

    let processing = sim
        .post(
            &path,
            &[
                ("payment_intent", id(&pi)),
                ("process_config[allow_redisplay]", "limited"),
            ],
        )
        .await
        .ok();
    assert_eq!(processing["action"]["status"], "in_progress");
    sim.post(
        &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
        &[],
    )
    .await
    .ok();
    let paid = sim
        .get(
            &format!("/v1/payment_intents/{}", id(&pi)),
            &[("expand[]", "latest_charge")],
        )
        .await
        .ok();
    let saved = paid["latest_charge"]["payment_method_details"]["card_present"]["generated_card"]
        .as_str()
        .expect("a generated card");
    let card = sim
        .get(&format!("/v1/payment_methods/{saved}"), &[])
        .await
        .ok();
    assert_eq!(card["allow_redisplay"], "limited");
    assert_eq!(card["customer"], id(&customer));
}

/// Without `setup_future_usage` nothing is saved and `allow_redisplay` stays optional.
#[tokio::test]
async fn allow_redisplay_is_optional_without_setup_future_usage() {
    let sim = start().await;
    let customer = sim.customer("c-2").await;
    for extra in [vec![], vec![("customer", id(&customer))]] {
        let pi = sim.intent(&extra).await;
        let rid = id(&sim.reader().await).to_string();
        let processing = sim
            .post(
                &format!("/v1/terminal/readers/{rid}/process_payment_intent"),
                &[("payment_intent", id(&pi))],
            )
            .await
            .ok();
        assert_eq!(processing["action"]["status"], "in_progress");
    }
}

/// The ids of the readers `GET /v1/terminal/readers` lists for `query`.
async fn reader_ids(sim: &Sim, query: &[(&str, &str)]) -> Vec<String> {
    let page = sim.get("/v1/terminal/readers", query).await.ok();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// `POST /_sim/terminal/readers/{reader}/{to}` (`online` / `offline`).
async fn network(sim: &Sim, reader: &str, to: &str) -> Answer {
    sim.sim(
        reqwest::Method::POST,
        &format!("/_sim/terminal/readers/{reader}/{to}"),
        None,
    )
    .await
}

/// The fleet: a reader renamed (label, metadata), listed by location, status and device type,
/// deleted; a location deleted; both answer Stripe's deleted-object shape and are gone after.
#[tokio::test]
async fn readers_and_locations_are_updated_listed_and_deleted() {
    let sim = start().await;
    let loc = sim
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Kiosk"),
                ("address[line1]", "1 Main St"),
                ("address[country]", "US"),
            ],
        )
        .await
        .ok();
    let reader = sim
        .post(
            "/v1/terminal/readers",
            &[
                ("registration_code", "simulated-wpe"),
                ("location", id(&loc)),
            ],
        )
        .await
        .ok();
    let elsewhere = sim.reader().await;
    assert_eq!(reader["status"], "online");
    assert!(reader["last_seen_at"].as_i64().unwrap() > 1_000_000_000_000);
    for field in ["device_sw_version", "serial_number", "ip_address"] {
        assert!(reader[field].is_string(), "{field}: {reader:#}");
    }
    let path = format!("/v1/terminal/readers/{}", id(&reader));
    let renamed = sim
        .post(&path, &[("label", "Front till"), ("metadata[lane]", "1")])
        .await
        .ok();
    assert_eq!(
        (
            &renamed["label"],
            &renamed["metadata"]["lane"],
            &renamed["location"]
        ),
        (&json!("Front till"), &json!("1"), &loc["id"])
    );
    let moved = sim.post(&path, &[("location", id(&loc))]).await;
    assert_eq!(
        moved.status, 400,
        "location is no parameter of the update: {:#}",
        moved.body
    );

    let at = ("location", id(&loc));
    assert_eq!(reader_ids(&sim, &[at]).await, [id(&reader)]);
    assert_eq!(
        reader_ids(&sim, &[("status", "online")]).await,
        [id(&elsewhere), id(&reader)]
    );
    assert!(reader_ids(&sim, &[("status", "offline")]).await.is_empty());
    assert!(reader_ids(&sim, &[("device_type", "bbpos_wisepos_e")])
        .await
        .is_empty());
    assert_eq!(
        reader_ids(&sim, &[at, ("device_type", "simulated_wisepos_e")]).await,
        [id(&reader)]
    );
    let bad_status = sim
        .get("/v1/terminal/readers", &[("status", "napping")])
        .await;
    assert_eq!(bad_status.status, 400);

    let deleted = sim.delete(&path).await.ok();
    assert_eq!(
        deleted,
        json!({
            "id": id(&reader), "object": "terminal.reader", "deleted": true,
            "device_type": "simulated_wisepos_e", "serial_number": reader["serial_number"],
        })
    );
    assert_eq!(sim.get(&path, &[]).await.code(), "resource_missing");
    assert_eq!(sim.delete(&path).await.status, 404);
    let loc_path = format!("/v1/terminal/locations/{}", id(&loc));
    let deleted = sim.delete(&loc_path).await.ok();
    assert_eq!(
        deleted,
        json!({"id": id(&loc), "object": "terminal.location", "deleted": true})
    );
    assert_eq!(sim.get(&loc_path, &[]).await.status, 404);
    assert_eq!(sim.delete(&loc_path).await.status, 404);
    // Another account sees none of them.
    let other = sim.as_account("acct_other_fleet");
    assert_eq!(
        other
            .post(
                &format!("/v1/terminal/readers/{}", id(&elsewhere)),
                &[("label", "x")]
            )
            .await
            .status,
        404
    );
}

/// `/_sim/terminal/readers/{reader}/offline`: the reader shows `offline`, refuses server-driven
/// actions with `terminal_reader_offline` (no action starts), and keeps its `last_seen_at`; back
/// `online` it takes them again.
#[tokio::test]
async fn an_offline_reader_refuses_server_driven_actions() {
    let sim = start().await;
    let reader = sim.reader().await;
    let rid = id(&reader).to_string();
    let off = network(&sim, &rid, "offline").await.ok();
    assert_eq!(off["status"], "offline");
    let fetched = sim
        .get(&format!("/v1/terminal/readers/{rid}"), &[])
        .await
        .ok();
    assert_eq!(fetched["status"], "offline");
    assert_eq!(fetched["last_seen_at"], reader["last_seen_at"]);

    let pi = sim.intent(&[]).await;
    let refused = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/process_payment_intent"),
            &[("payment_intent", id(&pi))],
        )
        .await;
    assert_eq!(
        (
            refused.status,
            refused.code(),
            refused.body["error"]["type"].as_str()
        ),
        (
            400,
            "terminal_reader_offline",
            Some("invalid_request_error")
        )
    );
    let display = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/set_reader_display"),
            &[
                ("type", "cart"),
                ("cart[currency]", "usd"),
                ("cart[line_items][0][amount]", "100"),
                ("cart[line_items][0][description]", "Tea"),
                ("cart[line_items][0][quantity]", "1"),
                ("cart[total]", "100"),
            ],
        )
        .await;
    assert_eq!(display.code(), "terminal_reader_offline");
    let cancel = sim
        .post(&format!("/v1/terminal/readers/{rid}/cancel_action"), &[])
        .await;
    assert_eq!(cancel.code(), "terminal_reader_offline");
    let still = sim
        .get(&format!("/v1/terminal/readers/{rid}"), &[])
        .await
        .ok();
    assert!(still["action"].is_null(), "{still:#}");
    // Listed by status.
    let offline = sim
        .get("/v1/terminal/readers", &[("status", "offline")])
        .await
        .ok();
    assert_eq!(offline["data"][0]["id"], rid.as_str());

    let on = network(&sim, &rid, "online").await.ok();
    assert_eq!(on["status"], "online");
    assert!(on["last_seen_at"].as_i64() >= reader["last_seen_at"].as_i64());
    let taken = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/process_payment_intent"),
            &[("payment_intent", id(&pi))],
        )
        .await
        .ok();
    assert_eq!(taken["action"]["status"], "in_progress");
    assert_eq!(network(&sim, &rid, "napping").await.status, 404);
    assert_eq!(
        sim.sim(
            reqwest::Method::POST,
            "/_sim/terminal/readers/tmr_nope/offline",
            None
        )
        .await
        .status,
        404
    );
}

/// `collect_payment_method` reads the card and attaches it without confirming (the card shows in
/// the action for the till to inspect, the tip chosen is in the amount); `confirm_payment_intent`
/// then authorises it, and each end is a `terminal.reader.action_*` event.
#[tokio::test]
async fn collect_then_confirm_in_two_actions() {
    let sim = start().await;
    let pi = sim.intent(&[]).await;
    let rid = id(&sim.reader().await).to_string();
    let collect = |config: &'static [(&'static str, &'static str)]| {
        let sim = &sim;
        let (rid, pi) = (rid.clone(), id(&pi).to_string());
        async move {
            let mut form = vec![("payment_intent", pi.as_str())];
            form.extend_from_slice(config);
            sim.post(
                &format!("/v1/terminal/readers/{rid}/collect_payment_method"),
                &form,
            )
            .await
        }
    };
    let bad = collect(&[("collect_config[tipping][amount_eligible]", "0")]).await;
    assert_eq!(
        (bad.status, bad.body["error"]["param"].as_str()),
        (400, Some("collect_config[tipping][amount_eligible]"))
    );
    // Nothing collected yet: nothing to confirm.
    let confirm_path = format!("/v1/terminal/readers/{rid}/confirm_payment_intent");
    let confirm_form = [("payment_intent", id(&pi))];
    let confirm = || sim.post(&confirm_path, &confirm_form);
    let early = confirm().await;
    assert_eq!((early.status, early.code()), (400, "intent_invalid_state"));
    let collecting = collect(&[]).await.ok();
    assert_eq!(collecting["action"]["type"], "collect_payment_method");
    assert_eq!(collecting["action"]["status"], "in_progress");
    assert_eq!(
        collecting["action"]["collect_payment_method"]["payment_intent"],
        id(&pi)
    );
    assert!(collecting["action"]["collect_payment_method"]["payment_method"].is_null());
    let busy = confirm().await;
    assert_eq!((busy.status, busy.code()), (400, "terminal_reader_busy"));

    let collected = sim
        .post(
            &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
            &[("card_present[number]", "4111111111111111")],
        )
        .await
        .ok();
    assert_eq!(collected["action"]["status"], "succeeded");
    let card = &collected["action"]["collect_payment_method"]["payment_method"];
    assert_eq!(card["type"], "card_present");
    assert_eq!(card["card_present"]["last4"], "1111");
    assert_eq!(card["card_present"]["wallet"]["type"], "apple_pay");
    let intent = sim
        .get(&format!("/v1/payment_intents/{}", id(&pi)), &[])
        .await
        .ok();
    assert_eq!(intent["status"], "requires_confirmation");
    assert_eq!(intent["payment_method"], card["id"]);
    assert!(intent["latest_charge"].is_null(), "not authorised yet");

    let confirmed = confirm().await.ok();
    assert_eq!(confirmed["action"]["type"], "confirm_payment_intent");
    assert_eq!(confirmed["action"]["status"], "succeeded");
    let intent = sim
        .get(
            &format!("/v1/payment_intents/{}", id(&pi)),
            &[("expand[]", "latest_charge")],
        )
        .await
        .ok();
    assert_eq!(intent["status"], "requires_capture");
    assert_eq!(
        intent["latest_charge"]["payment_method_details"]["card_present"]["reader"],
        rid.as_str()
    );
    let events = sim
        .get(
            "/v1/events",
            &[("type", "terminal.reader.action_succeeded")],
        )
        .await
        .ok();
    let kinds: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["object"]["action"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["confirm_payment_intent", "collect_payment_method"]);
}

/// A card that declines at confirmation: the confirm action fails with Stripe's code and message
/// (`terminal.reader.action_failed`), and the intent awaits another card.
#[tokio::test]
async fn a_collected_card_declined_at_confirmation() {
    let sim = start().await;
    let pi = sim.intent(&[]).await;
    let rid = id(&sim.reader().await).to_string();
    sim.post(
        &format!("/v1/terminal/readers/{rid}/collect_payment_method"),
        &[("payment_intent", id(&pi))],
    )
    .await
    .ok();
    sim.post(
        &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
        &[("card_present[number]", "4000000000009995")],
    )
    .await
    .ok();
    let failed = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/confirm_payment_intent"),
            &[("payment_intent", id(&pi))],
        )
        .await
        .ok();
    assert_eq!(failed["action"]["status"], "failed");
    assert_eq!(failed["action"]["failure_code"], "card_declined");
    assert_eq!(
        failed["action"]["failure_message"],
        "Your card has insufficient funds."
    );
    let intent = sim
        .get(&format!("/v1/payment_intents/{}", id(&pi)), &[])
        .await
        .ok();
    assert_eq!(intent["status"], "requires_payment_method");
    let events = sim
        .get("/v1/events", &[("type", "terminal.reader.action_failed")])
        .await
        .ok();
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
}

/// A splash screen: a `terminal_reader_splashscreen` File (JPEG or PNG less than 2 MB, GIF less
/// than 4 MB) set as a configuration's `bbpos_wisepos_e[splashscreen]`, and unset with an empty
/// value; a file of another purpose, another image type or a missing file are refused.
#[tokio::test]
async fn a_configurations_splash_screen_is_a_splashscreen_file() {
    use crate::disputes::upload;
    let sim = start().await;
    let png = |size: usize| {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.resize(size, 0);
        bytes
    };
    let file = upload(&sim, "terminal_reader_splashscreen", "logo.png", &png(100))
        .await
        .ok();
    assert_eq!(file["purpose"], "terminal_reader_splashscreen");
    assert_eq!(file["type"], "png");
    let too_big = upload(
        &sim,
        "terminal_reader_splashscreen",
        "big.png",
        &png(2 * 1024 * 1024),
    )
    .await;
    assert_eq!(
        (too_big.status, too_big.body["error"]["param"].as_str()),
        (400, Some("file"))
    );
    let mut gif = b"GIF89a".to_vec();
    gif.resize(3 * 1024 * 1024, 0);
    let gif = upload(&sim, "terminal_reader_splashscreen", "logo.gif", &gif)
        .await
        .ok();
    assert_eq!(gif["type"], "gif");
    let pdf = upload(&sim, "terminal_reader_splashscreen", "a.pdf", b"%PDF-1.4 x").await;
    assert_eq!(pdf.status, 400);
    let evidence = upload(&sim, "dispute_evidence", "e.png", &png(100))
        .await
        .ok();

    let configuration = sim
        .post(
            "/v1/terminal/configurations",
            &[("bbpos_wisepos_e[splashscreen]", id(&file))],
        )
        .await
        .ok();
    assert_eq!(configuration["bbpos_wisepos_e"]["splashscreen"], id(&file));
    let path = format!("/v1/terminal/configurations/{}", id(&configuration));
    let wrong = sim
        .post(&path, &[("bbpos_wisepos_e[splashscreen]", id(&evidence))])
        .await;
    assert_eq!(
        (wrong.status, wrong.body["error"]["param"].as_str()),
        (400, Some("bbpos_wisepos_e[splashscreen]"))
    );
    let missing = sim
        .post(&path, &[("bbpos_wisepos_e[splashscreen]", "file_nope")])
        .await;
    assert_eq!((missing.status, missing.code()), (400, "resource_missing"));
    let other_setting = sim
        .post(&path, &[("verifone_p400[splashscreen]", id(&file))])
        .await;
    assert_eq!(other_setting.status, 400);
    let replaced = sim
        .post(&path, &[("bbpos_wisepos_e[splashscreen]", id(&gif))])
        .await
        .ok();
    assert_eq!(replaced["bbpos_wisepos_e"]["splashscreen"], id(&gif));
    let unset = sim
        .post(&path, &[("bbpos_wisepos_e[splashscreen]", "")])
        .await
        .ok();
    assert!(unset["bbpos_wisepos_e"].is_null(), "{unset}");
}
