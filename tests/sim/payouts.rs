//! Balance transactions and automatic payouts: every capture, refund and dispute movement is a
//! balance transaction with the simulated fee; the payout test helper moves the payout clock and
//! pays each account's available balance per currency (or fails it with Stripe's failure code),
//! with `payout.*` events; lists and filters; accounts stay apart.

use crate::{id, start, Sim, KEY};
use reqwest::Method;
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";
const FRAUDULENT: &str = "4000000000000259";

/// A card-present payment of `amount` minor units captured at once; returns the intent (with
/// its charge expanded).
async fn paid(sim: &Sim, amount: &str, card: &str) -> Value {
    let pi = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", amount),
                ("currency", "usd"),
                ("allowed_payment_method_types[]", "card_present"),
                ("capture_method", "automatic"),
            ],
        )
        .await
        .ok();
    sim.pay_at_reader(id(&pi), card).await.1
}

async fn run(sim: &Sim, body: Value) -> Value {
    let answer = sim.sim(Method::POST, "/_sim/payouts", Some(body)).await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    answer.body
}

async fn txn(sim: &Sim, id: &str) -> Value {
    sim.get(&format!("/v1/balance_transactions/{id}"), &[])
        .await
        .ok()
}

/// The types of the events about payouts, oldest first.
async fn payout_events(sim: &Sim) -> Vec<(String, String)> {
    let events = sim
        .get("/v1/events", &[("type", "payout.*"), ("limit", "100")])
        .await
        .ok();
    let mut out: Vec<(String, String)> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["data"]["object"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.reverse();
    out
}

#[actix_web::test]
async fn captures_and_refunds_move_the_balance_with_the_documented_fees() {
    let sim = start().await;
    let intent = paid(&sim, "1000", VISA).await;
    let charge = &intent["latest_charge"];
    let bt = txn(&sim, charge["balance_transaction"].as_str().unwrap()).await;
    assert_eq!(bt["type"], "charge");
    assert_eq!(bt["source"], charge["id"]);
    assert_eq!(bt["reporting_category"], "charge");
    // 2.7% of 10.00 = 0.27, + 0.05.
    assert_eq!(
        (
            bt["amount"].as_i64(),
            bt["fee"].as_i64(),
            bt["net"].as_i64()
        ),
        (Some(1000), Some(32), Some(968))
    );
    assert_eq!(bt["fee_details"][0]["amount"], 32);
    assert_eq!(bt["fee_details"][0]["type"], "stripe_fee");
    assert_eq!(bt["currency"], "usd");
    assert_eq!(bt["status"], "pending");
    assert_eq!(
        bt["available_on"].as_i64().unwrap() - bt["created"].as_i64().unwrap(),
        2 * 24 * 3600
    );

    // A manual capture of less than authorized: the fee is on what was captured.
    let pi = sim.intent(&[("amount", "2500")]).await;
    sim.pay_at_reader(id(&pi), VISA).await;
    let auth = sim
        .get(
            &format!("/v1/payment_intents/{}", id(&pi)),
            &[("expand[]", "latest_charge")],
        )
        .await
        .ok();
    assert_eq!(
        auth["latest_charge"]["balance_transaction"],
        Value::Null,
        "an authorization moves no money"
    );
    sim.post(
        &format!("/v1/payment_intents/{}/capture", id(&pi)),
        &[("amount_to_capture", "2000")],
    )
    .await
    .ok();
    let captured = sim
        .get(
            &format!("/v1/payment_intents/{}", id(&pi)),
            &[("expand[]", "latest_charge.balance_transaction")],
        )
        .await
        .ok();
    let bt = &captured["latest_charge"]["balance_transaction"];
    // 2.7% of 20.00 = 0.54, + 0.05.
    assert_eq!(
        (bt["amount"].as_i64(), bt["fee"].as_i64()),
        (Some(2000), Some(59))
    );

    let refund = sim
        .post(
            "/v1/refunds",
            &[("payment_intent", id(&pi)), ("amount", "500")],
        )
        .await
        .ok();
    let rbt = txn(&sim, refund["balance_transaction"].as_str().unwrap()).await;
    assert_eq!(rbt["type"], "refund");
    assert_eq!(rbt["source"], refund["id"]);
    assert_eq!(
        (
            rbt["amount"].as_i64(),
            rbt["fee"].as_i64(),
            rbt["net"].as_i64()
        ),
        (Some(-500), Some(0), Some(-500))
    );

    let refunds = sim
        .get("/v1/balance_transactions", &[("type", "refund")])
        .await
        .ok();
    assert_eq!(refunds["data"].as_array().unwrap().len(), 1);
    let by_source = sim
        .get(
            "/v1/balance_transactions",
            &[("source", charge["id"].as_str().unwrap())],
        )
        .await
        .ok();
    assert_eq!(by_source["data"][0]["id"], charge["balance_transaction"]);
    let all = sim
        .get("/v1/balance_transactions", &[("limit", "2")])
        .await
        .ok();
    assert_eq!(all["has_more"], true);
    let rest = sim
        .get(
            "/v1/balance_transactions",
            &[("starting_after", all["data"][1]["id"].as_str().unwrap())],
        )
        .await
        .ok();
    assert_eq!(rest["data"].as_array().unwrap().len(), 1, "three in all");
    let missing = sim.get("/v1/balance_transactions/txn_nope", &[]).await;
    assert_eq!(missing.status, 404);
}

#[actix_web::test]
async fn a_payout_pays_the_available_balance_and_lists_what_it_paid() {
    let sim = start().await.as_account("acct_SimPayouts1");
    let first = paid(&sim, "1000", VISA).await;
    let second = paid(&sim, "2500", VISA).await;
    sim.post(
        "/v1/refunds",
        &[("payment_intent", id(&second)), ("amount", "500")],
    )
    .await
    .ok();
    // Disputed: withdrawn with the 15.00 fee (an adjustment).
    let disputed = paid(&sim, "1000", FRAUDULENT).await;

    // Not available yet: the clock has not moved.
    let none = run(
        &sim,
        json!({"stripe_account": "acct_SimPayouts1", "advance_days": 0}),
    )
    .await;
    assert_eq!(
        none["payouts"],
        json!([]),
        "charges wait 2 days; the rest alone is negative"
    );

    let ran = run(&sim, json!({"stripe_account": "acct_SimPayouts1"})).await;
    let payouts = ran["payouts"].as_array().unwrap();
    assert_eq!(payouts.len(), 1, "{ran:#}");
    let po = &payouts[0];
    // 968 + (2500 − 73) − 500 + (1000 − 32) − (1000 + 1500) = 1363.
    assert_eq!(po["amount"], 1363, "{po:#}");
    assert_eq!(po["status"], "paid");
    assert_eq!(po["automatic"], true);
    assert_eq!(po["currency"], "usd");
    let po_id = po["id"].as_str().unwrap();
    assert!(po_id.starts_with("po_"));

    let listed = sim
        .get(
            "/v1/balance_transactions",
            &[("payout", po_id), ("limit", "100")],
        )
        .await
        .ok();
    let data = listed["data"].as_array().unwrap();
    let kinds: Vec<&str> = data.iter().map(|t| t["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "charge").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "refund").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "adjustment").count(), 1);
    let own: Vec<&Value> = data.iter().filter(|t| t["type"] == "payout").collect();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["id"], po["balance_transaction"]);
    assert_eq!(own[0]["amount"], -1363);
    let paid_out: i64 = data
        .iter()
        .filter(|t| t["type"] != "payout")
        .map(|t| t["net"].as_i64().unwrap())
        .sum();
    assert_eq!(paid_out, 1363, "the payout pays the nets");
    assert!(data.iter().all(|t| t["status"] == "available"));
    let adjustment = data.iter().find(|t| t["type"] == "adjustment").unwrap();
    let dispute = sim
        .get("/v1/disputes", &[("payment_intent", id(&disputed))])
        .await
        .ok();
    assert_eq!(adjustment["source"], dispute["data"][0]["id"]);
    // Sources expand to the objects that moved the money.
    let expanded = sim
        .get(
            "/v1/balance_transactions",
            &[
                ("payout", po_id),
                ("type", "charge"),
                ("expand[]", "data.source"),
            ],
        )
        .await
        .ok();
    let intents: Vec<&str> = expanded["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["source"]["payment_intent"].as_str().unwrap())
        .collect();
    assert!(
        intents.contains(&id(&first)) && intents.contains(&id(&second)),
        "{intents:?}"
    );

    let retrieved = sim.get(&format!("/v1/payouts/{po_id}"), &[]).await.ok();
    assert_eq!(retrieved, *po);
    let list = sim.get("/v1/payouts", &[("status", "paid")]).await.ok();
    assert_eq!(list["data"][0]["id"], po_id);
    let failed = sim.get("/v1/payouts", &[("status", "failed")]).await.ok();
    assert_eq!(failed["data"], json!([]));
    let arrival = po["arrival_date"].as_i64().unwrap();
    let later = sim
        .get("/v1/payouts", &[("arrival_date[gt]", &arrival.to_string())])
        .await
        .ok();
    assert_eq!(later["data"], json!([]));
    assert_eq!(
        payout_events(&sim).await,
        [
            ("payout.created".to_string(), po_id.to_string()),
            ("payout.paid".to_string(), po_id.to_string())
        ]
    );
    let event = sim.get("/v1/events", &[("type", "payout.paid")]).await.ok();
    assert_eq!(event["data"][0]["account"], "acct_SimPayouts1");

    // Paid out once: the next run has nothing to pay.
    let again = run(&sim, json!({"stripe_account": "acct_SimPayouts1"})).await;
    assert_eq!(again["payouts"], json!([]));
    // Other accounts see none of it.
    let platform = start().await;
    let theirs = platform.get(&format!("/v1/payouts/{po_id}"), &[]).await;
    assert_eq!(theirs.status, 404);
}

#[actix_web::test]
async fn a_failed_payout_returns_its_money_for_the_next_one() {
    let sim = start().await;
    paid(&sim, "1000", VISA).await;
    let ran = run(&sim, json!({"api_key": KEY, "failure_code": "no_account"})).await;
    let po = &ran["payouts"][0];
    assert_eq!(po["status"], "failed");
    assert_eq!(po["failure_code"], "no_account");
    assert!(po["failure_message"]
        .as_str()
        .unwrap()
        .contains("No bank account"));
    let returned = txn(&sim, po["failure_balance_transaction"].as_str().unwrap()).await;
    assert_eq!(
        (returned["type"].as_str(), returned["amount"].as_i64()),
        (Some("payout_failure"), Some(968))
    );
    assert_eq!(returned["source"], po["id"]);
    let kinds: Vec<String> = payout_events(&sim)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, ["payout.created", "payout.failed"]);
    // The transactions stay listed under the failed payout.
    let listed = sim
        .get(
            "/v1/balance_transactions",
            &[("payout", po["id"].as_str().unwrap()), ("type", "charge")],
        )
        .await
        .ok();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    let next = run(&sim, json!({"api_key": KEY, "advance_days": 0})).await;
    let po2 = &next["payouts"][0];
    assert_eq!(
        (po2["status"].as_str(), po2["amount"].as_i64()),
        (Some("paid"), Some(968))
    );
    let paid_by_it = sim
        .get(
            "/v1/balance_transactions",
            &[
                ("payout", po2["id"].as_str().unwrap()),
                ("type", "payout_failure"),
            ],
        )
        .await
        .ok();
    assert_eq!(paid_by_it["data"][0]["id"], returned["id"]);
}

#[actix_web::test]
async fn the_payout_helper_refuses_bad_input_and_lists_refuse_bad_filters() {
    let sim = start().await;
    for (body, param) in [
        (json!({}), "stripe_account"),
        (json!({"stripe_account": "acme"}), "stripe_account"),
        (json!({"api_key": "pk_test_1"}), "api_key"),
        (
            json!({"api_key": KEY, "failure_code": "lost_in_the_mail"}),
            "failure_code",
        ),
        (json!({"api_key": KEY, "advance_days": -1}), "advance_days"),
    ] {
        let answer = sim
            .sim(Method::POST, "/_sim/payouts", Some(body.clone()))
            .await;
        assert_eq!(answer.status, 400, "{body}: {:#}", answer.body);
        assert_eq!(answer.body["error"]["param"], param, "{body}");
    }
    let bad = sim.get("/v1/payouts", &[("status", "lost")]).await;
    assert_eq!(
        (bad.status, bad.body["error"]["param"].as_str()),
        (400, Some("status"))
    );
    let unknown = sim
        .get("/v1/balance_transactions", &[("payout", "po_nope")])
        .await;
    assert_eq!(
        (unknown.status, unknown.body["error"]["param"].as_str()),
        (400, Some("payout"))
    );
}
