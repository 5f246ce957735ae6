//! SetupIntents: create and retrieve (a Checkout Session in setup mode creates one; its
//! `payment_method` is the card to save).

use serde::Deserialize;

use super::client::{id_path, StripeAccount, StripeClient};
use super::customers::Customer;
use super::error::{ApiErrorObject, StripeError};
use super::form::Form;
use super::payment_intents::SetupFutureUsage;
use super::payment_methods::PaymentMethod;
use super::types::{null_default, opt_secret, string_enum, Expandable, HasId, Metadata};
use crate::secret::Secret;

string_enum! {
    pub enum SetupIntentStatus {
        RequiresPaymentMethod = "requires_payment_method",
        RequiresConfirmation = "requires_confirmation",
        RequiresAction = "requires_action",
        Processing = "processing",
        Canceled = "canceled",
        Succeeded = "succeeded",
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct SetupIntent {
    pub id: String,
    pub status: SetupIntentStatus,
    pub customer: Option<Expandable<Customer>>,
    pub payment_method: Option<Expandable<PaymentMethod>>,
    #[serde(default, deserialize_with = "opt_secret")]
    pub client_secret: Option<Secret<String>>,
    /// `off_session` or `on_session`.
    pub usage: Option<String>,
    pub last_setup_error: Option<ApiErrorObject>,
    pub description: Option<String>,
    #[serde(default)]
    pub payment_method_types: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
}

impl HasId for SetupIntent {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `POST /v1/setup_intents`.
#[derive(Debug, Clone, Default)]
pub struct CreateSetupIntent<'a> {
    pub customer: Option<&'a str>,
    /// Sent as `allowed_payment_method_types` (2026-09-30.endive removed the writable
    /// `payment_method_types`).
    pub payment_method_types: &'a [&'a str],
    pub usage: Option<SetupFutureUsage>,
    pub description: Option<&'a str>,
    pub metadata: Option<&'a Metadata>,
    pub payment_method: Option<&'a str>,
    pub confirm: Option<bool>,
    pub expand: &'a [&'a str],
}

impl CreateSetupIntent<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("customer", self.customer);
        f.push_list("allowed_payment_method_types", self.payment_method_types);
        f.push_opt("usage", self.usage.as_ref());
        f.push_opt("description", self.description);
        f.push_map_opt("metadata", self.metadata);
        f.push_opt("payment_method", self.payment_method);
        f.push_opt("confirm", self.confirm);
        f.push_expand(self.expand);
        f
    }
}

const PATH: &str = "/v1/setup_intents";

impl StripeClient {
    pub async fn create_setup_intent(
        &self,
        account: &StripeAccount,
        params: &CreateSetupIntent<'_>,
        idempotency_key: &str,
    ) -> Result<SetupIntent, StripeError> {
        self.post(account, PATH, params.encode(), idempotency_key)
            .await
    }

    /// `GET /v1/setup_intents/{id}`, e.g. with `expand: &["payment_method"]`.
    pub async fn retrieve_setup_intent(
        &self,
        account: &StripeAccount,
        id: &str,
        expand: &[&str],
    ) -> Result<SetupIntent, StripeError> {
        let mut query = Form::new();
        query.push_expand(expand);
        self.get(account, &id_path(PATH, id, "")?, query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        let params = CreateSetupIntent {
            customer: Some("cus_1"),
            payment_method_types: &["card"],
            usage: Some(SetupFutureUsage::OffSession),
            ..Default::default()
        };
        assert_eq!(
            params.encode().as_str(),
            "customer=cus_1&allowed_payment_method_types[0]=card&usage=off_session"
        );
        let si: SetupIntent = serde_json::from_str(
            r#"{"id":"seti_1","object":"setup_intent","status":"succeeded","customer":"cus_1",
                "payment_method":{"id":"pm_1","type":"card","card":{"brand":"visa","last4":"4242","exp_month":1,"exp_year":2030}},
                "client_secret":"seti_1_secret_x","usage":"off_session","metadata":null,"created":1,
                "payment_method_types":["card"]}"#,
        )
        .unwrap();
        assert_eq!(si.status, SetupIntentStatus::Succeeded);
        let pm = si.payment_method.as_ref().unwrap();
        assert_eq!(pm.id(), "pm_1");
        assert_eq!(pm.as_object().unwrap().card.as_ref().unwrap().last4, "4242");
        assert!(!format!("{si:?}").contains("seti_1_secret_x"));
    }
}
