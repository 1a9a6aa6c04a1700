//! What a consumer service is: a [`Handler`], the [`Context`] the runtime builds it with, the
//! [`Stop`] signal and the [`Task`]s it runs beside the consumer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ghostlink_bus::{Incoming, Publisher, Topology, Verdict};
use ghostlink_config::ConsumerTuning;
use ghostlink_db::Db;
use ghostlink_web::ReadinessCheck;
use tokio::sync::watch;

use crate::ServiceArgs;

/// One consumer service: what it does with a batch of messages from its queue
/// (`<prefix>.<name>`), and what else it runs.
pub trait Handler: Send + Sync + Sized + 'static {
    /// The service's settings: [`ServiceArgs`] flattened, plus its own flags.
    type Config: clap::Parser + Send + 'static;
    /// Its name, ops port and defaults.
    const SPEC: Spec;

    /// The shared block of `config`.
    fn service(config: &Self::Config) -> &ServiceArgs;

    /// Checks the service's own settings (a [`ghostlink_config::ConfigError`] exits 2) and
    /// builds the handler. Connects to nothing: dependencies are reached lazily.
    fn build(config: Self::Config, ctx: &Context) -> anyhow::Result<Self>;

    /// Readiness checks besides Postgres and the consumer's connection.
    fn readiness(&self) -> Vec<ReadinessCheck> {
        Vec::new()
    }

    /// Tasks run beside the consumer (schedulers, relays, samplers).
    fn background(self: &Arc<Self>, _ctx: &Context) -> Vec<Task> {
        Vec::new()
    }

    /// One verdict per message of `batch`, in order (a missing one is a retry). Up to the
    /// consumer's concurrency of these run at once.
    fn handle(&self, batch: Vec<Incoming>) -> impl Future<Output = Vec<Verdict>> + Send;

    /// Closes what the handler opened (publishers), after the consumer and the tasks stopped.
    fn close(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// What the runtime needs to know of a service before it builds it.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The consumer's name: its queue, and the `service` of its logs and metrics.
    pub name: &'static str,
    /// The ops listener's address unless `OPS_LISTEN_ADDR` says otherwise.
    pub ops_addr: &'static str,
    /// What the consumer does, logged when it (re)connects: "consuming click events".
    pub consumes: &'static str,
    /// Prefetch, batch size and wait, concurrency and delivery limit unless `CONSUMER_*` say
    /// otherwise.
    pub consumer: ConsumerTuning,
    /// The statement timeout of the service's Postgres pool.
    pub statement_timeout: Duration,
}

impl Spec {
    /// A service consuming with prefetch 32, batches of up to 16 messages gathered for 20 ms,
    /// one at a time, dead-lettered at the queue's own delivery limit; statements of 10 s.
    pub const fn new(name: &'static str, ops_addr: &'static str, consumes: &'static str) -> Self {
        Self {
            name,
            ops_addr,
            consumes,
            consumer: crate::tuning(32, 16, 20),
            statement_timeout: Duration::from_secs(10),
        }
    }

    /// Other prefetch, batch size and batch wait defaults.
    pub const fn tuning(self, prefetch: u16, batch_size: usize, batch_wait_ms: u64) -> Self {
        Self { consumer: crate::tuning(prefetch, batch_size, batch_wait_ms), ..self }
    }

    /// Another statement timeout.
    pub const fn statement_timeout(self, timeout: Duration) -> Self {
        Self { statement_timeout: timeout, ..self }
    }
}

/// What the runtime hands a handler to build itself with.
#[derive(Clone)]
pub struct Context {
    pub log: slog::Logger,
    /// The service's pool (its size and timeouts from `DB_*`).
    pub db: Db,
    pub amqp_url: String,
    pub topology: Topology,
    /// Fires when shutdown starts.
    pub stop: Stop,
}

impl Context {
    /// A confirming publisher on the service's broker (connects on first use).
    pub fn publisher(&self) -> Publisher {
        Publisher::new(self.amqp_url.clone(), self.topology.clone())
    }
}

/// Shutdown has started: the consumer finishes the batches in hand, tasks wind down.
#[derive(Clone)]
pub struct Stop(pub(crate) watch::Receiver<bool>);

impl Stop {
    pub fn is_stopping(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown has started.
    pub async fn stopped(&self) {
        let mut rx = self.0.clone();
        // An error means the sender is gone with the service: stopped as well.
        let _ = rx.wait_for(|stopping| *stopping).await;
    }

    /// The signal as a watch receiver (`true` once stopping), for code that takes one.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.0.clone()
    }
}

pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A task run beside the consumer.
pub struct Task {
    pub(crate) name: &'static str,
    pub(crate) future: TaskFuture,
    /// `Some`: ends after [`Stop`] fires, awaited that long at shutdown; `None`: runs until
    /// aborted (a sampler).
    pub(crate) grace: Option<Duration>,
}

impl Task {
    /// A task that ends on its own once [`Stop`] fires; shutdown waits up to `grace` for it
    /// (after the consumer finished), then abandons it.
    pub fn until_stopped(
        name: &'static str,
        grace: Duration,
        future: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        Self { name, future: Box::pin(future), grace: Some(grace) }
    }

    /// `sample` every `period` (the first at once) until shutdown aborts it.
    pub fn every<F, Fut>(name: &'static str, period: Duration, mut sample: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let future = async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                sample().await;
            }
        };
        Self { name, future: Box::pin(future), grace: None }
    }
}
