use std::time::Duration;

use chrono::Utc;
use ghostlink_cache::{CacheSettings, Cached, RedisCache};
use ghostlink_test_support::metric_value;
use serde_json::json;

use crate::{error_code, spawn};

#[tokio::test]
async fn create_read_list_update_delete() {
    let app = spawn().await;
    let before = app.metrics().await;
    let (s, link) = app.create(&app.user, json!({"url": "https://Example.com/Path?x=1"})).await;
    assert_eq!(s, 201, "{link}");
    let code = link["code"].as_str().expect("code").to_string();
    assert_eq!(code.len(), 7);
    assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(link["url"], "https://example.com/Path?x=1");
    assert_eq!(link["short_url"], format!("http://sho.rt/{code}"));
    assert_eq!(link["status"], "active");
    assert!(link["created_at"].is_string());
    assert!(link["expires_at"].is_null() && link["max_clicks"].is_null());

    let expires = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (s, aliased) =
        app.create(&app.user, json!({"url": "https://bücher.example/", "alias": "my-alias_1", "expires_at": expires, "max_clicks": 3})).await;
    assert_eq!(s, 201, "{aliased}");
    assert_eq!(aliased["code"], "my-alias_1");
    assert_eq!(aliased["url"], "https://xn--bcher-kva.example/");
    assert_eq!(aliased["max_clicks"], 3);
    let (s, body) =
        app.create(&app.admin, json!({"url": "https://example.org/", "alias": "my-alias_1"})).await;
    assert_eq!((s, error_code(&body).as_str()), (409, "alias_taken"));

    let (s, got) = app.call("GET", &format!("/api/v1/links/{code}"), Some(&app.user), None).await;
    assert_eq!(s, 200);
    assert_eq!(got["code"], code.as_str());

    // Admin sees everything, a user only their own.
    app.create(&app.admin, json!({"url": "https://admin.example/"})).await;
    let (s, page) = app.call("GET", "/api/v1/links", Some(&app.user), None).await;
    assert_eq!(s, 200);
    assert_eq!(page["items"].as_array().expect("items").len(), 2);
    let (_, page) = app.call("GET", "/api/v1/links", Some(&app.admin), None).await;
    assert_eq!(page["items"].as_array().expect("items").len(), 3);
    let (_, page) = app.call("GET", "/api/v1/links?q=XN--BCHER", Some(&app.admin), None).await;
    assert_eq!(page["items"][0]["code"], "my-alias_1");
    assert_eq!(page["items"].as_array().expect("items").len(), 1);
    let (_, page) = app.call("GET", "/api/v1/links?limit=2", Some(&app.admin), None).await;
    assert_eq!(page["items"].as_array().expect("items").len(), 2);
    let cursor = page["next_cursor"].as_str().expect("cursor").to_string();
    let (_, page2) =
        app.call("GET", &format!("/api/v1/links?limit=2&cursor={cursor}"), Some(&app.admin), None).await;
    assert_eq!(page2["items"].as_array().expect("items").len(), 1);
    assert!(page2["next_cursor"].is_null());
    let (s, body) = app.call("GET", "/api/v1/links?limit=0", Some(&app.admin), None).await;
    assert_eq!((s, error_code(&body).as_str()), (400, "invalid_query"));
    let (s, body) = app.call("GET", "/api/v1/links?status=bogus", Some(&app.admin), None).await;
    assert_eq!((s, error_code(&body).as_str()), (400, "invalid_query"));

    // Disable, filter by status, re-enable, clear expiry.
    let (s, changed) = app
        .call(
            "PATCH",
            &format!("/api/v1/links/{code}"),
            Some(&app.admin),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["status"], "disabled");
    let (_, page) = app.call("GET", "/api/v1/links?status=disabled", Some(&app.admin), None).await;
    assert_eq!(page["items"].as_array().expect("items").len(), 1);
    let (s, changed) = app
        .call(
            "PATCH",
            "/api/v1/links/my-alias_1",
            Some(&app.admin),
            Some(json!({"expires_at": null, "max_clicks": 10})),
        )
        .await;
    assert_eq!(s, 200, "{changed}");
    assert!(changed["expires_at"].is_null());
    assert_eq!(changed["max_clicks"], 10);
    for (body, want) in [
        (json!({"status": "deleted"}), "invalid_status"),
        (json!({"status": "weird"}), "invalid_status"),
        (json!({"max_clicks": 0}), "invalid_max_clicks"),
        (json!({"expires_at": "tomorrow"}), "invalid_expires_at"),
        (json!({}), "empty_change"),
        (json!({"owner": 1}), "unknown_field"),
    ] {
        let (s, b) =
            app.call("PATCH", &format!("/api/v1/links/{code}"), Some(&app.admin), Some(body.clone())).await;
        assert_eq!((s, error_code(&b).as_str()), (422, want), "{body}");
    }
    let (s, _) = app
        .call("PATCH", "/api/v1/links/nosuchcode", Some(&app.admin), Some(json!({"status": "active"})))
        .await;
    assert_eq!(s, 404);

    // Delete: gone from lists, code never reissued.
    let resp = app
        .client
        .delete(app.url(&format!("/api/v1/links/{code}")))
        .bearer_auth(&app.admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), 204);
    let (s, _) = app.call("DELETE", &format!("/api/v1/links/{code}"), Some(&app.admin), None).await;
    assert_eq!(s, 404);
    let (s, body) = app.create(&app.admin, json!({"url": "https://again.example/", "alias": code})).await;
    assert_eq!((s, error_code(&body).as_str()), (409, "alias_taken"));
    let (_, page) = app.call("GET", "/api/v1/links", Some(&app.admin), None).await;
    assert_eq!(page["items"].as_array().expect("items").len(), 2);
    let (_, got) = app.call("GET", &format!("/api/v1/links/{code}"), Some(&app.admin), None).await;
    assert_eq!(got["status"], "deleted");

    let after = app.metrics().await;
    assert!(
        metric_value(&after, "links_created_total", &[]) - metric_value(&before, "links_created_total", &[])
            >= 3.0
    );
    assert!(metric_value(&after, "http_requests_total", &[r#"route="/api/v1/links""#]) >= 3.0);
    assert!(after.contains("db_pool_max_connections"));
    app.stop().await;
}

#[tokio::test]
async fn url_and_alias_rules_are_enforced_with_named_errors() {
    let app = spawn().await;
    let long = format!("https://example.com/{}", "a".repeat(2100));
    let table = [
        (json!({"url": "javascript:alert(1)"}), "url_scheme"),
        (json!({"url": "JAVASCRIPT:alert(1)"}), "url_scheme"),
        (json!({"url": "data:text/html,hi"}), "url_scheme"),
        (json!({"url": "file:///etc/passwd"}), "url_scheme"),
        (json!({"url": "ftp://example.com/"}), "url_scheme"),
        (json!({"url": "vbscript:x"}), "url_scheme"),
        (json!({"url": "//evil.example/"}), "url_not_absolute"),
        (json!({"url": "http://"}), "url_no_host"),
        (json!({"url": "http://exa mple.com/"}), "url_control_characters"),
        (json!({"url": "http://example.com/\r\nX-Injected: 1"}), "url_control_characters"),
        (json!({"url": long}), "url_too_long"),
        (json!({"url": ""}), "url_empty"),
        (json!({"url": 12}), "url_malformed"),
        (json!({}), "url_missing"),
        (json!({"url": "https://ok.example/", "alias": "ab"}), "alias_length"),
        (json!({"url": "https://ok.example/", "alias": "a/b/c"}), "alias_charset"),
        (json!({"url": "https://ok.example/", "alias": "bad\r\nalias"}), "alias_charset"),
        (json!({"url": "https://ok.example/", "alias": "api"}), "alias_reserved"),
        (json!({"url": "https://ok.example/", "alias": "Healthz"}), "alias_reserved"),
        (json!({"url": "https://ok.example/", "alias": 5}), "invalid_alias"),
        (json!({"url": "https://ok.example/", "max_clicks": 0}), "invalid_max_clicks"),
        (json!({"url": "https://ok.example/", "max_clicks": "5"}), "invalid_max_clicks"),
        (json!({"url": "https://ok.example/", "expires_at": "yesterday"}), "invalid_expires_at"),
        (json!({"url": "https://ok.example/", "expires_at": "2001-01-01T00:00:00Z"}), "invalid_expires_at"),
        (json!({"url": "https://ok.example/", "colour": "red"}), "unknown_field"),
    ];
    for (body, want) in table {
        let (s, b) = app.create(&app.user, body.clone()).await;
        assert_eq!(s, 422, "{body} -> {b}");
        assert_eq!(error_code(&b), want, "{body}");
    }
    // Malformed JSON is 400, a wrong content type 415, an oversized body 413.
    let r = app
        .client
        .post(app.url("/api/v1/links"))
        .bearer_auth(&app.user)
        .header("content-type", "application/json")
        .body("{\"url\": ")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(&r.json().await.expect("json")), "malformed_json");
    let r = app
        .client
        .post(app.url("/api/v1/links"))
        .bearer_auth(&app.user)
        .header("content-type", "text/plain")
        .body("https://x.example")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 415);
    let r = app
        .client
        .post(app.url("/api/v1/links"))
        .bearer_auth(&app.user)
        .json(&json!({"url": "x".repeat(20_000)}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413);
    let r = app
        .client
        .post(app.url("/api/v1/links"))
        .bearer_auth(&app.user)
        .json(&json!([1, 2]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    // Nothing was written by any of that.
    let (_, page) = app.call("GET", "/api/v1/links", Some(&app.admin), None).await;
    assert_eq!(page["items"].as_array().expect("items").len(), 0);
    // Unknown routes and methods answer in the JSON shape too.
    let (s, b) = app.call("GET", "/nothing/here", None, None).await;
    assert_eq!((s, error_code(&b).as_str()), (404, "not_found"));
    let (s, b) = app.call("PUT", "/api/v1/links", Some(&app.admin), None).await;
    assert_eq!((s, error_code(&b).as_str()), (405, "method_not_allowed"));
    app.stop().await;
}

#[tokio::test]
async fn changes_invalidate_the_redis_entry() {
    let app = spawn().await;
    let cache = RedisCache::new(CacheSettings {
        url: app.redis.redis_url.clone(),
        timeout: Duration::from_millis(500),
        key_prefix: app.redis.redis_key_prefix.clone(),
        pool_size: 2,
        ttl: Duration::from_secs(60),
        negative_ttl: Duration::from_secs(60),
        breaker_open: Duration::from_millis(10),
    })
    .expect("cache");
    // A negative entry left by someone trying the alias before it existed.
    assert!(cache.put("soon-here", &Cached::Missing).await.expect("put"));
    let (s, link) = app.create(&app.user, json!({"url": "https://a.example/", "alias": "soon-here"})).await;
    assert_eq!(s, 201);
    assert_eq!(cache.get("soon-here").await.expect("get"), None, "create clears the negative entry");
    // A redirect that read "no such code" before the create and fills Redis after it is refused.
    assert!(!cache.put("soon-here", &Cached::Missing).await.expect("put"), "fill after a change is fenced");
    assert_eq!(cache.get("soon-here").await.expect("get"), None);
    // A link the shortener has not touched yet (written straight to the table): fills are taken.
    ghostlink_db::links::insert(
        &mut app.db.conn(),
        &ghostlink_db::links::NewLink {
            code: "in-cache".into(),
            url: "https://b.example/".into(),
            owner_token_id: None,
            expires_at: None,
            max_clicks: None,
            ..Default::default()
        },
    )
    .expect("insert");
    let snap = ghostlink_db::links::snapshot(&mut app.db.conn(), "in-cache").expect("db").expect("row");
    assert!(cache.put("in-cache", &Cached::Found(snap.clone())).await.expect("put"));
    assert!(matches!(cache.get("in-cache").await.expect("get"), Some(Cached::Found(_))));
    let (s, _) = app
        .call("PATCH", "/api/v1/links/in-cache", Some(&app.admin), Some(json!({"status": "disabled"})))
        .await;
    assert_eq!(s, 200);
    assert_eq!(cache.get("in-cache").await.expect("get"), None, "update clears the entry");
    assert!(!cache.put("in-cache", &Cached::Found(snap)).await.expect("put"), "stale fill is fenced");
    assert_eq!(cache.get("in-cache").await.expect("get"), None);
    assert_eq!(link["code"], "soon-here");
    app.stop().await;
}

#[tokio::test]
async fn generated_codes_do_not_collide_under_load() {
    let app = spawn().await;
    let reqs = (0..60).map(|i| {
        let c = app.client.clone();
        let u = app.url("/api/v1/links");
        let t = app.user.clone();
        async move {
            let r = c
                .post(u)
                .bearer_auth(t)
                .json(&json!({"url": format!("https://e.example/{i}")}))
                .send()
                .await
                .expect("post");
            assert_eq!(r.status(), 201);
            r.json::<serde_json::Value>().await.expect("json")["code"].as_str().expect("code").to_string()
        }
    });
    let codes: std::collections::HashSet<String> =
        futures_util::future::join_all(reqs).await.into_iter().collect();
    assert_eq!(codes.len(), 60);
    app.stop().await;
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let app = spawn().await;
    let (s, doc) = app.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    for (p, methods) in [
        ("/api/v1/links", vec!["get", "post"]),
        ("/api/v1/links/{code}", vec!["get", "patch", "delete"]),
        ("/api/v1/links/{code}/health", vec!["get"]),
    ] {
        for m in methods {
            assert!(paths[p].get(m).is_some(), "{m} {p} missing from the OpenAPI document");
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    app.stop().await;
}
