//! A complete sale at the counter: receipt data per test card (and Interac), Terminal
//! Configurations and tipping on the reader, overcapture (on-receipt tips), incremental and
//! extended authorisations, the cart on the reader's screen — and their failure cases.

use crate::{id, start, Sim};
use reqwest::Method;
use serde_json::Value;

/// A reader at a location in `country` whose configuration has the given `tipping[…]` parameters.
pub async fn tipping_reader(sim: &Sim, tipping: &[(&str, &str)], country: &str) -> String {
    let configuration = sim.post("/v1/terminal/configurations", tipping).await.ok();
    let location = sim
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Bar"),
                ("address[country]", country),
                ("configuration_overrides", id(&configuration)),
            ],
        )
        .await
        .ok();
    let reader = sim
        .post(
            "/v1/terminal/readers",
            &[
                ("registration_code", "simulated-wpe"),
                ("location", id(&location)),
            ],
        )
        .await
        .ok();
    id(&reader).to_string()
}

const USD_TIPPING: &[(&str, &str)] = &[
    ("tipping[usd][fixed_amounts][]", "100"),
    ("tipping[usd][fixed_amounts][]", "200"),
    ("tipping[usd][percentages][]", "15"),
    ("tipping[usd][percentages][]", "20"),
    ("tipping[usd][smart_tip_threshold]", "1000"),
];

async fn process(sim: &Sim, rid: &str, pi: &str, config: &[(&str, &str)]) -> Value {
    let mut form = vec![("payment_intent", pi)];
    form.extend_from_slice(config);
    sim.post(
        &format!("/v1/terminal/readers/{rid}/process_payment_intent"),
        &form,
    )
    .await
    .ok()
}

async fn present(sim: &Sim, rid: &str, form: &[(&str, &str)]) -> crate::Answer {
    sim.post(
        &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
        form,
    )
    .await
}

async fn screen(sim: &Sim, rid: &str) -> Value {
    sim.sim(
        Method::GET,
        &format!("/_sim/terminal/readers/{rid}/screen"),
        None,
    )
    .await
    .ok()
}

async fn intent_with_charge(sim: &Sim, pi: &str) -> Value {
    sim.get(
        &format!("/v1/payment_intents/{pi}"),
        &[("expand[]", "latest_charge")],
    )
    .await
    .ok()
}

fn is_hex(s: &Value, len: usize) -> bool {
    s.as_str()
        .is_some_and(|s| s.len() == len && s.chars().all(|c| c.is_ascii_hexdigit()))
}

/// What a card's payment must show on its receipt.
struct Receipt {
    number: &'static str,
    brand: &'static str,
    funding: &'static str,
    read_method: &'static str,
    name: Option<&'static str>,
    aid: &'static str,
    app: &'static str,
    account: &'static str,
    cvm: &'static str,
}

