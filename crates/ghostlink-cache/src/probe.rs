//! The ghost-probe's shared state in Redis, and the deny set the redirect honours:
//! [`ProbeStore`], a store of its own beside the link cache (used by the ghost-probe, and by
//! the redirect's deny-set reader), with its own keys under the deployment's prefix.
//!
//! Sliding windows live in Redis, not in a process, so N ghost-probe replicas see one client's
//! traffic together: a sorted set per (detector, client or code) of members scored by event time
//! in milliseconds, trimmed to the window and capped, updated for a whole message of events in
//! one `EVAL` ([`ProbeStore::windows`]). Episodes are claimed with `SET NX` so a finding is
//! published once ([`ProbeStore::claim`]). For a client counted by its address alone, the
//! largest count one of its user agents reached ([`ProbeStore::top_agent`]) tells a
//! single-agent scanner behind a shared address from a client rotating user agents. Flagged
//! clients go into two sorted sets scored by their expiry (unix ms): `<prefix>flagged` always,
//! `<prefix>deny` in enforce mode; the redirect copies the live part of the deny set into memory
//! every second ([`ProbeStore::deny_live`]).

use std::time::Duration;

use deadpool_redis::redis;

use crate::{CacheError, CacheSettings, RedisCache};

/// Adds a batch of members to each window and counts what is in it. Per group, `ARGV` holds:
/// kind (`w`: a window; `zc`: a zero-click window, whose second key holds the last human click),
/// window ms, cap, ttl ms, human ms, n, then n (score, member) pairs. Answers per group the
/// count in (latest - window, latest] and the oldest score in it. A zero-click window with a
/// human click in it counts 0.
const WINDOWS_LUA: &str = r"
local out = {}
local a = 2
local k = 1
for g = 1, tonumber(ARGV[1]) do
  local kind, window, cap, ttl, human, n =
    ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  a = a + 6
  local key = KEYS[k]
  k = k + 1
  local latest = 0
  for i = 1, n do
    local score = tonumber(ARGV[a])
    redis.call('ZADD', key, 'GT', score, ARGV[a + 1])
    if score > latest then latest = score end
    a = a + 2
  end
  local floor = latest - window
  local count, first = 0, 0
  if n > 0 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. floor)
    if cap > 0 then redis.call('ZREMRANGEBYRANK', key, 0, -(cap + 1)) end
    redis.call('PEXPIRE', key, ttl)
    count = redis.call('ZCOUNT', key, '(' .. floor, latest)
    local oldest = redis.call('ZRANGEBYSCORE', key, '(' .. floor, latest, 'WITHSCORES', 'LIMIT', 0, 1)
    if oldest[2] then first = tonumber(oldest[2]) end
  end
  if kind == 'zc' then
    local hkey = KEYS[k]
    k = k + 1
    local last = tonumber(redis.call('GET', hkey) or '0')
    if human > last then
      last = human
      redis.call('SET', hkey, human, 'PX', ttl)
    end
    if last > floor then count = 0 end
  end
  out[#out + 1] = count
  out[#out + 1] = first
end
return out
";

/// Raises each counter to at least its value and sets its lifetime. KEYS: counters; ARGV per key:
/// value, ttl ms.
const RAISE_LUA: &str = r"
for i = 1, #KEYS do
  local v, ttl = tonumber(ARGV[2 * i - 1]), ARGV[2 * i]
  local cur = tonumber(redis.call('GET', KEYS[i]) or '0')
  if v > cur then cur = v end
  redis.call('SET', KEYS[i], cur, 'PX', ttl)
end
return 1
";

/// One sliding window to update.
#[derive(Debug, Clone)]
pub struct WindowUpdate {
    /// Key under the prefix, e.g. `probe:enum:<client>`.
    pub key: String,
    /// For a zero-click window: the key of its last human click, and the newest human click
    /// (unix ms) in this batch (0: none).
    pub human: Option<(String, i64)>,
    pub window: Duration,
    /// Most members kept (oldest dropped first); bounds memory per client.
    pub cap: u32,
    /// (event time in unix ms, member): an event id, or a code for distinct counting.
    pub members: Vec<(i64, String)>,
}

/// What a window holds after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    pub count: u64,
    /// The oldest event time (unix ms) in the window; 0 when empty.
    pub first_ms: i64,
}

/// Where a [`ProbeStore`] of its own connects.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub url: String,
    /// Bound of one call (nothing waits on the store per redirect: a lenient one).
    pub timeout: Duration,
    pub key_prefix: String,
    pub pool_size: usize,
}

