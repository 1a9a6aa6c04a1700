//! Fixed-window counters in Redis, shared by every replica of a service: the shortener counts a
//! client's failed authentications here, so a client spreading its guesses over N replicas
//! meets one limit, not N.
//!
//! A window starts with a client's first event and lasts its whole length; each event is one
//! `INCR` (the first also sets the expiry), answered with the count and the time left, in one
//! round trip. Calls honour the breaker: while Redis is skipped the caller falls back to a
//! count of its own (and says so).

use std::time::Duration;

use deadpool_redis::redis;

use crate::{CacheError, RedisCache};

/// Counts one event in the window and answers the count and the time left. KEYS: the counter;
/// ARGV: the window in ms. A counter left without an expiry (it cannot happen, but a window
/// must end) is given one.
const HIT_LUA: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

/// Takes back one event counted in the window, if the window is still open (an expired
/// counter is not brought back as a negative one). KEYS: the counter.
const UNDO_LUA: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
";

/// A window's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowState {
    /// Events counted in the current window (0: no window is open).
    pub count: u64,
    /// Until the window ends (zero when none is open).
    pub resets_in: Duration,
}

impl WindowState {
    fn from_pair(count: i64, ttl_ms: i64) -> Self {
        let count = count.max(0) as u64;
        let resets_in = if count == 0 { Duration::ZERO } else { Duration::from_millis(ttl_ms.max(0) as u64) };
        Self { count, resets_in }
    }
}

impl RedisCache {
    /// Counts one event under `key` (below the prefix) in a window of `window`.
    pub async fn window_hit(&self, key: &str, window: Duration) -> Result<WindowState, CacheError> {
        let key = self.prefixed(key);
        let ms = window.as_millis().max(1) as u64;
        let (n, ttl): (i64, i64) = self
            .call("window_hit", true, |mut c| async move {
                redis::cmd("EVAL").arg(HIT_LUA).arg(1).arg(key).arg(ms).query_async(&mut c).await
            })
            .await?;
        Ok(WindowState::from_pair(n, ttl))
    }

    /// Takes back one event counted under `key` by [`RedisCache::window_hit`]: a caller that
    /// counts an attempt before knowing how it ends (so concurrent attempts cannot overshoot
    /// the limit) undoes the count of one that turned out not to count.
    pub async fn window_undo(&self, key: &str) -> Result<(), CacheError> {
        let key = self.prefixed(key);
        let _: i64 = self
            .call("window_undo", true, |mut c| async move {
                redis::cmd("EVAL").arg(UNDO_LUA).arg(1).arg(key).query_async(&mut c).await
            })
            .await?;
        Ok(())
    }

    /// The state of the window under `key` without counting anything.
    pub async fn window_peek(&self, key: &str) -> Result<WindowState, CacheError> {
        let key = self.prefixed(key);
        let (n, ttl): (Option<i64>, i64) = self
            .call("window_peek", true, |mut c| async move {
                redis::pipe().cmd("GET").arg(&key).cmd("PTTL").arg(&key).query_async(&mut c).await
            })
            .await?;
        Ok(WindowState::from_pair(n.unwrap_or(0), ttl))
    }
}
