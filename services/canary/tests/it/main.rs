//! The canary against real HTTP servers on loopback, Postgres, Redis and RabbitMQ.

mod servers;
mod ssrf;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ghostlink_canary::probe::{Failure, Outcome, ProbeResult, ProbeSettings, Prober};
use ghostlink_canary::{App, Config};
use ghostlink_db::links::NewLink;
use ghostlink_domain::{HealthState, LinkStatus};
use ghostlink_proto::{Envelope, Event, LinkCreated};
use ghostlink_runtime::ServiceArgs;
use ghostlink_test_support::bus::{outgoing, publisher, stream_events};
use ghostlink_test_support::{
    amqp_args, delete_topology, metric_value, redis_args, shared_args, Running, TestDb, BAD_CONSUMER_SETTINGS,
};
use servers::{Reply, TestServer};

fn config(db: &TestDb, amqp: &ghostlink_config::AmqpArgs) -> Config {
    Config {
        service: ServiceArgs::new(shared_args(db, amqp)),
        redis: redis_args(),
        interval: 1,
        batch: 100,
        concurrency: 8,
        per_host_concurrency: 2,
        connect_timeout_ms: 1_000,
        timeout_ms: 2_000,
        failures_to_quarantine: 3,
        successes_to_restore: 2,
        keep_checks: 20,
        allow_private_targets: "127.0.0.1/32".into(),
        abort_ratio: 0.8,
        abort_min_hosts: 3,
        user_agent: "GhostLink-Canary/test".into(),
    }
}

fn prober(private: &str) -> Prober {
    Prober::new(ProbeSettings {
        connect_timeout: Duration::from_millis(1_000),
        timeout: Duration::from_millis(1_500),
        per_host: 2,
        private_targets: private.parse().expect("policy"),
        user_agent: "GhostLink-Canary/test".into(),
    })
    .expect("client")
}

fn failure(r: &ProbeResult) -> Option<Failure> {
    r.error.as_ref().map(|e| e.failure)
}

fn start(config: Config) -> Running {
    let app = App::build(config).expect("build");
    Running::spawn(app.ops_addr(), |stop| app.run(stop))
}

fn insert_link(db: &TestDb, code: &str, url: &str) {
    ghostlink_db::links::insert(
        &mut db.conn(),
        &NewLink {
            code: code.into(),
            url: url.into(),
            owner_token_id: None,
            expires_at: None,
            max_clicks: None,
            ..Default::default()
        },
    )
    .expect("insert link");
}

fn status_of(db: &TestDb, code: &str) -> LinkStatus {
    ghostlink_db::links::get(&mut db.conn(), code).expect("get").expect("link").status
}

async fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Events in the outbox (what the relay publishes), as (type, payload).
fn outbox(db: &TestDb) -> Vec<(String, String)> {
    let text = |v: &serde_json::Value| v.as_str().expect("text").to_string();
    db.rows("SELECT routing_key, payload::text AS payload FROM outbox ORDER BY id")
        .iter()
        .map(|row| (text(&row["routing_key"]), text(&row["payload"])))
        .collect()
}

