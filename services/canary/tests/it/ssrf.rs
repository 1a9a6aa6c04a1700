//! The default policy: no spelling of an internal address is ever connected to, on the first
//! request or on a redirect hop, and a sentinel listening there sees zero connections.

use ghostlink_canary::probe::{Failure, Outcome};

use crate::servers::{Reply, TestServer};

#[tokio::test]
async fn the_default_blocks_every_internal_address_with_zero_connections() {
    let sentinel = TestServer::sentinel("127.0.0.1:0").await;
    let p = sentinel.addr.port();
    let v6 = match tokio::net::TcpListener::bind("[::1]:0").await {
        Ok(l) => {
            drop(l);
            Some(TestServer::sentinel(&format!("[::1]:{p}")).await)
        }
        Err(_) => None, // no IPv6 loopback on this machine; the v6 URLs are still refused
    };
    let prober = crate::prober("false");
    let urls = [
        format!("http://127.0.0.1:{p}/"),
        format!("http://127.1:{p}/"),
        format!("http://2130706433:{p}/"),
        format!("http://0x7f000001:{p}/"),
        format!("http://0x7f.1:{p}/"),
        format!("http://0177.0.0.1:{p}/"),
        format!("http://127.0.0.1.:{p}/"),
        format!("http://localhost:{p}/"),
        format!("http://0.0.0.0:{p}/"),
        format!("http://0:{p}/"),
        format!("http://[::1]:{p}/"),
        format!("http://[::ffff:127.0.0.1]:{p}/"),
        format!("http://[::ffff:7f00:1]:{p}/"),
        format!("http://[::]:{p}/"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/".to_string(),
        "http://172.16.5.4/".to_string(),
        "http://192.168.1.1/".to_string(),
        "http://100.64.0.1/".to_string(),
        "http://224.0.0.1/".to_string(),
        "http://[fe80::1]/".to_string(),
        "http://[fc00::1]/".to_string(),
        "http://[fd00:ec2::254]/".to_string(),
        format!("https://127.0.0.1:{p}/"),
    ];
    for url in &urls {
        let r = prober.probe(url).await;
        assert_eq!(r.outcome, Outcome::Blocked, "{url}: {r:?}");
        assert_eq!(r.error.map(|e| e.failure), Some(Failure::PrivateAddress), "{url}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(sentinel.accepted(), 0, "a connection reached the IPv4 sentinel");
    if let Some(v6) = &v6 {
        assert_eq!(v6.accepted(), 0, "a connection reached the IPv6 sentinel");
    }
    sentinel.stop();
    if let Some(v6) = v6 {
        v6.stop();
    }
}

#[tokio::test]
async fn every_redirect_hop_is_checked_again() {
    // 127.0.0.2 is loopback too, but outside the one address the test allows.
    let sentinel = match tokio::net::TcpListener::bind("127.0.0.2:0").await {
        Ok(l) => {
            let a = l.local_addr().expect("addr");
            drop(l);
            TestServer::sentinel(&a.to_string()).await
        }
        Err(e) => panic!("cannot bind 127.0.0.2 (Linux loopback is a /8): {e}"),
    };
    let target = format!("http://{}/secret", sentinel.addr);
    let decimal = format!("http://2130706434:{}/secret", sentinel.addr.port());
    let t2 = target.clone();
    let origin = TestServer::start("127.0.0.1:0", move |_, path| match path {
        "/to-private" => Reply::redirect(&t2),
        "/to-decimal" => Reply::redirect(&decimal),
        "/to-metadata" => Reply::redirect("http://169.254.169.254/latest/meta-data/"),
        "/to-file" => Reply::redirect("file:///etc/passwd"),
        _ => Reply::status(200),
    })
    .await;
    let prober = crate::prober("127.0.0.1/32");
    for path in ["/to-private", "/to-decimal", "/to-metadata", "/to-file"] {
        let r = prober.probe(&format!("http://{}{path}", origin.addr)).await;
        assert_eq!(r.outcome, Outcome::Blocked, "{path}: {r:?}");
        let want = if path == "/to-file" { Failure::SchemeNotProbed } else { Failure::PrivateAddress };
        assert_eq!(r.error.as_ref().map(|e| e.failure), Some(want), "{path}");
        assert_eq!(r.redirects.len(), 1, "{path}: the hop is recorded");
    }
    // The origin itself is allowed and answered: the check is per hop, not per link.
    assert!(origin.accepted() >= 4);
    assert_eq!(sentinel.accepted(), 0, "a redirect hop reached a refused address");
    origin.stop();
    sentinel.stop();
}
