//! When a failed delivery is tried again: exponential backoff with full jitter
//! ([`ghostlink_domain::webhook::backoff`]) until the retry window since the delivery was
//! written (24 h by default) is over; then it fails for good.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The retry policy.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub base: Duration,
    pub max: Duration,
    pub window: Duration,
}

impl Schedule {
    /// The wait before the next attempt after attempt number `attempt` failed, or `None` when
    /// the next attempt would fall outside the window; `unit` is a draw in `[0, 1)`.
    pub fn retry_in(
        &self,
        attempt: u32,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
        unit: f64,
    ) -> Option<Duration> {
        let wait = ghostlink_domain::webhook::backoff(attempt, self.base, self.max, unit);
        let age = (now - created_at).to_std().unwrap_or_default();
        (age + wait <= self.window).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stop_at_the_end_of_the_window() {
        let s = Schedule {
            base: Duration::from_secs(1),
            max: Duration::from_secs(10),
            window: Duration::from_secs(60),
        };
        let t0 = Utc::now();
        assert_eq!(s.retry_in(1, t0, t0, 0.5), Some(Duration::from_millis(500)));
        assert_eq!(s.retry_in(9, t0, t0 + chrono::Duration::seconds(55), 0.5), Some(Duration::from_secs(5)));
        assert_eq!(s.retry_in(9, t0, t0 + chrono::Duration::seconds(56), 0.5), None);
    }
}
