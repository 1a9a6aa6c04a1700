//! Shared clap argument blocks for every GhostLink binary.
//!
//! Every service flattens [`SharedArgs`] (`DatabaseArgs`, `AmqpArgs`, `ListenArgs`, `LogArgs`)
//! into its own `Config`, plus the blocks it alone needs (`RedisArgs`, `ProxyArgs`,
//! `ConsumerArgs`), so a setting is spelled, documented and validated once. Every flag has an
//! environment variable (12-factor deployment), and [`Validate::validate`] runs before any port
//! is bound, so a bad value stops the process with exit code 2 and a message naming the setting
//! instead of failing later under load.

pub mod blocklist;
mod service;

pub use service::{parse_or_exit, ServiceConfig, SharedArgs};

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

/// A configuration value that cannot be used, naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {setting}: {reason}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self { setting, reason: reason.into() }
    }
}

/// Checks numeric settings against their ranges, each given as (setting, whether it is in
/// range, the range as said in the error): the first out of range is the error.
pub fn check_ranges(checks: &[(&'static str, bool, &str)]) -> Result<(), ConfigError> {
    match checks.iter().find(|(_, ok, _)| !ok) {
        Some((name, _, range)) => Err(ConfigError::new(name, format!("must be in {range}"))),
        None => Ok(()),
    }
}

/// A service's `*_ALLOW_PRIVATE_TARGETS` setting (the canary's, the webhook dispatcher's):
/// `false`, `true`, or a comma-separated list of addresses / CIDR blocks outbound requests may
/// reach although they are private.
pub fn private_targets(
    setting: &'static str,
    value: &str,
) -> Result<ghostlink_domain::net::PrivateTargets, ConfigError> {
    value.parse().map_err(|e| ConfigError::new(setting, e))
}

/// Checked once, before anything is bound or connected.
pub trait Validate {
    fn validate(&self) -> Result<(), ConfigError>;
}

/// Prints the error and exits with code 2: the convention for bad configuration.
pub fn exit_on_invalid(err: &ConfigError) -> ! {
    eprintln!("error: {err}");
    std::process::exit(2)
}

/// Postgres connection settings.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Postgres URL.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/ghostlink"
    )]
    pub database_url: String,
    /// Maximum connections in this process's pool.
    #[arg(long = "db-pool-size", env = "DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,
    /// How long to wait for a pooled connection before answering 503, in milliseconds.
    #[arg(long = "db-timeout-ms", env = "DB_TIMEOUT_MS", default_value_t = 1000)]
    pub db_timeout_ms: u64,
}

impl DatabaseArgs {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.db_timeout_ms)
    }
}

impl Validate for DatabaseArgs {
    fn validate(&self) -> Result<(), ConfigError> {
        check_url("DATABASE_URL (--database-url)", &self.database_url, &["postgres", "postgresql"])?;
        if self.db_pool_size == 0 || self.db_pool_size > 1000 {
            return Err(ConfigError::new("DB_POOL_SIZE (--db-pool-size)", "must be between 1 and 1000"));
        }
        if self.db_timeout_ms == 0 {
            return Err(ConfigError::new("DB_TIMEOUT_MS (--db-timeout-ms)", "must be greater than 0"));
        }
        Ok(())
    }
}

/// Redis connection settings.
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis URL.
    #[arg(long = "redis-url", env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Upper bound of one Redis call on the request path, in milliseconds; past it the call
    /// counts as failed and the lookup falls through to Postgres.
    #[arg(long = "redis-timeout-ms", env = "REDIS_TIMEOUT_MS", default_value_t = 25)]
    pub redis_timeout_ms: u64,
    /// Prefix of every key GhostLink writes, so several deployments (or tests) can share one Redis.
    #[arg(long = "redis-key-prefix", env = "REDIS_KEY_PREFIX", default_value = "gl:")]
    pub redis_key_prefix: String,
}

impl RedisArgs {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }
}

impl Validate for RedisArgs {
    fn validate(&self) -> Result<(), ConfigError> {
        check_url("REDIS_URL (--redis-url)", &self.redis_url, &["redis", "rediss"])?;
        if self.redis_timeout_ms == 0 || self.redis_timeout_ms > 10_000 {
            return Err(ConfigError::new(
                "REDIS_TIMEOUT_MS (--redis-timeout-ms)",
                "must be between 1 and 10000",
            ));
        }
        if self.redis_key_prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::new(
                "REDIS_KEY_PREFIX (--redis-key-prefix)",
                "must not contain whitespace",
            ));
        }
        Ok(())
    }
}

