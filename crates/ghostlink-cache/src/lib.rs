//! Redis link cache for GhostLink, shared by the redirect (reads, fills) and the shortener
//! (invalidates after a change).
//!
//! Redis is an accelerator, never a dependency of correctness: every call is bounded by a short
//! timeout, and after a failure a breaker skips Redis for a moment so that a dead or hanging
//! Redis costs the request path nothing (lookups fall through to Postgres). Values are the JSON
//! of a [`LinkSnapshot`], or a short-lived negative marker for unknown codes; beside them, each
//! client address's scan budget (unknown codes it had looked up in Postgres in a window), read
//! in the lookup's own round trip. After a change every service drops a link's copies with the
//! one [`RedisCache::invalidate`]. [`probe`] holds the ghost-probe's store of its own
//! ([`probe::ProbeStore`]: sliding windows, episodes and the deny set the redirect honours);
//! [`limit`] the fixed-window counters replicas share (the shortener's failed-authentication
//! limit).

pub mod limit;
pub mod probe;
pub mod slots;

use ghostlink_telemetry::trace::{self, Attribute, FutureExt as _};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_redis::redis::{self, AsyncCommands};
use deadpool_redis::{Config, Pool, PoolConfig, Runtime, Timeouts};
use ghostlink_domain::LinkSnapshot;

/// What Redis knows about a code.
#[derive(Debug, Clone, PartialEq, Eq)]
// Found is the common answer and is moved straight into the redirect's cache: boxing it would
// add an allocation per lookup to save stack space on the rare negative entry.
#[allow(clippy::large_enum_variant)]
pub enum Cached {
    Found(LinkSnapshot),
    /// Known not to exist (negative entry).
    Missing,
}

/// Why a Redis call gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis skipped: breaker open after a recent failure")]
    Skipped,
    #[error("redis call timed out")]
    Timeout,
    #[error("redis error: {0}")]
    Redis(String),
}

/// Cache settings.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub url: String,
    pub timeout: Duration,
    pub key_prefix: String,
    pub pool_size: usize,
    /// How long positive entries live in Redis (a bound on staleness if an invalidation is lost).
    pub ttl: Duration,
    /// How long negative entries live.
    pub negative_ttl: Duration,
    /// How long Redis is skipped after a failure.
    pub breaker_open: Duration,
}

const NEGATIVE: &str = "-";

/// How long after an invalidation a code's fills are refused. A redirect reads Postgres and then
/// fills Redis in the background; if the shortener's change and invalidation land between the
/// read and the fill, the fill would put the old answer back for a whole TTL. The invalidation
/// leaves a fence that outlives any read begun before it (a lookup's statement timeout is 1 s,
/// a Redis call's well under one), and a fill checks the fence in the same script that writes.
pub const FILL_FENCE: Duration = Duration::from_secs(5);

/// `SET` unless the code was invalidated within [`FILL_FENCE`]. KEYS: entry, fence.
const FENCED_SET: &str = r#"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#;

/// [`FENCED_SET`] of a negative entry that also counts the lookup against an address's scan
/// budget (a fixed window: the counter's lifetime starts at its first lookup). KEYS: entry,
/// fence, counter; ARGV: payload, entry ttl ms, window ms.
const FENCED_SET_COUNTED: &str = r#"
redis.call('INCR', KEYS[3])
if redis.call('PTTL', KEYS[3]) < 0 then redis.call('PEXPIRE', KEYS[3], ARGV[3]) end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#;

/// The Redis side of the link cache.
#[derive(Clone)]
pub struct RedisCache {
    pool: Pool,
    settings: Arc<CacheSettings>,
    epoch: Instant,
    /// Milliseconds since `epoch` until which Redis is skipped.
    skip_until: Arc<AtomicU64>,
    /// Failures in a row; the breaker opens at [`BREAKER_THRESHOLD`].
    failures: Arc<AtomicU32>,
}

/// Consecutive failures that open the breaker: one slow answer under a CPU spike must not
/// send all traffic to Postgres, but a dead Redis is skipped after a handful of fast errors.
pub const BREAKER_THRESHOLD: u32 = 3;

