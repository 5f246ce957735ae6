//! Webhook signatures, as Stripe computes them (`Stripe-Signature: t=…,v1=…`).
//!
//! The signature is HMAC-SHA256 over `"{t}.{raw body}"`, keyed by the whole endpoint secret
//! (`whsec_…` included), hex-encoded. During a secret rotation Stripe sends several `v1`
//! entries; any of them matching any of the secrets we hold is enough. `v0` (test scheme) and
//! unknown entries are ignored. Comparison is constant time. A timestamp further than the tolerance
//! from now, in the past or the future, is rejected (replay protection).
//!
//! [`sign`] produces the same header, for tests and for our own outgoing merchant webhooks.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use super::events::Event;

/// Stripe's default tolerance: five minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("malformed signature header: {0}")]
    MalformedHeader(&'static str),
    #[error("no v1 signature in the signature header")]
    NoSignatures,
    #[error("no signature matches the payload")]
    SignatureMismatch,
    #[error("timestamp outside the tolerance ({age} s from now)")]
    TimestampOutsideTolerance { age: i64 },
    #[error("no webhook secret configured")]
    NoSecrets,
    #[error("payload is not an Event: {0}")]
    InvalidPayload(#[from] serde_json::Error),
}

fn signature(secret: &str, timestamp: &str, payload: &[u8]) -> [u8; 32] {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

/// Checks a `Stripe-Signature` header against the raw request body, with any of `secrets`, at
/// Unix time `now`.
pub fn verify(
    payload: &[u8],
    header: &str,
    secrets: &[&str],
    tolerance: Duration,
    now: i64,
) -> Result<(), WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::NoSecrets);
    }
    let mut timestamp: Option<&str> = None;
    let mut candidates: Vec<[u8; 32]> = Vec::with_capacity(2);
    for item in header.split(',') {
        let (key, value) = item
            .trim()
            .split_once('=')
            .ok_or(WebhookError::MalformedHeader("an entry is not key=value"))?;
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(WebhookError::MalformedHeader("more than one timestamp"));
                }
                timestamp = Some(value);
            }
            "v1" => {
                // A v1 that is not 32 hex bytes can never match; skip it rather than fail, as
                // Stripe's libraries do.
                let mut sig = [0u8; 32];
                if hex::decode_to_slice(value, &mut sig).is_ok() {
                    candidates.push(sig);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::MalformedHeader("no timestamp"))?;
    let t: i64 = timestamp
        .parse()
        .map_err(|_| WebhookError::MalformedHeader("timestamp is not an integer"))?;
    if candidates.is_empty() {
        return Err(WebhookError::NoSignatures);
    }

    let mut matched = Choice::from(0);
    for secret in secrets {
        let expected = signature(secret, timestamp, payload);
        for candidate in &candidates {
            matched |= expected.ct_eq(candidate);
        }
    }
    if !bool::from(matched) {
        return Err(WebhookError::SignatureMismatch);
    }

    let age = now.saturating_sub(t);
    if age.unsigned_abs() > tolerance.as_secs() {
        return Err(WebhookError::TimestampOutsideTolerance { age });
    }
    Ok(())
}

/// Decodes a webhook body (after [`verify`]).
pub fn parse_event(payload: &[u8]) -> Result<Event, WebhookError> {
    Ok(serde_json::from_slice(payload)?)
}

/// [`verify`], then [`parse_event`].
pub fn construct_event(
    payload: &[u8],
    header: &str,
    secrets: &[&str],
    tolerance: Duration,
    now: i64,
) -> Result<Event, WebhookError> {
    verify(payload, header, secrets, tolerance, now)?;
    parse_event(payload)
}

