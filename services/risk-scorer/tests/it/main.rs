//! The risk scorer against real RabbitMQ, Postgres and Redis.

use std::time::{Duration, Instant};

use chrono::Utc;
use ghostlink_bus::Outgoing;
use ghostlink_proto::{Envelope, Event, LinkCreated, LinkUpdated};
use ghostlink_risk_scorer::{App, Config};
use ghostlink_runtime::ServiceArgs;
use ghostlink_test_support::bus::{outgoing, publisher, stream_events};
use ghostlink_test_support::{
    amqp_args, delete_topology, metric_value, redis_args, shared_args, Running, TestDb, BAD_CONSUMER_SETTINGS,
};

fn created(code: &str, url: &str) -> Outgoing {
    let now = Utc::now();
    outgoing(&Envelope::new(
        "shortener",
        Some(format!("req-{code}")),
        now,
        LinkCreated {
            code: code.into(),
            url: url.into(),
            status: "active".parse().expect("a link status"),
            owner_token_id: None,
            expires_at: None,
            max_clicks: None,
            created_at: now,
        },
    ))
}

fn updated(code: &str, url: &str) -> Outgoing {
    outgoing(&Envelope::new(
        "shortener",
        None,
        Utc::now(),
        LinkUpdated {
            code: code.into(),
            url: url.into(),
            status: "active".parse().expect("a link status"),
            expires_at: None,
            max_clicks: None,
            updated_at: Utc::now(),
        },
    ))
}

