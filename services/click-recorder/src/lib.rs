//! GhostLink click recorder: consumes `click.recorded` events from its quorum work queue and
//! writes them to Postgres in batches, idempotently by event id, acknowledging a batch only
//! after its insert committed.
//!
//! Several replicas share the queue (competing consumers), so the recorder scales out by adding
//! replicas. A Postgres outage holds the batch in hand (unacknowledged, retried with backoff),
//! never dead-letters it. An event that can never be stored (undecodable, or values Postgres
//! refuses: SQLSTATE class 22 or 23) goes to the dead-letter queue at once, alone, with its
//! reason, and the rest of its message is stored and acknowledged; a row that keeps failing
//! otherwise takes its message there after the queue's delivery limit. (The stream, not this
//! queue, is the replay log: `ghostctl replay clicks` applies it with the same handler.)

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ghostlink_bus::{Incoming, Publisher, Verdict};
use ghostlink_config::ConfigError;
use ghostlink_db::Db;
use ghostlink_runtime::{Context, Handler, ServiceArgs, Spec, Stop, Task};

const SERVICE: &str = "click-recorder";

/// GhostLink click recorder.
#[derive(Debug, Clone, Parser)]
#[command(name = "ghostlink-click-recorder", version, about)]
pub struct Config {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// UTC days of raw clicks kept (today included); older days' partitions are dropped whole,
    /// rollups stay. 0 keeps every day.
    #[arg(long, env = "CLICK_RETENTION_DAYS", default_value_t = 400)]
    pub click_retention_days: u32,
    /// Daily partitions made ahead of today, so no click waits for one.
    #[arg(long, env = "CLICK_PARTITIONS_AHEAD", default_value_t = 7)]
    pub click_partitions_ahead: u32,
    /// How often partitions are made and retention applied, in seconds.
    #[arg(long, env = "CLICK_MAINTENANCE_SECS", default_value_t = 3600)]
    pub click_maintenance_secs: u64,
}

impl Config {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.click_retention_days > 36_500 {
            return Err(ConfigError::new(
                "CLICK_RETENTION_DAYS (--click-retention-days)",
                "at most 36500 (0 keeps every day)",
            ));
        }
        if !(1..=366).contains(&self.click_partitions_ahead) {
            return Err(ConfigError::new(
                "CLICK_PARTITIONS_AHEAD (--click-partitions-ahead)",
                "between 1 and 366",
            ));
        }
        if !(1..=86_400).contains(&self.click_maintenance_secs) {
            return Err(ConfigError::new(
                "CLICK_MAINTENANCE_SECS (--click-maintenance-secs)",
                "between 1 and 86400",
            ));
        }
        Ok(())
    }
}

/// The recorder on the consumer runtime.
pub type App = ghostlink_runtime::Service<Recorder>;

/// Stores the click events of a batch (their messages in one insert) and dead-letters the ones
/// Postgres refuses.
pub struct Recorder {
    db: Db,
    retention_days: u32,
    partitions_ahead: u32,
    maintenance_every: Duration,
    dead_letters: Publisher,
    stop: Stop,
    log: slog::Logger,
}

impl Handler for Recorder {
    type Config = Config;
    /// A message carries up to a few hundred events; a batch of messages is one insert.
    const SPEC: Spec = Spec::new(SERVICE, "127.0.0.1:9106", "consuming click events")
        .tuning(64, 16, 50)
        .statement_timeout(Duration::from_secs(30));

    fn service(config: &Config) -> &ServiceArgs {
        &config.service
    }

    fn build(config: Config, ctx: &Context) -> anyhow::Result<Self> {
        config.validate()?;
        Ok(Self {
            db: ctx.db.clone(),
            retention_days: config.click_retention_days,
            partitions_ahead: config.click_partitions_ahead,
            maintenance_every: Duration::from_secs(config.click_maintenance_secs),
            dead_letters: ctx.publisher(),
            stop: ctx.stop.clone(),
            log: ctx.log.clone(),
        })
    }

    /// Partitions ahead and retention, on every replica (each step is idempotent).
    fn background(self: &Arc<Self>, _ctx: &Context) -> Vec<Task> {
        let me = self.clone();
        vec![Task::every("click partitions", self.maintenance_every, move || {
            let me = me.clone();
            async move { me.maintain().await }
        })]
    }

    /// A database outage holds the batch until shutdown starts (then it is handed back).
    async fn handle(&self, batch: Vec<Incoming>) -> Vec<Verdict> {
        let keys: Vec<String> = batch.iter().map(|m| m.routing_key.clone()).collect();
        let payloads: Vec<Vec<u8>> = batch.into_iter().map(|m| m.payload).collect();
        let out = ghostlink_recorder::apply(&self.db, &payloads, &self.log, || self.stop.is_stopping()).await;
        dead_letter_refused(&self.dead_letters, &keys, out, &self.log).await
    }

    async fn close(&self) {
        self.dead_letters.close().await;
    }
}

impl Recorder {
    /// Makes the coming days' partitions and applies retention; a failure is logged and
    /// counted, and the next round tries again (clicks of a day without a partition get one on
    /// the way in).
    async fn maintain(&self) {
        let (ahead, keep) = (self.partitions_ahead, self.retention_days);
        let done = self
            .db
            .run(move |c| {
                let made =
                    ghostlink_db::clicks::ensure_partitions(c, chrono::Utc::now().date_naive(), ahead)?;
                let retention =
                    if keep > 0 { Some(ghostlink_db::clicks::set_retention(c, keep)?) } else { None };
                Ok((made, retention))
            })
            .await;
        match done {
            Ok((made, retention)) => {
                metrics::counter!("click_partitions_created_total").increment(made as u64);
                let dropped = retention.map(|r| r.dropped).unwrap_or_default();
                metrics::counter!("click_partitions_dropped_total").increment(dropped.len() as u64);
                if made > 0 || !dropped.is_empty() {
                    slog::info!(self.log, "click partitions maintained"; "created" => made, "dropped" => dropped.join(","));
                }
            }
            Err(e) => {
                metrics::counter!("db_errors_total", "op" => "click_partitions").increment(1);
                slog::warn!(self.log, "click partition maintenance failed; retrying next round"; "error" => %e);
            }
        }
    }
}

/// Dead-letters each event the handler refused, alone, with its reason; a message whose refused
/// event could not be dead-lettered (the broker failed) is retried instead of acknowledged, so
/// nothing is lost: its stored events are duplicates next time.
async fn dead_letter_refused(
    publisher: &Publisher,
    routing_keys: &[String],
    out: ghostlink_recorder::Outcome,
    log: &slog::Logger,
) -> Vec<Verdict> {
    let mut verdicts = out.verdicts;
    for r in &out.refused {
        if verdicts[r.message] != Verdict::Ack {
            continue;
        }
        let reason = format!("{}: {}", r.reason.as_str(), r.detail);
        let key = routing_keys.get(r.message).map_or("click.recorded", String::as_str);
        if let Err(e) =
            ghostlink_bus::consumer::dead_letter(publisher, SERVICE, key, &r.payload, &reason).await
        {
            slog::warn!(log, "could not dead-letter a refused click; retrying its message"; "error" => %e);
            verdicts[r.message] = Verdict::Retry;
        }
    }
    verdicts
}
