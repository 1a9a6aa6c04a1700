//! `ghostctl simulate <scenario>`: breaks the running system for real, restores it, and prints
//! what it did, what should happen (which fallback, which alert) and what it observed.
//!
//! Every scenario runs the same frame: it mints a temporary admin token, creates a few links
//! through the shortener and warms them on the redirect, then drives steady traffic at the
//! redirect (`--rate`, mostly those links plus a share of never-seen codes that must reach
//! Postgres) through three phases — before, during the fault (`--fault-secs`), after — and prints
//! a table per phase (answers by status, p50/p99) and the scenario's checks, each PASS or FAIL.
//! Exit 0 when every check passed, 1 otherwise, 2 for bad arguments.
//!
//! Faults on shared infrastructure run shell commands with defaults for this kind of machine
//! (the brief's start commands); `--stop-cmd` / `--start-cmd` (or `SIMULATE_STOP_CMD` /
//! `SIMULATE_START_CMD`) replace them, e.g. `docker compose stop redis` for the compose stack
//! (see `ops/simulate/`). Faults GhostLink can make by itself (refusing connections to its own
//! database, holding a lock, a failing destination server, a scanner) need no commands.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use ghostlink_domain::Role;

use crate::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Stop Postgres: cached codes keep redirecting, the rest answer 503 (never 404).
    DbOutage,
    /// Stop Redis: lookups fall back to Postgres, no stall.
    RedisOutage,
    /// Stop RabbitMQ's app: redirects unaffected, clicks spooled, drained after.
    BrokerOutage,
    /// A destination server fails: the canary quarantines its links.
    DeadDestinations,
    /// An enumeration scanner: ghost-probe flags it (and the redirect answers it 429 in enforce mode).
    ProbeStorm,
    /// GhostLink's database refuses connections: uncached lookups answer 503 (error ratio alert).
    ErrorSpike,
    /// A lock on the links table: uncached lookups slow down, cached ones do not.
    SlowDb,
    /// Kill one redirect replica behind nginx: requests keep succeeding.
    ReplicaDown,
    /// kill -9 the click recorder mid-work, then restart it: no click lost or stored twice.
    RecorderKill,
    /// kill -9 the canary mid-round, then restart it: no link probed twice in an interval.
    CanaryKill,
    /// Cut the canary off from every destination for a round: nothing quarantined.
    CanaryCut,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[arg(value_enum)]
    scenario: Scenario,
    /// The public redirect (nginx in front of the replicas, or one replica).
    #[arg(long, env = "GHOSTLINK_REDIRECT_URL", default_value = "http://127.0.0.1:8080")]
    redirect_url: String,
    /// The shortener API.
    #[arg(long, env = "GHOSTLINK_SHORTENER_URL", default_value = "http://127.0.0.1:8081")]
    shortener_url: String,
    /// A redirect replica's ops listener (metrics read during the run).
    #[arg(long, env = "GHOSTLINK_REDIRECT_OPS_URL", default_value = "http://127.0.0.1:9101")]
    redirect_ops_url: String,
    /// Prometheus, to list the alerts firing after the fault (optional).
    #[arg(long, env = "PROMETHEUS_URL")]
    prometheus_url: Option<String>,
    /// How long the fault lasts, seconds.
    #[arg(long, default_value_t = 20)]
    fault_secs: u64,
    /// Traffic before and after the fault, seconds each.
    #[arg(long, default_value_t = 5)]
    settle_secs: u64,
    /// Requests per second at the redirect.
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// The canary's ops listener (canary scenarios read its metrics).
    #[arg(long, env = "GHOSTLINK_CANARY_OPS_URL", default_value = "http://127.0.0.1:9103")]
    canary_ops_url: String,
    /// The canary's CANARY_INTERVAL, seconds (canary-kill checks no link is probed twice in it).
    #[arg(long, env = "CANARY_INTERVAL", default_value_t = 300)]
    canary_interval: u64,
    /// Destinations of the links created for the traffic, comma-separated, used in turn
    /// (`/<n>` appended). Point them at live servers when a canary runs with a short interval.
    #[arg(long, env = "SIMULATE_LINK_URLS", default_value = "https://example.com/simulate")]
    link_urls: String,
    /// Links created for the traffic (requested with a Zipf-like popularity).
    #[arg(long, default_value_t = 50)]
    links: usize,
    /// Longest wait, after the fault, for every answered click to be stored, seconds.
    #[arg(long, default_value_t = 90)]
    drain_secs: u64,
    /// `enforce`: a missed latency target fails the run; `report`: it is printed only (for a
    /// gate on a shared, noisy machine, where latency is a figure, not a test).
    #[arg(long, value_enum, default_value = "enforce")]
    latency_targets: LatencyTargets,
    /// Write the run's figures and checks as JSON to this file (ops/chaos/run.sh reads them).
    #[arg(long)]
    summary_json: Option<std::path::PathBuf>,
    /// Shell command that injects the fault (replaces the scenario's default).
    #[arg(long, env = "SIMULATE_STOP_CMD")]
    stop_cmd: Option<String>,
    /// Shell command that restores it.
    #[arg(long, env = "SIMULATE_START_CMD")]
    start_cmd: Option<String>,
}

/// One answered (or failed) request.
#[derive(Debug, Clone)]
struct Sample {
    /// The request's number; also in its Referer, so its click can be found in Postgres.
    seq: u64,
    /// Seconds since the traffic started, when it was sent.
    at: f64,
    head: bool,
    phase: usize,
    /// 1 when the answer came while the fault was in place (not yet being undone): a request
    /// waiting on a fault may be answered correctly once it is lifted.
    answered_in: usize,
    known: bool,
    status: u16, // 0: no answer
    latency: Duration,
}

const PHASES: [&str; 3] = ["before", "during", "after"];

struct Check {
    name: String,
    ok: bool,
    /// A latency target: a figure, enforced only with `--latency-targets enforce`.
    latency: bool,
}

fn check(checks: &mut Vec<Check>, ok: bool, name: impl Into<String>) {
    checks.push(Check { name: name.into(), ok, latency: false });
}

fn latency_check(checks: &mut Vec<Check>, ok: bool, name: impl Into<String>) {
    checks.push(Check { name: name.into(), ok, latency: true });
}

