//! The admin API on its own listener: every route × (no token, a workspace owner's key, the
//! instance admin's), its own OpenAPI document, workspaces made there, and moderation that the
//! public listener refuses.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::{error_code, spawn};

#[tokio::test]
async fn admin_routes_answer_only_the_instance_admin() {
    let app = spawn().await;
    let (s, link) = app.create(&app.user, json!({"url": "https://mod.example/", "alias": "mod-me"})).await;
    assert_eq!(s, 201, "{link}");
    // (method, path, body, what the instance admin gets)
    let rows: Vec<(&str, &str, Option<Value>, u16)> = vec![
        ("GET", "/admin/v1/findings", None, 200),
        ("GET", "/admin/v1/orphan-visits", None, 200),
        ("GET", "/admin/v1/workspaces", None, 200),
        ("POST", "/admin/v1/workspaces", Some(json!({"slug": "acme", "name": "Acme", "owner": "ann"})), 201),
        ("PATCH", "/admin/v1/links/{code}", Some(json!({"status": "quarantined"})), 200),
        ("DELETE", "/admin/v1/links/{code}", None, 204),
    ];
    let (s, doc) = app.admin_call("GET", "/admin/v1/openapi.json", None, None).await;
    assert_eq!(s, 200);
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(p, ops)| ops.as_object().expect("ops").keys().map(|m| (m.to_uppercase(), p.clone())))
        .collect();
    let covered: BTreeSet<(String, String)> =
        rows.iter().map(|r| (r.0.to_string(), r.1.to_string())).collect();
    assert_eq!(covered, documented, "every documented admin route has a row");
    let (_, public_doc) = app.call("GET", "/api/v1/openapi.json", None, None).await;
    assert!(
        public_doc["paths"].as_object().expect("paths").keys().all(|p| p.starts_with("/api/v1/")),
        "the public document describes no admin route"
    );

    for (method, path, body, ok) in &rows {
        let path = path.replace("{code}", "mod-me");
        let (s, _) = app.admin_call(method, &path, None, body.clone()).await;
        assert_eq!(s, 401, "{method} {path} without a token");
        let (s, b) = app.admin_call(method, &path, Some(&app.user), body.clone()).await;
        assert_eq!((s, error_code(&b).as_str()), (403, "forbidden"), "{method} {path} with a workspace key");
        // The public listener has no such route.
        let public = path.replace("/admin/v1/", "/api/v1/");
        if !public.starts_with("/api/v1/links/") {
            let (s, _) = app.call(method, &public, Some(&app.admin), body.clone()).await;
            assert_eq!(s, 404, "{method} {public} on the public listener");
        }
        let (s, b) = app.admin_call(method, &path, Some(&app.admin), body.clone()).await;
        assert_eq!(s, *ok, "{method} {path} as the instance admin: {b}");
        if *method == "POST" {
            // The new workspace's owner key works on the public API, in that workspace only.
            let key = b["owner_key"].as_str().expect("owner key");
            let (s, ws) = app.call("GET", "/api/v1/workspace", Some(key), None).await;
            assert_eq!((s, ws["slug"].as_str()), (200, Some("acme")));
            let (s, _) = app.call("GET", "/api/v1/links/mod-me", Some(key), None).await;
            assert_eq!(s, 404, "another workspace's link");
            let (s, _) = app.admin_call(method, &path, Some(&app.admin), body.clone()).await;
            assert_eq!(s, 409, "the slug is taken");
        }
        if *method == "PATCH" {
            // Quarantine is the admin API's, whoever asks on the public one.
            for token in [&app.user, &app.admin] {
                let (s, b) = app
                    .call("PATCH", "/api/v1/links/mod-me", Some(token), Some(json!({"status": "active"})))
                    .await;
                assert_eq!((s, error_code(&b).as_str()), (403, "forbidden"), "{b}");
            }
        }
    }
    app.stop().await;
}
