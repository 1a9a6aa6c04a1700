//! Outages of what GhostLink stands on — Postgres stopped or refusing connections, a lock on
//! `links`, Redis stopped, RabbitMQ's app stopped — under the traffic frame.

use std::time::Duration;

use crate::faults::Fault;
use crate::frame::{self, Probe, TrafficRun};
use crate::phase::Phase;
use crate::report::{self, Check};
use crate::scenario::{Plan, TrafficScenario};
use crate::settings::DrillArgs;
use crate::traffic::Sample;

/// `--stop-cmd` / `--start-cmd`, or the scenario's defaults for this kind of machine.
fn shell_or(args: &DrillArgs, stop: &str, start: &str) -> Fault {
    Fault::shell(
        args.stop_cmd.clone().unwrap_or_else(|| stop.into()),
        args.start_cmd.clone().unwrap_or_else(|| start.into()),
    )
}

/// The newest Postgres cluster version installed here (Debian's layout), 15 when none is.
fn pg_version() -> String {
    std::fs::read_dir("/etc/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .unwrap_or(15)
        .to_string()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The p99 of the known (or unknown) codes' requests during the fault.
fn p99_during(run: &TrafficRun, known: bool) -> Duration {
    report::percentile(run.phase(Phase::During).filter(|s| s.known == known), 0.99)
}

/// With the database gone: cached codes all redirect, never-seen codes answer 503 and never
/// 404 while the fault lasts (an address past its scan budget gets 429, not an unchecked 404),
/// and the shortener answers a create 503.
fn database_gone_checks(run: &TrafficRun) -> Vec<Check> {
    let known_ok = run.known_ok(Phase::During);
    let unknown: Vec<&Sample> = run.phase(Phase::During).filter(|s| !s.known).collect();
    // Only answers while the fault was in place: a request waiting for a connection may get
    // its correct 404 once the database is back.
    let n404 = unknown.iter().filter(|s| s.status == Some(404) && s.while_faulted).count();
    let n503 = unknown.iter().filter(|s| s.status == Some(503)).count();
    let shortener = match run.shortener_during {
        Some(s) => s.to_string(),
        None => "no answer".into(),
    };
    vec![
        Check::new(known_ok >= 1.0, format!("during: cached codes redirect, 100 % ({known_ok:.4})")),
        Check::new(
            n404 == 0,
            format!("during: unknown codes never 404 while the fault lasts ({n404} of {})", unknown.len()),
        ),
        Check::new(n503 > 0, format!("during: unknown codes answer 503 ({n503} of {})", unknown.len())),
        Check::new(
            run.shortener_during == Some(503),
            format!("during: the shortener answers 503 to a create ({shortener})"),
        ),
    ]
}

/// Known codes keep succeeding.
fn success_check(run: &TrafficRun) -> Check {
    let known_ok = run.known_ok(Phase::During);
    Check::new(known_ok >= 0.9999, format!("during: success {known_ok:.4} >= 0.9999"))
}

pub struct DbOutage;

impl TrafficScenario for DbOutage {
    fn describe(&self, a: &DrillArgs) -> Plan {
        Plan {
            what: format!("stops Postgres for {} s under {} req/s", a.fault_secs, a.rate),
            expect: "  - cached codes keep redirecting (302); never-seen codes answer 503, never 404\n  - the shortener answers 503 with a JSON error\n  - readiness (/readyz) of redirect and shortener fails; alerts: RedirectErrorRatioHigh (5xx > 5 % for 5 m), SLO burn rates".into(),
        }
    }

    fn fault(&self, a: &DrillArgs) -> Result<Fault, crate::DrillError> {
        let v = pg_version();
        Ok(shell_or(
            a,
            &format!("pg_ctlcluster --skip-systemctl-redirect {v} main stop -m fast"),
            &format!("pg_ctlcluster --skip-systemctl-redirect {v} main start"),
        ))
    }

    fn probes(&self) -> &'static [Probe] {
        &[Probe::ShortenerDuring]
    }

    fn judge(&self, _: &DrillArgs, run: &TrafficRun) -> Vec<Check> {
        let mut checks = database_gone_checks(run);
        checks.extend(frame::click_checks(run));
        checks
    }
}

pub struct ErrorSpike;

impl TrafficScenario for ErrorSpike {
    fn describe(&self, a: &DrillArgs) -> Plan {
        Plan {
            what: format!("makes GhostLink's database refuse connections for {} s (ALLOW_CONNECTIONS false + terminate its sessions)", a.fault_secs),
            expect: "  - cached codes keep redirecting; never-seen codes answer 503 (a 5xx spike)\n  - alerts: RedirectErrorRatioHigh after 5 m of > 5 % 5xx, RedirectSLOBurnRateFast when it lasts".into(),
        }
    }

    fn fault(&self, _: &DrillArgs) -> Result<Fault, crate::DrillError> {
        Ok(Fault::RefuseConnections)
    }

    fn probes(&self) -> &'static [Probe] {
        &[Probe::ShortenerDuring]
    }

    fn judge(&self, _: &DrillArgs, run: &TrafficRun) -> Vec<Check> {
        database_gone_checks(run)
    }
}

