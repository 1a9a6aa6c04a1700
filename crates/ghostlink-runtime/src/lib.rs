//! The one way to build a GhostLink consumer service, in the spirit of crates.io's background
//! job runner: a service is a [`Handler`] (what it does with a batch of messages, the few tasks
//! it runs beside the consumer, the dependencies its readiness names) plus its own `Config`,
//! and [`run_consumer_service`] does everything else the same way for every consumer.
//!
//! What the runtime does, so no service writes it again:
//! - parses the config once, checks the shared blocks ([`ServiceArgs`]: database, broker, ops
//!   listener, log, consumer tuning) and then the service's own settings, before anything is
//!   bound or connected; a bad value exits 2 naming the setting ([`main`]);
//! - the JSON logger and the Prometheus recorder, labelled with the service's name ([`Spec`]);
//! - the Postgres pool, the ops listener (`/metrics`, `/healthz`, `/readyz` with Postgres, the
//!   handler's own checks and the consumer's connection), the queue-depth sampler;
//! - the consumer loop on `<prefix>.<name>` with the tuning from `CONSUMER_*` (prefetch, batch
//!   size and wait, concurrency, delivery limit; defaults per service: [`Spec::consumer`]);
//! - graceful shutdown: on SIGTERM the [`Stop`] fires, the batches in hand are finished and
//!   acknowledged, background tasks are awaited within their grace, samplers aborted, then the
//!   handler closes what it opened and the ops listener stops.
//!
//! A binary's `main.rs` is `fn main() { ghostlink_runtime::main::<TheHandler>() }`.

mod args;
mod handler;
mod service;
pub mod testing;

pub use args::{tuning, ResolvedArgs, ServiceArgs};
pub use ghostlink_bus::{Incoming, Verdict};
pub use ghostlink_config::ConsumerTuning;
pub use handler::{Context, Handler, Spec, Stop, Task};
pub use service::{main, run_consumer_service, Service};