/// RabbitMQ connection settings.
#[derive(Debug, Clone, Args)]
pub struct AmqpArgs {
    /// AMQP URL of RabbitMQ.
    #[arg(long = "amqp-url", env = "AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub amqp_url: String,
    /// Prefix of every exchange and queue name (one deployment per prefix on a shared broker).
    #[arg(long = "bus-prefix", env = "BUS_PREFIX", default_value = "ghostlink")]
    pub bus_prefix: String,
}

impl Validate for AmqpArgs {
    fn validate(&self) -> Result<(), ConfigError> {
        check_url("AMQP_URL (--amqp-url)", &self.amqp_url, &["amqp", "amqps"])?;
        if self.bus_prefix.is_empty()
            || self.bus_prefix.len() > 100
            || !self.bus_prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ConfigError::new("BUS_PREFIX (--bus-prefix)", "must be 1-100 of [A-Za-z0-9._-]"));
        }
        Ok(())
    }
}

/// How a consumer service takes messages from its queue. Defaults differ per service, so they
/// are optional here and resolved with [`ConsumerArgs::resolve`] against the service's own.
/// The argument ids are prefixed: a service may have a `concurrency` of its own.
#[derive(Debug, Clone, Default, Args)]
pub struct ConsumerArgs {
    /// Messages delivered ahead of acknowledgement (the channel's prefetch; default per service).
    #[arg(id = "consumer_prefetch", long = "consumer-prefetch", env = "CONSUMER_PREFETCH")]
    pub prefetch: Option<u16>,
    /// Most messages handed to the handler together (default per service).
    #[arg(id = "consumer_batch_size", long = "consumer-batch-size", env = "CONSUMER_BATCH_SIZE")]
    pub batch_size: Option<usize>,
    /// How long to wait to fill a batch, in milliseconds (default per service).
    #[arg(id = "consumer_batch_wait_ms", long = "consumer-batch-wait-ms", env = "CONSUMER_BATCH_WAIT_MS")]
    pub batch_wait_ms: Option<u64>,
    /// Batches handled at once (default 1: one after the other, in delivery order).
    #[arg(id = "consumer_concurrency", long = "consumer-concurrency", env = "CONSUMER_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Deliveries of a message that keeps failing before it is dead-lettered (default: the
    /// queue's own limit, which is also the most allowed).
    #[arg(id = "consumer_delivery_limit", long = "consumer-delivery-limit", env = "CONSUMER_DELIVERY_LIMIT")]
    pub delivery_limit: Option<u32>,
}

/// [`ConsumerArgs`] resolved: every value set and in range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerTuning {
    pub prefetch: u16,
    pub batch_size: usize,
    pub batch_wait: Duration,
    pub concurrency: usize,
    pub delivery_limit: u32,
}

impl ConsumerArgs {
    /// The values given, else the service's `defaults`; `max_deliveries` is the queue's own
    /// delivery limit (the broker dead-letters there whatever the consumer says).
    pub fn resolve(
        &self,
        defaults: ConsumerTuning,
        max_deliveries: u32,
    ) -> Result<ConsumerTuning, ConfigError> {
        let t = ConsumerTuning {
            prefetch: self.prefetch.unwrap_or(defaults.prefetch),
            batch_size: self.batch_size.unwrap_or(defaults.batch_size),
            batch_wait: self.batch_wait_ms.map_or(defaults.batch_wait, Duration::from_millis),
            concurrency: self.concurrency.unwrap_or(defaults.concurrency),
            delivery_limit: self.delivery_limit.unwrap_or(defaults.delivery_limit),
        };
        if t.prefetch == 0 {
            return Err(ConfigError::new(
                "CONSUMER_PREFETCH (--consumer-prefetch)",
                "must be greater than 0",
            ));
        }
        if t.batch_size == 0 || t.batch_size > 10_000 {
            return Err(ConfigError::new(
                "CONSUMER_BATCH_SIZE (--consumer-batch-size)",
                "must be between 1 and 10000",
            ));
        }
        if t.batch_wait > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "CONSUMER_BATCH_WAIT_MS (--consumer-batch-wait-ms)",
                "must be at most 60000",
            ));
        }
        if t.concurrency == 0 || t.concurrency > 64 {
            return Err(ConfigError::new(
                "CONSUMER_CONCURRENCY (--consumer-concurrency)",
                "must be between 1 and 64",
            ));
        }
        if t.delivery_limit == 0 || t.delivery_limit > max_deliveries {
            return Err(ConfigError::new(
                "CONSUMER_DELIVERY_LIMIT (--consumer-delivery-limit)",
                format!("must be between 1 and {max_deliveries} (the queue's own limit)"),
            ));
        }
        Ok(t)
    }
}

