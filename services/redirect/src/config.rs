//! The redirect service's configuration: shared blocks plus its own settings.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ghostlink_config::{ConfigError, ProxyArgs, RedisArgs, SharedArgs, Validate};
use ghostlink_domain::forwarded::TrustedProxies;

use crate::geoip::GeoIp;
use crate::pages::ReferrerPolicy;

/// The salt `--dev` uses when none is given.
pub const DEV_CLICK_SALT: &str = "ghostlink-dev-salt";

/// Salts written in this repository (the development default, the compose file's old fallback):
/// refused unless `--dev`.
const PUBLISHED_CLICK_SALTS: &[&str] = &[DEV_CLICK_SALT, "dev-only-click-salt-change-me"];

/// GhostLink redirect: answers `GET /{code}` with a redirect.
#[derive(Debug, Clone, Parser)]
#[command(name = "ghostlink-redirect", version, about)]
pub struct Config {
    /// Postgres, RabbitMQ, logging, the public listener (default 127.0.0.1:8080) and the ops
    /// listener (default 127.0.0.1:9101); read as the config's own fields (`config.database`).
    #[command(flatten)]
    pub shared: SharedArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Our own proxies, whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`).
    #[command(flatten)]
    pub proxy: ProxyArgs,
    /// Status of a redirect: 302 (default, every click reaches us) or 301.
    #[arg(long, env = "REDIRECT_STATUS", default_value_t = 302)]
    pub redirect_status: u16,
    /// Lifetime of in-process entries while invalidations cannot be trusted, in milliseconds;
    /// at most 1000 so that a change made through the shortener is seen within a second.
    #[arg(long, env = "CACHE_TTL_MS", default_value_t = 1000)]
    pub cache_ttl_ms: u64,
    /// Lifetime of in-process entries while the invalidation channel is healthy, in seconds
    /// (0: always use CACHE_TTL_MS).
    #[arg(long, env = "CACHE_LONG_TTL_SECS", default_value_t = 300)]
    pub cache_long_ttl_secs: u64,
    /// Entries in the in-process cache.
    #[arg(long, env = "CACHE_CAPACITY", default_value_t = 200_000)]
    pub cache_capacity: u64,
    /// Lifetime of Redis entries for known links, in seconds (bounds staleness if an
    /// invalidation is lost while Redis is down).
    #[arg(long, env = "REDIS_TTL_SECS", default_value_t = 300)]
    pub redis_ttl_secs: u64,
    /// Unknown codes one client address (an IPv6 address by its /64) may have looked up in
    /// Postgres per SCAN_BUDGET_WINDOW_SECS; past it, a code found neither in memory nor in Redis
    /// is answered 429 without asking Postgres, so a scan costs the database nothing more. 0: no
    /// budget.
    #[arg(long, env = "SCAN_BUDGET", default_value_t = 100)]
    pub scan_budget: u64,
    /// The scan budget's window, in seconds (from an address's first counted lookup).
    #[arg(long, env = "SCAN_BUDGET_WINDOW_SECS", default_value_t = 60)]
    pub scan_budget_window_secs: u64,
    /// Secret salt for hashing client addresses (at least 8 characters); the same on every
    /// replica. Required, here or in CLICK_SALT_FILE, unless --dev.
    #[arg(long, env = "CLICK_SALT", hide_env_values = true)]
    pub click_salt: Option<String>,
    /// A file holding the click salt (a compose or Kubernetes secret); surrounding whitespace
    /// is ignored.
    #[arg(long, env = "CLICK_SALT_FILE")]
    pub click_salt_file: Option<std::path::PathBuf>,
    /// Development mode: without a salt, use the published development salt (client hashes can
    /// then be reversed by anyone), and allow it when given.
    #[arg(long = "dev", env = "GHOSTLINK_DEV", default_value_t = false)]
    pub dev: bool,
    /// Click events held in memory before new ones are dropped (and counted).
    #[arg(long, env = "CLICK_QUEUE_CAPACITY", default_value_t = 65_536)]
    pub click_queue_capacity: usize,
    /// Click events published per batch (one confirm round-trip each).
    #[arg(long, env = "CLICK_BATCH_SIZE", default_value_t = 1000)]
    pub click_batch_size: usize,
    /// Directory of this replica's spool of click events not yet published (broker down);
    /// one directory per replica (it is locked).
    #[arg(long, env = "SPOOL_DIR", default_value = ".ghostlink/spool/redirect")]
    pub spool_dir: std::path::PathBuf,
    /// Largest spool before new events are dropped (and counted), in bytes.
    #[arg(long, env = "SPOOL_MAX_BYTES", default_value_t = 1 << 30)]
    pub spool_max_bytes: u64,
    /// `Referrer-Policy` sent with every redirect, one of the standard tokens (`no-referrer`,
    /// `strict-origin-when-cross-origin`, ...). Empty (the default): none, so the linking page's
    /// own policy applies.
    #[arg(long, env = "REFERRER_POLICY", default_value = "")]
    pub referrer_policy: String,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "HTTP_WORKERS")]
    pub http_workers: Option<usize>,
    /// A MaxMind DB (GeoLite2/GeoIP2 Country or City, `.mmdb`) giving the client's country for
    /// redirect rules with a country condition; read into memory at start. Unset: no country is
    /// known, and country conditions never hold.
    #[arg(long, env = "GEOIP_DB")]
    pub geoip_db: Option<std::path::PathBuf>,
    /// The default domain's host names, comma-separated (`sho.rt,www.sho.rt`): once set, a
    /// request whose `Host` is neither one of them nor a custom domain gets a bare 404. Empty
    /// (the default): every host that is not a custom domain is the default domain.
    #[arg(long, env = "DEFAULT_HOSTS", value_delimiter = ',', default_value = "")]
    pub default_hosts: Vec<String>,
}

/// The validated, resolved settings.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub public: SocketAddr,
    pub ops: SocketAddr,
    pub trusted_proxies: TrustedProxies,
    pub referrer_policy: Option<ReferrerPolicy>,
    pub click_salt: String,
    pub geoip: Option<Arc<GeoIp>>,
    pub default_hosts: Vec<String>,
}

ghostlink_config::service_config!(Config);

impl Config {
    /// Validates every setting and resolves the listen addresses; nothing is bound yet.
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        self.shared.validate()?;
        self.redis.validate()?;
        if self.spool_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("SPOOL_DIR (--spool-dir)", "must not be empty"));
        }
        if !matches!(self.redirect_status, 301 | 302) {
            return Err(ConfigError::new("REDIRECT_STATUS (--redirect-status)", "must be 301 or 302"));
        }
        if !(1..=1000).contains(&self.cache_ttl_ms) {
            return Err(ConfigError::new("CACHE_TTL_MS (--cache-ttl-ms)", "must be between 1 and 1000"));
        }
        if self.cache_capacity == 0 {
            return Err(ConfigError::new("CACHE_CAPACITY (--cache-capacity)", "must be greater than 0"));
        }
        if self.redis_ttl_secs == 0 {
            return Err(ConfigError::new("REDIS_TTL_SECS (--redis-ttl-secs)", "must be greater than 0"));
        }
        if self.click_queue_capacity == 0 || self.click_batch_size == 0 {
            return Err(ConfigError::new(
                "CLICK_QUEUE_CAPACITY / CLICK_BATCH_SIZE",
                "must be greater than 0",
            ));
        }
        if !(1..=3600).contains(&self.scan_budget_window_secs) {
            return Err(ConfigError::new(
                "SCAN_BUDGET_WINDOW_SECS (--scan-budget-window-secs)",
                "must be between 1 and 3600",
            ));
        }
        if self.http_workers == Some(0) {
            return Err(ConfigError::new("HTTP_WORKERS (--http-workers)", "must be greater than 0"));
        }
        Ok(Resolved {
            public: self.shared.listen.public_or("127.0.0.1:8080")?,
            ops: self.shared.listen.ops_or("127.0.0.1:9101")?,
            trusted_proxies: self.proxy.resolve()?,
            referrer_policy: self.referrer_policy()?,
            click_salt: self.click_salt()?,
            geoip: self.geoip()?,
            default_hosts: self.default_hosts()?,
        })
    }

    /// The default hosts, each a host name or address as a `Host` header names it.
    fn default_hosts(&self) -> Result<Vec<String>, ConfigError> {
        let mut hosts = Vec::new();
        for raw in self.default_hosts.iter().map(|h| h.trim()).filter(|h| !h.is_empty()) {
            match ghostlink_domain::domains::request_host(raw) {
                Some(h) if h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b)) => {
                    hosts.push(h)
                }
                _ => {
                    return Err(ConfigError::new(
                        "DEFAULT_HOSTS (--default-hosts)",
                        format!("'{}' is not a host name", raw.escape_debug()),
                    ))
                }
            }
        }
        Ok(hosts)
    }

    /// The GeoIP database, loaded: a path that is not a MaxMind DB is refused before anything
    /// binds.
    fn geoip(&self) -> Result<Option<Arc<GeoIp>>, ConfigError> {
        let Some(path) = &self.geoip_db else { return Ok(None) };
        GeoIp::open(path).map(|g| Some(Arc::new(g))).map_err(|e| ConfigError::new("GEOIP_DB (--geoip-db)", e))
    }

    /// The salt from CLICK_SALT or CLICK_SALT_FILE (one of them), or the development salt in
    /// dev mode. A salt anyone can read in this repository is refused outside dev mode: with it,
    /// a client hash in a finding is reversed by trying every IPv4 address.
    fn click_salt(&self) -> Result<String, ConfigError> {
        const SALT: &str = "CLICK_SALT (--click-salt)";
        const FILE: &str = "CLICK_SALT_FILE (--click-salt-file)";
        let given = self.click_salt.as_deref().filter(|s| !s.is_empty());
        let (salt, setting) = match (given, &self.click_salt_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new("CLICK_SALT / CLICK_SALT_FILE", "set one of them, not both"))
            }
            (Some(s), None) => (s.to_owned(), SALT),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::new(FILE, format!("cannot read {}: {e}", path.display())))?;
                (text.trim().to_owned(), FILE)
            }
            (None, None) if self.dev => (DEV_CLICK_SALT.to_owned(), SALT),
            (None, None) => {
                return Err(ConfigError::new(
                    SALT,
                    "not set: give a secret (or CLICK_SALT_FILE), or run with --dev (GHOSTLINK_DEV=true) \
                     to use the published development salt",
                ))
            }
        };
        if salt.chars().count() < 8 {
            return Err(ConfigError::new(setting, "must be at least 8 characters"));
        }
        if PUBLISHED_CLICK_SALTS.contains(&salt.as_str()) && !self.dev {
            return Err(ConfigError::new(
                setting,
                "is a published development salt; set a secret, or run with --dev (GHOSTLINK_DEV=true)",
            ));
        }
        Ok(salt)
    }

    fn referrer_policy(&self) -> Result<Option<ReferrerPolicy>, ConfigError> {
        let token = self.referrer_policy.trim();
        if token.is_empty() {
            return Ok(None);
        }
        token.parse().map(Some).map_err(|e: crate::pages::UnknownPolicy| {
            let all: Vec<&str> = ReferrerPolicy::ALL.iter().map(|p| p.as_str()).collect();
            ConfigError::new(
                "REFERRER_POLICY (--referrer-policy)",
                format!("{e}; one of {}, or empty for none", all.join(", ")),
            )
        })
    }

    /// The scan budget, if any.
    pub fn scan_budget(&self) -> Option<crate::lookup::ScanBudget> {
        (self.scan_budget > 0).then(|| crate::lookup::ScanBudget {
            limit: self.scan_budget,
            window: Duration::from_secs(self.scan_budget_window_secs),
        })
    }

    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cache_ttl_ms)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Config;

    fn parse(args: &[&str]) -> Config {
        Config::try_parse_from(std::iter::once("ghostlink-redirect").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn refused(args: &[&str]) -> String {
        match parse(args).resolve() {
            Ok(_) => panic!("{args:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    fn salt(args: &[&str]) -> String {
        parse(args).resolve().unwrap_or_else(|e| panic!("{args:?}: {e}")).click_salt
    }

    #[test]
    fn the_published_development_salt_needs_dev_mode() {
        assert!(refused(&[]).contains("CLICK_SALT"));
        assert!(refused(&["--click-salt", ""]).contains("CLICK_SALT"));
        assert!(refused(&["--click-salt", "ghostlink-dev-salt"]).contains("CLICK_SALT"));
        assert!(refused(&["--click-salt", "dev-only-click-salt-change-me"]).contains("CLICK_SALT"));
        assert!(refused(&["--click-salt", "short"]).contains("at least 8"));
        assert_eq!(salt(&["--dev"]), super::DEV_CLICK_SALT);
        assert_eq!(salt(&["--dev", "--click-salt", "ghostlink-dev-salt"]), super::DEV_CLICK_SALT);
        assert_eq!(salt(&["--click-salt", "a-real-secret"]), "a-real-secret");
    }

    #[test]
    fn the_salt_can_come_from_a_file() {
        let dir = std::env::temp_dir().join(format!("gl-salt-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).expect("write");
            p.display().to_string()
        };
        let good = write("good", "  s3cret-from-a-file \n");
        assert_eq!(salt(&["--click-salt-file", &good]), "s3cret-from-a-file");
        let blank = write("blank", " \n\n");
        assert!(refused(&["--click-salt-file", &blank]).contains("CLICK_SALT_FILE"));
        let published = write("published", "ghostlink-dev-salt\n");
        assert!(refused(&["--click-salt-file", &published]).contains("CLICK_SALT_FILE"));
        let missing = dir.join("missing").display().to_string();
        assert!(refused(&["--click-salt-file", &missing]).contains("CLICK_SALT_FILE"));
        let both = refused(&["--click-salt-file", &good, "--click-salt", "another-secret"]);
        assert!(both.contains("CLICK_SALT") && both.contains("not both"), "{both}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
