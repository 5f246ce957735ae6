//! `Idempotency-Key` on POST requests, per namespace: the first result is stored (as soon as the
//! request was processed, before any injected hang) and replayed for 24 hours; other parameters
//! with the same key are an `idempotency_error`; a key whose first request is still running is
//! 409 `idempotency_key_in_use`. At most `capacity` keys are remembered: beyond that the finished
//! key first used longest ago is forgotten (`retention`); keys still in flight always stay.

use super::error::ApiError;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// How long a key is remembered.
const RETENTION_SECS: i64 = 24 * 3600;

/// What identifies "the same request".
#[derive(Debug, Clone, Default, PartialEq)]
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
struct Slot {
    /// Order of first use, the key of `Idempotency::order`.
    seq: u64,
    state: SlotState,
}

#[derive(Debug)]
enum SlotState {
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

type Key = (String, String);

#[derive(Debug, Default)]
pub(crate) struct Idempotency {
    slots: HashMap<Key, Slot>,
    /// Every key of `slots` by order of first use.
    order: BTreeMap<u64, Key>,
    next_seq: u64,
    /// How many keys are kept (in-flight keys beyond it are kept too).
    capacity: usize,
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
    /// Remembers at most `capacity` keys (in-flight keys beyond it are kept too).
    pub fn new(capacity: usize) -> Idempotency {
        Idempotency {
            capacity,
            ..Idempotency::default()
        }
    }

    /// How many keys are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn begin(&mut self, ns: &str, key: &str, fingerprint: Fingerprint, now: i64) -> Begin {
        if now != self.swept_at {
            self.slots.retain(|_, slot| match &slot.state {
                SlotState::Done { at, .. } => now - *at < RETENTION_SECS,
                SlotState::InFlight { started, .. } => now - *started < RETENTION_SECS,
            });
            let slots = &self.slots;
            self.order.retain(|_, id| slots.contains_key(id));
            self.swept_at = now;
        }
        let id = (ns.to_string(), key.to_string());
        match self.slots.get(&id).map(|slot| &slot.state) {
            None => {
                self.evict_beyond_capacity();
                self.next_seq += 1;
                self.order.insert(self.next_seq, id.clone());
                self.slots.insert(
                    id,
                    Slot {
                        seq: self.next_seq,
                        state: SlotState::InFlight {
                            fingerprint,
                            started: now,
                        },
                    },
                );
                Begin::Proceed
            }
            Some(SlotState::InFlight {
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
            Some(SlotState::Done {
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

    /// Makes room for one more key: forgets the finished keys first used longest ago until
    /// fewer than `capacity` remain (or only keys in flight are left to forget).
    fn evict_beyond_capacity(&mut self) {
        let mut excess = (self.slots.len() + 1).saturating_sub(self.capacity);
        if excess == 0 {
            return;
        }
        let mut evicted = Vec::new();
        for (seq, id) in &self.order {
            if excess == 0 {
                break;
            }
            if matches!(self.slots[id].state, SlotState::Done { .. }) {
                evicted.push(*seq);
                excess -= 1;
            }
        }
        for seq in evicted {
            if let Some(id) = self.order.remove(&seq) {
                self.slots.remove(&id);
            }
        }
    }

    /// Stores the result of a request that began with `Proceed`.
    pub fn finish(&mut self, ns: &str, key: &str, stored: Stored, now: i64) {
        let id = (ns.to_string(), key.to_string());
        if let Some(slot) = self.slots.get_mut(&id) {
            if let SlotState::InFlight { fingerprint, .. } = &mut slot.state {
                let fingerprint = std::mem::take(fingerprint);
                slot.state = SlotState::Done {
                    fingerprint,
                    stored,
                    at: now,
                };
            }
        }
    }

    /// Forgets a request that never executed (validation failure, injected fault).
    pub fn abandon(&mut self, ns: &str, key: &str) {
        let id = (ns.to_string(), key.to_string());
        if let Some(slot) = self.slots.get(&id) {
            if matches!(slot.state, SlotState::InFlight { .. }) {
                self.order.remove(&slot.seq);
                self.slots.remove(&id);
            }
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

    fn stored() -> Stored {
        Stored {
            status: 200,
            body: "{}".into(),
            request_id: "req_1".into(),
            should_retry: None,
        }
    }

    #[test]
    fn lifecycle() {
        let mut idem = Idempotency::new(100);
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

    #[test]
    fn the_keys_first_used_longest_ago_are_forgotten_beyond_capacity() {
        let mut idem = Idempotency::new(3);
        for key in ["k1", "k2", "k3"] {
            assert!(matches!(idem.begin("a", key, fp("1"), 0), Begin::Proceed));
            idem.finish("a", key, stored(), 0);
        }
        // k1 replays (and a replay does not make it younger).
        assert!(matches!(
            idem.begin("a", "k1", fp("1"), 0),
            Begin::Replay(_)
        ));
        assert!(matches!(idem.begin("a", "k4", fp("1"), 0), Begin::Proceed));
        idem.finish("a", "k4", stored(), 0);
        assert_eq!(idem.len(), 3);
        // k1 was forgotten: it runs again (and forgets k2); the recent ones still replay.
        assert!(matches!(idem.begin("a", "k1", fp("2"), 0), Begin::Proceed));
        for key in ["k3", "k4"] {
            assert!(matches!(idem.begin("a", key, fp("1"), 0), Begin::Replay(_)));
        }
        assert!(matches!(idem.begin("a", "k2", fp("2"), 0), Begin::Proceed));
    }

    #[test]
    fn keys_in_flight_are_never_forgotten() {
        let mut idem = Idempotency::new(2);
        for key in ["k1", "k2", "k3"] {
            assert!(matches!(idem.begin("a", key, fp("1"), 0), Begin::Proceed));
        }
        assert_eq!(idem.len(), 3, "all three are still running");
        for key in ["k1", "k2", "k3"] {
            match idem.begin("a", key, fp("1"), 0) {
                Begin::Reject(e) => assert_eq!(e.status, 409),
                _ => panic!("{key} is in flight"),
            }
        }
        idem.finish("a", "k1", stored(), 0);
        idem.abandon("a", "k2");
        assert!(matches!(idem.begin("a", "k4", fp("1"), 0), Begin::Proceed));
        // k1 (finished, oldest) made room; k3 is still in flight.
        assert!(matches!(idem.begin("a", "k1", fp("2"), 0), Begin::Proceed));
        assert!(matches!(
            idem.begin("a", "k3", fp("1"), 0),
            Begin::Reject(_)
        ));
    }
}