#[tokio::test]
async fn receipt_data_per_test_card() {
    let sim = start().await;
    let cards = [
        Receipt {
            number: "4242424242424242",
            brand: "visa",
            funding: "credit",
            read_method: "contact_emv",
            name: None,
            aid: "A0000000031010",
            app: "VISA CREDIT",
            account: "credit",
            cvm: "none",
        },
        Receipt {
            number: "5555555555554444",
            brand: "mastercard",
            funding: "credit",
            read_method: "contact_emv",
            name: Some("MASTERCARD/TEST"),
            aid: "A0000000041010",
            app: "MASTERCARD",
            account: "credit",
            cvm: "signature",
        },
        Receipt {
            number: "4001007020000002",
            brand: "visa",
            funding: "credit",
            read_method: "contact_emv",
            name: Some("CUSTOMER/VALUED"),
            aid: "A0000000031010",
            app: "VISA CREDIT",
            account: "credit",
            cvm: "offline_pin",
        },
        Receipt {
            number: "5200828282828210",
            brand: "mastercard",
            funding: "debit",
            read_method: "contact_emv",
            name: None,
            aid: "A0000000043060",
            app: "DEBIT MASTERCARD",
            account: "checking",
            cvm: "online_pin",
        },
        Receipt {
            number: "5105105105105100",
            brand: "mastercard",
            funding: "prepaid",
            read_method: "contact_emv",
            name: None,
            aid: "A0000000041010",
            app: "MASTERCARD",
            account: "prepaid",
            cvm: "none",
        },
        Receipt {
            number: "4111111111111111",
            brand: "visa",
            funding: "credit",
            read_method: "contactless_emv",
            name: None,
            aid: "A0000000031010",
            app: "VISA CREDIT",
            account: "credit",
            cvm: "none",
        },
    ];
    for expected in &cards {
        let Receipt {
            number,
            brand,
            funding,
            read_method,
            name,
            aid,
            app,
            account,
            cvm,
        } = expected;
        let pi = sim.intent(&[]).await;
        let (_, after) = sim.pay_at_reader(id(&pi), number).await;
        let charge = &after["latest_charge"];
        assert_eq!(charge["status"], "succeeded", "{number}");
        assert_eq!(
            charge["receipt_url"],
            format!("{}/_sim/receipts/{}", sim.base, id(charge)).as_str(),
            "{number}"
        );
        let card = &charge["payment_method_details"]["card_present"];
        assert_eq!(card["brand"], *brand, "{number}");
        assert_eq!(card["last4"], number[number.len() - 4..], "{number}");
        assert_eq!(card["funding"], *funding, "{number}");
        assert_eq!(card["read_method"], *read_method, "{number}");
        assert_eq!(card["cardholder_name"].as_str(), *name, "{number}");
        assert!(card["reader"].as_str().unwrap().starts_with("tmr_"));
        let receipt = &card["receipt"];
        assert_eq!(receipt["dedicated_file_name"], *aid, "{number}");
        assert_eq!(receipt["application_preferred_name"], *app, "{number}");
        assert_eq!(receipt["account_type"], *account, "{number}");
        assert_eq!(receipt["cardholder_verification_method"], *cvm, "{number}");
        assert_eq!(receipt["authorization_response_code"], "3030");
        let code = receipt["authorization_code"].as_str().unwrap();
        assert!(code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()));
        assert!(is_hex(&receipt["application_cryptogram"], 16), "{receipt}");
        assert!(is_hex(&receipt["terminal_verification_results"], 10));
        assert!(is_hex(&receipt["transaction_status_information"], 4));
        let tvr = if *cvm == "online_pin" {
            "0000040000"
        } else {
            "0000000000"
        };
        assert_eq!(receipt["terminal_verification_results"], tvr, "{number}");
        let tsi = if *read_method == "contactless_emv" {
            "0000"
        } else {
            "E800"
        };
        assert_eq!(receipt["transaction_status_information"], tsi);
    }
    // Two payments with the same card have different cryptograms and authorization codes.
    let a = sim.intent(&[]).await;
    let b = sim.intent(&[]).await;
    let (_, a) = sim.pay_at_reader(id(&a), "4242424242424242").await;
    let (_, b) = sim.pay_at_reader(id(&b), "4242424242424242").await;
    let receipt = |pi: &Value| {
        pi["latest_charge"]["payment_method_details"]["card_present"]["receipt"].clone()
    };
    assert_ne!(
        receipt(&a)["application_cryptogram"],
        receipt(&b)["application_cryptogram"]
    );
    // A declined card gets no receipt page; an unknown number is refused, naming the parameter.
    let declined = sim.intent(&[]).await;
    let (reader, after) = sim.pay_at_reader(id(&declined), "4000000000000002").await;
    assert_eq!(reader["action"]["status"], "failed");
    assert!(after["latest_charge"]["receipt_url"].is_null());
    let pi = sim.intent(&[]).await;
    let rid = id(&sim.reader().await).to_string();
    process(&sim, &rid, id(&pi), &[]).await;
    let unknown = present(&sim, &rid, &[("card_present[number]", "4000000000001234")]).await;
    assert_eq!(
        (
            unknown.status,
            unknown.code(),
            unknown.body["error"]["param"].as_str()
        ),
        (400, "incorrect_number", Some("card_present[number]"))
    );
}

