use std::process::Command;
use std::time::Duration;

use ghostlink_config::ProxyArgs;
use ghostlink_shortener::{App, Config};
use ghostlink_test_support::Running;
use serde_json::json;

use crate::{error_code, spawn, spawn_with, TestApp};

#[tokio::test]
async fn tokens_and_roles() {
    let app = spawn().await;
    let (s, b) = app.call("GET", "/api/v1/links", None, None).await;
    assert_eq!((s, error_code(&b).as_str()), (401, "unauthorized"));
    let (s, _) = app.call("GET", "/api/v1/links", Some("glk_not_a_real_token"), None).await;
    assert_eq!(s, 401);
    let r = app
        .client
        .get(app.url("/api/v1/links"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);

    let (_, link) = app.create(&app.admin, json!({"url": "https://admin-only.example/"})).await;
    let code = link["code"].as_str().expect("code");
    // A user of another workspace cannot see the link, so neither change nor delete it.
    let (s, _) = app.call("GET", &format!("/api/v1/links/{code}"), Some(&app.user), None).await;
    assert_eq!(s, 404);
    let (s, b) = app
        .call("PATCH", &format!("/api/v1/links/{code}"), Some(&app.user), Some(json!({"status": "disabled"})))
        .await;
    assert_eq!((s, error_code(&b).as_str()), (404, "not_found"));
    let (s, _) = app.call("DELETE", &format!("/api/v1/links/{code}"), Some(&app.user), None).await;
    assert_eq!(s, 404);

    // Revocation takes effect (token cache TTL is 200 ms in tests).
    assert!(ghostlink_db::tokens::revoke(&mut app.db.conn(), "alice").expect("revoke"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (s, b) = app.call("GET", "/api/v1/links", Some(&app.user), None).await;
    assert_eq!(s, 401);
    assert!(b["error"]["message"].as_str().expect("msg").contains("revoked"));
    let m = app.metrics().await;
    assert!(ghostlink_test_support::metric_value(&m, "auth_failures_total", &[r#"reason="revoked""#]) >= 1.0);
    app.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let app = spawn_with(|c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 3;
    })
    .await;
    let mut statuses = vec![];
    let mut retry_after = None;
    for _ in 0..6 {
        let r = app.client.get(app.url("/api/v1/links")).bearer_auth(&app.user).send().await.expect("get");
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            retry_after = r.headers().get("retry-after").map(|v| v.to_str().expect("ascii").to_string());
            assert_eq!(error_code(&r.json().await.expect("json")), "rate_limited");
        }
    }
    assert_eq!(&statuses[..3], &[200, 200, 200]);
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    assert!(retry_after.expect("Retry-After").parse::<u64>().expect("seconds") >= 1);
    // Another token is not affected.
    let (s, _) = app.call("GET", "/api/v1/links", Some(&app.admin), None).await;
    assert_eq!(s, 200);
    app.stop().await;
}

#[test]
fn bad_config_exits_2_naming_the_setting() {
    let bin = env!("CARGO_BIN_EXE_ghostlink-shortener");
    for (args, setting) in [
        (vec!["--public-base-url", "ftp://x"], "PUBLIC_BASE_URL"),
        (vec!["--rate-limit-per-second", "0"], "RATE_LIMIT_PER_SECOND"),
        (vec!["--redis-url", "http://nope"], "REDIS_URL"),
        (vec!["--ops-listen", "::::"], "OPS_LISTEN_ADDR"),
        (vec!["--body-read-timeout-ms", "0"], "BODY_READ_TIMEOUT_MS"),
        (vec!["--auth-failure-limit", "0"], "AUTH_FAILURE_LIMIT"),
        (vec!["--auth-failure-window-ms", "10"], "AUTH_FAILURE_WINDOW_MS"),
        (vec!["--trusted-proxies", "10.0.0.0/33"], "TRUSTED_PROXIES"),
    ] {
        let out = Command::new(bin).args(&args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(setting), "{args:?}");
    }
}

/// `url` with its host and port replaced by `addr` (a `CutProxy` in front of Postgres).
fn through(url: &str, addr: std::net::SocketAddr) -> String {
    let mut u = url::Url::parse(url).expect("database URL");
    u.set_ip_host(addr.ip()).expect("host");
    u.set_port(Some(addr.port())).expect("port");
    u.to_string()
}

/// Failures in a row from `client` (an `X-Forwarded-For` entry the trusted loopback proxy
/// vouches for), each with a fresh unknown token; the statuses.
async fn fail_from(app_url: &str, client: &str, n: usize) -> Vec<(u16, Option<u64>, String)> {
    let http = reqwest::Client::new();
    let mut out = vec![];
    for _ in 0..n {
        let r = http
            .get(format!("{app_url}/api/v1/links"))
            .header("x-forwarded-for", client)
            .bearer_auth(ghostlink_domain::new_token(&mut rand::rngs::OsRng))
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        out.push((status, retry, body["error"]["code"].as_str().unwrap_or_default().to_string()));
    }
    out
}

async fn get_from(app: &TestApp, base: &str, client: &str, token: Option<&str>) -> u16 {
    let mut r = app.client.get(format!("{base}/api/v1/links")).header("x-forwarded-for", client);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.expect("send").status().as_u16()
}

/// Starts another replica of `cfg` (same database, same Redis prefix); returns its base URL and
/// the running replica.
fn replica(cfg: Config) -> (String, Running) {
    let app = App::build(cfg).expect("build replica");
    let base = format!("http://{}", app.public_addr());
    (base, Running::spawn(app.ops_addr(), |stop| app.run(stop)))
}

#[tokio::test]
async fn failed_authentication_is_limited_per_client_across_replicas_before_the_database() {
    let pg_addr = url::Url::parse(&ghostlink_test_support::base_database_url())
        .ok()
        .and_then(|u| u.socket_addrs(|| Some(5432)).ok()?.into_iter().next())
        .expect("Postgres address");
    let pg = ghostlink_test_support::CutProxy::start(pg_addr).await;
    let mut saved = None;
    let app = spawn_with(|c| {
        c.proxy = ProxyArgs { trusted_proxies: "127.0.0.1".into() };
        c.auth_failure_limit = 5;
        c.database.database_url = through(&c.database.database_url, pg.addr);
        saved = Some(c.clone());
    })
    .await;
    let base = app.url("");
    let (attacker, other) = ("203.0.113.7", "198.51.100.9");
    assert_eq!(get_from(&app, &base, other, Some(&app.user)).await, 200);

    let first = fail_from(&base, attacker, 5).await;
    assert!(first.iter().all(|(s, _, code)| *s == 401 && code == "unauthorized"), "{first:?}");
    // Over the limit, the client is refused before its token is looked up: with the database
    // cut off, a lookup would answer 503.
    pg.cut();
    let limited = fail_from(&base, attacker, 5).await;
    for (s, retry, code) in &limited {
        assert_eq!((*s, code.as_str()), (429, "too_many_auth_failures"), "{limited:?}");
        assert!(retry.is_some_and(|r| (1..=60).contains(&r)), "Retry-After: {limited:?}");
    }
    // Whatever it presents next, until the window ends.
    assert_eq!(get_from(&app, &base, attacker, Some(&app.admin)).await, 429);
    assert_eq!(get_from(&app, &base, attacker, None).await, 429);
    // Another replica shares the count (Redis): refused there too, its database cut as well.
    let (replica_base, replica) = replica(saved.expect("config"));
    let there = fail_from(&replica_base, attacker, 3).await;
    assert!(there.iter().all(|(s, _, _)| *s == 429), "{there:?}");

    pg.restore();
    // Another client is not affected, on either replica.
    for b in [&base, &replica_base] {
        let mut ok = 0;
        for _ in 0..50 {
            ok = get_from(&app, b, other, Some(&app.user)).await;
            if ok == 200 {
                break;
            }
            // The pool reconnects after the cut.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(ok, 200, "another client on {b}");
    }
    let m = app.metrics().await;
    assert!(
        ghostlink_test_support::metric_value(&m, "rate_limited_total", &[r#"limit="auth_failures""#]) >= 5.0,
        "{m}"
    );
    replica.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn without_redis_failures_are_limited_in_process_and_counted() {
    let app = spawn_with(|c| {
        c.proxy = ProxyArgs { trusted_proxies: "127.0.0.1".into() };
        c.auth_failure_limit = 5;
        // Nothing listens there.
        c.redis.redis_url = "redis://127.0.0.1:1".into();
    })
    .await;
    let base = app.url("");
    // One IPv6 client rotating its address inside its /64.
    let mut got = vec![];
    for i in 1..=8 {
        got.extend(fail_from(&base, &format!("2001:db8:7:7::{i:x}"), 1).await);
    }
    let statuses: Vec<u16> = got.iter().map(|g| g.0).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429], "{got:?}");
    assert!(got[5].1.is_some_and(|r| r >= 1), "{got:?}");
    // Another /64, and the same client's valid token from elsewhere, are not limited.
    assert_eq!(fail_from(&base, "2001:db8:7:8::1", 1).await[0].0, 401);
    assert_eq!(get_from(&app, &base, "192.0.2.1", Some(&app.user)).await, 200);
    let m = app.metrics().await;
    assert!(
        ghostlink_test_support::metric_value(&m, "auth_failure_limiter_fallback_total", &[]) >= 1.0,
        "{m}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_token_is_remembered_as_unknown() {
    let pg_addr = url::Url::parse(&ghostlink_test_support::base_database_url())
        .ok()
        .and_then(|u| u.socket_addrs(|| Some(5432)).ok()?.into_iter().next())
        .expect("Postgres address");
    let pg = ghostlink_test_support::CutProxy::start(pg_addr).await;
    let app = spawn_with(|c| {
        c.token_cache_ttl_ms = 60_000;
        c.database.database_url = through(&c.database.database_url, pg.addr);
    })
    .await;
    let unknown = ghostlink_domain::new_token(&mut rand::rngs::OsRng);
    let (s, _) = app.call("GET", "/api/v1/links", Some(&unknown), None).await;
    assert_eq!(s, 401);
    // Asked again, it is answered from memory: no database needed.
    pg.cut();
    let (s, b) = app.call("GET", "/api/v1/links", Some(&unknown), None).await;
    assert_eq!((s, error_code(&b).as_str()), (401, "unauthorized"));
    pg.restore();
    app.stop().await;
}
