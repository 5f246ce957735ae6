//! Disputes: Stripe's dispute test cards at a reader, the dispute opened on capture, evidence
//! (text and uploaded files), Stripe's `winning_evidence` / `losing_evidence`, close; events.

use crate::{conforms, id, start, Answer, Sim};
use serde_json::Value;

const FRAUDULENT: &str = "4000000000000259";
const NOT_RECEIVED: &str = "4000000000002685";
const INQUIRY: &str = "4000000000001976";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

/// A captured card-present payment of 12.99 USD with `card`; returns the intent id.
async fn captured(sim: &Sim, card: &str) -> String {
    let pi = sim.intent(&[]).await;
    let pid = id(&pi).to_string();
    sim.pay_at_reader(&pid, card).await;
    let none = sim
        .get("/v1/disputes", &[("payment_intent", &pid)])
        .await
        .ok();
    assert_eq!(
        none["data"],
        serde_json::json!([]),
        "no dispute before capture"
    );
    sim.post(&format!("/v1/payment_intents/{pid}/capture"), &[])
        .await
        .ok();
    pid
}

async fn dispute_of(sim: &Sim, pi: &str) -> Value {
    let list = sim
        .get("/v1/disputes", &[("payment_intent", pi)])
        .await
        .ok();
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{list:#}");
    data[0].clone()
}

/// The types of the events about dispute `dp`, oldest first.
async fn dispute_events(sim: &Sim, dp: &str) -> Vec<String> {
    let events = sim
        .get(
            "/v1/events",
            &[("type", "charge.dispute.*"), ("limit", "100")],
        )
        .await
        .ok();
    let mut types: Vec<String> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["object"]["id"] == dp)
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    types.reverse();
    types
}

/// `POST /v1/files` as a multipart body (built by hand: the test's HTTP client has no multipart).
pub async fn upload(sim: &Sim, purpose: &str, filename: &str, bytes: &[u8]) -> Answer {
    let boundary = "sim-test-boundary-7Mq";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let answer = sim
        .send(
            sim.builder(reqwest::Method::POST, "/v1/files")
                .header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body),
        )
        .await;
    conforms("POST", "/v1/files", answer)
}

