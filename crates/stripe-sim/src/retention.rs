//! How much the simulator remembers: every store is bounded, so a simulator left running for days
//! (or driven by a million-sale benchmark) stays at a few hundred MB.
//!
//! - Request log (`GET /_sim/requests`): a ring of the last [`Limits::request_log`] requests.
//! - Idempotency keys: replayed for Stripe's 24 hours, but at most [`Limits::idempotency_keys`]
//!   keys per simulator; beyond that the finished key first used longest ago is forgotten (a
//!   retry with it then runs as a new request). Keys whose first request is still running are
//!   never evicted.
//! - Events: kept for Stripe's 30 days, but at most [`Limits::events`]; the oldest go first (a
//!   retrieve answers 404 `resource_missing`, lists no longer show them).
//! - Finished objects: of each kind, only the [`Limits::finished_objects`] most recently created
//!   finished ones are kept. "Finished" means nothing more is expected of the object, or it holds
//!   no money: PaymentIntents in any status but `requires_capture` (an authorization is never
//!   evicted; an intent left in `requires_payment_method` is an abandoned sale once that many
//!   newer ones exist), with their charges, the charges' refunds and the PaymentMethods only they
//!   used (not a customer's); SetupIntents; Checkout Sessions no longer open (or past
//!   `expires_at`). An intent a reader is processing, or an open Checkout Session refers to, is
//!   kept. Customers, their saved cards, locations, readers and connection tokens are never
//!   evicted (they do not grow per sale). An evicted object answers Stripe's 404
//!   `resource_missing`, as an object in another account does; naming it in a parameter (a
//!   refund of an evicted charge) is Stripe's 400 `resource_missing` with that `param`.
//!
//! Objects are swept in batches: a kind is swept when it has grown by an eighth of its limit
//! (plus one) past what the last sweep left, so a sweep (which visits every object of the kind)
//! costs O(1) per created object. A sweep keeps the `limit` most recently created finished
//! objects; between sweeps a kind holds at most `limit + limit / 8 + 1` objects plus those that
//! were unfinished at the last sweep.

use super::payment_intents::Status;
use super::state::{Object, State};
use super::terminal::ReaderAction;
use std::collections::{HashMap, HashSet};

/// How long Stripe keeps events (and so the simulator, within [`Limits::events`]).
pub(crate) const EVENT_RETENTION_SECS: i64 = 30 * 24 * 3600;

/// Bounds of the simulator's memory; see the module documentation for what each one means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries in the request log.
    pub request_log: usize,
    /// Idempotency keys remembered (still at most 24 hours each).
    pub idempotency_keys: usize,
    /// Events remembered (still at most 30 days each).
    pub events: usize,
    /// Finished objects remembered per kind (PaymentIntents with their charges, SetupIntents,
    /// Checkout Sessions).
    pub finished_objects: usize,
}

impl Default for Limits {
    /// Enough for any test and for reconciling a day of a busy shop: ~10,000 of everything.
    fn default() -> Limits {
        Limits {
            request_log: 10_000,
            idempotency_keys: 10_000,
            events: 10_000,
            finished_objects: 10_000,
        }
    }
}

/// When each kind of object is swept next: its object count that triggers the next sweep.
#[derive(Debug, Default)]
pub(crate) struct Watermarks {
    payment_intents: usize,
    payouts: usize,
    setup_intents: usize,
    checkout_sessions: usize,
}

/// How far a kind grows past its limit (or past what the last sweep left) before a sweep.
fn slack(limit: usize) -> usize {
    limit / 8 + 1
}

/// The ids of the finished objects of `map` beyond the `keep` most recently created, oldest first.
fn oldest_finished<T: Object>(
    map: &HashMap<String, T>,
    finished: impl Fn(&T) -> bool,
    keep: usize,
) -> Vec<String> {
    let mut done: Vec<(u64, &str)> = map
        .values()
        .filter(|o| finished(o))
        .map(|o| (o.meta().seq, o.meta().id.as_str()))
        .collect();
    let excess = done.len().saturating_sub(keep);
    if excess == 0 {
        return Vec::new();
    }
    done.select_nth_unstable(excess - 1);
    done.truncate(excess);
    done.sort_unstable();
    done.into_iter().map(|(_, id)| id.to_string()).collect()
}

