//! Counting semaphores in Redis, shared by every replica of a service: the webhook dispatcher
//! holds one slot per request in flight to a destination host, so N replicas together never
//! send more than the limit to one receiver at once.
//!
//! A semaphore is a sorted set of holders scored by their lease's expiry (unix ms): taking a
//! slot drops expired holders, then adds one if fewer than the limit remain, in one `EVAL`; a
//! holder that crashed frees its slot when its lease ends. Calls do not honour the breaker: the
//! caller decides what to do without Redis (the dispatcher waits and retries).

use std::time::Duration;

use deadpool_redis::redis;

use crate::{CacheError, RedisCache};

/// KEYS: the semaphore; ARGV: now ms, lease end ms, limit, holder. Answers 1 when the holder
/// got a slot.
const ACQUIRE_LUA: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  return 1
end
return 0
";

impl RedisCache {
    /// Takes one of `limit` slots of `key` (below the prefix) for `holder`, leased for `lease`;
    /// `false` when all are held.
    pub async fn slot_acquire(
        &self,
        key: &str,
        holder: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<bool, CacheError> {
        let key = self.prefixed(key);
        // Wall-clock ms: every replica scores leases on the same clock.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let until = now + lease.as_millis().max(1) as u64;
        let holder = holder.to_string();
        let got: i64 = self
            .call("slot_acquire", false, |mut c| async move {
                redis::cmd("EVAL")
                    .arg(ACQUIRE_LUA)
                    .arg(1)
                    .arg(key)
                    .arg(now)
                    .arg(until)
                    .arg(limit)
                    .arg(holder)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(got == 1)
    }

    /// Gives `holder`'s slot of `key` back.
    pub async fn slot_release(&self, key: &str, holder: &str) -> Result<(), CacheError> {
        let key = self.prefixed(key);
        let holder = holder.to_string();
        let _: i64 = self
            .call("slot_release", false, |mut c| async move {
                redis::cmd("ZREM").arg(key).arg(holder).query_async(&mut c).await
            })
            .await?;
        Ok(())
    }
}
