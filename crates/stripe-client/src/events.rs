//! Events: retrieve and list (the reconciler's way to catch up on missed webhooks), and the
//! Event object webhooks deliver. `data.object` stays a JSON value; decode it with
//! [`Event::object`] once `type` says what it is.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::client::{id_path, StripeAccount, StripeClient};
use super::error::StripeError;
use super::form::Form;
use super::types::{List, ListParams};

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
    pub previous_attributes: Option<serde_json::Value>,
}

/// The API request that caused the event (`id` is null for automatic events).
#[derive(Debug, Clone, Deserialize)]
pub struct EventRequest {
    pub id: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    /// `payment_intent.succeeded`, `charge.refunded`, …
    #[serde(rename = "type")]
    pub event_type: String,
    pub created: i64,
    /// The connected account the event happened on (Connect webhooks).
    pub account: Option<String>,
    pub api_version: Option<String>,
    pub data: EventData,
    pub request: Option<EventRequest>,
    #[serde(default)]
    pub livemode: bool,
    #[serde(default)]
    pub pending_webhooks: i64,
}

impl Event {
    /// Decodes `data.object` as `T` (e.g. [`PaymentIntent`](super::PaymentIntent) for
    /// `payment_intent.*`).
    pub fn object<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data.object)
    }

    /// `data.object.id`.
    pub fn object_id(&self) -> Option<&str> {
        self.data.object.get("id")?.as_str()
    }
}

/// `GET /v1/events`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListEvents<'a> {
    /// One type, or a wildcard like `payment_intent.*`.
    pub event_type: Option<&'a str>,
    /// `created[gte]`, Unix time.
    pub created_gte: Option<i64>,
    pub page: ListParams<'a>,
}

impl ListEvents<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("type", self.event_type);
        if let Some(gte) = self.created_gte {
            f.key("created").field("gte").value(gte);
        }
        self.page.encode(&mut f);
        f
    }
}

impl StripeClient {
    pub async fn retrieve_event(
        &self,
        account: &StripeAccount,
        id: &str,
    ) -> Result<Event, StripeError> {
        self.get(account, &id_path("/v1/events", id, "")?, Form::new())
            .await
    }

    /// Newest first.
    pub async fn list_events(
        &self,
        account: &StripeAccount,
        params: &ListEvents<'_>,
    ) -> Result<List<Event>, StripeError> {
        self.get(account, "/v1/events", params.encode()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PaymentIntent, PaymentIntentStatus};

    #[test]
    fn decodes_an_event_and_its_object() {
        let event: Event = serde_json::from_str(
            r#"{"id":"evt_1","object":"event","type":"payment_intent.amount_capturable_updated",
                "created":1700000000,"account":"acct_1","api_version":"2022-11-15","livemode":false,
                "pending_webhooks":1,"request":{"id":"req_1","idempotency_key":"pi:a:t"},
                "data":{"object":{"id":"pi_1","object":"payment_intent","amount":1299,
                  "amount_capturable":1299,"currency":"usd","status":"requires_capture",
                  "capture_method":"manual","created":1700000000,"metadata":{},
                  "latest_charge":{"id":"ch_1","amount":1299,"currency":"usd","status":"succeeded","created":1}},
                  "previous_attributes":{"amount_capturable":0}}}"#,
        )
        .unwrap();
        assert_eq!(event.account.as_deref(), Some("acct_1"));
        assert_eq!(event.object_id(), Some("pi_1"));
        let pi: PaymentIntent = event.object().unwrap();
        assert_eq!(pi.status, PaymentIntentStatus::RequiresCapture);
        assert_eq!(pi.amount_capturable, 1299);
        assert_eq!(pi.latest_charge.unwrap().as_object().unwrap().amount, 1299);
        assert_eq!(
            event.request.unwrap().idempotency_key.as_deref(),
            Some("pi:a:t")
        );
    }

    #[test]
    fn encodes_list_filters() {
        let params = ListEvents {
            event_type: Some("payment_intent.*"),
            created_gte: Some(1_700_000_000),
            page: ListParams {
                limit: Some(100),
                starting_after: Some("evt_9"),
                ..Default::default()
            },
        };
        assert_eq!(
            params.encode().as_str(),
            "type=payment_intent.*&created[gte]=1700000000&limit=100&starting_after=evt_9"
        );
    }
}
