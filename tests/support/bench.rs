//! What the benchmarks (`benches/latency.rs`, `benches/load.rs`) share: the application as they
//! measure it, and nearest-rank percentiles.

use super::app::{Backend, TestApp};
use std::time::Duration;

/// The application as the benchmarks measure it: the test app without its logger, background
/// workers off, the simulator's webhooks to us off, a 30 s Stripe timeout, and a heartbeat at start
/// only (so statement counts are per request).
pub async fn app(backend: Backend, workers: Option<usize>, pool_size: u32) -> TestApp {
    TestApp::builder(backend)
        .logged(false)
        .configure(move |config| {
            config.stripe_timeout = Duration::from_secs(30);
            config.workers = workers;
            config.db_pool_size = pool_size;
            config.stripe_webhook_secrets = Vec::new();
            config.instance = pos_backend::jobs::instances::InstanceConfig {
                heartbeat_interval: Duration::from_secs(3600),
                timeout: Duration::from_secs(7200),
            };
        })
        .spawn()
        .await
}

/// The `p`-th percentile of `sorted` (ascending, not empty) by nearest rank.
pub fn nearest_rank(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p).div_ceil(100).max(1) - 1]
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank_picks_the_sample_at_or_above_the_rank() {
        let ms = std::time::Duration::from_millis;
        let sorted: Vec<_> = (1..=10).map(ms).collect();
        assert_eq!(super::nearest_rank(&sorted, 50), ms(5));
        assert_eq!(super::nearest_rank(&sorted, 90), ms(9));
        assert_eq!(super::nearest_rank(&sorted, 99), ms(10));
        assert_eq!(super::nearest_rank(&[ms(7)], 1), ms(7));
    }
}
