//! Finding a link: in-process cache → Redis → Postgres.
//!
//! The in-process layer lives at most `CACHE_TTL_MS` (≤ 1 s), so a change made through the
//! shortener (which also deletes the Redis entry) is visible within a second. Redis calls are
//! bounded and skipped by a breaker after failures; Postgres is the source of truth, and when it
//! is unreachable an uncached code is `Unavailable` (503), never "not found".

use std::sync::Arc;

use ghostlink_cache::{Cached, RedisCache};
use ghostlink_db::Db;
use ghostlink_domain::LinkSnapshot;
use metrics::Counter;

/// What a lookup found. `None` inside: the code does not exist.
pub type Found = Option<Arc<LinkSnapshot>>;

/// Postgres could not be asked.
#[derive(Debug)]
pub struct Unavailable;

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

/// The three-layer lookup.
pub struct Resolver {
    memory: moka::sync::Cache<String, Found>,
    redis: RedisCache,
    db: Db,
    mem_c: LayerCounters,
    redis_c: LayerCounters,
    pg_c: LayerCounters,
}

impl Resolver {
    pub fn new(memory: moka::sync::Cache<String, Found>, redis: RedisCache, db: Db) -> Self {
        Self {
            memory,
            redis,
            db,
            mem_c: LayerCounters::new("memory"),
            redis_c: LayerCounters::new("redis"),
            pg_c: LayerCounters::new("postgres"),
        }
    }

    pub async fn resolve(&self, code: &str) -> Result<Found, Unavailable> {
        if let Some(found) = self.memory.get(code) {
            self.mem_c.hit.increment(1);
            return Ok(found);
        }
        self.mem_c.miss.increment(1);
        match self.redis.get(code).await {
            Ok(Some(Cached::Found(s))) => {
                self.redis_c.hit.increment(1);
                let found = Some(Arc::new(s));
                self.memory.insert(code.to_owned(), found.clone());
                return Ok(found);
            }
            Ok(Some(Cached::Missing)) => {
                self.redis_c.hit.increment(1);
                self.memory.insert(code.to_owned(), None);
                return Ok(None);
            }
            Ok(None) => self.redis_c.miss.increment(1),
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
                return Err(Unavailable);
            }
        };
        self.memory.insert(code.to_owned(), found.clone());
        // Fill Redis in the background: the answer does not wait for it.
        if !self.redis.is_open() {
            let redis = self.redis.clone();
            let value = match &found {
                Some(s) => Cached::Found((**s).clone()),
                None => Cached::Missing,
            };
            let code = code.to_owned();
            tokio::spawn(async move {
                let _ = redis.put(&code, &value).await;
            });
        }
        Ok(found)
    }

    /// Forgets a code in this process (after a used-up `max_clicks`, for instance).
    pub fn forget(&self, code: &str) {
        self.memory.invalidate(code);
    }
}