#[tokio::test]
async fn probes_classify_every_outcome() {
    let server = TestServer::start("127.0.0.1:0", |method, path| match path {
        "/ok" => Reply::status(200),
        "/missing" => Reply::status(404),
        "/broken" => Reply::status(500),
        "/hang" => Reply::status(200).delay(Duration::from_secs(5)),
        "/moved" => Reply::redirect("/ok"),
        "/loop" => Reply::redirect("/loop"),
        "/nohead" if method == "HEAD" => Reply::status(405),
        "/nohead" => Reply::status(200),
        _ => Reply::status(404),
    })
    .await;
    let p = prober("127.0.0.1/32");
    let base = format!("http://{}", server.addr);
    let cases = [
        ("/ok", Outcome::Ok, Some(200)),
        ("/missing", Outcome::Http4xx, Some(404)),
        ("/broken", Outcome::Http5xx, Some(500)),
        ("/hang", Outcome::Timeout, None),
        ("/moved", Outcome::Ok, Some(200)),
        ("/loop", Outcome::Http4xx, Some(302)),
        ("/nohead", Outcome::Ok, Some(200)),
    ];
    for (path, want, status) in cases {
        let r = p.probe(&format!("{base}{path}")).await;
        assert_eq!((r.outcome, r.status), (want, status), "{path}: {r:?}");
    }
    let moved = p.probe(&format!("{base}/moved")).await;
    assert_eq!(moved.redirects, vec![format!("{base}/ok")]);
    assert_eq!(moved.final_url.as_deref(), Some(format!("{base}/ok").as_str()));
    let looped = p.probe(&format!("{base}/loop")).await;
    assert_eq!(looped.redirects.len(), 5, "at most 5 redirects followed");
    assert_eq!(failure(&looped), Some(Failure::TooManyRedirects));
    assert_eq!(failure(&p.probe(&format!("{base}/hang")).await), Some(Failure::Timeout));
    assert_eq!(failure(&p.probe(&format!("{base}/ok")).await), None);
    assert_eq!(p.probe(&format!("{base}/nohead")).await.method, "GET");
    assert_eq!(p.probe(&format!("{base}/ok")).await.method, "HEAD");

    // HTTPS to a server that answers plain HTTP at once: the handshake fails.
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let plain_addr = plain.local_addr().expect("addr");
    let plain_task = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut sock, _)) = plain.accept().await {
            // A client that hung up needs no answer.
            let _ = sock.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").await;
        }
    });
    let tls = p.probe(&format!("https://{plain_addr}/ok")).await;
    plain_task.abort();
    assert_eq!((tls.outcome, failure(&tls)), (Outcome::Tls, Some(Failure::Tls)), "{tls:?}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_addr = closed.local_addr().expect("addr");
    drop(closed);
    let refused = p.probe(&format!("http://{closed_addr}/")).await;
    assert_eq!((refused.outcome, failure(&refused)), (Outcome::Connect, Some(Failure::Connect)));
    let unknown = p.probe("http://no-such-host.invalid/").await;
    assert_eq!((unknown.outcome, failure(&unknown)), (Outcome::Dns, Some(Failure::NameNotResolved)));
    // The detail names what failed; the reason an owner sees names nothing.
    let detail = unknown.error.as_ref().map(|e| e.detail.as_str()).unwrap_or_default();
    assert!(detail.contains("no-such-host.invalid"), "{unknown:?}");
    server.stop();
}

