//! The invariants, checked after the run against the simulator's own state (its PaymentIntents,
//! Charges and PaymentMethods), our API (payments with their history, saved cards, the webhook
//! outbox) and what the merchant endpoint received. Each broken invariant is one `Violation` of a
//! named kind.

use crate::client::{Api, Reply};
use crate::receiver::Delivery;
use crate::sales::{minor, Sale};
use rand::rngs::StdRng;
use reqwest::Method;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone)]
pub struct Violation {
    pub kind: &'static str,
    pub detail: String,
}

/// A listed card and its PaymentMethod's fingerprint at Stripe (None: not at Stripe).
pub type SavedCard = (Value, Option<String>);

/// Everything the checks compare, gathered once the run has settled.
pub struct Observed {
    /// Every PaymentIntent at Stripe.
    pub stripe: Vec<Value>,
    /// Charge id → amount refunded at Stripe.
    pub refunded: HashMap<String, i64>,
    /// Per account: our payments as listed (the database's view, before any refresh).
    pub ours: Vec<Value>,
    /// Our payments with their history (`GET /v1/payment/{id}`), by id.
    pub details: HashMap<String, Value>,
    /// (account, external customer) → saved cards, with the fingerprint Stripe gives each.
    pub cards: BTreeMap<(String, String), Vec<SavedCard>>,
    /// Outbox rows still pending or failed after the wait: (account, row).
    pub undelivered: Vec<(String, Value)>,
    pub deliveries: Vec<Delivery>,
}

/// An id cut to 40 characters for a violation's line.
fn short(id: &str) -> String {
    match id.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &id[..at]),
        None => id.to_string(),
    }
}

/// Ranks statuses in the forward-only order the README defines; finals share the top rank.
fn rank(status: &str) -> i32 {
    match status {
        "creating" => 0,
        "requires_payment_method" => 1,
        "requires_confirmation" => 2,
        "requires_action" => 3,
        "processing" => 4,
        "requires_capture" => 5,
        _ => 6,
    }
}

const FINAL: [&str; 3] = ["succeeded", "canceled", "failed"];