/// Whether missed latency targets fail the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LatencyTargets {
    Enforce,
    Report,
}

pub fn run(database_url: &str, args: SimulateArgs) -> Result<(), Failure> {
    if args.rate == 0 || args.rate > 5_000 {
        return Err(Failure::usage("--rate must be 1..=5000"));
    }
    if args.links == 0 || args.links > 10_000 {
        return Err(Failure::usage("--links must be 1..=10000"));
    }
    if args.fault_secs == 0 || args.fault_secs > 3_600 {
        return Err(Failure::usage("--fault-secs must be 1..=3600"));
    }
    let listed = args.redirect_ops_url.split(',').chain(args.link_urls.split(',')).map(str::trim);
    for u in [args.redirect_url.as_str(), args.shortener_url.as_str()].into_iter().chain(listed) {
        if url::Url::parse(u).is_err() {
            return Err(Failure::usage(format!("'{u}' is not a URL")));
        }
    }
    let name = format!("simulate-{}", chrono::Utc::now().format("%Y%m%d%H%M%S%f"));
    let token = crate::tokens::create(database_url, &name, Role::Admin)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .map_err(|e| Failure::other(format!("runtime: {e}")))?;
    let result = rt.block_on(simulate(database_url, &args, &token));
    let _ = crate::tokens::revoke(database_url, &name);
    result
}

async fn simulate(database_url: &str, args: &SimulateArgs, token: &str) -> Result<(), Failure> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .user_agent("ghostlink-simulate/1 (checks)")
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| Failure::other(e.to_string()))?;
    let sim = Sim { args, client, token: token.to_string(), database_url: database_url.to_string() };
    println!("== ghostctl simulate {:?}", args.scenario);
    match args.scenario {
        Scenario::DeadDestinations => sim.dead_destinations().await,
        Scenario::ProbeStorm => sim.probe_storm().await,
        _ => sim.traffic_scenario().await,
    }
}

struct Sim<'a> {
    args: &'a SimulateArgs,
    client: reqwest::Client,
    token: String,
    database_url: String,
}