impl State {
    /// Brings every store back within its limits; run after each request's events were handed
    /// to the webhook sender.
    pub(crate) fn compact(&mut self, now: i64) {
        let limits = self.limits;
        while self.events.len() > limits.events
            || self
                .events
                .front()
                .is_some_and(|e| now - e.meta.created >= EVENT_RETENTION_SECS)
        {
            self.events.pop_front();
            self.events_evicted += 1;
        }
        let limit = limits.finished_objects;
        if self.payment_intents.len() > self.watermarks.payment_intents.max(limit + slack(limit)) {
            self.sweep_payment_intents();
            self.watermarks.payment_intents = self.payment_intents.len().max(limit) + slack(limit);
        }
        if self.payouts.len() > self.watermarks.payouts.max(limit + slack(limit)) {
            let evicted: HashSet<String> = oldest_finished(&self.payouts, |p| p.finished(), limit)
                .into_iter()
                .collect();
            for id in &evicted {
                self.payouts.remove(id);
            }
            self.balance_transactions
                .retain(|_, txn| !evicted.contains(&txn.source));
            self.watermarks.payouts = self.payouts.len().max(limit) + slack(limit);
        }
        if self.setup_intents.len() > self.watermarks.setup_intents.max(limit + slack(limit)) {
            let referenced: HashSet<&str> = self
                .checkout_sessions
                .values()
                .filter(|s| s.status == "open")
                .filter_map(|s| s.setup_intent.as_deref())
                .collect();
            let evicted = oldest_finished(
                &self.setup_intents,
                |s| !referenced.contains(s.meta.id.as_str()),
                limit,
            );
            for id in evicted {
                self.setup_intents.remove(&id);
            }
            self.watermarks.setup_intents = self.setup_intents.len().max(limit) + slack(limit);
        }
        if self.checkout_sessions.len()
            > self.watermarks.checkout_sessions.max(limit + slack(limit))
        {
            let evicted = oldest_finished(
                &self.checkout_sessions,
                |s| s.status != "open" || now >= s.expires_at,
                limit,
            );
            for id in evicted {
                self.checkout_sessions.remove(&id);
            }
            self.watermarks.checkout_sessions =
                self.checkout_sessions.len().max(limit) + slack(limit);
        }
    }

