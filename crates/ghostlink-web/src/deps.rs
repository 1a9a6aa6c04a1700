//! The readiness checks and scrape-time samplers every service wires for its dependencies.

use std::sync::Arc;

use ghostlink_bus::Publisher;
use ghostlink_cache::RedisCache;
use ghostlink_db::Db;

use crate::ops::Sampler;
use crate::ReadinessCheck;

/// Postgres answers `SELECT 1` (required).
pub fn postgres_check(db: Db) -> ReadinessCheck {
    ReadinessCheck::new("postgres", true, move || {
        let db = db.clone();
        async move { db.ping().await.map_err(|e| e.to_string()) }
    })
}

/// Redis answers `PING` (optional: services fall back without it).
pub fn redis_check(redis: RedisCache) -> ReadinessCheck {
    ReadinessCheck::new("redis", false, move || {
        let r = redis.clone();
        async move { r.ping().await.map_err(|e| e.to_string()) }
    })
}

/// The publisher holds an open connection (optional: events wait meanwhile, as `fallback` says).
pub fn publisher_check(publisher: Arc<Publisher>, fallback: &'static str) -> ReadinessCheck {
    ReadinessCheck::new("rabbitmq", false, move || {
        let p = publisher.clone();
        async move {
            if p.is_connected().await {
                Ok(())
            } else {
                Err(format!("not connected; {fallback}"))
            }
        }
    })
}

/// `db_pool_connections{state}` and `db_pool_max_connections`, sampled at each scrape.
pub fn pool_sampler(db: Db) -> Sampler {
    Arc::new(move || {
        let s = db.state();
        metrics::gauge!("db_pool_connections", "state" => "idle").set(s.idle as f64);
        metrics::gauge!("db_pool_connections", "state" => "in_use").set(s.in_use as f64);
        metrics::gauge!("db_pool_max_connections").set(s.max as f64);
    })
}

/// Turns a `ConfigError` found while building an app into the exit-2 convention; other
/// errors pass through to the caller (exit 1 with their context).
pub fn exit_on_config_error<T>(result: anyhow::Result<T>) -> anyhow::Result<T> {
    match result {
        Err(e) => match e.downcast_ref::<ghostlink_config::ConfigError>() {
            Some(c) => ghostlink_config::exit_on_invalid(c),
            None => Err(e),
        },
        ok => ok,
    }
}

/// A consumer's connection state, as a required readiness check.
pub fn consumer_check(connected: Arc<std::sync::atomic::AtomicBool>) -> ReadinessCheck {
    ReadinessCheck::new("rabbitmq", true, move || {
        let up = connected.load(std::sync::atomic::Ordering::Relaxed);
        async move {
            if up {
                Ok(())
            } else {
                Err("consumer not connected".to_string())
            }
        }
    })
}

/// What a consumer service does when its broker connection comes or goes (the `on_state` of
/// `ghostlink_bus::run_consumer`): remembers it for [`consumer_check`], logs each change once
/// (`up_msg` when it comes back, a warning when it is lost) and sets `bus_consumer_up`.
pub fn consumer_state(
    connected: Arc<std::sync::atomic::AtomicBool>,
    log: slog::Logger,
    up_msg: &'static str,
) -> impl Fn(bool) {
    move |up| {
        if connected.swap(up, std::sync::atomic::Ordering::Relaxed) != up {
            if up {
                slog::info!(log, "{}", up_msg);
            } else {
                slog::warn!(log, "broker connection lost; reconnecting");
            }
        }
        metrics::gauge!("bus_consumer_up").set(if up { 1.0 } else { 0.0 });
    }
}

/// The Postgres pool of a service, from the shared `DatabaseArgs`.
pub fn database(args: &ghostlink_config::DatabaseArgs, statement_timeout: std::time::Duration) -> Db {
    Db::new(&ghostlink_db::DbSettings {
        url: args.database_url.clone(),
        pool_size: args.db_pool_size,
        acquire_timeout: args.timeout(),
        statement_timeout,
    })
}

/// A Redis handle for services that only invalidate (shortener, risk scorer): a lenient
/// timeout (at least 200 ms; nothing waits on it per redirect) and a small pool.
pub fn invalidation_cache(
    args: &ghostlink_config::RedisArgs,
) -> Result<RedisCache, ghostlink_cache::CacheError> {
    RedisCache::new(ghostlink_cache::CacheSettings {
        url: args.redis_url.clone(),
        timeout: args.timeout().max(std::time::Duration::from_millis(200)),
        key_prefix: args.redis_key_prefix.clone(),
        pool_size: 8,
        ttl: std::time::Duration::from_secs(300),
        negative_ttl: std::time::Duration::from_secs(2),
        breaker_open: std::time::Duration::from_millis(500),
    })
}
