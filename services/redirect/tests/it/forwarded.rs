//! Who the client is behind proxies: `TRUSTED_PROXIES` names our own proxies, the client is the
//! right-most `X-Forwarded-For` entry that is not one of them, and the header from any other
//! peer is ignored. Observed through the deny set, the thing a spoofed address would walk past.

use std::time::{Duration, Instant};

use chrono::Utc;

use crate::{spawn_with, TestApp};
use ghostlink_cache::probe::ProbeStore;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0 ghostlink-tests";

async fn status(app: &TestApp, forwarded_for: Option<&str>) -> u16 {
    let mut req = app.client.get(app.url("/fw1")).header("user-agent", UA);
    if let Some(v) = forwarded_for {
        req = req.header("x-forwarded-for", v);
    }
    req.send().await.expect("get").status().as_u16()
}

/// Denies the client at `ip` (with the tests' user agent) and waits until the redirect's copy of
/// the deny set has it, checked with a request carrying `probe`.
async fn deny(app: &TestApp, ip: &str, probe: Option<&str>) {
    let redis = crate::redis_cache(app);
    let until = Utc::now().timestamp_millis() + 120_000;
    ProbeStore::sharing(&redis).flag_client(&crate::client_hash(ip, UA), until, true).await.expect("deny");
    let t = Instant::now();
    while status(app, probe).await != 429 {
        assert!(t.elapsed() < Duration::from_millis(2500), "{ip} not denied within 2.5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn trusting(proxies: &str) -> impl FnOnce(&mut ghostlink_redirect::Config) + '_ {
    move |c| c.proxy.trusted_proxies = proxies.to_owned()
}

#[tokio::test]
async fn a_forwarded_address_from_an_untrusted_peer_is_ignored() {
    // Nothing trusted (the default): the loopback peer is the client, whatever it claims.
    let app = spawn_with(trusting("")).await;
    app.link("fw1", "https://example.com/landing", |_| {});
    deny(&app, "127.0.0.1", None).await;
    for spoof in ["198.51.100.7", "198.51.100.7, 203.0.113.9", "unknown"] {
        assert_eq!(status(&app, Some(spoof)).await, 429, "spoofed {spoof} walked past the deny set");
    }
    app.stop().await;

    // Trusting another network does not make the loopback peer a proxy either.
    let app = spawn_with(trusting("10.0.0.0/8")).await;
    app.link("fw1", "https://example.com/landing", |_| {});
    deny(&app, "127.0.0.1", None).await;
    assert_eq!(status(&app, Some("198.51.100.7")).await, 429);
    app.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_right_most_untrusted_entry_is_the_client() {
    let app = spawn_with(trusting("127.0.0.1, 10.0.0.0/8")).await;
    app.link("fw1", "https://example.com/landing", |_| {});
    deny(&app, "203.0.113.50", Some("203.0.113.50")).await;
    // A proxy that appends (nginx's $proxy_add_x_forwarded_for): what the client wrote comes
    // first, the address the proxy saw last. Only the last one counts.
    assert_eq!(status(&app, Some("198.51.100.7, 203.0.113.50")).await, 429);
    assert_eq!(status(&app, Some("198.51.100.7")).await, 302);
    assert_eq!(status(&app, Some("203.0.113.50, 198.51.100.7")).await, 302, "left-most entry was believed");
    // Our own proxies in the chain are skipped; several headers are one list.
    assert_eq!(status(&app, Some("203.0.113.50, 10.1.2.3")).await, 429);
    let r = app
        .client
        .get(app.url("/fw1"))
        .header("user-agent", UA)
        .header("x-forwarded-for", "198.51.100.7")
        .header("x-forwarded-for", "203.0.113.50")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 429);
    // No header: the proxy itself is all we know.
    assert_eq!(status(&app, None).await, 302);
    app.stop().await;
}
