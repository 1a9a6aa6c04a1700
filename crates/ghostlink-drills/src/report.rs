//! What a drill prints and writes: its checks and their verdict, the table of figures per
//! phase (requests, HEADs, known codes answered 302, p50/p99, answers by status) and the
//! summary JSON that `ops/chaos/run.sh` reads (`--summary-json`).

use std::collections::BTreeMap;
use std::time::Duration;

use clap::ValueEnum;
use serde::Serialize;

use crate::phase::Phase;
use crate::traffic::{ClickAccount, Sample};

/// One thing a drill expects, and whether it held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// A latency target: a figure, enforced only with `--latency-targets enforce`.
    pub latency: bool,
}

impl Check {
    /// A correctness check: it always counts.
    pub fn new(ok: bool, name: impl Into<String>) -> Self {
        Check { name: name.into(), ok, latency: false }
    }

    /// A latency target: it counts with `--latency-targets enforce`.
    pub fn latency(ok: bool, name: impl Into<String>) -> Self {
        Check { name: name.into(), ok, latency: true }
    }

    /// How the check came out under `targets`.
    pub fn mark(&self, targets: LatencyTargets) -> Mark {
        match (self.ok, self.latency && targets == LatencyTargets::Report) {
            (true, _) => Mark::Pass,
            (false, false) => Mark::Fail,
            (false, true) => Mark::Reported,
        }
    }
}

/// Whether missed latency targets fail the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyTargets {
    Enforce,
    Report,
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Pass,
    Fail,
    /// A missed latency target that is only reported.
    Reported,
}

impl Mark {
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Pass => "PASS",
            Mark::Fail => "FAIL",
            Mark::Reported => "MISS (latency, reported only)",
        }
    }
}

/// Whether the drill passed: no check failed (a reported latency miss does not fail it).
pub fn passed(checks: &[Check], targets: LatencyTargets) -> bool {
    checks.iter().all(|c| c.mark(targets) != Mark::Fail)
}

/// The checks, one line each, under a `checks:` heading.
pub fn render_checks(checks: &[Check], targets: LatencyTargets) -> String {
    let mut out = String::from("checks:\n");
    for c in checks {
        out.push_str(&format!("  {} {}\n", c.mark(targets).as_str(), c.name));
    }
    out
}

/// The share of `samples` passing `filter` that are `good`; 0 when none passes `filter`.
pub fn ratio<'a>(
    samples: impl IntoIterator<Item = &'a Sample>,
    filter: impl Fn(&Sample) -> bool,
    good: impl Fn(&Sample) -> bool,
) -> f64 {
    let (mut picked, mut ok) = (0usize, 0usize);
    for s in samples.into_iter().filter(|s| filter(s)) {
        picked += 1;
        ok += usize::from(good(s));
    }
    if picked == 0 {
        0.0
    } else {
        ok as f64 / picked as f64
    }
}

/// The `q` quantile (nearest rank) of the samples' latencies; zero for none.
pub fn percentile<'a>(samples: impl IntoIterator<Item = &'a Sample>, q: f64) -> Duration {
    let mut v: Vec<Duration> = samples.into_iter().map(|s| s.latency).collect();
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() as f64 - 1.0) * q.clamp(0.0, 1.0)).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One phase's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseFigures {
    pub phase: Phase,
    pub requests: usize,
    pub heads: usize,
    /// Known codes answered 302.
    pub success: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Answers by status (`None`: no answer).
    #[serde(skip)]
    pub by_status: BTreeMap<Option<u16>, usize>,
}

impl PhaseFigures {
    /// Every phase's figures, in order.
    pub fn of(samples: &[Sample]) -> Vec<PhaseFigures> {
        Phase::ALL
            .iter()
            .map(|&phase| {
                let part: Vec<&Sample> = samples.iter().filter(|s| s.phase == phase).collect();
                let mut by_status = BTreeMap::new();
                for s in &part {
                    *by_status.entry(s.status).or_default() += 1;
                }
                PhaseFigures {
                    phase,
                    requests: part.len(),
                    heads: part.iter().filter(|s| s.head).count(),
                    success: ratio(part.iter().copied(), |s| s.known, Sample::redirected),
                    p50_ms: ms(percentile(part.iter().copied(), 0.5)),
                    p99_ms: ms(percentile(part.iter().copied(), 0.99)),
                    by_status,
                }
            })
            .collect()
    }
}

/// The table of figures per phase.
pub fn render_phases(figures: &[PhaseFigures]) -> String {
    let mut out = format!(
        "{:<8} {:>8} {:>6} {:>10} {:>9} {:>9}  answers by status\n",
        "phase", "requests", "HEADs", "known 302", "p50 ms", "p99 ms"
    );
    for f in figures {
        out.push_str(&format!(
            "{:<8} {:>8} {:>6} {:>10.4} {:>9.1} {:>9.1}  {}\n",
            f.phase.as_str(),
            f.requests,
            f.heads,
            f.success,
            f.p50_ms,
            f.p99_ms,
            render_statuses(&f.by_status)
        ));
    }
    out
}

