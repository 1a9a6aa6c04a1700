//! The ghost-probe against real RabbitMQ, Postgres and Redis: click events are published to the
//! real exchange the way the redirect does (NDJSON, up to 250 per message).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ghostlink_bus::{pack, Outgoing, Publisher};
use ghostlink_cache::probe::ProbeStore;
use ghostlink_config::{AmqpArgs, RedisArgs};
use ghostlink_db::findings::Finding;
use ghostlink_domain::probe::{ClientKey, FindingKind, ProbeAction};
use ghostlink_ghost_probe::{App, Config, Mode};
use ghostlink_proto::{ClickRecorded, Envelope, Event, ProbeDetected};
use ghostlink_runtime::ServiceArgs;
use ghostlink_test_support::bus::{self, outgoing, publisher, stream_events};
use ghostlink_test_support::{
    delete_topology, metric_value, shared_args, Running, TestDb, BAD_CONSUMER_SETTINGS,
};

struct Probe {
    db: TestDb,
    redis: ProbeStore,
    amqp: AmqpArgs,
    publisher: Publisher,
    service: Running,
}

fn config(db: &TestDb, redis: &RedisArgs, amqp: &AmqpArgs, mode: Mode) -> Config {
    Config {
        service: ServiceArgs::new(shared_args(db, amqp)),
        redis: redis.clone(),
        mode,
        enum_threshold: 20,
        enum_window_secs: 60,
        dead_threshold: 10,
        dead_window_secs: 60,
        burst_threshold: 300,
        burst_window_secs: 10,
        zero_click_threshold: 20,
        zero_click_window_secs: 3600,
        deny_ttl_secs: 600,
        quiet_gap_secs: 600,
        store_interval_secs: 1,
    }
}

async fn spawn(mode: Mode) -> Probe {
    let (db, redis, amqp) = ghostlink_test_support::backends();
    let app = App::build(config(&db, &redis, &amqp, mode)).expect("build");
    let service = Running::spawn(app.ops_addr(), |stop| app.run(stop)).ready().await;
    let publisher = publisher(&amqp);
    let redis = ProbeStore::sharing(&ghostlink_web::deps::invalidation_cache(&redis).expect("redis"));
    Probe { db, redis, amqp, publisher, service }
}

impl Probe {
    /// Publishes clicks packed like the redirect packs them.
    async fn publish(&self, clicks: &[Outgoing]) {
        self.publisher.publish(&pack(clicks, 250)).await.expect("publish clicks");
    }

    fn findings(&self) -> Vec<Finding> {
        ghostlink_db::findings::list(&mut self.db.conn(), None, 500).expect("list findings")
    }