    /// Evicts the oldest finished PaymentIntents beyond the limit, with their charges, the
    /// charges' refunds and the PaymentMethods nothing kept refers to and no customer holds. An
    /// intent a reader action or an open Checkout Session still refers to is kept.
    fn sweep_payment_intents(&mut self) {
        let referenced: HashSet<&str> = self
            .readers
            .values()
            .filter_map(|r| r.action.as_ref())
            .filter(|a| a.status == "in_progress")
            .filter_map(ReaderAction::payment_intent)
            .chain(
                self.checkout_sessions
                    .values()
                    .filter(|s| s.status == "open")
                    .filter_map(|s| s.payment_intent.as_deref()),
            )
            .collect();
        let evicted: HashSet<String> = oldest_finished(
            &self.payment_intents,
            |pi| pi.status != Status::RequiresCapture && !referenced.contains(pi.meta.id.as_str()),
            self.limits.finished_objects,
        )
        .into_iter()
        .collect();
        if evicted.is_empty() {
            return;
        }
        let mut methods: HashSet<String> = HashSet::new();
        for id in &evicted {
            if let Some(pi) = self.payment_intents.remove(id) {
                methods.extend(pi.payment_method);
            }
        }
        let mut charges: HashSet<String> = HashSet::new();
        self.charges.retain(|id, charge| {
            let keep = !evicted.contains(&charge.payment_intent);
            if !keep {
                charges.insert(id.clone());
                methods.insert(charge.payment_method.clone());
            }
            keep
        });
        // Their refunds and disputes, and the balance transactions of all of them.
        let mut sources = charges.clone();
        self.refunds.retain(|id, refund| {
            let keep = !charges.contains(&refund.charge);
            if !keep {
                sources.insert(id.clone());
            }
            keep
        });
        self.disputes.retain(|id, dispute| {
            let keep = !charges.contains(&dispute.charge);
            if !keep {
                sources.insert(id.clone());
            }
            keep
        });
        self.balance_transactions
            .retain(|_, txn| !sources.contains(&txn.source));
        for pi in self.payment_intents.values() {
            if let Some(pm) = &pi.payment_method {
                methods.remove(pm);
            }
        }
        for charge in self.charges.values() {
            methods.remove(&charge.payment_method);
        }
        for si in self.setup_intents.values() {
            if let Some(pm) = &si.payment_method {
                methods.remove(pm);
            }
        }
        self.payment_methods
            .retain(|id, pm| pm.customer.is_some() || !methods.contains(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Origin;
    use serde_json::json;

    fn emit(state: &mut State, n: i64, now: i64) {
        let origin = Origin::simulator("platform:sk_test_x", "/v1/customers");
        state.emit(&origin, "customer.created", json!({ "n": n }), None, now);
    }

    #[test]
    fn events_older_than_30_days_or_beyond_the_limit_are_evicted_in_order() {
        let mut state = State::new(Limits {
            events: 3,
            ..Limits::default()
        });
        for n in 0..2 {
            emit(&mut state, n, 0);
        }
        for n in 2..4 {
            emit(&mut state, n, 10);
        }
        state.outbox.clear();
        state.compact(10);
        assert_eq!(state.events.len(), 3, "the limit");
        assert_eq!(state.events_evicted, 1);
        assert!(state.event_mut(0).is_none());
        assert_eq!(state.event_mut(1).unwrap().object, r#"{"n":1}"#);
        state.compact(EVENT_RETENTION_SECS - 1);
        assert_eq!(state.events.len(), 3, "30 days not over");
        state.compact(EVENT_RETENTION_SECS);
        assert_eq!(state.events.len(), 2, "the event of t=0 is 30 days old");
        assert_eq!(state.event_mut(2).unwrap().object, r#"{"n":2}"#);
        state.compact(EVENT_RETENTION_SECS + 10);
        assert!(state.events.is_empty());
        assert_eq!(state.events_evicted, 4);
    }

    #[test]
    fn finished_payouts_beyond_the_limit_go_with_their_own_transactions() {
        use crate::balance::Movement;
        use crate::payouts::{Payout, Status};
        let mut state = State::new(Limits {
            finished_objects: 2,
            ..Limits::default()
        });
        let ns = "acct_retention";
        let mut ids = Vec::new();
        for n in 0..4 {
            let meta = state.meta("po", ns, n);
            let id = meta.id.clone();
            let own = state.record_balance(Movement {
                ns,
                now: n,
                amount: -100,
                fee: 0,
                fee_description: "",
                currency: "usd",
                description: None,
                available_on: n,
                kind: "payout",
                reporting_category: "payout",
                source: &id,
                payout: Some(id.clone()),
            });
            let status = if n == 0 {
                Status::Pending
            } else {
                Status::Paid
            };
            state.payouts.insert(
                id.clone(),
                Payout {
                    meta,
                    amount: 100,
                    currency: "usd".into(),
                    arrival_date: n,
                    status,
                    balance_transaction: own,
                    failure: None,
                    failure_balance_transaction: None,
                },
            );
            ids.push(id);
        }
        state.compact(10);
        // Limit 2 and a slack of 1: 4 payouts trigger a sweep; the pending one stays, and the
        // two newest finished ones.
        let mut kept: Vec<&String> = state.payouts.keys().collect();
        kept.sort();
        let mut expected = vec![&ids[0], &ids[2], &ids[3]];
        expected.sort();
        assert_eq!(kept, expected);
        assert_eq!(state.balance_transactions.len(), 3);
        assert!(state
            .balance_transactions
            .values()
            .all(|t| t.source != ids[1]));
    }
}
