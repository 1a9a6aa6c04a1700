//! GhostLink's fault drills: break the running system for real, restore it, and judge what it
//! did against what it should do (which fallback, which alert), each check PASS or FAIL.
//!
//! Every drill is a [`Scenario`]. Most run in one frame ([`TrafficScenario`]): create a few
//! links through the shortener and warm them on the redirect, drive steady traffic at the
//! redirect ([`traffic`]) through three [`Phase`]s — before, during the fault ([`faults`]), after
//! — and print a table per phase and the scenario's checks ([`report`]). Two have frames of
//! their own: a destination server that fails ([`destination`], for the canary) and an
//! enumeration scanner (for ghost-probe).
//!
//! `ghostctl simulate` runs one drill against a running system; `ops/chaos/run.sh` starts the
//! whole system and runs them in turn, reading each one's `--summary-json`. The drill needs an
//! admin token (its caller mints and revokes it) and the database URL (for the faults made with
//! SQL and for counting stored clicks).
//!
//! Faults on shared infrastructure run shell commands (`--stop-cmd` / `--start-cmd`, with
//! defaults for this kind of machine); faults GhostLink can make by itself (refusing connections
//! to its own database, holding a lock, a failing destination server, a scanner) need none.

pub mod destination;
pub mod faults;
pub mod frame;
pub mod metrics;
pub mod phase;
pub mod report;
pub mod scenario;
pub mod scenarios;
pub mod settings;
pub mod system;
pub mod traffic;

pub use phase::Phase;
pub use report::LatencyTargets;
pub use scenario::{Plan, Scenario, TrafficScenario};
pub use settings::{DrillArgs, ScenarioKind};
pub use system::System;

/// Why a drill could not run to its verdict.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The settings cannot make this drill (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The system or the fault failed the drill itself (exit 1), as opposed to a failed check.
    #[error("{0}")]
    Failed(String),
}

impl DrillError {
    pub(crate) fn failed(e: impl std::fmt::Display) -> Self {
        DrillError::Failed(e.to_string())
    }
}

/// Runs the drill `args` names against the system it points at, with `token` (an admin's) for
/// the API and `database_url` for SQL. `Ok(true)` when every check passed.
pub async fn run(args: &DrillArgs, database_url: &str, token: &str) -> Result<bool, DrillError> {
    args.validate()?;
    let system = System::new(args, database_url, token)?;
    println!("== ghostctl simulate {:?}", args.scenario);
    scenarios::run(args.scenario, &system).await
}
