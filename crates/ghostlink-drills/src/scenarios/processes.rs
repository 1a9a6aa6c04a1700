//! GhostLink's own processes failing under the traffic frame: a redirect replica killed behind
//! the proxy, the click recorder or the canary killed mid-work and restarted, the canary cut
//! off from every destination. How a process is killed and started depends on how the system
//! runs, so these take `--stop-cmd` and `--start-cmd` (ops/chaos/run.sh sets them).

use crate::faults::Fault;
use crate::frame::{self, Probe, TrafficRun};
use crate::phase::Phase;
use crate::report::Check;
use crate::scenario::{Plan, TrafficScenario};
use crate::settings::DrillArgs;
use crate::DrillError;

/// Both commands, which these scenarios cannot guess.
fn both_commands(a: &DrillArgs) -> Result<Fault, DrillError> {
    match (&a.stop_cmd, &a.start_cmd) {
        (Some(stop), Some(start)) => Ok(Fault::shell(stop.clone(), start.clone())),
        _ => Err(DrillError::Usage(
            "recorder-kill, canary-kill and canary-cut need --stop-cmd and --start-cmd (how this system's processes or destinations are stopped and started; ops/chaos/run.sh sets them)".into(),
        )),
    }
}

/// `what`, then the stop command it runs.
fn doing(what: &str, a: &DrillArgs) -> String {
    format!("{what} ({})", a.stop_cmd.as_deref().unwrap_or("--stop-cmd"))
}

pub struct ReplicaDown;

impl TrafficScenario for ReplicaDown {
    fn describe(&self, a: &DrillArgs) -> Plan {
        Plan {
            what: doing(&format!("kills one redirect replica for {} s", a.fault_secs), a),
            expect: "  - nginx routes around it (max_fails, proxy_next_upstream): success >= 99.9 %\n  - alerts: GhostlinkServiceDown for that instance (page) within ~1 m; resolved after restart".into(),
        }
    }

    fn fault(&self, a: &DrillArgs) -> Result<Fault, DrillError> {
        let Some(stop) = a.stop_cmd.clone() else {
            return Err(DrillError::Usage(
                "replica-down needs --stop-cmd (e.g. 'docker compose -f compose/docker-compose.yml kill redirect-1') and --start-cmd".into(),
            ));
        };
        Ok(Fault::shell(stop, a.start_cmd.clone().unwrap_or_else(|| "true".into())))
    }

    fn judge(&self, _: &DrillArgs, run: &TrafficRun) -> Vec<Check> {
        let ok = run.known_ok(Phase::During);
        vec![Check::new(ok >= 0.999, format!("during: success through the proxy {ok:.4} >= 0.999"))]
    }
}

pub struct RecorderKill;

impl TrafficScenario for RecorderKill {
    fn describe(&self, a: &DrillArgs) -> Plan {
        Plan {
            what: doing("kill -9 the click recorder mid-work, restart it after the fault time", a),
            expect: "  - redirects unaffected; click events wait in the recorder's quorum queue (unacked ones are redelivered)\n  - after: every answered click stored exactly once (inserts are idempotent by event id)\n  - alerts: GhostlinkServiceDown (click-recorder), ClickRecorderLagHigh if it lasts".into(),
        }
    }

    fn fault(&self, a: &DrillArgs) -> Result<Fault, DrillError> {
        both_commands(a)
    }

    fn judge(&self, _: &DrillArgs, run: &TrafficRun) -> Vec<Check> {
        let ok = run.known_ok(Phase::During);
        let mut checks = vec![Check::new(ok >= 0.9999, format!("during: success {ok:.4} >= 0.9999"))];
        checks.extend(frame::click_checks(run));
        checks
    }
}

pub struct CanaryKill;

