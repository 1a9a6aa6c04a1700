//! A destination that fails: the canary quarantines the links to it, the redirect stops
//! redirecting them, and once the server answers again the canary restores them. The fault is
//! a server this drill starts itself ([`Destination`]); nothing shared is stopped.

use std::time::{Duration, Instant};

use ghostlink_domain::HealthState;

use crate::destination::Destination;
use crate::report::Check;
use crate::scenario::{Plan, Scenario};
use crate::settings::DrillArgs;
use crate::system::System;
use crate::DrillError;

pub struct DeadDestinations;

/// What the drill saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// How long after creation every link was quarantined (`None`: not within `--fault-secs`).
    pub quarantined: Option<Duration>,
    /// What the redirect answered a quarantined link (`None`: no answer, or not asked).
    pub follow: Option<u16>,
    /// How long after the server recovered every link was healthy again.
    pub restored: Option<Duration>,
}

/// Links to the failing server.
const LINKS: usize = 3;

impl Scenario for DeadDestinations {
    type Observed = Seen;

    fn plan(&self, a: &DrillArgs) -> Result<Plan, DrillError> {
        Ok(Plan {
            what: format!("starts a destination server answering 503, creates {LINKS} links to it, waits up to {} s", a.fault_secs),
            expect: "  - the canary probes each link every CANARY_INTERVAL s; after 3 failed checks in a row the link is quarantined\n    (link.quarantined; the redirect shows a warning page instead of redirecting)\n  - the server then answers 200: 2 good checks restore the links (link.restored)\n  - alerts: CanaryQuarantineSpike when more than 10 links go in 15 minutes\n  note: the canary refuses private addresses unless CANARY_ALLOW_PRIVATE_TARGETS allows 127.0.0.1;\n  refused probes (`blocked`) count as failures too, so the links are quarantined either way".into(),
        })
    }

    async fn observe(&self, system: &System<'_>) -> Result<Seen, DrillError> {
        let a = system.args;
        let server = Destination::start_failing().await?;
        let addr = server.addr();
        let codes = system.create_links(LINKS, |i| format!("http://{addr}/gone/{i}")).await?;
        println!("links: {} -> http://{addr}/gone/*", codes.join(", "));
        let t = Instant::now();
        let limit = Duration::from_secs(a.fault_secs);
        let mut seen = Seen {
            quarantined: system.wait_states(&codes, HealthState::Quarantined, limit).await,
            ..Seen::default()
        };
        if seen.quarantined.is_some() {
            seen.follow = system
                .status_of(format!("{}/{}", a.redirect_url, codes[0]), "ghostlink-simulate/1 (checks)")
                .await;
            server.recover();
            seen.restored = system.wait_states(&codes, HealthState::Healthy, limit).await;
        }
        println!("observed over {:.1}s", t.elapsed().as_secs_f64());
        Ok(seen)
    }

    fn checks(&self, a: &DrillArgs, seen: &Seen) -> Vec<Check> {
        let quarantined = Check::new(
            seen.quarantined.is_some(),
            match seen.quarantined {
                Some(d) => format!("all {LINKS} links quarantined {:.1}s after creation", d.as_secs_f64()),
                None => format!(
                    "links quarantined within {} s (raise --fault-secs above 3 x CANARY_INTERVAL)",
                    a.fault_secs
                ),
            },
        );
        if seen.quarantined.is_none() {
            return vec![quarantined];
        }
        let follow = match seen.follow {
            Some(s) => s.to_string(),
            None => "no answer".into(),
        };
        vec![
            quarantined,
            Check::new(
                seen.follow.is_some_and(|s| s != 302),
                format!("the redirect no longer redirects a quarantined link ({follow})"),
            ),
            // A canary that refuses 127.0.0.1 quarantines the links (`blocked`) and never
            // restores them; with commands of its own the operator's setup decides.
            Check::new(
                seen.restored.is_some() || a.stop_cmd.is_some(),
                match seen.restored {
                    Some(d) => format!("links restored {:.1}s after the server recovered", d.as_secs_f64()),
                    None => {
                        "links restored (only with CANARY_ALLOW_PRIVATE_TARGETS allowing 127.0.0.1)".into()
                    }
                },
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::args;

    #[test]
    fn quarantined_not_followed_and_restored() {
        let a = args(&["dead-destinations"]);
        let secs = |s| Some(Duration::from_secs(s));
        let oks = |seen: &Seen| DeadDestinations.checks(&a, seen).iter().map(|c| c.ok).collect::<Vec<_>>();
        assert_eq!(
            oks(&Seen { quarantined: secs(9), follow: Some(200), restored: secs(7) }),
            [true, true, true]
        );
        assert_eq!(
            oks(&Seen { quarantined: secs(9), follow: Some(302), restored: None }),
            [true, false, false]
        );
        assert_eq!(oks(&Seen { quarantined: secs(9), follow: None, restored: secs(7) }), [true, false, true]);
        assert_eq!(oks(&Seen::default()), [false], "nothing quarantined: nothing else to check");
    }
}
