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

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ghostlink_bus::{ConsumerSettings, Publisher, Topology, Verdict};
use ghostlink_config::{AmqpArgs, ConfigError, DatabaseArgs, ListenArgs, LogArgs, Validate};
use ghostlink_db::Db;
use ghostlink_web::{deps, OpsServer};

const SERVICE: &str = "click-recorder";

/// GhostLink click recorder.
#[derive(Debug, Clone, Parser)]
#[command(name = "ghostlink-click-recorder", version, about)]
pub struct Config {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub amqp: AmqpArgs,
    /// Ops listener (default 127.0.0.1:9106); `--listen` is unused (no public API).
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// Messages delivered ahead of acknowledgement (a message carries up to a few hundred events).
    #[arg(long, env = "RECORDER_PREFETCH", default_value_t = 64)]
    pub prefetch: u16,
    /// Messages handled together (their events go into one insert).
    #[arg(long, env = "RECORDER_BATCH_SIZE", default_value_t = 16)]
    pub batch_size: usize,
    /// How long to wait to fill a batch, in milliseconds.
    #[arg(long, env = "RECORDER_BATCH_WAIT_MS", default_value_t = 50)]
    pub batch_wait_ms: u64,
}

impl Config {
    pub fn resolve(&self) -> Result<SocketAddr, ConfigError> {
        self.database.validate()?;
        self.amqp.validate()?;
        if self.prefetch == 0 {
            return Err(ConfigError::new("RECORDER_PREFETCH (--prefetch)", "must be greater than 0"));
        }
        if self.batch_size == 0 || self.batch_size > 10_000 {
            return Err(ConfigError::new(
                "RECORDER_BATCH_SIZE (--batch-size)",
                "must be between 1 and 10000",
            ));
        }
        self.listen.ops_or("127.0.0.1:9106")
    }
}

/// A built, bound recorder.
pub struct App {
    config: Config,
    db: Db,
    ops: OpsServer,
    connected: Arc<AtomicBool>,
    log: slog::Logger,
}

impl App {
    /// Validates the config and binds the ops listener; connects to nothing yet.
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let ops_addr = config.resolve()?;
        let log = ghostlink_telemetry::logger(SERVICE, config.log.log_level);
        let handle = ghostlink_telemetry::metrics_handle(SERVICE);
        let db = deps::database(&config.database, Duration::from_secs(30));
        let connected = Arc::new(AtomicBool::new(false));
        let conn_check = connected.clone();
        let ops = OpsServer::bind(
            ops_addr,
            SERVICE,
            handle,
            vec![deps::postgres_check(db.clone()), deps::consumer_check(conn_check)],
            vec![deps::pool_sampler(db.clone())],
        )?;
        slog::info!(log, "click recorder listening"; "ops" => %ops.addr);
        Ok(Self { config, db, ops, connected, log })
    }

    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.addr
    }

    /// Consumes until `shutdown` resolves; the batch in hand is finished and acknowledged first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let ops_handle = self.ops.server.handle();
        let ops = tokio::spawn(self.ops.server);
        let lag = tokio::spawn(ghostlink_bus::sample_queue_depths(
            self.config.amqp.amqp_url.clone(),
            Topology::new(self.config.amqp.bus_prefix.clone()),
            SERVICE,
        ));
        let stopping = Arc::new(AtomicBool::new(false));
        let settings = ConsumerSettings {
            url: self.config.amqp.amqp_url.clone(),
            topology: Topology::new(self.config.amqp.bus_prefix.clone()),
            name: SERVICE.to_string(),
            prefetch: self.config.prefetch,
            batch_size: self.config.batch_size,
            batch_wait: Duration::from_millis(self.config.batch_wait_ms),
        };
        let (db, log, stop_flag, conn) =
            (self.db.clone(), self.log.clone(), stopping.clone(), self.connected.clone());
        let log2 = self.log.clone();
        let dead_letters = Arc::new(Publisher::new(
            self.config.amqp.amqp_url.clone(),
            Topology::new(self.config.amqp.bus_prefix.clone()),
        ));
        let dl = dead_letters.clone();
        let shutdown = async move {
            shutdown.await;
            stopping.store(true, Ordering::Relaxed);
        };
        ghostlink_bus::run_consumer(
            settings,
            move |batch| {
                let (db, log, stop_flag, dl) = (db.clone(), log.clone(), stop_flag.clone(), dl.clone());
                async move {
                    let keys: Vec<String> = batch.iter().map(|m| m.routing_key.clone()).collect();
                    let payloads: Vec<Vec<u8>> = batch.into_iter().map(|m| m.payload).collect();
                    let out =
                        ghostlink_recorder::apply(&db, &payloads, &log, || stop_flag.load(Ordering::Relaxed))
                            .await;
                    dead_letter_refused(&dl, &keys, out, &log).await
                }
            },
            shutdown,
            deps::consumer_state(conn, log2, "consuming click events"),
        )
        .await;
        lag.abort();
        dead_letters.close().await;
        ops_handle.stop(true).await;
        let _ = ops.await;
        slog::info!(self.log, "stopped");
        Ok(())
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
