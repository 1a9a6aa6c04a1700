//! What a drill is: a [`Scenario`] says what it does and what should happen, runs against the
//! system and observes, and judges what it observed with its checks. [`execute`] is the one
//! place that prints a drill's plan, its checks and its verdict, and writes its summary.
//!
//! Most scenarios are a fault under the shared traffic frame ([`frame`](crate::frame)): they
//! implement [`TrafficScenario`] — their fault, what they read beyond the frame's figures, their
//! checks — and are a [`Scenario`] through it.

use std::future::Future;

use crate::faults::Fault;
use crate::frame::{self, Probe, TrafficRun};
use crate::report::{self, Check, Summary};
use crate::settings::DrillArgs;
use crate::system::System;
use crate::DrillError;

/// What a drill does and what should happen, printed before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub what: String,
    /// The expected behaviour: fallbacks, alerts (indented lines).
    pub expect: String,
}

/// A drill.
pub trait Scenario {
    /// What it observes.
    type Observed;

    /// What it does and what should happen; refuses settings it cannot run with.
    fn plan(&self, args: &DrillArgs) -> Result<Plan, DrillError>;

    /// Runs it against the system: breaks it, watches, restores it.
    fn observe(&self, system: &System<'_>) -> impl Future<Output = Result<Self::Observed, DrillError>>;

    /// Its checks of what it observed.
    fn checks(&self, args: &DrillArgs, seen: &Self::Observed) -> Vec<Check>;

    /// The figures `--summary-json` writes, for drills that have them.
    fn summary(&self, _args: &DrillArgs, _seen: &Self::Observed, _checks: &[Check]) -> Option<Summary> {
        None
    }
}

/// A fault under the shared traffic frame.
pub trait TrafficScenario {
    /// What it does and what should happen.
    fn describe(&self, args: &DrillArgs) -> Plan;

    /// How its fault is made and undone with these settings.
    fn fault(&self, args: &DrillArgs) -> Result<Fault, DrillError>;

    /// What the frame reads for it beyond traffic figures and redirect metrics.
    fn probes(&self) -> &'static [Probe] {
        &[]
    }

    /// Its checks, beside the frame's own (known codes redirect after the fault).
    fn judge(&self, args: &DrillArgs, run: &TrafficRun) -> Vec<Check>;
}

impl<T: TrafficScenario> Scenario for T {
    type Observed = TrafficRun;

    fn plan(&self, args: &DrillArgs) -> Result<Plan, DrillError> {
        self.fault(args)?;
        Ok(self.describe(args))
    }

    async fn observe(&self, system: &System<'_>) -> Result<TrafficRun, DrillError> {
        frame::observe(system, &self.fault(system.args)?, self.probes()).await
    }

    fn checks(&self, args: &DrillArgs, run: &TrafficRun) -> Vec<Check> {
        let mut checks = frame::checks(run);
        checks.extend(self.judge(args, run));
        checks
    }

    fn summary(&self, args: &DrillArgs, run: &TrafficRun, checks: &[Check]) -> Option<Summary> {
        Some(frame::summary(args, run, checks))
    }
}

/// Runs `scenario`: prints its plan, observes, prints its checks and writes its summary.
/// `Ok(true)` when every check passed.
pub async fn execute<S: Scenario>(scenario: &S, system: &System<'_>) -> Result<bool, DrillError> {
    let args = system.args;
    let plan = scenario.plan(args)?;
    println!("what it does:  {}", plan.what);
    println!("what should happen:\n{}", plan.expect);
    let seen = scenario.observe(system).await?;
    let checks = scenario.checks(args, &seen);
    system.print_alerts().await;
    if let (Some(path), Some(summary)) = (&args.summary_json, scenario.summary(args, &seen, &checks)) {
        if let Err(e) = std::fs::write(path, summary.to_json()) {
            eprintln!("cannot write {}: {e}", path.display());
        }
    }
    print!("{}", report::render_checks(&checks, args.latency_targets));
    Ok(report::passed(&checks, args.latency_targets))
}