#[tokio::test]
async fn interac_receipt() {
    let sim = start().await;
    let pi = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2500"),
                ("currency", "cad"),
                ("allowed_payment_method_types[]", "interac_present"),
            ],
        )
        .await
        .ok();
    let rid = id(&sim.reader().await).to_string();
    process(&sim, &rid, id(&pi), &[]).await;
    present(&sim, &rid, &[("type", "interac_present")])
        .await
        .ok();
    let after = intent_with_charge(&sim, id(&pi)).await;
    assert_eq!(after["status"], "succeeded");
    let card = &after["latest_charge"]["payment_method_details"]["interac_present"];
    assert_eq!(card["brand"], "interac");
    assert_eq!(card["last4"], "1933");
    assert_eq!(card["funding"], "debit");
    assert_eq!(card["cardholder_name"], "INTERAC/TEST");
    assert_eq!(card["read_method"], "contact_emv");
    assert_eq!(card["receipt"]["account_type"], "checking");
    assert_eq!(card["receipt"]["dedicated_file_name"], "A0000002771010");
    assert_eq!(card["receipt"]["application_preferred_name"], "Interac");
    assert_eq!(
        card["receipt"]["cardholder_verification_method"],
        "online_pin"
    );
    assert!(after["latest_charge"]["receipt_url"].is_string());
    // A card that is not Interac cannot be presented as interac_present.
    let pi = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2500"),
                ("currency", "cad"),
                ("allowed_payment_method_types[]", "interac_present"),
            ],
        )
        .await
        .ok();
    process(&sim, &rid, id(&pi), &[]).await;
    let wrong = present(
        &sim,
        &rid,
        &[
            ("type", "interac_present"),
            ("interac_present[number]", "4242424242424242"),
        ],
    )
    .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.body["error"]["param"], "interac_present[number]");
}

#[tokio::test]
async fn terminal_configurations_crud() {
    let sim = start().await;
    let created = sim
        .post(
            "/v1/terminal/configurations",
            &[USD_TIPPING, &[("name", "Bar")]].concat(),
        )
        .await
        .ok();
    let cid = id(&created).to_string();
    assert!(cid.starts_with("tmc_"));
    assert_eq!(created["object"], "terminal.configuration");
    assert_eq!(created["name"], "Bar");
    assert_eq!(created["is_account_default"], false);
    let usd = &created["tipping"]["usd"];
    assert_eq!(usd["fixed_amounts"], serde_json::json!([100, 200]));
    assert_eq!(usd["percentages"], serde_json::json!([15, 20]));
    assert_eq!(usd["smart_tip_threshold"], 1000);
    let path = format!("/v1/terminal/configurations/{cid}");
    assert_eq!(sim.get(&path, &[]).await.ok(), created);
    let updated = sim
        .post(
            &path,
            &[("tipping[eur][percentages][]", "10"), ("name", "Terrace")],
        )
        .await
        .ok();
    assert_eq!(updated["name"], "Terrace");
    assert_eq!(
        updated["tipping"]["eur"]["percentages"],
        serde_json::json!([10])
    );
    assert!(updated["tipping"]["usd"].is_null(), "tipping is replaced");
    let cleared = sim.post(&path, &[("tipping", "")]).await.ok();
    assert!(cleared["tipping"].is_null());
    let listed = sim.get("/v1/terminal/configurations", &[]).await.ok();
    assert_eq!(listed["data"][0]["id"], cid.as_str());
    // A location uses it; deleting it takes it off the location.
    let location = sim
        .post(
            "/v1/terminal/locations",
            &[("display_name", "Bar"), ("address[country]", "US")],
        )
        .await
        .ok();
    let lpath = format!("/v1/terminal/locations/{}", id(&location));
    let assigned = sim
        .post(&lpath, &[("configuration_overrides", &cid)])
        .await
        .ok();
    assert_eq!(assigned["configuration_overrides"], cid.as_str());
    assert_eq!(assigned["display_name"], "Bar");
    let deleted = sim.delete(&path).await.ok();
    assert_eq!(deleted["deleted"], true);
    assert_eq!(sim.get(&path, &[]).await.status, 404);
    assert!(sim.get(&lpath, &[]).await.ok()["configuration_overrides"].is_null());
    let gone = sim.delete(&path).await;
    assert_eq!((gone.status, gone.code()), (404, "resource_missing"));
}

