//! The ghost-probe's deny set: a denied client gets 429 within about two seconds, others still
//! redirect, and an entry stops applying when it expires.

use std::time::{Duration, Instant};

use chrono::Utc;
use ghostlink_cache::{CacheSettings, RedisCache};

use crate::spawn;
use ghostlink_cache::probe::ProbeStore;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0 ghostlink-tests";

/// The hash the redirect computes for a loopback client with this user agent.
fn client_hash(ua: &str) -> String {
    ghostlink_domain::hash_client("test-salt-123", &format!("127.0.0.1\u{0}{ua}"))
}

async fn status(app: &crate::TestApp, ua: &str, path: &str) -> u16 {
    let r = app.client.get(app.url(path)).header("user-agent", ua).send().await.expect("get");
    r.status().as_u16()
}

#[tokio::test]
async fn denied_clients_get_429_and_others_still_redirect() {
    let app = spawn().await;
    app.link("dn1", "https://example.com/landing", |_| {});
    assert_eq!(status(&app, UA, "/dn1").await, 302);
    let redis = RedisCache::new(CacheSettings {
        url: app.redis.redis_url.clone(),
        timeout: Duration::from_secs(1),
        key_prefix: app.redis.redis_key_prefix.clone(),
        pool_size: 2,
        ttl: Duration::from_secs(60),
        negative_ttl: Duration::from_secs(2),
        breaker_open: Duration::from_millis(100),
    })
    .expect("redis");

    let until = Utc::now().timestamp_millis() + 120_000;
    ProbeStore::sharing(&redis).flag_client(&client_hash(UA), until, true).await.expect("deny");
    let t = Instant::now();
    while status(&app, UA, "/dn1").await != 429 {
        assert!(t.elapsed() < Duration::from_millis(2500), "not denied within 2.5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The error shape the redirect uses elsewhere: JSON when asked for, HTML otherwise.
    let r = app.client.get(app.url("/dn1")).header("accept", "application/json").send().await.expect("get");
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=120).contains(&retry), "{retry}");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "denied");
    let r = app.client.get(app.url("/dn1")).send().await.expect("get");
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));
    // Unknown codes too: the deny comes before any lookup.
    assert_eq!(status(&app, UA, "/nosuchcode").await, 429);

    // Another client (same address, another user agent) is not affected.
    let other = "Mozilla/5.0 (Macintosh) Safari/17.0";
    assert_eq!(status(&app, other, "/dn1").await, 302);

    // An entry expires on its own score: the other client, denied for 3 s (the copy is
    // refreshed every second; the bounds leave room for a loaded CI machine).
    let t = Instant::now();
    ProbeStore::sharing(&redis)
        .flag_client(&client_hash(other), Utc::now().timestamp_millis() + 3000, true)
        .await
        .expect("deny");
    while status(&app, other, "/dn1").await != 429 {
        assert!(t.elapsed() < Duration::from_millis(2500), "short entry never applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(3200).saturating_sub(t.elapsed())).await;
    assert_eq!(status(&app, other, "/dn1").await, 302);

    let m = app.metrics().await;
    assert!(
        ghostlink_test_support::metric_value(&m, "redirect_responses_total", &[r#"outcome="denied""#]) >= 4.0
    );
    let _ = redis.flush_prefix().await;
    app.stop().await;
}

#[tokio::test]
async fn a_denied_address_is_refused_whatever_its_user_agent() {
    let app = spawn().await;
    app.link("dn2", "https://example.com/landing", |_| {});
    assert_eq!(status(&app, UA, "/dn2").await, 302);
    // What ghost-probe denies when a client rotates its user agent: the address alone.
    let address = ghostlink_domain::hash_client("test-salt-123", "127.0.0.1");
    let redis = crate::redis_cache(&app);
    ProbeStore::sharing(&redis)
        .flag_client(&address, Utc::now().timestamp_millis() + 120_000, true)
        .await
        .expect("deny");
    let t = Instant::now();
    while status(&app, UA, "/dn2").await != 429 {
        assert!(t.elapsed() < Duration::from_millis(2500), "address not denied within 2.5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for ua in ["Mozilla/5.0 (Macintosh) Safari/17.0", "curl/8.4.0", "rotated-agent/42"] {
        assert_eq!(status(&app, ua, "/dn2").await, 429, "{ua}");
    }
    let _ = redis.flush_prefix().await;
    app.stop().await;
}

#[tokio::test]
async fn click_events_carry_the_address_hash_beside_the_client_hash() {
    let app = spawn().await;
    app.link("dn3", "https://example.com/landing", |_| {});
    for ua in [UA, "curl/8.4.0"] {
        assert_eq!(status(&app, ua, "/dn3").await, 302);
    }
    let (_db, amqp) = app.stop_keep_bus().await;
    let events = crate::published_clicks(&amqp).await;
    let mine: Vec<_> = events.iter().filter(|e| e.data.code == "dn3").collect();
    assert_eq!(mine.len(), 2);
    let address = ghostlink_domain::hash_client("test-salt-123", "127.0.0.1");
    assert!(mine.iter().all(|e| e.data.address_hash.as_deref() == Some(address.as_str())), "{mine:?}");
    assert_ne!(mine[0].data.client_hash, mine[1].data.client_hash, "one client per user agent");
    assert_eq!(mine[0].data.client_hash, client_hash(UA));
    ghostlink_test_support::delete_topology(&amqp.bus_prefix).await;
}
