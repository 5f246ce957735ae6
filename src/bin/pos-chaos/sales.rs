//! The sales a till makes, each scripted by its own seeded RNG: a card-present sale (intent → the
//! simulated reader takes a card → capture or void → save the card → refunds) or a charge of a
//! saved card. What the till saw of each sale is written to the ledger the checks compare with
//! Stripe's truth.

use crate::client::{Api, Reply};
use rand::rngs::StdRng;
use rand::Rng;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Mutex;

const VISA: &str = "4242424242424242";
const MASTERCARD: &str = "5555555555554444";
/// An approved phone/watch wallet tap: not saveable.
const WALLET: &str = "4111111111111111";
/// Approved at the reader; the card saved from it declines off-session.
const DECLINES_LATER: &str = "4000000000000341";
/// Declined at the reader (generic_decline).
const DECLINED: &str = "4000000000000002";

/// What the till saw of one sale.
#[derive(Debug, Clone, Default)]
pub struct Sale {
    pub index: u64,
    pub account: String,
    pub transaction: String,
    pub customer: Option<String>,
    pub kind: &'static str,
    pub amount: i64,
    pub payment_id: Option<String>,
    /// The capture (or charge) the till was told succeeded, in minor units.
    pub captured: Option<i64>,
    /// The till was told the payment was voided.
    pub voided: bool,
    /// The total refunded the till was last told.
    pub refunded: i64,
    /// Refund amounts whose outcome the till never learnt (full refunds count the amount).
    pub refund_unknown: i64,
    /// A definitive failure the till was told about its money (402, or a 4xx on capture).
    pub told_failed: Option<String>,
    /// Steps whose outcome the till never learnt.
    pub unknown: Vec<String>,
    /// A 4xx no correct backend gives to this script (e.g. a conflict on its own retry).
    pub unexpected: Vec<String>,
}

/// The shared record of a run.
#[derive(Default)]
pub struct Ledger {
    pub sales: Mutex<Vec<Sale>>,
    /// Cards the till saw saved: (account, external customer, card id).
    pub cards: Mutex<Vec<(String, String, String)>>,
}

/// Everything a till needs.
pub struct Till<'a> {
    pub api: &'a Api,
    pub sim_url: &'a str,
    pub reader: String,
    /// (external account id, token)
    pub accounts: &'a [(String, String)],
    pub ledger: &'a Ledger,
    pub seed: u64,
    pub customers_per_account: u64,
}

/// An id of up to 255 bytes in one of several scripts, unique by `kind`, `seed` and `n`.
pub fn text_id(rng: &mut StdRng, kind: &str, seed: u64, n: u64) -> String {
    let base = format!("{kind}-{seed}-{n}");
    match rng.gen_range(0..5) {
        0 => format!("order-{base}"),
        1 => format!("café-crème-reçu-{base}-é"),
        2 => format!("🧾🍕-{base}-✨👍🏽"),
        3 => format!("注文-{base}-取引番号"),
        _ => {
            let mut id = format!("long-{base}-");
            let fill = ['x', 'é', '東', '🙂', 'ß', '9'];
            let mut i = 0;
            while id.len() + fill[i % fill.len()].len_utf8() <= 255 {
                id.push(fill[i % fill.len()]);
                i += 1;
            }
            id
        }
    }
}

/// Minor units of a two-decimal amount as the API writes it ("12.99").
pub fn minor(text: &Value) -> Option<i64> {
    let text = text.as_str()?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let fraction = format!("{fraction:0<2}");
    if fraction.len() != 2 {
        return None;
    }
    Some(whole.parse::<i64>().ok()? * 100 + fraction.parse::<i64>().ok()?)
}

