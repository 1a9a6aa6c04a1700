//! Finding a link: in-process cache → Redis → Postgres.
//!
//! A change made through the shortener must be visible within a second. The shortener deletes
//! the Redis entry and publishes the code on the invalidation channel; every replica's
//! [`watch_invalidations`] task evicts it from memory. While that channel is known to work
//! (subscribed, and Redis answers a heartbeat every 250 ms within a second), memory entries live
//! `CACHE_LONG_TTL_SECS`; whenever it is not, the whole in-process cache is dropped and new
//! entries live at most `CACHE_TTL_MS` (≤ 1 s), so the one-second promise never rests on a
//! channel that might be silently broken. (Measured: with only the 1 s TTL, 100,000 random codes
//! mostly missed memory and the redirect reached 0.10× nginx; see docs/performance.md.)
//!
//! Redis calls are bounded and skipped by a breaker after failures; Postgres is the source of
//! truth, and when it is unreachable an uncached code is `Unavailable` (503), never "not found".
//!
//! A scan (many codes that do not exist) would cost one Postgres lookup per code: negative
//! entries only help with codes asked twice. So each client address has a [`ScanBudget`] of
//! unknown codes it may have looked up in Postgres per window, kept in Redis (shared by the
//! replicas) and read in the same `MGET` as the code's entry; the background fill of a negative
//! entry counts the lookup in the same script that writes the entry. An address past its budget
//! gets 429 (`Retry-After`: the window) for a code absent from memory and Redis without Postgres
//! being asked (`redirect_scan_refusals_total`), until its window ends. Not 404: nothing was
//! learnt about the code (it may be a real link no replica has looked up recently, or Postgres
//! may be down, which must read 503, never 404), so the answer says what happened — this address
//! asked for too many codes that do not exist. It only reaches an address that has just had
//! `SCAN_BUDGET` unknown codes looked up, which ghost-probe flags long before (20 in a minute). Counting happens after the
//! answer, so concurrent requests of one address can overshoot the budget by the requests in
//! flight.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ghostlink_cache::{Cached, RedisCache};
use ghostlink_db::Db;
use ghostlink_domain::LinkSnapshot;
use metrics::Counter;

/// What a lookup found. `None` inside: the code does not exist.
pub type Found = Option<Arc<LinkSnapshot>>;

/// Why a lookup gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAsked {
    /// Postgres could not be asked (503).
    Unavailable,
    /// The client's address is past its scan budget and the code is in neither memory nor
    /// Redis: Postgres was not asked, so nothing is known about the code (429, with the window
    /// as `Retry-After`).
    OverScanBudget { retry_after_secs: u64 },
}

struct LayerCounters {
    hit: Counter,
    miss: Counter,
    error: Counter,
}

impl LayerCounters {
    fn new(layer: &'static str) -> Self {
        let c = |result: &'static str| metrics::counter!("cache_requests_total", "layer" => layer, "result" => result);
        Self { hit: c("hit"), miss: c("miss"), error: c("error") }
    }
}

/// An in-process cache entry: what was found, and until when it may be used.
#[derive(Clone)]
struct Entry {
    found: Found,
    expires: Instant,
}

/// Per-entry lifetime: long while invalidations are trusted, short otherwise.
pub struct Lifetimes {
    pub short: Duration,
    pub long: Duration,
}

/// The in-process cache: a bounded concurrent map (quick_cache, S3-FIFO eviction) whose entries
/// carry their own deadline, checked on read. It replaced moka, which cost a tenth of the hot
/// path's CPU in its read bookkeeping and ~700 B per entry (docs/performance.md). Cheap to clone.
#[derive(Clone)]
pub struct Memory {
    cache: Arc<quick_cache::sync::Cache<Box<str>, Entry>>,
    lifetimes: Arc<Lifetimes>,
}

impl Memory {
    /// A live entry, if any (an expired one is dropped).
    fn get(&self, code: &str) -> Option<Found> {
        let entry = self.cache.get(code)?;
        if entry.expires > Instant::now() {
            return Some(entry.found);
        }
        self.cache.remove(code);
        None
    }

