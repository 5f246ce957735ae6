//! Waiting for something the test does not drive: a webhook the simulator sends from its own task,
//! a child process that prints a line or exits. Always on a condition, always with a deadline;
//! never a fixed pause.

use std::time::{Duration, Instant};

/// How often a condition is looked at again.
const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it holds, for up to `secs` seconds; panics with `what` if it never does.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    until_some(secs, what, || {
        let checked = check();
        async move { checked.await.then_some(()) }
    })
    .await
}

/// Polls `find` until it returns a value, for up to `secs` seconds; panics with `what` if it
/// never does.
pub async fn until_some<T, F, Fut>(secs: u64, what: &str, mut find: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(found) = find().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        // Not a synchronisation: the poll interval of a condition checked until its deadline.
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `find` (blocking: no runtime) until it returns a value, for up to `secs` seconds; `None`
/// at the deadline. E.g. a child process expected to exit.
pub fn within_blocking<T>(secs: u64, mut find: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(found) = find() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        // Not a synchronisation: the poll interval of a condition checked until its deadline.
        std::thread::sleep(POLL);
    }
}
