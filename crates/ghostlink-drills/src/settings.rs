//! What a drill is told: which scenario, where the system listens, how hard and how long to
//! push, and how to break what GhostLink cannot break by itself. `ghostctl simulate` takes
//! these as its flags (each with an env var where a script sets it).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::report::LatencyTargets;
use crate::DrillError;

/// The drills there are (`ghostctl simulate <scenario>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScenarioKind {
    /// Stop Postgres: cached codes keep redirecting, the rest answer 503 (never 404).
    DbOutage,
    /// Stop Redis: lookups fall back to Postgres, no stall.
    RedisOutage,
    /// Stop RabbitMQ's app: redirects unaffected, clicks spooled, drained after.
    BrokerOutage,
    /// A destination server fails: the canary quarantines its links.
    DeadDestinations,
    /// An enumeration scanner: ghost-probe flags it (and the redirect answers it 429 in enforce mode).
    ProbeStorm,
    /// GhostLink's database refuses connections: uncached lookups answer 503 (error ratio alert).
    ErrorSpike,
    /// A lock on the links table: uncached lookups slow down, cached ones do not.
    SlowDb,
    /// Kill one redirect replica behind nginx: requests keep succeeding.
    ReplicaDown,
    /// kill -9 the click recorder mid-work, then restart it: no click lost or stored twice.
    RecorderKill,
    /// kill -9 the canary mid-round, then restart it: no link probed twice in an interval.
    CanaryKill,
    /// Cut the canary off from every destination for a round: nothing quarantined.
    CanaryCut,
}

#[derive(Debug, Clone, Args)]
pub struct DrillArgs {
    #[arg(value_enum)]
    pub scenario: ScenarioKind,
    /// The public redirect (nginx in front of the replicas, or one replica).
    #[arg(long, env = "GHOSTLINK_REDIRECT_URL", default_value = "http://127.0.0.1:8080")]
    pub redirect_url: String,
    /// The shortener API.
    #[arg(long, env = "GHOSTLINK_SHORTENER_URL", default_value = "http://127.0.0.1:8081")]
    pub shortener_url: String,
    /// The redirect replicas' ops listeners, comma-separated (metrics read during the run).
    #[arg(long, env = "GHOSTLINK_REDIRECT_OPS_URL", default_value = "http://127.0.0.1:9101")]
    pub redirect_ops_url: String,
    /// Prometheus, to list the alerts firing after the fault (optional).
    #[arg(long, env = "PROMETHEUS_URL")]
    pub prometheus_url: Option<String>,
    /// How long the fault lasts, seconds.
    #[arg(long, default_value_t = 20)]
    pub fault_secs: u64,
    /// Traffic before and after the fault, seconds each.
    #[arg(long, default_value_t = 5)]
    pub settle_secs: u64,
    /// Requests per second at the redirect.
    #[arg(long, default_value_t = 50)]
    pub rate: u32,
    /// The canary's ops listener (canary scenarios read its metrics).
    #[arg(long, env = "GHOSTLINK_CANARY_OPS_URL", default_value = "http://127.0.0.1:9103")]
    pub canary_ops_url: String,
    /// The canary's CANARY_INTERVAL, seconds (canary-kill checks no link is probed twice in it).
    #[arg(long, env = "CANARY_INTERVAL", default_value_t = 300)]
    pub canary_interval: u64,
    /// Destinations of the links created for the traffic, comma-separated, used in turn
    /// (`/<n>` appended). Point them at live servers when a canary runs with a short interval.
    #[arg(long, env = "SIMULATE_LINK_URLS", default_value = "https://example.com/simulate")]
    pub link_urls: String,
    /// Links created for the traffic (requested with a Zipf-like popularity).
    #[arg(long, default_value_t = 50)]
    pub links: usize,
    /// Longest wait, after the fault, for every answered click to be stored, seconds.
    #[arg(long, default_value_t = 90)]
    pub drain_secs: u64,
    /// `enforce`: a missed latency target fails the run; `report`: it is printed only (for a
    /// gate on a shared, noisy machine, where latency is a figure, not a test).
    #[arg(long, value_enum, default_value = "enforce")]
    pub latency_targets: LatencyTargets,
    /// Write the run's figures and checks as JSON to this file (ops/chaos/run.sh reads them).
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
    /// Shell command that injects the fault (replaces the scenario's default).
    #[arg(long, env = "SIMULATE_STOP_CMD")]
    pub stop_cmd: Option<String>,
    /// Shell command that restores it.
    #[arg(long, env = "SIMULATE_START_CMD")]
    pub start_cmd: Option<String>,
}

