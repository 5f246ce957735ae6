//! Webhook endpoints: create, list (one page, or every page) and update — how the platform
//! registers where Stripe sends its events. Stripe returns an endpoint's signing `secret` only in
//! the answer to its creation; it is a [`Secret`] here, so it never shows in logs. Whether an
//! endpoint is a Connect one (`connect=true` at creation) is not part of the object Stripe
//! returns: a caller that must tell them apart marks its endpoints (metadata) itself.

use serde::Deserialize;

use super::client::{id_path, StripeAccount, StripeClient};
use super::error::StripeError;
use super::form::Form;
use super::types::{null_default, string_enum, HasId, List, ListParams, Metadata};
use crate::secret::Secret;

string_enum! {
    pub enum WebhookEndpointStatus {
        Enabled = "enabled",
        Disabled = "disabled",
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    /// The event types sent to this endpoint; `["*"]` is every event.
    pub enabled_events: Vec<String>,
    pub status: WebhookEndpointStatus,
    /// The API version events are rendered in (`None`: the account's default).
    pub api_version: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    /// The signing secret (`whsec_…`): only in the answer to the creation.
    #[serde(default, deserialize_with = "optional_secret")]
    pub secret: Option<Secret<String>>,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
}

impl HasId for WebhookEndpoint {
    fn id(&self) -> &str {
        &self.id
    }
}

fn optional_secret<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Secret<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(|s| s.map(Secret::new))
}

/// `POST /v1/webhook_endpoints`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateWebhookEndpoint<'a> {
    pub url: &'a str,
    pub enabled_events: &'a [&'a str],
    /// Receive the events of connected accounts (true) instead of the platform's own.
    pub connect: bool,
    /// The API version events are rendered in; cannot be changed later.
    pub api_version: Option<&'a str>,
    pub description: Option<&'a str>,
    pub metadata: Option<&'a Metadata>,
}

impl CreateWebhookEndpoint<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push("url", self.url);
        f.push_list("enabled_events", self.enabled_events);
        if self.connect {
            f.push("connect", true);
        }
        f.push_opt("api_version", self.api_version);
        f.push_opt("description", self.description);
        f.push_map_opt("metadata", self.metadata);
        f
    }
}

/// `POST /v1/webhook_endpoints/{id}`: only what is `Some` changes.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpdateWebhookEndpoint<'a> {
    pub url: Option<&'a str>,
    pub enabled_events: Option<&'a [&'a str]>,
    /// `Some(false)` enables a disabled endpoint.
    pub disabled: Option<bool>,
    pub description: Option<&'a str>,
    /// Entries set (others kept).
    pub metadata: Option<&'a Metadata>,
}

impl UpdateWebhookEndpoint<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("url", self.url);
        if let Some(events) = self.enabled_events {
            f.push_list("enabled_events", events);
        }
        f.push_opt("disabled", self.disabled);
        f.push_opt("description", self.description);
        f.push_map_opt("metadata", self.metadata);
        f
    }
}

const PATH: &str = "/v1/webhook_endpoints";

impl StripeClient {
    pub async fn create_webhook_endpoint(
        &self,
        account: &StripeAccount,
        params: &CreateWebhookEndpoint<'_>,
        idempotency_key: &str,
    ) -> Result<WebhookEndpoint, StripeError> {
        self.post(account, PATH, params.encode(), idempotency_key)
            .await
    }

    pub async fn update_webhook_endpoint(
        &self,
        account: &StripeAccount,
        id: &str,
        params: &UpdateWebhookEndpoint<'_>,
        idempotency_key: &str,
    ) -> Result<WebhookEndpoint, StripeError> {
        self.post(
            account,
            &id_path(PATH, id, "")?,
            params.encode(),
            idempotency_key,
        )
        .await
    }

    /// One page, newest first.
    pub async fn list_webhook_endpoints(
        &self,
        account: &StripeAccount,
        page: &ListParams<'_>,
    ) -> Result<List<WebhookEndpoint>, StripeError> {
        let mut query = Form::new();
        page.encode(&mut query);
        self.get(account, PATH, query).await
    }

    /// Every endpoint of the account, following `has_more` page by page (100 per page).
    pub async fn list_all_webhook_endpoints(
        &self,
        account: &StripeAccount,
    ) -> Result<Vec<WebhookEndpoint>, StripeError> {
        let mut all: Vec<WebhookEndpoint> = Vec::new();
        loop {
            let page = ListParams {
                limit: Some(100),
                starting_after: all.last().map(|e| e.id.as_str()),
                ..ListParams::default()
            };
            let list = self.list_webhook_endpoints(account, &page).await?;
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
    fn encodes_creation_and_update() {
        let metadata = Metadata::from([("role".to_string(), "platform".to_string())]);
        let create = CreateWebhookEndpoint {
            url: "https://pos.example/v1/webhooks/stripe",
            enabled_events: &["payment_intent.succeeded", "charge.refunded"],
            connect: true,
            api_version: Some("2026-11-18.endive"),
            description: None,
            metadata: Some(&metadata),
        };
        assert_eq!(
            create.encode().as_str(),
            "url=https%3A%2F%2Fpos.example%2Fv1%2Fwebhooks%2Fstripe\
             &enabled_events[0]=payment_intent.succeeded&enabled_events[1]=charge.refunded\
             &connect=true&api_version=2026-11-18.endive&metadata[role]=platform"
        );
        let update = UpdateWebhookEndpoint {
            enabled_events: Some(&["*"]),
            disabled: Some(false),
            ..Default::default()
        };
        assert_eq!(
            update.encode().as_str(),
            "enabled_events[0]=*&disabled=false"
        );
    }

    #[test]
    fn the_secret_is_read_only_when_present_and_never_shown() {
        let created: WebhookEndpoint = serde_json::from_str(
            r#"{"id":"we_1","object":"webhook_endpoint","api_version":null,"application":null,
                "created":1,"description":null,"enabled_events":["charge.refunded"],
                "livemode":false,"metadata":{},"secret":"whsec_abc","status":"enabled",
                "url":"https://x/hook"}"#,
        )
        .unwrap();
        assert_eq!(created.secret.as_ref().unwrap().expose(), "whsec_abc");
        assert!(!format!("{created:?}").contains("whsec_abc"));
        let listed: WebhookEndpoint = serde_json::from_str(
            r#"{"id":"we_1","object":"webhook_endpoint","api_version":"2026-11-18.endive",
                "application":null,"created":1,"description":"d","enabled_events":["*"],
                "livemode":false,"metadata":null,"status":"disabled","url":"https://x/hook"}"#,
        )
        .unwrap();
        assert!(listed.secret.is_none());
        assert_eq!(listed.status, WebhookEndpointStatus::Disabled);
    }
}
