//! The scan budget: an address that has had `SCAN_BUDGET` unknown codes looked up in Postgres
//! gets 429 for the next codes found neither in memory nor in Redis without Postgres being asked.
//! Seen for real by cutting Postgres off: that address keeps getting 429 (never 404: nothing is
//! known about those codes) while another gets 503.

use std::time::{Duration, Instant};

use ghostlink_test_support::metric_value;

use crate::{spawn_with, TestApp};

async fn get(app: &TestApp, from: &str, path: &str, agent: &str) -> u16 {
    let r = app
        .client
        .get(app.url(path))
        .header("x-forwarded-for", from)
        .header("user-agent", agent)
        .send()
        .await
        .expect("get");
    r.status().as_u16()
}

#[tokio::test]
async fn a_scan_past_its_budget_costs_postgres_nothing() {
    let app = spawn_with(|c| {
        // Clients told apart by the address our (loopback) proxy forwards.
        c.proxy.trusted_proxies = "127.0.0.1".into();
        c.scan_budget = 5;
        c.database.db_timeout_ms = 300;
        // The budget is read in the lookup's Redis call; a call that times out falls through to
        // Postgres by design (a dead Redis must not stop redirects), which here would be a 503.
        // This test is about the budget, not Redis deadlines: on a loaded machine the shared
        // 50 ms deadline was missed once (lookup 5 got 503), so it gets a deadline that load
        // cannot reach.
        c.redis.redis_timeout_ms = 2000;
    })
    .await;
    app.link("seen01", "https://example.com/seen", |_| {});
    let (scanner, other) = ("203.0.113.7", "198.51.100.8");
    assert_eq!(get(&app, scanner, "/seen01", "agent/0").await, 302);
    // The budget: five unknown codes, each one looked up in Postgres (one user agent each).
    for i in 0..5 {
        assert_eq!(get(&app, scanner, &format!("/scan{i:03}"), &format!("agent/{i}")).await, 404);
    }
    // Counted off the request path, in Redis.
    let redis = crate::redis_cache(&app);
    let address = ghostlink_domain::hash_client("test-salt-123", scanner);
    let t = Instant::now();
    while redis.scans(&address).await.expect("scans") < 5 {
        assert!(t.elapsed() < Duration::from_secs(5), "the lookups were never counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let refused_before = metric_value(&app.metrics().await, "redirect_scan_refusals_total", &[]);
    let name = app.db.name().to_string();
    app.db.admin_execute(&format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid();"
    ));
    // Past the budget nothing reaches Postgres: 429, not the 503 an outage gives, and not a
    // 404 nobody checked.
    for i in 0..20 {
        let status = get(&app, scanner, &format!("/more{i:03}"), &format!("rotated/{i}")).await;
        assert_eq!(status, 429, "lookup {i} past the budget went to Postgres");
    }
    let r = app
        .client
        .get(app.url("/more999"))
        .header("x-forwarded-for", scanner)
        .header("accept", "application/json")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    let body: serde_json::Value = r.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], "scan_limited");
    // What the scanner's replica knows still answers; another address still asks Postgres.
    assert_eq!(get(&app, scanner, "/seen01", "agent/0").await, 302);
    assert_eq!(get(&app, other, "/other01", "agent/0").await, 503, "another address is not limited");
    assert_eq!(redis.scans(&address).await.expect("scans"), 5, "a refused code was looked up");
    let refused = metric_value(&app.metrics().await, "redirect_scan_refusals_total", &[]) - refused_before;
    assert!(refused >= 21.0, "{refused}");

    app.db.admin_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"));
    let _ = redis.flush_prefix().await;
    app.stop().await;
}
