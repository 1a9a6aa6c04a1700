//! Shared actix-web pieces for every GhostLink HTTP service.
//!
//! - [`ApiError`]: the one place an error becomes an HTTP status and the JSON body
//!   `{"error": {"code": "...", "message": "..."}}`.
//! - [`JsonBody`]: JSON request bodies read under a size limit counted as they stream and a
//!   deadline, identity encoding only ([`body`]).
//! - [`extractor_configs`]: query/path extractor errors answered in that same shape.
//! - [`observe`]: middleware giving every request an `X-Request-Id` and recording
//!   `http_requests_total`, `http_request_duration_seconds` and `http_requests_in_flight`.
//! - [`client_ip`]: the client's address through the proxies we trust (`TRUSTED_PROXIES`).
//! - [`ops`]: the ops listener (`/metrics`, `/healthz`, `/readyz`, `/system`), [`system`]: the
//!   host and process telemetry of `/system`, and [`deps`]: the readiness checks and pool
//!   sampler every service wires for its dependencies.
//! - [`serve`]: a service binary's whole `main` ([`run_until_signal`] beneath it).

pub mod body;
pub mod client;
pub mod deps;
pub mod error;
pub mod observe;
pub mod ops;
mod serve;
pub mod system;

pub use body::{BodyLimits, JsonBody};
pub use client::client_ip;
pub use error::{extractor_configs, not_found, ApiError};
pub use observe::{access_log, observe, AccessLog, RequestId};
pub use ops::{OpsServer, ReadinessCheck};
pub use serve::{run_until_signal, serve, Shutdown};
pub use system::WatchedDir;

/// Installs the SIGTERM and SIGINT handlers now and returns the future that resolves when either
/// arrives: the production shutdown signal handed to `App::run`. Call it before the service says
/// it is listening — a handler installed on first poll left a window in which SIGTERM still had
/// its default action and killed the process instead of draining it. Must run inside a Tokio
/// runtime. Tests hand their own future instead.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// The multi-threaded runtime a service's `main` runs on, with its blocking pool (where every
/// database call runs, see `ghostlink_db::Db`) bounded to the database pool's size plus a few:
/// more threads could only wait for a connection, and an unbounded pool grew to dozens of
/// threads under load, each holding allocator memory of its own.
pub fn runtime(db_pool_size: u32) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(db_pool_size.max(1) as usize + 4)
        .build()
}
