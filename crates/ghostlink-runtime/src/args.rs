//! The settings every consumer service shares, flattened into each service's `Config` as one
//! block, and resolved once.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use ghostlink_config::{
    AmqpArgs, ConfigError, ConsumerArgs, ConsumerTuning, DatabaseArgs, ListenArgs, LogArgs, Validate,
};

/// Postgres, RabbitMQ, the ops listener, logging and the consumer's tuning.
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub amqp: AmqpArgs,
    /// The ops listener (default per service); `--listen` is unused (no public API).
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub consumer: ConsumerArgs,
}

/// [`ServiceArgs`] checked, with the service's defaults filled in.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedArgs {
    pub ops: SocketAddr,
    pub consumer: ConsumerTuning,
}

impl ServiceArgs {
    /// Checks every shared setting, in the order they are documented.
    pub fn resolve(&self, ops_default: &str, consumer: ConsumerTuning) -> Result<ResolvedArgs, ConfigError> {
        self.database.validate()?;
        self.amqp.validate()?;
        let ops = self.listen.ops_or(ops_default)?;
        let consumer = self.consumer.resolve(consumer, max_deliveries())?;
        Ok(ResolvedArgs { ops, consumer })
    }
}

/// The queues' own delivery limit: the most a consumer may allow.
fn max_deliveries() -> u32 {
    u32::try_from(ghostlink_bus::topology::DELIVERY_LIMIT).unwrap_or(1)
}

/// A service's consumer defaults: its prefetch, batch size and batch wait; one batch at a time;
/// dead-lettered at the queue's own delivery limit.
pub const fn tuning(prefetch: u16, batch_size: usize, batch_wait_ms: u64) -> ConsumerTuning {
    ConsumerTuning {
        prefetch,
        batch_size,
        batch_wait: Duration::from_millis(batch_wait_ms),
        concurrency: 1,
        delivery_limit: ghostlink_bus::topology::DELIVERY_LIMIT as u32,
    }
}