    async fn wait_finding(&self, kind: FindingKind, subject: &str) -> Finding {
        let t = Instant::now();
        loop {
            let found = self
                .findings()
                .into_iter()
                .find(|f| f.kind == kind && (f.client == subject || f.code == subject));
            if let Some(f) = found {
                return f;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "no {kind} finding for {subject}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn metrics(&self) -> String {
        self.service.metrics().await
    }

    async fn stop(self) {
        self.service.stop().await;
        self.publisher.close().await;
        // Cleanup of the test's own key prefix; a leftover is harmless.
        let _ = self.redis.flush_prefix().await;
        delete_topology(&self.amqp.bus_prefix).await;
    }
}

fn client() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn click(client: &str, code: &str, outcome: &str, bot: bool, at: DateTime<Utc>) -> Outgoing {
    click_from(None, client, code, outcome, bot, at)
}

/// A click whose event also names the client's address (`address_hash`), as redirects do now.
fn click_from(
    address: Option<&str>,
    client: &str,
    code: &str,
    outcome: &str,
    bot: bool,
    at: DateTime<Utc>,
) -> Outgoing {
    let ua = if bot { "Slackbot-LinkExpanding 1.0" } else { "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0" };
    outgoing(&Envelope::new(
        "redirect",
        None,
        at,
        ClickRecorded {
            outcome: outcome.parse().expect("a click outcome"),
            user_agent: Some(ua.into()),
            client_hash: client.into(),
            bot,
            address_hash: address.map(str::to_owned),
            ..bus::click(code)
        },
    ))
}

/// `n` events spread evenly over the 60 s before now.
fn spread(n: usize, f: impl Fn(usize, DateTime<Utc>) -> Outgoing) -> Vec<Outgoing> {
    let start = Utc::now() - chrono::Duration::seconds(60);
    (0..n).map(|i| f(i, start + chrono::Duration::milliseconds((i as i64 + 1) * 60_000 / n as i64))).collect()
}

/// A scanner asking for 200 random codes over a minute.
fn scanner(client: &str) -> Vec<Outgoing> {
    spread(200, |_, at| click(client, &uuid::Uuid::new_v4().simple().to_string()[..7], "not_found", true, at))
}

/// The detections on the test's stream.
async fn detections(amqp: &AmqpArgs) -> Vec<ProbeDetected> {
    let events = stream_events(amqp).await;
    events
        .into_iter()
        .filter_map(|e| if let Event::ProbeDetected(e) = e { Some(e.data) } else { None })
        .collect()
}

/// A scan past the redirect's scan budget: after 15 unknown codes looked up, its codes are
/// answered 429 unlooked-up (`scan_limited`). They are the same scan: it is found and denied.
#[tokio::test]
async fn a_scan_past_its_scan_budget_is_still_found() {
    let p = spawn(Mode::Enforce).await;
    let scan = client();
    p.publish(&spread(60, |i, at| {
        let code = uuid::Uuid::new_v4().simple().to_string()[..7].to_string();
        click(&scan, &code, if i < 15 { "not_found" } else { "scan_limited" }, true, at)
    }))
    .await;
    let f = p.wait_finding(FindingKind::Enumeration, &scan).await;
    assert!(f.count >= 20, "{f:?}");
    assert!(p.redis.deny_score(&scan).await.expect("zscore").is_some());
    p.stop().await;
}

#[tokio::test]
async fn enforce_flags_scanners_and_zero_click_links_but_not_people() {
    let p = spawn(Mode::Enforce).await;
    let (scan, person, prober) = (client(), client(), client());
    let mut clicks = scanner(&scan);
    // 200 requests to valid codes from one person over the same minute (below the burst rate).
    clicks.extend(spread(200, |i, at| click(&person, &format!("good{}", i % 5), "redirect", false, at)));
    // 12 hits on gone and quarantined links.
    clicks.extend(spread(12, |i, at| {
        click(&prober, &format!("dead{i}"), if i % 2 == 0 { "gone" } else { "quarantined" }, false, at)
    }));
    // A link only previewers open, and one a person opened too; each preview from its own client.
    clicks.extend(spread(25, |_, at| click(&client(), "zeroclk", "redirect", true, at)));
    clicks.push(click(&person, "seenclk", "redirect", false, Utc::now() - chrono::Duration::seconds(30)));
    clicks.extend(spread(25, |_, at| click(&client(), "seenclk", "redirect", true, at)));
    p.publish(&clicks).await;

    let f = p.wait_finding(FindingKind::Enumeration, &scan).await;
    assert_eq!((f.code.as_str(), f.action), ("", ProbeAction::Deny));
    assert!(f.count >= 20, "{f:?}");
    let dead = p.wait_finding(FindingKind::DeadLinkProbing, &prober).await;
    assert_eq!(dead.action, ProbeAction::Deny);
    let zc = p.wait_finding(FindingKind::ZeroClick, "zeroclk").await;
    assert_eq!((zc.client.as_str(), zc.action), ("", ProbeAction::Observe));
    assert!(zc.count >= 20);

    // The scanner and the prober are denied; the person is not, and nothing else was found.
    assert!(p
        .redis
        .deny_score(&scan)
        .await
        .expect("zscore")
        .is_some_and(|until| until > Utc::now().timestamp_millis()));
    assert!(p.redis.deny_score(&prober).await.expect("zscore").is_some());
    assert_eq!(p.redis.deny_score(&person).await.expect("zscore"), None);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = p.findings();
    assert!(all.iter().all(|f| f.client != person && f.code != "seenclk"), "{all:?}");
    assert_eq!(all.len(), 3, "{all:?}");

    // The scan goes on: the same episode is extended, not published again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let more: Vec<Outgoing> =
        (0..30).map(|i| click(&scan, &format!("more{i}"), "not_found", true, Utc::now())).collect();
    p.publish(&more).await;
    let t = Instant::now();
    loop {
        let rows: Vec<Finding> = p.findings().into_iter().filter(|f| f.client == scan).collect();
        assert_eq!(rows.len(), 1, "{rows:?}");
        if rows[0].last_seen > f.last_seen {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "episode never refreshed: {rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let m = p.metrics().await;
    assert!(metric_value(&m, "probe_detections_total", &[r#"kind="enumeration""#]) >= 1.0);
    assert!(metric_value(&m, "probe_detections_total", &[r#"kind="zero_click""#]) >= 1.0);
    assert!(metric_value(&m, "probe_clicks_total", &[r#"class="human""#]) >= 200.0);
    assert!(metric_value(&m, "probe_clicks_total", &[r#"class="bot""#]) >= 250.0);
    assert!(metric_value(&m, "probe_unknown_codes_total", &[]) >= 200.0);
    assert!(metric_value(&m, "bus_acked_total", &[r#"consumer="ghost-probe""#]) >= 1.0);
    let t = Instant::now();
    while metric_value(&p.metrics().await, "probe_clients_flagged", &[]) < 1.0 {
        assert!(t.elapsed() < Duration::from_secs(10), "probe_clients_flagged never rose");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Published once per episode, with the action taken.
    let published = detections(&p.amqp).await;
    let mine: Vec<&ProbeDetected> =
        published.iter().filter(|d| d.client_hash.as_deref() == Some(scan.as_str())).collect();
    assert_eq!(mine.len(), 1, "{published:?}");
    assert_eq!((mine[0].kind, mine[0].action), (FindingKind::Enumeration, ProbeAction::Deny));
    assert!(published
        .iter()
        .any(|d| d.kind == FindingKind::ZeroClick && d.code.as_deref() == Some("zeroclk")));
    p.stop().await;
}

#[tokio::test]
async fn observe_records_findings_without_denying() {
    let p = spawn(Mode::Observe).await;
    let (scan, flood) = (client(), client());
    let mut clicks = scanner(&scan);
    // 320 requests to one valid link within 4 s: a burst.
    let now = Utc::now();
    clicks.extend(
        (0..320).map(|i| {
            click(&flood, "popular", "redirect", false, now + chrono::Duration::milliseconds(i * 12))
        }),
    );
    p.publish(&clicks).await;

    let f = p.wait_finding(FindingKind::Enumeration, &scan).await;
    assert_eq!(f.action, ProbeAction::Observe);
    let b = p.wait_finding(FindingKind::Burst, &flood).await;
    assert_eq!(b.action, ProbeAction::Observe);
    assert!(b.count >= 300, "{b:?}");
    assert_eq!(p.redis.deny_score(&scan).await.expect("zscore"), None);
    assert_eq!(p.redis.deny_score(&flood).await.expect("zscore"), None);
    assert_eq!(p.redis.flagged_count(Utc::now().timestamp_millis()).await.expect("flagged"), 2);

    let published = detections(&p.amqp).await;
    let mine: Vec<&ProbeDetected> =
        published.iter().filter(|d| d.client_hash.as_deref() == Some(scan.as_str())).collect();
    assert_eq!(mine.len(), 1, "{published:?}");
    assert_eq!(
        (mine[0].kind, mine[0].action, mine[0].window_secs),
        (FindingKind::Enumeration, ProbeAction::Observe, 60)
    );
    assert!(mine[0].count >= 20);
    p.stop().await;
}

/// Each request from its own user agent: every client hash is new, the address is the same.
fn rotating(address: &str, n: usize, f: impl Fn(usize) -> (String, &'static str)) -> Vec<Outgoing> {
    spread(n, |i, at| {
        let (code, outcome) = f(i);
        click_from(Some(address), &client(), &code, outcome, false, at)
    })
}

#[tokio::test]
async fn a_client_rotating_its_user_agent_is_found_by_its_address() {
    let p = spawn(Mode::Enforce).await;
    let (scan, prober, flood) = (client(), client(), client());
    // 30 unknown codes, 30 user agents, one address.
    let mut clicks = rotating(&scan, 30, |i| (format!("rot{i}"), "not_found"));
    // 12 hits on gone links, 12 user agents.
    clicks.extend(rotating(&prober, 12, |i| (format!("dead{i}"), "gone")));
    // 320 requests within 4 s, each from its own user agent.
    let now = Utc::now();
    clicks.extend((0..320).map(|i| {
        click_from(
            Some(&flood),
            &client(),
            "popular",
            "redirect",
            false,
            now + chrono::Duration::milliseconds(i * 12),
        )
    }));
    p.publish(&clicks).await;

    for (kind, address) in [
        (FindingKind::Enumeration, &scan),
        (FindingKind::DeadLinkProbing, &prober),
        (FindingKind::Burst, &flood),
    ] {
        let f = p.wait_finding(kind, address).await;
        assert_eq!((f.client_key, f.action), (Some(ClientKey::Address), ProbeAction::Deny), "{f:?}");
        assert!(p.redis.deny_score(address).await.expect("zscore").is_some(), "{kind}: address not denied");
    }
    // No single user agent did enough to be found on its own.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = p.findings();
    assert_eq!(all.len(), 3, "{all:?}");

    let published = detections(&p.amqp).await;
    let mine: Vec<&ProbeDetected> =
        published.iter().filter(|d| d.client_hash.as_deref() == Some(scan.as_str())).collect();
    assert_eq!(mine.len(), 1, "{published:?}");
    assert_eq!((mine[0].kind, mine[0].client_key), (FindingKind::Enumeration, Some(ClientKey::Address)));
    p.stop().await;
}

/// 12 hits on gone links from a client of its own: a finding that shows every message published
/// before it was handled (one consumer handles messages in order).
fn marker(client: &str) -> Vec<Outgoing> {
    (0..12).map(|i| click(client, &format!("mark{i}"), "gone", false, Utc::now())).collect()
}

#[tokio::test]
async fn one_user_agent_scanning_beside_people_is_denied_alone() {
    let p = spawn(Mode::Enforce).await;
    // A NAT: a scanner with one user agent, and people with theirs, behind one address.
    let (address, scan, person) = (client(), client(), client());
    let code = || uuid::Uuid::new_v4().simple().to_string()[..7].to_owned();
    let mut clicks = spread(200, |_, at| click_from(Some(&address), &scan, &code(), "not_found", false, at));
    clicks.extend(spread(50, |i, at| {
        click_from(Some(&address), &person, &format!("good{}", i % 5), "redirect", false, at)
    }));
    // One typo by a person, right after the scan.
    clicks.push(click_from(Some(&address), &client(), "typo123", "not_found", false, Utc::now()));
    let first = client();
    clicks.extend(marker(&first));
    p.publish(&clicks).await;

    let f = p.wait_finding(FindingKind::Enumeration, &scan).await;
    assert_eq!((f.client_key, f.action), (Some(ClientKey::AddressAgent), ProbeAction::Deny));
    assert!(p.redis.deny_score(&scan).await.expect("zscore").is_some());
    p.wait_finding(FindingKind::DeadLinkProbing, &first).await;
    // The scanner's own user agent explains the address's unknown codes: the address (and so
    // the people behind it) is not denied, and no address finding is opened.
    assert_eq!(p.redis.deny_score(&address).await.expect("zscore"), None);
    assert_eq!(p.redis.deny_score(&person).await.expect("zscore"), None);
    let all = p.findings();
    assert!(all.iter().all(|f| f.client != address), "{all:?}");

    // Later, in a message of its own (the scanner, denied, is silent): another person's typo.
    // Still explained by the scanner's earlier codes in the window.
    let mut later = vec![click_from(Some(&address), &client(), "typo456", "not_found", false, Utc::now())];
    let second = client();
    later.extend(marker(&second));
    p.publish(&later).await;
    p.wait_finding(FindingKind::DeadLinkProbing, &second).await;
    assert_eq!(p.redis.deny_score(&address).await.expect("zscore"), None);

    // The scanner comes back with a new user agent for every request: now it is the address.
    let rotated = rotating(&address, 25, |i| (format!("rot{i}"), "not_found"));
    p.publish(&rotated).await;
    let f = p.wait_finding(FindingKind::Enumeration, &address).await;
    assert_eq!((f.client_key, f.action), (Some(ClientKey::Address), ProbeAction::Deny));
    p.stop().await;
}

/// Through the real binary: a bad setting of the ghost-probe's own, of its Redis or a shared
/// one exits 2 naming it.
#[test]
fn bad_settings_exit_2_naming_the_setting() {
    let own: &[(&str, &str, &str)] = &[
        ("PROBE_ENUM_THRESHOLD", "0", "PROBE_ENUM_THRESHOLD"),
        ("PROBE_BURST_THRESHOLD", "10001", "PROBE_BURST_THRESHOLD"),
        ("REDIS_URL", "http://redis.example", "REDIS_URL"),
    ];
    ghostlink_runtime::testing::assert_bad_settings_exit_2(
        env!("CARGO_BIN_EXE_ghostlink-ghost-probe"),
        &[],
        &[own, BAD_CONSUMER_SETTINGS].concat(),
    );
}