#[tokio::test]
async fn terminal_configuration_errors() {
    let sim = start().await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[
                ("tipping[usd][percentages][]", "5"),
                ("tipping[usd][percentages][]", "10"),
                ("tipping[usd][percentages][]", "15"),
                ("tipping[usd][percentages][]", "20"),
            ],
            "tipping[usd][percentages]",
        ),
        (
            &[("tipping[usd][percentages][]", "101")],
            "tipping[usd][percentages][0]",
        ),
        (
            &[
                ("tipping[usd][percentages][]", "15"),
                ("tipping[usd][smart_tip_threshold]", "1000"),
            ],
            "tipping[usd][smart_tip_threshold]",
        ),
        (&[("offline[enabled]", "true")], "offline"),
        (
            &[("tipping[usd][percentages][]", "ten")],
            "tipping[usd][percentages][]",
        ),
    ];
    for (form, param) in cases {
        let answer = sim.post("/v1/terminal/configurations", form).await;
        assert_eq!(answer.status, 400, "{form:?}: {}", answer.body);
        assert_eq!(answer.body["error"]["type"], "invalid_request_error");
        assert_eq!(answer.body["error"]["param"], *param, "{form:?}");
    }
    let missing = sim
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", "Bar"),
                ("address[country]", "US"),
                ("configuration_overrides", "tmc_missing"),
            ],
        )
        .await;
    assert_eq!(
        (
            missing.status,
            missing.code(),
            missing.body["error"]["param"].as_str()
        ),
        (400, "resource_missing", Some("configuration_overrides"))
    );
    let no_location = sim
        .post(
            "/v1/terminal/locations/tml_missing",
            &[("display_name", "x")],
        )
        .await;
    assert_eq!(
        (no_location.status, no_location.code()),
        (404, "resource_missing")
    );
}

#[tokio::test]
async fn tip_chosen_on_the_reader() {
    let sim = start().await;
    let rid = tipping_reader(&sim, USD_TIPPING, "US").await;
    let pi = sim.intent(&[]).await;
    let reader = process(&sim, &rid, id(&pi), &[]).await;
    assert_eq!(
        reader["action"]["process_payment_intent"]["process_config"]["skip_tipping"],
        false
    );
    // Above the smart-tip threshold the reader suggests percentages of the amount.
    let shown = screen(&sim, &rid).await;
    assert_eq!(shown["screen"], "tipping");
    assert_eq!(shown["amount"], 1299);
    assert_eq!(shown["tip_options"][0]["percentage"], 15);
    assert_eq!(shown["tip_options"][0]["amount"], 195);
    assert_eq!(shown["tip_options"][1]["amount"], 260);
    // The customer picks 15%.
    let done = present(&sim, &rid, &[("amount_tip", "195")]).await.ok();
    assert_eq!(done["action"]["status"], "succeeded");
    let after = intent_with_charge(&sim, id(&pi)).await;
    assert_eq!(after["amount"], 1494);
    assert_eq!(after["amount_details"]["tip"]["amount"], 195);
    assert_eq!(after["amount_capturable"], 1494);
    let charge = &after["latest_charge"];
    assert_eq!(charge["amount"], 1494);
    assert_eq!(
        charge["payment_method_details"]["card_present"]["amount_authorized"],
        1494
    );
    assert_eq!(screen(&sim, &rid).await["screen"], "idle");

    // A smaller tip-eligible amount (below the threshold): fixed amounts.
    let pi = sim.intent(&[]).await;
    let reader = process(
        &sim,
        &rid,
        id(&pi),
        &[("process_config[tipping][amount_eligible]", "800")],
    )
    .await;
    assert_eq!(
        reader["action"]["process_payment_intent"]["process_config"]["tipping"]["amount_eligible"],
        800
    );
    let shown = screen(&sim, &rid).await;
    assert_eq!(shown["tip_options"][0]["type"], "fixed_amount");
    assert_eq!(shown["tip_options"][1]["amount"], 200);
    // "No tip".
    present(&sim, &rid, &[("amount_tip", "0")]).await.ok();
    let after = sim
        .get(&format!("/v1/payment_intents/{}", id(&pi)), &[])
        .await
        .ok();
    assert_eq!(after["amount"], 1299);
    assert!(after["amount_details"]["tip"]["amount"].is_null());
}