/// The signature header for `payload` sent at `timestamp`: `t={timestamp},v1={hex}`.
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let t = timestamp.to_string();
    let sig = signature(secret, &t, payload);
    format!("t={t},v1={}", hex::encode(sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1700000000,"data":{"object":{"id":"pi_1"}}}"#;

    fn check(header: &str, secrets: &[&str], now: i64) -> Result<(), WebhookError> {
        verify(BODY, header, secrets, DEFAULT_TOLERANCE, now)
    }

    #[test]
    fn valid_signature() {
        let header = sign(SECRET, NOW, BODY);
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        check(&header, &[SECRET], NOW).unwrap();
        check(&header, &[SECRET], NOW + 300).unwrap();
        let event = construct_event(BODY, &header, &[SECRET], DEFAULT_TOLERANCE, NOW).unwrap();
        assert_eq!(event.event_type, "payment_intent.succeeded");
        assert_eq!(event.object_id(), Some("pi_1"));
    }

    #[test]
    fn known_vector() {
        // python3: hmac.new(b"whsec_test_secret", b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            sign(SECRET, NOW, b"{}"),
            "t=1700000000,v1=ceb8863f7208fa249a6cd8f951e993c7563412aca65866f6272283debe143ab3"
        );
    }

    #[test]
    fn tampered_body_and_wrong_secret() {
        let header = sign(SECRET, NOW, BODY);
        let tampered = BODY
            .to_vec()
            .into_iter()
            .map(|b| if b == b'1' { b'2' } else { b })
            .collect::<Vec<_>>();
        assert!(matches!(
            verify(&tampered, &header, &[SECRET], DEFAULT_TOLERANCE, NOW),
            Err(WebhookError::SignatureMismatch)
        ));
        assert!(matches!(
            check(&header, &["whsec_other"], NOW),
            Err(WebhookError::SignatureMismatch)
        ));
        // A signature made with a different timestamp does not verify under this one.
        let other = sign(SECRET, NOW + 1, BODY);
        let v1 = other.split_once(",v1=").unwrap().1;
        assert!(matches!(
            check(&format!("t={NOW},v1={v1}"), &[SECRET], NOW),
            Err(WebhookError::SignatureMismatch)
        ));
    }

    #[test]
    fn stale_and_future_timestamps() {
        let stale = sign(SECRET, NOW - 301, BODY);
        assert!(matches!(
            check(&stale, &[SECRET], NOW),
            Err(WebhookError::TimestampOutsideTolerance { age: 301 })
        ));
        let future = sign(SECRET, NOW + 301, BODY);
        assert!(matches!(
            check(&future, &[SECRET], NOW),
            Err(WebhookError::TimestampOutsideTolerance { age: -301 })
        ));
        // A custom tolerance.
        verify(BODY, &stale, &[SECRET], Duration::from_secs(600), NOW).unwrap();
    }

    #[test]
    fn rotation_several_v1_and_several_secrets() {
        let good = sign(SECRET, NOW, BODY);
        let good_v1 = good.split_once(",v1=").unwrap().1;
        let old = sign("whsec_old", NOW, BODY);
        let old_v1 = old.split_once(",v1=").unwrap().1;
        // Stripe signs with both the old and the new secret during a rotation.
        let header = format!("t={NOW},v1={old_v1},v1={good_v1},v0=deadbeef");
        check(&header, &[SECRET], NOW).unwrap();
        check(&header, &["whsec_old"], NOW).unwrap();
        // We hold several secrets (platform, per account, …).
        check(&good, &["whsec_unrelated", SECRET], NOW).unwrap();
        // A v0 alone is not accepted, nor junk v1 values.
        let v0_only = format!("t={NOW},v0={good_v1}");
        assert!(matches!(
            check(&v0_only, &[SECRET], NOW),
            Err(WebhookError::NoSignatures)
        ));
        let junk = format!("t={NOW},v1=zz,v1={good_v1}");
        check(&junk, &[SECRET], NOW).unwrap();
    }

    #[test]
    fn malformed_headers() {
        for header in [
            "",
            "garbage",
            "t=,v1=00",
            "t=abc,v1=00",
            "v1=00",
            "t=1,t=2,v1=00",
        ] {
            assert!(
                matches!(
                    check(header, &[SECRET], NOW),
                    Err(WebhookError::MalformedHeader(_))
                ),
                "{header:?}"
            );
        }
        assert!(matches!(
            check(&format!("t={NOW}"), &[SECRET], NOW),
            Err(WebhookError::NoSignatures)
        ));
        assert!(matches!(
            check(&sign(SECRET, NOW, BODY), &[], NOW),
            Err(WebhookError::NoSecrets)
        ));
        assert!(matches!(
            parse_event(b"not json"),
            Err(WebhookError::InvalidPayload(_))
        ));
    }
}