#[tokio::test]
async fn quarantines_after_three_failures_and_restores_after_two_successes() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let status = Arc::new(AtomicU16::new(500));
    let s2 = status.clone();
    let server = TestServer::start("127.0.0.1:0", move |_, _| Reply::status(s2.load(Ordering::SeqCst))).await;
    // Fails twice, then recovers: never quarantined.
    let flaky_hits = Arc::new(AtomicU16::new(0));
    let f2 = flaky_hits.clone();
    let flaky = TestServer::start("127.0.0.1:0", move |_, _| {
        Reply::status(if f2.fetch_add(1, Ordering::SeqCst) < 2 { 503 } else { 200 })
    })
    .await;
    insert_link(&db, "dying", &format!("http://{}/page", server.addr));
    insert_link(&db, "flaky", &format!("http://{}/page", flaky.addr));
    let canary = start(config(&db, &amqp));

    let quarantined_at = wait_for("quarantine", Duration::from_secs(20), || {
        (status_of(&db, "dying") == LinkStatus::Quarantined).then(Instant::now)
    })
    .await;
    let checks = ghostlink_db::health::checks(&mut db.conn(), "dying", 100).expect("checks");
    let health = ghostlink_db::health::get(&mut db.conn(), "dying").expect("health").expect("row");
    assert_eq!(health.state, HealthState::Quarantined);
    assert!(
        checks.len() >= 3 && checks.iter().all(|c| c.outcome == Outcome::Http5xx && c.status == Some(500))
    );
    // The link's status dates from the first failure (the page says "failing since …").
    let link = ghostlink_db::links::get(&mut db.conn(), "dying").expect("get").expect("link");
    assert_eq!(Some(link.status_since), health.failing_since);
    assert_eq!(link.status_since, checks.last().expect("first check").checked_at);
    let events = outbox(&db);
    let q: Vec<_> = events.iter().filter(|(k, _)| k == "link.quarantined").collect();
    assert_eq!(q.len(), 1, "one link.quarantined: {events:?}");
    match Event::decode(q[0].1.as_bytes()).expect("decode") {
        Event::LinkQuarantined(e) => {
            assert_eq!(e.data.consecutive_failures, 3, "quarantined exactly at the third failure");
            assert_eq!(e.data.by, ghostlink_domain::quarantine::QuarantineActor::Canary);
            assert_eq!(e.data.last_outcome, Some(Outcome::Http5xx));
        }
        other => panic!("unexpected {other:?}"),
    }

    // The destination comes back: two successes lift the quarantine.
    status.store(200, Ordering::SeqCst);
    wait_for("restore", Duration::from_secs(20), || {
        (status_of(&db, "dying") == LinkStatus::Active).then_some(())
    })
    .await;
    let health = ghostlink_db::health::get(&mut db.conn(), "dying").expect("health").expect("row");
    assert_eq!((health.state, health.consecutive_successes), (HealthState::Healthy, 2));
    assert!(quarantined_at.elapsed() >= Duration::from_millis(1500), "two checks, one interval apart");
    let restored: Vec<_> = outbox(&db).into_iter().filter(|(k, _)| k == "link.restored").collect();
    assert_eq!(restored.len(), 1);

    // The flaky link failed twice and then answered: never quarantined.
    let flaky_checks = ghostlink_db::health::checks(&mut db.conn(), "flaky", 100).expect("checks");
    assert!(flaky_checks.len() >= 3, "{flaky_checks:?}");
    assert_eq!(status_of(&db, "flaky"), LinkStatus::Active);
    assert!(!outbox(&db).iter().any(|(_, p)| p.contains("\"flaky\"")));

    // The relay published the events: they are on the stream.
    wait_for("published", Duration::from_secs(10), || {
        let n = ghostlink_db::outbox::pending(&mut db.conn()).expect("count");
        (n == 0).then_some(())
    })
    .await;
    let events = stream_events(&amqp).await;
    let kinds: Vec<&str> = events.iter().map(Event::kind).collect();
    assert!(kinds.contains(&"link.quarantined") && kinds.contains(&"link.restored"), "{kinds:?}");

    let metrics = canary.metrics().await;
    assert!(metric_value(&metrics, "canary_probes_total", &[r#"outcome="http_5xx""#]) >= 3.0);
    assert!(metric_value(&metrics, "canary_quarantines_total", &[]) >= 1.0);
    assert!(metric_value(&metrics, "canary_restores_total", &[]) >= 1.0);
    // The quarantine and the restore each dropped the link's cached copies, counted.
    assert!(metric_value(&metrics, "cache_invalidations_total", &[r#"result="ok""#]) >= 2.0, "{metrics}");
    canary.stop().await;
    server.stop();
    flaky.stop();
    delete_topology(&amqp.bus_prefix).await;
}

#[tokio::test]
async fn a_new_link_is_probed_within_seconds_of_link_created() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let server = TestServer::start("127.0.0.1:0", |_, _| Reply::status(200)).await;
    let mut cfg = config(&db, &amqp);
    cfg.interval = 300;
    let canary = start(cfg);
    // After the start-up sweep: only the event can bring this link to the canary's attention.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let url = format!("http://{}/new", server.addr);
    insert_link(&db, "fresh", &url);
    let now = Utc::now();
    let created = outgoing(&Envelope::new(
        "shortener",
        None,
        now,
        LinkCreated {
            code: "fresh".into(),
            url: url.clone(),
            status: LinkStatus::Active,
            owner_token_id: None,
            expires_at: None,
            max_clicks: None,
            created_at: now,
        },
    ));
    let publisher = publisher(&amqp);
    let sent = Instant::now();
    publisher.publish(&[created]).await.expect("publish");
    let check = wait_for("first check", Duration::from_secs(10), || {
        ghostlink_db::health::checks(&mut db.conn(), "fresh", 1).expect("checks").pop()
    })
    .await;
    println!("new link probed {} ms after link.created", sent.elapsed().as_millis());
    assert_eq!(check.outcome, Outcome::Ok);
    let health = ghostlink_db::health::get(&mut db.conn(), "fresh").expect("get").expect("row");
    assert_eq!(health.state, HealthState::Healthy);
    assert!(health.next_check_at > Utc::now() + chrono::Duration::seconds(200), "next check one interval on");
    publisher.close().await;
    canary.stop().await;
    server.stop();
    delete_topology(&amqp.bus_prefix).await;
}

#[tokio::test]
async fn a_round_where_every_host_is_unreachable_quarantines_nothing() {
    let db = TestDb::new();
    let amqp = amqp_args();
    // Four hosts that all refuse connections: what the canary sees when its own network is down.
    for i in 0..4 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        insert_link(&db, &format!("down{i}"), &format!("http://{addr}/"));
    }
    let canary = start(config(&db, &amqp));
    let t = Instant::now();
    while metric_value(&canary.metrics().await, "canary_rounds_aborted_total", &[]) < 4.0 {
        assert!(t.elapsed() < Duration::from_secs(20), "rounds were not aborted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 0..4 {
        assert_eq!(status_of(&db, &format!("down{i}")), LinkStatus::Active);
        assert!(ghostlink_db::health::checks(&mut db.conn(), &format!("down{i}"), 10)
            .expect("checks")
            .is_empty());
    }
    canary.stop().await;
    delete_topology(&amqp.bus_prefix).await;
}

/// Two canaries on one database: every due link is probed once, by one of them.
#[tokio::test]
async fn replicas_share_the_work_without_probing_a_link_twice() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let server = TestServer::start("127.0.0.1:0", |_, _| Reply::status(200)).await;
    for i in 0..40 {
        insert_link(&db, &format!("shared{i}"), &format!("http://{}/p{i}", server.addr));
    }
    let mut cfg = config(&db, &amqp);
    cfg.interval = 300;
    cfg.batch = 5;
    let a = start(cfg.clone());
    let b = start(cfg);
    wait_for("every link checked", Duration::from_secs(20), || (db.count("link_checks") >= 40).then_some(()))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..40 {
        let checks = ghostlink_db::health::checks(&mut db.conn(), &format!("shared{i}"), 10).expect("checks");
        assert_eq!(checks.len(), 1, "shared{i} probed once");
    }
    assert!(metric_value(&a.metrics().await, "canary_probes_total", &[r#"outcome="ok""#]) >= 40.0);
    a.stop().await;
    b.stop().await;
    server.stop();
    delete_topology(&amqp.bus_prefix).await;
}

/// Through the real binary: a bad setting of the canary's own or a shared one exits 2 naming it.
#[test]
fn bad_config_exits_2_naming_the_setting() {
    let own: &[(&str, &str, &str)] = &[
        ("CANARY_ALLOW_PRIVATE_TARGETS", "10.0.0.0/99", "CANARY_ALLOW_PRIVATE_TARGETS"),
        ("CANARY_INTERVAL", "0", "CANARY_INTERVAL"),
        ("CANARY_PER_HOST_CONCURRENCY", "0", "CANARY_PER_HOST_CONCURRENCY"),
    ];
    ghostlink_runtime::testing::assert_bad_settings_exit_2(
        env!("CARGO_BIN_EXE_ghostlink-canary"),
        &[],
        &[own, BAD_CONSUMER_SETTINGS].concat(),
    );
}

/// Forty links to a site that never answers share a round with one healthy link: the per-host
/// cap keeps the round short, so the healthy link is checked within seconds, not after the
/// slow site's forty timeouts have queued behind its per-host limit.
#[tokio::test]
async fn a_slow_host_does_not_hold_up_the_others() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let slow =
        TestServer::start("127.0.0.1:0", |_, _| Reply::status(200).delay(Duration::from_secs(30))).await;
    let fast = TestServer::start("127.0.0.1:0", |_, _| Reply::status(200)).await;
    for i in 0..40 {
        insert_link(&db, &format!("slow{i}"), &format!("http://{}/s{i}", slow.addr));
    }
    insert_link(&db, "quick", &format!("http://{}/q", fast.addr));
    let mut cfg = config(&db, &amqp);
    cfg.interval = 300;
    let t = Instant::now();
    let canary = start(cfg);
    let check = wait_for("the healthy link's check", Duration::from_secs(8), || {
        ghostlink_db::health::checks(&mut db.conn(), "quick", 1).expect("checks").pop()
    })
    .await;
    println!("healthy link checked {} ms after start, beside 40 hanging links", t.elapsed().as_millis());
    assert_eq!(check.outcome, Outcome::Ok);
    // At most 2 x per-host limit of the slow site's links were probed in that round.
    let slow_checked: usize = (0..40)
        .map(|i| ghostlink_db::health::checks(&mut db.conn(), &format!("slow{i}"), 1).expect("checks").len())
        .sum();
    assert!(slow_checked <= 4, "{slow_checked} slow links probed in the first round");
    canary.stop().await;
    slow.stop();
    fast.stop();
    delete_topology(&amqp.bus_prefix).await;
}

/// A name that resolves only to refused addresses: the stored check tells the link's owner
/// "blocked: private address", never which name resolved to what; the detail is kept for
/// admins.
#[tokio::test]
async fn a_blocked_check_stores_a_generic_reason_and_keeps_the_detail_apart() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let sentinel = TestServer::sentinel("127.0.0.1:0").await;
    insert_link(&db, "internal", &format!("http://localhost:{}/admin", sentinel.addr.port()));
    let mut cfg = config(&db, &amqp);
    cfg.allow_private_targets = "false".into();
    let canary = start(cfg);
    let check = wait_for("the check", Duration::from_secs(10), || {
        ghostlink_db::health::checks(&mut db.conn(), "internal", 1).expect("checks").pop()
    })
    .await;
    assert_eq!(check.outcome, Outcome::Blocked);
    assert_eq!(check.error.as_deref(), Some("blocked: private address"), "{check:?}");
    let detail = check.error_detail.as_deref().unwrap_or_default();
    assert!(detail.contains("localhost") && detail.contains("Loopback"), "{check:?}");
    canary.stop().await;
    assert_eq!(sentinel.accepted(), 0);
    sentinel.stop();
    delete_topology(&amqp.bus_prefix).await;
}
