//! The authorisation matrix: every authenticated route × every kind of credential (and the
//! refusals decided before a body is read: an encoded body, a client over the limit of failed
//! authentications), with the exact answer expected. Every documented route has a row (the test
//! fails otherwise, so a new route cannot be added without one), and every route refused to a
//! user documents its 403. What each workspace role and key scope may do, and that no key
//! reaches another workspace, is `workspaces.rs`'s matrix.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::spawn_with;

/// The credentials a caller may present.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cred {
    None,
    Malformed,
    Unknown,
    Revoked,
    User,
    Admin,
    /// An unknown token with a gzip-encoded body: refused for the token, body unread.
    UnknownGzip,
    /// The admin token with a gzip-encoded body: 415 where a body is read.
    AdminGzip,
    /// The admin token from a client that has failed to authenticate too often: 429.
    AdminThrottled,
}

const CREDS: [Cred; 9] = [
    Cred::None,
    Cred::Malformed,
    Cred::Unknown,
    Cred::Revoked,
    Cred::User,
    Cred::Admin,
    Cred::UnknownGzip,
    Cred::AdminGzip,
    Cred::AdminThrottled,
];

/// The client over the failure limit (its `X-Forwarded-For`, vouched for by loopback).
const THROTTLED: &str = "203.0.113.66";
const FAILURE_LIMIT: u32 = 2;

/// One authenticated route: method, path (`{code}` is a fresh link owned by the user), body,
/// whether it is the instance admin's only, and what a permitted caller gets (with the error
/// code of a permitted 4xx).
struct Route {
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    admin_only: bool,
    ok: u16,
    ok_code: Option<&'static str>,
}

fn table() -> Vec<Route> {
    let r = |method, path, body, admin_only, ok| Route { method, path, body, admin_only, ok, ok_code: None };
    // A permitted caller that names what its workspace does not hold: 404.
    let missing = |method, path, body| Route {
        method,
        path,
        body,
        admin_only: false,
        ok: 404,
        ok_code: Some("not_found"),
    };
    vec![
        // Not admin only: a user owns its workspace, and its links.
        r("PATCH", "/api/v1/links/{code}", Some(json!({"status": "disabled"})), false, 200),
        r("DELETE", "/api/v1/links/{code}", None, false, 204),
        r("GET", "/api/v1/links/{code}/revisions", None, false, 200),
        r("GET", "/api/v1/workspace", None, false, 200),
        // A key is not a session: it has nothing to sign out of.
        Route { ok_code: Some("not_a_session"), ..r("POST", "/api/v1/auth/sign-out", None, false, 422) },
        r("POST", "/api/v1/auth/sign-out-everywhere", None, false, 200),
        r("POST", "/api/v1/invitations", Some(json!({"role": "viewer"})), false, 201),
        r("GET", "/api/v1/members", None, false, 200),
        r("POST", "/api/v1/members", Some(json!({"name": "matrix", "role": "viewer"})), false, 201),
        missing("PATCH", "/api/v1/members/{id}", Some(json!({"role": "viewer"}))),
        missing("DELETE", "/api/v1/members/{id}", None),
        r("GET", "/api/v1/keys", None, false, 200),
        r("POST", "/api/v1/keys", Some(json!({"name": "matrix-key"})), false, 201),
        missing("DELETE", "/api/v1/keys/{id}", None),
        r("GET", "/api/v1/export", None, false, 200),
        r("POST", "/api/v1/import", Some(json!([{"url": "https://matrix.example/imported"}])), false, 200),
        r("GET", "/api/v1/tags", None, false, 200),
        missing("PATCH", "/api/v1/tags/{name}", Some(json!({"name": "renamed"}))),
        missing("DELETE", "/api/v1/tags/{name}", None),
        r("GET", "/api/v1/domains", None, false, 200),
        // Hosts are the instance's, so the same host cannot be added by both callers: a
        // permitted caller gets as far as the host's rule.
        Route {
            ok_code: Some("host_syntax"),
            ..r("POST", "/api/v1/domains", Some(json!({"host": "not a host"})), false, 422)
        },
        missing("PATCH", "/api/v1/domains/{host}", Some(json!({"root_url": null}))),
        missing("DELETE", "/api/v1/domains/{host}", None),
        // Webhooks: a permitted caller names no subscription of its workspace (999999999).
        r("GET", "/api/v1/webhooks", None, false, 200),
        r(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": "https://matrix.example/hook", "events": ["link.created"]})),
            false,
            201,
        ),
        missing("GET", "/api/v1/webhooks/{id}", None),
        missing("PATCH", "/api/v1/webhooks/{id}", Some(json!({"enabled": false}))),
        missing("DELETE", "/api/v1/webhooks/{id}", None),
        missing("GET", "/api/v1/webhooks/{id}/deliveries", None),
        missing("POST", "/api/v1/webhooks/{id}/test", None),
        r("GET", "/api/v1/links", None, false, 200),
        r("POST", "/api/v1/links", Some(json!({"url": "https://matrix.example/"})), false, 201),
        r("GET", "/api/v1/links/{code}", None, false, 200),
        r("GET", "/api/v1/links/{code}/stats", None, false, 200),
        r("GET", "/api/v1/links/{code}/clicks", None, false, 200),
        r("GET", "/api/v1/workspace/stats", None, false, 200),
        missing("GET", "/api/v1/domains/{host}/orphan-visits", None),
        r("GET", "/api/v1/links/{code}/health", None, false, 200),
        r("GET", "/api/v1/links/{code}/qr", None, false, 200),
        // Documented: 404 `not_scored` until the risk scorer has seen the link.
        Route { ok_code: Some("not_scored"), ..r("GET", "/api/v1/links/{code}/risk", None, false, 404) },
        // Live clicks (server-sent events: the stream is opened, not read).
        r("GET", "/api/v1/links/{code}/clicks/live", None, false, 200),
        r("GET", "/api/v1/workspace/clicks/live", None, false, 200),
    ]
}

