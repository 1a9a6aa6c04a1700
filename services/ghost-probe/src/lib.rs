//! GhostLink ghost-probe: watches the click stream for clients that probe the redirect instead of
//! following links, and for links that only machines open.
//!
//! It consumes `click.recorded` from its own quorum queue and keeps sliding windows in Redis (so
//! N replicas share them; nothing is windowed in process), timed by each event's `occurred_at` so
//! a replay behaves like the live stream, and keyed by code or by client — each client twice: by
//! the redirect's `client_hash` (hashed address + user agent) and by its `address_hash` (the
//! address alone, an IPv6 address by its /64), so a client that rotates its user agent is still
//! one client. An address is found only for what more than one of its user agents did: its count
//! minus the largest count one of its user agents reached (in the same message, or earlier in
//! the window) must cross the threshold, so a scanner with one user agent behind a shared
//! address (a NAT) is found, and denied, alone, and the people beside it are not. Detectors,
//! every threshold a flag:
//! - `enumeration`: one client asks for many distinct unknown codes (`not_found`);
//! - `dead_link_probing`: one client keeps hitting gone or quarantined links;
//! - `burst`: one client makes very many requests in a few seconds;
//! - `zero_click`: a link opened many times by bots (previews, crawlers, HEADs) and never by a
//!   person; link-level, it never denies a client.
//!
//! A detection is an episode: stored in `probe_findings` (extended while it goes on, refreshed
//! at most every few seconds), published once as `probe.detected` (claimed with a Redis `SET NX`),
//! naming which key it counted by, and the client key that tripped is flagged until the deny TTL
//! passes; in `enforce` mode it also goes into the deny set the redirect answers 429 from (the
//! redirect checks both keys of every request).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use clap::Parser;
use ghostlink_bus::{Incoming, Outgoing, Publisher, Verdict};
use ghostlink_cache::probe::{ProbeStore, StoreSettings, WindowCount, WindowUpdate};
use ghostlink_config::{ConfigError, RedisArgs, Validate};
use ghostlink_db::findings::Observation;
use ghostlink_db::Db;
use ghostlink_domain::probe::{ClientKey, FindingKind, ProbeAction};
use ghostlink_domain::ClickOutcome;
use ghostlink_proto::{ClickRecorded, Envelope, Event, EventData, ProbeDetected};
use ghostlink_runtime::{Context, Handler, ServiceArgs, Spec, Task};
use ghostlink_web::ReadinessCheck;

const SERVICE: &str = "ghost-probe";
/// Most members one window keeps: bounds Redis memory per client or code.
const WINDOW_CAP: u32 = 10_000;

/// What a detection does to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Record and publish findings only.
    Observe,
    /// Also put flagged clients in the deny set (the redirect answers them 429).
    Enforce,
}

/// GhostLink ghost-probe.
#[derive(Debug, Clone, Parser)]
#[command(name = "ghostlink-ghost-probe", version, about)]
pub struct Config {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    /// `observe` records findings; `enforce` also denies flagged clients at the redirect.
    #[arg(long, env = "PROBE_MODE", value_enum, default_value_t = Mode::Observe)]
    pub mode: Mode,
    /// Distinct unknown codes from one client within the enumeration window.
    #[arg(long, env = "PROBE_ENUM_THRESHOLD", default_value_t = 20)]
    pub enum_threshold: u64,
    #[arg(long, env = "PROBE_ENUM_WINDOW_SECS", default_value_t = 60)]
    pub enum_window_secs: u64,
    /// Hits on gone or quarantined links from one client within the dead-link window.
    #[arg(long, env = "PROBE_DEAD_THRESHOLD", default_value_t = 10)]
    pub dead_threshold: u64,
    #[arg(long, env = "PROBE_DEAD_WINDOW_SECS", default_value_t = 60)]
    pub dead_window_secs: u64,
    /// Requests from one client within the burst window.
    #[arg(long, env = "PROBE_BURST_THRESHOLD", default_value_t = 300)]
    pub burst_threshold: u64,
    #[arg(long, env = "PROBE_BURST_WINDOW_SECS", default_value_t = 10)]
    pub burst_window_secs: u64,
    /// Bot clicks on one link, with no human click, within the zero-click window.
    #[arg(long, env = "PROBE_ZERO_CLICK_THRESHOLD", default_value_t = 20)]
    pub zero_click_threshold: u64,
    #[arg(long, env = "PROBE_ZERO_CLICK_WINDOW_SECS", default_value_t = 3600)]
    pub zero_click_window_secs: u64,
    /// How long a flagged client stays flagged (and denied in enforce mode) after its last
    /// detection.
    #[arg(long, env = "PROBE_DENY_TTL_SECS", default_value_t = 600)]
    pub deny_ttl_secs: u64,
    /// Quiet time after which a new detection of the same kind and client starts a new episode.
    #[arg(long, env = "PROBE_QUIET_GAP_SECS", default_value_t = 600)]
    pub quiet_gap_secs: u64,
    /// An ongoing episode's stored count and last_seen are refreshed at most this often.
    #[arg(long, env = "PROBE_STORE_INTERVAL_SECS", default_value_t = 5)]
    pub store_interval_secs: u64,
}

