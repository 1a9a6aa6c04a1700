//! The frame every traffic drill runs in: create `--links` links and warm them on the redirect,
//! send traffic ([`Traffic`]) for `--settle-secs`, inject the fault, hold it `--fault-secs`,
//! restore it, `--settle-secs` more traffic; then the table per phase, the recovery time (from
//! the restore to the end of the last failed request to a known code), what the scenario's
//! [`Probe`]s read, and the clicks answered against those stored.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::faults::Fault;
use crate::metrics::Scrape;
use crate::phase::{Clock, Phase, Stage};
use crate::report::{self, Check, ClickCounts, PhaseFigures, Summary};
use crate::settings::DrillArgs;
use crate::system::System;
use crate::traffic::{self, ClickAccount, Sample, Traffic};
use crate::DrillError;

/// What a scenario needs read beyond the frame's figures and the redirect's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The status of a link creation halfway through the fault.
    ShortenerDuring,
    /// How long the redirects' spools take to drain after the fault (at most 60 s).
    SpoolDrain,
    /// The canary's checks during the run, and its metrics before and after.
    CanaryChecks,
    /// Links quarantined before and after, and the canary's metrics before and after.
    Quarantine,
}

/// How long the redirects' spools took to drain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpoolDrain {
    pub drained: bool,
    /// Since the fault was lifted, seconds.
    pub waited_secs: f64,
}

/// Everything a traffic drill saw.
#[derive(Debug, Clone, Default)]
pub struct TrafficRun {
    pub samples: Vec<Sample>,
    /// When the restore was done, seconds since the traffic started.
    pub restored_at: f64,
    /// The redirects' metrics before the traffic, halfway through the fault, and after.
    pub before: Scrape,
    pub mid: Scrape,
    pub after: Scrape,
    /// [`Probe::ShortenerDuring`]: the status (`None`: no answer, or not probed).
    pub shortener_during: Option<u16>,
    /// [`Probe::SpoolDrain`].
    pub spool: Option<SpoolDrain>,
    /// [`Probe::CanaryChecks`]: (code, time) per check; `None` when unread.
    pub canary_checks: Option<Vec<(String, DateTime<Utc>)>>,
    /// [`Probe::Quarantine`]: links quarantined before and after; `None` when unread.
    pub quarantined: (Option<i64>, Option<i64>),
    /// The canary's metrics before and after ([`Probe::CanaryChecks`], [`Probe::Quarantine`]).
    pub canary_before: Scrape,
    pub canary_after: Scrape,
    /// `None` when the database could not be read.
    pub clicks: Option<ClickAccount>,
}

impl TrafficRun {
    /// The samples sent in `phase`.
    pub fn phase(&self, phase: Phase) -> impl Iterator<Item = &Sample> + Clone {
        self.samples.iter().filter(move |s| s.phase == phase)
    }

    /// The share of known codes answered 302 in `phase`.
    pub fn known_ok(&self, phase: Phase) -> f64 {
        report::ratio(self.phase(phase), |s| s.known, Sample::redirected)
    }

    /// Seconds from the restore to the end of the last failed request to a known code after it.
    pub fn recovery_secs(&self) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.known && !s.redirected() && s.ended_at() >= self.restored_at)
            .map(|s| s.ended_at() - self.restored_at)
            .fold(0.0_f64, f64::max)
    }
}

/// The frame's own check, for every traffic drill.
pub fn checks(run: &TrafficRun) -> Vec<Check> {
    let after = run.known_ok(Phase::After);
    vec![Check::new(after >= 0.999, format!("after: known codes redirect ({after:.4})"))]
}

/// The checks of drills that must lose no click and store none twice.
pub fn click_checks(run: &TrafficRun) -> Vec<Check> {
    match &run.clicks {
        Some(c) => vec![
            Check::new(c.lost == 0, format!("0 clicks lost ({} of {})", c.lost, c.answered)),
            Check::new(c.duplicated == 0, format!("0 clicks stored twice ({})", c.duplicated)),
        ],
        None => vec![Check::new(false, "clicks accounted for (the database could not be read)")],
    }
}

