//! Disputes (issue 20): recorded from Stripe's signed events, evidence with files, accepting the
//! loss, merchant webhooks, duplicated and out-of-order events, disputes of payments we learn of
//! later, and other merchants' disputes.

use crate::both_backends;
use crate::support::app::{eventually, MerchantEndpoint, TestApp, STRIPE_WEBHOOK_SECRET};
use crate::webhooks::{deliver, signed_event};
use base64::Engine;
use serde_json::{json, Value};

const FRAUDULENT: &str = "4000000000000259";
const NOT_RECEIVED: &str = "4000000000002685";
const INQUIRY: &str = "4000000000001976";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

/// A 10.00 USD payment for `tx` paid at a reader with `card` and captured through our API;
/// returns its id.
async fn captured(app: &TestApp, token: &str, tx: &str, card: &str) -> String {
    let reader = app.register_reader().await;
    let pi = app.create_intent(token, "acme", tx, "10.00").await.id;
    let (status, tapped) = app.tap_card(&reader, &pi, card).await;
    assert_eq!(status, 200, "{tapped}");
    eventually(10, "authorised", || async {
        app.stored_payment(token, "acme", tx).await.unwrap().status == "requires_capture"
    })
    .await;
    let (status, body) = app
        .post(
            "/v1/payment/capture",
            token,
            json!({"payment_id": pi, "external_account_id": "acme"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    pi
}

/// The account's disputes of payment `pi` (waiting up to 10 s for the first to arrive).
async fn dispute_of(app: &TestApp, token: &str, pi: &str) -> Value {
    let path = format!("/v1/disputes?external_account_id=acme&payment_id={pi}");
    eventually(10, "the dispute arrives by webhook", || async {
        let (_, page) = app.get(&path, token).await;
        page["data"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    let (status, page) = app.get(&path, token).await;
    assert_eq!(status, 200, "{page}");
    page["data"][0].clone()
}

/// The merchant events received, by type.
fn received(hook: &MerchantEndpoint, event_type: &str) -> Vec<Value> {
    hook.received
        .lock()
        .unwrap()
        .iter()
        .map(|d| serde_json::from_str::<Value>(&d.body).unwrap())
        .filter(|e| e["type"] == event_type)
        .collect()
}

fn pdf_base64() -> String {
    base64::engine::general_purpose::STANDARD.encode(PDF)
}

both_backends! {
    async fn a_dispute_won_with_evidence_and_a_file(app) {
        let hook = MerchantEndpoint::start(0);
        let token = app.merchant("acme", "usd").await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let pi = captured(&app, &token, "won", FRAUDULENT).await;
        let dispute = dispute_of(&app, &token, &pi).await;
        let dp = dispute["id"].as_str().unwrap().to_string();
        assert!(dp.starts_with("dp_"), "{dispute}");
        assert_eq!(dispute["payment_id"], pi.as_str());
        assert_eq!(dispute["reason"], "fraudulent");
        assert_eq!(dispute["amount"], "10.00");
        assert_eq!(dispute["currency"], "usd");
        assert_eq!(dispute["external_transaction_id"], "won");
        // Out of order, the funds event may come first: both are recorded either way.
        eventually(10, "the funds withdrawn", || async {
            let (_, d) = app.get(&format!("/v1/dispute/{dp}?external_account_id=acme"), &token).await;
            d["amount_withdrawn"] == "10.00"
        })
        .await;
        let (status, dispute) = app.get(&format!("/v1/dispute/{dp}?external_account_id=acme"), &token).await;
        assert_eq!(status, 200, "{dispute}");
        assert_eq!(dispute["status"], "needs_response");
        assert_eq!(dispute["fee"], "15.00");
        assert_eq!(dispute["amount_reinstated"], "0.00");
        let due = chrono::DateTime::parse_from_rfc3339(dispute["evidence_due_by"].as_str().unwrap()).unwrap();
        let opened = chrono::DateTime::parse_from_rfc3339(dispute["opened_at"].as_str().unwrap()).unwrap();
        assert_eq!((due - opened).num_days(), 21);
        let (status, payment) = app.get(&format!("/v1/payment/{pi}?external_account_id=acme"), &token).await;
        assert_eq!(status, 200, "{payment}");
        assert_eq!(payment["dispute"]["id"], dp.as_str());
        assert_eq!(payment["dispute"]["status"], "needs_response");

        // Evidence staged: text and a receipt (uploaded to Stripe as a file).
        let (status, staged) = app.post(&format!("/v1/dispute/{dp}/evidence"), &token, json!({
            "external_account_id": "acme",
            "evidence": {"customer_name": "Jane Doe", "product_description": "Two coffees"},
            "files": {"receipt": {"filename": "receipt.pdf", "content_type": "application/pdf", "data": pdf_base64()}},
        })).await;
        assert_eq!(status, 200, "{staged}");
        assert_eq!(staged["status"], "needs_response");
        assert_eq!(staged["submission_count"], 0);
        assert_eq!(staged["evidence"]["customer_name"], "Jane Doe");
        assert!(staged["evidence"]["receipt"].as_str().unwrap().starts_with("file_"), "{staged}");
        let uploads = app.stripe_calls().await.into_iter().filter(|(m, p)| m == "POST" && p == "/v1/files").count();
        assert_eq!(uploads, 1);

        // Submitted with Stripe's winning evidence: won, the funds given back.
        let (status, won) = app.post(&format!("/v1/dispute/{dp}/evidence"), &token, json!({
            "external_account_id": "acme", "evidence": {"uncategorized_text": "winning_evidence"}, "submit": true,
        })).await;
        assert_eq!(status, 200, "{won}");
        assert_eq!(won["status"], "won");
        assert_eq!(won["submission_count"], 1);
        assert_eq!(won["amount_reinstated"], "10.00");
        assert_eq!(won["evidence"]["customer_name"], "Jane Doe", "staged evidence kept");
        let (status, again) = app.post(&format!("/v1/dispute/{dp}/evidence"), &token, json!({
            "external_account_id": "acme", "evidence": {"customer_name": "x"},
        })).await;
        assert_eq!((status, again["error"]["code"].as_str()), (409, Some("dispute_not_open")), "{again}");
        let (status, _) = app.post(&format!("/v1/dispute/{dp}/accept"), &token, json!({"external_account_id": "acme"})).await;
        assert_eq!(status, 409);

        // Every change announced once (the events of Stripe arrive in any order).
        app.settle().await;
        for (t, n) in [("dispute.created", 1), ("dispute.funds_withdrawn", 1), ("dispute.funds_reinstated", 1), ("dispute.closed", 1)] {
            assert_eq!(received(&hook, t).len(), n, "{t}");
        }
        let closed = &received(&hook, "dispute.closed")[0]["data"]["object"];
        assert_eq!(closed["status"], "won");
        assert_eq!(closed["id"], dp.as_str());
        assert_eq!(closed["payment_id"], pi.as_str());
        assert_eq!(closed["external_transaction_id"], "won");
        assert_eq!(closed["amount_reinstated"], "10.00");
        let (_, d) = app.get(&format!("/v1/dispute/{dp}?external_account_id=acme"), &token).await;
        assert_eq!(d["status"], "won", "late events never move it back");

        // Another merchant sees none of it.
        let other = app.merchant("other", "usd").await;
        let (status, _) = app.get(&format!("/v1/dispute/{dp}?external_account_id=other"), &other).await;
        assert_eq!(status, 404);
        let (status, _) = app.post(&format!("/v1/dispute/{dp}/accept"), &other, json!({"external_account_id": "other"})).await;
        assert_eq!(status, 404);
        let (_, theirs) = app.get("/v1/disputes?external_account_id=other", &other).await;
        assert_eq!(theirs["data"], json!([]));
        let (status, _) = app.get(&format!("/v1/dispute/{dp}?external_account_id=acme"), &other).await;
        assert_eq!(status, 403);
    }

    async fn lost_accepted_and_inquiries(app) {
        let hook = MerchantEndpoint::start(0);
        let token = app.merchant("acme", "usd").await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let lost_pi = captured(&app, &token, "lost", NOT_RECEIVED).await;
        let lost = dispute_of(&app, &token, &lost_pi).await;
        assert_eq!(lost["reason"], "product_not_received");
        let (status, body) = app.post(&format!("/v1/dispute/{}/evidence", lost["id"].as_str().unwrap()), &token, json!({
            "external_account_id": "acme", "evidence": {"uncategorized_text": "losing_evidence"}, "submit": true,
        })).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("lost")), "{body}");
        assert_eq!(body["amount_withdrawn"], "10.00");
        assert_eq!(body["amount_reinstated"], "0.00");

        let accepted_pi = captured(&app, &token, "accepted", FRAUDULENT).await;
        let accepted = dispute_of(&app, &token, &accepted_pi).await;
        let (status, body) = app.post(&format!("/v1/dispute/{}/accept", accepted["id"].as_str().unwrap()), &token,
            json!({"external_account_id": "acme"})).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("lost")), "{body}");

        let inquiry_pi = captured(&app, &token, "inquiry", INQUIRY).await;
        let inquiry = dispute_of(&app, &token, &inquiry_pi).await;
        assert_eq!(inquiry["status"], "warning_needs_response");
        assert_eq!(inquiry["amount_withdrawn"], "0.00");
        let (status, body) = app.post(&format!("/v1/dispute/{}/accept", inquiry["id"].as_str().unwrap()), &token,
            json!({"external_account_id": "acme"})).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("warning_closed")), "{body}");
        assert_eq!(body["amount_withdrawn"], "0.00");

        // Filters and pages.
        let (_, all) = app.get("/v1/disputes?external_account_id=acme", &token).await;
        let ids: Vec<&str> = all["data"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 3);
        assert_eq!(ids[0], inquiry["id"].as_str().unwrap(), "newest first");
        let (_, first) = app.get("/v1/disputes?external_account_id=acme&limit=2", &token).await;
        assert_eq!(first["has_more"], true);
        let cursor = first["next_starting_after"].as_str().unwrap();
        assert_eq!(cursor, ids[1]);
        let (_, rest) = app.get(&format!("/v1/disputes?external_account_id=acme&limit=2&starting_after={cursor}"), &token).await;
        assert_eq!(rest["data"][0]["id"], ids[2]);
        assert_eq!(rest["has_more"], false);
        let (_, lost_only) = app.get("/v1/disputes?external_account_id=acme&status=lost", &token).await;
        assert_eq!(lost_only["data"].as_array().unwrap().len(), 2);
        app.settle().await;
        assert_eq!(received(&hook, "dispute.closed").len(), 3);
        assert_eq!(received(&hook, "dispute.funds_withdrawn").len(), 2, "never for the inquiry");

        // End-of-day totals: three sales of 10.00, all disputed, two lost (20.00 taken back).
        let today = chrono::Utc::now().date_naive();
        let window = format!("since={}&until={}", today.pred_opt().unwrap(), today.succ_opt().unwrap().succ_opt().unwrap());
        let (status, totals) = app.get(&format!("/v1/reports/totals?external_account_id=acme&{window}"), &token).await;
        assert_eq!(status, 200, "{totals}");
        let usd = &totals["groups"][0];
        assert_eq!(
            (usd["sales_amount"].as_str(), usd["disputes_count"].as_i64(), usd["disputes_amount"].as_str(), usd["net_amount"].as_str()),
            (Some("30.00"), Some(3), Some("20.00"), Some("10.00")),
            "{totals}"
        );

        // Bad input: clear 4xx naming the field, no Stripe call.
        app.clear_stripe_calls().await;
        let dp = ids[0];
        for (body, field) in [
            (json!({"external_account_id": "acme", "evidence": {"nope": "x"}}), "evidence.nope"),
            (json!({"external_account_id": "acme", "files": {"customer_name": {"filename": "a.pdf", "content_type": "application/pdf", "data": pdf_base64()}}}), "files.customer_name"),
            (json!({"external_account_id": "acme", "files": {"receipt": {"filename": "a.gif", "content_type": "image/gif", "data": pdf_base64()}}}), "files.receipt.content_type"),
            (json!({"external_account_id": "acme", "files": {"receipt": {"filename": "a.pdf", "content_type": "application/pdf", "data": "%%%"}}}), "files.receipt.data"),
            (json!({"external_account_id": "acme"}), "evidence"),
        ] {
            let (status, error) = app.post(&format!("/v1/dispute/{dp}/evidence"), &token, body).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(field)), "{error}");
        }
        let (status, error) = app.get("/v1/disputes?external_account_id=acme&status=open", &token).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("status")));
        let (status, error) = app.get("/v1/dispute/ch_1?external_account_id=acme", &token).await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("dispute_id")));
        let (status, _) = app.get("/v1/dispute/dp_unknown?external_account_id=acme", &token).await;
        assert_eq!(status, 404);
        assert_eq!(app.stripe_calls().await, vec![]);
    }

    async fn duplicated_and_out_of_order_dispute_events(app) {
        let hook = MerchantEndpoint::start(0);
        let token = app.merchant("acme", "usd").await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        let pi = captured(&app, &token, "ooo", "4242424242424242").await;
        app.settle().await;
        let created = chrono::Utc::now().timestamp();
        let dispute = |status: &str, bts: Value, submissions: i64| json!({
            "id": "dp_handmade1", "object": "dispute", "amount": 1000, "currency": "usd", "charge": "ch_handmade1",
            "payment_intent": pi, "reason": "fraudulent", "status": status, "created": created,
            "evidence": {"uncategorized_text": if submissions > 0 { json!("winning_evidence") } else { Value::Null }},
            "evidence_details": {"due_by": created + 86400 * 21, "has_evidence": submissions > 0, "past_due": false, "submission_count": submissions},
            "is_charge_refundable": false, "balance_transactions": bts, "metadata": {}, "livemode": false,
        });
        let withdrawal = json!({"id": "txn_1", "amount": -1000, "fee": 1500, "net": -2500, "currency": "usd"});
        let reinstated = json!({"id": "txn_2", "amount": 1000, "fee": 0, "net": 1000, "currency": "usd"});
        let send = |id: &'static str, t: &'static str, object: Value| {
            let app = &app;
            async move {
                let (body, sig) = signed_event(id, t, object, &[STRIPE_WEBHOOK_SECRET], 0);
                let (status, answer) = deliver(app, &body, &sig).await;
                assert_eq!(status, 200, "{answer}");
                answer
            }
        };
        // The close first, then what led to it, then the close again (the same event twice).
        send("evt_dp_closed", "charge.dispute.closed", dispute("won", json!([withdrawal, reinstated]), 1)).await;
        let (_, d) = app.get("/v1/dispute/dp_handmade1?external_account_id=acme", &token).await;
        assert_eq!(d["status"], "won", "{d}");
        assert_eq!((d["amount_withdrawn"].as_str(), d["amount_reinstated"].as_str(), d["fee"].as_str()), (Some("10.00"), Some("10.00"), Some("15.00")));
        send("evt_dp_created", "charge.dispute.created", dispute("needs_response", json!([withdrawal]), 0)).await;
        send("evt_dp_funds", "charge.dispute.funds_withdrawn", dispute("needs_response", json!([withdrawal]), 0)).await;
        send("evt_dp_review", "charge.dispute.updated", dispute("under_review", json!([withdrawal]), 1)).await;
        let again = send("evt_dp_closed", "charge.dispute.closed", dispute("won", json!([withdrawal, reinstated]), 1)).await;
        assert_eq!(again["duplicate"], true, "{again}");
        let (_, d) = app.get("/v1/dispute/dp_handmade1?external_account_id=acme", &token).await;
        assert_eq!(d["status"], "won");
        assert_eq!(d["submission_count"], 1);
        assert_eq!(d["evidence"]["uncategorized_text"], "winning_evidence");
        // A dispute claiming more than was paid is not ours to believe.
        let mut greedy = dispute("needs_response", json!([]), 0);
        greedy["id"] = json!("dp_greedy");
        greedy["amount"] = json!(5000);
        send("evt_dp_greedy", "charge.dispute.created", greedy).await;
        let (status, _) = app.get("/v1/dispute/dp_greedy?external_account_id=acme", &token).await;
        assert_eq!(status, 404);
        app.settle().await;
        for (t, n) in [("dispute.created", 1), ("dispute.funds_withdrawn", 1), ("dispute.funds_reinstated", 1), ("dispute.closed", 1), ("dispute.updated", 0)] {
            assert_eq!(received(&hook, t).len(), n, "{t}");
        }
    }

    async fn a_dispute_before_its_payment_is_recorded_waits_for_it(app) {
        let hook = MerchantEndpoint::start(0);
        let token = app.merchant("acme", "usd").await;
        app.put_account("acme", json!({"webhook_url": hook.url})).await;
        // Nobody hears of the completion: the payment is recorded only when asked about.
        app.add_fault(json!({"path": "checkout.session.*", "drop_webhooks": true})).await;
        let (status, created) = app.post("/v1/checkout", &token, json!({
            "external_account_id": "acme", "reference": "disputed-booking",
            "items": [{"name": "Room", "amount": "80.00", "quantity": 1}],
            "success_url": "https://hotel.example/ok", "cancel_url": "https://hotel.example/basket",
        })).await;
        assert_eq!(status, 200, "{created}");
        let session = created["session_id"].as_str().unwrap().to_string();
        let response = app.client.post(app.sim_url(&format!("/_sim/checkout/{session}/complete")))
            .json(&json!({"card_number": FRAUDULENT})).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        app.settle_stripe_webhooks().await;
        let (_, none) = app.get("/v1/disputes?external_account_id=acme", &token).await;
        assert_eq!(none["data"], json!([]), "no payment yet: parked");
        let (status, done) = app.get(&format!("/v1/checkout/{session}?external_account_id=acme"), &token).await;
        assert_eq!((status, done["status"].as_str()), (200, Some("complete")), "{done}");
        let pi = done["payment"]["id"].as_str().unwrap().to_string();
        let (_, page) = app.get("/v1/disputes?external_account_id=acme", &token).await;
        assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
        assert_eq!(page["data"][0]["payment_id"], pi.as_str());
        assert_eq!(page["data"][0]["amount"], "80.00");
        assert_eq!(page["data"][0]["amount_withdrawn"], "80.00");
        app.settle().await;
        assert_eq!(received(&hook, "dispute.created").len(), 1);
        assert_eq!(received(&hook, "dispute.funds_withdrawn").len(), 1);
    }
}