impl Config {
    /// The ghost-probe's own settings (the shared ones are the runtime's).
    fn validate(&self) -> Result<(), ConfigError> {
        self.redis.validate()?;
        let positive: [(&'static str, u64); 11] = [
            ("PROBE_ENUM_THRESHOLD (--enum-threshold)", self.enum_threshold),
            ("PROBE_ENUM_WINDOW_SECS (--enum-window-secs)", self.enum_window_secs),
            ("PROBE_DEAD_THRESHOLD (--dead-threshold)", self.dead_threshold),
            ("PROBE_DEAD_WINDOW_SECS (--dead-window-secs)", self.dead_window_secs),
            ("PROBE_BURST_THRESHOLD (--burst-threshold)", self.burst_threshold),
            ("PROBE_BURST_WINDOW_SECS (--burst-window-secs)", self.burst_window_secs),
            ("PROBE_ZERO_CLICK_THRESHOLD (--zero-click-threshold)", self.zero_click_threshold),
            ("PROBE_ZERO_CLICK_WINDOW_SECS (--zero-click-window-secs)", self.zero_click_window_secs),
            ("PROBE_DENY_TTL_SECS (--deny-ttl-secs)", self.deny_ttl_secs),
            ("PROBE_QUIET_GAP_SECS (--quiet-gap-secs)", self.quiet_gap_secs),
            ("PROBE_STORE_INTERVAL_SECS (--store-interval-secs)", self.store_interval_secs),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(ConfigError::new(name, "must be greater than 0"));
            }
        }
        for (name, t) in [
            ("PROBE_ENUM_THRESHOLD (--enum-threshold)", self.enum_threshold),
            ("PROBE_DEAD_THRESHOLD (--dead-threshold)", self.dead_threshold),
            ("PROBE_BURST_THRESHOLD (--burst-threshold)", self.burst_threshold),
            ("PROBE_ZERO_CLICK_THRESHOLD (--zero-click-threshold)", self.zero_click_threshold),
        ] {
            if t > u64::from(WINDOW_CAP) {
                return Err(ConfigError::new(name, format!("must be at most {WINDOW_CAP}")));
            }
        }
        Ok(())
    }
}

/// A detector's part of its windows' Redis keys.
fn window_key_part(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Enumeration => "enum",
        FindingKind::DeadLinkProbing => "dead",
        FindingKind::Burst => "burst",
        FindingKind::ZeroClick => "zc",
    }
}

/// What a window counts: a client by one of its keys, or a link.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    Client(ClientKey, String),
    Code(String),
}

impl Subject {
    fn is_empty(&self) -> bool {
        match self {
            Subject::Client(_, s) | Subject::Code(s) => s.is_empty(),
        }
    }