#[tokio::test]
async fn a_fraudulent_dispute_opens_on_capture_and_winning_evidence_wins_it() {
    let sim = start().await;
    let pi = captured(&sim, FRAUDULENT).await;
    let dispute = dispute_of(&sim, &pi).await;
    let dp = id(&dispute).to_string();
    assert!(dp.starts_with("dp_"));
    assert_eq!(dispute["status"], "needs_response");
    assert_eq!(dispute["reason"], "fraudulent");
    assert_eq!(dispute["amount"], 1299);
    assert_eq!(dispute["currency"], "usd");
    assert_eq!(dispute["payment_intent"], pi.as_str());
    assert_eq!(dispute["is_charge_refundable"], false);
    assert_eq!(
        dispute["payment_method_details"]["card"]["case_type"],
        "chargeback"
    );
    let due = dispute["evidence_details"]["due_by"].as_i64().unwrap();
    assert_eq!(due - dispute["created"].as_i64().unwrap(), 21 * 24 * 3600);
    let withdrawal = &dispute["balance_transactions"][0];
    assert_eq!(withdrawal["amount"], -1299);
    assert_eq!(withdrawal["fee"], 1500);
    assert_eq!(withdrawal["net"], -2799);
    let charge = sim
        .get(
            &format!("/v1/charges/{}", dispute["charge"].as_str().unwrap()),
            &[],
        )
        .await
        .ok();
    assert_eq!(charge["disputed"], true);
    assert_eq!(
        dispute_events(&sim, &dp).await,
        ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    );

    // Evidence staged, then a receipt uploaded and the winning evidence submitted.
    let staged = sim
        .post(
            &format!("/v1/disputes/{dp}"),
            &[("evidence[customer_name]", "Jane Doe"), ("submit", "false")],
        )
        .await
        .ok();
    assert_eq!(staged["status"], "needs_response");
    assert_eq!(staged["evidence"]["customer_name"], "Jane Doe");
    assert_eq!(staged["evidence_details"]["has_evidence"], true);
    let file = upload(&sim, "dispute_evidence", "receipt.pdf", PDF)
        .await
        .ok();
    assert_eq!(file["type"], "pdf");
    assert_eq!(file["size"], PDF.len());
    assert_eq!(file["filename"], "receipt.pdf");
    let won = sim
        .post(
            &format!("/v1/disputes/{dp}"),
            &[
                ("evidence[receipt]", id(&file)),
                ("evidence[uncategorized_text]", "winning_evidence"),
            ],
        )
        .await
        .ok();
    assert_eq!(won["status"], "won");
    assert_eq!(won["evidence"]["receipt"], id(&file));
    assert_eq!(won["evidence"]["customer_name"], "Jane Doe");
    assert_eq!(won["evidence_details"]["submission_count"], 1);
    let reinstated = &won["balance_transactions"][1];
    assert_eq!(
        (reinstated["amount"].as_i64(), reinstated["fee"].as_i64()),
        (Some(1299), Some(0))
    );
    assert_eq!(
        dispute_events(&sim, &dp).await,
        [
            "charge.dispute.created",
            "charge.dispute.funds_withdrawn",
            "charge.dispute.updated",
            "charge.dispute.updated",
            "charge.dispute.funds_reinstated",
            "charge.dispute.closed",
        ]
    );
    // Closed: no more evidence, no close.
    let late = sim
        .post(
            &format!("/v1/disputes/{dp}"),
            &[("evidence[customer_name]", "x")],
        )
        .await;
    assert_eq!(late.status, 400, "{:#}", late.body);
    let close = sim.post(&format!("/v1/disputes/{dp}/close"), &[]).await;
    assert_eq!(close.status, 400);
    // Metadata stays editable.
    let tagged = sim
        .post(&format!("/v1/disputes/{dp}"), &[("metadata[case]", "42")])
        .await
        .ok();
    assert_eq!(tagged["metadata"]["case"], "42");
}

#[tokio::test]
async fn losing_evidence_loses_and_close_accepts_the_loss() {
    let sim = start().await;
    let pi = captured(&sim, NOT_RECEIVED).await;
    let dispute = dispute_of(&sim, &pi).await;
    assert_eq!(dispute["reason"], "product_not_received");
    let dp = id(&dispute).to_string();
    let lost = sim
        .post(
            &format!("/v1/disputes/{dp}"),
            &[("evidence[uncategorized_text]", "losing_evidence")],
        )
        .await
        .ok();
    assert_eq!(lost["status"], "lost");
    assert_eq!(lost["balance_transactions"].as_array().unwrap().len(), 1);

    // Other evidence: under review, where it stays (no close once submitted).
    let pi = captured(&sim, FRAUDULENT).await;
    let dp = id(&dispute_of(&sim, &pi).await).to_string();
    let review = sim
        .post(
            &format!("/v1/disputes/{dp}"),
            &[("evidence[product_description]", "A coffee")],
        )
        .await
        .ok();
    assert_eq!(review["status"], "under_review");
    assert_eq!(
        sim.post(&format!("/v1/disputes/{dp}/close"), &[])
            .await
            .status,
        400
    );

    let pi = captured(&sim, FRAUDULENT).await;
    let dp = id(&dispute_of(&sim, &pi).await).to_string();
    let closed = sim
        .post(&format!("/v1/disputes/{dp}/close"), &[])
        .await
        .ok();
    assert_eq!(closed["status"], "lost");
    assert_eq!(
        dispute_events(&sim, &dp).await,
        [
            "charge.dispute.created",
            "charge.dispute.funds_withdrawn",
            "charge.dispute.closed"
        ]
    );
}