/// How many of `checks` (code, time; oldest first) probed a link again within `min_gap`.
pub fn probed_twice(checks: &[(String, chrono::DateTime<chrono::Utc>)], min_gap: chrono::Duration) -> usize {
    let mut last = std::collections::HashMap::new();
    let mut twice = 0;
    for (code, at) in checks {
        if let Some(prev) = last.insert(code.as_str(), *at) {
            twice += usize::from(*at - prev < min_gap);
        }
    }
    twice
}

impl TrafficScenario for CanaryKill {
    fn describe(&self, a: &DrillArgs) -> Plan {
        Plan {
            what: doing("kill -9 the canary mid-round, restart it after the fault time", a),
            expect: "  - the links it had claimed keep their pushed-forward schedule: none is probed twice within an interval\n  - the restarted canary probes again; nothing half-written (each check is one transaction)".into(),
        }
    }

    fn fault(&self, a: &DrillArgs) -> Result<Fault, DrillError> {
        both_commands(a)
    }

    fn probes(&self) -> &'static [Probe] {
        &[Probe::CanaryChecks]
    }

    fn judge(&self, a: &DrillArgs, run: &TrafficRun) -> Vec<Check> {
        let min_gap = chrono::Duration::milliseconds((a.canary_interval * 1000 / 2) as i64);
        let twice = match &run.canary_checks {
            Some(checks) => Check::new(
                probed_twice(checks, min_gap) == 0,
                format!(
                    "no link probed twice within half an interval ({} of {} checks)",
                    probed_twice(checks, min_gap),
                    checks.len()
                ),
            ),
            None => Check::new(
                false,
                "no link probed twice within half an interval (the checks could not be read)",
            ),
        };
        let probes = run.canary_after.sum("canary_probes_total", &[]);
        vec![
            twice,
            Check::new(
                probes > 0.0,
                format!("the restarted canary probes again ({probes} probes since its start)"),
            ),
        ]
    }
}

pub struct CanaryCut;

impl TrafficScenario for CanaryCut {
    fn describe(&self, a: &DrillArgs) -> Plan {
        Plan {
            what: doing("cuts the canary off from every destination for the fault time", a),
            expect: "  - most hosts of each round fail at the network level at once: the rounds are discarded\n  - 0 links quarantined; canary_rounds_aborted_total rises; alert CanaryRoundAborted if it lasts".into(),
        }
    }

    fn fault(&self, a: &DrillArgs) -> Result<Fault, DrillError> {
        both_commands(a)
    }