pub struct RedisOutage;

impl TrafficScenario for RedisOutage {
    fn describe(&self, a: &DrillArgs) -> Plan {
        Plan {
            what: format!("stops Redis for {} s", a.fault_secs),
            expect: "  - redirects keep succeeding: the breaker opens after 3 failures, lookups go to Postgres, no stall (p99 <= 100 ms)\n  - in-process entries drop to a 1 s lifetime (invalidation channel down)\n  - alerts: RedisUnavailable (redis_fallback_active), InvalidationChannelDown".into(),
        }
    }

    fn fault(&self, a: &DrillArgs) -> Result<Fault, crate::DrillError> {
        Ok(shell_or(
            a,
            "redis-cli -h 127.0.0.1 -p 6379 shutdown nosave",
            "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no",
        ))
    }

    fn judge(&self, _: &DrillArgs, run: &TrafficRun) -> Vec<Check> {
        let p99 = report::percentile(run.phase(Phase::During), 0.99);
        let fallback = run.mid.sum("redis_fallback_active", &[]);
        let errors = run.after.sum("redis_errors_total", &[]) - run.before.sum("redis_errors_total", &[]);
        let mut checks = vec![
            success_check(run),
            Check::latency(
                p99 <= Duration::from_millis(100),
                format!("during: p99 {:.1} ms <= 100", ms(p99)),
            ),
            Check::new(
                fallback >= 1.0 || errors > 0.0,
                format!(
                    "during: the redirect noticed (redis_fallback_active {fallback}, redis errors +{errors})"
                ),
            ),
        ];
        checks.extend(frame::click_checks(run));
        checks
    }
}

pub struct BrokerOutage;

impl TrafficScenario for BrokerOutage {
    fn describe(&self, a: &DrillArgs) -> Plan {
        Plan {
            what: format!("stops RabbitMQ's app for {} s", a.fault_secs),
            expect: "  - redirects unaffected; click events go to each replica's disk spool (spool_bytes > 0)\n  - after: the spool drains in order within 60 s, 0 clicks dropped\n  - alerts: ClickSpoolGrowing; ClickRecorderNotConsuming and RiskScorerNotConsuming after 2 m".into(),
        }
    }

    fn fault(&self, a: &DrillArgs) -> Result<Fault, crate::DrillError> {
        Ok(shell_or(a, "rabbitmqctl stop_app", "rabbitmqctl start_app"))
    }

