//! A service binary's whole `main`, the same for every service: the configuration parsed and
//! checked before anything is bound, the signal handlers installed before the service says it
//! is listening, the service built (bad configuration found while building exits 2 too) and run
//! until SIGTERM or SIGINT.

use std::future::Future;
use std::pin::Pin;

use anyhow::Context as _;
use ghostlink_config::ServiceConfig;

/// What a service's `run` is handed in production: resolves on SIGTERM or SIGINT.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An HTTP service's `main`: `ghostlink_web::serve(App::build, App::run)`. Parses `C` from flags
/// and environment and checks it (a bad value exits 2 naming the setting), then runs on
/// [`crate::runtime`], sized by the database pool, [`run_until_signal`].
pub fn serve<C, A, F>(
    build: impl FnOnce(C) -> anyhow::Result<A>,
    run: impl FnOnce(A, Shutdown) -> F,
) -> anyhow::Result<()>
where
    C: ServiceConfig,
    F: Future<Output = anyhow::Result<()>>,
{
    let config: C = ghostlink_config::parse_or_exit();
    let runtime = crate::runtime(config.shared().database.db_pool_size)?;
    run_until_signal(&runtime, config, build, run)
}

/// On `runtime`: installs the SIGTERM/SIGINT handlers, then builds the service from `config` (a
/// `ConfigError` in the answer exits 2) and runs it until either signal arrives. The handlers
/// come first: a SIGTERM sent once the service has said "listening" must drain it, not kill it.
pub fn run_until_signal<C, A, F>(
    runtime: &tokio::runtime::Runtime,
    config: C,
    build: impl FnOnce(C) -> anyhow::Result<A>,
    run: impl FnOnce(A, Shutdown) -> F,
) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<()>>,
{
    runtime.block_on(async move {
        let stop: Shutdown = Box::pin(crate::shutdown_signal().context("installing the signal handlers")?);
        let service = crate::deps::exit_on_config_error(build(config))?;
        let result = run(service, stop).await;
        // The spans still queued go out before the process ends (blocks up to the export timeout).
        let _ = tokio::task::spawn_blocking(ghostlink_telemetry::trace::shutdown).await;
        result
    })
}
