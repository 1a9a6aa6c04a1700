//! Custom domains through the API: a workspace adds hosts, makes links on them (the same code on
//! two domains), addresses them with `?domain=`, and its short URLs and QR codes use the link's
//! domain; no other workspace can see, use, change or remove them.

use ghostlink_domain::workspace::MemberRole;
use serde_json::json;

use crate::{error_code, spawn};

#[tokio::test]
async fn links_on_custom_domains_and_no_other_workspace_reaches_them() {
    let app = spawn().await;
    let ws =
        ghostlink_db::workspaces::by_slug(&mut app.db.conn(), "ws-alice").expect("query").expect("workspace");
    let member = app.db.member_key(ws.id, "bob", MemberRole::Member, None);
    let mallory = app.db.token("mallory", "user");

    // Owners and admins add domains; the host is checked and taken once on the instance.
    let body = json!({"host": "Go.Alice.test.", "root_url": "https://alice.test/", "not_found_url": null});
    let (s, d) = app.call("POST", "/api/v1/domains", Some(&member), Some(body.clone())).await;
    assert_eq!(s, 403, "{d}");
    let (s, d) = app.call("POST", "/api/v1/domains", Some(&app.user), Some(body.clone())).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(
        (d["host"].as_str(), d["root_url"].as_str()),
        (Some("go.alice.test"), Some("https://alice.test/"))
    );
    let (s, d) = app.call("POST", "/api/v1/domains", Some(&mallory), Some(body.clone())).await;
    assert_eq!((s, error_code(&d).as_str()), (409, "host_taken"), "{d}");
    for (host, code) in
        [("127.0.0.1", "host_address"), ("localhost", "host_single_label"), ("a_b.test", "host_syntax")]
    {
        let (s, d) = app.call("POST", "/api/v1/domains", Some(&app.user), Some(json!({"host": host}))).await;
        assert_eq!((s, error_code(&d).as_str()), (422, code), "{host}: {d}");
    }
    let bad_redirect = json!({"host": "x.alice.test", "root_url": "javascript:alert(1)"});
    let (s, d) = app.call("POST", "/api/v1/domains", Some(&app.user), Some(bad_redirect)).await;
    assert_eq!((s, error_code(&d).as_str()), (422, "url_scheme"), "{d}");
    let (s, _) =
        app.call("POST", "/api/v1/domains", Some(&mallory), Some(json!({"host": "go.mallory.test"}))).await;
    assert_eq!(s, 201);

    // The same alias on the default domain and on the custom one: two links.
    let (s, plain) = app.create(&app.user, json!({"url": "https://plain.test/", "alias": "launch"})).await;
    assert_eq!(s, 201, "{plain}");
    let (s, custom) = app
        .create(&member, json!({"url": "https://custom.test/", "alias": "launch", "domain": "GO.alice.test"}))
        .await;
    assert_eq!(s, 201, "{custom}");
    assert_eq!(custom["code"], "launch");
    assert_eq!(custom["domain"], "go.alice.test");
    assert_eq!(custom["short_url"], "http://go.alice.test/launch");
    assert!(plain["domain"].is_null());
    assert_eq!(plain["short_url"], "http://sho.rt/launch");
    let (s, d) = app
        .create(&app.user, json!({"url": "https://x.test/", "alias": "launch", "domain": "go.alice.test"}))
        .await;
    assert_eq!((s, error_code(&d).as_str()), (409, "alias_taken"), "{d}");
    for domain in ["go.mallory.test", "nowhere.test", "not a host"] {
        let (s, d) = app.create(&app.user, json!({"url": "https://x.test/", "domain": domain})).await;
        assert_eq!((s, error_code(&d).as_str()), (422, "unknown_domain"), "{domain}: {d}");
    }

    // Addressed with ?domain=: read, changed (a revision), its QR code is its short URL.
    let on_custom = "/api/v1/links/launch?domain=go.alice.test";
    let (s, got) = app.call("GET", on_custom, Some(&app.user), None).await;
    assert_eq!((s, got["url"].as_str()), (200, Some("https://custom.test/")));
    let (s, got) = app.call("GET", "/api/v1/links/launch", Some(&app.user), None).await;
    assert_eq!((s, got["url"].as_str()), (200, Some("https://plain.test/")));
    let (s, b) =
        app.call("PATCH", on_custom, Some(&member), Some(json!({"url": "https://custom.test/v2"}))).await;
    assert_eq!(s, 200, "{b}");
    let (_, revs) =
        app.call("GET", "/api/v1/links/launch/revisions?domain=go.alice.test", Some(&member), None).await;
    assert_eq!(revs[0]["new_url"], "https://custom.test/v2", "{revs}");
    let (_, revs) = app.call("GET", "/api/v1/links/launch/revisions", Some(&member), None).await;
    assert_eq!(revs, json!([]), "the default domain's link did not change");
    let png = app
        .client
        .get(app.url("/api/v1/links/launch/qr?domain=go.alice.test&format=png&size=512"))
        .bearer_auth(&member)
        .send()
        .await
        .expect("qr");
    assert_eq!(png.status(), 200);
    assert_eq!(crate::qr::zbar(&png.bytes().await.expect("png")), "http://go.alice.test/launch");
    let (s, b) =
        app.call("GET", "/api/v1/links/launch?domain=go.alice.test&domain=x.test", Some(&member), None).await;
    assert_eq!((s, error_code(&b).as_str()), (400, "invalid_query"), "{b}");

    // Another workspace: the link, the domain and its settings are as absent as unknown ones.
    for (method, path) in [("GET", on_custom.to_string()), ("DELETE", on_custom.to_string())] {
        let (s, _) = app.call(method, &path, Some(&mallory), None).await;
        assert_eq!(s, 404, "{method} {path}");
    }
    let (s, _) = app
        .call("PATCH", "/api/v1/domains/go.alice.test", Some(&mallory), Some(json!({"root_url": null})))
        .await;
    assert_eq!(s, 404);
    let (s, _) = app.call("DELETE", "/api/v1/domains/go.alice.test", Some(&mallory), None).await;
    assert_eq!(s, 404);
    let (_, listed) = app.call("GET", "/api/v1/domains", Some(&mallory), None).await;
    assert_eq!(listed.as_array().map(|a| a.len()), Some(1), "{listed}");

    // Changing a domain's redirects; a domain with links stays, an unused one goes.
    let (s, d) = app
        .call(
            "PATCH",
            "/api/v1/domains/go.alice.test",
            Some(&app.user),
            Some(json!({"root_url": null, "not_found_url": "https://alice.test/404"})),
        )
        .await;
    assert_eq!(s, 200, "{d}");
    assert!(d["root_url"].is_null());
    assert_eq!(d["not_found_url"], "https://alice.test/404");
    let (s, _) = app.call("DELETE", on_custom, Some(&member), None).await;
    assert_eq!(s, 204);
    let (s, d) = app.call("DELETE", "/api/v1/domains/go.alice.test", Some(&app.user), None).await;
    assert_eq!((s, error_code(&d).as_str()), (409, "domain_in_use"), "{d}");
    let (s, _) =
        app.call("POST", "/api/v1/domains", Some(&app.user), Some(json!({"host": "spare.alice.test"}))).await;
    assert_eq!(s, 201);
    let (s, _) = app.call("DELETE", "/api/v1/domains/spare.alice.test", Some(&member), None).await;
    assert_eq!(s, 403);
    let (s, _) = app.call("DELETE", "/api/v1/domains/spare.alice.test", Some(&app.user), None).await;
    assert_eq!(s, 204);
    let (_, listed) = app.call("GET", "/api/v1/domains", Some(&member), None).await;
    assert_eq!(listed.as_array().map(|a| a.len()), Some(1), "{listed}");
    app.stop().await;
}