    /// The window's key under the prefix (the address+agent and code keys are the original ones).
    fn window_key(&self, kind: FindingKind) -> String {
        match self {
            Subject::Client(ClientKey::AddressAgent, h) | Subject::Code(h) => {
                format!("probe:{}:{h}", window_key_part(kind))
            }
            Subject::Client(ClientKey::Address, h) => format!("probe:{}:a:{h}", window_key_part(kind)),
        }
    }
}

/// Key of the largest count one user agent of `address` reached in `kind`'s window.
fn top_agent_key(kind: FindingKind, address: &str) -> String {
    format!("probe:top:{}:{address}", window_key_part(kind))
}

/// The ghost-probe on the consumer runtime.
pub type App = ghostlink_runtime::Service<Probe>;

impl Handler for Probe {
    type Config = Config;
    const SPEC: Spec = Spec::new(SERVICE, "127.0.0.1:9105", "consuming click events");

    fn service(config: &Config) -> &ServiceArgs {
        &config.service
    }

    fn build(config: Config, ctx: &Context) -> anyhow::Result<Self> {
        config.validate()?;
        // Nothing waits on these calls per redirect: a lenient timeout for a message's windows.
        let store = ProbeStore::new(StoreSettings {
            url: config.redis.redis_url.clone(),
            timeout: config.redis.timeout().max(Duration::from_secs(1)),
            key_prefix: config.redis.redis_key_prefix.clone(),
            pool_size: 8,
        })?;
        // Every series from the start (at 0), so rates and alerts see the first detection.
        for &k in FindingKind::ALL {
            metrics::counter!("probe_detections_total", "kind" => k.as_str()).increment(0);
        }
        for class in ["human", "bot"] {
            metrics::counter!("probe_clicks_total", "class" => class).increment(0);
        }
        metrics::counter!("probe_unknown_codes_total").increment(0);
        slog::info!(ctx.log, "ghost-probe mode"; "mode" => ?config.mode);
        Ok(Probe { db: ctx.db.clone(), store, publisher: ctx.publisher(), config, log: ctx.log.clone() })
    }

    fn readiness(&self) -> Vec<ReadinessCheck> {
        let store = self.store.clone();
        vec![ReadinessCheck::new("redis", true, move || {
            let store = store.clone();
            async move { store.ping().await.map_err(|e| e.to_string()) }
        })]
    }

    fn background(self: &Arc<Self>, _ctx: &Context) -> Vec<Task> {
        let store = self.store.clone();
        vec![Task::every("flagged", Duration::from_secs(2), move || sample_flagged(store.clone()))]
    }

    async fn handle(&self, batch: Vec<Incoming>) -> Vec<Verdict> {
        let mut verdicts = Vec::with_capacity(batch.len());
        for msg in batch {
            verdicts.push(self.handle_message(&msg.payload).await);
        }
        verdicts
    }

    async fn close(&self) {
        self.publisher.close().await;
    }
}

/// A window that crossed its threshold.
#[derive(Debug)]
struct Detection {
    kind: FindingKind,
    subject: Subject,
    count: u64,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
}

/// Updates the windows a message of click events touches and reports what crossed a threshold.
pub struct Probe {
    db: Db,
    store: ProbeStore,
    publisher: Publisher,
    config: Config,
    log: slog::Logger,
}

/// One window's pending update while a message is read.
struct Pending {
    kind: FindingKind,
    subject: Subject,
    members: Vec<(i64, String)>,
    human_ms: i64,
    last_ms: i64,
}

/// Whether a click's answer says its link exists and answers (what the zero-click detector
/// watches): a destination, a page for it, or its quarantine or block.
fn answers(outcome: ClickOutcome) -> bool {
    match outcome {
        ClickOutcome::Redirect
        | ClickOutcome::BotPreview
        | ClickOutcome::Interstitial
        | ClickOutcome::Quarantined
        | ClickOutcome::Blocked
        | ClickOutcome::PasswordRequired => true,
        ClickOutcome::NotFound
        | ClickOutcome::ScanLimited
        | ClickOutcome::Gone
        | ClickOutcome::Unsafe
        | ClickOutcome::Unavailable
        | ClickOutcome::Denied => false,
    }
}