/// The ghost-probe's windows, episodes and flags, and the deny set, in Redis. Calls are bounded
/// by the timeout and never skipped by the breaker (none of them is on a request path).
#[derive(Clone)]
pub struct ProbeStore {
    redis: RedisCache,
}

impl ProbeStore {
    /// A store with a pool of its own (the ghost-probe).
    pub fn new(settings: StoreSettings) -> Result<Self, CacheError> {
        let redis = RedisCache::new(CacheSettings {
            url: settings.url,
            timeout: settings.timeout,
            key_prefix: settings.key_prefix,
            pool_size: settings.pool_size,
            // No link is cached through this pool.
            ttl: Duration::from_secs(1),
            negative_ttl: Duration::from_secs(1),
            breaker_open: Duration::from_millis(500),
        })?;
        Ok(Self { redis })
    }

    /// A store on the link cache's pool and prefix (the redirect, which has one already).
    pub fn sharing(cache: &RedisCache) -> Self {
        Self { redis: cache.clone() }
    }

    fn prefixed(&self, suffix: &str) -> String {
        self.redis.prefixed(suffix)
    }

    /// The deny set: member = client hash, score = expiry (unix ms).
    pub fn deny_key(&self) -> String {
        self.prefixed("deny")
    }

    /// Clients flagged in any mode (same shape as the deny set), for the flagged gauge.
    pub fn flagged_key(&self) -> String {
        self.prefixed("flagged")
    }

    /// `PING`, for readiness.
    pub async fn ping(&self) -> Result<(), CacheError> {
        self.redis.ping().await
    }

    /// Deletes every key under the prefix (tests).
    pub async fn flush_prefix(&self) -> Result<u64, CacheError> {
        self.redis.flush_prefix().await
    }