async fn all_pages(
    api: &Api,
    rng: &mut StdRng,
    token: &str,
    path: &str,
) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100_000 {
        let url = match &after {
            None => format!("{path}&limit=100"),
            Some(a) => format!("{path}&limit=100&starting_after={a}"),
        };
        let page = match api.call(rng, Method::GET, &url, token, None, None).await {
            Reply::Ok(page) => page,
            other => return Err(format!("GET {url}: {other:?}")),
        };
        let data = page["data"].as_array().cloned().unwrap_or_default();
        out.extend(data);
        match page["next_starting_after"].as_str() {
            Some(next) if page["has_more"] == true => after = Some(next.to_string()),
            _ => return Ok(out),
        }
    }
    Err(format!("{path}: too many pages"))
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Gathers what the checks need. `accounts` are (external account id, token).
pub async fn observe(
    api: &Api,
    rng: &mut StdRng,
    sim_url: &str,
    accounts: &[(String, String)],
    sales: &[Sale],
    deliveries: Vec<Delivery>,
    undelivered: Vec<(String, Value)>,
) -> Result<Observed, String> {
    let mut stripe = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100_000 {
        let path = match &after {
            None => "/v1/payment_intents?limit=100".to_string(),
            Some(a) => format!("/v1/payment_intents?limit=100&starting_after={a}"),
        };
        let page = api.sim_get(sim_url, &path).await?;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        after = data
            .last()
            .and_then(|p| p["id"].as_str())
            .map(str::to_string);
        stripe.extend(data);
        if page["has_more"] != true {
            break;
        }
    }
    let mut refunded = HashMap::new();
    for pi in &stripe {
        if let (Some(charge), true) = (
            pi["latest_charge"].as_str(),
            pi["amount_received"].as_i64().unwrap_or(0) > 0,
        ) {
            let c = api
                .sim_get(sim_url, &format!("/v1/charges/{charge}"))
                .await?;
            refunded.insert(
                charge.to_string(),
                c["amount_refunded"].as_i64().unwrap_or(0),
            );
        }
    }
    let mut ours = Vec::new();
    let mut details = HashMap::new();
    for (account, token) in accounts {
        let listed = all_pages(
            api,
            rng,
            token,
            &format!("/v1/payments?external_account_id={}", encode(account)),
        )
        .await?;
        for p in &listed {
            if let Some(id) = p["id"].as_str() {
                let path = format!("/v1/payment/{id}?external_account_id={}", encode(account));
                match api.call(rng, Method::GET, &path, token, None, None).await {
                    Reply::Ok(d) => {
                        details.insert(id.to_string(), d);
                    }
                    other => return Err(format!("GET {path}: {other:?}")),
                }
            }
        }
        ours.extend(listed);
    }
    let mut cards = BTreeMap::new();
    let customers: HashSet<(String, String)> = sales
        .iter()
        .filter_map(|s| Some((s.account.clone(), s.customer.clone()?)))
        .collect();
    for (account, customer) in customers {
        let token = &accounts
            .iter()
            .find(|(a, _)| *a == account)
            .expect("account")
            .1;
        let path = format!(
            "/v1/customer/cards?external_account_id={}&external_customer_id={}",
            encode(&account),
            encode(&customer)
        );
        let list = match api.call(rng, Method::GET, &path, token, None, None).await {
            Reply::Ok(l) => l["data"].as_array().cloned().unwrap_or_default(),
            Reply::Final(404, _) => Vec::new(),
            other => return Err(format!("GET {path}: {other:?}")),
        };
        let mut with_fingerprints = Vec::new();
        for card in list {
            let pm = card["payment_method_id"].as_str().unwrap_or_default();
            let fingerprint = api
                .sim_get(sim_url, &format!("/v1/payment_methods/{pm}"))
                .await
                .ok()
                .and_then(|m| {
                    m["card_present"]["fingerprint"]
                        .as_str()
                        .or(m["card"]["fingerprint"].as_str())
                        .map(str::to_string)
                });
            with_fingerprints.push((card, fingerprint));
        }
        cards.insert((account, customer), with_fingerprints);
    }
    Ok(Observed {
        stripe,
        refunded,
        ours,
        details,
        cards,
        undelivered,
        deliveries,
    })
}

