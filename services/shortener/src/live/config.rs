//! The live streams' settings (`LIVE_*`).

use ghostlink_config::{ConfigError, Validate};

/// Live click streams (server-sent events).
#[derive(Debug, Clone, clap::Args)]
pub struct LiveArgs {
    /// Clicks buffered for one live-stream subscriber; a subscriber that falls this far behind is
    /// dropped (its stream ends; the client resumes with Last-Event-ID). One broker message
    /// carries up to 250 clicks, which arrive at once: keep this well above that.
    #[arg(long = "live-buffer", env = "LIVE_BUFFER", default_value_t = 1024)]
    pub live_buffer: usize,
    /// Silence after which a live stream sends a `: ping` comment, in milliseconds (keeps
    /// proxies from closing an idle connection).
    #[arg(long = "live-heartbeat-ms", env = "LIVE_HEARTBEAT_MS", default_value_t = 15_000)]
    pub live_heartbeat_ms: u64,
    /// How long one live stream stays open, in seconds; then it ends and the client resumes with
    /// Last-Event-ID, so connections spread over replicas as they come and go.
    #[arg(long = "live-max-stream-secs", env = "LIVE_MAX_STREAM_SECS", default_value_t = 3600)]
    pub live_max_stream_secs: u64,
    /// Link keys whose workspace is remembered for the workspace streams.
    #[arg(long = "live-workspace-cache", env = "LIVE_WORKSPACE_CACHE", default_value_t = 100_000)]
    pub live_workspace_cache: u64,
}

impl Validate for LiveArgs {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=65_536).contains(&self.live_buffer) {
            return Err(ConfigError::new("LIVE_BUFFER (--live-buffer)", "must be between 1 and 65536"));
        }
        if !(100..=300_000).contains(&self.live_heartbeat_ms) {
            return Err(ConfigError::new(
                "LIVE_HEARTBEAT_MS (--live-heartbeat-ms)",
                "must be between 100 and 300000 (5 minutes)",
            ));
        }
        if !(1..=86_400).contains(&self.live_max_stream_secs) {
            return Err(ConfigError::new(
                "LIVE_MAX_STREAM_SECS (--live-max-stream-secs)",
                "must be between 1 and 86400 (a day)",
            ));
        }
        if !(1..=100_000_000).contains(&self.live_workspace_cache) {
            return Err(ConfigError::new(
                "LIVE_WORKSPACE_CACHE (--live-workspace-cache)",
                "must be between 1 and 100000000",
            ));
        }
        Ok(())
    }
}

/// The defaults the command line gives (and the `LIVE_*` variables set in the environment).
impl Default for LiveArgs {
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            live: LiveArgs,
        }
        <Only as clap::Parser>::parse_from(["live"]).live
    }
}
