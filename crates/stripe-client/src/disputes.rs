//! Disputes (chargebacks and inquiries): retrieve, list (by charge or PaymentIntent), update
//! (evidence, metadata, `submit`) and close (accept the loss).

use serde::{Deserialize, Serialize};

use super::charges::Charge;
use super::client::{id_path, StripeAccount, StripeClient};
use super::error::StripeError;
use super::form::Form;
use super::payment_intents::PaymentIntent;
use super::types::{null_default, string_enum, Expandable, HasId, List, ListParams, Metadata};

string_enum! {
    /// Where a dispute stands. `warning_*`: an inquiry (no funds withdrawn yet).
    pub enum DisputeStatus {
        WarningNeedsResponse = "warning_needs_response",
        WarningUnderReview = "warning_under_review",
        WarningClosed = "warning_closed",
        NeedsResponse = "needs_response",
        UnderReview = "under_review",
        Won = "won",
        Lost = "lost",
        Prevented = "prevented",
        AppealNeedsResponse = "appeal_needs_response",
        AppealUnderReview = "appeal_under_review",
    }
}

/// The evidence fields of a dispute (text, or the id of an uploaded `dispute_evidence` file for
/// the document fields). Absent fields are null.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct DisputeEvidence {
    pub access_activity_log: Option<String>,
    pub billing_address: Option<String>,
    pub cancellation_policy: Option<String>,
    pub cancellation_policy_disclosure: Option<String>,
    pub cancellation_rebuttal: Option<String>,
    pub customer_communication: Option<String>,
    pub customer_email_address: Option<String>,
    pub customer_name: Option<String>,
    pub customer_purchase_ip: Option<String>,
    pub customer_signature: Option<String>,
    pub duplicate_charge_documentation: Option<String>,
    pub duplicate_charge_explanation: Option<String>,
    pub duplicate_charge_id: Option<String>,
    pub product_description: Option<String>,
    pub receipt: Option<String>,
    pub refund_policy: Option<String>,
    pub refund_policy_disclosure: Option<String>,
    pub refund_refusal_explanation: Option<String>,
    pub service_date: Option<String>,
    pub service_documentation: Option<String>,
    pub shipping_address: Option<String>,
    pub shipping_carrier: Option<String>,
    pub shipping_date: Option<String>,
    pub shipping_documentation: Option<String>,
    pub shipping_tracking_number: Option<String>,
    pub uncategorized_file: Option<String>,
    pub uncategorized_text: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EvidenceDetails {
    /// When evidence is due (unix seconds); null once it no longer can be submitted.
    pub due_by: Option<i64>,
    #[serde(default)]
    pub has_evidence: bool,
    #[serde(default)]
    pub past_due: bool,
    #[serde(default)]
    pub submission_count: i64,
}

/// A balance transaction of a dispute: the withdrawal (negative `amount`, with the dispute fee)
/// and, if won, the reinstatement.
#[derive(Debug, Clone, Deserialize)]
pub struct DisputeBalanceTransaction {
    pub id: String,
    pub amount: i64,
    pub fee: i64,
    pub net: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub charge: Expandable<Charge>,
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    pub reason: String,
    pub status: DisputeStatus,
    pub evidence: DisputeEvidence,
    pub evidence_details: EvidenceDetails,
    #[serde(default)]
    pub is_charge_refundable: bool,
    #[serde(default)]
    pub balance_transactions: Vec<DisputeBalanceTransaction>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
}

impl HasId for Dispute {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `POST /v1/disputes/{dispute}`: evidence fields by Stripe's name (`uncategorized_text`,
/// `receipt` = a file id, …); an empty value clears a field. `submit: false` stages the evidence;
/// Stripe's default (`None`) submits it.
#[derive(Debug, Clone, Default)]
pub struct UpdateDispute<'a> {
    pub evidence: &'a [(&'a str, &'a str)],
    pub metadata: Option<&'a Metadata>,
    pub submit: Option<bool>,
}

impl UpdateDispute<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        for (field, value) in self.evidence {
            f.key("evidence").field(field).value(*value);
        }
        f.push_map_opt("metadata", self.metadata);
        f.push_opt("submit", self.submit);
        f
    }
}

/// `GET /v1/disputes`: by charge or PaymentIntent, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListDisputes<'a> {
    pub charge: Option<&'a str>,
    pub payment_intent: Option<&'a str>,
    pub page: ListParams<'a>,
}

const PATH: &str = "/v1/disputes";

impl StripeClient {
    pub async fn retrieve_dispute(
        &self,
        account: &StripeAccount,
        id: &str,
    ) -> Result<Dispute, StripeError> {
        self.get(account, &id_path(PATH, id, "")?, Form::new())
            .await
    }

    pub async fn list_disputes(
        &self,
        account: &StripeAccount,
        params: &ListDisputes<'_>,
    ) -> Result<List<Dispute>, StripeError> {
        let mut query = Form::new();
        query.push_opt("charge", params.charge);
        query.push_opt("payment_intent", params.payment_intent);
        params.page.encode(&mut query);
        self.get(account, PATH, query).await
    }

    pub async fn update_dispute(
        &self,
        account: &StripeAccount,
        id: &str,
        params: &UpdateDispute<'_>,
        idempotency_key: &str,
    ) -> Result<Dispute, StripeError> {
        self.post(
            account,
            &id_path(PATH, id, "")?,
            params.encode(),
            idempotency_key,
        )
        .await
    }

    /// Accepts the loss (an inquiry is closed).
    pub async fn close_dispute(
        &self,
        account: &StripeAccount,
        id: &str,
        idempotency_key: &str,
    ) -> Result<Dispute, StripeError> {
        self.post(
            account,
            &id_path(PATH, id, "/close")?,
            Form::new(),
            idempotency_key,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_evidence_and_decodes_a_dispute() {
        let params = UpdateDispute {
            evidence: &[
                ("uncategorized_text", "winning_evidence"),
                ("receipt", "file_1"),
            ],
            submit: Some(false),
            ..Default::default()
        };
        assert_eq!(
            params.encode().as_str(),
            "evidence[uncategorized_text]=winning_evidence&evidence[receipt]=file_1&submit=false"
        );
        let dispute: Dispute = serde_json::from_str(
            r#"{"id":"dp_1","object":"dispute","amount":500,"currency":"usd","charge":"ch_1",
                "payment_intent":"pi_1","reason":"fraudulent","status":"needs_response",
                "evidence":{"uncategorized_text":null},"evidence_details":{"due_by":10,
                "has_evidence":false,"past_due":false,"submission_count":0},
                "is_charge_refundable":false,"balance_transactions":[{"id":"txn_1","amount":-500,
                "fee":1500,"net":-2000,"currency":"usd"}],"metadata":{},"created":1}"#,
        )
        .unwrap();
        assert_eq!(dispute.status, DisputeStatus::NeedsResponse);
        assert_eq!(dispute.charge.id(), "ch_1");
        assert_eq!(dispute.balance_transactions[0].net, -2000);
    }
}
