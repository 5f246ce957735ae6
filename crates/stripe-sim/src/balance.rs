//! Balance transactions: every movement of an account's Stripe balance (a captured charge, a
//! refund, a dispute's withdrawal or reinstatement, a payout and a failed payout's return), with
//! the simulated fee, retrieve and list (by `payout`, `type`, `source`, `currency`, `created`).
//!
//! The simulated fee rule (the simulator's own, modelled on Stripe's standard US pricing): a
//! card-present or Interac charge costs 2.7% of the captured amount plus 5 minor units of its
//! currency, an online card charge 2.9% plus 30 minor units, the percentage rounded half up to a
//! whole minor unit; refunds return no fee; a dispute withdrawal costs the 15.00 dispute fee.
//! Funds of a charge become available 2 days after it (`available_on`, Stripe's standard
//! 2-day rolling schedule); refunds, dispute movements and payouts at once. Until the payout clock
//! (`payouts`) reaches `available_on`, a transaction is `pending`.

use super::error::ApiError;
use super::state::{created_matches, find, list, newest_first, Ctx, Meta, Object, State};
use serde_json::{json, Value};

/// Days until a charge's funds are available.
pub(crate) const AVAILABLE_AFTER_SECS: i64 = 2 * 24 * 60 * 60;

/// Card-present fee: basis points (1/100 %) and fixed minor units.
const PRESENT_FEE: (i64, i64) = (270, 5);
/// Online card fee.
const ONLINE_FEE: (i64, i64) = (290, 30);

#[derive(Debug, Clone)]
pub(crate) struct BalanceTransaction {
    pub meta: Meta,
    pub amount: i64,
    pub fee: i64,
    pub fee_description: &'static str,
    pub currency: String,
    pub description: Option<String>,
    pub available_on: i64,
    /// `charge`, `refund`, `adjustment`, `payout`, `payout_failure`.
    pub kind: &'static str,
    pub reporting_category: &'static str,
    /// The charge, refund, dispute or payout that moved the money.
    pub source: String,
    /// Whether the payout clock has reached `available_on`.
    pub available: bool,
    /// The automatic payout that paid it out (a payout's own transaction names its payout).
    pub payout: Option<String>,
}

impl Object for BalanceTransaction {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl BalanceTransaction {
    pub fn net(&self) -> i64 {
        self.amount - self.fee
    }

    pub fn render(&self) -> Value {
        let fee_details: Vec<Value> = if self.fee == 0 {
            Vec::new()
        } else {
            vec![json!({
                "amount": self.fee, "application": null, "currency": self.currency,
                "description": self.fee_description, "type": "stripe_fee",
            })]
        };
        json!({
            "id": self.meta.id,
            "object": "balance_transaction",
            "amount": self.amount,
            "available_on": self.available_on,
            "balance_type": "payments",
            "created": self.meta.created,
            "currency": self.currency,
            "description": self.description,
            "exchange_rate": null,
            "fee": self.fee,
            "fee_details": fee_details,
            "net": self.net(),
            "reporting_category": self.reporting_category,
            "source": self.source,
            "status": if self.available { "available" } else { "pending" },
            "type": self.kind,
        })
    }
}

/// The simulated fee of a charge of `amount` paid with `method` (`card_present`,
/// `interac_present`, `card`).
pub(crate) fn charge_fee(amount: i64, method: &str) -> i64 {
    let (bps, fixed) = if method == "card" {
        ONLINE_FEE
    } else {
        PRESENT_FEE
    };
    (amount * bps + 5_000) / 10_000 + fixed
}

/// What a new balance transaction records.
pub(crate) struct Movement<'a> {
    pub ns: &'a str,
    pub now: i64,
    pub amount: i64,
    pub fee: i64,
    pub fee_description: &'static str,
    pub currency: &'a str,
    pub description: Option<String>,
    pub available_on: i64,
    pub kind: &'static str,
    pub reporting_category: &'static str,
    pub source: &'a str,
    pub payout: Option<String>,
}

