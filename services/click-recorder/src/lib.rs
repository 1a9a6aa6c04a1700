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

use std::time::Duration;

use clap::Parser;
use ghostlink_bus::{Incoming, Publisher, Verdict};
use ghostlink_db::Db;
use ghostlink_runtime::{Context, Handler, ServiceArgs, Spec, Stop};

const SERVICE: &str = "click-recorder";

/// GhostLink click recorder.
#[derive(Debug, Clone, Parser)]
#[command(name = "ghostlink-click-recorder", version, about)]
pub struct Config {
    #[command(flatten)]
    pub service: ServiceArgs,
}

/// The recorder on the consumer runtime.
pub type App = ghostlink_runtime::Service<Recorder>;

/// Stores the click events of a batch (their messages in one insert) and dead-letters the ones
/// Postgres refuses.
pub struct Recorder {
    db: Db,
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

    fn build(_config: Config, ctx: &Context) -> anyhow::Result<Self> {
        Ok(Self {
            db: ctx.db.clone(),
            dead_letters: ctx.publisher(),
            stop: ctx.stop.clone(),
            log: ctx.log.clone(),
        })
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