impl RedisCache {
    /// Builds the pool without connecting.
    pub fn new(settings: CacheSettings) -> Result<Self, CacheError> {
        let mut cfg = Config::from_url(settings.url.clone());
        let t = Some(settings.timeout.max(Duration::from_millis(5)));
        cfg.pool = Some(PoolConfig {
            max_size: settings.pool_size,
            timeouts: Timeouts { wait: t, create: t, recycle: t },
            ..PoolConfig::default()
        });
        let pool = cfg.create_pool(Some(Runtime::Tokio1)).map_err(|e| CacheError::Redis(e.to_string()))?;
        metrics::gauge!("redis_fallback_active").set(0.0);
        Ok(Self {
            pool,
            settings: Arc::new(settings),
            epoch: Instant::now(),
            skip_until: Arc::new(AtomicU64::new(0)),
            failures: Arc::new(AtomicU32::new(0)),
        })
    }

    fn key(&self, code: &str) -> String {
        format!("{}link:{}", self.settings.key_prefix, code)
    }

    fn fence_key(&self, code: &str) -> String {
        format!("{}fence:{}", self.settings.key_prefix, code)
    }

    /// An address's scan budget counter: unknown codes it had looked up in Postgres.
    fn scan_key(&self, address: &str) -> String {
        format!("{}scan:{}", self.settings.key_prefix, address)
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether the breaker currently skips Redis.
    pub fn is_open(&self) -> bool {
        self.now_ms() < self.skip_until.load(Ordering::Relaxed)
    }

    async fn call<T, F, Fut>(&self, op: &'static str, honour_breaker: bool, f: F) -> Result<T, CacheError>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        self.call_within(op, honour_breaker, self.settings.timeout, f).await
    }

    async fn call_within<T, F, Fut>(
        &self,
        op: &'static str,
        honour_breaker: bool,
        timeout: Duration,
        f: F,
    ) -> Result<T, CacheError>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if honour_breaker && self.is_open() {
            return Err(CacheError::Skipped);
        }
        let call = tokio::time::timeout(timeout, async {
            let conn = self.pool.get().await.map_err(|e| CacheError::Redis(e.to_string()))?;
            f(conn).await.map_err(|e| CacheError::Redis(e.to_string()))
        });
        let span = trace::child(trace::kind::Client, || {
            let attributes =
                vec![Attribute::new("db.system.name", "redis"), Attribute::new("db.operation.name", op)];
            (op, attributes)
        });
        let res = match &span {
            Some(cx) => call.with_context(cx.clone()).await,
            None => call.await,
        }
        .unwrap_or(Err(CacheError::Timeout));
        if let Some(cx) = &span {
            trace::finish(cx, res.as_ref().err().map(ToString::to_string).as_deref());
        }
        match &res {
            Ok(_) => {
                self.failures.store(0, Ordering::Relaxed);
                if self.skip_until.swap(0, Ordering::Relaxed) != 0 {
                    metrics::gauge!("redis_fallback_active").set(0.0);
                }
            }
            Err(_) => {
                metrics::counter!("redis_errors_total", "op" => op).increment(1);
                if self.failures.fetch_add(1, Ordering::Relaxed) + 1 >= BREAKER_THRESHOLD {
                    let until = self.now_ms() + self.settings.breaker_open.as_millis() as u64;
                    self.skip_until.store(until, Ordering::Relaxed);
                    metrics::gauge!("redis_fallback_active").set(1.0);
                }
            }
        }
        res
    }

    /// Looks a code up. `Ok(None)`: Redis has no entry.
    pub async fn get(&self, code: &str) -> Result<Option<Cached>, CacheError> {
        let key = self.key(code);
        let raw: Option<String> = self.call("get", true, |mut c| async move { c.get(key).await }).await?;
        Ok(decode(raw))
    }

