//! The shortener's configuration: shared blocks plus its own settings.

use std::net::SocketAddr;

use clap::Parser;
use ghostlink_config::{ConfigError, ProxyArgs, RedisArgs, SharedArgs, Validate};

/// GhostLink shortener: the link API and the admin API.
#[derive(Debug, Clone, Parser)]
#[command(name = "ghostlink-shortener", version, about)]
pub struct Config {
    /// Postgres, RabbitMQ, logging, the public listener (default 127.0.0.1:8081) and the ops
    /// listener (default 127.0.0.1:9102); read as the config's own fields (`config.database`).
    #[command(flatten)]
    pub shared: SharedArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Who the client is behind our proxies (failed authentications are counted per client).
    #[command(flatten)]
    pub proxy: ProxyArgs,
    /// Where the internal admin API listens (findings, workspaces, moderation): loopback by
    /// default, so only what runs beside the shortener reaches it.
    #[arg(long = "admin-listen", env = "ADMIN_LISTEN_ADDR", default_value = "127.0.0.1:8091")]
    pub admin_listen: String,
    /// Base of the short URLs handed out (where the redirect service is reachable).
    #[arg(long, env = "PUBLIC_BASE_URL", default_value = "http://127.0.0.1:8080")]
    pub public_base_url: String,
    /// Sustained requests per second allowed to one token, on this replica.
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 50)]
    pub rate_limit_per_second: u32,
    /// Requests one token may make in a burst.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 100)]
    pub rate_limit_burst: u32,
    /// Failed authentications one client (an address; an IPv6 /64) may make per window, all
    /// replicas together (counted in Redis); beyond it the client gets 429 before any token
    /// lookup until the window ends.
    #[arg(long, env = "AUTH_FAILURE_LIMIT", default_value_t = 20)]
    pub auth_failure_limit: u32,
    /// The window of `AUTH_FAILURE_LIMIT`, in milliseconds; it starts with a client's first
    /// failure.
    #[arg(long, env = "AUTH_FAILURE_WINDOW_MS", default_value_t = 60_000)]
    pub auth_failure_window_ms: u64,
    /// Failed sign-ins one account, and one client, may make per `SIGN_IN_WINDOW_MS`, all
    /// replicas together (counted in Redis); beyond it sign-in answers 429 before any password
    /// is checked.
    #[arg(long, env = "SIGN_IN_ATTEMPT_LIMIT", default_value_t = 10)]
    pub sign_in_attempt_limit: u32,
    /// The window of `SIGN_IN_ATTEMPT_LIMIT`, in milliseconds.
    #[arg(long, env = "SIGN_IN_WINDOW_MS", default_value_t = 900_000)]
    pub sign_in_window_ms: u64,
    /// How long a session lasts from sign-in, in hours.
    #[arg(long, env = "SESSION_TTL_HOURS", default_value_t = 168)]
    pub session_ttl_hours: u32,
    /// How long a token lookup is cached, in milliseconds (a revocation takes effect within it on
    /// every other replica, at once on the one that revoked;
    /// an unknown token is remembered as unknown as long).
    #[arg(long, env = "TOKEN_CACHE_TTL_MS", default_value_t = 1000)]
    pub token_cache_ttl_ms: u64,
    /// The risk blocklist file: links to a listed domain are refused at creation (re-read when
    /// it changes). Unset: no creation-time check (the risk scorer still blocks on redirect).
    #[arg(long, env = "RISK_BLOCKLIST")]
    pub blocklist: Option<std::path::PathBuf>,
    /// How long reading one request body may take, in milliseconds, from the first byte the
    /// handler asks for to the last: a client trickling its body is cut off with 408.
    #[arg(long, env = "BODY_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_read_timeout_ms: u64,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "HTTP_WORKERS")]
    pub http_workers: Option<usize>,
    /// Live click streams (`LIVE_*`).
    #[command(flatten)]
    pub live: crate::live::LiveArgs,
}

#[derive(Debug, Clone)]
pub struct Resolved {
    pub public: SocketAddr,
    pub ops: SocketAddr,
    pub admin: SocketAddr,
    pub base_url: String,
    pub trusted: ghostlink_domain::forwarded::TrustedProxies,
}

ghostlink_config::service_config!(Config);

impl Config {
    /// Validates every setting; nothing is bound yet.
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        self.shared.validate()?;
        self.redis.validate()?;
        self.live.validate()?;
        let base = url::Url::parse(&self.public_base_url).map_err(|e| {
            ConfigError::new("PUBLIC_BASE_URL (--public-base-url)", format!("not a URL ({e})"))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(ConfigError::new(
                "PUBLIC_BASE_URL (--public-base-url)",
                "must be an http(s) URL with a host",
            ));
        }
        if self.rate_limit_per_second == 0 {
            return Err(ConfigError::new(
                "RATE_LIMIT_PER_SECOND (--rate-limit-per-second)",
                "must be greater than 0",
            ));
        }
        if self.rate_limit_burst == 0 {
            return Err(ConfigError::new("RATE_LIMIT_BURST (--rate-limit-burst)", "must be greater than 0"));
        }
        let trusted = self.proxy.resolve()?;
        if self.auth_failure_limit == 0 {
            return Err(ConfigError::new(
                "AUTH_FAILURE_LIMIT (--auth-failure-limit)",
                "must be greater than 0",
            ));
        }
        if !(1_000..=86_400_000).contains(&self.auth_failure_window_ms) {
            return Err(ConfigError::new(
                "AUTH_FAILURE_WINDOW_MS (--auth-failure-window-ms)",
                "must be between 1000 (a second) and 86400000 (a day)",
            ));
        }
        if self.sign_in_attempt_limit == 0 {
            return Err(ConfigError::new(
                "SIGN_IN_ATTEMPT_LIMIT (--sign-in-attempt-limit)",
                "must be greater than 0",
            ));
        }
        if !(1_000..=86_400_000).contains(&self.sign_in_window_ms) {
            return Err(ConfigError::new(
                "SIGN_IN_WINDOW_MS (--sign-in-window-ms)",
                "must be between 1000 (a second) and 86400000 (a day)",
            ));
        }
        if !(1..=8_760).contains(&self.session_ttl_hours) {
            return Err(ConfigError::new(
                "SESSION_TTL_HOURS (--session-ttl-hours)",
                "must be between 1 and 8760 (a year)",
            ));
        }
        if let Some(p) = &self.blocklist {
            ghostlink_config::blocklist::validate_path(p)?;
        }
        if !(1..=600_000).contains(&self.body_read_timeout_ms) {
            return Err(ConfigError::new(
                "BODY_READ_TIMEOUT_MS (--body-read-timeout-ms)",
                "must be between 1 and 600000 (10 minutes)",
            ));
        }
        if self.http_workers == Some(0) {
            return Err(ConfigError::new("HTTP_WORKERS (--http-workers)", "must be greater than 0"));
        }
        let admin = self.admin_listen.parse().map_err(|_| {
            ConfigError::new(
                "ADMIN_LISTEN_ADDR (--admin-listen)",
                format!("'{}' is not an address:port", self.admin_listen),
            )
        })?;
        Ok(Resolved {
            admin,
            public: self.shared.listen.public_or("127.0.0.1:8081")?,
            ops: self.shared.listen.ops_or("127.0.0.1:9102")?,
            base_url: self.public_base_url.trim_end_matches('/').to_string(),
            trusted,
        })
    }
}