async fn wait_level(db: &TestDb, code: &str, want: &str) -> ghostlink_db::risk::RiskRow {
    let t = Instant::now();
    loop {
        if let Some(r) = ghostlink_db::risk::get(&mut db.conn(), code).expect("get") {
            if r.level == want.parse().expect("a level") {
                return r;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(15), "{code} never reached level {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn has_rule(row: &ghostlink_db::risk::RiskRow, rule: &str) -> bool {
    row.reasons.iter().any(|r| r.rule == rule)
}

#[tokio::test]
async fn scores_links_reloads_the_blocklist_and_publishes_risk_scored() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let blocklist = std::env::temp_dir().join(format!("gl-blocklist-{}.txt", amqp.bus_prefix));
    std::fs::write(&blocklist, "# test\nblocked.example\n").expect("write blocklist");
    let config = Config {
        service: ServiceArgs::new(shared_args(&db, &amqp)),
        redis: redis_args(),
        blocklist: blocklist.clone(),
        medium_threshold: 30,
        high_threshold: 60,
    };
    let app = App::build(config).expect("build");
    let scorer = Running::spawn(app.ops_addr(), |stop| app.run(stop)).ready().await;
    // A link whose destination is fine but one of whose rules sends visitors to a blocked host.
    let input: Vec<ghostlink_domain::rules::RuleInput> = serde_json::from_str(
        r#"[{"conditions":[{"type":"query","name":"x"}],"url":"https://www.rust-lang.org/learn"},
            {"conditions":[{"type":"language","is":["de"]}],"url":"https://x.blocked.example/"}]"#,
    )
    .expect("rules");
    let rules = ghostlink_domain::rules::validate_rules(&input).expect("valid rules");
    let new = ghostlink_db::links::NewLink {
        code: "rules1".into(),
        url: "https://www.rust-lang.org/".into(),
        rules,
        ..Default::default()
    };
    ghostlink_db::links::insert(&mut db.conn(), &new).expect("insert");
    let publisher = publisher(&amqp);
    publisher
        .publish(&[
            created("rules1", "https://www.rust-lang.org/"),
            created("fine1", "https://www.rust-lang.org/"),
            created("ip1", "http://203.0.113.9/"),
            created("phish1", "http://198.51.100.7:8080/secure-login/verify-account"),
            created("block1", "https://cdn.blocked.example/x"),
            created("later1", "https://later.example/"),
            // pаypal.com with a Cyrillic а, as the shortener stores it.
            created("homo1", "https://xn--pypal-4ve.com/signin"),
        ])
        .await
        .expect("publish");
    wait_level(&db, "fine1", "low").await;
    let ip = wait_level(&db, "ip1", "medium").await;
    assert_eq!(ip.score, 30);
    assert!(has_rule(&ip, "ip_literal_host"));
    let phish = wait_level(&db, "phish1", "high").await;
    assert!(has_rule(&phish, "phishing_keywords") && has_rule(&phish, "non_standard_port"));
    let blocked = wait_level(&db, "block1", "blocked").await;
    assert_eq!(blocked.score, 100);
    assert!(has_rule(&blocked, "blocklist"));
    let by_rule = wait_level(&db, "rules1", "blocked").await;
    assert!(
        by_rule.reasons.iter().any(|r| r.rule == "blocklist" && r.detail.starts_with("rules[1]: ")),
        "{:?}",
        by_rule.reasons
    );
    wait_level(&db, "later1", "low").await;
    let homograph = wait_level(&db, "homo1", "high").await;
    assert!(has_rule(&homograph, "brand_lookalike"), "{:?}", homograph.reasons);

    // The blocklist changes on disk: the next event sees it, without a restart.
    tokio::time::sleep(Duration::from_millis(1100)).await; // a distinct modification time
    std::fs::write(&blocklist, "blocked.example\nlater.example\n").expect("rewrite blocklist");
    publisher.publish(&[updated("later1", "https://later.example/")]).await.expect("publish");
    wait_level(&db, "later1", "blocked").await;

    let metrics = scorer.metrics().await;
    assert!(metric_value(&metrics, "risk_assessments_total", &[r#"level="blocked""#]) >= 2.0);
    assert!(metric_value(&metrics, "risk_rule_hits_total", &[r#"rule="ip_literal_host""#]) >= 1.0);
    assert!(metrics.contains("risk_blocklist_entries"));
    // Each assessment dropped the link's cached copies, counted like the shortener's.
    assert!(metric_value(&metrics, "cache_invalidations_total", &[r#"result="ok""#]) >= 7.0, "{metrics}");

    scorer.stop().await;
    // risk.scored events are on the stream, carrying the creating request's id.
    let scored: Vec<_> = stream_events(&amqp)
        .await
        .into_iter()
        .filter_map(|e| if let Event::RiskScored(e) = e { Some(e) } else { None })
        .collect();
    let phish_event = scored.iter().find(|e| e.data.code == "phish1").expect("risk.scored for phish1");
    assert_eq!(phish_event.data.level, ghostlink_domain::risk::Level::High);
    assert_eq!(phish_event.correlation_id.as_deref(), Some("req-phish1"));
    assert_eq!(scored.iter().filter(|e| e.data.code == "later1").count(), 2);
    publisher.close().await;
    // Cleanup of a temporary file; a leftover is harmless.
    let _ = std::fs::remove_file(&blocklist);
    delete_topology(&amqp.bus_prefix).await;
}

/// Through the real binary: a missing blocklist, a bad threshold, Redis setting or shared
/// setting exits 2 naming it.
#[test]
fn bad_settings_exit_2_naming_the_setting() {
    let own: &[(&str, &str, &str)] = &[
        ("RISK_BLOCKLIST", "/nonexistent/blocklist.txt", "RISK_BLOCKLIST"),
        ("RISK_MEDIUM_THRESHOLD", "70", "RISK_MEDIUM_THRESHOLD"),
        ("REDIS_TIMEOUT_MS", "0", "REDIS_TIMEOUT_MS"),
    ];
    ghostlink_runtime::testing::assert_bad_settings_exit_2(
        env!("CARGO_BIN_EXE_ghostlink-risk-scorer"),
        &[("RISK_BLOCKLIST", concat!(env!("CARGO_MANIFEST_DIR"), "/../../ops/risk/blocklist.txt"))],
        &[own, BAD_CONSUMER_SETTINGS].concat(),
    );
}