#[tokio::test]
async fn no_tip_without_a_tipping_screen() {
    let sim = start().await;
    let rid = tipping_reader(&sim, USD_TIPPING, "US").await;
    // skip_tipping: the reader goes straight to the card.
    let pi = sim.intent(&[]).await;
    process(
        &sim,
        &rid,
        id(&pi),
        &[("process_config[skip_tipping]", "true")],
    )
    .await;
    assert_eq!(screen(&sim, &rid).await["screen"], "collect_payment_method");
    let refused = present(&sim, &rid, &[("amount_tip", "100")]).await;
    assert_eq!(
        (
            refused.status,
            refused.body["error"]["type"].as_str(),
            refused.body["error"]["param"].as_str()
        ),
        (400, Some("invalid_request_error"), Some("amount_tip"))
    );
    // Nothing happened: the card can still be presented.
    present(&sim, &rid, &[]).await.ok();
    // No configuration for the currency (EUR here, the location tips in USD).
    let eur = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "eur"),
                ("allowed_payment_method_types[]", "card_present"),
            ],
        )
        .await
        .ok();
    process(&sim, &rid, id(&eur), &[]).await;
    assert!(screen(&sim, &rid).await["tip_options"].is_null());
    assert_eq!(
        present(&sim, &rid, &[("amount_tip", "100")]).await.status,
        400
    );
    // The refused tip left the payment waiting for a card.
    sim.post(&format!("/v1/terminal/readers/{rid}/cancel_action"), &[])
        .await
        .ok();
    // A reader without a location: no tipping either.
    let plain = id(&sim.reader().await).to_string();
    let pi = sim.intent(&[]).await;
    process(&sim, &plain, id(&pi), &[]).await;
    assert_eq!(
        present(&sim, &plain, &[("amount_tip", "100")]).await.status,
        400
    );
    // Bad values.
    let pi = sim.intent(&[]).await;
    let bad = sim
        .post(
            &format!("/v1/terminal/readers/{rid}/process_payment_intent"),
            &[
                ("payment_intent", id(&pi)),
                ("process_config[tipping][amount_eligible]", "0"),
            ],
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["error"]["param"].as_str()),
        (400, Some("process_config[tipping][amount_eligible]"))
    );
    process(&sim, &rid, id(&pi), &[]).await;
    let negative = present(&sim, &rid, &[("amount_tip", "-5")]).await;
    assert_eq!(
        (negative.status, negative.body["error"]["param"].as_str()),
        (400, Some("amount_tip"))
    );
    let too_much = present(&sim, &rid, &[("amount_tip", "99999999")]).await;
    assert_eq!(
        (too_much.status, too_much.code()),
        (400, "amount_too_large")
    );
    // A declined card leaves the amount as it was before the tip.
    let declined = present(
        &sim,
        &rid,
        &[
            ("amount_tip", "300"),
            ("card_present[number]", "4000000000000002"),
        ],
    )
    .await
    .ok();
    assert_eq!(declined["action"]["status"], "failed");
    let after = sim
        .get(&format!("/v1/payment_intents/{}", id(&pi)), &[])
        .await
        .ok();
    assert_eq!(after["amount"], 1299);
    assert_eq!(after["status"], "requires_payment_method");
}

#[tokio::test]
async fn overcapture_within_limits() {
    let sim = start().await;
    let pi = sim.intent(&[]).await;
    let (_, after) = sim.pay_at_reader(id(&pi), "4242424242424242").await;
    let card = &after["latest_charge"]["payment_method_details"]["card_present"];
    assert_eq!(card["overcapture_supported"], true);
    // A $5.01 tip on receipt.
    let captured = sim
        .post(
            &format!("/v1/payment_intents/{}/capture", id(&pi)),
            &[("amount_to_capture", "1800"), ("expand[]", "latest_charge")],
        )
        .await
        .ok();
    assert_eq!(captured["status"], "succeeded");
    assert_eq!(captured["amount"], 1800);
    assert_eq!(captured["amount_received"], 1800);
    let charge = &captured["latest_charge"];
    assert_eq!(charge["amount"], 1800);
    assert_eq!(charge["amount_captured"], 1800);
    assert_eq!(
        charge["payment_method_details"]["card_present"]["amount_authorized"],
        1299
    );
    // The limit is 50% of the authorized amount or $50 above it, whichever is greater.
    let big = sim.intent(&[("amount", "20000")]).await;
    sim.pay_at_reader(id(&big), "5555555555554444").await;
    let path = format!("/v1/payment_intents/{}/capture", id(&big));
    let over = sim.post(&path, &[("amount_to_capture", "30001")]).await;
    assert_eq!(
        (
            over.status,
            over.code(),
            over.body["error"]["param"].as_str()
        ),
        (400, "amount_too_large", Some("amount_to_capture"))
    );
    assert_eq!(
        sim.post(&path, &[("amount_to_capture", "30000")])
            .await
            .ok()["amount_received"],
        30000
    );
    let small = sim.intent(&[]).await;
    sim.pay_at_reader(id(&small), "378282246310005").await;
    let path = format!("/v1/payment_intents/{}/capture", id(&small));
    assert_eq!(
        sim.post(&path, &[("amount_to_capture", "6300")])
            .await
            .code(),
        "amount_too_large"
    );
    assert_eq!(
        sim.post(&path, &[("amount_to_capture", "6299")]).await.ok()["amount_received"],
        6299
    );
}