/// Which peers may tell us the client's address in `X-Forwarded-For`.
#[derive(Debug, Clone, Args)]
pub struct ProxyArgs {
    /// Comma-separated addresses and CIDRs of our own reverse proxies / load balancers (e.g.
    /// `10.0.0.0/8,127.0.0.1`). The client is the right-most `X-Forwarded-For` entry not in
    /// this set; from any other peer the header is ignored. Empty: the peer is the client.
    #[arg(long = "trusted-proxies", env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
}

impl ProxyArgs {
    /// The parsed set (see [`Validate`], which reports a bad entry by name first).
    pub fn resolve(&self) -> Result<ghostlink_domain::forwarded::TrustedProxies, ConfigError> {
        self.trusted_proxies.parse().map_err(|e: ghostlink_domain::forwarded::BadCidr| {
            ConfigError::new("TRUSTED_PROXIES (--trusted-proxies)", e.to_string())
        })
    }

    /// No proxy trusted (tests, and a replica reachable directly).
    pub fn none() -> Self {
        Self { trusted_proxies: String::new() }
    }
}

impl Validate for ProxyArgs {
    fn validate(&self) -> Result<(), ConfigError> {
        self.resolve().map(|_| ())
    }
}

/// The public and the ops listener. Defaults differ per service, so they are optional here and
/// resolved with [`ListenArgs::public_or`] / [`ListenArgs::ops_or`].
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Address of the public listener (port 0 picks a free port).
    #[arg(long = "listen", env = "LISTEN_ADDR")]
    pub listen: Option<String>,
    /// Address of the ops listener serving /metrics, /healthz, /readyz and /system.
    #[arg(long = "ops-listen", env = "OPS_LISTEN_ADDR")]
    pub ops_listen: Option<String>,
    /// The service's data directory: the ops listener's /system reports the disk holding it
    /// (the redirect's spool directory is reported beside it).
    #[arg(long = "data-dir", env = "DATA_DIR", default_value = ".")]
    pub data_dir: std::path::PathBuf,
}

impl ListenArgs {
    pub fn public_or(&self, default: &str) -> Result<SocketAddr, ConfigError> {
        parse_addr("LISTEN_ADDR (--listen)", self.listen.as_deref().unwrap_or(default))
    }
    pub fn ops_or(&self, default: &str) -> Result<SocketAddr, ConfigError> {
        parse_addr("OPS_LISTEN_ADDR (--ops-listen)", self.ops_listen.as_deref().unwrap_or(default))
    }
    /// A block listening on the given addresses (used by tests and `ghostctl up`).
    pub fn on(public: &str, ops: &str) -> Self {
        Self { listen: Some(public.to_string()), ops_listen: Some(ops.to_string()), data_dir: ".".into() }
    }
}

fn parse_addr(setting: &'static str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| ConfigError::new(setting, format!("'{s}' is not an address like 127.0.0.1:8080")))
}

/// Log level names accepted by `LOG_LEVEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// Logging settings.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Lowest level written to stdout (JSON lines).
    #[arg(long = "log-level", env = "LOG_LEVEL", value_enum, default_value = "info")]
    pub log_level: LogLevel,
}

/// `OTEL_TRACES_SAMPLER`: the specification's samplers this service supports, by their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TracesSampler {
    #[value(name = "always_on")]
    AlwaysOn,
    #[value(name = "always_off")]
    AlwaysOff,
    #[value(name = "traceidratio")]
    TraceIdRatio,
    #[value(name = "parentbased_always_on")]
    ParentBasedAlwaysOn,
    #[value(name = "parentbased_always_off")]
    ParentBasedAlwaysOff,
    #[value(name = "parentbased_traceidratio")]
    ParentBasedTraceIdRatio,
}

/// OpenTelemetry traces, by the specification's standard environment variables. No endpoint:
/// tracing off.
#[derive(Debug, Clone, Default, Args)]
pub struct TraceArgs {
    /// OTLP/gRPC collector, e.g. `http://otel-collector:4317`; unset: no spans are exported.
    #[arg(long = "otel-exporter-otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub endpoint: Option<String>,
    /// The `service.name` of this process's spans (default: the service's own name).
    #[arg(long = "otel-service-name", env = "OTEL_SERVICE_NAME")]
    pub service_name: Option<String>,
    /// Sampler (default `parentbased_traceidratio`: a caller's decision is followed, a new
    /// trace is kept at the ratio).
    #[arg(long = "otel-traces-sampler", env = "OTEL_TRACES_SAMPLER", value_enum)]
    pub sampler: Option<TracesSampler>,
    /// The ratio of new traces kept, 0..=1 (default per service: the redirect's is 0.01).
    #[arg(long = "otel-traces-sampler-arg", env = "OTEL_TRACES_SAMPLER_ARG")]
    pub sampler_arg: Option<f64>,
}