    fn probes(&self) -> &'static [Probe] {
        &[Probe::SpoolDrain]
    }

    fn judge(&self, _: &DrillArgs, run: &TrafficRun) -> Vec<Check> {
        let p99b = report::percentile(run.phase(Phase::Before), 0.99);
        let p99d = report::percentile(run.phase(Phase::During), 0.99);
        let spooled =
            run.after.sum("clicks_spooled_total", &[]) - run.before.sum("clicks_spooled_total", &[]);
        let drain = match run.spool {
            Some(s) => Check::new(
                s.drained,
                format!("after: spool drained {:.1}s after the broker came back (<= 60 s)", s.waited_secs),
            ),
            None => Check::new(false, "after: spool drained (not observed)"),
        };
        let mut checks = vec![
            success_check(run),
            Check::latency(
                p99d.as_secs_f64() <= p99b.as_secs_f64() * 1.10,
                format!("during: p99 {:.2} ms within +10 % of before ({:.2} ms)", ms(p99d), ms(p99b)),
            ),
            Check::new(spooled > 0.0, format!("during: clicks went to the spool (+{spooled})")),
            drain,
        ];
        checks.extend(frame::click_checks(run));
        checks
    }
}

pub struct SlowDb;

impl TrafficScenario for SlowDb {
    fn describe(&self, a: &DrillArgs) -> Plan {
        Plan {
            what: format!("holds an ACCESS EXCLUSIVE lock on links for {} s (queries on it wait)", a.fault_secs),
            expect: "  - cached codes are unaffected; never-seen codes wait for the lock up to the statement timeout, then 503\n  - alerts: RedirectLatencyP99High if it lasts 10 m, DBPoolSaturated when the pool fills".into(),
        }
    }

    fn fault(&self, _: &DrillArgs) -> Result<Fault, crate::DrillError> {
        Ok(Fault::LockLinks)
    }

