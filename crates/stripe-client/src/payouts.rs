//! Payouts and balance transactions: retrieve and list payouts, retrieve and list balance
//! transactions (by payout, type, source), and every balance transaction of one payout (the
//! pages followed) — what reconciling an automatic payout needs. Amounts are integers in the
//! currency's minor units, as everywhere in this client.

use serde::Deserialize;

use super::client::{id_path, StripeAccount, StripeClient};
use super::error::StripeError;
use super::form::Form;
use super::types::{null_default, string_enum, Expandable, HasId, List, ListParams, Metadata};

string_enum! {
    /// Where a payout stands.
    pub enum PayoutStatus {
        Pending = "pending",
        InTransit = "in_transit",
        Paid = "paid",
        Failed = "failed",
        Canceled = "canceled",
    }
}

string_enum! {
    /// What moved an account's balance (the ones a card-present business sees; others decode as
    /// `Unknown`).
    pub enum BalanceTransactionType {
        Charge = "charge",
        Payment = "payment",
        Refund = "refund",
        PaymentRefund = "payment_refund",
        Adjustment = "adjustment",
        Payout = "payout",
        PayoutFailure = "payout_failure",
        PayoutCancel = "payout_cancel",
        StripeFee = "stripe_fee",
    }
}

/// A payout from the Stripe balance to the account's bank account.
#[derive(Debug, Clone, Deserialize)]
pub struct Payout {
    pub id: String,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
    /// When the money is expected at the bank (unix seconds).
    pub arrival_date: i64,
    /// Made by Stripe's payout schedule (only these can be reconciled transaction by transaction).
    #[serde(default)]
    pub automatic: bool,
    pub status: PayoutStatus,
    #[serde(default)]
    pub balance_transaction: Option<Expandable<BalanceTransaction>>,
    #[serde(default)]
    pub failure_code: Option<String>,
    #[serde(default)]
    pub failure_message: Option<String>,
    #[serde(default)]
    pub failure_balance_transaction: Option<Expandable<BalanceTransaction>>,
    #[serde(default)]
    pub reconciliation_status: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
}

impl HasId for Payout {
    fn id(&self) -> &str {
        &self.id
    }
}

/// One fee of a balance transaction.
#[derive(Debug, Clone, Deserialize)]
pub struct FeeDetail {
    pub amount: i64,
    pub currency: String,
    #[serde(rename = "type")]
    pub fee_type: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// A movement of the balance: `amount` gross (negative for money going out), `fee`, `net =
/// amount - fee`, and the object that moved it (`source`: a charge, refund, dispute, payout).
#[derive(Debug, Clone, Deserialize)]
pub struct BalanceTransaction {
    pub id: String,
    pub amount: i64,
    pub fee: i64,
    #[serde(default)]
    pub fee_details: Vec<FeeDetail>,
    pub net: i64,
    pub currency: String,
    pub available_on: i64,
    #[serde(rename = "type")]
    pub transaction_type: BalanceTransactionType,
    #[serde(default)]
    pub reporting_category: Option<String>,
    /// The id of the object that moved the money (expanded: its `id` field).
    #[serde(default)]
    pub source: Option<Expandable<serde_json::Value>>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub created: i64,
}

impl BalanceTransaction {
    /// The id of the object that moved the money.
    pub fn source_id(&self) -> Option<&str> {
        self.source.as_ref().map(Expandable::id)
    }
}

impl HasId for BalanceTransaction {
    fn id(&self) -> &str {
        &self.id
    }
}

impl HasId for serde_json::Value {
    fn id(&self) -> &str {
        self["id"].as_str().unwrap_or_default()
    }
}

/// `GET /v1/payouts`: by status and arrival date, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListPayouts<'a> {
    pub status: Option<&'a PayoutStatus>,
    pub arrival_date_gte: Option<i64>,
    pub arrival_date_lte: Option<i64>,
    pub page: ListParams<'a>,
}

/// `GET /v1/balance_transactions`: by payout, type and source, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListBalanceTransactions<'a> {
    pub payout: Option<&'a str>,
    pub transaction_type: Option<&'a BalanceTransactionType>,
    pub source: Option<&'a str>,
    pub page: ListParams<'a>,
}

impl ListBalanceTransactions<'_> {
    fn encode(&self) -> Form {
        let mut query = Form::new();
        query.push_opt("payout", self.payout);
        query.push_opt("type", self.transaction_type);
        query.push_opt("source", self.source);
        self.page.encode(&mut query);
        query
    }
}

const PAYOUTS: &str = "/v1/payouts";
const BALANCE_TRANSACTIONS: &str = "/v1/balance_transactions";

