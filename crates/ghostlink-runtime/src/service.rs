//! [`Service`]: a handler built, its ops listener bound, and the run loop every consumer shares.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;
use ghostlink_bus::{ConsumerSettings, Incoming, Topology, Verdict};
use ghostlink_telemetry::trace::{self, Attribute, FutureExt as _};
use ghostlink_web::{deps, OpsServer, WatchedDir};
use tokio::sync::watch;

use crate::handler::{Context, Handler, Stop};

/// A built consumer service: config checked, handler built, ops listener bound; nothing
/// connected yet.
pub struct Service<H: Handler> {
    handler: Arc<H>,
    ctx: Context,
    ops: OpsServer,
    settings: ConsumerSettings,
    connected: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
}

impl<H: Handler> Service<H> {
    /// Checks the shared settings, then the handler's (a `ConfigError` in the answer is bad
    /// configuration), builds the handler and binds the ops listener (port 0 works).
    pub fn build(config: H::Config) -> anyhow::Result<Self> {
        let args = H::service(&config);
        let resolved = args.resolve(H::SPEC.ops_addr, H::SPEC.consumer)?;
        let log = ghostlink_telemetry::logger(H::SPEC.name, args.shared.log.log_level);
        // Consumers continue their producers' traces (parent-based); they start none of their own.
        ghostlink_telemetry::trace::install(&args.shared.trace, H::SPEC.name, 1.0, &log)?;
        let metrics = ghostlink_telemetry::metrics_handle(H::SPEC.name);
        let db = deps::database(&args.shared.database, H::SPEC.statement_timeout);
        let topology = Topology::new(args.shared.amqp.bus_prefix.clone());
        let t = resolved.consumer;
        let settings = ConsumerSettings {
            url: args.shared.amqp.amqp_url.clone(),
            topology: topology.clone(),
            name: H::SPEC.name.to_string(),
            prefetch: t.prefetch,
            batch_size: t.batch_size,
            batch_wait: t.batch_wait,
            concurrency: t.concurrency,
            delivery_limit: t.delivery_limit,
        };
        let dirs = vec![WatchedDir::new("data", &args.shared.listen.data_dir)];
        let (stop, stopping) = watch::channel(false);
        let ctx = Context {
            log: log.clone(),
            db: db.clone(),
            amqp_url: args.shared.amqp.amqp_url.clone(),
            topology,
            stop: Stop(stopping),
        };
        let handler = Arc::new(H::build(config, &ctx)?);
        let connected = Arc::new(AtomicBool::new(false));
        let mut checks = vec![deps::postgres_check(db.clone())];
        checks.extend(handler.readiness());
        checks.push(deps::consumer_check(connected.clone()));
        let ops =
            OpsServer::bind(resolved.ops, H::SPEC.name, metrics, checks, vec![deps::pool_sampler(db)], dirs)?;
        slog::info!(log, "listening"; "ops" => %ops.addr, "consumer.prefetch" => t.prefetch,
            "consumer.batch_size" => t.batch_size, "consumer.concurrency" => t.concurrency,
            "consumer.delivery_limit" => t.delivery_limit);
        Ok(Self { handler, ctx, ops, settings, connected, stop })
    }

    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.addr
    }

    pub fn handler(&self) -> &Arc<H> {
        &self.handler
    }

    /// Consumes until `shutdown` resolves; then finishes the batches in hand, lets the
    /// background tasks end within their grace, closes the handler and the ops listener.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Self { handler, ctx, ops, settings, connected, stop } = self;
        let log = ctx.log.clone();
        let ops_handle = ops.server.handle();
        let ops = tokio::spawn(ops.server);
        let mut samplers = vec![tokio::spawn(ghostlink_bus::sample_queue_depths(
            ctx.amqp_url.clone(),
            ctx.topology.clone(),
            H::SPEC.name,
        ))];
        let mut stoppable = Vec::new();
        for task in handler.background(&ctx) {
            let running = tokio::spawn(task.future);
            match task.grace {
                Some(grace) => stoppable.push((task.name, grace, running)),
                None => samplers.push(running),
            }
        }
        let shutdown = async move {
            shutdown.await;
            stop.send_replace(true);
        };
        let consumer = handler.clone();
        ghostlink_bus::run_consumer(
            settings,
            move |batch| {
                let handler = consumer.clone();
                let span = consume_span(H::SPEC.name, &batch);
                async move {
                    let Some(cx) = span else { return handler.handle(batch).await };
                    let verdicts = handler.handle(batch).with_context(cx.clone()).await;
                    let failed = verdicts.iter().filter(|v| **v != Verdict::Ack).count();
                    trace::finish(
                        &cx,
                        (failed > 0).then(|| format!("{failed} messages not handled")).as_deref(),
                    );
                    verdicts
                }
            },
            shutdown,
            deps::consumer_state(connected, log.clone(), H::SPEC.consumes),
        )
        .await;
        for (name, grace, mut running) in stoppable {
            match tokio::time::timeout(grace, &mut running).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => slog::error!(log, "a background task failed"; "task" => name, "error" => %e),
                Err(_) => {
                    slog::warn!(log, "a background task did not stop in time; abandoned"; "task" => name,
                        "grace_secs" => grace.as_secs());
                    running.abort();
                }
            }
        }
        for sampler in samplers {
            sampler.abort();
        }
        handler.close().await;
        ops_handle.stop(true).await;
        match ops.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => slog::warn!(log, "the ops listener failed"; "error" => %e),
            Err(e) => slog::warn!(log, "the ops listener task failed"; "error" => %e),
        }
        slog::info!(log, "stopped");
        Ok(())
    }
}

/// Builds the service from `config` and runs it until `shutdown` resolves.
pub async fn run_consumer_service<H: Handler>(
    config: H::Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    Service::<H>::build(config)?.run(shutdown).await
}

/// A consumer binary's whole `main`: parses the config (from flags and environment), runs the
/// service until SIGTERM or Ctrl-C. Bad configuration exits 2 naming the setting; any other
/// failure to start exits 1.
pub fn main<H: Handler>() {
    let config = H::Config::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = ghostlink_web::run_until_signal(&runtime, config, Service::<H>::build, Service::run) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// The span a batch is handled in, continuing its producers' traces: one message's context is
/// its parent; several traces are linked from one span of its own. A batch none of whose
/// messages carries a context (clicks) starts no trace.
fn consume_span(consumer: &'static str, batch: &[Incoming]) -> Option<trace::TraceContext> {
    if !trace::enabled() {
        return None;
    }
    let parents: Vec<_> = batch
        .iter()
        .filter(|m| m.traceparent.is_some())
        .map(|m| trace::extract(m.traceparent.as_deref(), m.tracestate.as_deref()))
        .collect();
    let first = batch.first()?;
    let attributes = vec![
        Attribute::new("messaging.system", "rabbitmq"),
        Attribute::new("messaging.operation.type", "process"),
        Attribute::new("messaging.consumer.group.name", consumer),
        Attribute::new("messaging.destination.name", first.routing_key.clone()),
        Attribute::new("messaging.batch.message_count", batch.len() as i64),
    ];
    match parents.as_slice() {
        [] => None,
        [parent] if batch.len() == 1 => {
            trace::start(format!("process {}", first.routing_key), trace::kind::Consumer, parent, attributes)
        }
        linked => trace::start_linked(
            format!("process {} batch", first.routing_key),
            trace::kind::Consumer,
            linked,
            attributes,
        ),
    }
}
