//! GhostLink canary: probes every live link's destination on a schedule and acts on what it
//! sees. Three consecutive failures quarantine a link (the redirect then shows "this
//! destination has been failing since …" instead of redirecting; event `link.quarantined`);
//! a run of successes restores it (`link.restored`).
//!
//! Why it is built this way:
//! - **Replicas share the work through Postgres**: each round claims due links with
//!   `FOR UPDATE SKIP LOCKED` and moves their schedule on in the same statement
//!   ([`ghostlink_db::health::claim_due`]), so N canaries never probe a link twice at once.
//! - **New links are probed within seconds**: the canary consumes `link.created` /
//!   `link.updated` and schedules the link now, then wakes the scheduler.
//! - **SSRF-safe probes** ([`probe`]): the address actually connected to is checked.
//! - **A sick canary quarantines nothing**: when most hosts of a round fail at the network
//!   level at once, the round is thrown away and `canary_rounds_aborted_total` goes up.
//! - Events go through the transactional outbox, written with the status change, and every
//!   canary runs the outbox relay (shared with the shortener).

pub mod probe;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ghostlink_bus::{Incoming, Publisher, Verdict};
use ghostlink_cache::RedisCache;
use ghostlink_config::{ConfigError, RedisArgs, Validate};
use ghostlink_db::health::{Due, NewCheck, Policy, Transition};
use ghostlink_db::outbox::OutboxEvent;
use ghostlink_db::Db;
use ghostlink_domain::net::PrivateTargets;
use ghostlink_domain::quarantine::QuarantineActor;
use ghostlink_proto::{Envelope, Event, EventData, LinkQuarantined, LinkRestored};
use ghostlink_runtime::{Context, Handler, ServiceArgs, Spec, Task};
use ghostlink_telemetry::trace::{self, Attribute, FutureExt as _};
use ghostlink_web::deps;
use tokio::sync::{watch, Notify, Semaphore};

use crate::probe::{Failure, ProbeResult, ProbeSettings, Prober};

const SERVICE: &str = "canary";

/// GhostLink canary.
#[derive(Debug, Clone, Parser)]
#[command(name = "ghostlink-canary", version, about)]
pub struct Config {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Seconds between two probes of a link (each link gets up to 10% jitter on top).
    #[arg(long, env = "CANARY_INTERVAL", default_value_t = 300)]
    pub interval: u64,
    /// Links claimed per round.
    #[arg(long, env = "CANARY_BATCH", default_value_t = 100)]
    pub batch: i64,
    /// Probes in flight at once (per replica).
    #[arg(long, env = "CANARY_CONCURRENCY", default_value_t = 32)]
    pub concurrency: usize,
    /// Probes in flight at once to one host (host:port), per replica.
    #[arg(long, env = "CANARY_PER_HOST_CONCURRENCY", default_value_t = 2)]
    pub per_host_concurrency: usize,
    /// Connect timeout of a probe, milliseconds.
    #[arg(long, env = "CANARY_CONNECT_TIMEOUT_MS", default_value_t = 5_000)]
    pub connect_timeout_ms: u64,
    /// Total time a probe may take, redirects included, milliseconds.
    #[arg(long, env = "CANARY_TIMEOUT_MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Consecutive failed checks that quarantine a link.
    #[arg(long, env = "CANARY_FAILURES_TO_QUARANTINE", default_value_t = 3)]
    pub failures_to_quarantine: u32,
    /// Consecutive successful checks that lift the canary's quarantine.
    #[arg(long, env = "CANARY_SUCCESSES_TO_RESTORE", default_value_t = 2)]
    pub successes_to_restore: u32,
    /// Checks kept per link.
    #[arg(long, env = "CANARY_KEEP_CHECKS", default_value_t = 20)]
    pub keep_checks: i64,
    /// Let probes reach private, loopback and link-local addresses: `false` (default), `true`,
    /// or a comma-separated list of addresses / CIDR blocks. Only for labs and tests; logged
    /// as a warning when on.
    #[arg(long, env = "CANARY_ALLOW_PRIVATE_TARGETS", default_value = "false")]
    pub allow_private_targets: String,
    /// A round is thrown away (nothing quarantined) when at least this share of its hosts
    /// failed at the network level (timeout, DNS, connect) ...
    #[arg(long, env = "CANARY_ABORT_RATIO", default_value_t = 0.8)]
    pub abort_ratio: f64,
    /// ... and it probed at least this many distinct hosts.
    #[arg(long, env = "CANARY_ABORT_MIN_HOSTS", default_value_t = 3)]
    pub abort_min_hosts: usize,
    /// User-Agent of the probes.
    #[arg(long, env = "CANARY_USER_AGENT", default_value = "GhostLink-Canary/0.1 (+link health check)")]
    pub user_agent: String,
}

