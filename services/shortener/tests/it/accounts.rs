//! Accounts and sessions: invitation → member with a password → sessions that authenticate like
//! keys with the member's role; sign-out, sign-out everywhere, password reset by a one-time
//! token, and the sign-in limits per account and per client.

use serde_json::{json, Value};

use crate::{error_code, spawn, spawn_with, TestApp};

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    app.call("POST", path, token, Some(body)).await
}

/// Invites `email` into the workspace of `inviter` with `role` and accepts; returns the session.
async fn join(app: &TestApp, inviter: &str, name: &str, email: &str, role: &str) -> String {
    let (s, inv) =
        post(app, "/api/v1/invitations", Some(inviter), json!({"role": role, "email": email})).await;
    assert_eq!(s, 201, "{inv}");
    let token = inv["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("glo_"), "{inv}");
    let body = json!({"token": token, "name": name, "email": email, "password": "correct horse"});
    let (s, session) = post(app, "/api/v1/auth/accept-invitation", None, body.clone()).await;
    assert_eq!(s, 201, "{session}");
    // Used once.
    let (s, again) = post(app, "/api/v1/auth/accept-invitation", None, body).await;
    assert_eq!((s, error_code(&again).as_str()), (401, "unauthorized"));
    session["token"].as_str().expect("session token").to_string()
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    post(app, "/api/v1/auth/sign-in", None, json!({"email": email, "password": password})).await
}

#[tokio::test]
async fn sessions_authenticate_with_the_members_role_and_are_revocable() {
    let app = spawn().await;
    let first = join(&app, &app.user, "bob", "Bob@Example.org", "member").await;
    assert!(first.starts_with("gls_"));
    let (s, ws) = app.call("GET", "/api/v1/workspace", Some(&first), None).await;
    assert_eq!(s, 200, "{ws}");
    assert_eq!((ws["member"]["name"].as_str(), ws["member"]["role"].as_str()), (Some("bob"), Some("member")));
    let (s, link) = app.create(&first, json!({"url": "https://example.org/by-session"})).await;
    assert_eq!(s, 201, "{link}");
    // A member may not invite.
    let (s, b) = post(&app, "/api/v1/invitations", Some(&first), json!({"role": "viewer"})).await;
    assert_eq!((s, error_code(&b).as_str()), (403, "forbidden"));

    let (s, b) = sign_in(&app, "bob@example.org", "wrong password").await;
    assert_eq!((s, error_code(&b).as_str()), (401, "unauthorized"));
    let (s, b) = sign_in(&app, "nobody@example.org", "correct horse").await;
    assert_eq!(s, 401, "{b}");
    let (s, b) = sign_in(&app, "bob@example.org", "correct horse").await;
    assert_eq!(s, 200, "{b}");
    let second = b["token"].as_str().expect("token").to_string();
    assert_ne!(first, second, "a new token at every sign-in");

    let (s, _) = app.call("POST", "/api/v1/auth/sign-out", Some(&second), None).await;
    assert_eq!(s, 204);
    let (s, _) = app.call("GET", "/api/v1/workspace", Some(&second), None).await;
    assert_eq!(s, 401, "a signed-out session is refused");
    let (s, _) = app.call("GET", "/api/v1/workspace", Some(&first), None).await;
    assert_eq!(s, 200, "another session stays");

    let (_, third) = sign_in(&app, "bob@example.org", "correct horse").await;
    let third = third["token"].as_str().expect("token").to_string();
    let (s, b) = app.call("POST", "/api/v1/auth/sign-out-everywhere", Some(&first), None).await;
    assert_eq!((s, b["revoked"].as_u64()), (200, Some(2)), "{b}");
    for t in [&first, &third] {
        let (s, _) = app.call("GET", "/api/v1/workspace", Some(t), None).await;
        assert_eq!(s, 401);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_session_never_reaches_another_workspace() {
    let app = spawn().await;
    let (s, link) =
        app.create(&app.user, json!({"url": "https://example.org/alices", "alias": "alices"})).await;
    assert_eq!(s, 201, "{link}");
    let carol = app.db.token("carol", "user");
    let session = join(&app, &carol, "dave", "dave@example.org", "owner").await;
    let (s, b) = app.call("GET", "/api/v1/links/alices", Some(&session), None).await;
    assert_eq!((s, error_code(&b).as_str()), (404, "not_found"));
    let (s, b) = app.call("GET", "/api/v1/links/alices/stats", Some(&session), None).await;
    assert_eq!(s, 404, "{b}");
    app.stop().await;
}

#[tokio::test]
async fn a_reset_token_sets_the_password_once_and_ends_every_session() {
    let app = spawn().await;
    let session = join(&app, &app.user, "erin", "erin@example.org", "viewer").await;
    let member = app.call("GET", "/api/v1/workspace", Some(&session), None).await.1["member"]["id"]
        .as_i64()
        .expect("member id");
    let ws = app.call("GET", "/api/v1/workspace", Some(&session), None).await.1["id"].as_i64().expect("ws");
    let token = ghostlink_domain::new_secret(&mut rand::rngs::OsRng, ghostlink_domain::ONE_TIME_PREFIX);
    let what = ghostlink_db::accounts::OneTime::Reset { workspace_id: ws, member_id: member };
    let expires = chrono::Utc::now() + chrono::Duration::hours(1);
    ghostlink_db::accounts::issue(&mut app.db.conn(), &what, &ghostlink_domain::hash_token(&token), expires)
        .expect("issue");

    let (s, b) =
        post(&app, "/api/v1/auth/reset-password", None, json!({"token": token, "password": "short"})).await;
    assert_eq!((s, error_code(&b).as_str()), (422, "invalid_password"));
    let body = json!({"token": token, "password": "a new long password"});
    let (s, b) = post(&app, "/api/v1/auth/reset-password", None, body.clone()).await;
    assert_eq!(s, 204, "{b}");
    let (s, _) = post(&app, "/api/v1/auth/reset-password", None, body).await;
    assert_eq!(s, 401, "a reset token is used once");
    let (s, _) = app.call("GET", "/api/v1/workspace", Some(&session), None).await;
    assert_eq!(s, 401, "a reset ends every session");
    assert_eq!(sign_in(&app, "erin@example.org", "correct horse").await.0, 401);
    assert_eq!(sign_in(&app, "erin@example.org", "a new long password").await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_account_and_per_client() {
    let app = spawn_with(|c| {
        c.proxy = ghostlink_config::ProxyArgs { trusted_proxies: "127.0.0.1".into() };
        c.sign_in_attempt_limit = 2;
    })
    .await;
    join(&app, &app.user, "frank", "frank@example.org", "member").await;
    let attempt = |client: &'static str, email: &'static str, password: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/sign-in"))
            .header("x-forwarded-for", client)
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    for client in ["198.51.100.1", "198.51.100.2"] {
        let r = attempt(client, "frank@example.org", "wrong").await.expect("request");
        assert_eq!(r.status(), 401);
    }
    // The account is over its limit, from any client, even with the right password.
    let r = attempt("198.51.100.3", "frank@example.org", "correct horse").await.expect("request");
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let b: Value = r.json().await.expect("json");
    assert_eq!(error_code(&b), "too_many_sign_ins");
    // A client over its limit is refused for every account.
    for email in ["x@example.org", "y@example.org"] {
        assert_eq!(attempt("198.51.100.9", email, "wrong").await.expect("request").status(), 401);
    }
    assert_eq!(attempt("198.51.100.9", "z@example.org", "wrong").await.expect("request").status(), 429);
    app.stop().await;
}
