//! The deny set, as the request path sees it: an in-process copy of the ghost-probe's
//! `<prefix>deny` sorted set (client or address hash → expiry in unix ms), refreshed from Redis every
//! second by a background task. A request never calls Redis for it: the check is a read lock
//! and a hash lookup. While Redis is unreachable the copy keeps its last state, and entries
//! still expire by their own expiry.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use ghostlink_cache::probe::ProbeStore;
use ghostlink_cache::RedisCache;

/// Denied clients and when their entry expires.
#[derive(Default)]
pub struct DenyList {
    entries: RwLock<HashMap<String, i64>>,
}

impl DenyList {
    /// Seconds until the last of the client's entries expires (at least 1), if any of its keys
    /// (address and user agent, address alone) is denied at `now_ms`.
    pub fn retry_after(&self, keys: &[&str], now_ms: i64) -> Option<u64> {
        let entries = self.entries.read().ok()?;
        if entries.is_empty() {
            return None;
        }
        let until = keys.iter().filter_map(|k| entries.get(*k).copied()).max()?;
        (until > now_ms).then(|| ((until - now_ms) as u64).div_ceil(1000).max(1))
    }

    fn replace(&self, live: Vec<(String, i64)>) {
        if let Ok(mut entries) = self.entries.write() {
            *entries = live.into_iter().collect();
        }
    }
}

/// Refreshes the copy every second, forever (through the ghost-probe's store, on the link
/// cache's pool).
pub async fn refresh(list: Arc<DenyList>, redis: RedisCache, log: slog::Logger) {
    let store = ProbeStore::sharing(&redis);
    crate::refresh::every(
        "deny set",
        Duration::from_secs(1),
        || store.deny_live(Utc::now().timestamp_millis(), Duration::from_millis(500)),
        |live| list.replace(live),
        log,
    )
    .await
}
