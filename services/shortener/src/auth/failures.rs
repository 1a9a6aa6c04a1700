//! The limit on failed authentications per client, shared by every replica.
//!
//! A client (an address; an IPv6 address by its /64, `ghostlink_domain::forwarded::address_key`)
//! may fail `AUTH_FAILURE_LIMIT` times per window (`AUTH_FAILURE_WINDOW_MS`, from its first
//! failure); past that it gets 429 with `Retry-After` before its token is looked up, whatever it
//! presents, until the window ends. Without it every random token was a database lookup, as
//! fast as a client could send them.
//!
//! The count lives in Redis (`ghostlink_cache::limit`), so N replicas enforce one limit; a
//! replica remembers the clients it has seen over the limit, so refusing them again costs
//! nothing. When Redis does not answer, the replica's own count decides
//! (`auth_failure_limiter_fallback_total`): the limit then holds per replica instead of
//! overall, weaker but never off. Both in-process maps are bounded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ghostlink_cache::limit::WindowState;
use ghostlink_cache::RedisCache;

/// Clients tracked in memory, per map: beyond it the least used are forgotten.
const TRACKED_CLIENTS: u64 = 100_000;

/// The failed-authentication limit.
pub struct FailureLimit {
    redis: RedisCache,
    limit: u64,
    window: Duration,
    /// Clients known to be over the limit, and until when.
    blocked: moka::sync::Cache<String, Instant>,
    /// This replica's own count, which decides while Redis does not answer.
    local: moka::sync::Cache<String, Arc<LocalWindow>>,
}

struct LocalWindow {
    started: Instant,
    count: AtomicU64,
}

fn bounded<V: Clone + Send + Sync + 'static>(ttl: Duration) -> moka::sync::Cache<String, V> {
    moka::sync::Cache::builder().max_capacity(TRACKED_CLIENTS).time_to_live(ttl).build()
}

fn fallback() {
    metrics::counter!("auth_failure_limiter_fallback_total").increment(1);
}

fn redis_key(client: &str) -> String {
    format!("authfail:{client}")
}

impl FailureLimit {
    pub fn new(redis: RedisCache, limit: u32, window: Duration) -> Self {
        Self {
            redis,
            limit: u64::from(limit.max(1)),
            window,
            blocked: bounded(window),
            local: bounded(window),
        }
    }

    /// `Err(wait)` when `client` is over the limit, as this replica knows it.
    pub fn check_known(&self, client: &str) -> Result<(), Duration> {
        match self.blocked.get(client) {
            Some(until) => match until.checked_duration_since(Instant::now()) {
                Some(wait) if !wait.is_zero() => Err(wait),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// `Err(wait)` when `client` is over the limit, counting every replica's failures (Redis):
    /// asked before a token is looked up in the database.
    pub async fn check(&self, client: &str) -> Result<(), Duration> {
        self.check_known(client)?;
        let state = match self.redis.window_peek(&redis_key(client)).await {
            Ok(s) => s,
            Err(_) => {
                fallback();
                self.local_state(client)
            }
        };
        self.judge(client, state)
    }

    /// Counts one failed authentication of `client`.
    pub async fn record(&self, client: &str) {
        let local = self.local_hit(client);
        let state = match self.redis.window_hit(&redis_key(client), self.window).await {
            Ok(s) => s,
            Err(_) => {
                fallback();
                local
            }
        };
        let _ = self.judge(client, state);
    }

    /// Over the limit: remembered as blocked until the window ends.
    fn judge(&self, client: &str, state: WindowState) -> Result<(), Duration> {
        if state.count < self.limit {
            return Ok(());
        }
        let wait = state.resets_in.max(Duration::from_millis(1));
        self.blocked.insert(client.to_owned(), Instant::now() + wait);
        Err(wait)
    }

    fn local_hit(&self, client: &str) -> WindowState {
        let w = self.local.get_with(client.to_owned(), || {
            Arc::new(LocalWindow { started: Instant::now(), count: AtomicU64::new(0) })
        });
        let count = w.count.fetch_add(1, Ordering::Relaxed) + 1;
        WindowState { count, resets_in: self.window.saturating_sub(w.started.elapsed()) }
    }

    fn local_state(&self, client: &str) -> WindowState {
        match self.local.get(client) {
            Some(w) => WindowState {
                count: w.count.load(Ordering::Relaxed),
                resets_in: self.window.saturating_sub(w.started.elapsed()),
            },
            None => WindowState { count: 0, resets_in: Duration::ZERO },
        }
    }
}