    /// Looks a code up and reads how many unknown codes `address` had looked up in Postgres in
    /// its current budget window, in the one round trip a lookup makes anyway (`MGET`).
    pub async fn get_with_scans(
        &self,
        code: &str,
        address: &str,
    ) -> Result<(Option<Cached>, u64), CacheError> {
        let keys = [self.key(code), self.scan_key(address)];
        let (raw, spent): (Option<String>, Option<u64>) =
            self.call("get", true, |mut c| async move {
                redis::cmd("MGET").arg(&keys[..]).query_async(&mut c).await
            })
            .await?;
        Ok((decode(raw), spent.unwrap_or(0)))
    }

    /// How many unknown codes `address` had looked up in Postgres in its current budget window
    /// (operators and tests).
    pub async fn scans(&self, address: &str) -> Result<u64, CacheError> {
        let key = self.scan_key(address);
        let n: Option<u64> = self.call("scans", false, |mut c| async move { c.get(key).await }).await?;
        Ok(n.unwrap_or(0))
    }

    /// Stores what Postgres said about a code, unless the code was invalidated within
    /// [`FILL_FENCE`] (what was read may predate the change). `Ok(false)`: refused.
    pub async fn put(&self, code: &str, value: &Cached) -> Result<bool, CacheError> {
        let key = self.key(code);
        let fence = self.fence_key(code);
        let (payload, ttl) = match value {
            Cached::Found(s) => {
                (serde_json::to_string(s).map_err(|e| CacheError::Redis(e.to_string()))?, self.settings.ttl)
            }
            Cached::Missing => (NEGATIVE.to_string(), self.settings.negative_ttl),
        };
        let ms = ttl.as_millis().max(1) as u64;
        self.call("set", true, |mut c| async move {
            redis::cmd("EVAL")
                .arg(FENCED_SET)
                .arg(2)
                .arg(key)
                .arg(fence)
                .arg(payload)
                .arg(ms)
                .query_async::<i64>(&mut c)
                .await
                .map(|stored| stored == 1)
        })
        .await
    }

    /// [`RedisCache::put`] of "no such code" after Postgres said so for `address`, counting
    /// that lookup against the address's scan budget (a window of `window` from its first
    /// counted lookup) in the same round trip. `Ok(false)`: the entry was refused (fenced); the
    /// lookup is counted either way.
    pub async fn put_missing_counted(
        &self,
        code: &str,
        address: &str,
        window: Duration,
    ) -> Result<bool, CacheError> {
        let keys = [self.key(code), self.fence_key(code), self.scan_key(address)];
        let (ttl, window) =
            (self.settings.negative_ttl.as_millis().max(1) as u64, window.as_millis().max(1) as u64);
        self.call("set", true, |mut c| async move {
            redis::cmd("EVAL")
                .arg(FENCED_SET_COUNTED)
                .arg(3)
                .arg(&keys[..])
                .arg(NEGATIVE)
                .arg(ttl)
                .arg(window)
                .query_async::<i64>(&mut c)
                .await
                .map(|stored| stored == 1)
        })
        .await
    }

