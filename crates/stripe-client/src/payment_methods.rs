//! PaymentMethods: retrieve, attach to a customer, detach, list a customer's.
//!
//! A saved card is a `card` PaymentMethod (for card-present payments, the charge's
//! `generated_card`); its `fingerprint` identifies the physical card across payments.

use serde::Deserialize;

use super::charges::{CardPresentDetails, Wallet};
use super::client::{id_path, StripeAccount, StripeClient};
use super::customers::Customer;
use super::error::StripeError;
use super::form::Form;
use super::types::{null_default, string_enum, Expandable, HasId, List, ListParams, Metadata};

string_enum! {
    pub enum PaymentMethodType {
        Card = "card",
        CardPresent = "card_present",
        InteracPresent = "interac_present",
    }
}

/// Where a generated card came from.
#[derive(Debug, Clone, Deserialize)]
pub struct GeneratedFrom {
    /// The card-present charge the card was generated from.
    pub charge: Option<String>,
    /// The SetupAttempt (`setatt_…`) of a card saved at a reader without a payment.
    #[serde(default)]
    pub setup_attempt: Option<Expandable<crate::setup_intents::SetupAttempt>>,
}

/// `card` on a PaymentMethod.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentMethodCard {
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub fingerprint: Option<String>,
    pub funding: Option<String>,
    pub country: Option<String>,
    pub wallet: Option<Wallet>,
    pub generated_from: Option<GeneratedFrom>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentMethod {
    pub id: String,
    #[serde(rename = "type")]
    pub method_type: PaymentMethodType,
    pub card: Option<PaymentMethodCard>,
    /// A card read by a reader (`card_present`, `interac_present`): brand, last4, funding,
    /// wallet.
    #[serde(default)]
    pub card_present: Option<CardPresentDetails>,
    #[serde(default)]
    pub interac_present: Option<CardPresentDetails>,
    pub customer: Option<Expandable<Customer>>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
}

impl HasId for PaymentMethod {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `GET /v1/customers/{customer}/payment_methods`.
#[derive(Debug, Clone, Default)]
pub struct ListCustomerPaymentMethods<'a> {
    /// e.g. `card`.
    pub method_type: Option<PaymentMethodType>,
    pub page: ListParams<'a>,
}

const PATH: &str = "/v1/payment_methods";

impl StripeClient {
    pub async fn retrieve_payment_method(
        &self,
        account: &StripeAccount,
        id: &str,
        expand: &[&str],
    ) -> Result<PaymentMethod, StripeError> {
        let mut query = Form::new();
        query.push_expand(expand);
        self.get(account, &id_path(PATH, id, "")?, query).await
    }

    /// `POST /v1/payment_methods/{id}/attach` with `customer`.
    pub async fn attach_payment_method(
        &self,
        account: &StripeAccount,
        id: &str,
        customer: &str,
        idempotency_key: &str,
    ) -> Result<PaymentMethod, StripeError> {
        let mut form = Form::new();
        form.push("customer", customer);
        self.post(
            account,
            &id_path(PATH, id, "/attach")?,
            form,
            idempotency_key,
        )
        .await
    }

    /// `POST /v1/payment_methods/{id}/detach` (an empty body).
    pub async fn detach_payment_method(
        &self,
        account: &StripeAccount,
        id: &str,
        idempotency_key: &str,
    ) -> Result<PaymentMethod, StripeError> {
        self.post(
            account,
            &id_path(PATH, id, "/detach")?,
            Form::new(),
            idempotency_key,
        )
        .await
    }

    pub async fn list_customer_payment_methods(
        &self,
        account: &StripeAccount,
        customer: &str,
        params: &ListCustomerPaymentMethods<'_>,
    ) -> Result<List<PaymentMethod>, StripeError> {
        let mut query = Form::new();
        query.push_opt("type", params.method_type.as_ref());
        params.page.encode(&mut query);
        let path = id_path("/v1/customers", customer, "/payment_methods")?;
        self.get(account, &path, query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_generated_card() {
        let pm: PaymentMethod = serde_json::from_str(
            r#"{"id":"pm_1","object":"payment_method","type":"card","created":1,"livemode":false,
                "customer":"cus_1","metadata":{},"billing_details":{"address":null},
                "card":{"brand":"visa","last4":"4242","exp_month":12,"exp_year":2030,"fingerprint":"fp1",
                  "funding":"credit","generated_from":{"charge":"ch_1","payment_method_details":{"type":"card_present"}},
                  "checks":null,"networks":{"available":["visa"]}},
                "allow_redisplay":"unspecified"}"#,
        )
        .unwrap();
        assert_eq!(pm.method_type, PaymentMethodType::Card);
        let card = pm.card.unwrap();
        assert_eq!((card.brand.as_str(), card.last4.as_str()), ("visa", "4242"));
        assert_eq!(card.generated_from.unwrap().charge.as_deref(), Some("ch_1"));
        assert_eq!(pm.customer.unwrap().id(), "cus_1");
    }
}