#[tokio::test]
async fn overcapture_refused_where_unsupported() {
    let sim = start().await;
    // A JCB card (no overcapture), automatic capture, a currency other than USD.
    let jcb = sim.intent(&[]).await;
    let (_, after) = sim.pay_at_reader(id(&jcb), "3566002020360505").await;
    let card = &after["latest_charge"]["payment_method_details"]["card_present"];
    assert_eq!(card["overcapture_supported"], false);
    let refused = sim
        .post(
            &format!("/v1/payment_intents/{}/capture", id(&jcb)),
            &[("amount_to_capture", "1300")],
        )
        .await;
    assert_eq!(
        (
            refused.status,
            refused.code(),
            refused.body["error"]["param"].as_str()
        ),
        (400, "amount_too_large", Some("amount_to_capture"))
    );
    let unchanged = sim
        .get(&format!("/v1/payment_intents/{}", id(&jcb)), &[])
        .await
        .ok();
    assert_eq!(
        (unchanged["status"].as_str(), unchanged["amount"].as_i64()),
        (Some("requires_capture"), Some(1299))
    );
    let automatic = sim.intent(&[("capture_method", "automatic")]).await;
    let (_, after) = sim.pay_at_reader(id(&automatic), "4242424242424242").await;
    let card = &after["latest_charge"]["payment_method_details"]["card_present"];
    assert_eq!(card["overcapture_supported"], false);
    assert!(card["capture_before"].is_null());
    let eur = sim.intent(&[("currency", "eur")]).await;
    let (_, after) = sim.pay_at_reader(id(&eur), "4242424242424242").await;
    assert_eq!(
        after["latest_charge"]["payment_method_details"]["card_present"]["overcapture_supported"],
        false
    );
    // Stripe has no request_overcapture option for card_present.
    let unknown = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("allowed_payment_method_types[]", "card_present"),
                (
                    "payment_method_options[card_present][request_overcapture]",
                    "if_available",
                ),
            ],
        )
        .await;
    assert_eq!((unknown.status, unknown.code()), (400, "parameter_unknown"));
}

#[tokio::test]
async fn increments_up_to_the_attempt_limit() {
    let sim = start().await;
    let pi = sim
        .intent(&[(
            "payment_method_options[card_present][request_incremental_authorization_support]",
            "true",
        )])
        .await;
    let (_, after) = sim.pay_at_reader(id(&pi), "4242424242424242").await;
    assert_eq!(
        after["latest_charge"]["payment_method_details"]["card_present"]
            ["incremental_authorization_supported"],
        true
    );
    let path = format!("/v1/payment_intents/{}/increment_authorization", id(&pi));
    // Not more than the current amount.
    let same = sim.post(&path, &[("amount", "1299")]).await;
    assert_eq!(
        (same.status, same.body["error"]["param"].as_str()),
        (400, Some("amount"))
    );
    for i in 1..=10 {
        let amount = (1299 + 100 * i).to_string();
        let raised = sim.post(&path, &[("amount", &amount)]).await.ok();
        assert_eq!(raised["amount"], 1299 + 100 * i);
        assert_eq!(raised["amount_capturable"], 1299 + 100 * i);
    }
    let eleventh = sim.post(&path, &[("amount", "5000")]).await;
    assert_eq!(eleventh.status, 400);
    assert_eq!(eleventh.body["error"]["type"], "invalid_request_error");
    assert!(eleventh.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("10"));
    let after = intent_with_charge(&sim, id(&pi)).await;
    assert_eq!(after["amount"], 2299);
    assert_eq!(
        after["latest_charge"]["payment_method_details"]["card_present"]["amount_authorized"],
        2299
    );
    let captured = sim
        .post(&format!("/v1/payment_intents/{}/capture", id(&pi)), &[])
        .await
        .ok();
    assert_eq!(captured["amount_received"], 2299);
    assert_eq!(
        sim.post(&path, &[("amount", "3000")]).await.code(),
        "payment_intent_unexpected_state"
    );
}

