use std::time::{Duration, Instant};

use crate::spawn_with;

/// A Redis address where nothing listens, and one that accepts and never answers.
#[tokio::test]
async fn redis_down_or_hanging_never_fails_a_redirect() {
    let hang = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hang_url = format!("redis://{}", hang.local_addr().expect("addr"));
    for url in ["redis://127.0.0.1:1".to_string(), hang_url] {
        let app = spawn_with(|c| {
            c.redis.redis_url = url.clone();
            c.redis.redis_timeout_ms = 25;
        })
        .await;
        app.link("rdown1", "https://example.com/r", |_| {});
        let mut worst = Duration::ZERO;
        for i in 0..30 {
            // Distinct missing codes miss the memory layer, so each one asks Redis (or its breaker).
            let t = Instant::now();
            assert_eq!(app.get(&format!("/nope{i}")).await.status(), 404);
            assert_eq!(app.get("/rdown1").await.status(), 302);
            worst = worst.max(t.elapsed());
        }
        // An unbounded call on a hanging Redis would never return (its socket never answers);
        // 2 s leaves room for a loaded CI box.
        assert!(worst < Duration::from_millis(2000), "a request stalled {worst:?} on {url}");
        // With no invalidation channel, in-process entries live at most CACHE_TTL_MS: a change
        // made in Postgres is still seen within a second.
        ghostlink_db::links::update(
            &mut app.db.conn(),
            "rdown1",
            &ghostlink_db::links::LinkChanges {
                status: Some(ghostlink_domain::LinkStatus::Disabled),
                ..Default::default()
            },
        )
        .expect("disable");
        let changed = Instant::now();
        while app.get("/rdown1").await.status() != 410 {
            // 1 s by design, 1 s of scheduling slack for a loaded CI box (a stale long-lived
            // entry would live 300 s, a stale Redis one 60 s).
            assert!(changed.elapsed() < Duration::from_millis(2000), "stale after {:?}", changed.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let metrics = app.metrics().await;
        assert!(ghostlink_test_support::metric_value(&metrics, "redis_errors_total", &[]) >= 1.0);
        let r = app.client.get(format!("http://{}/readyz", app.ops)).send().await.expect("readyz");
        assert_eq!(r.status(), 200, "redis is optional for readiness");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["dependencies"]["redis"]["state"], "down");
        app.stop().await;
    }
    drop(hang);
}

/// Postgres unreachable: codes cached (in Redis) keep redirecting, others get 503, never 404.
#[tokio::test]
async fn postgres_down_serves_cached_codes_and_503s_the_rest() {
    let app = spawn_with(|c| c.database.db_timeout_ms = 300).await;
    app.link("cached1", "https://example.com/c", |_| {});
    app.link("uncache", "https://example.com/u", |_| {});
    assert_eq!(app.get("/cached1").await.status(), 302);
    tokio::time::sleep(Duration::from_millis(100)).await; // Redis fill is asynchronous
    let name = app.db.name().to_string();
    app.db.admin_execute(&format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid();"
    ));
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the in-process TTL
    assert_eq!(app.get("/cached1").await.status(), 302, "cached in Redis");
    let r = app.get("/uncache").await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(app.get("/neverexisted").await.status(), 503, "unknown is not knowable: 503, not 404");
    let r = app.client.get(format!("http://{}/readyz", app.ops)).send().await.expect("readyz");
    assert_eq!(r.status(), 503);
    app.db.admin_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"));
    let t = Instant::now();
    loop {
        if app.get("/uncache").await.status() == 302 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

/// RabbitMQ cut off for real (a proxy drops every connection): redirects do not notice, click
/// events go to the spool, and once the broker is back every event is published.
#[tokio::test]
async fn broker_outage_spools_and_loses_no_click() {
    let target: std::net::SocketAddr = "127.0.0.1:5672".parse().expect("addr");
    let proxy = ghostlink_test_support::CutProxy::start(target).await;
    let url = proxy.amqp_url();
    let app = spawn_with(|c| c.amqp.amqp_url = url.clone()).await;
    app.link("bk01", "https://example.com/b", |_| {});
    for _ in 0..10 {
        assert_eq!(app.get("/bk01").await.status(), 302);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    proxy.cut();
    let mut worst = Duration::ZERO;
    for _ in 0..100 {
        let t = Instant::now();
        assert_eq!(app.get("/bk01").await.status(), 302);
        worst = worst.max(t.elapsed());
    }
    assert!(worst < Duration::from_millis(250), "a redirect waited on the broker: {worst:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // (The spool_bytes gauge is process-wide and other tests run beside this one: read the file.)
    let spool_file =
        std::env::temp_dir().join(format!("gl-spool-{}", app.amqp.bus_prefix)).join("events.spool");
    let spooled = || std::fs::metadata(&spool_file).map(|m| m.len()).unwrap_or(0);
    assert!(spooled() > 0, "events went to the spool");
    let r = app.client.get(format!("http://{}/readyz", app.ops)).send().await.expect("readyz");
    assert_eq!(r.status(), 200, "the broker is optional for readiness");
    proxy.restore();
    let t = Instant::now();
    loop {
        if spooled() == 0 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "spool not drained");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_db, amqp) = app.stop_keep_bus().await;
    let events = crate::published_clicks(&amqp).await;
    let ids: std::collections::HashSet<_> =
        events.iter().filter(|e| e.data.code == "bk01").map(|e| e.id).collect();
    assert_eq!(ids.len(), 110, "every answered click reached the broker");
    ghostlink_test_support::delete_topology(&amqp.bus_prefix).await;
}