    fn insert(&self, code: &str, found: Found, long: bool) {
        let ttl = if long { self.lifetimes.long } else { self.lifetimes.short };
        self.cache.insert(code.into(), Entry { found, expires: Instant::now() + ttl });
    }

    /// Forgets one code.
    pub fn invalidate(&self, code: &str) {
        self.cache.remove(code);
    }

    /// Forgets everything.
    pub fn invalidate_all(&self) {
        self.cache.clear();
    }
}

/// Builds the in-process cache.
pub fn memory(capacity: u64, lifetimes: Lifetimes) -> Memory {
    let capacity = usize::try_from(capacity).unwrap_or(usize::MAX).max(1);
    Memory { cache: Arc::new(quick_cache::sync::Cache::new(capacity)), lifetimes: Arc::new(lifetimes) }
}

/// Whether invalidations are trusted now, and a counter of every invalidation seen (a lookup
/// that overlapped one stores its result with the short lifetime only).
#[derive(Default)]
pub struct Freshness {
    healthy: AtomicBool,
    epoch: AtomicU64,
}

/// How many unknown codes one address may have looked up in Postgres, per window.
#[derive(Debug, Clone, Copy)]
pub struct ScanBudget {
    pub limit: u64,
    pub window: Duration,
}

/// The three-layer lookup.
pub struct Resolver {
    memory: Memory,
    freshness: Arc<Freshness>,
    long_enabled: bool,
    redis: RedisCache,
    db: Db,
    budget: Option<ScanBudget>,
    mem_c: LayerCounters,
    redis_c: LayerCounters,
    pg_c: LayerCounters,
    refused: Counter,
}

impl Resolver {
    pub fn new(
        memory: Memory,
        freshness: Arc<Freshness>,
        long_enabled: bool,
        redis: RedisCache,
        db: Db,
        budget: Option<ScanBudget>,
    ) -> Self {
        Self {
            memory,
            freshness,
            long_enabled,
            redis,
            db,
            budget,
            mem_c: LayerCounters::new("memory"),
            redis_c: LayerCounters::new("redis"),
            pg_c: LayerCounters::new("postgres"),
            refused: metrics::counter!("redirect_scan_refusals_total"),
        }
    }

    fn remember(&self, code: &str, found: Found, epoch: u64) {
        let long = self.long_enabled
            && self.freshness.healthy.load(Ordering::Acquire)
            && self.freshness.epoch.load(Ordering::Acquire) == epoch;
        self.memory.insert(code, found, long);
    }