#[tokio::test]
async fn declined_increment_and_ineligible_cards() {
    let sim = start().await;
    let request = [(
        "payment_method_options[card_present][request_incremental_authorization_support]",
        "true",
    )];
    let pi = sim.intent(&request).await;
    sim.pay_at_reader(id(&pi), "4000000000000341").await;
    let path = format!("/v1/payment_intents/{}/increment_authorization", id(&pi));
    let declined = sim.post(&path, &[("amount", "2000")]).await;
    assert_eq!(
        (
            declined.status,
            declined.body["error"]["type"].as_str(),
            declined.code(),
            declined.body["error"]["decline_code"].as_str()
        ),
        (
            402,
            Some("card_error"),
            "card_declined",
            Some("generic_decline")
        )
    );
    assert_eq!(declined.body["error"]["payment_intent"]["amount"], 1299);
    let after = intent_with_charge(&sim, id(&pi)).await;
    assert_eq!(after["status"], "requires_capture");
    assert_eq!(after["amount_capturable"], 1299);
    assert_eq!(after["latest_charge"]["amount"], 1299);
    // Declines count as attempts: nine more, then the limit.
    for _ in 0..9 {
        assert_eq!(sim.post(&path, &[("amount", "2000")]).await.status, 402);
    }
    assert_eq!(sim.post(&path, &[("amount", "2000")]).await.status, 400);
    // Amex offers no incremental authorization; without the request no card does.
    for (card, extra) in [
        ("378282246310005", &request[..]),
        ("4242424242424242", &[][..]),
    ] {
        let pi = sim.intent(extra).await;
        let (_, after) = sim.pay_at_reader(id(&pi), card).await;
        assert_eq!(
            after["latest_charge"]["payment_method_details"]["card_present"]
                ["incremental_authorization_supported"],
            false,
            "{card}"
        );
        let refused = sim
            .post(
                &format!("/v1/payment_intents/{}/increment_authorization", id(&pi)),
                &[("amount", "2000")],
            )
            .await;
        assert_eq!(refused.status, 400, "{card}");
        assert_eq!(refused.body["error"]["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn extended_authorization_capture_before() {
    let sim = start().await;
    let day = 24 * 3600;
    let capture_before = |pi: &Value| {
        let card = &pi["latest_charge"]["payment_method_details"]["card_present"];
        card["capture_before"].as_i64().unwrap() - pi["latest_charge"]["created"].as_i64().unwrap()
    };
    let extended = [(
        "payment_method_options[card_present][request_extended_authorization]",
        "true",
    )];
    let pi = sim.intent(&extended).await;
    assert_eq!(
        pi["payment_method_options"]["card_present"]["request_extended_authorization"],
        true
    );
    let (_, after) = sim.pay_at_reader(id(&pi), "4242424242424242").await;
    assert_eq!(capture_before(&after), 30 * day);
    let plain = sim.intent(&[]).await;
    let (_, after) = sim.pay_at_reader(id(&plain), "4242424242424242").await;
    assert_eq!(capture_before(&after), 2 * day);
    // JCB has no extended authorization: the standard window.
    let jcb = sim.intent(&extended).await;
    let (_, after) = sim.pay_at_reader(id(&jcb), "3566002020360505").await;
    assert_eq!(capture_before(&after), 2 * day);
}

#[tokio::test]
async fn cart_on_the_reader() {
    let sim = start().await;
    let rid = id(&sim.reader().await).to_string();
    let path = format!("/v1/terminal/readers/{rid}/set_reader_display");
    let cart = [
        ("type", "cart"),
        ("cart[currency]", "usd"),
        ("cart[line_items][0][description]", "Flat white"),
        ("cart[line_items][0][amount]", "450"),
        ("cart[line_items][0][quantity]", "2"),
        ("cart[line_items][1][description]", "Croissant <warm>"),
        ("cart[line_items][1][amount]", "350"),
        ("cart[line_items][1][quantity]", "1"),
        ("cart[tax]", "100"),
        ("cart[total]", "1350"),
    ];
    let shown = sim.post(&path, &cart).await.ok();
    let action = &shown["action"];
    assert_eq!(action["type"], "set_reader_display");
    assert_eq!(action["status"], "succeeded");
    let displayed = &action["set_reader_display"]["cart"];
    assert_eq!(displayed["currency"], "usd");
    assert_eq!(displayed["total"], 1350);
    assert_eq!(displayed["tax"], 100);
    assert_eq!(displayed["line_items"][0]["quantity"], 2);
    assert_eq!(
        displayed["line_items"][1]["description"],
        "Croissant <warm>"
    );
    assert_eq!(
        sim.get(&format!("/v1/terminal/readers/{rid}"), &[])
            .await
            .ok()["action"]["set_reader_display"]["cart"],
        *displayed
    );
    assert_eq!(screen(&sim, &rid).await["cart"], *displayed);
    // Cleared with cancel_action; nothing left to clear afterwards.
    let cancel = format!("/v1/terminal/readers/{rid}/cancel_action");
    let cleared = sim.post(&cancel, &[]).await.ok();
    assert!(cleared["action"].is_null());
    assert_eq!(screen(&sim, &rid).await["screen"], "idle");
    let again = sim.post(&cancel, &[]).await;
    assert_eq!(
        (again.status, again.code()),
        (400, "terminal_reader_action_not_found")
    );
    // A payment replaces the cart; while it is in progress the display cannot change.
    sim.post(&path, &cart).await.ok();
    let pi = sim.intent(&[]).await;
    process(&sim, &rid, id(&pi), &[]).await;
    let busy = sim.post(&path, &cart).await;
    assert_eq!((busy.status, busy.code()), (400, "terminal_reader_busy"));
    // Missing or bad parts of the cart are named.
    let idle = id(&sim.reader().await).to_string();
    let path = format!("/v1/terminal/readers/{idle}/set_reader_display");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("type", "cart")], "cart"),
        (
            &[
                ("type", "cart"),
                ("cart[currency]", "usd"),
                ("cart[line_items][0][description]", "x"),
                ("cart[line_items][0][amount]", "1"),
                ("cart[line_items][0][quantity]", "1"),
            ],
            "cart[total]",
        ),
        (
            &[
                ("type", "cart"),
                ("cart[currency]", "usd"),
                ("cart[total]", "1"),
                ("cart[line_items][0][description]", "x"),
                ("cart[line_items][0][amount]", "1"),
                ("cart[line_items][0][quantity]", "0"),
            ],
            "cart[line_items][0][quantity]",
        ),
        (
            &[
                ("type", "cart"),
                ("cart[currency]", "usd"),
                ("cart[total]", "1"),
                ("cart[line_items][0][amount]", "1"),
                ("cart[line_items][0][quantity]", "1"),
            ],
            "cart[line_items][0][description]",
        ),
        (
            &[
                ("type", "cart"),
                ("cart[currency]", "xyz"),
                ("cart[total]", "1"),
                ("cart[line_items][0][description]", "x"),
                ("cart[line_items][0][amount]", "1"),
                ("cart[line_items][0][quantity]", "1"),
            ],
            "cart[currency]",
        ),
        (&[("type", "image")], "type"),
    ];
    for (form, param) in cases {
        let answer = sim.post(&path, form).await;
        assert_eq!(answer.status, 400, "{form:?}: {}", answer.body);
        assert_eq!(answer.body["error"]["param"], *param, "{form:?}");
    }
    let missing = sim
        .post("/v1/terminal/readers/tmr_missing/set_reader_display", &cart)
        .await;
    assert_eq!((missing.status, missing.code()), (404, "resource_missing"));
}

