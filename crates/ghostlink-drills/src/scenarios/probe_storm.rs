//! An enumeration scanner: one client (one address, one user agent) asks for 200 random codes
//! nobody made, beside a legitimate client following real links at the same pace. ghost-probe
//! must flag the scanner within 30 s, and in enforce mode the redirect answers it 429 — never
//! the legitimate client. `--rate` is ignored; the scan lasts `--fault-secs` (60 s when left at
//! its default of 20). Nothing is stopped: the fault is the traffic itself.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::report::{self, Check};
use crate::scenario::{Plan, Scenario};
use crate::settings::DrillArgs;
use crate::system::System;
use crate::DrillError;

pub struct ProbeStorm;

/// Requests the scanner sends.
const SCANS: u32 = 200;

/// How long the scan lasts.
fn scan_secs(a: &DrillArgs) -> u64 {
    if a.fault_secs == 20 {
        60
    } else {
        a.fault_secs
    }
}

/// A random code of the code alphabet's shape, almost surely never made.
fn random_code() -> String {
    (0..7).map(|_| char::from(b"abcdefghijkmnopqrstuvwxyz23456789"[rand::random::<usize>() % 33])).collect()
}

/// What the drill saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// The scanner's answers by status (`None`: no answer).
    pub statuses: BTreeMap<Option<u16>, usize>,
    /// When the scanner got its first 429, since the scan started.
    pub first_429: Option<Duration>,
    /// When a fresh enumeration finding was first seen.
    pub flagged: Option<Duration>,
    /// 429s to the legitimate client.
    pub legit_refused: u32,
}

impl Scenario for ProbeStorm {
    type Observed = Seen;

    fn plan(&self, a: &DrillArgs) -> Result<Plan, DrillError> {
        Ok(Plan {
            what: format!("one client (one address, one user agent) requests {SCANS} random unknown codes over {} s;\n               a second client follows 5 real links at the same pace", scan_secs(a)),
            expect: "  - ghost-probe flags the scanner as `enumeration` within 30 s (20 unknown codes in 60 s): a finding in GET /api/v1/findings, probe.detected\n  - in PROBE_MODE=enforce the redirect answers the scanner 429 (the deny set, refreshed every second); the legitimate client is never refused\n  - alerts: GhostProbeStorm".into(),
        })
    }

    async fn observe(&self, system: &System<'_>) -> Result<Seen, DrillError> {
        let a = system.args;
        let codes = system.create_links(5, |i| format!("https://example.com/simulate/legit/{i}")).await?;
        let t0 = Instant::now();
        let started = chrono::Utc::now();
        let step = Duration::from_secs_f64(scan_secs(a) as f64 / f64::from(SCANS));
        let mut seen = Seen::default();
        for i in 0..SCANS {
            let s = system
                .status_of(format!("{}/{}", a.redirect_url, random_code()), "ghostlink-simulate-scanner/1")
                .await;
            *seen.statuses.entry(s).or_default() += 1;
            if s == Some(429) && seen.first_429.is_none() {
                seen.first_429 = Some(t0.elapsed());
            }
            let code = &codes[i as usize % codes.len()];
            let legit =
                system.status_of(format!("{}/{code}", a.redirect_url), "Mozilla/5.0 (simulate legit)").await;
            seen.legit_refused += u32::from(legit == Some(429));
            if seen.flagged.is_none()
                && i % 5 == 0
                && system.enumeration_seen_since(started - chrono::Duration::seconds(5)).await
            {
                seen.flagged = Some(t0.elapsed());
            }
            tokio::time::sleep(step.saturating_sub(Duration::from_millis(5))).await;
        }
        println!("scanner answers by status: {}", report::render_statuses(&seen.statuses));
        match seen.first_429 {
            Some(d) => {
                println!("first 429 to the scanner {:.1}s after it started (enforce mode)", d.as_secs_f64())
            }
            None => println!(
                "no 429 to the scanner: ghost-probe runs in observe mode (PROBE_MODE=enforce to act)"
            ),
        }
        Ok(seen)
    }

    fn checks(&self, _: &DrillArgs, seen: &Seen) -> Vec<Check> {
        vec![
            Check::new(
                seen.flagged.is_some_and(|d| d <= Duration::from_secs(30)),
                match seen.flagged {
                    Some(d) => format!(
                        "flagged as enumeration {:.1}s after the scan started (<= 30 s)",
                        d.as_secs_f64()
                    ),
                    None => "flagged as enumeration (no finding seen)".into(),
                },
            ),
            Check::new(
                seen.legit_refused == 0,
                format!("the legitimate client was never refused ({} x 429)", seen.legit_refused),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::args;

    #[test]
    fn flagged_in_time_and_the_legitimate_client_untouched() {
        let a = args(&["probe-storm"]);
        let oks = |seen: &Seen| ProbeStorm.checks(&a, seen).iter().map(|c| c.ok).collect::<Vec<_>>();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(oks(&Seen { flagged: secs(6), ..Seen::default() }), [true, true]);
        assert_eq!(oks(&Seen { flagged: secs(31), ..Seen::default() }), [false, true]);
        assert_eq!(oks(&Seen { flagged: None, legit_refused: 1, ..Seen::default() }), [false, false]);
    }

    #[test]
    fn the_scan_lasts_a_minute_unless_told_otherwise() {
        assert_eq!(scan_secs(&args(&["probe-storm"])), 60);
        assert_eq!(scan_secs(&args(&["probe-storm", "--fault-secs=12"])), 12);
    }

    #[test]
    fn random_codes_have_the_code_shape() {
        let c = random_code();
        assert_eq!(c.len(), 7);
        assert!(c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{c}");
    }
}