impl Config {
    /// The canary's own settings (the shared ones are the runtime's), with the private targets
    /// it may probe.
    fn resolve(&self) -> Result<PrivateTargets, ConfigError> {
        self.redis.validate()?;
        let private =
            ghostlink_config::private_targets("CANARY_ALLOW_PRIVATE_TARGETS", &self.allow_private_targets)?;
        ghostlink_config::check_ranges(&[
            ("CANARY_INTERVAL", (1..=86_400).contains(&self.interval), "1..=86400 seconds"),
            ("CANARY_BATCH", (1..=10_000).contains(&self.batch), "1..=10000"),
            ("CANARY_CONCURRENCY", (1..=1_000).contains(&self.concurrency), "1..=1000"),
            ("CANARY_PER_HOST_CONCURRENCY", (1..=100).contains(&self.per_host_concurrency), "1..=100"),
            ("CANARY_CONNECT_TIMEOUT_MS", (1..=60_000).contains(&self.connect_timeout_ms), "1..=60000"),
            ("CANARY_TIMEOUT_MS", (1..=120_000).contains(&self.timeout_ms), "1..=120000"),
            ("CANARY_FAILURES_TO_QUARANTINE", (1..=100).contains(&self.failures_to_quarantine), "1..=100"),
            ("CANARY_SUCCESSES_TO_RESTORE", (1..=100).contains(&self.successes_to_restore), "1..=100"),
            ("CANARY_KEEP_CHECKS", (1..=1_000).contains(&self.keep_checks), "1..=1000"),
        ])?;
        if !(self.abort_ratio > 0.0 && self.abort_ratio <= 1.0) {
            return Err(ConfigError::new("CANARY_ABORT_RATIO", "must be in (0, 1]"));
        }
        if self.abort_min_hosts == 0 {
            return Err(ConfigError::new("CANARY_ABORT_MIN_HOSTS", "must be at least 1"));
        }
        Ok(private)
    }
}

/// The canary on the consumer runtime.
pub type App = ghostlink_runtime::Service<Canary>;

/// Schedules new links from link events; runs the probe scheduler and the outbox relay beside.
pub struct Canary {
    config: Config,
    db: Db,
    redis: RedisCache,
    prober: Arc<Prober>,
    publisher: Arc<Publisher>,
    /// Wakes the relay after a transition wrote an event.
    relay: Arc<Notify>,
    /// Wakes the scheduler after new links were scheduled.
    wake: Arc<Notify>,
    log: slog::Logger,
}

impl Handler for Canary {
    type Config = Config;
    const SPEC: Spec = Spec::new(SERVICE, "127.0.0.1:9103", "consuming link events").tuning(64, 64, 20);

    fn service(config: &Config) -> &ServiceArgs {
        &config.service
    }

    fn build(config: Config, ctx: &Context) -> anyhow::Result<Self> {
        let private_targets = config.resolve()?;
        if !private_targets.is_deny() {
            slog::warn!(ctx.log, "probes may reach private addresses (CANARY_ALLOW_PRIVATE_TARGETS); never in production";
                "allowed" => &config.allow_private_targets);
        }
        let prober = Arc::new(Prober::new(ProbeSettings {
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            timeout: Duration::from_millis(config.timeout_ms),
            per_host: config.per_host_concurrency,
            private_targets,
            user_agent: config.user_agent.clone(),
        })?);
        // Exported at 0 from the start, so alerts see the first increment (increase()).
        for name in [
            "canary_quarantines_total",
            "canary_restores_total",
            "canary_rounds_total",
            "canary_rounds_aborted_total",
        ] {
            metrics::counter!(name).increment(0);
        }
        slog::info!(ctx.log, "canary schedule"; "interval_secs" => config.interval);
        Ok(Self {
            redis: deps::invalidation_cache(&config.redis)?,
            config,
            db: ctx.db.clone(),
            prober,
            publisher: Arc::new(ctx.publisher()),
            relay: Arc::new(Notify::new()),
            wake: Arc::new(Notify::new()),
            log: ctx.log.clone(),
        })
    }