/// The charge's `receipt_url` is a page: amount, tip, card, EMV data, refunds; merchant-supplied
/// text escaped; no page for a declined charge.
#[tokio::test]
async fn receipt_page() {
    let sim = start().await;
    let rid = tipping_reader(&sim, USD_TIPPING, "US").await;
    let pi = sim
        .intent(&[
            ("description", "<b>Lunch</b> & co"),
            ("capture_method", "automatic"),
        ])
        .await;
    process(&sim, &rid, id(&pi), &[]).await;
    present(
        &sim,
        &rid,
        &[
            ("card_present[number]", "4001007020000002"),
            ("amount_tip", "260"),
        ],
    )
    .await
    .ok();
    let after = intent_with_charge(&sim, id(&pi)).await;
    let url = after["latest_charge"]["receipt_url"].as_str().unwrap();
    sim.post(
        "/v1/refunds",
        &[("payment_intent", id(&pi)), ("amount", "500")],
    )
    .await
    .ok();
    let page = sim.http.get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    for expected in [
        "$15.59",
        "$2.60",
        "$5.00",
        "visa •••• 0002",
        "CUSTOMER/VALUED",
        "A0000000031010",
        "offline_pin",
        "&lt;b&gt;Lunch&lt;/b&gt; &amp; co",
    ] {
        assert!(html.contains(expected), "{expected} in {html}");
    }
    assert!(!html.contains("<b>Lunch"));
    // A declined charge has none.
    let declined = sim.intent(&[]).await;
    let (_, after) = sim.pay_at_reader(id(&declined), "4000000000000002").await;
    let charge = id(&after["latest_charge"]).to_string();
    let missing = sim
        .http
        .get(format!("{}/_sim/receipts/{charge}", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