    /// Updates every window of a batch in one round trip; one count per update, in order.
    pub async fn windows(&self, updates: &[WindowUpdate]) -> Result<Vec<WindowCount>, CacheError> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(WINDOWS_LUA);
        let keys: usize = updates.iter().map(|u| 1 + usize::from(u.human.is_some())).sum();
        cmd.arg(keys);
        for u in updates {
            cmd.arg(self.prefixed(&u.key));
            if let Some((h, _)) = &u.human {
                cmd.arg(self.prefixed(h));
            }
        }
        cmd.arg(updates.len());
        for u in updates {
            let window = u.window.as_millis() as u64;
            cmd.arg(if u.human.is_some() { "zc" } else { "w" })
                .arg(window)
                .arg(u.cap)
                .arg(window + 60_000)
                .arg(u.human.as_ref().map_or(0, |(_, ms)| *ms))
                .arg(u.members.len());
            for (score, member) in &u.members {
                cmd.arg(*score).arg(member);
            }
        }
        let raw: Vec<i64> = self
            .redis
            .call("probe_windows", false, |mut c| async move { cmd.query_async(&mut c).await })
            .await?;
        Ok(raw
            .chunks(2)
            .map(|p| WindowCount { count: p[0].max(0) as u64, first_ms: p.get(1).copied().unwrap_or(0) })
            .collect())
    }

    /// The largest count one user agent of an address reached in a detector's window (set by
    /// [`ProbeStore::raise_top_agent`]), per key under the prefix; 0 where none is known.
    /// An address's own count minus this is what more than one user agent did.
    pub async fn top_agent(&self, keys: &[String]) -> Result<Vec<u64>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.prefixed(k)).collect();
        let raw: Vec<Option<u64>> = self
            .redis
            .call("probe_top_agent", false, |mut c| async move {
                redis::cmd("MGET").arg(&keys).query_async(&mut c).await
            })
            .await?;
        Ok(raw.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Raises each `(key, count, lifetime)` counter to at least `count` (one round trip).
    pub async fn raise_top_agent(&self, updates: &[(String, u64, Duration)]) -> Result<(), CacheError> {
        if updates.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RAISE_LUA).arg(updates.len());
        for (key, _, _) in updates {
            cmd.arg(self.prefixed(key));
        }
        for (_, count, ttl) in updates {
            cmd.arg(*count).arg(ttl.as_millis().max(1) as u64);
        }
        self.redis
            .call("probe_raise_top_agent", false, |mut c| async move { cmd.query_async::<()>(&mut c).await })
            .await
    }

    /// Claims an episode: `(new, write)`. `new` when no episode key existed (publish the
    /// finding); the key lives `gap` and every claim extends it. `write` when the store
    /// throttle key was free (refresh the stored finding; at most once per `refresh`).
    pub async fn claim(
        &self,
        episode: &str,
        gap: Duration,
        refresh: Duration,
    ) -> Result<(bool, bool), CacheError> {
        let (ep, throttle) =
            (self.prefixed(&format!("probe:ep:{episode}")), self.prefixed(&format!("probe:st:{episode}")));
        let (gap, refresh) = (gap.as_millis().max(1) as u64, refresh.as_millis().max(1) as u64);
        let (new, write): (Option<String>, Option<String>) = self
            .redis
            .call("probe_claim", false, |mut c| async move {
                redis::pipe()
                    .cmd("SET")
                    .arg(&ep)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(gap)
                    .cmd("PEXPIRE")
                    .arg(&ep)
                    .arg(gap)
                    .ignore()
                    .cmd("SET")
                    .arg(&throttle)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(refresh)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let new = new.is_some();
        Ok((new, new || write.is_some()))
    }

    /// Gives an episode claim back (its finding could not be stored or published).
    pub async fn release(&self, episode: &str) -> Result<(), CacheError> {
        let keys =
            [self.prefixed(&format!("probe:ep:{episode}")), self.prefixed(&format!("probe:st:{episode}"))];
        self.redis
            .call("probe_release", false, |mut c| async move {
                redis::cmd("DEL").arg(&keys[..]).query_async::<()>(&mut c).await
            })
            .await
    }

    /// Flags a client until `until_ms` (unix ms; an existing later expiry is kept), and in
    /// enforce mode (`deny`) puts it in the deny set too.
    pub async fn flag_client(&self, client: &str, until_ms: i64, deny: bool) -> Result<(), CacheError> {
        let (flagged, deny_key) = (self.flagged_key(), self.deny_key());
        self.redis
            .call("flag_client", false, |mut c| async move {
                let mut p = redis::pipe();
                p.cmd("ZADD").arg(&flagged).arg("GT").arg(until_ms).arg(client).ignore();
                if deny {
                    p.cmd("ZADD").arg(&deny_key).arg("GT").arg(until_ms).arg(client).ignore();
                }
                p.query_async::<()>(&mut c).await
            })
            .await
    }

    /// Drops expired flags and counts the live ones.
    pub async fn flagged_count(&self, now_ms: i64) -> Result<u64, CacheError> {
        let key = self.flagged_key();
        self.redis
            .call("flagged_count", false, |mut c| async move {
                let (n,): (u64,) = redis::pipe()
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(&key)
                    .arg("-inf")
                    .arg(now_ms)
                    .ignore()
                    .cmd("ZCARD")
                    .arg(&key)
                    .query_async(&mut c)
                    .await?;
                Ok(n)
            })
            .await
    }

    /// Drops expired deny entries and returns the live ones (client hash, expiry unix ms).
    /// Bounded by `timeout`, not the request path's timeout: it runs in the background.
    pub async fn deny_live(&self, now_ms: i64, timeout: Duration) -> Result<Vec<(String, i64)>, CacheError> {
        let key = self.deny_key();
        self.redis
            .call_within("deny_refresh", false, timeout, |mut c| async move {
                let (live,): (Vec<(String, i64)>,) = redis::pipe()
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(&key)
                    .arg("-inf")
                    .arg(now_ms)
                    .ignore()
                    .cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query_async(&mut c)
                    .await?;
                Ok(live)
            })
            .await
    }

    /// Whether a client is in the deny set now (operators and tests).
    pub async fn deny_score(&self, client: &str) -> Result<Option<i64>, CacheError> {
        let key = self.deny_key();
        let client = client.to_owned();
        self.redis
            .call("deny_score", false, |mut c| async move {
                redis::cmd("ZSCORE").arg(&key).arg(&client).query_async::<Option<i64>>(&mut c).await
            })
            .await
    }
}
