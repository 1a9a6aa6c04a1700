//! GhostLink webhook dispatcher: delivers what happens to a workspace's links — created,
//! updated, deleted, quarantined, restored, clicked (in batches), found probed — to the
//! workspace's webhook subscriptions, signed as the Standard Webhooks spec says.
//!
//! How it is built:
//! - **Fan-out** ([`fanout`]): consumes the events from its own quorum queue, looks up the
//!   workspace of every link key of a batch in one query, and writes one delivery row per
//!   matching subscription (unique by subscription and event id: a redelivered message writes
//!   nothing twice; a batch's clicks are one `click.batch` delivery per subscription).
//! - **Delivery** ([`deliver`]): a background loop claims due rows with
//!   `FOR UPDATE SKIP LOCKED`, so N replicas share them; at least once, retried with
//!   exponential backoff and full jitter ([`schedule`]) for `WEBHOOK_RETRY_WINDOW_SECS`; a
//!   subscription failing for `WEBHOOK_DISABLE_AFTER_SECS` is disabled and `webhook.disabled`
//!   goes out through the outbox (this service runs the shared relay).
//! - **SSRF-safe** ([`ghostlink_egress`], the canary's guard): no private, loopback,
//!   link-local or metadata address unless `WEBHOOK_ALLOW_PRIVATE_TARGETS` says so; no
//!   redirect is followed.

pub mod deliver;
pub mod fanout;
pub mod schedule;
pub mod sign;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ghostlink_bus::{Incoming, Publisher, Verdict};
use ghostlink_cache::RedisCache;
use ghostlink_config::{ConfigError, RedisArgs, Validate};
use ghostlink_db::webhook_deliveries as store;
use ghostlink_db::Db;
use ghostlink_egress::PrivateTargets;
use ghostlink_proto::Event;
use ghostlink_runtime::{Context, Handler, ServiceArgs, Spec, Task};
use ghostlink_web::{deps, ReadinessCheck};
use tokio::sync::{Notify, Semaphore};

use crate::deliver::Deliverer;
use crate::schedule::Schedule;

const SERVICE: &str = "webhook-dispatcher";

/// GhostLink webhook dispatcher.
#[derive(Debug, Clone, Parser)]
#[command(name = "ghostlink-webhook-dispatcher", version, about)]
pub struct Config {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Let deliveries reach private, loopback and link-local addresses: `false` (default),
    /// `true`, or a comma-separated list of addresses / CIDR blocks. Only for labs and tests;
    /// logged as a warning when on.
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE_TARGETS", default_value = "false")]
    pub allow_private_targets: String,
    /// Total time one attempt may take (connect, send, the answer's head), milliseconds.
    #[arg(long, env = "WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Connect timeout of an attempt, milliseconds.
    #[arg(long, env = "WEBHOOK_CONNECT_TIMEOUT_MS", default_value_t = 5_000)]
    pub connect_timeout_ms: u64,
    /// Attempts in flight at once, per replica.
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = 64)]
    pub concurrency: usize,
    /// Attempts in flight at once to one destination host (host:port), across every replica.
    #[arg(long, env = "WEBHOOK_PER_HOST_CONCURRENCY", default_value_t = 4)]
    pub per_host_concurrency: u32,
    /// Deliveries claimed at once.
    #[arg(long, env = "WEBHOOK_BATCH", default_value_t = 100)]
    pub batch: i64,
    /// How often to look for due deliveries when nothing woke the loop, milliseconds.
    #[arg(long, env = "WEBHOOK_POLL_MS", default_value_t = 1_000)]
    pub poll_ms: u64,
    /// The first retry waits up to this long (full jitter), milliseconds; each retry doubles it.
    #[arg(long, env = "WEBHOOK_BACKOFF_BASE_MS", default_value_t = 5_000)]
    pub backoff_base_ms: u64,
    /// The longest wait between two attempts, milliseconds.
    #[arg(long, env = "WEBHOOK_BACKOFF_MAX_MS", default_value_t = 3_600_000)]
    pub backoff_max_ms: u64,
    /// How long a delivery is retried after it was written, seconds; then it fails for good.
    #[arg(long, env = "WEBHOOK_RETRY_WINDOW_SECS", default_value_t = 86_400)]
    pub retry_window_secs: u64,
    /// A subscription whose every attempt failed for this long is disabled, seconds.
    #[arg(long, env = "WEBHOOK_DISABLE_AFTER_SECS", default_value_t = 86_400)]
    pub disable_after_secs: u64,
    /// Finished deliveries (delivered or failed) are kept in the log this many days.
    #[arg(long, env = "WEBHOOK_KEEP_DAYS", default_value_t = 30)]
    pub keep_days: i32,
    /// User-Agent of deliveries.
    #[arg(long, env = "WEBHOOK_USER_AGENT", default_value = "GhostLink-Webhooks/0.1")]
    pub user_agent: String,
}

