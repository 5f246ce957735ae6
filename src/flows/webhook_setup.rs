//! Registering our webhook endpoints at Stripe (`pos-backend stripe setup-webhook`): one endpoint
//! for the platform's own events and one Connect endpoint (`connect=true`) for its connected
//! accounts' events, both at the same URL, both with exactly the events we handle
//! ([`HandledEvent`]). Idempotent: an endpoint already there is updated (events, enabled), never
//! duplicated.
//!
//! Stripe's endpoint object does not say whether it is a Connect endpoint, so ours carry their
//! role in metadata (`pos_backend_endpoint`: `platform` / `connect`). An endpoint at the URL
//! without that mark (registered by hand in the Dashboard) is taken as the platform endpoint when
//! it is the only one (the Dashboard's default is "events on your account"); docs/decisions.md
//! explains why.

use super::webhooks::HandledEvent;
use std::collections::BTreeSet;
use stripe_client::secret::Secret;
use stripe_client::{
    CreateWebhookEndpoint, Metadata, StripeAccount, StripeClient, UpdateWebhookEndpoint,
    WebhookEndpoint, WebhookEndpointStatus, API_VERSION,
};

/// The metadata key naming an endpoint's role.
pub const ROLE_KEY: &str = "pos_backend_endpoint";

/// The path our server receives Stripe's events on.
pub const WEBHOOK_PATH: &str = "/v1/webhooks/stripe";

/// Which events an endpoint receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The platform account's own events.
    Platform,
    /// Events of connected accounts (`connect=true`).
    Connect,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Platform => "platform",
            Role::Connect => "connect",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Role::Platform => "pos-backend: the platform's events",
            Role::Connect => "pos-backend: connected accounts' events",
        }
    }
}

/// What became of one endpoint.
#[derive(Debug)]
pub enum Outcome {
    /// Created; Stripe shows its signing secret this once.
    Created { secret: Secret<String> },
    /// Already registered: brought up to date (its secret is unchanged and not shown again).
    Updated {
        added: Vec<String>,
        removed: Vec<String>,
        reenabled: bool,
        /// Registered by hand (no role mark) and adopted.
        adopted: bool,
        /// The API version its events are rendered in, when it is not ours (Stripe does not let
        /// it change; delete the endpoint and run again to fix it).
        other_api_version: Option<String>,
    },
}

/// One endpoint after the setup.
#[derive(Debug)]
pub struct Registered {
    pub role: Role,
    pub id: String,
    pub outcome: Outcome,
}

