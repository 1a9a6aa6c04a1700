//! A redirect's click on the shortener's live stream, with the real binaries: the redirect
//! publishes the click to RabbitMQ, the shortener's stream reader fans it out to the SSE
//! client. The time from the redirect's answer to the event is printed.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use ghostlink_test_support::{amqp_args, delete_topology, service_env, TestDb};
use serde_json::{json, Value};

use crate::pipeline::{start, stop};

/// A base port with `n` free ports from it, below the kernel's ephemeral range (32768 up) and
/// apart from the other tests' ranges (10000–59999), checked by binding each.
fn free_ports(n: u16) -> u16 {
    let first = 1100 + (std::process::id() % 1000) as u16 * 8;
    (0..1000u16)
        .map(|i| 1100 + (first - 1100 + i * 8) % 8000)
        .find(|&base| (base..base + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()))
        .expect("free ports")
}

async fn until_up(url: &str) {
    let t = Instant::now();
    while reqwest::get(url).await.is_err() {
        assert!(t.elapsed() < Duration::from_secs(30), "{url} never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The data of the next click event on `resp` (SSE), or `None` within `within`.
async fn next_click(resp: &mut reqwest::Response, buf: &mut String, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                return Some(serde_json::from_str(data).expect("JSON data"));
            }
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk()).await.ok()?.ok()??;
        buf.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
    }
}

#[tokio::test]
async fn a_redirect_shows_on_the_live_stream() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let port = free_ports(4);
    let common = |ops: u16, listen: u16| {
        let mut env = service_env(&db, &amqp);
        env.extend([
            ("REDIS_KEY_PREFIX", format!("{}:", amqp.bus_prefix)),
            ("OPS_LISTEN_ADDR", format!("127.0.0.1:{ops}")),
            ("LISTEN_ADDR", format!("127.0.0.1:{listen}")),
            ("LOG_LEVEL", "error".into()),
        ]);
        env
    };
    let mut senv = common(port + 1, port);
    senv.push(("ADMIN_LISTEN_ADDR", "127.0.0.1:0".into()));
    senv.push(("PUBLIC_BASE_URL", "http://sho.rt".into()));
    let shortener = start("ghostlink-shortener", &senv);
    let mut renv = common(port + 3, port + 2);
    let spool = std::env::temp_dir().join(format!("gl-live-{}", amqp.bus_prefix));
    renv.push(("SPOOL_DIR", spool.display().to_string()));
    renv.push(("CLICK_SALT", "live-test-salt".into()));
    let redirect = start("ghostlink-redirect", &renv);
    let api = format!("http://127.0.0.1:{port}");
    let short = format!("http://127.0.0.1:{}", port + 2);
    until_up(&format!("{api}/api/v1/openapi.json")).await;
    until_up(&format!("{short}/")).await;

    let token = db.token("lena", "user");
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = client
        .post(format!("{api}/api/v1/links"))
        .bearer_auth(&token)
        .json(&json!({"url": "https://live.example/landing", "alias": "live-e2e"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let mut sse = client
        .get(format!("{api}/api/v1/links/live-e2e/clicks/live"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("open the stream");
    assert_eq!(sse.status(), 200);
    let mut buf = String::new();
    let follow = |ua: &'static str| {
        let req = client.get(format!("{short}/live-e2e")).header("user-agent", ua);
        async move {
            let r = req.send().await.expect("redirect");
            assert_eq!(r.status(), 302);
        }
    };
    // Until the shortener's reader is attached and flowing, a click may be missed: follow the
    // link until one shows; then time one.
    let mut warm = false;
    for _ in 0..60 {
        follow("warm-up").await;
        if next_click(&mut sse, &mut buf, Duration::from_millis(500)).await.is_some() {
            warm = true;
            break;
        }
    }
    assert!(warm, "no redirect ever reached the live stream");
    while next_click(&mut sse, &mut buf, Duration::from_millis(300)).await.is_some() {}

    follow("Timed/1.0").await;
    let answered = Instant::now();
    let click = next_click(&mut sse, &mut buf, Duration::from_secs(10)).await.expect("the click arrives");
    println!("redirect answered → click on the live stream in {:?}", answered.elapsed());
    assert_eq!(click["code"], "live-e2e");
    assert_eq!(click["user_agent"], "Timed/1.0");
    assert_eq!(click["outcome"], "redirect");
    drop(sse);
    stop(redirect);
    stop(shortener);
    let _ = std::fs::remove_dir_all(&spool);
    delete_topology(&amqp.bus_prefix).await;
}