fn ms_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_else(Utc::now)
}

impl Probe {
    fn window(&self, kind: FindingKind) -> (Duration, u64) {
        let c = &self.config;
        let (secs, threshold) = match kind {
            FindingKind::Enumeration => (c.enum_window_secs, c.enum_threshold),
            FindingKind::DeadLinkProbing => (c.dead_window_secs, c.dead_threshold),
            FindingKind::Burst => (c.burst_window_secs, c.burst_threshold),
            FindingKind::ZeroClick => (c.zero_click_window_secs, c.zero_click_threshold),
        };
        (Duration::from_secs(secs), threshold)
    }

    /// One message: every window it touches updated in one Redis round trip, then each
    /// crossed threshold reported. An undecodable line: the good events count, the message is
    /// dead-lettered.
    async fn handle_message(&self, payload: &[u8]) -> Verdict {
        let mut bad = false;
        let mut pending: HashMap<(FindingKind, Subject), Pending> = HashMap::new();
        // Each user agent's address, as this message's events tell it.
        let mut address_of: HashMap<String, String> = HashMap::new();
        let mut add =
            |kind: FindingKind, subject: &Subject, member: Option<(i64, String)>, human_ms: i64, at: i64| {
                let p = pending.entry((kind, subject.clone())).or_insert_with(|| Pending {
                    kind,
                    subject: subject.clone(),
                    members: Vec::new(),
                    human_ms: 0,
                    last_ms: 0,
                });
                p.members.extend(member);
                p.human_ms = p.human_ms.max(human_ms);
                p.last_ms = p.last_ms.max(at);
            };
        for event in Event::decode_lines(payload) {
            let e = match event {
                Ok(Event::ClickRecorded(e)) => e,
                Ok(_) => continue,
                Err(e) => {
                    slog::warn!(self.log, "undecodable event; dead-lettering the message"; "error" => %e);
                    bad = true;
                    continue;
                }
            };
            let ClickRecorded { code, outcome, client_hash, bot, address_hash, .. } = &e.data;
            let at = e.occurred_at.timestamp_millis();
            let id = e.id.to_string();
            metrics::counter!("probe_clicks_total", "class" => if *bot { "bot" } else { "human" })
                .increment(1);
            // The client by both its keys (events from older redirects carry no address).
            let mut clients = vec![Subject::Client(ClientKey::AddressAgent, client_hash.clone())];
            if let Some(address) = address_hash.as_ref().filter(|a| !a.is_empty()) {
                address_of.insert(client_hash.clone(), address.clone());
                clients.push(Subject::Client(ClientKey::Address, address.clone()));
            }
            let client_member = match outcome {
                ClickOutcome::NotFound => {
                    metrics::counter!("probe_unknown_codes_total").increment(1);
                    Some((FindingKind::Enumeration, code.clone()))
                }
                // Past its scan budget an address's codes are not looked up any more: they are
                // the same scan's unknown codes, and must keep counting towards it.
                ClickOutcome::ScanLimited => Some((FindingKind::Enumeration, code.clone())),
                ClickOutcome::Gone | ClickOutcome::Quarantined => Some((FindingKind::DeadLinkProbing, id.clone())),
                ClickOutcome::Redirect
                | ClickOutcome::Unavailable
                | ClickOutcome::Unsafe
                | ClickOutcome::Blocked
                | ClickOutcome::Interstitial
                | ClickOutcome::BotPreview
                // A password form says the code exists: no unknown code of a scan.
                | ClickOutcome::PasswordRequired
                | ClickOutcome::Denied => None,
            };
            for client in &clients {
                if let Some((kind, member)) = &client_member {
                    add(*kind, client, Some((at, member.clone())), 0, at);
                }
                add(FindingKind::Burst, client, Some((at, id.clone())), 0, at);
            }
            // Clicks on links that exist and answer: does anyone but a machine open them?
            if answers(*outcome) {
                let link = Subject::Code(code.clone());
                if *bot {
                    add(FindingKind::ZeroClick, &link, Some((at, id)), 0, at);
                } else {
                    add(FindingKind::ZeroClick, &link, None, at, at);
                }
            }
        }
        let mut pending: Vec<Pending> = pending.into_values().filter(|p| !p.subject.is_empty()).collect();
        let updates: Vec<WindowUpdate> = pending
            .iter_mut()
            .map(|p| WindowUpdate {
                key: p.subject.window_key(p.kind),
                human: match (&p.subject, p.kind) {
                    (Subject::Code(c), FindingKind::ZeroClick) => {
                        Some((format!("probe:zch:{c}"), p.human_ms))
                    }
                    _ => None,
                },
                window: self.window(p.kind).0,
                cap: WINDOW_CAP,
                members: std::mem::take(&mut p.members),
            })
            .collect();
        let counts = match self.store.windows(&updates).await {
            Ok(c) => c,
            Err(e) => return self.retry("updating the windows", e.to_string()).await,
        };
        let detections = match self.detections(&pending, &counts, &address_of).await {
            Ok(d) => d,
            Err(e) => return self.retry("reading or raising the user agents' shares", e.to_string()).await,
        };
        for d in detections {
            if let Err(e) = self.report(d).await {
                return self.retry("reporting a detection", e.to_string()).await;
            }
        }
        if bad {
            Verdict::Reject
        } else {
            Verdict::Ack
        }
    }