/// Checks every invariant; returns the violations.
pub fn check(
    observed: &Observed,
    sales: &[Sale],
    saved: &[(String, String, String)],
    accounts: &[(String, String)],
) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut add = |kind: &'static str, detail: String| v.push(Violation { kind, detail });
    let ours_accounts: HashSet<&str> = accounts.iter().map(|(a, _)| a.as_str()).collect();

    // Stripe's PaymentIntents of our accounts, by (account, external_transaction_id).
    let mut by_tx: HashMap<(String, String), Vec<&Value>> = HashMap::new();
    for pi in &observed.stripe {
        let account = pi["metadata"]["external_account_id"]
            .as_str()
            .unwrap_or_default();
        if !ours_accounts.contains(account) {
            continue;
        }
        let tx = pi["metadata"]["external_transaction_id"]
            .as_str()
            .unwrap_or_default();
        by_tx
            .entry((account.to_string(), tx.to_string()))
            .or_default()
            .push(pi);
    }
    for ((account, tx), pis) in &by_tx {
        if pis.len() > 1 {
            let ids: Vec<&str> = pis.iter().filter_map(|p| p["id"].as_str()).collect();
            add(
                "duplicate_payment_intent",
                format!("{account} / {}: {ids:?}", short(tx)),
            );
        }
    }
    let stripe_by_id: HashMap<&str, &Value> = observed
        .stripe
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    let refunded_at_stripe = |pi: &Value| -> i64 {
        pi["latest_charge"]
            .as_str()
            .and_then(|c| observed.refunded.get(c))
            .copied()
            .unwrap_or(0)
    };
    let took = |pis: Option<&Vec<&Value>>| -> i64 {
        pis.map(|pis| {
            pis.iter()
                .map(|p| p["amount_received"].as_i64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
    };

    // What each till saw against Stripe.
    for sale in sales {
        let key = (sale.account.clone(), sale.transaction.clone());
        let pis = by_tx.get(&key);
        let label = format!(
            "sale {} ({}) {}",
            sale.index,
            sale.kind,
            short(&sale.transaction)
        );
        for u in &sale.unknown {
            add("client_gave_up", format!("{label}: {u}"));
        }
        for u in &sale.unexpected {
            add("unexpected_error", format!("{label}: {u}"));
        }
        if let Some(captured) = sale.captured {
            let succeeded: Vec<&&Value> = pis
                .map(|p| p.iter().filter(|p| p["status"] == "succeeded").collect())
                .unwrap_or_default();
            let received: i64 = succeeded
                .iter()
                .map(|p| p["amount_received"].as_i64().unwrap_or(0))
                .sum();
            if succeeded.len() != 1 || received != captured {
                add(
                    "capture_not_exactly_once",
                    format!("{label}: till told {captured} captured, Stripe has {} succeeded intent(s) receiving {received}", succeeded.len()),
                );
            }
        }
        if sale.voided {
            let canceled = pis.is_some_and(|p| p.iter().all(|p| p["status"] == "canceled"));
            if !canceled {
                add(
                    "void_not_at_stripe",
                    format!("{label}: till told voided, Stripe disagrees"),
                );
            }
        }
        if sale.refunded > 0 || sale.refund_unknown > 0 {
            let at_stripe: i64 = pis
                .map(|p| p.iter().map(|p| refunded_at_stripe(p)).sum())
                .unwrap_or(0);
            if at_stripe < sale.refunded || at_stripe > sale.refunded + sale.refund_unknown {
                add(
                    "refund_mismatch",
                    format!(
                        "{label}: till told {} refunded ({} unknown), Stripe refunded {at_stripe}",
                        sale.refunded, sale.refund_unknown
                    ),
                );
            }
        }
        if let Some(failure) = &sale.told_failed {
            let taken = took(pis);
            if taken > 0 {
                add(
                    "told_failed_but_charged",
                    format!("{label}: till told \"{failure}\", Stripe took {taken}"),
                );
            }
        }
    }

    // Stripe against our records.
    let ours_by_id: HashMap<&str, &Value> = observed
        .ours
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    for ((account, tx), pis) in &by_tx {
        for pi in pis {
            let id = pi["id"].as_str().unwrap_or_default();
            let Some(ours) = ours_by_id.get(id) else {
                add(
                    "unknown_to_us",
                    format!(
                        "{id} ({account} / {}, {}) is not in GET /v1/payments",
                        short(tx),
                        pi["status"]
                    ),
                );
                continue;
            };
            let (status, stripe_status) = (
                ours["status"].as_str().unwrap_or_default(),
                pi["status"].as_str().unwrap_or_default(),
            );
            let declined = status == "failed" && stripe_status == "requires_payment_method";
            if status != stripe_status && !declined {
                add(
                    "status_mismatch",
                    format!("{id}: ours {status}, Stripe {stripe_status}"),
                );
            }
            let amounts = [
                ("amount", minor(&ours["amount"]), pi["amount"].as_i64()),
                (
                    "amount_captured",
                    minor(&ours["amount_captured"]),
                    pi["amount_received"].as_i64(),
                ),
                (
                    "amount_refunded",
                    minor(&ours["amount_refunded"]),
                    Some(refunded_at_stripe(pi)),
                ),
            ];
            for (field, ours, stripe) in amounts {
                if ours != stripe {
                    add(
                        "amount_mismatch",
                        format!("{id}: {field} ours {ours:?}, Stripe {stripe:?}"),
                    );
                }
            }
        }
    }
    for p in &observed.ours {
        match p["id"].as_str() {
            Some(id) if !stripe_by_id.contains_key(id) => add(
                "unknown_to_stripe",
                format!("{id}: ours {}, not at Stripe", p["status"]),
            ),
            None => add(
                "status_mismatch",
                format!(
                    "{} still {} with no PaymentIntent after reconcile",
                    p["external_transaction_id"], p["status"]
                ),
            ),
            _ => {}
        }
    }

    // History: a status never moves backwards, and a final status never changes.
    for (id, d) in &observed.details {
        let mut last: Option<&str> = None;
        for h in d["history"].as_array().into_iter().flatten() {
            let status = h["status"].as_str().unwrap_or_default();
            if let Some(prev) = last {
                let backwards =
                    rank(status) < rank(prev) || (FINAL.contains(&prev) && status != prev);
                if backwards {
                    add(
                        "status_backwards",
                        format!(
                            "{id}: {prev} → {status} ({} by {})",
                            h["action"], h["actor"]
                        ),
                    );
                }
            }
            last = Some(status);
        }
    }

    // One saved card per customer and fingerprint; every card the till saw saved is listed.
    let mut listed_cards = HashSet::new();
    for ((account, customer), cards) in &observed.cards {
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for (card, fingerprint) in cards {
            let id = card["id"].as_str().unwrap_or_default();
            listed_cards.insert(id.to_string());
            match fingerprint {
                None => add(
                    "card_unknown_to_stripe",
                    format!(
                        "{account} / {}: card {id} ({})",
                        short(customer),
                        card["payment_method_id"]
                    ),
                ),
                Some(f) => {
                    if let Some(other) = seen.insert(f, id) {
                        add(
                            "duplicate_card",
                            format!(
                                "{account} / {}: cards {other} and {id} are one physical card",
                                short(customer)
                            ),
                        );
                    }
                }
            }
        }
    }

    for (account, customer, card) in saved {
        if !listed_cards.contains(card) {
            add(
                "saved_card_missing",
                format!(
                    "{account} / {}: card {card} the till saw saved is not listed",
                    short(customer)
                ),
            );
        }
    }

    // Merchant webhooks.
    let mut events: HashMap<&str, &Delivery> = HashMap::new();
    for d in &observed.deliveries {
        if !d.signature_ok {
            add(
                "webhook_bad_signature",
                format!("{} event {}", d.account, d.event_id),
            );
        }
        if d.body["id"].as_str() != Some(d.event_id.as_str()) {
            add(
                "webhook_malformed",
                format!(
                    "{} event {}: body id {}",
                    d.account, d.event_id, d.body["id"]
                ),
            );
        }
        events.entry(d.event_id.as_str()).or_insert(d);
    }
    for (account, row) in &observed.undelivered {
        add(
            "webhook_undelivered",
            format!(
                "{account}: {} {} is {} after {} attempt(s)",
                row["event_type"], row["event_id"], row["status"], row["attempts"]
            ),
        );
    }
    let mut per_object: HashMap<&str, Vec<&Value>> = HashMap::new();
    for d in events.values() {
        if let Some(id) = d.body["data"]["object"]["id"].as_str() {
            per_object.entry(id).or_default().push(&d.body);
        }
    }
    // In the order of the changes they announce: a payment's `updated_at` (microseconds, written
    // under its row lock), then `created` (seconds) and the event id (time-ordered, but only
    // within one instance: two instances' events of the same millisecond compare at random).
    for list in per_object.values_mut() {
        list.sort_by(|a, b| {
            let key = |e: &Value| {
                (
                    e["data"]["object"]["updated_at"]
                        .as_str()
                        .map(str::to_string),
                    e["created"].as_i64(),
                    e["id"].as_str().map(str::to_string),
                )
            };
            key(a).cmp(&key(b))
        });
    }
    let empty = Vec::new();
    for p in &observed.ours {
        let Some(id) = p["id"].as_str() else { continue };
        let got = per_object.get(id).unwrap_or(&empty);
        let count = |t: &str| got.iter().filter(|e| e["type"] == t).count();
        let status = p["status"].as_str().unwrap_or_default();
        let once = [
            ("payment.authorized", status == "requires_capture"),
            ("payment.captured", status == "succeeded"),
            ("payment.canceled", status == "canceled"),
        ];
        for (t, required) in once {
            match count(t) {
                0 if required => add("webhook_missing", format!("{id} is {status}: no {t}")),
                n if n > 1 => add("webhook_duplicate", format!("{id}: {n} × {t}")),
                _ => {}
            }
        }
        let failed = got
            .iter()
            .filter(|e| e["type"] == "payment.failed" && e["data"]["object"]["status"] == "failed")
            .count();
        match failed {
            0 if status == "failed" => add(
                "webhook_missing",
                format!("{id} is failed: no payment.failed"),
            ),
            n if n > 1 => add(
                "webhook_duplicate",
                format!("{id}: {n} × payment.failed (failed)"),
            ),
            _ => {}
        }
        if count("payment.captured") > 0 && count("payment.canceled") > 0 {
            add(
                "webhook_duplicate",
                format!("{id}: announced both captured and canceled"),
            );
        }
        let refunds: Vec<Option<i64>> = got
            .iter()
            .filter(|e| e["type"] == "payment.refunded")
            .map(|e| minor(&e["data"]["object"]["amount_refunded"]))
            .collect();
        let distinct: HashSet<&Option<i64>> = refunds.iter().collect();
        if distinct.len() != refunds.len() {
            add(
                "webhook_duplicate",
                format!("{id}: payment.refunded twice for one refund ({refunds:?})"),
            );
        }
        let refunded = minor(&p["amount_refunded"]).unwrap_or(0);
        if refunded > 0 && !refunds.contains(&Some(refunded)) {
            add(
                "webhook_missing",
                format!("{id}: refunded {refunded}, announced {refunds:?}"),
            );
        }
        // In state order: statuses never go back, refunds come after the capture.
        let mut last_rank = 0;
        let mut last_refunded = -1;
        for e in got {
            let object = &e["data"]["object"];
            let r = rank(object["status"].as_str().unwrap_or_default());
            if r < last_rank {
                add(
                    "webhook_out_of_order",
                    format!(
                        "{id}: {} ({}) after a later state",
                        e["type"], object["status"]
                    ),
                );
            }
            last_rank = last_rank.max(r);
            if e["type"] == "payment.refunded" {
                let amount = minor(&object["amount_refunded"]).unwrap_or(0);
                if amount < last_refunded {
                    add(
                        "webhook_out_of_order",
                        format!("{id}: payment.refunded {amount} after {last_refunded}"),
                    );
                }
                last_refunded = amount;
            }
        }
    }
    for card in &listed_cards {
        let n = per_object
            .get(card.as_str())
            .map(|l| l.iter().filter(|e| e["type"] == "card.saved").count())
            .unwrap_or(0);
        match n {
            0 => add("webhook_missing", format!("card {card}: no card.saved")),
            1 => {}
            n => add(
                "webhook_duplicate",
                format!("card {card}: {n} × card.saved"),
            ),
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pi(id: &str, tx: &str, status: &str, received: i64) -> Value {
        json!({"id": id, "status": status, "amount": 1000, "amount_received": received,
               "latest_charge": null,
               "metadata": {"external_account_id": "acme", "external_transaction_id": tx}})
    }

    fn ours(id: &str, tx: &str, status: &str, captured: &str) -> Value {
        json!({"id": id, "status": status, "amount": "10.00", "amount_captured": captured,
               "amount_refunded": "0.00", "external_transaction_id": tx})
    }

    fn observed(stripe: Vec<Value>, ours: Vec<Value>) -> Observed {
        Observed {
            stripe,
            refunded: HashMap::new(),
            ours,
            details: HashMap::new(),
            cards: BTreeMap::new(),
            undelivered: Vec::new(),
            deliveries: Vec::new(),
        }
    }

    fn kinds(v: &[Violation]) -> Vec<&'static str> {
        let mut k: Vec<_> = v.iter().map(|v| v.kind).collect();
        k.sort();
        k.dedup();
        k
    }

    fn accounts() -> Vec<(String, String)> {
        vec![("acme".into(), "token".into())]
    }

    #[test]
    fn a_consistent_run_has_no_violation() {
        let o = observed(
            vec![pi("pi_1", "t1", "canceled", 0)],
            vec![ours("pi_1", "t1", "canceled", "0.00")],
        );
        let mut o = o;
        o.deliveries.push(Delivery {
            account: "acme".into(),
            event_id: "evt_1".into(),
            body: json!({"id": "evt_1", "type": "payment.canceled", "created": 1,
                         "data": {"object": {"id": "pi_1", "status": "canceled"}}}),
            signature_ok: true,
        });
        let sale = Sale {
            account: "acme".into(),
            transaction: "t1".into(),
            voided: true,
            ..Sale::default()
        };
        assert!(check(&o, &[sale], &[], &accounts()).is_empty());
    }

    #[test]
    fn doubled_money_and_drift_are_found() {
        let o = observed(
            vec![
                pi("pi_1", "t1", "succeeded", 1000),
                pi("pi_2", "t1", "succeeded", 1000),
                pi("pi_3", "t3", "succeeded", 1000),
            ],
            vec![
                ours("pi_1", "t1", "succeeded", "10.00"),
                ours("pi_3", "t3", "requires_capture", "0.00"),
            ],
        );
        let sale = Sale {
            account: "acme".into(),
            transaction: "t1".into(),
            captured: Some(1000),
            ..Sale::default()
        };
        let told = Sale {
            account: "acme".into(),
            transaction: "t3".into(),
            told_failed: Some("capture 409".into()),
            ..Sale::default()
        };
        let v = check(&o, &[sale, told], &[], &accounts());
        assert_eq!(
            kinds(&v),
            [
                "amount_mismatch",
                "capture_not_exactly_once",
                "duplicate_payment_intent",
                "status_mismatch",
                "told_failed_but_charged",
                "unknown_to_us",
                "webhook_missing",
            ]
        );
    }

    #[test]
    fn backwards_history_and_doubled_events_are_found() {
        let mut o = observed(
            vec![pi("pi_1", "t1", "succeeded", 1000)],
            vec![ours("pi_1", "t1", "succeeded", "10.00")],
        );
        o.details.insert(
            "pi_1".into(),
            json!({"history": [{"status": "requires_capture"}, {"status": "succeeded"},
                               {"status": "requires_capture", "action": "sync", "actor": "stripe"}]}),
        );
        for (n, t, status) in [
            (1, "payment.captured", "succeeded"),
            (2, "payment.captured", "succeeded"),
            (3, "payment.authorized", "requires_capture"),
        ] {
            o.deliveries.push(Delivery {
                account: "acme".into(),
                event_id: format!("evt_{n}"),
                body: json!({"id": format!("evt_{n}"), "type": t, "created": n,
                             "data": {"object": {"id": "pi_1", "status": status}}}),
                signature_ok: n != 2,
            });
        }
        let v = check(&o, &[], &[], &accounts());
        assert_eq!(
            kinds(&v),
            [
                "status_backwards",
                "webhook_bad_signature",
                "webhook_duplicate",
                "webhook_out_of_order",
            ]
        );
    }
}
