//! `Idempotency-Key` on POST requests, per namespace: the first result is stored (as soon as the
//! request was processed, before any injected hang) and replayed for 24 hours; other parameters
//! with the same key are an `idempotency_error`; a key whose first request is still running is
//! 409 `idempotency_key_in_use`.

use super::error::ApiError;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// How long a key is remembered.
const RETENTION_SECS: i64 = 24 * 3600;

/// What identifies "the same request".
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fingerprint {
    pub method: String,
    pub path: String,
    pub params: Map<String, Value>,
}

/// A stored result.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub status: u16,
    pub body: String,
    pub request_id: String,
    pub should_retry: Option<bool>,
}

#[derive(Debug)]
enum Slot {
    InFlight {
        fingerprint: Fingerprint,
        started: i64,
    },
    Done {
        fingerprint: Fingerprint,
        stored: Stored,
        at: i64,
    },
}

/// The answer to "may this request run?".
pub(crate) enum Begin {
    /// First use: run it, then `finish` or `abandon`.
    Proceed,
    Replay(Stored),
    Reject(ApiError),
}

#[derive(Debug, Default)]
pub(crate) struct Idempotency {
    slots: HashMap<(String, String), Slot>,
    /// When expired keys were last swept. A sweep visits every key, so it runs at most once per
    /// second (`now` is in seconds), not on every request: a slot expires between sweeps only if
    /// it was already expired at the last one, so lookups see exactly what sweeping every time did.
    swept_at: i64,
}

fn mismatch(key: &str, first: &Fingerprint, now: &Fingerprint) -> ApiError {
    let message = if first.method != now.method || first.path != now.path {
        format!(
            "Keys for idempotent requests can only be used for the same endpoint they were first used for ('{} {}' vs '{} {}'). Try using a key other than '{key}' if you meant to execute a different request.",
            first.method, first.path, now.method, now.path
        )
    } else {
        format!(
            "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
        )
    };
    ApiError::new(400, "idempotency_error", message)
}

impl Idempotency {
    pub fn begin(&mut self, ns: &str, key: &str, fingerprint: Fingerprint, now: i64) -> Begin {
        if now != self.swept_at {
            self.slots.retain(|_, slot| match slot {
                Slot::Done { at, .. } => now - *at < RETENTION_SECS,
                Slot::InFlight { started, .. } => now - *started < RETENTION_SECS,
            });
            self.swept_at = now;
        }
        let id = (ns.to_string(), key.to_string());
        match self.slots.get(&id) {
            None => {
                self.slots.insert(
                    id,
                    Slot::InFlight {
                        fingerprint,
                        started: now,
                    },
                );
                Begin::Proceed
            }
            Some(Slot::InFlight {
                fingerprint: first, ..
            }) => {
                if *first != fingerprint {
                    return Begin::Reject(mismatch(key, first, &fingerprint));
                }
                Begin::Reject(
                    ApiError::invalid(
                        "There is currently another in-progress request using this Stripe-Idempotency-Key. Please try again later.",
                    )
                    .with_code("idempotency_key_in_use")
                    .with_status(409),
                )
            }
            Some(Slot::Done {
                fingerprint: first,
                stored,
                ..
            }) => {
                if *first != fingerprint {
                    return Begin::Reject(mismatch(key, first, &fingerprint));
                }
                Begin::Replay(stored.clone())
            }
        }
    }

    /// Stores the result of a request that began with `Proceed`.
    pub fn finish(&mut self, ns: &str, key: &str, stored: Stored, now: i64) {
        let id = (ns.to_string(), key.to_string());
        if let Some(Slot::InFlight { fingerprint, .. }) = self.slots.remove(&id) {
            self.slots.insert(
                id,
                Slot::Done {
                    fingerprint,
                    stored,
                    at: now,
                },
            );
        }
    }

    /// Forgets a request that never executed (validation failure, injected fault).
    pub fn abandon(&mut self, ns: &str, key: &str) {
        let id = (ns.to_string(), key.to_string());
        if matches!(self.slots.get(&id), Some(Slot::InFlight { .. })) {
            self.slots.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(amount: &str) -> Fingerprint {
        let mut params = Map::new();
        params.insert("amount".into(), Value::String(amount.into()));
        Fingerprint {
            method: "POST".into(),
            path: "/v1/payment_intents".into(),
            params,
        }
    }

    #[test]
    fn lifecycle() {
        let mut idem = Idempotency::default();
        assert!(matches!(idem.begin("a", "k", fp("1"), 0), Begin::Proceed));
        match idem.begin("a", "k", fp("1"), 1) {
            Begin::Reject(e) => assert_eq!(e.status, 409),
            _ => panic!("in flight"),
        }
        assert!(matches!(idem.begin("b", "k", fp("1"), 1), Begin::Proceed));
        idem.finish(
            "a",
            "k",
            Stored {
                status: 200,
                body: "{}".into(),
                request_id: "req_1".into(),
                should_retry: None,
            },
            2,
        );
        assert!(matches!(idem.begin("a", "k", fp("1"), 3), Begin::Replay(_)));
        match idem.begin("a", "k", fp("2"), 3) {
            Begin::Reject(e) => assert_eq!(e.kind, "idempotency_error"),
            _ => panic!("mismatch"),
        }
        assert!(matches!(
            idem.begin("a", "k", fp("2"), 3 + RETENTION_SECS),
            Begin::Proceed
        ));
    }
}
