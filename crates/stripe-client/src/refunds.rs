//! Refunds: create (full or partial, by PaymentIntent or charge), retrieve and list (those of a
//! PaymentIntent, including the ones made in person on a reader).

use serde::Deserialize;

use super::charges::Charge;
use super::client::{id_path, StripeAccount, StripeClient};
use super::error::StripeError;
use super::form::Form;
use super::payment_intents::PaymentIntent;
use super::types::{null_default, string_enum, Expandable, HasId, List, ListParams, Metadata};

string_enum! {
    pub enum RefundStatus {
        Pending = "pending",
        RequiresAction = "requires_action",
        Succeeded = "succeeded",
        Failed = "failed",
        Canceled = "canceled",
    }
}

string_enum! {
    /// Why a refund was made (`expired_uncaptured_charge` only ever comes from Stripe).
    pub enum RefundReason {
        Duplicate = "duplicate",
        Fraudulent = "fraudulent",
        RequestedByCustomer = "requested_by_customer",
        ExpiredUncapturedCharge = "expired_uncaptured_charge",
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: Option<RefundStatus>,
    pub reason: Option<RefundReason>,
    pub charge: Option<Expandable<Charge>>,
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    pub failure_reason: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    pub created: i64,
}

impl HasId for Refund {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `POST /v1/refunds`: give `payment_intent` (or `charge`); `amount` omitted refunds what is left.
#[derive(Debug, Clone, Default)]
pub struct CreateRefund<'a> {
    pub payment_intent: Option<&'a str>,
    pub charge: Option<&'a str>,
    pub amount: Option<i64>,
    pub reason: Option<RefundReason>,
    pub metadata: Option<&'a Metadata>,
    pub expand: &'a [&'a str],
}

impl CreateRefund<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("payment_intent", self.payment_intent);
        f.push_opt("charge", self.charge);
        f.push_opt("amount", self.amount);
        f.push_opt("reason", self.reason.as_ref());
        f.push_map_opt("metadata", self.metadata);
        f.push_expand(self.expand);
        f
    }
}

/// `GET /v1/refunds`: newest first, filtered by `payment_intent` or `charge`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListRefunds<'a> {
    pub payment_intent: Option<&'a str>,
    pub charge: Option<&'a str>,
    pub page: ListParams<'a>,
}

impl ListRefunds<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("payment_intent", self.payment_intent);
        f.push_opt("charge", self.charge);
        self.page.encode(&mut f);
        f
    }
}

const PATH: &str = "/v1/refunds";

impl StripeClient {
    pub async fn create_refund(
        &self,
        account: &StripeAccount,
        params: &CreateRefund<'_>,
        idempotency_key: &str,
    ) -> Result<Refund, StripeError> {
        self.post(account, PATH, params.encode(), idempotency_key)
            .await
    }

    pub async fn list_refunds(
        &self,
        account: &StripeAccount,
        params: &ListRefunds<'_>,
    ) -> Result<List<Refund>, StripeError> {
        self.get(account, PATH, params.encode()).await
    }

    pub async fn retrieve_refund(
        &self,
        account: &StripeAccount,
        id: &str,
        expand: &[&str],
    ) -> Result<Refund, StripeError> {
        let mut query = Form::new();
        query.push_expand(expand);
        self.get(account, &id_path(PATH, id, "")?, query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_partial_refund() {
        let params = CreateRefund {
            payment_intent: Some("pi_1"),
            amount: Some(500),
            reason: Some(RefundReason::RequestedByCustomer),
            ..Default::default()
        };
        assert_eq!(
            params.encode().as_str(),
            "payment_intent=pi_1&amount=500&reason=requested_by_customer"
        );
        let refund: Refund = serde_json::from_str(
            r#"{"id":"re_1","object":"refund","amount":500,"currency":"usd","status":"succeeded",
                "reason":"requested_by_customer","charge":"ch_1","payment_intent":"pi_1","metadata":{},"created":1}"#,
        )
        .unwrap();
        assert_eq!(refund.status, Some(RefundStatus::Succeeded));
        assert_eq!(refund.payment_intent.unwrap().id(), "pi_1");
    }
}