impl StripeClient {
    pub async fn retrieve_payout(
        &self,
        account: &StripeAccount,
        id: &str,
    ) -> Result<Payout, StripeError> {
        self.get(account, &id_path(PAYOUTS, id, "")?, Form::new())
            .await
    }

    pub async fn list_payouts(
        &self,
        account: &StripeAccount,
        params: &ListPayouts<'_>,
    ) -> Result<List<Payout>, StripeError> {
        let mut query = Form::new();
        query.push_opt("status", params.status);
        if let Some(gte) = params.arrival_date_gte {
            query.key("arrival_date").field("gte").value(gte);
        }
        if let Some(lte) = params.arrival_date_lte {
            query.key("arrival_date").field("lte").value(lte);
        }
        params.page.encode(&mut query);
        self.get(account, PAYOUTS, query).await
    }

    pub async fn retrieve_balance_transaction(
        &self,
        account: &StripeAccount,
        id: &str,
    ) -> Result<BalanceTransaction, StripeError> {
        self.get(
            account,
            &id_path(BALANCE_TRANSACTIONS, id, "")?,
            Form::new(),
        )
        .await
    }

    pub async fn list_balance_transactions(
        &self,
        account: &StripeAccount,
        params: &ListBalanceTransactions<'_>,
    ) -> Result<List<BalanceTransaction>, StripeError> {
        self.get(account, BALANCE_TRANSACTIONS, params.encode())
            .await
    }

    /// Every balance transaction of payout `payout` (the ones it paid out and its own), newest
    /// first, with their `source` expanded (the charge, refund, dispute or payout, to match them
    /// to one's own records), following `has_more` page by page (100 per page).
    pub async fn payout_balance_transactions(
        &self,
        account: &StripeAccount,
        payout: &str,
    ) -> Result<Vec<BalanceTransaction>, StripeError> {
        let mut all: Vec<BalanceTransaction> = Vec::new();
        loop {
            let params = ListBalanceTransactions {
                payout: Some(payout),
                page: ListParams {
                    limit: Some(100),
                    starting_after: all.last().map(|t| t.id.as_str()),
                    expand: &["data.source"],
                    ..ListParams::default()
                },
                ..ListBalanceTransactions::default()
            };
            let list = self.list_balance_transactions(account, &params).await?;
            let more = list.has_more && !list.data.is_empty();
            all.extend(list.data);
            if !more {
                return Ok(all);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_filters_and_decodes_payouts_and_transactions() {
        let kind = BalanceTransactionType::Charge;
        let params = ListBalanceTransactions {
            payout: Some("po_1"),
            transaction_type: Some(&kind),
            page: ListParams {
                limit: Some(100),
                starting_after: Some("txn_9"),
                ..ListParams::default()
            },
            ..ListBalanceTransactions::default()
        };
        assert_eq!(
            params.encode().as_str(),
            "payout=po_1&type=charge&limit=100&starting_after=txn_9"
        );
        let payout: Payout = serde_json::from_str(
            r#"{"id":"po_1","object":"payout","amount":1936,"currency":"usd","arrival_date":5,
                "automatic":true,"status":"failed","balance_transaction":"txn_1",
                "failure_code":"account_closed","failure_message":"closed",
                "failure_balance_transaction":"txn_2","metadata":{},"created":1}"#,
        )
        .unwrap();
        assert_eq!(payout.status, PayoutStatus::Failed);
        assert_eq!(payout.failure_code.as_deref(), Some("account_closed"));
        let txn: BalanceTransaction = serde_json::from_str(
            r#"{"id":"txn_1","object":"balance_transaction","amount":1000,"fee":32,"net":968,
                "fee_details":[{"amount":32,"currency":"usd","type":"stripe_fee","description":"x",
                "application":null}],"currency":"usd","available_on":2,"type":"charge",
                "reporting_category":"charge","source":"ch_1","status":"available","created":1}"#,
        )
        .unwrap();
        assert_eq!(txn.transaction_type, BalanceTransactionType::Charge);
        assert_eq!(txn.source_id(), Some("ch_1"));
        assert_eq!(txn.fee_details[0].amount, 32);
        let other: BalanceTransaction = serde_json::from_str(
            r#"{"id":"txn_2","amount":-5,"fee":0,"net":-5,"currency":"usd","available_on":2,
                "type":"issuing_transaction","source":null,"created":1}"#,
        )
        .unwrap();
        assert_eq!(other.transaction_type.as_str(), "issuing_transaction");
        assert_eq!(other.source_id(), None);
    }
}