    fn judge(&self, _: &DrillArgs, run: &TrafficRun) -> Vec<Check> {
        let known_ok = run.known_ok(Phase::During);
        let (cached, uncached) = (p99_during(run, true), p99_during(run, false));
        vec![
            Check::new(known_ok >= 0.999, format!("during: cached codes redirect ({known_ok:.4})")),
            Check::latency(
                cached <= Duration::from_millis(100),
                format!("during: cached p99 {} ms <= 100", cached.as_millis()),
            ),
            Check::new(
                uncached > cached,
                format!("during: uncached p99 {} ms > cached", uncached.as_millis()),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::tests::run_of;
    use crate::settings::tests::args;
    use crate::traffic::ClickAccount;

    fn oks(checks: &[Check]) -> Vec<bool> {
        checks.iter().map(|c| c.ok).collect()
    }

    fn clean_clicks() -> Option<ClickAccount> {
        Some(ClickAccount { answered: 5, stored: 5, lost: 0, duplicated: 0, waited_secs: 0.5 })
    }

    #[test]
    fn a_database_outage_wants_503_never_404() {
        use Phase::During as D;
        let mut run = run_of(&[(D, true, Some(302), 1), (D, false, Some(503), 2), (D, false, Some(429), 1)]);
        run.shortener_during = Some(503);
        run.clicks = clean_clicks();
        let a = args(&["db-outage"]);
        assert_eq!(oks(&DbOutage.judge(&a, &run)), [true, true, true, true, true, true]);

        // A 404 while the fault was in place fails; one answered after the restore began does not.
        run.samples.push(run_of(&[(D, false, Some(404), 2)]).samples[0].clone());
        assert!(!oks(&DbOutage.judge(&a, &run))[1]);
        if let Some(s) = run.samples.last_mut() {
            s.while_faulted = false;
        }
        assert!(oks(&DbOutage.judge(&a, &run))[1]);

        // A cached code not redirected, no 503 at all, a shortener that did not answer.
        let mut bad = run_of(&[(D, true, Some(503), 1), (D, true, Some(302), 1), (D, false, Some(404), 1)]);
        if let Some(s) = bad.samples.last_mut() {
            s.while_faulted = false;
        }
        bad.clicks = clean_clicks();
        let checks = DbOutage.judge(&a, &bad);
        assert_eq!(oks(&checks), [false, true, false, false, true, true]);
        assert!(checks[3].name.ends_with("(no answer)"), "{}", checks[3].name);
        // The error spike judges the same answers, without clicks.
        assert_eq!(oks(&ErrorSpike.judge(&args(&["error-spike"]), &bad)), [false, true, false, false]);
    }

    #[test]
    fn a_redis_outage_needs_the_redirect_to_notice() {
        let mut run = run_of(&[(Phase::During, true, Some(302), 20)]);
        run.clicks = clean_clicks();
        let a = args(&["redis-outage"]);
        let noticed = |run: &TrafficRun| RedisOutage.judge(&a, run)[2].ok;
        assert!(!noticed(&run), "no fallback and no error");
        run.mid = crate::metrics::Scrape::parse("redis_fallback_active 1\n").unwrap_or_default();
        assert!(noticed(&run));
        run.mid = Default::default();
        run.before = crate::metrics::Scrape::parse("redis_errors_total 4\n").unwrap_or_default();
        run.after = crate::metrics::Scrape::parse("redis_errors_total 9\n").unwrap_or_default();
        assert!(noticed(&run));
        // The latency target.
        let slow = run_of(&[(Phase::During, true, Some(302), 150)]);
        let checks = RedisOutage.judge(&a, &slow);
        assert!(checks[1].latency && !checks[1].ok, "{checks:?}");
    }

    #[test]
    fn a_broker_outage_spools_and_drains() {
        let mut run = run_of(&[(Phase::Before, true, Some(302), 10), (Phase::During, true, Some(302), 10)]);
        run.clicks = clean_clicks();
        run.before = crate::metrics::Scrape::parse("clicks_spooled_total 0\n").unwrap_or_default();
        run.after = crate::metrics::Scrape::parse("clicks_spooled_total 40\n").unwrap_or_default();
        run.spool = Some(frame::SpoolDrain { drained: true, waited_secs: 7.5 });
        let a = args(&["broker-outage"]);
        assert_eq!(oks(&BrokerOutage.judge(&a, &run)), [true, true, true, true, true, true]);
        run.spool = Some(frame::SpoolDrain { drained: false, waited_secs: 64.0 });
        run.after = run.before.clone();
        assert_eq!(oks(&BrokerOutage.judge(&a, &run)), [true, true, false, false, true, true]);
        run.spool = None;
        assert!(!BrokerOutage.judge(&a, &run)[3].ok, "a drain not observed is not a pass");
    }

    #[test]
    fn a_slow_database_slows_only_uncached_codes() {
        use Phase::During as D;
        let a = args(&["slow-db"]);
        let run = run_of(&[(D, true, Some(302), 5), (D, false, Some(503), 1000)]);
        assert_eq!(oks(&SlowDb.judge(&a, &run)), [true, true, true]);
        let flat = run_of(&[(D, true, Some(302), 5), (D, false, Some(404), 5)]);
        assert_eq!(oks(&SlowDb.judge(&a, &flat)), [true, true, false]);
    }

    #[test]
    fn shell_faults_take_the_given_commands_over_the_defaults() {
        let given = args(&[
            "redis-outage",
            "--stop-cmd=docker compose stop redis",
            "--start-cmd=docker compose start redis",
        ]);
        assert_eq!(
            RedisOutage.fault(&given).ok(),
            Some(Fault::shell("docker compose stop redis", "docker compose start redis"))
        );
        match DbOutage.fault(&args(&["db-outage"])) {
            Ok(Fault::Shell { stop, start }) => {
                assert!(stop.starts_with("pg_ctlcluster") && stop.ends_with("stop -m fast"), "{stop}");
                assert!(start.ends_with("main start"), "{start}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ErrorSpike.fault(&given).ok(),
            Some(Fault::RefuseConnections),
            "SQL faults take no command"
        );
    }
}
