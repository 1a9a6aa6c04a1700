//! The settings every consumer service shares, flattened into each service's `Config` as one
//! block, and resolved once.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use ghostlink_config::{ConfigError, ConsumerArgs, ConsumerTuning, SharedArgs, Validate};

/// The blocks every service shares (Postgres, RabbitMQ, the listeners — here only the ops
/// listener is used: a consumer has no public API — and logging), and the consumer's tuning.
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub shared: SharedArgs,
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
    /// The shared blocks with no consumer setting given: the service's own defaults apply.
    pub fn new(shared: SharedArgs) -> Self {
        Self { shared, consumer: ConsumerArgs::default() }
    }

    /// Checks every shared setting, in the order they are documented.
    pub fn resolve(&self, ops_default: &str, consumer: ConsumerTuning) -> Result<ResolvedArgs, ConfigError> {
        self.shared.validate()?;
        let ops = self.shared.listen.ops_or(ops_default)?;
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
