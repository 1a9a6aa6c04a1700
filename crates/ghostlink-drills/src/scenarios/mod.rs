//! Every drill, and which [`ScenarioKind`] runs which.

pub mod dead_destinations;
pub mod outages;
pub mod probe_storm;
pub mod processes;

pub use dead_destinations::DeadDestinations;
pub use outages::{BrokerOutage, DbOutage, ErrorSpike, RedisOutage, SlowDb};
pub use probe_storm::ProbeStorm;
pub use processes::{CanaryCut, CanaryKill, RecorderKill, ReplicaDown};

use crate::scenario::execute;
use crate::settings::ScenarioKind;
use crate::system::System;
use crate::DrillError;

/// Runs the drill `kind` names. `Ok(true)` when every check passed.
pub async fn run(kind: ScenarioKind, system: &System<'_>) -> Result<bool, DrillError> {
    use ScenarioKind as K;
    match kind {
        K::DbOutage => execute(&DbOutage, system).await,
        K::RedisOutage => execute(&RedisOutage, system).await,
        K::BrokerOutage => execute(&BrokerOutage, system).await,
        K::DeadDestinations => execute(&DeadDestinations, system).await,
        K::ProbeStorm => execute(&ProbeStorm, system).await,
        K::ErrorSpike => execute(&ErrorSpike, system).await,
        K::SlowDb => execute(&SlowDb, system).await,
        K::ReplicaDown => execute(&ReplicaDown, system).await,
        K::RecorderKill => execute(&RecorderKill, system).await,
        K::CanaryKill => execute(&CanaryKill, system).await,
        K::CanaryCut => execute(&CanaryCut, system).await,
    }
}
