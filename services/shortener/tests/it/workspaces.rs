//! Workspaces: what each member role and key scope may do, that no key reaches another
//! workspace's links, members, keys or tags (IDOR), destination revisions, tags and revocation.

use ghostlink_domain::workspace::{MemberRole, Scope};
use serde_json::json;

use crate::{error_code, spawn};

#[tokio::test]
async fn roles_scopes_and_other_workspaces() {
    let app = spawn().await;
    let ws =
        ghostlink_db::workspaces::by_slug(&mut app.db.conn(), "ws-alice").expect("query").expect("workspace");
    let member = app.db.member_key(ws.id, "bob", MemberRole::Member, None);
    let viewer = app.db.member_key(ws.id, "vera", MemberRole::Viewer, None);
    let admin = app.db.member_key(ws.id, "ada", MemberRole::Admin, None);
    let read_only = app.db.member_key(ws.id, "rita", MemberRole::Admin, Some(&[Scope::LinksRead]));
    // Another workspace, whose owner tries every id of alice's.
    let mallory = app.db.token("mallory", "user");

    let (s, own) =
        app.create(&app.user, json!({"url": "https://a.example/", "tags": ["Launch", "launch", "q4"]})).await;
    assert_eq!(s, 201, "{own}");
    assert_eq!(own["tags"], json!(["Launch", "q4"]));
    let code = own["code"].as_str().expect("code").to_string();
    let link = format!("/api/v1/links/{code}");

    // Members read everything in the workspace; change only their own; viewers change nothing.
    for token in [&member, &viewer, &admin, &read_only] {
        let (s, _) = app.call("GET", &link, Some(token), None).await;
        assert_eq!(s, 200);
    }
    let patch = Some(json!({"title": "x"}));
    let (s, b) = app.call("PATCH", &link, Some(&member), patch.clone()).await;
    assert_eq!((s, error_code(&b).as_str()), (403, "forbidden"), "{b}");
    let (s, _) = app.call("PATCH", &link, Some(&viewer), patch.clone()).await;
    assert_eq!(s, 403);
    let (s, b) = app.call("PATCH", &link, Some(&read_only), patch.clone()).await;
    assert_eq!(s, 403);
    assert!(b["error"]["message"].as_str().expect("msg").contains("links:write"), "{b}");
    let (s, _) =
        app.call("POST", "/api/v1/links", Some(&viewer), Some(json!({"url": "https://v.example/"}))).await;
    assert_eq!(s, 403);
    let (s, _) = app.call("PATCH", &link, Some(&admin), patch.clone()).await;
    assert_eq!(s, 200);
    let (s, mine) = app.create(&member, json!({"url": "https://bob.example/"})).await;
    assert_eq!(s, 201);
    let bobs = format!("/api/v1/links/{}", mine["code"].as_str().expect("code"));
    let (s, _) = app.call("PATCH", &bobs, Some(&member), patch.clone()).await;
    assert_eq!(s, 200);
    let (s, _) = app.call("GET", "/api/v1/members", Some(&member), None).await;
    assert_eq!(s, 403);

    // The other workspace sees none of it, by code, by listing, by id or by tag.
    for (method, path) in
        [("GET", link.clone()), ("GET", format!("{link}/revisions")), ("GET", format!("{link}/qr"))]
    {
        let (s, _) = app.call(method, &path, Some(&mallory), None).await;
        assert_eq!(s, 404, "{method} {path}");
    }
    let (s, _) = app.call("PATCH", &link, Some(&mallory), patch.clone()).await;
    assert_eq!(s, 404);
    let (s, _) = app.call("DELETE", &link, Some(&mallory), None).await;
    assert_eq!(s, 404);
    let (_, page) = app.call("GET", "/api/v1/links?tag=q4", Some(&mallory), None).await;
    assert_eq!(page["items"].as_array().expect("items").len(), 0);
    let (_, tags) = app.call("GET", "/api/v1/tags", Some(&mallory), None).await;
    assert_eq!(tags, json!([]));
    let alice_members = ghostlink_db::workspaces::members(&mut app.db.conn(), ws.id, false).expect("members");
    let alice_keys = ghostlink_db::tokens::list_keys(&mut app.db.conn(), ws.id).expect("keys");
    for m in &alice_members {
        let (s, _) = app.call("DELETE", &format!("/api/v1/members/{}", m.id), Some(&mallory), None).await;
        assert_eq!(s, 404, "member {}", m.id);
    }
    for k in &alice_keys {
        let (s, _) = app.call("DELETE", &format!("/api/v1/keys/{}", k.id), Some(&mallory), None).await;
        assert_eq!(s, 404, "key {}", k.id);
    }
    let (s, _) = app.call("DELETE", "/api/v1/tags/q4", Some(&mallory), None).await;
    assert_eq!(s, 404);

    // Destination changes are revisions: who, when, from what to what.
    let (s, b) = app.call("PATCH", &link, Some(&app.user), Some(json!({"url": "https://b.example/"}))).await;
    assert_eq!(s, 200, "{b}");
    let (_, revs) = app.call("GET", &format!("{link}/revisions"), Some(&viewer), None).await;
    assert_eq!(revs.as_array().expect("revisions").len(), 1, "{revs}");
    assert_eq!(revs[0]["old_url"], "https://a.example/");
    assert_eq!(revs[0]["new_url"], "https://b.example/");
    assert_eq!(revs[0]["changed_by"], "alice");

    // Tags: filtered, counted, renamed and deleted by an admin (not a member).
    let (_, page) = app.call("GET", "/api/v1/links?tag=LAUNCH", Some(&viewer), None).await;
    assert_eq!(page["items"].as_array().expect("items").len(), 1);
    let (_, tags) = app.call("GET", "/api/v1/tags", Some(&viewer), None).await;
    assert_eq!(tags, json!([{"name": "Launch", "links": 1}, {"name": "q4", "links": 1}]));
    let (s, _) = app.call("DELETE", "/api/v1/tags/q4", Some(&member), None).await;
    assert_eq!(s, 403);
    let (s, _) = app.call("PATCH", "/api/v1/tags/launch", Some(&admin), Some(json!({"name": "q4"}))).await;
    assert_eq!(s, 409);
    let (s, _) = app.call("PATCH", "/api/v1/tags/launch", Some(&admin), Some(json!({"name": "Go"}))).await;
    assert_eq!(s, 204);
    let (s, _) = app.call("DELETE", "/api/v1/tags/q4", Some(&admin), None).await;
    assert_eq!(s, 204);
    let (_, got) = app.call("GET", &link, Some(&viewer), None).await;
    assert_eq!(got["tags"], json!(["Go"]));

    // Keys: made for a member within its role, shown once; revoked, refused within a second.
    let (s, b) = app
        .call(
            "POST",
            "/api/v1/keys",
            Some(&admin),
            Some(json!({"name": "ci", "member_id": alice_members[1].id, "scopes": ["workspace:admin"]})),
        )
        .await;
    assert_eq!((s, error_code(&b).as_str()), (422, "invalid_scopes"), "{b}");
    let (s, key) = app
        .call("POST", "/api/v1/keys", Some(&admin), Some(json!({"name": "ci", "scopes": ["links:read"]})))
        .await;
    assert_eq!(s, 201, "{key}");
    let secret = key["secret"].as_str().expect("secret").to_string();
    let (s, _) = app.call("GET", &link, Some(&secret), None).await;
    assert_eq!(s, 200);
    let (_, listed) = app.call("GET", "/api/v1/keys", Some(&admin), None).await;
    assert!(listed.as_array().expect("keys").iter().all(|k| k.get("secret").is_none()));
    let (s, _) = app.call("DELETE", &format!("/api/v1/keys/{}", key["id"]), Some(&admin), None).await;
    assert_eq!(s, 204);
    let (s, b) = app.call("GET", &link, Some(&secret), None).await;
    assert_eq!(s, 401, "revoked on this replica at once: {b}");

    // A removed member's keys stop working; the last owner stays.
    let bob = alice_members.iter().find(|m| m.name == "bob").expect("bob");
    let (s, _) = app.call("DELETE", &format!("/api/v1/members/{}", bob.id), Some(&admin), None).await;
    assert_eq!(s, 204);
    let (s, _) = app.call("GET", &link, Some(&member), None).await;
    assert_eq!(s, 401);
    let alice = alice_members.iter().find(|m| m.name == "alice").expect("alice");
    let (s, _) = app.call("DELETE", &format!("/api/v1/members/{}", alice.id), Some(&admin), None).await;
    assert_eq!(s, 403, "an admin may not remove an owner");
    let (s, b) = app
        .call(
            "PATCH",
            &format!("/api/v1/members/{}", alice.id),
            Some(&app.user),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!((s, error_code(&b).as_str()), (409, "last_owner"), "{b}");
    app.stop().await;
}
