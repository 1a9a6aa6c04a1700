//! The console's configuration: its listeners, logging, the shortener API it talks to and the
//! URL people reach it at (which decides whether its cookies are `Secure`).

use std::net::SocketAddr;

use clap::Parser;
use ghostlink_config::{ConfigError, ListenArgs, LogArgs, Validate};

/// GhostLink console: web pages for people, over the shortener's public API.
#[derive(Debug, Clone, Parser)]
#[command(name = "ghostlink-console", version, about)]
pub struct Config {
    /// The public listener (default 127.0.0.1:8083) and the ops listener (default 127.0.0.1:9108).
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// The shortener's public API, e.g. `http://127.0.0.1:8081` (the console's only data source).
    #[arg(long, env = "CONSOLE_API_URL", default_value = "http://127.0.0.1:8081")]
    pub api_url: String,
    /// Where people reach the console; `https://…` makes its cookies `Secure`.
    #[arg(long, env = "CONSOLE_PUBLIC_URL", default_value = "http://127.0.0.1:8083")]
    pub public_url: String,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub public: SocketAddr,
    pub ops: SocketAddr,
    pub api: url::Url,
    pub secure_cookies: bool,
}

fn http_url(setting: &'static str, value: &str) -> Result<url::Url, ConfigError> {
    let u = url::Url::parse(value)
        .map_err(|e| ConfigError::new(setting, format!("'{value}' is not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(ConfigError::new(
            setting,
            format!("'{value}' must be an http:// or https:// URL with a host"),
        ));
    }
    Ok(u)
}

impl Config {
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        let api = http_url("CONSOLE_API_URL (--api-url)", &self.api_url)?;
        let public_url = http_url("CONSOLE_PUBLIC_URL (--public-url)", &self.public_url)?;
        Ok(Resolved {
            public: self.listen.public_or("127.0.0.1:8083")?,
            ops: self.listen.ops_or("127.0.0.1:9108")?,
            api,
            secure_cookies: public_url.scheme() == "https",
        })
    }
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.resolve().map(|_| ())
    }
}