/// Checks the URL Stripe will POST to: absolute http(s) with a host; https with a live key.
pub fn check_url(url: &str, live: bool) -> Result<url::Url, String> {
    let parsed =
        url::Url::parse(url).map_err(|e| format!("--url {url}: not an absolute URL ({e})"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if !live => {}
        "http" => {
            return Err(format!(
                "--url {url}: Stripe sends live events only to https:// URLs"
            ))
        }
        other => return Err(format!("--url {url}: {other}:// is not http(s)")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("--url {url}: no host"));
    }
    Ok(parsed)
}

/// Registers (or updates) the platform and the Connect endpoint at `url`.
pub async fn setup(
    stripe: &StripeClient,
    platform: &StripeAccount,
    url: &str,
) -> Result<Vec<Registered>, String> {
    check_url(url, platform.is_live())?;
    let existing = stripe
        .list_all_webhook_endpoints(platform)
        .await
        .map_err(|e| format!("listing webhook endpoints: {e}"))?;
    let at_url: Vec<&WebhookEndpoint> = existing.iter().filter(|e| e.url == url).collect();
    let marked = |role: Role| {
        at_url
            .iter()
            .copied()
            .find(|e| e.metadata.get(ROLE_KEY).map(String::as_str) == Some(role.as_str()))
    };
    let unmarked: Vec<&WebhookEndpoint> = at_url
        .iter()
        .copied()
        .filter(|e| !e.metadata.contains_key(ROLE_KEY))
        .collect();
    let events = HandledEvent::names();
    // One key per run: the client's own retries of a request reuse it, a later run (after an
    // endpoint was deleted) does not replay an old creation.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut registered = Vec::new();
    for role in [Role::Platform, Role::Connect] {
        let (current, adopted) = match (marked(role), role) {
            (Some(endpoint), _) => (Some(endpoint), false),
            (None, Role::Platform) => match unmarked.as_slice() {
                [] => (None, false),
                [only] => (Some(*only), true),
                several => {
                    let ids: Vec<&str> = several.iter().map(|e| e.id.as_str()).collect();
                    return Err(format!(
                        "{} endpoints at {url} were registered outside pos-backend ({}): delete \
                         all but the platform one in the Stripe Dashboard and run again",
                        several.len(),
                        ids.join(", ")
                    ));
                }
            },
            (None, Role::Connect) => (None, false),
        };
        let metadata = Metadata::from([(ROLE_KEY.to_string(), role.as_str().to_string())]);
        let key = format!("setup-webhook:{run}:{}", role.as_str());
        match current {
            None => {
                let created = stripe
                    .create_webhook_endpoint(
                        platform,
                        &CreateWebhookEndpoint {
                            url,
                            enabled_events: &events,
                            connect: role == Role::Connect,
                            api_version: Some(API_VERSION),
                            description: Some(role.description()),
                            metadata: Some(&metadata),
                        },
                        &key,
                    )
                    .await
                    .map_err(|e| format!("creating the {} endpoint: {e}", role.as_str()))?;
                let (id, secret) = (created.id, created.secret);
                let secret = secret.ok_or_else(|| {
                    format!("Stripe created endpoint {id} but returned no signing secret")
                })?;
                registered.push(Registered {
                    role,
                    id,
                    outcome: Outcome::Created { secret },
                });
            }
            Some(endpoint) => {
                let wanted: BTreeSet<&str> = events.iter().copied().collect();
                let had: BTreeSet<&str> =
                    endpoint.enabled_events.iter().map(String::as_str).collect();
                let updated = stripe
                    .update_webhook_endpoint(
                        platform,
                        &endpoint.id,
                        &UpdateWebhookEndpoint {
                            enabled_events: Some(&events),
                            disabled: Some(false),
                            description: Some(role.description()),
                            metadata: Some(&metadata),
                            ..UpdateWebhookEndpoint::default()
                        },
                        &key,
                    )
                    .await
                    .map_err(|e| {
                        format!(
                            "updating the {} endpoint {}: {e}",
                            role.as_str(),
                            endpoint.id
                        )
                    })?;
                registered.push(Registered {
                    role,
                    id: updated.id,
                    outcome: Outcome::Updated {
                        added: events
                            .iter()
                            .filter(|e| !had.contains(*e))
                            .map(|e| e.to_string())
                            .collect(),
                        removed: endpoint
                            .enabled_events
                            .iter()
                            .filter(|e| !wanted.contains(e.as_str()))
                            .cloned()
                            .collect(),
                        reenabled: endpoint.status != WebhookEndpointStatus::Enabled,
                        adopted,
                        other_api_version: endpoint
                            .api_version
                            .clone()
                            .filter(|v| v != API_VERSION),
                    },
                });
            }
        }
    }
    Ok(registered)
}

/// What `setup-webhook` prints: a line per endpoint, then the setting to configure.
pub fn report(url: &str, registered: &[Registered]) -> String {
    let mut out = String::new();
    for r in registered {
        let what = match &r.outcome {
            Outcome::Created { .. } => "created".to_string(),
            Outcome::Updated {
                added,
                removed,
                reenabled,
                adopted,
                ..
            } => {
                let mut changes = Vec::new();
                if *adopted {
                    changes.push("adopted (registered by hand)".to_string());
                }
                if !added.is_empty() {
                    changes.push(format!("events added: {}", added.join(", ")));
                }
                if !removed.is_empty() {
                    changes.push(format!("events removed: {}", removed.join(", ")));
                }
                if *reenabled {
                    changes.push("re-enabled".to_string());
                }
                if changes.is_empty() {
                    "up to date".to_string()
                } else {
                    format!("updated ({})", changes.join("; "))
                }
            }
        };
        out.push_str(&format!(
            "{} endpoint {}: {what}, {} events, {url}\n",
            r.role.as_str(),
            r.id,
            HandledEvent::ALL.len()
        ));
        if let Outcome::Updated {
            other_api_version: Some(version),
            ..
        } = &r.outcome
        {
            out.push_str(&format!(
                "  warning: its events are rendered in API version {version}, not {API_VERSION} \
                 (Stripe cannot change that): delete it in the Stripe Dashboard and run again\n"
            ));
        }
    }
    let created: Vec<&str> = registered
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Created { secret } => Some(secret.expose().as_str()),
            Outcome::Updated { .. } => None,
        })
        .collect();
    if created.len() == registered.len() {
        out.push_str(&format!(
            "Configure every instance with both signing secrets (comma-separated):\n\
             STRIPE_WEBHOOK_SECRET={}\n",
            created.join(",")
        ));
    } else if created.is_empty() {
        out.push_str(
            "Signing secrets unchanged (Stripe shows a secret only when it creates the endpoint): \
             keep STRIPE_WEBHOOK_SECRET as it is.\n",
        );
    } else {
        out.push_str(&format!(
            "Add the new signing secret to STRIPE_WEBHOOK_SECRET (comma-separated, after the \
             existing one, which is unchanged):\nSTRIPE_WEBHOOK_SECRET=<existing>,{}\n",
            created.join(",")
        ));
    }
    let path = url::Url::parse(url).map(|u| u.path().to_string());
    if path.as_deref().is_ok_and(|p| p != WEBHOOK_PATH) {
        out.push_str(&format!(
            "note: pos-backend receives Stripe's events on {WEBHOOK_PATH}; make sure {url} \
             reaches it\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://pos.example/v1/webhooks/stripe", true).is_ok());
        assert!(check_url("http://127.0.0.1:8080/v1/webhooks/stripe", false).is_ok());
        for (bad, live, says) in [
            (
                "pos.example/v1/webhooks/stripe",
                false,
                "not an absolute URL",
            ),
            ("ftp://pos.example/x", false, "not http(s)"),
            ("http://pos.example/v1/webhooks/stripe", true, "https://"),
            ("", false, "not an absolute URL"),
        ] {
            let err = check_url(bad, live).unwrap_err();
            assert!(
                err.contains(says) && err.starts_with("--url"),
                "{bad}: {err}"
            );
        }
    }
}