fn expected(route: &Route, cred: Cred) -> (u16, Option<&'static str>) {
    match cred {
        Cred::None | Cred::Malformed | Cred::Unknown | Cred::Revoked | Cred::UnknownGzip => {
            (401, Some("unauthorized"))
        }
        Cred::AdminThrottled => (429, Some("too_many_auth_failures")),
        Cred::AdminGzip if route.body.is_some() => (415, Some("unsupported_encoding")),
        Cred::User if route.admin_only => (403, Some("forbidden")),
        Cred::User | Cred::Admin | Cred::AdminGzip => (route.ok, route.ok_code),
    }
}

/// `(method, path)` of every operation the OpenAPI document marks admin only (answers 403).
fn documented_admin_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            if op["responses"].get("403").is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_route_times_every_credential() {
    let app = spawn_with(|c| {
        c.proxy = ghostlink_config::ProxyArgs { trusted_proxies: "127.0.0.1".into() };
        c.auth_failure_limit = FAILURE_LIMIT;
    })
    .await;
    for _ in 0..FAILURE_LIMIT {
        let r = app.client.get(app.url("/api/v1/links")).header("x-forwarded-for", THROTTLED).send().await;
        assert_eq!(r.expect("request").status(), 401);
    }
    let revoked = app.db.token("revoked-bob", "user");
    assert!(ghostlink_db::tokens::revoke(&mut app.db.conn(), "revoked-bob").expect("revoke"));
    let unknown = ghostlink_domain::new_token(&mut rand::rngs::OsRng);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (s, doc) = app.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, 200);
    let table = table();
    let in_table: BTreeSet<(String, String)> =
        table.iter().filter(|r| r.admin_only).map(|r| (r.method.to_string(), r.path.to_string())).collect();
    let documented_403 = documented_admin_routes(&doc);
    let undocumented: Vec<_> = in_table.difference(&documented_403).collect();
    assert!(undocumented.is_empty(), "admin-only routes that do not document their 403: {undocumented:?}");
    let all: Vec<(String, String, bool)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object().expect("ops").iter().map(|(m, op)| {
                let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
                (m.to_uppercase(), p.clone(), secured)
            })
        })
        .collect();
    let documented: BTreeSet<(String, String)> =
        all.iter().filter(|(_, _, s)| *s).map(|(m, p, _)| (m.clone(), p.clone())).collect();
    // The only operations without a credential: those that give one (`accounts.rs` tests them).
    let open: BTreeSet<(String, String)> =
        all.iter().filter(|(_, _, s)| !*s).map(|(m, p, _)| (m.clone(), p.clone())).collect();
    let want_open: BTreeSet<(String, String)> =
        ["/api/v1/auth/sign-in", "/api/v1/auth/accept-invitation", "/api/v1/auth/reset-password"]
            .into_iter()
            .map(|p| ("POST".to_string(), p.to_string()))
            .collect();
    assert_eq!(open, want_open, "the operations that need no credential");
    let covered: BTreeSet<(String, String)> =
        table.iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
    assert_eq!(covered, documented, "every documented route has a row in the matrix");
    // What the matrix's refusals answer is documented on every route.
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            for status in ["401", "429"] {
                assert!(op["responses"].get(status).is_some(), "{method} {path} does not document {status}");
            }
        }
    }

    let mut grid = vec![];
    let mut bad = 0;
    for (i, route) in table.iter().enumerate() {
        let mut cells = vec![];
        for (j, cred) in CREDS.iter().enumerate() {
            // A fresh link per cell, owned by the user, so a permitted DELETE has something to delete.
            let (s, link) = app
                .create(&app.user, json!({"url": "https://matrix.example/x", "alias": format!("m-{i}-{j}")}))
                .await;
            assert_eq!(s, 201, "{link}");
            let path = route
                .path
                .replace("{code}", &format!("m-{i}-{j}"))
                .replace("{id}", "999999999")
                .replace("{name}", "no-such-tag");
            let mut req = app.client.request(route.method.parse().expect("method"), app.url(&path));
            req = match cred {
                Cred::None => req,
                Cred::Malformed => req.header("authorization", format!("Bearer{}", app.admin)),
                Cred::Unknown => req.bearer_auth(&unknown),
                Cred::Revoked => req.bearer_auth(&revoked),
                Cred::User => req.bearer_auth(&app.user),
                Cred::Admin => req.bearer_auth(&app.admin),
                Cred::UnknownGzip => req.bearer_auth(&unknown),
                Cred::AdminGzip => req.bearer_auth(&app.admin),
                Cred::AdminThrottled => req.bearer_auth(&app.admin).header("x-forwarded-for", THROTTLED),
            };
            // Every other cell is a client of its own, under the failure limit.
            if *cred != Cred::AdminThrottled {
                req = req.header("x-forwarded-for", format!("198.18.{i}.{j}"));
            }
            let gzip = matches!(cred, Cred::UnknownGzip | Cred::AdminGzip);
            if gzip {
                req = req.header("content-encoding", "gzip");
            }
            if let Some(b) = &route.body {
                req = match gzip {
                    true => req
                        .header("content-type", "application/json")
                        .body(crate::body::gzip_stored(&serde_json::to_vec(b).expect("json"))),
                    false => req.json(b),
                };
            }
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            let retry_after = resp.headers().get("retry-after").is_some();
            // An event stream never ends by itself: its body is not read.
            let streaming = resp
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            let body: Value = match streaming {
                true => Value::Null,
                false => serde_json::from_str(&resp.text().await.expect("body")).unwrap_or(Value::Null),
            };
            let (want, want_code) = expected(route, *cred);
            let code = body["error"]["code"].as_str();
            let shape_ok = status < 300
                || (code.is_some() && body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
            let ok = status == want
                && shape_ok
                && (want_code.is_none() || code == want_code)
                && (status != 429 || retry_after);
            if !ok {
                bad += 1;
            }
            cells.push(format!("{}{status}/{want}", if ok { " " } else { "!" }));
        }
        grid.push(format!("{:6} {:30} {}", route.method, route.path, cells.join("  ")));
    }
    if bad > 0 {
        let head = CREDS.iter().map(|c| format!("{:>8}", format!("{c:?}"))).collect::<Vec<_>>().join("  ");
        panic!(
            "{bad} cells differ (got/want, ! marks a difference, a missing error body or Retry-After):\n{:37} {head}\n{}",
            "",
            grid.join("\n")
        );
    }
    app.stop().await;
}