impl DrillArgs {
    /// Refuses settings no drill can run with, naming the flag.
    pub fn validate(&self) -> Result<(), DrillError> {
        let usage = |m: String| Err(DrillError::Usage(m));
        if self.rate == 0 || self.rate > 5_000 {
            return usage("--rate must be 1..=5000".into());
        }
        if self.links == 0 || self.links > 10_000 {
            return usage("--links must be 1..=10000".into());
        }
        if self.fault_secs == 0 || self.fault_secs > 3_600 {
            return usage("--fault-secs must be 1..=3600".into());
        }
        let fixed = [self.redirect_url.as_str(), self.shortener_url.as_str(), self.canary_ops_url.as_str()];
        let listed = self.redirect_ops_urls().chain(self.link_bases());
        for u in fixed.into_iter().chain(listed).chain(self.prometheus_url.as_deref()) {
            if url::Url::parse(u).is_err() {
                return usage(format!("'{u}' is not a URL"));
            }
        }
        if self.link_bases().next().is_none() {
            return usage("--link-urls must name at least one URL".into());
        }
        Ok(())
    }

    /// Each redirect replica's ops listener.
    pub fn redirect_ops_urls(&self) -> impl Iterator<Item = &str> {
        split_list(&self.redirect_ops_url)
    }

    /// The destinations the traffic's links point at, in turn.
    pub fn link_bases(&self) -> impl Iterator<Item = &str> {
        split_list(&self.link_urls)
    }
}

fn split_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
pub(crate) mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        drill: DrillArgs,
    }

    /// The settings a command line makes, with a fixed value for every flag that has an env
    /// var unless the line sets it (the test environment's variables are not read).
    pub(crate) fn args(line: &[&str]) -> DrillArgs {
        let defaults = [
            "--redirect-url=http://127.0.0.1:8080",
            "--shortener-url=http://127.0.0.1:8081",
            "--redirect-ops-url=http://127.0.0.1:9101,http://127.0.0.1:9102",
            "--canary-ops-url=http://127.0.0.1:9103",
            "--canary-interval=4",
            "--link-urls=http://127.0.0.1:9/l",
        ];
        let given = |d: &str| line.iter().any(|l| l.split('=').next() == d.split('=').next());
        let defaults = defaults.into_iter().filter(|d| !given(d));
        match Cli::try_parse_from(std::iter::once("simulate").chain(defaults).chain(line.iter().copied())) {
            Ok(c) => c.drill,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn validation_names_the_flag() {
        let refused = |line: &[&str]| match args(line).validate() {
            Err(DrillError::Usage(m)) => m,
            other => panic!("{line:?} accepted: {other:?}"),
        };
        assert!(args(&["db-outage"]).validate().is_ok());
        assert!(refused(&["db-outage", "--rate=0"]).contains("--rate"));
        assert!(refused(&["db-outage", "--links=10001"]).contains("--links"));
        assert!(refused(&["db-outage", "--fault-secs=0"]).contains("--fault-secs"));
        assert!(refused(&["db-outage", "--link-urls=not a url"]).contains("'not a url'"));
        assert!(refused(&["db-outage", "--link-urls= , "]).contains("--link-urls"));
        assert!(refused(&["db-outage", "--prometheus-url=prometheus"]).contains("'prometheus'"));
    }

    #[test]
    fn lists_are_split_and_trimmed() {
        let a = args(&["redis-outage", "--link-urls=http://a/x, http://b/y,"]);
        assert_eq!(a.link_bases().collect::<Vec<_>>(), ["http://a/x", "http://b/y"]);
        assert_eq!(a.redirect_ops_urls().count(), 2);
    }
}
