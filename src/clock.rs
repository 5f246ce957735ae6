//! The time the background jobs decide by: when a `creating` payment counts as stuck, which
//! merchant-webhook deliveries are due, when a failed one is tried again. Production reads the
//! system clock; tests use a clock they can move forward (`Clock::adjustable`), so "older than a
//! minute" or "the retry due in ten seconds" happen at once instead of after a real wait.
//!
//! An adjustable clock runs with the system clock and adds an offset the test advances: rows the
//! request flows stamp with the real time stay in the past of the jobs that read them.

use chrono::{NaiveDateTime, Timelike};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A source of "now" in UTC. Cheap to clone; clones of an adjustable clock move together.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Microseconds added to the system clock (`None`: the system clock as is).
    offset: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { offset: None }
    }

    /// The system clock plus an offset that `advance` moves forward (for tests).
    pub fn adjustable() -> Clock {
        Clock {
            offset: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    /// Moves an adjustable clock forward by `by`.
    ///
    /// # Panics
    /// On the system clock, which cannot be moved.
    pub fn advance(&self, by: Duration) {
        let offset = self
            .offset
            .as_ref()
            .expect("only an adjustable clock can be advanced");
        let micros = i64::try_from(by.as_micros()).expect("an advance fits in i64 microseconds");
        offset.fetch_add(micros, Ordering::SeqCst);
    }

    /// Now, in UTC, truncated to microseconds (as stored by both database backends).
    pub fn now(&self) -> NaiveDateTime {
        let offset = self.offset.as_ref().map_or(0, |o| o.load(Ordering::SeqCst));
        let now = chrono::Utc::now().naive_utc() + chrono::Duration::microseconds(offset);
        now.with_nanosecond(now.nanosecond() / 1000 * 1000)
            .unwrap_or(now)
    }

    /// Now, in seconds since the Unix epoch (how Stripe states times).
    pub fn timestamp(&self) -> i64 {
        self.now().and_utc().timestamp()
    }

    /// `d` before now (a very long `d` reaches ten years back).
    pub fn ago(&self, d: Duration) -> NaiveDateTime {
        self.now() - chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::days(3650))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustable_clock_moves_forward_with_its_clones() {
        let clock = Clock::adjustable();
        let other = clock.clone();
        let before = clock.now();
        other.advance(Duration::from_secs(3600));
        let after = clock.now();
        assert!(after - before >= chrono::Duration::seconds(3600));
        assert!(after - before < chrono::Duration::seconds(3660));
        assert!(clock.timestamp() >= chrono::Utc::now().timestamp() + 3599);
    }

    #[test]
    fn the_system_clock_is_now() {
        let clock = Clock::system();
        let diff = clock.now() - chrono::Utc::now().naive_utc();
        assert!(diff.num_seconds().abs() <= 1);
        assert_eq!(clock.now().nanosecond() % 1000, 0, "microseconds");
    }

    #[test]
    #[should_panic(expected = "adjustable")]
    fn the_system_clock_cannot_be_advanced() {
        Clock::system().advance(Duration::from_secs(1));
    }
}
