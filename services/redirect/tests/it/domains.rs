//! Custom domains: the redirect routes by `Host` (the same code on two domains is two links),
//! answers a domain's root and not-found redirects, and names nothing on a host it does not
//! serve once its default hosts are set.

use ghostlink_domain::ClickOutcome;
use ghostlink_test_support::metric_value;

use crate::{spawn_with, TestApp};

/// Where `path` on `host` redirects (`None`: no redirect), and the status.
async fn on(app: &TestApp, host: &str, path: &str) -> (u16, Option<String>, String) {
    let r = app.client.get(app.url(path)).header("host", host).send().await.expect("get");
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|v| v.to_str().expect("text").to_owned());
    (status, location, r.text().await.expect("body"))
}

/// Adds `host` to the default workspace (where `TestApp::link` puts links).
fn add_domain(app: &TestApp, host: &str, root: Option<&str>, not_found: Option<&str>) {
    let mut c = app.db.conn();
    let ws = ghostlink_db::workspaces::default_workspace(&mut c).expect("default workspace");
    ghostlink_db::domains::add(&mut c, ws.id, host, root, not_found).expect("add domain");
}

/// Waits for the redirect's copy of the domain table (refreshed every second) to send `path` on
/// `host` to `want`.
async fn until_routed(app: &TestApp, host: &str, path: &str, want: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, location, _) = on(app, host, path).await;
        if location.as_deref() == Some(want) {
            return;
        }
        // Until the copy holds the domain: 503 before the table's first read, 404 after it (a
        // host it does not hold yet) or, without default hosts, the default domain's link.
        assert!(matches!(status, 302 | 404 | 503), "{host}{path}: {status}");
        assert!(tokio::time::Instant::now() < deadline, "{host} never routed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn each_domain_has_its_own_codes_and_its_own_redirects() {
    let app = spawn_with(|c| c.default_hosts = vec!["sho.rt".into(), "127.0.0.1".into()]).await;
    add_domain(&app, "go.team.test", Some("https://team.test/home"), Some("https://team.test/missing"));
    add_domain(&app, "plain.team.test", None, None);
    app.link("abc", "https://default.test/", |_| {});
    app.link("go.team.test/abc", "https://team.test/abc", |_| {});
    app.link("plain.team.test/abc", "https://plain.test/abc", |_| {});
    until_routed(&app, "go.team.test", "/abc", "https://team.test/abc").await;
    until_routed(&app, "plain.team.test", "/abc", "https://plain.test/abc").await;

    assert_eq!(on(&app, "sho.rt", "/abc").await.1.as_deref(), Some("https://default.test/"));
    assert_eq!(on(&app, "GO.Team.test:443", "/abc").await.1.as_deref(), Some("https://team.test/abc"));
    // The root and an unknown code: the domain's redirects where it has them, 404 where not.
    assert_eq!(on(&app, "go.team.test", "/").await.1.as_deref(), Some("https://team.test/home"));
    assert_eq!(on(&app, "go.team.test", "/nope").await.1.as_deref(), Some("https://team.test/missing"));
    assert_eq!(on(&app, "plain.team.test", "/").await.0, 404);
    assert_eq!(on(&app, "plain.team.test", "/nope").await.0, 404);
    assert_eq!(on(&app, "sho.rt", "/").await.0, 404);
    // A code of one domain is no link on another.
    app.link("go.team.test/only-go", "https://team.test/only", |_| {});
    assert_eq!(on(&app, "go.team.test", "/only-go").await.1.as_deref(), Some("https://team.test/only"));
    assert_eq!(on(&app, "sho.rt", "/only-go").await.0, 404);
    assert_eq!(on(&app, "plain.team.test", "/only-go").await.0, 404);

    // A host we do not serve: a bare 404, the same whatever the path, naming nothing.
    let unknown = || async { metric_value(&app.metrics().await, "redirect_unknown_hosts_total", &[]) };
    let before = unknown().await;
    let (status, location, body) = on(&app, "evil.test", "/abc").await;
    assert_eq!((status, location, body.as_str()), (404, None, "Not found.\n"));
    assert_eq!(on(&app, "evil.test", "/").await.2, "Not found.\n");
    assert_eq!(unknown().await - before, 2.0);

    // The click events name links by key, and an unknown host's request is no click.
    let (_db, amqp) = app.stop_keep_bus().await;
    let events = crate::published_clicks(&amqp).await;
    let codes: Vec<(&str, ClickOutcome)> =
        events.iter().map(|e| (e.data.code.as_str(), e.data.outcome)).collect();
    assert!(codes.contains(&("go.team.test/abc", ClickOutcome::Redirect)), "{codes:?}");
    assert!(codes.contains(&("go.team.test/nope", ClickOutcome::NotFound)), "{codes:?}");
    assert!(codes.contains(&("abc", ClickOutcome::Redirect)), "{codes:?}");
    assert!(!codes.iter().any(|(c, _)| c.contains("evil")), "{codes:?}");
    ghostlink_test_support::delete_topology(&amqp.bus_prefix).await;
}

#[tokio::test]
async fn without_default_hosts_every_other_host_is_the_default_domain() {
    let app = spawn_with(|_| {}).await;
    add_domain(&app, "go.team.test", None, None);
    app.link("abc", "https://default.test/", |_| {});
    app.link("go.team.test/abc", "https://team.test/abc", |_| {});
    // Before the table is read, the domain's host is the default domain's, as any host is.
    until_routed(&app, "go.team.test", "/abc", "https://team.test/abc").await;
    assert_eq!(on(&app, "anything.test", "/abc").await.1.as_deref(), Some("https://default.test/"));
    assert_eq!(on(&app, "127.0.0.1", "/abc").await.1.as_deref(), Some("https://default.test/"));
}