    /// A key under this cache's prefix.
    pub fn prefixed(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.settings.key_prefix)
    }

    /// What every service does after changing a link (the shortener's edits, the risk scorer's
    /// level, the canary's quarantine): [`RedisCache::invalidate_and_publish`], retried once
    /// 20 ms later, counted in `cache_invalidations_total{result}` and logged when both tries
    /// failed. Nothing more can be done then: the redirects cannot hear the channel either and
    /// fall back to one-second lifetimes, and the Redis TTL bounds the rest. `false`: it failed.
    pub async fn invalidate(&self, code: &str, log: &slog::Logger) -> bool {
        let mut last = None;
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            match self.invalidate_and_publish(code).await {
                Ok(()) => {
                    metrics::counter!("cache_invalidations_total", "result" => "ok").increment(1);
                    return true;
                }
                Err(e) => last = Some(e),
            }
        }
        metrics::counter!("cache_invalidations_total", "result" => "error").increment(1);
        if let Some(e) = last {
            slog::warn!(log, "cache invalidation failed"; "link.code" => code, "error" => %e);
        }
        false
    }

    /// The pub/sub channel carrying invalidated codes to every redirect replica.
    pub fn invalidation_channel(&self) -> String {
        format!("{}invalidate", self.settings.key_prefix)
    }

    /// Drops a code's entry, fences off fills for [`FILL_FENCE`] (see there) and tells every
    /// subscribed replica to forget it too, in one transaction. Ignores the breaker: an
    /// invalidation is worth a try.
    pub async fn invalidate_and_publish(&self, code: &str) -> Result<(), CacheError> {
        let key = self.key(code);
        let fence = self.fence_key(code);
        let channel = self.invalidation_channel();
        let code = code.to_owned();
        let fence_ms = FILL_FENCE.as_millis() as u64;
        self.call("invalidate", false, |mut c| async move {
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(fence)
                .arg(1)
                .arg("PX")
                .arg(fence_ms)
                .ignore()
                .del(key)
                .ignore()
                .publish(channel, code)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// Subscribes to invalidations on a connection of its own (bounded by the call timeout
    /// for the connect and subscribe). The stream ends when the connection drops.
    pub async fn subscribe_invalidations(
        &self,
    ) -> Result<impl futures_util::Stream<Item = String> + Send + 'static, CacheError> {
        use futures_util::StreamExt;
        let client =
            redis::Client::open(self.settings.url.as_str()).map_err(|e| CacheError::Redis(e.to_string()))?;
        let channel = self.invalidation_channel();
        let connect = async move {
            let mut ps = client.get_async_pubsub().await?;
            ps.subscribe(channel).await?;
            Ok::<_, redis::RedisError>(ps)
        };
        let ps = tokio::time::timeout(self.settings.timeout.max(Duration::from_millis(500)), connect)
            .await
            .map_err(|_| CacheError::Timeout)?
            .map_err(|e| CacheError::Redis(e.to_string()))?;
        Ok(ps.into_on_message().filter_map(|m| async move { m.get_payload::<String>().ok() }))
    }

    /// A dedicated connection for heartbeats, outside the pool: "is Redis there at all", as
    /// opposed to "is it fast enough for the request path" (a busy pool must not look like a
    /// dead Redis).
    pub async fn heartbeat(&self) -> Result<Heartbeat, CacheError> {
        let client =
            redis::Client::open(self.settings.url.as_str()).map_err(|e| CacheError::Redis(e.to_string()))?;
        let conn = tokio::time::timeout(Duration::from_secs(1), client.get_multiplexed_async_connection())
            .await
            .map_err(|_| CacheError::Timeout)?
            .map_err(|e| CacheError::Redis(e.to_string()))?;
        Ok(Heartbeat { conn })
    }

    /// `PING`, for readiness (ignores the breaker).
    pub async fn ping(&self) -> Result<(), CacheError> {
        self.call("ping", false, |mut c| async move {
            redis::cmd("PING").query_async::<String>(&mut c).await.map(|_| ())
        })
        .await
    }

    /// Deletes every key under this cache's prefix (tests and `ghostctl`).
    pub async fn flush_prefix(&self) -> Result<u64, CacheError> {
        let pattern = format!("{}*", self.settings.key_prefix);
        self.call("flush", false, |mut c| async move {
            let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut c).await?;
            let n = keys.len() as u64;
            if !keys.is_empty() {
                c.del::<_, ()>(keys).await?;
            }
            Ok(n)
        })
        .await
    }
}

/// A stored value as what it says about a code.
fn decode(raw: Option<String>) -> Option<Cached> {
    match raw {
        None => None,
        Some(s) if s == NEGATIVE => Some(Cached::Missing),
        // An entry we cannot read (older format) counts as absent and is refilled.
        Some(s) => serde_json::from_str(&s).ok().map(Cached::Found),
    }
}

/// See [`RedisCache::heartbeat`].
pub struct Heartbeat {
    conn: redis::aio::MultiplexedConnection,
}

impl Heartbeat {
    /// `PING`, bounded by one second.
    pub async fn ping(&mut self) -> Result<(), CacheError> {
        tokio::time::timeout(Duration::from_secs(1), redis::cmd("PING").query_async::<String>(&mut self.conn))
            .await
            .map_err(|_| CacheError::Timeout)?
            .map(|_| ())
            .map_err(|e| CacheError::Redis(e.to_string()))
    }
}