/// The summary `--summary-json` writes.
pub fn summary(args: &DrillArgs, run: &TrafficRun, checks: &[Check]) -> Summary {
    Summary {
        scenario: format!("{:?}", args.scenario),
        rate: args.rate,
        fault_secs: args.fault_secs,
        requests: run.samples.len(),
        phases: PhaseFigures::of(&run.samples),
        recovery_secs: run.recovery_secs(),
        drain_secs: run.spool.map(|s| s.waited_secs),
        clicks: run.clicks.as_ref().map(ClickCounts::from),
        checks: checks.to_vec(),
        latency_targets: args.latency_targets,
    }
}

/// Runs the frame with `fault`, reading what `probes` ask for.
pub async fn observe(system: &System<'_>, fault: &Fault, probes: &[Probe]) -> Result<TrafficRun, DrillError> {
    let a = system.args;
    let bases: Vec<&str> = a.link_bases().collect();
    let codes = system.create_links(a.links, |i| format!("{}/{i}", bases[i % bases.len()])).await?;
    system.wait_scored(&codes, Duration::from_secs(30)).await;
    system.warm(&codes).await;
    let canary = probes.iter().any(|p| matches!(p, Probe::CanaryChecks | Probe::Quarantine));
    let mut run = TrafficRun { before: system.redirect_metrics().await, ..TrafficRun::default() };
    if canary {
        run.canary_before = system.canary_metrics().await;
    }
    if probes.contains(&Probe::Quarantine) {
        run.quarantined.0 = system.quarantined_count().await;
    }
    let started_at = Utc::now();
    let tag = format!("https://simulate.invalid/{:016x}/", rand::random::<u64>());

    let clock = Clock::new();
    let t0 = Instant::now();
    let traffic = Traffic {
        clients: traffic::clients(&a.redirect_url, &system.client)?,
        base: a.redirect_url.clone(),
        codes: codes.clone(),
        rate: a.rate,
        tag: tag.clone(),
        clock: clock.clone(),
        t0,
    };
    let driver = tokio::spawn(traffic.drive());
    let faulted = fault_phase(system, fault, &clock, &codes, probes, &mut run).await;
    if faulted.is_err() {
        clock.stop();
    }
    let restored = faulted?;
    run.restored_at = restored.duration_since(t0).as_secs_f64();
    tokio::time::sleep(Duration::from_secs(a.settle_secs)).await;
    clock.stop();
    run.samples = driver.await.map_err(DrillError::failed)?;
    run.after = system.redirect_metrics().await;
    print!("{}", report::render_phases(&PhaseFigures::of(&run.samples)));
    println!(
        "recovery: the last failed request to a known code ended {:.2}s after the restore",
        run.recovery_secs()
    );

    if probes.contains(&Probe::SpoolDrain) {
        run.spool = Some(spool_drain(system).await);
    }
    if probes.contains(&Probe::CanaryChecks) {
        run.canary_checks = system.checks_since(started_at).await;
    }
    if probes.contains(&Probe::Quarantine) {
        run.quarantined.1 = system.quarantined_count().await;
    }
    if canary {
        run.canary_after = system.canary_metrics().await;
    }
    run.clicks = system.account_clicks(&run.samples, &tag).await;
    if let Some(c) = &run.clicks {
        println!(
            "clicks: {} answered, {} stored, {} lost, {} duplicated (stored {:.1}s after the traffic stopped)",
            c.answered, c.stored, c.lost, c.duplicated, c.waited_secs
        );
    }
    Ok(run)
}

/// From the settled traffic to the restored system: injects, holds and restores the fault,
/// moving the clock through its stages. Returns when the restore was done.
async fn fault_phase(
    system: &System<'_>,
    fault: &Fault,
    clock: &Clock,
    codes: &[String],
    probes: &[Probe],
    run: &mut TrafficRun,
) -> Result<Instant, DrillError> {
    let a = system.args;
    tokio::time::sleep(Duration::from_secs(a.settle_secs)).await;
    // Every known code on every replica behind the proxy, just before.
    system.warm(codes).await;
    let t_fault = Instant::now();
    advance_to(clock, Stage::Injecting);
    let held = fault.inject(system.database_url()).await?;
    advance_to(clock, Stage::Faulted);
    println!("fault injected: {}", fault.describe_inject());
    let fault_time = Duration::from_secs(a.fault_secs);
    tokio::time::sleep(fault_time / 2).await;
    run.mid = system.redirect_metrics().await;
    if probes.contains(&Probe::ShortenerDuring) {
        run.shortener_during = system.shortener_create_status().await;
    }
    tokio::time::sleep(fault_time.saturating_sub(t_fault.elapsed())).await;
    advance_to(clock, Stage::Restoring);
    fault.restore(system.database_url(), held).await?;
    let restored = Instant::now();
    println!("fault removed after {:.1}s: {}", t_fault.elapsed().as_secs_f64(), fault.describe_restore());
    advance_to(clock, Stage::After);
    Ok(restored)
}