fn decimal(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn key(rng: &mut StdRng) -> String {
    format!("chaos-{:032x}", rng.gen::<u128>())
}

impl Till<'_> {
    /// The stable external id of customer `n` of an account.
    fn customer(&self, account: usize, n: u64) -> String {
        let mut rng = <StdRng as rand::SeedableRng>::seed_from_u64(
            self.seed ^ (account as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n,
        );
        text_id(&mut rng, &format!("cust{account}"), self.seed, n)
    }

    /// Runs sale `index` and records what the till saw.
    pub async fn sale(&self, index: u64) {
        let mut rng = <StdRng as rand::SeedableRng>::seed_from_u64(
            self.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ index,
        );
        let a = rng.gen_range(0..self.accounts.len());
        let (account, token) = &self.accounts[a];
        let mut sale = Sale {
            index,
            account: account.clone(),
            transaction: text_id(&mut rng, "tx", self.seed, index),
            amount: rng.gen_range(50..=50_000),
            ..Sale::default()
        };
        let saved: Vec<(String, String)> = self
            .ledger
            .cards
            .lock()
            .expect("cards")
            .iter()
            .filter(|(acc, _, _)| acc == account)
            .map(|(_, c, id)| (c.clone(), id.clone()))
            .collect();
        if !saved.is_empty() && rng.gen_bool(0.15) {
            let (customer, card) = saved[rng.gen_range(0..saved.len())].clone();
            self.charge(&mut rng, token, &mut sale, customer, card)
                .await;
        } else {
            if rng.gen_bool(0.6) {
                let n = rng.gen_range(0..self.customers_per_account);
                sale.customer = Some(self.customer(a, n));
            }
            self.card_present(&mut rng, token, &mut sale).await;
        }
        self.ledger.sales.lock().expect("sales").push(sale);
    }

    /// Sends one logical POST. Sometimes the till double-submits it (a double tap, a second
    /// tablet): the same body at once, with the same key or a fresh one; or reads the payment at
    /// the same moment, as a POS does after an unclear answer. The till keeps the answer that
    /// succeeded, if any.
    async fn post(
        &self,
        rng: &mut StdRng,
        path: &str,
        token: &str,
        body: Value,
        keyed: bool,
        payment: Option<(&str, &str)>,
    ) -> Reply {
        let k = keyed.then(|| key(rng));
        let mut twin = <StdRng as rand::SeedableRng>::seed_from_u64(rng.gen());
        let roll: f64 = rng.gen();
        if roll < 0.12 {
            // A refund under a fresh key is a second refund (README): only the same key repeats it.
            let fresh = rng.gen_bool(0.5) && path != "/v1/payment/refund";
            let other_key = if fresh { Some(key(rng)) } else { k.clone() };
            let (first, second) = futures_util::join!(
                self.api
                    .call(rng, Method::POST, path, token, Some(&body), k.as_deref()),
                self.api.call(
                    &mut twin,
                    Method::POST,
                    path,
                    token,
                    Some(&body),
                    other_key.as_deref()
                )
            );
            return match (first, second) {
                (Reply::Ok(a), Reply::Ok(b)) => {
                    if a["id"] != b["id"] {
                        return Reply::Final(
                            0,
                            json!({"error": {"code": "chaos_double_submit",
                                   "message": format!("a double submit answered two objects: {} and {}", a["id"], b["id"])}}),
                        );
                    }
                    Reply::Ok(a)
                }
                (Reply::Ok(a), _) | (_, Reply::Ok(a)) => Reply::Ok(a),
                (first, _) => first,
            };
        }
        if let (Some((id, account)), true) = (payment, roll < 0.24) {
            let get = format!("/v1/payment/{id}?external_account_id={}", encode(account));
            let (reply, _) = futures_util::join!(
                self.api
                    .call(rng, Method::POST, path, token, Some(&body), k.as_deref()),
                self.api
                    .call(&mut twin, Method::GET, &get, token, None, None)
            );
            return reply;
        }
        self.api
            .call(rng, Method::POST, path, token, Some(&body), k.as_deref())
            .await
    }

    async fn charge(
        &self,
        rng: &mut StdRng,
        token: &str,
        sale: &mut Sale,
        customer: String,
        card: String,
    ) {
        sale.kind = "saved_card_charge";
        sale.customer = Some(customer.clone());
        let body = json!({"external_account_id": sale.account, "external_customer_id": customer,
            "card_id": card, "amount": decimal(sale.amount),
            "external_transaction_id": sale.transaction});
        match self
            .post(rng, "/v1/payment/charge", token, body, true, None)
            .await
        {
            Reply::Ok(p) => {
                sale.payment_id = p["id"].as_str().map(str::to_string);
                if p["status"] == "succeeded" {
                    sale.captured = minor(&p["amount_captured"]);
                } else {
                    sale.unexpected
                        .push(format!("charge answered 200 with {}", p["status"]));
                }
            }
            Reply::Final(402, e) => {
                sale.payment_id = e["error"]["payment_id"].as_str().map(str::to_string);
                sale.told_failed = Some(format!(
                    "charge 402 {}",
                    e["error"]["decline_code"].as_str().unwrap_or_default()
                ));
            }
            Reply::Final(status, e) => {
                // Status 0: the double submit's two answers disagreed; not a failure told.
                if status != 0 {
                    sale.told_failed = Some(format!("charge {status} {}", e["error"]["code"]));
                }
                sale.unexpected.push(format!("charge: {status} {e}"));
            }
            Reply::GaveUp(why) => sale.unknown.push(why),
        }
    }

    async fn card_present(&self, rng: &mut StdRng, token: &str, sale: &mut Sale) {
        sale.kind = "card_present";
        let mut body = json!({"external_account_id": sale.account, "amount": decimal(sale.amount),
            "external_transaction_id": sale.transaction, "capture_method": "manual",
            "payment_method_types": "card_present"});
        if let Some(c) = &sale.customer {
            body["external_customer_id"] = json!(c);
        }
        let id = match self
            .post(rng, "/v1/payment/intent", token, body, true, None)
            .await
        {
            Reply::Ok(p) => match p["id"].as_str() {
                Some(id) => id.to_string(),
                None => {
                    sale.unexpected.push(format!("intent without id: {p}"));
                    return;
                }
            },
            Reply::Final(status, e) => {
                sale.unexpected.push(format!("intent: {status} {e}"));
                return;
            }
            Reply::GaveUp(why) => {
                sale.unknown.push(why);
                return;
            }
        };
        sale.payment_id = Some(id.clone());
        if rng.gen_bool(0.06) {
            sale.kind = "void_before_tap";
            return self.void(rng, token, sale).await;
        }
        let roll: f64 = rng.gen();
        let card = match roll {
            r if r < 0.70 => VISA,
            r if r < 0.82 => MASTERCARD,
            r if r < 0.88 => WALLET,
            r if r < 0.93 => DECLINES_LATER,
            _ => DECLINED,
        };
        if card == DECLINED {
            // The customer's first card is declined; the till tries again with another.
            let (status, tapped) = self.tap(rng, &id, DECLINED, sale.customer.is_some()).await;
            if status == 200 && tapped["action"]["status"] != "failed" {
                sale.unexpected
                    .push(format!("a declined card was approved: {tapped}"));
            }
        }
        let card = if card == DECLINED { VISA } else { card };
        let (status, tapped) = self.tap(rng, &id, card, sale.customer.is_some()).await;
        if status != 200 || tapped["action"]["status"] != "succeeded" {
            // The reader's own failure (not the backend's): the sale stays open, unpaid.
            sale.unexpected.push(format!("tap: {status} {tapped}"));
            return;
        }
        if rng.gen_bool(0.12) {
            sale.kind = "void_after_auth";
            return self.void(rng, token, sale).await;
        }
        let mut capture = json!({"payment_id": id, "external_account_id": sale.account});
        let amount = if rng.gen_bool(0.2) {
            let partial = rng.gen_range(50.min(sale.amount)..=sale.amount);
            capture["amount"] = json!(decimal(partial));
            partial
        } else {
            sale.amount
        };
        match self
            .post(
                rng,
                "/v1/payment/capture",
                token,
                capture,
                true,
                Some((&id, &sale.account)),
            )
            .await
        {
            Reply::Ok(p) if p["status"] == "succeeded" => {
                sale.captured = minor(&p["amount_captured"]);
                if sale.captured != Some(amount) {
                    sale.unexpected
                        .push(format!("captured {} for {amount}", p["amount_captured"]));
                }
            }
            Reply::Ok(p) => sale
                .unexpected
                .push(format!("capture answered {}", p["status"])),
            Reply::Final(status, e) => {
                if status != 0 {
                    sale.told_failed = Some(format!("capture {status} {}", e["error"]["code"]));
                }
                sale.unexpected.push(format!("capture: {status} {e}"));
                return;
            }
            Reply::GaveUp(why) => {
                sale.unknown.push(why);
                return;
            }
        }
        if let (Some(customer), true) = (sale.customer.clone(), card != WALLET) {
            if rng.gen_bool(0.6) {
                let body = json!({"payment_id": id, "external_customer_id": customer,
                    "external_account_id": sale.account});
                match self
                    .post(
                        rng,
                        "/v1/customer/card",
                        token,
                        body,
                        true,
                        Some((&id, &sale.account)),
                    )
                    .await
                {
                    Reply::Ok(c) => {
                        if let Some(card) = c["id"].as_str() {
                            self.ledger.cards.lock().expect("cards").push((
                                sale.account.clone(),
                                customer,
                                card.to_string(),
                            ));
                        }
                    }
                    Reply::Final(status, e) => {
                        sale.unexpected.push(format!("save card: {status} {e}"))
                    }
                    Reply::GaveUp(why) => sale.unknown.push(why),
                }
            }
        }
        if rng.gen_bool(0.25) {
            self.refunds(rng, token, sale, &id).await;
        }
    }

    async fn refunds(&self, rng: &mut StdRng, token: &str, sale: &mut Sale, id: &str) {
        let captured = sale.captured.unwrap_or(0);
        for _ in 0..rng.gen_range(1..=2) {
            let left = captured - sale.refunded;
            if left <= 0 {
                return;
            }
            let mut body = json!({"payment_id": id, "external_account_id": sale.account,
                "reason": "requested_by_customer"});
            let amount = if rng.gen_bool(0.5) {
                let part = rng.gen_range(1..=left);
                body["amount"] = json!(decimal(part));
                part
            } else {
                left
            };
            match self
                .post(
                    rng,
                    "/v1/payment/refund",
                    token,
                    body,
                    true,
                    Some((id, &sale.account)),
                )
                .await
            {
                Reply::Ok(p) => sale.refunded = minor(&p["amount_refunded"]).unwrap_or(0),
                Reply::Final(status, e) => {
                    sale.unexpected.push(format!("refund: {status} {e}"));
                    return;
                }
                Reply::GaveUp(why) => {
                    sale.refund_unknown += amount;
                    sale.unknown.push(why);
                    return;
                }
            }
        }
    }

    async fn void(&self, rng: &mut StdRng, token: &str, sale: &mut Sale) {
        let body = json!({"payment_id": sale.payment_id, "external_account_id": sale.account});
        let id = sale.payment_id.clone().unwrap_or_default();
        match self
            .post(
                rng,
                "/v1/payment/cancel",
                token,
                body,
                true,
                Some((&id, &sale.account)),
            )
            .await
        {
            Reply::Ok(p) if p["status"] == "canceled" => sale.voided = true,
            Reply::Ok(p) => sale
                .unexpected
                .push(format!("void answered {}", p["status"])),
            Reply::Final(status, e) => sale.unexpected.push(format!("void: {status} {e}")),
            Reply::GaveUp(why) => sale.unknown.push(why),
        }
    }

    /// The reader takes the intent and the customer taps `card`; returns the tap's answer. An
    /// intent with a customer saves the card: the till gives the consent Stripe requires for it
    /// (`process_config[allow_redisplay]`, `limited` as the backend's default).
    async fn tap(
        &self,
        rng: &mut StdRng,
        intent: &str,
        card: &str,
        saves_card: bool,
    ) -> (u16, Value) {
        let reader = &self.reader;
        let mut params = vec![("payment_intent", intent)];
        if saves_card {
            params.push(("process_config[allow_redisplay]", "limited"));
        }
        let (status, body) = self
            .api
            .sim_post(
                rng,
                self.sim_url,
                &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
                &params,
            )
            .await;
        if status != 200 {
            return (status, body);
        }
        self.api
            .sim_post(
                rng,
                self.sim_url,
                &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
                &[("card_present[number]", card), ("type", "card_present")],
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ids_fit_255_bytes_and_differ() {
        let mut rng = StdRng::seed_from_u64(3);
        let ids: Vec<String> = (0..200).map(|n| text_id(&mut rng, "tx", 3, n)).collect();
        assert!(ids.iter().all(|id| !id.is_empty() && id.len() <= 255));
        assert!(ids.iter().any(|id| id.len() > 250), "a long id");
        assert!(ids.iter().any(|id| id.contains('東')) && ids.iter().any(|id| id.contains('é')));
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }

    #[test]
    fn amounts_in_minor_units() {
        assert_eq!(minor(&Value::from("12.99")), Some(1299));
        assert_eq!(minor(&Value::from("5")), Some(500));
        assert_eq!(minor(&Value::from("0.5")), Some(50));
        assert_eq!(minor(&Value::from("1.234")), None);
        assert_eq!(decimal(1299), "12.99");
        assert_eq!(decimal(5), "0.05");
    }
}