#[tokio::test]
async fn an_inquiry_withdraws_nothing_until_lost() {
    let sim = start().await;
    let pi = captured(&sim, INQUIRY).await;
    let inquiry = dispute_of(&sim, &pi).await;
    let dp = id(&inquiry).to_string();
    assert_eq!(inquiry["status"], "warning_needs_response");
    assert_eq!(inquiry["balance_transactions"], serde_json::json!([]));
    assert_eq!(inquiry["is_charge_refundable"], true);
    assert_eq!(
        inquiry["payment_method_details"]["card"]["case_type"],
        "inquiry"
    );
    let closed = sim
        .post(&format!("/v1/disputes/{dp}/close"), &[])
        .await
        .ok();
    assert_eq!(closed["status"], "warning_closed");
    assert_eq!(closed["balance_transactions"], serde_json::json!([]));

    let pi = captured(&sim, INQUIRY).await;
    let dp = id(&dispute_of(&sim, &pi).await).to_string();
    let lost = sim
        .post(
            &format!("/v1/disputes/{dp}"),
            &[("evidence[uncategorized_text]", "losing_evidence")],
        )
        .await
        .ok();
    assert_eq!(lost["status"], "lost");
    assert_eq!(lost["balance_transactions"][0]["amount"], -1299);
    assert_eq!(
        dispute_events(&sim, &dp).await,
        [
            "charge.dispute.created",
            "charge.dispute.updated",
            "charge.dispute.funds_withdrawn",
            "charge.dispute.closed",
        ]
    );
}

#[tokio::test]
async fn uploads_and_evidence_are_checked() {
    let sim = start().await;
    let not_pdf = upload(&sim, "dispute_evidence", "notes.txt", b"hello").await;
    assert_eq!(
        (not_pdf.status, not_pdf.body["error"]["param"].as_str()),
        (400, Some("file"))
    );
    let wrong = upload(&sim, "identity_document", "id.pdf", PDF).await;
    assert_eq!(
        (wrong.status, wrong.body["error"]["param"].as_str()),
        (400, Some("purpose"))
    );
    let empty = upload(&sim, "dispute_evidence", "e.pdf", b"").await;
    assert_eq!(empty.status, 400);
    let missing = sim
        .post("/v1/files", &[("purpose", "dispute_evidence")])
        .await;
    assert_eq!(missing.status, 400);

    let pi = captured(&sim, FRAUDULENT).await;
    let dp = id(&dispute_of(&sim, &pi).await).to_string();
    let unknown = sim
        .post(
            &format!("/v1/disputes/{dp}"),
            &[("evidence[receipt]", "file_nope")],
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body["error"]["param"].as_str()),
        (400, Some("evidence[receipt]"))
    );
    // Another account's dispute and file do not exist for this one.
    let other = sim.as_account("acct_other");
    assert_eq!(
        other.get(&format!("/v1/disputes/{dp}"), &[]).await.status,
        404
    );
    assert_eq!(
        other
            .post(&format!("/v1/disputes/{dp}/close"), &[])
            .await
            .status,
        404
    );
    let foreign = other.get("/v1/disputes", &[]).await.ok();
    assert_eq!(foreign["data"], serde_json::json!([]));
    let theirs = upload(&other, "dispute_evidence", "r.pdf", PDF).await.ok();
    let refused = sim
        .post(
            &format!("/v1/disputes/{dp}"),
            &[("evidence[receipt]", id(&theirs))],
        )
        .await;
    assert_eq!(refused.status, 400);
    let ours = upload(&sim, "dispute_evidence", "r.pdf", PDF).await.ok();
    let submitted = sim
        .post(
            &format!("/v1/disputes/{dp}"),
            &[("evidence[receipt]", id(&ours))],
        )
        .await
        .ok();
    assert_eq!(submitted["status"], "under_review");
    // A plain card is never disputed.
    let pi = captured(&sim, "4242424242424242").await;
    let none = sim
        .get("/v1/disputes", &[("payment_intent", &pi)])
        .await
        .ok();
    assert_eq!(none["data"], serde_json::json!([]));
}