    /// The outbox relay and the scheduler end on the stop (a round in progress is dropped:
    /// its links come round again); the state gauges every 15 s.
    fn background(self: &Arc<Self>, ctx: &Context) -> Vec<Task> {
        let relay = ghostlink_outbox::Relay {
            db: self.db.clone(),
            publisher: self.publisher.clone(),
            notify: self.relay.clone(),
            log: self.log.clone(),
        };
        let c = &self.config;
        let scheduler = Scheduler {
            db: self.db.clone(),
            redis: self.redis.clone(),
            prober: self.prober.clone(),
            relay: self.relay.clone(),
            wake: self.wake.clone(),
            policy: Policy {
                failures_to_quarantine: c.failures_to_quarantine,
                successes_to_restore: c.successes_to_restore,
                keep_checks: c.keep_checks,
            },
            interval: Duration::from_secs(c.interval),
            batch: c.batch,
            concurrency: Arc::new(Semaphore::new(c.concurrency)),
            abort_ratio: c.abort_ratio,
            abort_min_hosts: c.abort_min_hosts,
            per_host_cap: c.per_host_concurrency * 2,
            recent_hosts: std::sync::Mutex::new(HashMap::new()),
            log: self.log.clone(),
        };
        let db = self.db.clone();
        vec![
            Task::until_stopped("scheduler", Duration::from_secs(30), scheduler.run(ctx.stop.watch())),
            Task::until_stopped("outbox relay", Duration::from_secs(10), relay.run(ctx.stop.watch())),
            Task::every("states", Duration::from_secs(15), move || sample_states(db.clone())),
        ]
    }

    async fn handle(&self, batch: Vec<Incoming>) -> Vec<Verdict> {
        schedule_new(&self.db, &self.wake, &self.log, batch).await
    }

    async fn close(&self) {
        self.publisher.close().await;
    }
}

/// `link.created` / `link.updated`: probe the link now. A database outage holds the message.
async fn schedule_new(db: &Db, wake: &Notify, log: &slog::Logger, batch: Vec<Incoming>) -> Vec<Verdict> {
    let mut verdicts = Vec::with_capacity(batch.len());
    for msg in batch {
        let mut links = Vec::new();
        let mut verdict = Verdict::Ack;
        for event in Event::decode_lines(&msg.payload) {
            match event {
                Ok(Event::LinkCreated(e)) => links.push((e.data.code, e.data.url)),
                Ok(Event::LinkUpdated(e)) if e.data.status == ghostlink_domain::LinkStatus::Active => {
                    links.push((e.data.code, e.data.url))
                }
                Ok(_) => {}
                Err(e) => {
                    slog::warn!(log, "undecodable event; dead-lettering"; "error" => %e);
                    verdict = Verdict::Reject;
                }
            }
        }
        if verdict == Verdict::Ack && !links.is_empty() {
            let stored = db
                .run(move |c| {
                    for (code, url) in &links {
                        ghostlink_db::health::schedule_now(c, code, url)?;
                    }
                    Ok(())
                })
                .await;
            if let Err(e) = stored {
                metrics::counter!("db_errors_total", "op" => "health_schedule").increment(1);
                slog::warn!(log, "cannot schedule new links; will retry"; "error" => %e);
                tokio::time::sleep(Duration::from_millis(500)).await;
                verdict = Verdict::Retry;
            }
        }
        verdicts.push(verdict);
    }
    wake.notify_one();
    verdicts
}

struct Scheduler {
    db: Db,
    redis: RedisCache,
    prober: Arc<Prober>,
    relay: Arc<Notify>,
    wake: Arc<Notify>,
    policy: Policy,
    interval: Duration,
    batch: i64,
    concurrency: Arc<Semaphore>,
    abort_ratio: f64,
    abort_min_hosts: usize,
    per_host_cap: usize,
    /// host → (last probed, failed only at the network level), for the round guard.
    recent_hosts: std::sync::Mutex<HashMap<String, (std::time::Instant, bool)>>,
    log: slog::Logger,
}

/// What a round decided.
#[derive(Debug, Default, PartialEq)]
struct RoundSummary {
    probed: usize,
    hosts: usize,
    network_failed_hosts: usize,
    aborted: bool,
}

