use std::time::{Duration, Instant};

use chrono::Utc;
use ghostlink_domain::risk::{Level, Reason};
use ghostlink_domain::LinkStatus;
use ghostlink_proto::Event;
use serde_json::json;

use ghostlink_test_support::bus::stream_events;

use crate::{error_code, spawn, spawn_with};

#[tokio::test]
async fn link_changes_are_published_from_the_outbox_with_their_request_id() {
    let app = spawn().await;
    let r = app
        .client
        .post(app.url("/api/v1/links"))
        .bearer_auth(&app.admin)
        .header("x-request-id", "req-create-1")
        .json(&json!({"url": "https://ev.example/", "alias": "ev-link"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let created = ghostlink_db::links::get(&mut app.db.conn(), "ev-link").expect("db").expect("row");
    assert_eq!(created.status_since, created.created_at);
    let (s, _) = app
        .call("PATCH", "/api/v1/links/ev-link", Some(&app.admin), Some(json!({"status": "disabled"})))
        .await;
    assert_eq!(s, 200);
    let (s, _) = app.call("DELETE", "/api/v1/links/ev-link", Some(&app.admin), None).await;
    assert_eq!(s, 204);
    let amqp = app.amqp.clone();
    app.stop_keep_bus().await;
    let events = stream_events(&amqp).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind()).collect();
    assert_eq!(kinds, ["link.created", "link.updated", "link.deleted"]);
    match &events[0] {
        Event::LinkCreated(e) => {
            assert_eq!(e.data.code, "ev-link");
            assert_eq!(e.data.url, "https://ev.example/");
            assert_eq!(e.correlation_id.as_deref(), Some("req-create-1"));
            assert_eq!(e.source, "shortener");
            // The event describes the stored row exactly.
            assert_eq!(e.data.created_at, created.created_at);
            assert_eq!(e.data.status, LinkStatus::Active);
        }
        other => panic!("{other:?}"),
    }
    match &events[1] {
        Event::LinkUpdated(e) => assert_eq!(e.data.status, LinkStatus::Disabled),
        other => panic!("{other:?}"),
    }
    ghostlink_test_support::delete_topology(&amqp.bus_prefix).await;
}

#[tokio::test]
async fn broker_outage_keeps_events_in_the_outbox_until_it_returns() {
    let proxy = ghostlink_test_support::CutProxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let url = proxy.amqp_url();
    let app = spawn_with(|c| c.amqp.amqp_url = url.clone()).await;
    proxy.cut();
    for i in 0..20 {
        let (s, b) = app.create(&app.user, json!({"url": format!("https://o.example/{i}")})).await;
        assert_eq!(s, 201, "creation does not wait on the broker: {b}");
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pending = ghostlink_db::outbox::pending(&mut app.db.conn()).expect("pending");
    assert_eq!(pending, 20, "events wait in the outbox");
    proxy.restore();
    let t = Instant::now();
    while ghostlink_db::outbox::pending(&mut app.db.conn()).expect("pending") > 0 {
        assert!(t.elapsed() < Duration::from_secs(20), "outbox not relayed after the broker came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let amqp = app.amqp.clone();
    app.stop_keep_bus().await;
    let mut a = amqp.clone();
    a.amqp_url = ghostlink_test_support::amqp_url();
    let created: std::collections::HashSet<_> =
        stream_events(&a).await.into_iter().filter(|e| e.kind() == "link.created").map(|e| e.id()).collect();
    assert_eq!(created.len(), 20);
    ghostlink_test_support::delete_topology(&amqp.bus_prefix).await;
}

#[tokio::test]
async fn blocklisted_destinations_are_refused_and_risk_is_readable_and_filterable() {
    let list = std::env::temp_dir().join(format!("gl-sh-blocklist-{}.txt", uuid::Uuid::new_v4().simple()));
    std::fs::write(&list, "blocked.example\n").expect("write");
    let l2 = list.clone();
    let app = spawn_with(move |c| c.blocklist = Some(l2)).await;
    let (s, b) = app.create(&app.user, json!({"url": "https://cdn.blocked.example/x"})).await;
    assert_eq!((s, error_code(&b).as_str()), (422, "url_blocklisted"));
    assert!(b["error"]["message"].as_str().expect("msg").contains("blocked.example"));
    // The list is re-read when it changes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&list, "blocked.example\nnewly-bad.example\n").expect("rewrite");
    let (s, _) = app.create(&app.user, json!({"url": "https://newly-bad.example/"})).await;
    assert_eq!(s, 422);

    let (s, _) =
        app.create(&app.user, json!({"url": "http://198.51.100.7:8080/login", "alias": "risky1"})).await;
    assert_eq!(s, 201);
    let (s, _) = app.create(&app.user, json!({"url": "https://fine.example/", "alias": "fine1"})).await;
    assert_eq!(s, 201);
    let (s, b) = app.call("GET", "/api/v1/links/risky1/risk", Some(&app.user), None).await;
    assert_eq!((s, error_code(&b).as_str()), (404, "not_scored"));
    // What the risk scorer stores.
    ghostlink_db::risk::upsert(
        &mut app.db.conn(),
        &ghostlink_db::risk::RiskRow {
            code: "risky1".into(),
            url: "http://198.51.100.7:8080/login".into(),
            score: 65,
            level: Level::High,
            reasons: vec![Reason {
                rule: "ip_literal_host".into(),
                weight: 30,
                detail: "the host is an IP address".into(),
            }],
            assessed_at: Utc::now(),
        },
    )
    .expect("upsert");
    let (s, r) = app.call("GET", "/api/v1/links/risky1/risk", Some(&app.user), None).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["score"], 65);
    assert_eq!(r["level"], "high");
    assert_eq!(r["reasons"][0]["rule"], "ip_literal_host");
    let (_, page) = app.call("GET", "/api/v1/links?risk=high", Some(&app.admin), None).await;
    let codes: Vec<&str> =
        page["items"].as_array().expect("items").iter().filter_map(|i| i["code"].as_str()).collect();
    assert_eq!(codes, ["risky1"]);
    let (s, b) = app.call("GET", "/api/v1/links?risk=scary", Some(&app.admin), None).await;
    assert_eq!((s, error_code(&b).as_str()), (400, "invalid_query"));
    assert_eq!(
        b["error"]["message"], "risk: unknown risk level 'scary' (expected low, medium, high, blocked)",
        "the error names the values there are"
    );
    // Reasons of the wrong shape are a bad row: an error, not an assessment without reasons.
    app.db.execute(
        r#"UPDATE risk_assessments SET reasons = '[{"rule": "ip_literal_host"}]' WHERE code = 'risky1'"#,
    );
    let (s, b) = app.call("GET", "/api/v1/links/risky1/risk", Some(&app.user), None).await;
    assert_eq!((s, error_code(&b).as_str()), (500, "internal"), "{b}");
    app.stop().await;
    let _ = std::fs::remove_file(&list);
}
