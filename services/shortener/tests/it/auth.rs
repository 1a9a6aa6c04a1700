use std::process::Command;

use serde_json::json;

use crate::{error_code, spawn, spawn_with};

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
    // A user cannot see another's link, nor change or delete any.
    let (s, _) = app.call("GET", &format!("/api/v1/links/{code}"), Some(&app.user), None).await;
    assert_eq!(s, 404);
    let (s, b) = app
        .call("PATCH", &format!("/api/v1/links/{code}"), Some(&app.user), Some(json!({"status": "disabled"})))
        .await;
    assert_eq!((s, error_code(&b).as_str()), (403, "forbidden"));
    let (s, _) = app.call("DELETE", &format!("/api/v1/links/{code}"), Some(&app.user), None).await;
    assert_eq!(s, 403);

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
    ] {
        let out = Command::new(bin).args(&args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(setting), "{args:?}");
    }
}
