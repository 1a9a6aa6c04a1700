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