    async fn retry(&self, what: &str, e: String) -> Verdict {
        slog::warn!(self.log, "{} failed; will retry", what; "error" => %e);
        tokio::time::sleep(Duration::from_millis(500)).await;
        Verdict::Retry
    }

    /// The windows over their threshold. A user agent over it raises its address's top-agent
    /// count; an address counts only past the largest count one of its user agents reached (in
    /// this message, or earlier within the window), so what one user agent did is found once,
    /// under that user agent.
    async fn detections(
        &self,
        pending: &[Pending],
        counts: &[WindowCount],
        address_of: &HashMap<String, String>,
    ) -> Result<Vec<Detection>, ghostlink_cache::CacheError> {
        let mut busiest: HashMap<(FindingKind, &str), u64> = HashMap::new();
        for (p, c) in pending.iter().zip(counts) {
            if let Subject::Client(ClientKey::AddressAgent, agent) = &p.subject {
                if let Some(address) = address_of.get(agent) {
                    let top = busiest.entry((p.kind, address.as_str())).or_default();
                    *top = (*top).max(c.count);
                }
            }
        }
        let detection = |p: &Pending, c: &WindowCount| Detection {
            kind: p.kind,
            subject: p.subject.clone(),
            count: c.count,
            first: ms_time(c.first_ms),
            last: ms_time(p.last_ms),
        };
        let mut found = Vec::new();
        let mut raise = Vec::new();
        let mut addresses = Vec::new();
        for (p, c) in pending.iter().zip(counts) {
            let (window, threshold) = self.window(p.kind);
            if c.count < threshold {
                continue;
            }
            match &p.subject {
                Subject::Client(ClientKey::Address, address) => addresses.push((p, c, address)),
                Subject::Client(ClientKey::AddressAgent, agent) => {
                    if let Some(address) = address_of.get(agent) {
                        raise.push((
                            top_agent_key(p.kind, address),
                            c.count,
                            window + Duration::from_secs(60),
                        ));
                    }
                    found.push(detection(p, c));
                }
                Subject::Code(_) => found.push(detection(p, c)),
            }
        }
        if !addresses.is_empty() {
            let keys: Vec<String> = addresses.iter().map(|(p, _, a)| top_agent_key(p.kind, a)).collect();
            let earlier = self.store.top_agent(&keys).await?;
            for ((p, c, address), earlier) in addresses.into_iter().zip(earlier) {
                let top = busiest.get(&(p.kind, address.as_str())).copied().unwrap_or(0).max(earlier);
                if c.count.saturating_sub(top) >= self.window(p.kind).1 {
                    found.push(detection(p, c));
                }
            }
        }
        self.store.raise_top_agent(&raise).await?;
        Ok(found)
    }