/// Answers by status: `{no answer: 2, 302: 130, 404: 15}`.
pub fn render_statuses(by_status: &BTreeMap<Option<u16>, usize>) -> String {
    let parts: Vec<String> = by_status
        .iter()
        .map(|(s, n)| match s {
            Some(s) => format!("{s}: {n}"),
            None => format!("no answer: {n}"),
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// How clicks came out, in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClickCounts {
    pub answered: usize,
    pub stored: usize,
    pub lost: usize,
    pub duplicated: usize,
}

impl From<&ClickAccount> for ClickCounts {
    fn from(c: &ClickAccount) -> Self {
        ClickCounts { answered: c.answered, stored: c.stored, lost: c.lost, duplicated: c.duplicated }
    }
}

/// A traffic drill's figures and checks, as `--summary-json` writes them.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub rate: u32,
    pub fault_secs: u64,
    pub requests: usize,
    pub phases: Vec<PhaseFigures>,
    pub recovery_secs: f64,
    pub drain_secs: Option<f64>,
    pub clicks: Option<ClickCounts>,
    pub checks: Vec<Check>,
    pub latency_targets: LatencyTargets,
}

impl Summary {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A sample sent in `phase` for a known (or unknown) code, answered `status` after `ms`.
    pub(crate) fn sample(phase: Phase, known: bool, status: Option<u16>, ms: u64) -> Sample {
        Sample {
            seq: 0,
            at: 0.0,
            head: false,
            phase,
            while_faulted: phase == Phase::During,
            known,
            status,
            latency: Duration::from_millis(ms),
        }
    }

    #[test]
    fn a_reported_latency_miss_does_not_fail_the_run() {
        let checks = [Check::new(true, "ok"), Check::latency(false, "p99 <= 100 ms")];
        assert!(passed(&checks, LatencyTargets::Report));
        assert!(!passed(&checks, LatencyTargets::Enforce));
        let failed = [Check::new(false, "cached codes redirect"), Check::latency(true, "p99")];
        assert!(!passed(&failed, LatencyTargets::Report));
        assert!(passed(&[], LatencyTargets::Enforce));
    }

    #[test]
    fn checks_render_one_line_each_with_their_mark() {
        let checks = [
            Check::new(true, "after: known codes redirect (1.0000)"),
            Check::new(false, "0 clicks lost (3 of 900)"),
            Check::latency(false, "during: p99 140.0 ms <= 100"),
        ];
        assert_eq!(
            render_checks(&checks, LatencyTargets::Report),
            "checks:\n  PASS after: known codes redirect (1.0000)\n  FAIL 0 clicks lost (3 of 900)\n  \
             MISS (latency, reported only) during: p99 140.0 ms <= 100\n"
        );
        assert!(render_checks(&checks, LatencyTargets::Enforce).contains("  FAIL during: p99"));
    }

    #[test]
    fn ratio_and_percentile() {
        let s = [
            sample(Phase::During, true, Some(302), 1),
            sample(Phase::During, true, Some(503), 2),
            sample(Phase::During, false, Some(503), 300),
            sample(Phase::During, true, Some(302), 4),
        ];
        assert_eq!(ratio(&s, |s| s.known, Sample::redirected), 2.0 / 3.0);
        assert_eq!(ratio(&s, |s| s.head, Sample::redirected), 0.0, "nothing picked");
        assert_eq!(percentile(&s, 0.5), Duration::from_millis(4));
        assert_eq!(percentile(&s, 0.99), Duration::from_millis(300));
        assert_eq!(percentile(&s, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }

    #[test]
    fn the_phase_table_has_a_row_per_phase() {
        let mut head = sample(Phase::Before, true, Some(302), 2);
        head.head = true;
        let samples = [
            head,
            sample(Phase::Before, false, Some(404), 3),
            sample(Phase::During, true, None, 5000),
            sample(Phase::During, true, Some(302), 2),
        ];
        let figures = PhaseFigures::of(&samples);
        assert_eq!(figures.iter().map(|f| f.requests).collect::<Vec<_>>(), [2, 2, 0]);
        assert_eq!(figures[0].heads, 1);
        assert_eq!(figures[1].success, 0.5);
        let table = render_phases(&figures);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("phase    requests  HEADs  known 302"));
        assert!(lines[1].starts_with("before          2      1     1.0000"), "{}", lines[1]);
        assert!(lines[1].ends_with("{302: 1, 404: 1}"), "{}", lines[1]);
        assert!(lines[2].ends_with("{no answer: 1, 302: 1}"), "{}", lines[2]);
        assert!(lines[3].starts_with("after           0      0     0.0000"), "{}", lines[3]);
    }

    #[test]
    fn the_summary_has_what_the_chaos_harness_reads() {
        let samples = [sample(Phase::During, true, Some(302), 2)];
        let summary = Summary {
            scenario: "RedisOutage".into(),
            rate: 100,
            fault_secs: 8,
            requests: samples.len(),
            phases: PhaseFigures::of(&samples),
            recovery_secs: 0.25,
            drain_secs: None,
            clicks: Some(ClickCounts { answered: 1, stored: 1, lost: 0, duplicated: 0 }),
            checks: vec![Check::latency(false, "during: p99")],
            latency_targets: LatencyTargets::Report,
        };
        let v: serde_json::Value = match serde_json::from_str(&summary.to_json()) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        // ops/chaos/run.sh reads these keys.
        assert_eq!(v["requests"], 1);
        assert_eq!(v["recovery_secs"], 0.25);
        assert_eq!(v["latency_targets"], "report");
        assert_eq!(v["phases"][1]["phase"], "during");
        assert_eq!(v["phases"][1]["success"], 1.0);
        assert_eq!(v["phases"][1]["p50_ms"], 2.0);
        assert_eq!(v["phases"][0]["p99_ms"], 0.0);
        assert_eq!(v["clicks"]["answered"], 1);
        assert_eq!(v["clicks"]["duplicated"], 0);
        assert_eq!(v["checks"][0]["ok"], false);
        assert_eq!(v["checks"][0]["latency"], true);
        assert_eq!(v["checks"][0]["name"], "during: p99");
        assert!(v["drain_secs"].is_null());
    }
}