    fn probes(&self) -> &'static [Probe] {
        &[Probe::Quarantine]
    }

    fn judge(&self, _: &DrillArgs, run: &TrafficRun) -> Vec<Check> {
        let quarantined = match run.quarantined {
            (Some(before), Some(after)) => {
                Check::new(before == after, format!("no link quarantined ({before} before, {after} after)"))
            }
            _ => Check::new(false, "no link quarantined (the count could not be read)"),
        };
        let aborted = run.canary_after.sum("canary_rounds_aborted_total", &[])
            - run.canary_before.sum("canary_rounds_aborted_total", &[]);
        vec![quarantined, Check::new(aborted >= 1.0, format!("the canary discarded its rounds (+{aborted})"))]
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::frame::tests::run_of;
    use crate::metrics::Scrape;
    use crate::settings::tests::args;

    fn at(secs: i64) -> chrono::DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap_or_default()
    }

    #[test]
    fn process_faults_need_their_commands() {
        for s in ["recorder-kill", "canary-kill", "canary-cut"] {
            let a = args(&[s, "--stop-cmd=ctl kill x"]);
            assert!(matches!(both_commands(&a), Err(DrillError::Usage(_))), "{s}");
        }
        assert!(matches!(ReplicaDown.fault(&args(&["replica-down"])), Err(DrillError::Usage(_))));
        assert_eq!(
            ReplicaDown.fault(&args(&["replica-down", "--stop-cmd=kill it"])).ok(),
            Some(Fault::shell("kill it", "true"))
        );
        let a =
            args(&["canary-cut", "--stop-cmd=ctl kill destinations", "--start-cmd=ctl start destinations"]);
        assert_eq!(
            CanaryCut.fault(&a).ok(),
            Some(Fault::shell("ctl kill destinations", "ctl start destinations"))
        );
        assert!(CanaryCut.describe(&a).what.ends_with("(ctl kill destinations)"));
    }

    #[test]
    fn a_link_probed_again_within_half_an_interval_counts() {
        let gap = chrono::Duration::seconds(2);
        let c = |code: &str, s| (code.to_string(), at(s));
        assert_eq!(probed_twice(&[c("a", 0), c("b", 1), c("a", 4), c("b", 5)], gap), 0);
        assert_eq!(probed_twice(&[c("a", 0), c("a", 1), c("b", 1), c("a", 5)], gap), 1);
        assert_eq!(probed_twice(&[], gap), 0);
    }

    #[test]
    fn the_canary_kill_wants_its_checks_read_and_probes_after() {
        let a = args(&["canary-kill", "--stop-cmd=k", "--start-cmd=s"]); // interval 4 s: gap 2 s
        let mut run = run_of(&[]);
        run.canary_checks = Some(vec![("a".into(), at(0)), ("a".into(), at(3))]);
        run.canary_after = Scrape::parse("canary_probes_total{outcome=\"ok\"} 12\n").unwrap_or_default();
        assert_eq!(CanaryKill.judge(&a, &run).iter().map(|c| c.ok).collect::<Vec<_>>(), [true, true]);
        run.canary_checks = Some(vec![("a".into(), at(0)), ("a".into(), at(1))]);
        assert!(!CanaryKill.judge(&a, &run)[0].ok);
        run.canary_checks = None;
        assert!(!CanaryKill.judge(&a, &run)[0].ok, "unread checks are not a pass");
        run.canary_after = Scrape::default();
        assert!(!CanaryKill.judge(&a, &run)[1].ok);
    }

    #[test]
    fn the_canary_cut_quarantines_nothing_and_aborts_rounds() {
        let a = args(&["canary-cut", "--stop-cmd=k", "--start-cmd=s"]);
        let mut run = run_of(&[]);
        run.quarantined = (Some(2), Some(2));
        run.canary_before = Scrape::parse("canary_rounds_aborted_total 1\n").unwrap_or_default();
        run.canary_after = Scrape::parse("canary_rounds_aborted_total 3\n").unwrap_or_default();
        assert_eq!(CanaryCut.judge(&a, &run).iter().map(|c| c.ok).collect::<Vec<_>>(), [true, true]);
        run.quarantined = (Some(2), Some(5));
        run.canary_after = run.canary_before.clone();
        assert_eq!(CanaryCut.judge(&a, &run).iter().map(|c| c.ok).collect::<Vec<_>>(), [false, false]);
        run.quarantined = (None, None);
        assert!(!CanaryCut.judge(&a, &run)[0].ok, "an unread count is not a pass");
    }

    #[test]
    fn a_replica_down_and_a_recorder_kill_keep_known_codes_redirecting() {
        use Phase::During as D;
        let mut run = run_of(&[(D, true, Some(302), 1), (D, true, Some(302), 1)]);
        run.clicks = Some(crate::traffic::ClickAccount {
            answered: 2,
            stored: 2,
            lost: 0,
            duplicated: 0,
            waited_secs: 0.0,
        });
        let a = args(&["recorder-kill", "--stop-cmd=k", "--start-cmd=s"]);
        assert!(ReplicaDown.judge(&a, &run)[0].ok);
        assert_eq!(RecorderKill.judge(&a, &run).iter().map(|c| c.ok).collect::<Vec<_>>(), [true, true, true]);
        run.samples.push(run_of(&[(D, true, Some(502), 1)]).samples[0].clone());
        assert!(!ReplicaDown.judge(&a, &run)[0].ok);
        assert!(!RecorderKill.judge(&a, &run)[0].ok);
    }
}
