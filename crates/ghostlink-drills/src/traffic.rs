//! The load a traffic drill puts on the redirect, and how its clicks are accounted for.
//!
//! `rate` requests per second until the drill's [`Clock`] says it is done, in a realistic mix:
//! nine in ten ask for a known code, picked with a Zipf-like popularity (the i-th most popular
//! weighs 1/(i+1)), one in nine of those a HEAD; one in ten asks for a never-seen code, which
//! must reach Postgres. They come from many clients — 64 user agents, each from a loopback
//! address of its own when the redirect is on this machine — since one client asking for
//! never-seen codes is a scanner to ghost-probe, and past its scan budget the redirect answers
//! its never-seen codes 429 without asking Postgres. Each request carries its number in the
//! Referer, so its click can be found in Postgres ([`ClickAccount`]).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::phase::{Clock, Phase};
use crate::DrillError;

/// Simulated users: distinct user agents, and distinct addresses on a loopback redirect.
pub const USERS: u8 = 64;

/// One answered (or unanswered) request.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The request's number; also in its Referer.
    pub seq: u64,
    /// When it was sent, seconds since the traffic started.
    pub at: f64,
    pub head: bool,
    /// The phase it was sent in.
    pub phase: Phase,
    /// Whether its answer came while the fault was in place (not while it was being injected
    /// or lifted).
    pub while_faulted: bool,
    /// A code created for the drill, as opposed to a never-seen one.
    pub known: bool,
    /// The answer's status; `None` when there was no answer.
    pub status: Option<u16>,
    pub latency: Duration,
}

impl Sample {
    /// Answered with the redirect.
    pub fn redirected(&self) -> bool {
        self.status == Some(302)
    }

    /// Whether the redirect made a click event of it: every answer except a refusal (429);
    /// 502 and 504 come from a proxy in front of the redirect, not from it.
    pub fn expects_click(&self) -> bool {
        !matches!(self.status, None | Some(429 | 502 | 504))
    }

    /// When its answer came (or the request gave up), seconds since the traffic started.
    pub fn ended_at(&self) -> f64 {
        self.at + self.latency.as_secs_f64()
    }
}

/// What request number `seq` asks for: `(known, head)`.
pub fn mix(seq: u64) -> (bool, bool) {
    let known = !seq.is_multiple_of(10);
    (known, known && seq % 10 == 5)
}

/// A Zipf-like popularity over `n` codes: the i-th weighs 1/(i+1).
#[derive(Debug, Clone)]
pub struct Popularity {
    weights: Vec<f64>,
    total: f64,
}

impl Popularity {
    pub fn zipf(n: usize) -> Self {
        let weights: Vec<f64> = (0..n).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        let total = weights.iter().sum();
        Popularity { weights, total }
    }

    /// The code `u` (uniform in [0, 1)) falls on.
    pub fn pick(&self, u: f64) -> usize {
        let mut x = u * self.total;
        for (i, w) in self.weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        self.weights.len().saturating_sub(1)
    }
}

/// Whether `url`'s host is this machine (the traffic can then come from many addresses).
pub fn is_loopback(url: &str) -> bool {
    let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned));
    host.as_deref()
        .is_some_and(|h| h == "localhost" || h.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback()))
}

/// The HTTP clients the traffic comes from: on a loopback redirect one per simulated user,
/// connecting from 127.0.1.1 to 127.0.1.64 (the redirect and ghost-probe count a client by its
/// address too: 64 user agents from one address are one client rotating its user agent, a
/// scanner); elsewhere, through a proxy they would all share one address anyway, `shared`.
pub fn clients(redirect_url: &str, shared: &reqwest::Client) -> Result<Vec<reqwest::Client>, DrillError> {
    if !is_loopback(redirect_url) {
        return Ok(vec![shared.clone()]);
    }
    (1..=USERS)
        .map(|i| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(5))
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, i)))
                .build()
                .map_err(DrillError::failed)
        })
        .collect()
}

/// Where and how to send the traffic.
pub struct Traffic {
    pub clients: Vec<reqwest::Client>,
    /// The redirect's base URL.
    pub base: String,
    pub codes: Vec<String>,
    pub rate: u32,
    /// The Referer prefix; each request adds its number.
    pub tag: String,
    pub clock: Clock,
    /// When the traffic started (samples' `at` counts from it).
    pub t0: Instant,
}

impl Traffic {
    /// Sends requests until the clock reaches [`Stage::Done`](crate::phase::Stage::Done), waits
    /// for the last answers, and returns every request's sample.
    pub async fn drive(self) -> Vec<Sample> {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(self.rate.max(1))));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let popularity = Popularity::zipf(self.codes.len());
        let mut samples = Vec::new();
        let mut inflight = tokio::task::JoinSet::new();
        let mut seq: u64 = 0;
        loop {
            tick.tick().await;
            let Some(phase) = self.clock.stage().phase() else { break };
            seq += 1;
            let (known, head) = mix(seq);
            let code = if known && !self.codes.is_empty() {
                self.codes[popularity.pick(rand::random::<f64>())].clone()
            } else {
                format!("sim{seq:06}x{}", rand::random::<u16>())
            };
            let url = format!("{}/{code}", self.base);
            let client = self.clients[(seq % self.clients.len() as u64) as usize].clone();
            let clock = self.clock.clone();
            let agent = format!("ghostlink-simulate/1 (client {})", seq % u64::from(USERS));
            let referer = format!("{}{seq}", self.tag);
            let at = self.t0.elapsed().as_secs_f64();
            inflight.spawn(async move {
                let started = Instant::now();
                let req = if head { client.head(url) } else { client.get(url) };
                let status = req
                    .header("User-Agent", agent)
                    .header("Referer", referer)
                    .send()
                    .await
                    .ok()
                    .map(|r| r.status().as_u16());
                Sample {
                    seq,
                    at,
                    head,
                    phase,
                    while_faulted: clock.stage().fault_in_place(),
                    known,
                    status,
                    latency: started.elapsed(),
                }
            });
            while let Some(done) = inflight.try_join_next() {
                samples.extend(done.ok());
            }
        }
        while let Some(done) = inflight.join_next().await {
            samples.extend(done.ok());
        }
        samples.sort_by_key(|s| s.seq);
        samples
    }
}

