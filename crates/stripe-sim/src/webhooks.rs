//! Webhook delivery: events are POSTed to the endpoint configured at start (`SimConfig`,
//! `/_sim/webhook_endpoint`) and to every endpoint registered through `/v1/webhook_endpoints`
//! that takes them (`webhook_endpoints`), each signed with its own secret like Stripe
//! (`Stripe-Signature: t={unix},v1={hex HMAC-SHA256("{t}.{body}")}` keyed by the whole `whsec_…`
//! secret), asynchronously, and retried with backoff on failures.

use super::events::DeliveryStatus;
use super::Inner;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// Attempts per event, and the delay before the first retry (doubling after each failure).
const MAX_ATTEMPTS: u32 = 5;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);

/// The `Stripe-Signature` header for `payload` sent at `timestamp`.
pub fn signature_header(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Where events go.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub url: String,
    pub secret: String,
}

/// One event to send.
pub(crate) struct Job {
    /// The event's number (`State::event_mut`); its outcome is not recorded if it was evicted
    /// meanwhile.
    pub event: usize,
    pub body: String,
    pub endpoint: Endpoint,
    /// Whether the outcome is the event's `delivery` (`/_sim` shows it): the configured
    /// endpoint's only.
    pub recorded: bool,
}

/// Sends one event until the endpoint answers 2xx or the attempts run out, recording the outcome
/// on the event.
pub(crate) async fn deliver(inner: Arc<Inner>, job: Job) {
    let mut delay = FIRST_RETRY_DELAY;
    for attempt in 1..=MAX_ATTEMPTS {
        let timestamp = chrono::Utc::now().timestamp();
        let signature = signature_header(&job.endpoint.secret, timestamp, job.body.as_bytes());
        let result = inner
            .http
            .post(&job.endpoint.url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header(
                "User-Agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .header("Stripe-Signature", signature)
            .body(job.body.clone())
            .send()
            .await;
        let status = result.as_ref().ok().map(|r| r.status().as_u16());
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        if job.recorded {
            let mut state = inner.lock();
            if let Some(event) = state.event_mut(job.event) {
                event.delivery.attempts = attempt;
                event.delivery.last_status = status;
                if delivered {
                    event.delivery.status = DeliveryStatus::Delivered;
                } else if attempt == MAX_ATTEMPTS {
                    event.delivery.status = DeliveryStatus::Failed;
                }
            }
        }
        if delivered {
            return;
        }
        match &result {
            Ok(r) => log::debug!("sim: webhook {} answered {}", job.endpoint.url, r.status()),
            Err(e) => log::debug!("sim: webhook {} failed: {e}", job.endpoint.url),
        }
        if attempt < MAX_ATTEMPTS {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::signature_header;

    #[test]
    fn signature_matches_stripe_scheme() {
        // HMAC-SHA256(key = "whsec_test", msg = "1700000000.{}") computed independently.
        let header = signature_header("whsec_test", 1_700_000_000, b"{}");
        assert_eq!(
            header,
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
        assert_ne!(
            header,
            signature_header("whsec_other", 1_700_000_000, b"{}")
        );
        assert_ne!(header, signature_header("whsec_test", 1_700_000_001, b"{}"));
    }
}