impl Scheduler {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut adopted = tokio::time::Instant::now() - Duration::from_secs(3600);
        let mut failing = false;
        loop {
            if *stop.borrow() {
                return;
            }
            if adopted.elapsed() >= Duration::from_secs(60) {
                adopted = tokio::time::Instant::now();
                if let Ok(n) = self.db.run(ghostlink_db::health::adopt_missing).await {
                    if n > 0 {
                        slog::info!(self.log, "scheduled links that had no health row"; "count" => n);
                    }
                }
            }
            let jitter = self.interval / 10;
            let (limit, interval) = (self.batch, self.interval);
            let claimed =
                self.db.run(move |c| ghostlink_db::health::claim_due(c, limit, interval, jitter)).await;
            let full = match claimed {
                Ok(due) => {
                    failing = false;
                    let full = due.len() as i64 >= self.batch;
                    if !due.is_empty() {
                        // Shutdown does not wait for slow probes: an unfinished round writes
                        // nothing, and its links come round again at their next check.
                        // A round is a trace of its own (kept at the canary's ratio): its
                        // probes' HTTP spans, quarantines and cache invalidations inside it.
                        let span = trace::start(
                            "canary round",
                            trace::kind::Internal,
                            &trace::TraceContext::new(),
                            vec![Attribute::new("ghostlink.canary.links", due.len() as i64)],
                        );
                        let round = self.round(due);
                        tokio::select! {
                            _ = async {
                                match &span {
                                    Some(cx) => { round.with_context(cx.clone()).await; }
                                    None => { round.await; }
                                }
                            } => {}
                            _ = stop.changed() => return,
                        }
                        if let Some(cx) = &span {
                            trace::finish(cx, None);
                        }
                    }
                    full
                }
                Err(e) => {
                    metrics::counter!("db_errors_total", "op" => "health_claim").increment(1);
                    if !failing {
                        slog::warn!(self.log, "cannot claim due links; retrying"; "error" => %e);
                        failing = true;
                    }
                    false
                }
            };
            if full {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Probes a claimed batch concurrently, then records the results — unless the round looks
    /// like the canary's own network failing.
    async fn round(&self, due: Vec<Due>) -> RoundSummary {
        // A round probes at most `per_host_cap` links of one host: the others are put back a
        // few seconds, so a thousand links to one slow site cannot stall every other host's
        // checks behind its per-host limit (round time stays about two probe timeouts).
        let mut per_host: HashMap<String, usize> = HashMap::new();
        let (mut now, mut later) = (Vec::new(), Vec::new());
        for d in due.into_iter().filter(|d| d.probe) {
            let n = per_host.entry(host_key(&d.url)).or_default();
            *n += 1;
            if *n <= self.per_host_cap {
                now.push(d);
            } else {
                later.push(d.code);
            }
        }
        if !later.is_empty() {
            let delay = Duration::from_secs(5) + self.interval.min(Duration::from_secs(30)) / 10;
            if self.db.run(move |c| ghostlink_db::health::reschedule(c, &later, delay)).await.is_err() {
                metrics::counter!("db_errors_total", "op" => "health_reschedule").increment(1);
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for d in now {
            let (prober, sem) = (self.prober.clone(), self.concurrency.clone());
            // Inside the round's span (a spawned task has no context of its own).
            tasks.spawn(
                async move {
                    let _slot = sem.acquire_owned().await;
                    let r = prober.probe(&d.url).await;
                    (d, r)
                }
                .with_current_context(),
            );
        }
        let mut results: Vec<(Due, ProbeResult)> = Vec::new();
        while let Some(done) = tasks.join_next().await {
            if let Ok(pair) = done {
                results.push(pair);
            }
        }
        let summary = {
            // Hosts seen in the last few rounds (this replica's own short memory, a breaker-like
            // view of its network; nothing another replica needs).
            let window = (self.interval * 2).clamp(Duration::from_secs(5), Duration::from_secs(60));
            let mut seen = self.recent_hosts.lock().unwrap_or_else(|e| e.into_inner());
            seen.retain(|_, (at, _)| at.elapsed() < window);
            let recent: HashMap<String, bool> = seen.iter().map(|(h, (_, f))| (h.clone(), *f)).collect();
            let summary = judge(&results, &recent, self.abort_ratio, self.abort_min_hosts);
            let now = std::time::Instant::now();
            for (d, r) in &results {
                let e = seen.entry(host_key(&d.url)).or_insert((now, true));
                *e = (now, if e.0 == now { e.1 && r.outcome.is_network() } else { r.outcome.is_network() });
            }
            summary
        };
        metrics::counter!("canary_rounds_total").increment(1);
        if summary.hosts > 0 {
            metrics::gauge!("canary_round_network_failure_ratio")
                .set(summary.network_failed_hosts as f64 / summary.hosts as f64);
        }
        for (_, r) in &results {
            metrics::counter!("canary_probes_total", "outcome" => r.outcome.as_str()).increment(1);
            metrics::histogram!("canary_probe_duration_seconds").record(r.latency.as_secs_f64());
        }
        if summary.aborted {
            metrics::counter!("canary_rounds_aborted_total").increment(1);
            slog::warn!(self.log, "most hosts of a round failed at the network level; results discarded, nothing quarantined";
                "probed" => summary.probed, "hosts" => summary.hosts, "failed_hosts" => summary.network_failed_hosts);
            return summary;
        }
        for (d, r) in results {
            self.record(d, r).await;
        }
        summary
    }

    async fn record(&self, due: Due, r: ProbeResult) {
        let check = NewCheck {
            code: due.code.clone(),
            outcome: r.outcome,
            status: r.status.map(i32::from),
            latency_ms: r.latency.as_millis().min(i32::MAX as u128) as i32,
            method: r.method.to_string(),
            final_url: r.final_url.clone(),
            redirects: r.redirects.clone(),
            error: r.error.as_ref().map(|e| e.failure.as_str().to_string()),
            error_detail: r.error.as_ref().map(|e| e.detail.clone()),
        };
        if let Some(e) = &r.error {
            // The detail is this log's and admins' (the owner sees the generic reason). A
            // refused address is worth an operator's eye: someone may be mapping the network.
            if e.failure == Failure::PrivateAddress {
                slog::info!(self.log, "probe refused: destination is a private address";
                    "link.code" => &due.code, "reason" => e.failure.as_str(), "detail" => &e.detail);
            } else {
                slog::debug!(self.log, "probe failed";
                    "link.code" => &due.code, "reason" => e.failure.as_str(), "detail" => &e.detail);
            }
        }
        let (url, policy) = (due.url.clone(), self.policy);
        let (code, url2) = (due.code.clone(), due.url.clone());
        let stored = self
            .db
            .run(move |c| {
                ghostlink_db::health::record(c, &check, &url, &policy, |t| transition_event(&code, &url2, t))
            })
            .await;
        match stored {
            Ok(Some(Transition::None)) | Ok(None) => {}
            Ok(Some(t)) => {
                self.redis.invalidate(&due.code, &self.log).await;
                self.relay.notify_one();
                match t {
                    Transition::Quarantined { consecutive_failures, .. } => {
                        metrics::counter!("canary_quarantines_total").increment(1);
                        slog::warn!(self.log, "link quarantined: destination keeps failing";
                            "link.code" => &due.code, "failures" => consecutive_failures, "outcome" => r.outcome.as_str());
                    }
                    Transition::Restored { consecutive_successes } => {
                        metrics::counter!("canary_restores_total").increment(1);
                        slog::info!(self.log, "link restored: destination answers again";
                            "link.code" => &due.code, "successes" => consecutive_successes);
                    }
                    Transition::None => {}
                }
            }
            Err(e) => {
                // The next scheduled check will try again; nothing half-written.
                metrics::counter!("db_errors_total", "op" => "health_record").increment(1);
                slog::warn!(self.log, "cannot store a check"; "link.code" => &due.code, "error" => %e);
            }
        }
    }
}

/// Whether a round's results say more about the canary than about the destinations: at least
/// `min_hosts` distinct hosts probed and at least `ratio` of them failed only at the network
/// level. A thousand links to one dead site are one host: they still get quarantined.
/// `recent` adds the hosts of the rounds just before (host → failed at the network level): with
/// few links, jitter splits them over small rounds, and one round alone would rarely reach
/// `min_hosts`.
fn judge(
    results: &[(Due, ProbeResult)],
    recent: &HashMap<String, bool>,
    ratio: f64,
    min_hosts: usize,
) -> RoundSummary {
    let mut hosts: HashMap<String, bool> = HashMap::new();
    for (d, r) in results {
        let all_failed = hosts.entry(host_key(&d.url)).or_insert(true);
        *all_failed &= r.outcome.is_network();
    }
    for (host, failed) in recent {
        hosts.entry(host.clone()).or_insert(*failed);
    }
    let failed = hosts.values().filter(|f| **f).count();
    RoundSummary {
        probed: results.len(),
        hosts: hosts.len(),
        network_failed_hosts: failed,
        aborted: hosts.len() >= min_hosts && failed as f64 >= ratio * hosts.len() as f64,
    }
}

/// [`probe::host_key`] of a stored destination ("" when it does not parse).
fn host_key(url: &str) -> String {
    url::Url::parse(url).map(|u| probe::host_key(&u)).unwrap_or_default()
}

fn transition_event(code: &str, url: &str, t: &Transition) -> Option<OutboxEvent> {
    fn wrap<T: EventData>(data: T) -> OutboxEvent {
        let env = Envelope::new(SERVICE, None, chrono::Utc::now(), data);
        OutboxEvent {
            event_id: env.id,
            routing_key: T::TYPE.to_string(),
            payload: String::from_utf8(env.to_bytes()).unwrap_or_default(),
        }
    }
    match t {
        Transition::None => None,
        Transition::Quarantined { consecutive_failures, failing_since, outcome } => {
            Some(wrap(LinkQuarantined {
                code: code.to_string(),
                url: url.to_string(),
                by: QuarantineActor::Canary,
                consecutive_failures: *consecutive_failures,
                failing_since: Some(*failing_since),
                last_outcome: Some(*outcome),
            }))
        }
        Transition::Restored { consecutive_successes } => Some(wrap(LinkRestored {
            code: code.to_string(),
            url: url.to_string(),
            by: QuarantineActor::Canary,
            consecutive_successes: *consecutive_successes,
        })),
    }
}

/// `canary_links_by_state{state}` and `canary_due_links`; kept as they were while Postgres does
/// not answer (counted in `db_errors_total{op="health_states"}`).
async fn sample_states(db: Db) {
    let sampled =
        db.run(|c| Ok((ghostlink_db::health::count_by_state(c)?, ghostlink_db::health::due_count(c)?))).await;
    match sampled {
        Ok((rows, due)) => {
            for (state, n) in rows {
                metrics::gauge!("canary_links_by_state", "state" => state.as_str()).set(n as f64);
            }
            metrics::gauge!("canary_due_links").set(due as f64);
        }
        Err(_) => metrics::counter!("db_errors_total", "op" => "health_states").increment(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Outcome;

    fn result(url: &str, outcome: Outcome) -> (Due, ProbeResult) {
        (
            Due { code: "c".into(), url: url.into(), probe: true },
            ProbeResult {
                outcome,
                status: None,
                latency: Duration::ZERO,
                method: "HEAD",
                final_url: None,
                redirects: vec![],
                error: None,
            },
        )
    }

    #[test]
    fn a_round_is_aborted_only_when_most_hosts_fail_at_the_network_level() {
        let none = HashMap::new();
        let many_hosts_down: Vec<_> =
            (0..5).map(|i| result(&format!("http://h{i}.example/"), Outcome::Connect)).collect();
        assert!(judge(&many_hosts_down, &none, 0.8, 3).aborted);
        // One dead site with many links is one host: its links still count.
        let one_site: Vec<_> = (0..50).map(|_| result("http://dead.example/x", Outcome::Timeout)).collect();
        assert!(!judge(&one_site, &none, 0.8, 3).aborted);
        // HTTP errors prove the network works.
        let errors: Vec<_> =
            (0..5).map(|i| result(&format!("http://h{i}.example/"), Outcome::Http5xx)).collect();
        assert!(!judge(&errors, &none, 0.8, 3).aborted);
        let mut mixed: Vec<_> =
            (0..3).map(|i| result(&format!("http://h{i}.example/"), Outcome::Dns)).collect();
        mixed.extend((3..6).map(|i| result(&format!("http://h{i}.example/"), Outcome::Ok)));
        assert!(!judge(&mixed, &none, 0.8, 3).aborted);
        // A small round counts the hosts of the rounds just before it.
        let small = vec![result("http://h0.example/", Outcome::Connect)];
        let recent: HashMap<String, bool> =
            [("h1.example:80".to_string(), true), ("h2.example:80".to_string(), true)].into();
        assert!(judge(&small, &recent, 0.8, 3).aborted);
        assert!(!judge(&small, &none, 0.8, 3).aborted);
        let healthy: HashMap<String, bool> =
            [("h1.example:80".to_string(), false), ("h2.example:80".to_string(), false)].into();
        assert!(!judge(&small, &healthy, 0.8, 3).aborted);
    }
}