/// Answered clicks against stored ones.
#[derive(Debug, Clone, PartialEq)]
pub struct ClickAccount {
    /// Requests the redirect made a click event of.
    pub answered: usize,
    /// Of those, stored at least once.
    pub stored: usize,
    /// Answered but never stored.
    pub lost: usize,
    /// Copies stored beyond the first.
    pub duplicated: usize,
    /// How long the drill waited for the last of them, seconds.
    pub waited_secs: f64,
}

impl ClickAccount {
    /// Tallies `rows` (stored clicks counted per referrer) against the samples that should have
    /// made a click; a referrer not under `tag` is another run's.
    pub fn tally(samples: &[Sample], tag: &str, rows: &[(String, i64)], waited_secs: f64) -> ClickAccount {
        let answered: HashSet<u64> = samples.iter().filter(|s| s.expects_click()).map(|s| s.seq).collect();
        let mut stored: HashMap<u64, i64> = HashMap::new();
        for (referrer, n) in rows {
            if let Some(seq) = referrer.strip_prefix(tag).and_then(|s| s.parse::<u64>().ok()) {
                *stored.entry(seq).or_default() += n;
            }
        }
        ClickAccount {
            answered: answered.len(),
            stored: stored.len(),
            lost: answered.iter().filter(|s| !stored.contains_key(s)).count(),
            duplicated: stored.values().map(|n| (*n - 1).max(0) as usize).sum(),
            waited_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_in_ten_is_never_seen_and_heads_are_known_codes() {
        let picks: Vec<(bool, bool)> = (1..=20).map(mix).collect();
        assert_eq!(picks.iter().filter(|(known, _)| !known).count(), 2);
        assert_eq!(picks.iter().filter(|(_, head)| *head).count(), 2);
        assert!(picks.iter().all(|(known, head)| known | !head));
        assert_eq!(mix(10), (false, false));
        assert_eq!(mix(15), (true, true));
    }

    #[test]
    fn popularity_favours_the_first_codes() {
        let p = Popularity::zipf(4); // weights 1, 1/2, 1/3, 1/4 of 25/12
        assert_eq!(p.pick(0.0), 0);
        assert_eq!(p.pick(0.47), 0);
        assert_eq!(p.pick(0.49), 1);
        assert_eq!(p.pick(0.99), 3);
        assert_eq!(p.pick(1.0), 3, "the end of the range is the last code");
        let counts = (0..1000).fold([0usize; 4], |mut c, i| {
            c[p.pick(f64::from(i) / 1000.0)] += 1;
            c
        });
        assert!(counts.windows(2).all(|w| w[0] > w[1]), "{counts:?}");
        assert_eq!(Popularity::zipf(0).pick(0.5), 0);
    }

    #[test]
    fn loopback_redirects_get_many_addresses() {
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://localhost:8080/"));
        assert!(is_loopback("http://127.3.2.1"));
        assert!(!is_loopback("http://10.0.0.1:8080"));
        assert!(!is_loopback("https://go.example.com"));
        assert!(!is_loopback("not a url"));
    }

    fn sample(seq: u64, status: Option<u16>) -> Sample {
        Sample {
            seq,
            at: 1.0,
            head: false,
            phase: Phase::During,
            while_faulted: true,
            known: true,
            status,
            latency: Duration::from_millis(250),
        }
    }

    #[test]
    fn refused_and_proxy_answers_make_no_click() {
        let made: Vec<bool> = [Some(302), Some(404), Some(503), Some(429), Some(502), Some(504), None]
            .into_iter()
            .map(|s| sample(1, s).expects_click())
            .collect();
        assert_eq!(made, [true, true, true, false, false, false, false]);
        assert_eq!(sample(1, None).ended_at(), 1.25);
    }

    #[test]
    fn clicks_are_tallied_by_referrer() {
        let tag = "https://simulate.invalid/run/";
        let samples =
            [sample(1, Some(302)), sample(2, Some(302)), sample(3, Some(503)), sample(4, Some(429))];
        let rows = vec![
            (format!("{tag}1"), 1),
            (format!("{tag}2"), 3),
            ("https://simulate.invalid/other-run/3".to_string(), 1),
            (format!("{tag}not-a-number"), 1),
        ];
        let c = ClickAccount::tally(&samples, tag, &rows, 2.5);
        assert_eq!(c, ClickAccount { answered: 3, stored: 2, lost: 1, duplicated: 2, waited_secs: 2.5 });
    }
}