    /// Flags (and in enforce mode denies) the client, then stores and publishes the episode:
    /// published once, stored at most every `PROBE_STORE_INTERVAL_SECS`.
    async fn report(&self, d: Detection) -> anyhow::Result<()> {
        let (client, key, code) = match &d.subject {
            Subject::Client(key, hash) => (Some(hash.clone()), Some(*key), None),
            Subject::Code(code) => (None, None, Some(code.clone())),
        };
        let deny = self.config.mode == Mode::Enforce && client.is_some();
        if let Some(client) = &client {
            let until = Utc::now().timestamp_millis() + (self.config.deny_ttl_secs * 1000) as i64;
            self.store.flag_client(client, until, deny).await?;
        }
        let (client_hash, code_name) = (client, code);
        let (client, code) = (client_hash.clone().unwrap_or_default(), code_name.clone().unwrap_or_default());
        let episode = format!("{}:{client}:{code}", d.kind.as_str());
        let (new, write) = self
            .store
            .claim(
                &episode,
                Duration::from_secs(self.config.quiet_gap_secs),
                Duration::from_secs(self.config.store_interval_secs),
            )
            .await?;
        if !write {
            return Ok(());
        }
        let action = if deny { ProbeAction::Deny } else { ProbeAction::Observe };
        let obs = Observation {
            kind: d.kind,
            client,
            code,
            count: d.count as i64,
            first_seen: d.first,
            last_seen: d.last,
            action,
            client_key: key,
        };
        let gap = Duration::from_secs(self.config.quiet_gap_secs);
        let stored = self.db.run(move |c| ghostlink_db::findings::record(c, &obs, gap)).await;
        if let Err(e) = stored {
            metrics::counter!("db_errors_total", "op" => "findings_record").increment(1);
            if new {
                self.release(&episode).await;
            }
            return Err(e.into());
        }
        if !new {
            return Ok(());
        }
        let env = Envelope::new(
            SERVICE,
            None,
            Utc::now(),
            ProbeDetected {
                kind: d.kind,
                client_hash: client_hash.clone(),
                client_key: key,
                code: code_name.clone(),
                count: d.count,
                window_secs: self.window(d.kind).0.as_secs(),
                first_seen: d.first,
                last_seen: d.last,
                action,
            },
        );
        let out = Outgoing {
            routing_key: ProbeDetected::TYPE.to_string(),
            message_id: env.id.to_string(),
            payload: env.to_bytes(),
        };
        if let Err(e) = self.publisher.publish(&[out]).await {
            self.release(&episode).await;
            return Err(e.into());
        }
        metrics::counter!("probe_detections_total", "kind" => d.kind.as_str()).increment(1);
        slog::info!(self.log, "probe detected";
            "probe.kind" => d.kind.as_str(), "client.hash" => client_hash.as_deref().unwrap_or(""),
            "client.key" => key.map_or("", ClientKey::as_str), "link.code" => code_name.as_deref().unwrap_or(""),
            "probe.count" => d.count, "probe.action" => action.as_str());
        Ok(())
    }

    /// Gives a claimed episode back, so the retried message publishes its finding. If Redis
    /// fails that too (counted in `redis_errors_total{op="probe_release"}`), the claim lives
    /// out the quiet gap and this episode's `probe.detected` is not sent: logged.
    async fn release(&self, episode: &str) {
        if let Err(e) = self.store.release(episode).await {
            slog::warn!(self.log, "cannot release an episode claim; its probe.detected will not be sent";
                "probe.episode" => episode, "error" => %e);
        }
    }
}

/// `probe_clients_flagged`: live entries of the flagged set (the deny set's members in enforce
/// mode; the same clients flagged in observe mode). Unknown while Redis does not answer (the
/// failure is counted in `redis_errors_total`).
async fn sample_flagged(store: ProbeStore) {
    if let Ok(n) = store.flagged_count(Utc::now().timestamp_millis()).await {
        metrics::gauge!("probe_clients_flagged").set(n as f64);
    }
}