/// Advances the clock to `stage`, the next one in order.
fn advance_to(clock: &Clock, stage: Stage) {
    let now = clock.advance();
    debug_assert_eq!(now, stage, "stages are taken in order");
}

/// Waits (at most 60 s) for every redirect replica's spool to be empty.
async fn spool_drain(system: &System<'_>) -> SpoolDrain {
    let t = Instant::now();
    let mut drained = false;
    while t.elapsed() < Duration::from_secs(60) {
        if system.redirect_metrics().await.sum("spool_bytes", &[]) == 0.0 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The traffic went on for --settle-secs after the broker came back.
    SpoolDrain { drained, waited_secs: t.elapsed().as_secs_f64() + system.args.settle_secs as f64 }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::tests::sample;

    /// A run whose samples are `(phase, known, status, latency ms)`.
    pub(crate) fn run_of(samples: &[(Phase, bool, Option<u16>, u64)]) -> TrafficRun {
        let samples = samples
            .iter()
            .enumerate()
            .map(|(i, &(p, known, status, ms))| {
                let mut s = sample(p, known, status, ms);
                s.seq = i as u64 + 1;
                s
            })
            .collect();
        TrafficRun { samples, ..TrafficRun::default() }
    }

    #[test]
    fn recovery_is_measured_from_the_restore() {
        let mut run = run_of(&[]);
        let mut s = |at: f64, known: bool, status: Option<u16>, ms: u64| {
            let mut x = sample(Phase::After, known, status, ms);
            x.at = at;
            run.samples.push(x);
        };
        s(9.0, true, Some(503), 500); // ended 9.5, before the restore
        s(10.2, true, None, 800); // ended 11.0: 1.0 s after
        s(10.5, true, Some(302), 100);
        s(10.9, false, Some(503), 900); // an unknown code does not count
        run.restored_at = 10.0;
        assert!((run.recovery_secs() - 1.0).abs() < 1e-9, "{}", run.recovery_secs());
        run.samples.retain(|s| s.redirected());
        assert_eq!(run.recovery_secs(), 0.0);
    }

    #[test]
    fn the_frame_checks_known_codes_after_the_fault() {
        let mut ok: Vec<_> = (0..999).map(|_| (Phase::After, true, Some(302), 1)).collect();
        ok.push((Phase::After, true, Some(503), 1));
        ok.push((Phase::During, true, Some(503), 1));
        ok.push((Phase::After, false, Some(404), 1));
        let checks = checks(&run_of(&ok));
        assert_eq!(checks.len(), 1);
        assert!(checks[0].ok, "{checks:?}");
        ok.push((Phase::After, true, None, 1));
        assert!(!super::checks(&run_of(&ok))[0].ok);
    }

    #[test]
    fn clicks_lost_stored_twice_or_unread_fail() {
        let mut run = run_of(&[]);
        let account = |lost, duplicated| ClickAccount {
            answered: 10,
            stored: 10 - lost,
            lost,
            duplicated,
            waited_secs: 1.0,
        };
        run.clicks = Some(account(0, 0));
        assert!(click_checks(&run).iter().all(|c| c.ok));
        run.clicks = Some(account(1, 0));
        assert_eq!(click_checks(&run).iter().map(|c| c.ok).collect::<Vec<_>>(), [false, true]);
        run.clicks = Some(account(0, 2));
        assert_eq!(click_checks(&run).iter().map(|c| c.ok).collect::<Vec<_>>(), [true, false]);
        run.clicks = None;
        assert!(click_checks(&run).iter().all(|c| !c.ok));
    }
}
