//! `GET /api/v1/links/{code}/health`, `?health=` and the admin's hand release of a quarantine.

use ghostlink_db::health::{NewCheck, Policy};
use ghostlink_domain::CheckOutcome;
use serde_json::json;

use crate::{error_code, spawn};

fn check(code: &str, outcome: CheckOutcome, status: Option<i32>) -> NewCheck {
    NewCheck {
        code: code.into(),
        outcome,
        status,
        latency_ms: 42,
        method: "HEAD".into(),
        final_url: Some("https://example.com/final".into()),
        redirects: vec!["https://example.com/final".into()],
        error: None,
        error_detail: None,
    }
}

const POLICY: Policy = Policy { failures_to_quarantine: 3, successes_to_restore: 2, keep_checks: 20 };

#[tokio::test]
async fn health_shows_state_and_checks_and_filters_the_list() {
    let app = spawn().await;
    let (s, fine) = app.create(&app.admin, json!({"url": "https://example.com/a"})).await;
    assert_eq!(s, 201);
    let (_, sick) = app.create(&app.admin, json!({"url": "https://example.com/b"})).await;
    let (fine, sick) = (fine["code"].as_str().expect("code"), sick["code"].as_str().expect("code"));

    // Not probed yet.
    let (s, h) = app.call("GET", &format!("/api/v1/links/{fine}/health"), Some(&app.admin), None).await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["state"], "unknown");
    assert_eq!(h["checks"], json!([]));

    // What the canary would write: one success for `fine`, three failures for `sick`.
    let mut c = app.db.conn();
    ghostlink_db::health::schedule_now(&mut c, fine, "https://example.com/a").expect("schedule");
    ghostlink_db::health::schedule_now(&mut c, sick, "https://example.com/b").expect("schedule");
    ghostlink_db::health::record(
        &mut c,
        &check(fine, CheckOutcome::Ok, Some(200)),
        "https://example.com/a",
        &POLICY,
        |_| None,
    )
    .expect("record");
    for _ in 0..2 {
        ghostlink_db::health::record(
            &mut c,
            &check(sick, CheckOutcome::Http5xx, Some(503)),
            "https://example.com/b",
            &POLICY,
            |_| None,
        )
        .expect("record");
    }
    let (_, h) = app.call("GET", &format!("/api/v1/links/{sick}/health"), Some(&app.admin), None).await;
    assert_eq!((h["state"].as_str(), h["consecutive_failures"].as_i64()), (Some("failing"), Some(2)));
    let (_, list) = app.call("GET", "/api/v1/links?health=failing", Some(&app.admin), None).await;
    let codes: Vec<&str> =
        list["items"].as_array().expect("items").iter().filter_map(|i| i["code"].as_str()).collect();
    assert_eq!(codes, vec![sick]);
    let (_, list) = app.call("GET", "/api/v1/links?health=healthy", Some(&app.admin), None).await;
    assert_eq!(list["items"][0]["code"], fine);

    ghostlink_db::health::record(
        &mut c,
        &check(sick, CheckOutcome::Timeout, None),
        "https://example.com/b",
        &POLICY,
        |_| None,
    )
    .expect("record");
    let (_, h) = app.call("GET", &format!("/api/v1/links/{sick}/health"), Some(&app.admin), None).await;
    assert_eq!(h["state"], "quarantined");
    assert_eq!(h["consecutive_failures"], 3);
    let checks = h["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 3);
    assert_eq!(checks[0]["outcome"], "timeout", "newest first");
    assert_eq!(checks[1]["status"], 503);
    assert_eq!(checks[1]["latency_ms"], 42);
    assert_eq!(checks[1]["redirects"], json!(["https://example.com/final"]));
    assert!(h["failing_since"].is_string());
    let (_, list) = app.call("GET", "/api/v1/links?health=quarantined", Some(&app.admin), None).await;
    assert_eq!(list["items"][0]["code"], sick);
    let (_, link) = app.call("GET", &format!("/api/v1/links/{sick}"), Some(&app.admin), None).await;
    assert_eq!(link["status"], "quarantined");

    // An admin releases it by hand: the canary's run of failures is forgotten.
    let (s, _) = app
        .admin_call(
            "PATCH",
            &format!("/admin/v1/links/{sick}"),
            Some(&app.admin),
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(s, 200);
    let (_, h) = app.call("GET", &format!("/api/v1/links/{sick}/health"), Some(&app.admin), None).await;
    assert_eq!((h["state"].as_str(), h["consecutive_failures"].as_i64()), (Some("unknown"), Some(0)));
    // ... and quarantines by hand: the canary never lifts an admin's quarantine.
    let (s, _) = app
        .admin_call(
            "PATCH",
            &format!("/admin/v1/links/{sick}"),
            Some(&app.admin),
            Some(json!({"status": "quarantined"})),
        )
        .await;
    assert_eq!(s, 200);
    for _ in 0..3 {
        ghostlink_db::health::record(
            &mut c,
            &check(sick, CheckOutcome::Ok, Some(200)),
            "https://example.com/b",
            &POLICY,
            |_| None,
        )
        .expect("record");
    }
    let (_, link) = app.call("GET", &format!("/api/v1/links/{sick}"), Some(&app.admin), None).await;
    assert_eq!(link["status"], "quarantined");

    // Bad filter, unknown link, other user's link.
    let (s, body) = app.call("GET", "/api/v1/links?health=sickly", Some(&app.admin), None).await;
    assert_eq!((s, error_code(&body).as_str()), (400, "invalid_query"));
    let (s, _) = app.call("GET", "/api/v1/links/nope123/health", Some(&app.admin), None).await;
    assert_eq!(s, 404);
    let (s, _) = app.call("GET", &format!("/api/v1/links/{sick}/health"), Some(&app.user), None).await;
    assert_eq!(s, 404);
    let (s, _) = app.call("GET", &format!("/api/v1/links/{sick}/health"), None, None).await;
    assert_eq!(s, 401);
    let (s, body) = app.call("POST", &format!("/api/v1/links/{sick}/health"), Some(&app.admin), None).await;
    assert_eq!((s, error_code(&body).as_str()), (405, "method_not_allowed"));
    app.stop().await;
}

/// The owner of a link sees why its checks failed in generic words; what the canary's network
/// answered (which name resolved to which address) is shown to admins only.
#[tokio::test]
async fn a_check_s_detail_is_shown_to_admins_only() {
    let app = spawn().await;
    let (s, link) = app.create(&app.user, json!({"url": "https://example.com/internal"})).await;
    assert_eq!(s, 201, "{link}");
    let code = link["code"].as_str().expect("code");
    let mut c = app.db.conn();
    ghostlink_db::health::schedule_now(&mut c, code, "https://example.com/internal").expect("schedule");
    let blocked = NewCheck {
        error: Some("blocked: private address".into()),
        error_detail: Some(
            "intranet.corp resolves only to addresses the canary may not connect to (Private 10.1.2.3)"
                .into(),
        ),
        ..check(code, CheckOutcome::Blocked, None)
    };
    ghostlink_db::health::record(&mut c, &blocked, "https://example.com/internal", &POLICY, |_| None)
        .expect("record");
    let path = format!("/api/v1/links/{code}/health");

    let (s, h) = app.call("GET", &path, Some(&app.user), None).await;
    assert_eq!(s, 200, "{h}");
    let seen = &h["checks"][0];
    assert_eq!(
        (seen["outcome"].as_str(), seen["error"].as_str()),
        (Some("blocked"), Some("blocked: private address"))
    );
    assert!(seen.get("error_detail").is_none(), "{h}");
    assert!(!h.to_string().contains("10.1.2.3") && !h.to_string().contains("intranet"), "{h}");

    let (s, h) = app.call("GET", &path, Some(&app.admin), None).await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["checks"][0]["error"], "blocked: private address");
    assert_eq!(
        h["checks"][0]["error_detail"],
        "intranet.corp resolves only to addresses the canary may not connect to (Private 10.1.2.3)"
    );
    app.stop().await;
}