impl State {
    /// Records a balance transaction; returns its id.
    pub(crate) fn record_balance(&mut self, m: Movement) -> String {
        let meta = self.meta("txn", m.ns, m.now);
        let id = meta.id.clone();
        let available = m.available_on <= m.now + self.payout_clock;
        self.balance_transactions.insert(
            id.clone(),
            BalanceTransaction {
                meta,
                amount: m.amount,
                fee: m.fee,
                fee_description: m.fee_description,
                currency: m.currency.to_string(),
                description: m.description,
                available_on: m.available_on,
                kind: m.kind,
                reporting_category: m.reporting_category,
                source: m.source.to_string(),
                available,
                payout: m.payout,
            },
        );
        id
    }

    /// The balance transaction of a captured charge (`amount` captured); returns its id.
    pub(crate) fn record_charge_balance(
        &mut self,
        ns: &str,
        now: i64,
        charge: &str,
        amount: i64,
        currency: &str,
        method: &str,
    ) -> String {
        self.record_balance(Movement {
            ns,
            now,
            amount,
            fee: charge_fee(amount, method),
            fee_description: "Stripe processing fees",
            currency,
            description: None,
            available_on: now + AVAILABLE_AFTER_SECS,
            kind: "charge",
            reporting_category: "charge",
            source: charge,
            payout: None,
        })
    }

    /// The balance transaction of a refund; returns its id.
    pub(crate) fn record_refund_balance(
        &mut self,
        ns: &str,
        now: i64,
        refund: &str,
        amount: i64,
        currency: &str,
    ) -> String {
        self.record_balance(Movement {
            ns,
            now,
            amount: -amount,
            fee: 0,
            fee_description: "",
            currency,
            description: Some("REFUND FOR CHARGE".to_string()),
            available_on: now,
            kind: "refund",
            reporting_category: "refund",
            source: refund,
            payout: None,
        })
    }
}

/// `GET /v1/balance_transactions/{id}`
pub(crate) fn retrieve(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let id = ctx.path_param(0);
    find(&state.balance_transactions, ctx.ns(), id)
        .map(BalanceTransaction::render)
        .ok_or_else(|| ApiError::no_such("balance_transaction", id, "id"))
}

/// `GET /v1/balance_transactions`: newest first, filtered by `payout` (the transactions it paid
/// out and its own), `type`, `source`, `currency` and `created`.
pub(crate) fn list_all(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let p = ctx.params;
    if let Some(payout) = p.str("payout") {
        if find(&state.payouts, ctx.ns(), payout).is_none() {
            return Err(ApiError::no_such_param("payout", payout, "payout"));
        }
    }
    let items = newest_first(&state.balance_transactions, ctx.ns())
        .into_iter()
        .filter(|t| {
            p.str("payout")
                .is_none_or(|po| t.payout.as_deref() == Some(po))
        })
        .filter(|t| p.str("type").is_none_or(|k| t.kind == k))
        .filter(|t| p.str("source").is_none_or(|s| t.source == s))
        .filter(|t| p.str("currency").is_none_or(|c| t.currency == c))
        .filter(|t| created_matches(p, t.meta.created))
        .collect::<Vec<_>>();
    list(
        items,
        BalanceTransaction::render,
        p,
        "/v1/balance_transactions",
    )
}

#[cfg(test)]
mod tests {
    use super::charge_fee;

    #[test]
    fn fees_round_half_up() {
        // 2.7% of 10.00 = 27, + 5.
        assert_eq!(charge_fee(1000, "card_present"), 32);
        assert_eq!(charge_fee(1000, "interac_present"), 32);
        // 2.9% of 10.00 = 29, + 30.
        assert_eq!(charge_fee(1000, "card"), 59);
        // 2.7% of 0.50 = 1.35 → 1, + 5; of 2.50 = 6.75 → 7, + 5.
        assert_eq!(charge_fee(50, "card_present"), 6);
        assert_eq!(charge_fee(250, "card_present"), 12);
    }
}