impl Sim<'_> {
    async fn create_links(&self, n: usize, url: impl Fn(usize) -> String) -> Result<Vec<String>, Failure> {
        let mut codes = Vec::with_capacity(n);
        for i in 0..n {
            let resp = self
                .client
                .post(format!("{}/api/v1/links", self.args.shortener_url))
                .bearer_auth(&self.token)
                .json(&serde_json::json!({ "url": url(i) }))
                .send()
                .await
                .map_err(|e| Failure::other(format!("shortener unreachable: {e}")))?;
            let status = resp.status();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            match body["code"].as_str() {
                Some(c) if status.is_success() => codes.push(c.to_string()),
                _ => return Err(Failure::other(format!("creating a link failed: {status} {body}"))),
            }
        }
        Ok(codes)
    }

    /// The frame shared by the infrastructure scenarios.
    async fn traffic_scenario(&self) -> Result<(), Failure> {
        let a = self.args;
        let (what, expect, stop, start) = self.fault_plan()?;
        println!("what it does:  {what}");
        println!("what should happen:\n{expect}");
        let bases: Vec<&str> = a.link_urls.split(',').map(str::trim).filter(|b| !b.is_empty()).collect();
        let codes = self.create_links(a.links, |i| format!("{}/{i}", bases[i % bases.len()])).await?;
        // The risk scorer drops a link's cached copies when it scores it: wait for that, so
        // "cached before the fault" means cached.
        self.wait_scored(&codes, Duration::from_secs(30)).await;
        self.warm(&codes).await;
        let before_metrics = self.redirect_metrics().await;
        let canary_before = self.canary_metrics().await;
        let quarantined_before = self.db(|c| ghostlink_db::health::quarantined_count(c)).await.unwrap_or(-1);
        let started_at = chrono::Utc::now();
        let run_tag = format!("https://simulate.invalid/{}/", uuid_like());

        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Sample>();
        let phase = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let fault_active = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let t0 = Instant::now();
        let driver = tokio::spawn(drive(Traffic {
            clients: self.traffic_clients()?,
            base: a.redirect_url.clone(),
            codes: codes.clone(),
            rate: a.rate,
            tag: run_tag.clone(),
            phase: phase.clone(),
            fault_active: fault_active.clone(),
            t0,
            tx,
        }));
        tokio::time::sleep(Duration::from_secs(a.settle_secs)).await;

        // Every known code on every replica behind the proxy (round robin), just before.
        self.warm(&codes).await;
        // Requests sent while the fault is being injected belong to "during" (a stopping
        // Postgres already refuses some); answers only count as "while the fault lasts" once
        // the injection is done.
        let t_fault = Instant::now();
        phase.store(1, std::sync::atomic::Ordering::SeqCst);
        let guard = stop.run(&self.database_url).await?;
        fault_active.store(true, std::sync::atomic::Ordering::SeqCst);
        println!("fault injected: {}", stop.describe());
        let mut shortener_during = None;
        let mut mid_metrics = String::new();
        let half = Duration::from_secs(a.fault_secs) / 2;
        tokio::time::sleep(half).await;
        mid_metrics.push_str(&self.redirect_metrics().await);
        if matches!(a.scenario, Scenario::DbOutage | Scenario::ErrorSpike) {
            shortener_during = Some(self.shortener_create_status().await);
        }
        tokio::time::sleep(Duration::from_secs(a.fault_secs).saturating_sub(t_fault.elapsed())).await;
        // From here on the fault is being undone: answers no longer count as "during the fault".
        fault_active.store(false, std::sync::atomic::Ordering::SeqCst);
        start.restore(&self.database_url, guard).await?;
        let restored_at = t0.elapsed().as_secs_f64();
        println!("fault removed after {:.1}s: {}", t_fault.elapsed().as_secs_f64(), start.describe());
        phase.store(2, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(a.settle_secs)).await;
        phase.store(3, std::sync::atomic::Ordering::SeqCst);
        let _ = driver.await;
        let mut samples = Vec::new();
        while let Ok(s) = rx.try_recv() {
            samples.push(s);
        }
        let after_metrics = self.redirect_metrics().await;
        print_phases(&samples);

        let mut checks = Vec::new();
        let during: Vec<&Sample> = samples.iter().filter(|s| s.phase == 1).collect();
        let before: Vec<&Sample> = samples.iter().filter(|s| s.phase == 0).collect();
        let known_ok = ratio(&during, |s| s.known, |s| s.status == 302);
        let after_ok = ratio(
            &samples.iter().filter(|s| s.phase == 2).collect::<Vec<_>>(),
            |s| s.known,
            |s| s.status == 302,
        );
        // Recovery: from the restore to the last known-code request that failed after it.
        let recovery = samples
            .iter()
            .filter(|s| s.known && s.status != 302 && s.at + s.latency.as_secs_f64() >= restored_at)
            .map(|s| s.at + s.latency.as_secs_f64() - restored_at)
            .fold(0.0_f64, f64::max);
        println!("recovery: the last failed request to a known code ended {recovery:.2}s after the restore");
        check(&mut checks, after_ok >= 0.999, format!("after: known codes redirect ({:.4})", after_ok));
        let p99_of = |part: &[&Sample]| percentile(&part.iter().map(|s| s.latency).collect::<Vec<_>>(), 0.99);
        let mut drain_secs = None;
        match a.scenario {
            Scenario::DbOutage | Scenario::ErrorSpike => {
                check(
                    &mut checks,
                    known_ok >= 1.0,
                    format!("during: cached codes redirect, 100 % ({known_ok:.4})"),
                );
                let unknown: Vec<&&Sample> = during.iter().filter(|s| !s.known).collect();
                // Answered while the fault was still in place (a request waiting for a
                // connection may get its correct 404 once the database is back).
                let n404 = unknown.iter().filter(|s| s.status == 404 && s.answered_in == 1).count();
                let n503 = unknown.iter().filter(|s| s.status == 503).count();
                // (An address past its scan budget gets 429, not an unchecked 404.)
                check(
                    &mut checks,
                    n404 == 0,
                    format!(
                        "during: unknown codes never 404 while the fault lasts ({n404} of {})",
                        unknown.len()
                    ),
                );
                check(
                    &mut checks,
                    n503 > 0,
                    format!("during: unknown codes answer 503 ({n503} of {})", unknown.len()),
                );
                if let Some(s) = shortener_during {
                    check(
                        &mut checks,
                        s == 503,
                        format!("during: the shortener answers 503 to a create ({s})"),
                    );
                }
            }
            Scenario::RedisOutage => {
                check(&mut checks, known_ok >= 0.9999, format!("during: success {known_ok:.4} >= 0.9999"));
                let p99 = p99_of(&during);
                latency_check(
                    &mut checks,
                    p99 <= Duration::from_millis(100),
                    format!("during: p99 {:.1} ms <= 100", p99.as_secs_f64() * 1e3),
                );
                let fallback = metric(&mid_metrics, "redis_fallback_active");
                let errors = metric(&after_metrics, "redis_errors_total")
                    - metric(&before_metrics, "redis_errors_total");
                check(&mut checks, fallback >= 1.0 || errors > 0.0,
                    format!("during: the redirect noticed (redis_fallback_active {fallback}, redis errors +{errors})"));
            }
            Scenario::BrokerOutage => {
                check(&mut checks, known_ok >= 0.9999, format!("during: success {known_ok:.4} >= 0.9999"));
                let (p99b, p99d) = (p99_of(&before), p99_of(&during));
                latency_check(
                    &mut checks,
                    p99d.as_secs_f64() <= p99b.as_secs_f64() * 1.10,
                    format!(
                        "during: p99 {:.2} ms within +10 % of before ({:.2} ms)",
                        p99d.as_secs_f64() * 1e3,
                        p99b.as_secs_f64() * 1e3
                    ),
                );
                let spooled = metric(&after_metrics, "clicks_spooled_total")
                    - metric(&before_metrics, "clicks_spooled_total");
                check(&mut checks, spooled > 0.0, format!("during: clicks went to the spool (+{spooled})"));
                let t = Instant::now();
                let mut drained = false;
                while t.elapsed() < Duration::from_secs(60) {
                    if metric(&self.redirect_metrics().await, "spool_bytes") == 0.0 {
                        drained = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let waited = t.elapsed().as_secs_f64() + a.settle_secs as f64;
                drain_secs = Some(waited);
                check(
                    &mut checks,
                    drained,
                    format!("after: spool drained {waited:.1}s after the broker came back (<= 60 s)"),
                );
            }
            Scenario::SlowDb => {
                let p99 = |known: bool| {
                    p99_of(&during.iter().copied().filter(|s| s.known == known).collect::<Vec<_>>())
                };
                let (cached, uncached) = (p99(true), p99(false));
                check(
                    &mut checks,
                    known_ok >= 0.999,
                    format!("during: cached codes redirect ({known_ok:.4})"),
                );
                latency_check(
                    &mut checks,
                    cached <= Duration::from_millis(100),
                    format!("during: cached p99 {} ms <= 100", cached.as_millis()),
                );
                check(
                    &mut checks,
                    uncached > cached,
                    format!("during: uncached p99 {} ms > cached", uncached.as_millis()),
                );
            }
            Scenario::ReplicaDown => {
                let all = ratio(&during, |s| s.known, |s| s.status == 302);
                check(
                    &mut checks,
                    all >= 0.999,
                    format!("during: success through the proxy {all:.4} >= 0.999"),
                );
            }
            Scenario::RecorderKill => {
                check(&mut checks, known_ok >= 0.9999, format!("during: success {known_ok:.4} >= 0.9999"));
            }
            Scenario::CanaryKill => {
                let checks_seen = self
                    .db(move |c| ghostlink_db::health::checks_since(c, started_at))
                    .await
                    .unwrap_or_default();
                let mut last: std::collections::HashMap<String, chrono::DateTime<chrono::Utc>> =
                    Default::default();
                let mut twice = 0;
                let min_gap = chrono::Duration::milliseconds((a.canary_interval * 1000 / 2) as i64);
                for (code, at) in &checks_seen {
                    if let Some(prev) = last.insert(code.clone(), *at) {
                        if *at - prev < min_gap {
                            twice += 1;
                        }
                    }
                }
                check(
                    &mut checks,
                    twice == 0,
                    format!(
                        "no link probed twice within half an interval ({twice} of {} checks)",
                        checks_seen.len()
                    ),
                );
                let probes = |m: &str| metric(m, "canary_probes_total");
                let after = self.canary_metrics().await;
                check(
                    &mut checks,
                    probes(&after) > 0.0,
                    format!("the restarted canary probes again ({} probes since its start)", probes(&after)),
                );
            }
            Scenario::CanaryCut => {
                let quarantined_after =
                    self.db(|c| ghostlink_db::health::quarantined_count(c)).await.unwrap_or(-1);
                check(
                    &mut checks,
                    quarantined_after == quarantined_before,
                    format!("no link quarantined ({quarantined_before} before, {quarantined_after} after)"),
                );
                let aborted = metric(&self.canary_metrics().await, "canary_rounds_aborted_total")
                    - metric(&canary_before, "canary_rounds_aborted_total");
                check(&mut checks, aborted >= 1.0, format!("the canary discarded its rounds (+{aborted})"));
            }
            Scenario::DeadDestinations | Scenario::ProbeStorm => {}
        }
        let clicks = self.account_clicks(&samples, &run_tag).await;
        if let Some(c) = &clicks {
            println!("clicks: {} answered, {} stored, {} lost, {} duplicated (stored {:.1}s after the traffic stopped)",
                c.answered, c.stored, c.lost, c.duplicated, c.waited_secs);
            if matches!(
                a.scenario,
                Scenario::BrokerOutage | Scenario::RecorderKill | Scenario::DbOutage | Scenario::RedisOutage
            ) {
                check(&mut checks, c.lost == 0, format!("0 clicks lost ({} of {})", c.lost, c.answered));
                check(&mut checks, c.duplicated == 0, format!("0 clicks stored twice ({})", c.duplicated));
            }
        }
        self.print_alerts().await;
        if let Some(path) = &a.summary_json {
            let phases: Vec<serde_json::Value> = (0..3)
                .map(|i| {
                    let part: Vec<&Sample> = samples.iter().filter(|s| s.phase == i).collect();
                    serde_json::json!({
                        "phase": PHASES[i],
                        "requests": part.len(),
                        "success": ratio(&part, |s| s.known, |s| s.status == 302),
                        "p50_ms": percentile(&part.iter().map(|s| s.latency).collect::<Vec<_>>(), 0.5).as_secs_f64() * 1e3,
                        "p99_ms": p99_of(&part).as_secs_f64() * 1e3,
                    })
                })
                .collect();
            let summary = serde_json::json!({
                "scenario": format!("{:?}", a.scenario),
                "rate": a.rate,
                "fault_secs": a.fault_secs,
                "requests": samples.len(),
                "phases": phases,
                "recovery_secs": recovery,
                "drain_secs": drain_secs,
                "clicks": clicks.as_ref().map(|c| serde_json::json!({"answered": c.answered, "stored": c.stored, "lost": c.lost, "duplicated": c.duplicated})),
                "checks": checks.iter().map(|c| serde_json::json!({"name": c.name, "ok": c.ok, "latency": c.latency})).collect::<Vec<_>>(),
                "latency_targets": format!("{:?}", a.latency_targets).to_lowercase(),
            });
            if let Err(e) = std::fs::write(path, summary.to_string()) {
                eprintln!("cannot write {}: {e}", path.display());
            }
        }
        finish(&checks, self.args.latency_targets)
    }

    /// Requests every code four times (two replicas behind a round-robin proxy see each twice).
    async fn warm(&self, codes: &[String]) {
        for c in codes {
            for _ in 0..4 {
                let _ = self
                    .client
                    .get(format!("{}/{c}", self.args.redirect_url))
                    .header("User-Agent", "ghostlink-simulate/1 (warm-up)")
                    .send()
                    .await;
            }
        }
    }

    /// Waits (at most `limit`) until the risk scorer has scored every code.
    async fn wait_scored(&self, codes: &[String], limit: Duration) {
        let t = Instant::now();
        while t.elapsed() < limit {
            let cs = codes.to_vec();
            let scored = self
                .db(move |c| {
                    let mut n = 0;
                    for code in &cs {
                        n += usize::from(ghostlink_db::risk::get(c, code)?.is_some());
                    }
                    Ok(n)
                })
                .await
                .unwrap_or(0);
            if scored == codes.len() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        println!(
            "note: not every link was risk-scored within {} s (is the risk scorer running?)",
            limit.as_secs()
        );
    }

    /// Runs a database query on a one-connection pool (the fault may have broken others).
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut ghostlink_db::Conn) -> Result<T, ghostlink_db::DbError> + Send + 'static,
    ) -> Option<T> {
        let url = self.database_url.clone();
        tokio::task::spawn_blocking(move || {
            let db = ghostlink_db::Db::new(&ghostlink_db::DbSettings {
                url,
                pool_size: 1,
                acquire_timeout: Duration::from_secs(5),
                statement_timeout: Duration::from_secs(30),
            });
            let mut conn = db.get().ok()?;
            f(&mut conn).ok()
        })
        .await
        .ok()
        .flatten()
    }

    /// Waits until every answered request's click is stored (or `--drain-secs` pass), then
    /// counts lost and duplicated ones by the Referer each request carried.
    async fn account_clicks(&self, samples: &[Sample], tag: &str) -> Option<ClickAccount> {
        // The redirect answers every request with a click event except a refused (429) one.
        // 502 and 504 come from a proxy in front of it, not from the redirect.
        let answered: std::collections::HashSet<u64> =
            samples.iter().filter(|s| !matches!(s.status, 0 | 429 | 502 | 504)).map(|s| s.seq).collect();
        let t = Instant::now();
        loop {
            let prefix = tag.to_string();
            let rows = self.db(move |c| ghostlink_db::clicks::count_by_referrer_prefix(c, &prefix)).await?;
            let mut stored: std::collections::HashMap<u64, i64> = Default::default();
            for (referrer, n) in rows {
                if let Some(seq) = referrer.strip_prefix(tag).and_then(|s| s.parse::<u64>().ok()) {
                    *stored.entry(seq).or_default() += n;
                }
            }
            let lost = answered.iter().filter(|s| !stored.contains_key(s)).count();
            if lost == 0 || t.elapsed() >= Duration::from_secs(self.args.drain_secs) {
                return Some(ClickAccount {
                    answered: answered.len(),
                    stored: stored.len(),
                    lost,
                    duplicated: stored.values().map(|n| (*n - 1).max(0) as usize).sum(),
                    waited_secs: t.elapsed().as_secs_f64(),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn canary_metrics(&self) -> String {
        self.metrics_of(&self.args.canary_ops_url).await
    }

    /// What the fault is, what should happen, and how to inject and remove it.
    fn fault_plan(&self) -> Result<(String, String, Fault, Fault), Failure> {
        let a = self.args;
        let cmd = |given: &Option<String>, default: &str| {
            Fault::Shell(given.clone().unwrap_or_else(|| default.into()))
        };
        let pg_version = "15";
        Ok(match a.scenario {
            Scenario::DbOutage => (
                format!("stops Postgres for {} s under {} req/s", a.fault_secs, a.rate),
                "  - cached codes keep redirecting (302); never-seen codes answer 503, never 404\n  - the shortener answers 503 with a JSON error\n  - readiness (/readyz) of redirect and shortener fails; alerts: RedirectErrorRatioHigh (5xx > 5 % for 5 m), SLO burn rates".into(),
                cmd(&a.stop_cmd, &format!("pg_ctlcluster --skip-systemctl-redirect {pg_version} main stop -m fast")),
                cmd(&a.start_cmd, &format!("pg_ctlcluster --skip-systemctl-redirect {pg_version} main start")),
            ),
            Scenario::ErrorSpike => (
                format!("makes GhostLink's database refuse connections for {} s (ALLOW_CONNECTIONS false + terminate its sessions)", a.fault_secs),
                "  - cached codes keep redirecting; never-seen codes answer 503 (a 5xx spike)\n  - alerts: RedirectErrorRatioHigh after 5 m of > 5 % 5xx, RedirectSLOBurnRateFast when it lasts".into(),
                Fault::RefuseConnections,
                Fault::AllowConnections,
            ),
            Scenario::RedisOutage => (
                format!("stops Redis for {} s", a.fault_secs),
                "  - redirects keep succeeding: the breaker opens after 3 failures, lookups go to Postgres, no stall (p99 <= 100 ms)\n  - in-process entries drop to a 1 s lifetime (invalidation channel down)\n  - alerts: RedisUnavailable (redis_fallback_active), InvalidationChannelDown".into(),
                cmd(&a.stop_cmd, "redis-cli -h 127.0.0.1 -p 6379 shutdown nosave"),
                cmd(&a.start_cmd, "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"),
            ),
            Scenario::BrokerOutage => (
                format!("stops RabbitMQ's app for {} s", a.fault_secs),
                "  - redirects unaffected; click events go to each replica's disk spool (spool_bytes > 0)\n  - after: the spool drains in order within 60 s, 0 clicks dropped\n  - alerts: ClickSpoolGrowing; ClickRecorderNotConsuming and RiskScorerNotConsuming after 2 m".into(),
                cmd(&a.stop_cmd, "rabbitmqctl stop_app"),
                cmd(&a.start_cmd, "rabbitmqctl start_app"),
            ),
            Scenario::SlowDb => (
                format!("holds an ACCESS EXCLUSIVE lock on links for {} s (queries on it wait)", a.fault_secs),
                "  - cached codes are unaffected; never-seen codes wait for the lock up to the statement timeout, then 503\n  - alerts: RedirectLatencyP99High if it lasts 10 m, DBPoolSaturated when the pool fills".into(),
                Fault::LockLinks,
                Fault::Unlock,
            ),
            Scenario::ReplicaDown => {
                let Some(stop) = a.stop_cmd.clone() else {
                    return Err(Failure::usage(
                        "replica-down needs --stop-cmd (e.g. 'docker compose -f compose/docker-compose.yml kill redirect-1') and --start-cmd",
                    ));
                };
                (
                    format!("kills one redirect replica for {} s ({stop})", a.fault_secs),
                    "  - nginx routes around it (max_fails, proxy_next_upstream): success >= 99.9 %\n  - alerts: GhostlinkServiceDown for that instance (page) within ~1 m; resolved after restart".into(),
                    Fault::Shell(stop),
                    cmd(&a.start_cmd, "true"),
                )
            }
            Scenario::RecorderKill | Scenario::CanaryKill | Scenario::CanaryCut => {
                let (Some(stop), Some(start)) = (a.stop_cmd.clone(), a.start_cmd.clone()) else {
                    return Err(Failure::usage(
                        "recorder-kill, canary-kill and canary-cut need --stop-cmd and --start-cmd (how this system's processes or destinations are stopped and started; ops/chaos/run.sh sets them)",
                    ));
                };
                let (what, expect) = match a.scenario {
                    Scenario::RecorderKill => (
                        "kill -9 the click recorder mid-work, restart it after the fault time",
                        "  - redirects unaffected; click events wait in the recorder's quorum queue (unacked ones are redelivered)\n  - after: every answered click stored exactly once (inserts are idempotent by event id)\n  - alerts: GhostlinkServiceDown (click-recorder), ClickRecorderLagHigh if it lasts",
                    ),
                    Scenario::CanaryKill => (
                        "kill -9 the canary mid-round, restart it after the fault time",
                        "  - the links it had claimed keep their pushed-forward schedule: none is probed twice within an interval\n  - the restarted canary probes again; nothing half-written (each check is one transaction)",
                    ),
                    _ => (
                        "cuts the canary off from every destination for the fault time",
                        "  - most hosts of each round fail at the network level at once: the rounds are discarded\n  - 0 links quarantined; canary_rounds_aborted_total rises; alert CanaryRoundAborted if it lasts",
                    ),
                };
                (format!("{what} ({stop})"), expect.to_string(), Fault::Shell(stop), Fault::Shell(start))
            }
            Scenario::DeadDestinations | Scenario::ProbeStorm => unreachable!("own frame"),
        })
    }

    /// The clients the traffic comes from: one per simulated user. On a loopback redirect each
    /// connects from an address of its own (127.0.1.1 to 127.0.1.64), since the redirect and
    /// ghost-probe count a client by its address too: 64 user agents from one address are one
    /// client rotating its user agent, a scanner. Elsewhere (through a proxy the clients all
    /// share one address anyway) one client.
    fn traffic_clients(&self) -> Result<Vec<reqwest::Client>, Failure> {
        let host =
            url::Url::parse(&self.args.redirect_url).ok().and_then(|u| u.host_str().map(str::to_owned));
        let loopback = host.as_deref().is_some_and(|h| {
            h == "localhost" || h.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        });
        if !loopback {
            return Ok(vec![self.client.clone()]);
        }
        (1..=64u8)
            .map(|i| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(Duration::from_secs(5))
                    .local_address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 1, i)))
                    .build()
                    .map_err(|e| Failure::other(e.to_string()))
            })
            .collect()
    }

    /// Every listed replica's metrics, concatenated (sums in [`metric`] add the replicas up;
    /// a dead replica adds nothing).
    async fn redirect_metrics(&self) -> String {
        self.metrics_of(&self.args.redirect_ops_url).await
    }

    /// The metrics of every listed ops listener (comma-separated), concatenated: sums in
    /// [`metric`] add replicas up, and a dead one adds nothing.
    async fn metrics_of(&self, ops_urls: &str) -> String {
        let mut all = String::new();
        for ops in ops_urls.split(',').map(str::trim) {
            if let Ok(r) = self.client.get(format!("{ops}/metrics")).send().await {
                all.push_str(&r.text().await.unwrap_or_default());
                all.push('\n');
            }
        }
        all
    }

    async fn shortener_create_status(&self) -> u16 {
        self.client
            .post(format!("{}/api/v1/links", self.args.shortener_url))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({"url": "https://example.com/simulate/during"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    async fn print_alerts(&self) {
        let Some(prom) = &self.args.prometheus_url else {
            println!("alerts: pass --prometheus-url to list the alerts pending or firing now");
            return;
        };
        let url = format!("{prom}/api/v1/alerts");
        match self.client.get(url).send().await {
            Ok(r) => {
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                let alerts = v["data"]["alerts"].as_array().cloned().unwrap_or_default();
                println!("alerts now ({}):", alerts.len());
                for al in alerts {
                    println!("  {} {} {}", al["labels"]["alertname"], al["state"], al["labels"]["instance"]);
                }
            }
            Err(e) => println!("alerts: Prometheus unreachable ({e})"),
        }
    }

    /// A destination server (on this machine) that fails; links to it get quarantined.
    async fn dead_destinations(&self) -> Result<(), Failure> {
        let a = self.args;
        println!("what it does:  starts a destination server answering 503, creates 3 links to it, waits up to {} s", a.fault_secs);
        println!("what should happen:\n  - the canary probes each link every CANARY_INTERVAL s; after 3 failed checks in a row the link is quarantined\n    (link.quarantined; the redirect shows a warning page instead of redirecting)\n  - the server then answers 200: 2 good checks restore the links (link.restored)\n  - alerts: CanaryQuarantineSpike when more than 10 links go in 15 minutes\n  note: the canary refuses private addresses unless CANARY_ALLOW_PRIVATE_TARGETS allows 127.0.0.1;\n  refused probes (`blocked`) count as failures too, so the links are quarantined either way");
        let failing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| Failure::other(e.to_string()))?;
        let addr = listener.local_addr().map_err(|e| Failure::other(e.to_string()))?;
        let f2 = failing.clone();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let fail = f2.load(std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let _ = s.read(&mut buf).await;
                    let line = if fail { "503 Service Unavailable" } else { "200 OK" };
                    let _ = s
                        .write_all(
                            format!("HTTP/1.1 {line}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                                .as_bytes(),
                        )
                        .await;
                });
            }
        });
        let codes = self.create_links(3, |i| format!("http://{addr}/gone/{i}")).await?;
        println!("links: {} -> http://{addr}/gone/*", codes.join(", "));
        let mut checks = Vec::new();
        let t = Instant::now();
        let quarantined = self.wait_states(&codes, "quarantined", Duration::from_secs(a.fault_secs)).await;
        check(
            &mut checks,
            quarantined.is_some(),
            match quarantined {
                Some(d) => format!("all 3 links quarantined {:.1}s after creation", d.as_secs_f64()),
                None => format!(
                    "links quarantined within {} s (raise --fault-secs above 3 x CANARY_INTERVAL)",
                    a.fault_secs
                ),
            },
        );
        if quarantined.is_some() {
            let follow = self
                .client
                .get(format!("{}/{}", a.redirect_url, codes[0]))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            check(
                &mut checks,
                follow != 302,
                format!("the redirect no longer redirects a quarantined link ({follow})"),
            );
            failing.store(false, std::sync::atomic::Ordering::SeqCst);
            let restored = self.wait_states(&codes, "healthy", Duration::from_secs(a.fault_secs)).await;
            let restored_note = restored
                .map(|d| format!("links restored {:.1}s after the server recovered", d.as_secs_f64()));
            check(
                &mut checks,
                restored.is_some() || a.stop_cmd.is_some(),
                restored_note.unwrap_or_else(|| {
                    "links restored (only with CANARY_ALLOW_PRIVATE_TARGETS allowing 127.0.0.1)".into()
                }),
            );
        }
        println!("observed over {:.1}s", t.elapsed().as_secs_f64());
        server.abort();
        finish(&checks, self.args.latency_targets)
    }

    async fn wait_states(&self, codes: &[String], want: &str, limit: Duration) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < limit {
            let mut all = true;
            for c in codes {
                let state = match self
                    .client
                    .get(format!("{}/api/v1/links/{c}/health", self.args.shortener_url))
                    .bearer_auth(&self.token)
                    .send()
                    .await
                {
                    Ok(r) => r
                        .json::<serde_json::Value>()
                        .await
                        .ok()
                        .and_then(|v| v["state"].as_str().map(String::from)),
                    Err(_) => None,
                };
                all &= state.as_deref() == Some(want);
            }
            if all {
                return Some(t.elapsed());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        None
    }

    /// An enumeration scanner: `--rate` is ignored; 200 random codes over `--fault-secs`
    /// (default 60 s when left at 20) from one client, beside a legitimate client.
    async fn probe_storm(&self) -> Result<(), Failure> {
        let a = self.args;
        let secs = if a.fault_secs == 20 { 60 } else { a.fault_secs };
        println!("what it does:  one client (one address, one user agent) requests 200 random unknown codes over {secs} s;\n               a second client follows 5 real links at the same pace");
        println!("what should happen:\n  - ghost-probe flags the scanner as `enumeration` within 30 s (20 unknown codes in 60 s): a finding in GET /api/v1/findings, probe.detected\n  - in PROBE_MODE=enforce the redirect answers the scanner 429 (the deny set, refreshed every second); the legitimate client is never refused\n  - alerts: GhostProbeStorm");
        let codes = self.create_links(5, |i| format!("https://example.com/simulate/legit/{i}")).await?;
        let t0 = Instant::now();
        let started = chrono::Utc::now();
        let (mut first_429, mut flagged, mut legit_refused, mut statuses) =
            (None, None, 0, BTreeMap::<u16, u32>::new());
        let step = Duration::from_secs_f64(secs as f64 / 200.0);
        for i in 0..200u32 {
            let code: String = (0..7)
                .map(|_| char::from(b"abcdefghijkmnopqrstuvwxyz23456789"[rand::random::<usize>() % 33]))
                .collect();
            let s = self
                .client
                .get(format!("{}/{code}", a.redirect_url))
                .header("User-Agent", "ghostlink-simulate-scanner/1")
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            *statuses.entry(s).or_default() += 1;
            if s == 429 && first_429.is_none() {
                first_429 = Some(t0.elapsed());
            }
            let legit = self
                .client
                .get(format!("{}/{}", a.redirect_url, codes[i as usize % codes.len()]))
                .header("User-Agent", "Mozilla/5.0 (simulate legit)")
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if legit == 429 {
                legit_refused += 1;
            }
            if flagged.is_none() && i % 5 == 0 {
                if let Ok(r) = self
                    .client
                    .get(format!("{}/api/v1/findings?kind=enumeration", a.shortener_url))
                    .bearer_auth(&self.token)
                    .send()
                    .await
                {
                    let v: serde_json::Value = r.json().await.unwrap_or_default();
                    let recent = v.as_array().into_iter().flatten().any(|f| {
                        f["last_seen"]
                            .as_str()
                            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                            .is_some_and(|t| t >= started - chrono::Duration::seconds(5))
                    });
                    if recent {
                        flagged = Some(t0.elapsed());
                    }
                }
            }
            tokio::time::sleep(step.saturating_sub(Duration::from_millis(5))).await;
        }
        println!("scanner answers by status: {statuses:?}");
        let mut checks = Vec::new();
        check(
            &mut checks,
            flagged.is_some_and(|d| d <= Duration::from_secs(30)),
            match flagged {
                Some(d) => {
                    format!("flagged as enumeration {:.1}s after the scan started (<= 30 s)", d.as_secs_f64())
                }
                None => "flagged as enumeration (no finding seen)".into(),
            },
        );
        match first_429 {
            Some(d) => {
                println!("first 429 to the scanner {:.1}s after it started (enforce mode)", d.as_secs_f64())
            }
            None => println!(
                "no 429 to the scanner: ghost-probe runs in observe mode (PROBE_MODE=enforce to act)"
            ),
        }
        check(
            &mut checks,
            legit_refused == 0,
            format!("the legitimate client was never refused ({legit_refused} x 429)"),
        );
        self.print_alerts().await;
        finish(&checks, self.args.latency_targets)
    }
}

/// How a fault is made and undone.
enum Fault {
    Shell(String),
    RefuseConnections,
    AllowConnections,
    LockLinks,
    Unlock,
}

/// What a running fault holds until it is undone (the lock's connection and thread).
struct Held(Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>);

impl Fault {
    fn describe(&self) -> String {
        match self {
            Fault::Shell(c) => format!("`{c}`"),
            Fault::RefuseConnections => {
                "ALTER DATABASE ... ALLOW_CONNECTIONS false; pg_terminate_backend(its sessions)".into()
            }
            Fault::AllowConnections => "ALTER DATABASE ... ALLOW_CONNECTIONS true".into(),
            Fault::LockLinks => "BEGIN; LOCK TABLE links IN ACCESS EXCLUSIVE MODE (held)".into(),
            Fault::Unlock => "ROLLBACK (lock released)".into(),
        }
    }

    async fn run(&self, database_url: &str) -> Result<Held, Failure> {
        let url = database_url.to_string();
        match self {
            Fault::Shell(c) => shell(c).await.map(|_| Held(None)),
            Fault::RefuseConnections => {
                let db = db_name(&url)?;
                admin_sql(&url, format!(
                    "ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
                ))
                .await
                .map(|_| Held(None))
            }
            Fault::LockLinks => {
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
                let handle = std::thread::spawn(move || {
                    use ghostlink_db::admin::{lock_links_until, LockOutcome};
                    let _ = lock_links_until(&url, move |o| {
                        let _ = ready_tx.send(match o {
                            LockOutcome::Held => Ok(()),
                            LockOutcome::Failed(e) => Err(e),
                        });
                        let _ = rx.recv();
                    });
                });
                match ready_rx.await {
                    Ok(Ok(())) => Ok(Held(Some((tx, handle)))),
                    Ok(Err(e)) => Err(Failure::other(format!("cannot take the lock: {e}"))),
                    Err(_) => Err(Failure::other("the lock thread ended")),
                }
            }
            Fault::AllowConnections | Fault::Unlock => Ok(Held(None)),
        }
    }

    async fn restore(&self, database_url: &str, held: Held) -> Result<(), Failure> {
        if let Some((tx, handle)) = held.0 {
            let _ = tx.send(());
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        match self {
            Fault::Shell(c) => shell(c).await,
            Fault::AllowConnections => {
                let db = db_name(database_url)?;
                admin_sql(database_url, format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true")).await
            }
            _ => Ok(()),
        }
    }
}

async fn shell(cmd: &str) -> Result<(), Failure> {
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .await
        .map_err(|e| Failure::other(format!("`{cmd}`: {e}")))?;
    if !out.status.success() {
        return Err(Failure::other(format!(
            "`{cmd}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn db_name(url: &str) -> Result<String, Failure> {
    let u = url::Url::parse(url).map_err(|_| Failure::usage("DATABASE_URL is not a URL"))?;
    let name = u.path().trim_start_matches('/').to_string();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(Failure::usage("DATABASE_URL must name a database (letters, digits, _ and -)"));
    }
    Ok(name)
}

/// Runs SQL on the server's `postgres` database (not the one being cut off).
async fn admin_sql(url: &str, sql: String) -> Result<(), Failure> {
    let mut u = url::Url::parse(url).map_err(|_| Failure::usage("DATABASE_URL is not a URL"))?;
    u.set_path("/postgres");
    let admin = u.to_string();
    tokio::task::spawn_blocking(move || ghostlink_db::admin::batch_execute(&admin, &sql))
        .await
        .map_err(|e| Failure::other(e.to_string()))?
        .map_err(|e| Failure::other(format!("SQL failed: {e}")))
}

/// Where and how to send the traffic.
struct Traffic {
    /// One per simulated user (see `Sim::traffic_clients`).
    clients: Vec<reqwest::Client>,
    base: String,
    codes: Vec<String>,
    rate: u32,
    /// Referer prefix; each request adds its number.
    tag: String,
    phase: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    fault_active: std::sync::Arc<std::sync::atomic::AtomicBool>,
    t0: Instant,
    tx: tokio::sync::mpsc::UnboundedSender<Sample>,
}

/// Traffic: `rate` requests per second until the phase counter reaches 3. A realistic mix:
/// 90 % known codes with a Zipf-like popularity (the i-th most popular weighs 1/(i+1)), one in
/// ten of those a HEAD; 10 % never-seen codes (they must reach Postgres). Many clients (64
/// user agents, each from an address of its own on loopback), each request tagged with its
/// number in the Referer.
async fn drive(t: Traffic) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(t.rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let weights: Vec<f64> = (0..t.codes.len()).map(|i| 1.0 / (i as f64 + 1.0)).collect();
    let total: f64 = weights.iter().sum();
    let mut seq: u64 = 0;
    let mut inflight = tokio::task::JoinSet::new();
    loop {
        tick.tick().await;
        let p = t.phase.load(std::sync::atomic::Ordering::SeqCst);
        if p >= 3 {
            break;
        }
        seq += 1;
        let known = !seq.is_multiple_of(10);
        let head = known && seq % 10 == 5;
        let code = if known {
            let mut x = rand::random::<f64>() * total;
            let mut pick = t.codes.len() - 1;
            for (i, w) in weights.iter().enumerate() {
                if x < *w {
                    pick = i;
                    break;
                }
                x -= w;
            }
            t.codes[pick].clone()
        } else {
            format!("sim{seq:06}x{}", rand::random::<u16>())
        };
        let url = format!("{}/{code}", t.base);
        let client = t.clients[(seq % t.clients.len() as u64) as usize].clone();
        let (tx, fault_now) = (t.tx.clone(), t.fault_active.clone());
        // Many clients, not one (an address and a user agent each): a single client asking for
        // never-seen codes is a scanner to ghost-probe (and refused in enforce mode), and past
        // its scan budget the redirect answers its never-seen codes 429 without Postgres.
        let agent = format!("ghostlink-simulate/1 (client {})", seq % 64);
        let referer = format!("{}{seq}", t.tag);
        let at = t.t0.elapsed().as_secs_f64();
        inflight.spawn(async move {
            let started = Instant::now();
            let req = if head { client.head(url) } else { client.get(url) };
            let status = req
                .header("User-Agent", agent)
                .header("Referer", referer)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            let answered_in = usize::from(fault_now.load(std::sync::atomic::Ordering::SeqCst));
            let _ = tx.send(Sample {
                seq,
                at,
                head,
                phase: p,
                answered_in,
                known,
                status,
                latency: started.elapsed(),
            });
        });
        while inflight.try_join_next().is_some() {}
    }
    while inflight.join_next().await.is_some() {}
}

struct ClickAccount {
    answered: usize,
    stored: usize,
    lost: usize,
    duplicated: usize,
    waited_secs: f64,
}

/// A short random id for a run's Referer tag.
fn uuid_like() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn ratio(samples: &[&Sample], filter: impl Fn(&Sample) -> bool, good: impl Fn(&Sample) -> bool) -> f64 {
    let picked: Vec<&&Sample> = samples.iter().filter(|s| filter(s)).collect();
    if picked.is_empty() {
        return 0.0;
    }
    picked.iter().filter(|s| good(s)).count() as f64 / picked.len() as f64
}

fn percentile(lat: &[Duration], q: f64) -> Duration {
    if lat.is_empty() {
        return Duration::ZERO;
    }
    let mut v = lat.to_vec();
    v.sort();
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

fn print_phases(samples: &[Sample]) {
    println!(
        "{:<8} {:>8} {:>6} {:>10} {:>9} {:>9}  answers by status",
        "phase", "requests", "HEADs", "known 302", "p50 ms", "p99 ms"
    );
    for (i, name) in PHASES.iter().enumerate() {
        let part: Vec<&Sample> = samples.iter().filter(|s| s.phase == i).collect();
        let mut by: BTreeMap<u16, usize> = BTreeMap::new();
        for s in &part {
            *by.entry(s.status).or_default() += 1;
        }
        let lat: Vec<Duration> = part.iter().map(|s| s.latency).collect();
        println!(
            "{:<8} {:>8} {:>6} {:>10.4} {:>9.1} {:>9.1}  {:?}",
            name,
            part.len(),
            part.iter().filter(|s| s.head).count(),
            ratio(&part, |s| s.known, |s| s.status == 302),
            percentile(&lat, 0.5).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            by
        );
    }
}

/// A value from Prometheus text: the sum over every series of `name` (0 when absent).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b' ' | b'{')))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn finish(checks: &[Check], latency: LatencyTargets) -> Result<(), Failure> {
    println!("checks:");
    for c in checks {
        let mark = match (c.ok, c.latency && latency == LatencyTargets::Report) {
            (true, _) => "PASS",
            (false, false) => "FAIL",
            (false, true) => "MISS (latency, reported only)",
        };
        println!("  {mark} {}", c.name);
    }
    if checks.iter().all(|c| c.ok || (c.latency && latency == LatencyTargets::Report)) {
        Ok(())
    } else {
        Err(Failure::other("some checks failed"))
    }
}