impl Validate for TraceArgs {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(e) = &self.endpoint {
            check_url("OTEL_EXPORTER_OTLP_ENDPOINT (--otel-exporter-otlp-endpoint)", e, &["http", "https"])?;
        }
        if let Some(r) = self.sampler_arg {
            if !(0.0..=1.0).contains(&r) {
                return Err(ConfigError::new(
                    "OTEL_TRACES_SAMPLER_ARG (--otel-traces-sampler-arg)",
                    "must be a ratio between 0 and 1",
                ));
            }
        }
        if self.service_name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(ConfigError::new("OTEL_SERVICE_NAME (--otel-service-name)", "must not be empty"));
        }
        Ok(())
    }
}

fn check_url(setting: &'static str, raw: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let parsed = url::Url::parse(raw).map_err(|e| ConfigError::new(setting, format!("not a URL ({e})")))?;
    if !schemes.contains(&parsed.scheme()) {
        return Err(ConfigError::new(setting, format!("scheme must be one of {}", schemes.join(", "))));
    }
    if parsed.host_str().unwrap_or("").is_empty() && parsed.scheme() != "postgres" {
        return Err(ConfigError::new(setting, "must name a host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_setting() {
        let db = DatabaseArgs { database_url: "mysql://x".into(), db_pool_size: 4, db_timeout_ms: 10 };
        let err = db.validate().expect_err("bad scheme");
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
        let db = DatabaseArgs { database_url: "postgres://h/db".into(), db_pool_size: 0, db_timeout_ms: 10 };
        assert!(db.validate().expect_err("zero pool").to_string().contains("DB_POOL_SIZE"));
        let r = RedisArgs {
            redis_url: "redis://127.0.0.1".into(),
            redis_timeout_ms: 0,
            redis_key_prefix: "x".into(),
        };
        assert!(r.validate().expect_err("zero timeout").to_string().contains("REDIS_TIMEOUT_MS"));
        let l = ListenArgs::on("nope", "127.0.0.1:0");
        assert!(l.public_or("127.0.0.1:1").expect_err("bad addr").to_string().contains("LISTEN_ADDR"));
        assert!(l.ops_or("x").is_ok());
        let t = TraceArgs { endpoint: Some("grpc://collector".into()), ..Default::default() };
        assert!(t.validate().expect_err("scheme").to_string().contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
        let t = TraceArgs { sampler_arg: Some(1.5), ..Default::default() };
        assert!(t.validate().expect_err("ratio").to_string().contains("OTEL_TRACES_SAMPLER_ARG"));
        let t = TraceArgs {
            endpoint: Some("http://127.0.0.1:4317".into()),
            sampler_arg: Some(0.01),
            ..Default::default()
        };
        assert!(t.validate().is_ok());
        let p = ProxyArgs { trusted_proxies: "10.0.0.0/8,bogus".into() };
        let err = p.validate().expect_err("bad cidr");
        assert!(err.to_string().contains("TRUSTED_PROXIES") && err.to_string().contains("bogus"), "{err}");
        assert!(ProxyArgs::none().resolve().expect("empty is fine").is_empty());
    }

    #[test]
    fn consumer_settings_fall_back_to_the_service_defaults_and_are_bounded() {
        let defaults = ConsumerTuning {
            prefetch: 32,
            batch_size: 16,
            batch_wait: Duration::from_millis(20),
            concurrency: 1,
            delivery_limit: 5,
        };
        assert_eq!(ConsumerArgs::default().resolve(defaults, 5).expect("defaults"), defaults);
        let set = ConsumerArgs { batch_size: Some(200), delivery_limit: Some(2), ..Default::default() };
        let t = set.resolve(defaults, 5).expect("in range");
        assert_eq!((t.batch_size, t.delivery_limit, t.prefetch), (200, 2, 32));
        for (args, setting) in [
            (ConsumerArgs { prefetch: Some(0), ..Default::default() }, "CONSUMER_PREFETCH"),
            (ConsumerArgs { batch_size: Some(0), ..Default::default() }, "CONSUMER_BATCH_SIZE"),
            (ConsumerArgs { batch_wait_ms: Some(60_001), ..Default::default() }, "CONSUMER_BATCH_WAIT_MS"),
            (ConsumerArgs { concurrency: Some(0), ..Default::default() }, "CONSUMER_CONCURRENCY"),
            (ConsumerArgs { delivery_limit: Some(6), ..Default::default() }, "CONSUMER_DELIVERY_LIMIT"),
        ] {
            let err = args.resolve(defaults, 5).expect_err(setting);
            assert!(err.setting.starts_with(setting), "{err}");
        }
    }
}
