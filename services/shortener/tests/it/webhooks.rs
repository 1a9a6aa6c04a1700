//! Webhook subscriptions through the API: owners and admins make, change, rotate and delete
//! them, members read them; the secret is shown once; bad input is a 4xx naming the rule;
//! another workspace's subscription is a 404 whatever the method; the test route queues a
//! delivery that shows in the log.

use ghostlink_domain::workspace::MemberRole;
use serde_json::json;

use crate::{error_code, spawn};

#[tokio::test]
async fn subscriptions_crud_secret_shown_once_and_other_workspaces_get_404() {
    let app = spawn().await;
    let ws =
        ghostlink_db::workspaces::by_slug(&mut app.db.conn(), "ws-alice").expect("query").expect("workspace");
    let member = app.db.member_key(ws.id, "bob", MemberRole::Member, None);
    let mallory = app.db.token("mallory", "user");

    let body = json!({"url": "https://Hooks.Alice.test/in", "events": ["link.created", "click.batch", "link.created"]});
    let (s, d) = app.call("POST", "/api/v1/webhooks", Some(&member), Some(body.clone())).await;
    assert_eq!((s, error_code(&d).as_str()), (403, "forbidden"), "a member reads, does not manage: {d}");
    let (s, created) = app.call("POST", "/api/v1/webhooks", Some(&app.user), Some(body)).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["url"], "https://hooks.alice.test/in");
    assert_eq!(created["events"], json!(["link.created", "click.batch"]));
    assert_eq!(created["enabled"], true);
    let secret = created["secret"].as_str().expect("the secret, once").to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = created["id"].as_i64().expect("id");
    let path = format!("/api/v1/webhooks/{id}");

    // Read back (by a member too): never the secret again.
    for token in [&app.user, &member] {
        let (s, got) = app.call("GET", &path, Some(token), None).await;
        assert_eq!(s, 200, "{got}");
        assert!(got.get("secret").is_none(), "{got}");
        let (s, all) = app.call("GET", "/api/v1/webhooks", Some(token), None).await;
        assert_eq!(s, 200);
        assert_eq!(all.as_array().map(Vec::len), Some(1));
    }

    // Bad input: 4xx with the rule's code.
    for (bad, code) in [
        (json!({"url": "ftp://x.test/", "events": ["link.created"]}), "url_scheme"),
        (json!({"url": "https://u:p@x.test/", "events": ["link.created"]}), "url_credentials"),
        (json!({"url": "https://x.test/", "events": []}), "invalid_events"),
        (json!({"url": "https://x.test/", "events": ["link.exploded"]}), "invalid_events"),
        (json!({"url": "https://x.test/", "events": ["webhook.test"]}), "invalid_events"),
        (json!({"url": "https://x.test/"}), "invalid_events"),
        (json!({"events": ["link.created"]}), "url_missing"),
        (
            json!({"url": "https://x.test/", "events": ["link.created"], "secret": "whsec_mine"}),
            "unknown_field",
        ),
        (json!({"url": "https://x.test/", "events": ["link.created"], "enabled": "yes"}), "invalid_field"),
    ] {
        let (s, d) = app.call("POST", "/api/v1/webhooks", Some(&app.user), Some(bad.clone())).await;
        assert_eq!((s, error_code(&d).as_str()), (422, code), "{bad}: {d}");
    }
    let (s, d) = app.call("GET", "/api/v1/webhooks/not-a-number", Some(&app.user), None).await;
    assert_eq!((s, error_code(&d).as_str()), (404, "not_found"), "{d}");
    let (s, d) = app.call("GET", &format!("{path}/deliveries?limit=0"), Some(&app.user), None).await;
    assert_eq!((s, error_code(&d).as_str()), (400, "invalid_limit"), "{d}");

    // Change, disable, rotate.
    let (s, changed) = app
        .call("PATCH", &path, Some(&app.user), Some(json!({"events": ["link.deleted"], "enabled": false})))
        .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(
        (changed["events"].clone(), changed["enabled"].clone()),
        (json!(["link.deleted"]), json!(false))
    );
    assert!(changed.get("secret").is_none());
    let (s, rotated) = app.call("PATCH", &path, Some(&app.user), Some(json!({"rotate_secret": true}))).await;
    assert_eq!(s, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().expect("the new secret");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);

    // Another workspace: 404 on every route.
    for (method, p) in [
        ("GET", path.clone()),
        ("PATCH", path.clone()),
        ("DELETE", path.clone()),
        ("GET", format!("{path}/deliveries")),
        ("POST", format!("{path}/test")),
    ] {
        let body = (method == "PATCH").then(|| json!({"enabled": true}));
        let (s, d) = app.call(method, &p, Some(&mallory), body).await;
        assert_eq!((s, error_code(&d).as_str()), (404, "not_found"), "{method} {p}: {d}");
    }
    let (s, theirs) = app.call("GET", "/api/v1/webhooks", Some(&mallory), None).await;
    assert_eq!((s, theirs), (200, json!([])));

    // The test event: refused while disabled, then queued and shown in the delivery log.
    let (s, d) = app.call("POST", &format!("{path}/test"), Some(&app.user), None).await;
    assert_eq!((s, error_code(&d).as_str()), (409, "webhook_disabled"), "{d}");
    let (s, d) = app.call("PATCH", &path, Some(&app.user), Some(json!({"enabled": true}))).await;
    assert_eq!((s, d["enabled"].clone()), (200, json!(true)), "{d}");
    let (s, t) = app.call("POST", &format!("{path}/test"), Some(&app.user), None).await;
    assert_eq!(s, 202, "{t}");
    let (s, log) = app.call("GET", &format!("{path}/deliveries"), Some(&member), None).await;
    assert_eq!(s, 200, "{log}");
    assert_eq!(log[0]["event_id"], t["event_id"]);
    assert_eq!(
        (log[0]["event_type"].as_str(), log[0]["status"].as_str()),
        (Some("webhook.test"), Some("pending"))
    );
    assert_eq!(log[0]["attempts"], 0);

    let (s, _) = app.call("DELETE", &path, Some(&app.user), None).await;
    assert_eq!(s, 204);
    let (s, _) = app.call("GET", &path, Some(&app.user), None).await;
    assert_eq!(s, 404);
    app.stop().await;
}