impl Config {
    /// The dispatcher's own settings, with the private targets it may reach.
    fn resolve(&self) -> Result<PrivateTargets, ConfigError> {
        self.redis.validate()?;
        let private =
            ghostlink_config::private_targets("WEBHOOK_ALLOW_PRIVATE_TARGETS", &self.allow_private_targets)?;
        ghostlink_config::check_ranges(&[
            ("WEBHOOK_TIMEOUT_MS", (1..=120_000).contains(&self.timeout_ms), "1..=120000"),
            ("WEBHOOK_CONNECT_TIMEOUT_MS", (1..=60_000).contains(&self.connect_timeout_ms), "1..=60000"),
            ("WEBHOOK_CONCURRENCY", (1..=1_000).contains(&self.concurrency), "1..=1000"),
            ("WEBHOOK_PER_HOST_CONCURRENCY", (1..=100).contains(&self.per_host_concurrency), "1..=100"),
            ("WEBHOOK_BATCH", (1..=1_000).contains(&self.batch), "1..=1000"),
            ("WEBHOOK_POLL_MS", (10..=60_000).contains(&self.poll_ms), "10..=60000"),
            ("WEBHOOK_BACKOFF_BASE_MS", (1..=3_600_000).contains(&self.backoff_base_ms), "1..=3600000"),
            (
                "WEBHOOK_BACKOFF_MAX_MS",
                (self.backoff_base_ms..=86_400_000).contains(&self.backoff_max_ms),
                "WEBHOOK_BACKOFF_BASE_MS..=86400000",
            ),
            ("WEBHOOK_RETRY_WINDOW_SECS", (1..=604_800).contains(&self.retry_window_secs), "1..=604800"),
            ("WEBHOOK_DISABLE_AFTER_SECS", (1..=2_592_000).contains(&self.disable_after_secs), "1..=2592000"),
            ("WEBHOOK_KEEP_DAYS", (1..=3_650).contains(&self.keep_days), "1..=3650"),
        ])?;
        Ok(private)
    }
}

/// The dispatcher on the consumer runtime.
pub type App = ghostlink_runtime::Service<Dispatcher>;

/// Fans events out into deliveries; runs the delivery loop, the outbox relay and the backlog
/// sampler beside.
pub struct Dispatcher {
    db: Db,
    redis: RedisCache,
    deliverer: Arc<Deliverer>,
    publisher: Arc<Publisher>,
    keep_days: i32,
    log: slog::Logger,
}

impl Handler for Dispatcher {
    type Config = Config;
    const SPEC: Spec =
        Spec::new(SERVICE, "127.0.0.1:9107", "consuming link, click and finding events").tuning(64, 64, 50);

    fn service(config: &Config) -> &ServiceArgs {
        &config.service
    }

    fn build(config: Config, ctx: &Context) -> anyhow::Result<Self> {
        let policy = config.resolve()?;
        if !policy.is_deny() {
            slog::warn!(ctx.log, "webhooks may reach private addresses (WEBHOOK_ALLOW_PRIVATE_TARGETS); never in production";
                "allowed" => &config.allow_private_targets);
        }
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = ghostlink_egress::client_builder(&policy)
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .timeout(timeout)
            .user_agent(config.user_agent.clone())
            .pool_max_idle_per_host(2)
            .build()?;
        let redis = deps::invalidation_cache(&config.redis)?;
        for result in ["delivered", "retrying", "failed", "disabled"] {
            metrics::counter!("webhook_deliveries_total", "result" => result).increment(0);
        }
        let deliverer = Arc::new(Deliverer {
            db: ctx.db.clone(),
            redis: redis.clone(),
            client,
            policy,
            schedule: Schedule {
                base: Duration::from_millis(config.backoff_base_ms),
                max: Duration::from_millis(config.backoff_max_ms),
                window: Duration::from_secs(config.retry_window_secs),
            },
            timeout,
            per_host: config.per_host_concurrency,
            disable_after: Duration::from_secs(config.disable_after_secs),
            concurrency: Arc::new(Semaphore::new(config.concurrency)),
            batch: config.batch,
            poll: Duration::from_millis(config.poll_ms),
            wake: Arc::new(Notify::new()),
            relay: Arc::new(Notify::new()),
            replica: uuid::Uuid::now_v7().to_string(),
            log: ctx.log.clone(),
        });
        Ok(Self {
            db: ctx.db.clone(),
            redis,
            deliverer,
            publisher: Arc::new(ctx.publisher()),
            keep_days: config.keep_days,
            log: ctx.log.clone(),
        })
    }