    /// Finds `code` for a client at `address` (its hashed address key: the scan budget's unit).
    pub async fn resolve(&self, code: &str, address: &str) -> Result<Found, NotAsked> {
        if let Some(found) = self.memory.get(code) {
            self.mem_c.hit.increment(1);
            return Ok(found);
        }
        self.mem_c.miss.increment(1);
        let epoch = self.freshness.epoch.load(Ordering::Acquire);
        let cached = match self.budget {
            Some(_) => self.redis.get_with_scans(code, address).await,
            None => self.redis.get(code).await.map(|c| (c, 0)),
        };
        match cached {
            Ok((Some(Cached::Found(s)), _)) => {
                self.redis_c.hit.increment(1);
                let found = Some(Arc::new(s));
                self.remember(code, found.clone(), epoch);
                return Ok(found);
            }
            Ok((Some(Cached::Missing), _)) => {
                self.redis_c.hit.increment(1);
                self.remember(code, None, epoch);
                return Ok(None);
            }
            Ok((None, spent)) => {
                self.redis_c.miss.increment(1);
                if let Some(b) = self.budget.filter(|b| spent >= b.limit) {
                    // Past its budget: Postgres is not asked, and nothing is remembered (nothing
                    // was learnt about the code).
                    self.refused.increment(1);
                    return Err(NotAsked::OverScanBudget { retry_after_secs: b.window.as_secs().max(1) });
                }
            }
            Err(_) => self.redis_c.error.increment(1),
        }
        let owned = code.to_owned();
        let row = self.db.run(move |c| ghostlink_db::links::snapshot(c, &owned)).await;
        let found = match row {
            Ok(Some(s)) => {
                self.pg_c.hit.increment(1);
                Some(Arc::new(s))
            }
            Ok(None) => {
                self.pg_c.miss.increment(1);
                None
            }
            Err(_) => {
                self.pg_c.error.increment(1);
                metrics::counter!("db_errors_total", "op" => "lookup").increment(1);
                return Err(NotAsked::Unavailable);
            }
        };
        self.remember(code, found.clone(), epoch);
        // Fill Redis in the background: the answer does not wait for it. A fill that lands after
        // a change's invalidation is refused by Redis (see `ghostlink_cache::FILL_FENCE`).
        if !self.redis.is_open() {
            let redis = self.redis.clone();
            let value = match &found {
                Some(s) => Cached::Found((**s).clone()),
                None => Cached::Missing,
            };
            let (code, address, budget) = (code.to_owned(), address.to_owned(), self.budget);
            tokio::spawn(async move {
                let stored = match (&value, budget) {
                    (Cached::Missing, Some(b)) => redis.put_missing_counted(&code, &address, b.window).await,
                    _ => redis.put(&code, &value).await,
                };
                let result = match stored {
                    Ok(true) => "stored",
                    Ok(false) => "fenced",
                    Err(_) => "error",
                };
                metrics::counter!("cache_fills_total", "result" => result).increment(1);
            });
        }
        Ok(found)
    }

    /// Forgets a code in this process (after a used-up `max_clicks`, for instance).
    pub fn forget(&self, code: &str) {
        self.memory.invalidate(code);
    }
}

/// Keeps the in-process cache honest: subscribes to invalidations, evicts what they name, and
/// heartbeats Redis. Any failure drops the whole in-process cache and marks invalidations
/// untrusted (short lifetimes) until subscribed again. Runs until the process ends.
pub async fn watch_invalidations(
    memory: Memory,
    freshness: Arc<Freshness>,
    redis: RedisCache,
    log: slog::Logger,
) {
    use futures_util::StreamExt;
    let gauge = metrics::gauge!("cache_invalidation_channel_up");
    let untrust = |why: &str| {
        if freshness.healthy.swap(false, Ordering::AcqRel) {
            slog::warn!(log, "invalidation channel lost; in-process cache dropped, short lifetimes until it is back"; "reason" => why);
        }
        freshness.epoch.fetch_add(1, Ordering::AcqRel);
        memory.invalidate_all();
        gauge.set(0.0);
    };
    loop {
        let subscribed = async {
            Ok::<_, ghostlink_cache::CacheError>((
                redis.subscribe_invalidations().await?,
                redis.heartbeat().await?,
            ))
        };
        match subscribed.await {
            Ok((stream, mut heartbeat)) => {
                let mut stream = Box::pin(stream);
                // Anything published before the subscription is lost: start from empty.
                freshness.epoch.fetch_add(1, Ordering::AcqRel);
                memory.invalidate_all();
                freshness.healthy.store(true, Ordering::Release);
                gauge.set(1.0);
                slog::info!(log, "invalidation channel subscribed");
                let mut beat = tokio::time::interval(Duration::from_millis(250));
                let reason = loop {
                    tokio::select! {
                        msg = stream.next() => match msg {
                            Some(code) => {
                                freshness.epoch.fetch_add(1, Ordering::AcqRel);
                                memory.invalidate(&code);
                            }
                            None => break "subscription closed",
                        },
                        _ = beat.tick() => {
                            if heartbeat.ping().await.is_err() {
                                break "heartbeat failed";
                            }
                        }
                    }
                };
                untrust(reason);
            }
            Err(_) => untrust("subscribe failed"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