    fn readiness(&self) -> Vec<ReadinessCheck> {
        let redis = self.redis.clone();
        vec![ReadinessCheck::new("redis", true, move || {
            let redis = redis.clone();
            async move { redis.ping().await.map_err(|e| e.to_string()) }
        })]
    }

    fn background(self: &Arc<Self>, ctx: &Context) -> Vec<Task> {
        let relay = ghostlink_outbox::Relay {
            db: self.db.clone(),
            publisher: self.publisher.clone(),
            notify: self.deliverer.relay.clone(),
            log: self.log.clone(),
        };
        let db = self.db.clone();
        let (prune_db, keep, log) = (self.db.clone(), self.keep_days, self.log.clone());
        vec![
            Task::until_stopped(
                "delivery loop",
                Duration::from_secs(30),
                self.deliverer.clone().run(ctx.stop.watch()),
            ),
            Task::until_stopped("outbox relay", Duration::from_secs(10), relay.run(ctx.stop.watch())),
            Task::every("backlog", Duration::from_secs(5), move || sample_backlog(db.clone())),
            Task::every("prune", Duration::from_secs(3_600), move || {
                prune(prune_db.clone(), keep, log.clone())
            }),
        ]
    }

    async fn handle(&self, batch: Vec<Incoming>) -> Vec<Verdict> {
        let mut verdicts = Vec::with_capacity(batch.len());
        let mut hooks = Vec::new();
        for msg in &batch {
            let mut verdict = Verdict::Ack;
            for event in Event::decode_lines(&msg.payload) {
                match event {
                    Ok(e) => hooks.extend(fanout::hook_of(&e)),
                    Err(e) => {
                        slog::warn!(self.log, "undecodable event"; "error" => %e, "routing_key" => &msg.routing_key);
                        verdict = Verdict::Reject;
                    }
                }
            }
            verdicts.push(verdict);
        }
        if hooks.is_empty() {
            return verdicts;
        }
        let written = self
            .db
            .run(move |c| {
                let mut codes: Vec<String> = hooks.iter().map(|h| h.code.clone()).collect();
                codes.sort();
                codes.dedup();
                let workspace_of: HashMap<String, i64> =
                    store::workspaces_of(c, &codes)?.into_iter().collect();
                let mut workspaces: Vec<i64> = workspace_of.values().copied().collect();
                workspaces.sort_unstable();
                workspaces.dedup();
                let subscribers = store::subscribers(c, &workspaces)?;
                let deliveries = fanout::deliveries(&hooks, &workspace_of, &subscribers);
                store::enqueue(c, &deliveries)
            })
            .await;
        match written {
            Ok(n) => {
                metrics::counter!("webhook_deliveries_created_total").increment(n as u64);
                if n > 0 {
                    self.deliverer.wake.notify_one();
                }
                verdicts
            }
            Err(e) => {
                slog::warn!(self.log, "writing deliveries failed; the batch is held"; "error" => %e);
                batch.iter().map(|_| Verdict::Retry).collect()
            }
        }
    }

    async fn close(&self) {
        self.publisher.close().await;
    }
}

/// The due backlog and its oldest age, for the backlog alert.
async fn sample_backlog(db: Db) {
    if let Ok((due, oldest)) = db.run(store::backlog).await {
        metrics::gauge!("webhook_backlog").set(due as f64);
        metrics::gauge!("webhook_backlog_oldest_seconds").set(oldest);
    }
}

/// Drops finished deliveries past `WEBHOOK_KEEP_DAYS` (every replica may; the delete is
/// idempotent).
async fn prune(db: Db, keep_days: i32, log: slog::Logger) {
    match db.run(move |c| store::prune(c, keep_days)).await {
        Ok(0) => {}
        Ok(n) => slog::info!(log, "pruned finished webhook deliveries"; "count" => n),
        Err(e) => slog::warn!(log, "pruning webhook deliveries failed"; "error" => %e),
    }
}
