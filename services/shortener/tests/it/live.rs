//! Live click streams (server-sent events) against real RabbitMQ and Postgres: clicks are
//! published to the test's stream the way the redirect publishes them (packed, several per
//! message), and read back over real HTTP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ghostlink_bus::{pack, Publisher};
use ghostlink_domain::workspace::{MemberRole, Scope};
use ghostlink_proto::{ClickRecorded, Envelope};
use ghostlink_test_support::bus::{click, outgoing, publisher};
use ghostlink_test_support::metric_value;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::{error_code, spawn, spawn_with, TestApp};

/// One SSE frame.
#[derive(Debug)]
enum Frame {
    Event { id: String, data: Value },
    Comment(String),
}

/// A live stream read by a client that keeps up.
struct Sse {
    resp: reqwest::Response,
    buf: String,
}

impl Sse {
    async fn open(app: &TestApp, path: &str, token: &str, last_event_id: Option<&str>) -> Sse {
        let mut req = app.client.get(app.url(path)).bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status(), 200, "{path}");
        let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Sse { resp, buf: String::new() }
    }

    /// The next frame, or `None` if the stream ended or nothing came within `within`.
    async fn frame(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut data, mut comment) = (None, None, None);
                for line in block.lines() {
                    if let Some(c) = line.strip_prefix(": ") {
                        comment = Some(c.to_string());
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).expect("data is JSON"));
                    }
                }
                match (id, data, comment) {
                    (Some(id), Some(data), _) => return Some(Frame::Event { id, data }),
                    (_, _, Some(c)) => return Some(Frame::Comment(c)),
                    _ => continue,
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk()).await.ok()?.ok()??;
            self.buf.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next click event (comments skipped), or `None`.
    async fn event(&mut self, within: Duration) -> Option<(String, Value)> {
        let deadline = Instant::now() + within;
        loop {
            match self.frame(deadline.saturating_duration_since(Instant::now())).await? {
                Frame::Event { id, data } => return Some((id, data)),
                Frame::Comment(_) => {}
            }
        }
    }

    /// The next `n` click events; fails the test if they do not come.
    async fn events(&mut self, n: usize) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        while out.len() < n {
            let e = self.event(Duration::from_secs(10)).await;
            out.push(e.unwrap_or_else(|| panic!("{} of {n} events came: {out:?}", out.len())));
        }
        out
    }
}

/// A click on `code` with a user agent to tell it by.
fn tagged(code: &str, ua: &str) -> Envelope<ClickRecorded> {
    Envelope::new(
        "redirect",
        None,
        Utc::now(),
        ClickRecorded {
            user_agent: Some(ua.into()),
            referrer: Some("https://ref.example/".into()),
            ..click(code)
        },
    )
}

/// Publishes `clicks` packed into one message, as the redirect does.
async fn publish(p: &Publisher, clicks: &[Envelope<ClickRecorded>]) {
    let msgs: Vec<_> = clicks.iter().map(outgoing).collect();
    p.publish(&pack(&msgs, 250)).await.expect("publish");
}

fn uas(events: &[(String, Value)]) -> Vec<String> {
    events.iter().map(|(_, d)| d["user_agent"].as_str().unwrap_or_default().to_string()).collect()
}

async fn link(app: &TestApp, token: &str, alias: &str) {
    let (s, body) = app.create(token, json!({"url": "https://live.example/", "alias": alias})).await;
    assert_eq!(s, 201, "{body}");
}

/// Waits until the replica's stream reader delivers: a click on a link of its own, published
/// again until its stream shows one.
async fn warm_up(app: &TestApp, p: &Publisher) {
    link(app, &app.user, "warm-up").await;
    let mut sse = Sse::open(app, "/api/v1/links/warm-up/clicks/live", &app.user, None).await;
    for _ in 0..100 {
        publish(p, &[tagged("warm-up", "warm-up")]).await;
        if sse.event(Duration::from_millis(200)).await.is_some() {
            return;
        }
    }
    panic!("the live stream reader never delivered");
}

/// A shortener whose stream reader delivers, and a publisher to its broker.
async fn flowing(f: impl FnOnce(&mut ghostlink_shortener::Config)) -> (TestApp, Publisher) {
    let app = spawn_with(f).await;
    let p = publisher(&app.amqp);
    warm_up(&app, &p).await;
    (app, p)
}

async fn finish(app: TestApp, p: Publisher) {
    p.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_published_click_reaches_the_link_stream() {
    let (app, p) = flowing(|_| {}).await;
    link(&app, &app.user, "live-one").await;
    link(&app, &app.user, "live-other").await;
    let mut sse = Sse::open(&app, "/api/v1/links/live-one/clicks/live", &app.user, None).await;

    let started = Instant::now();
    publish(&p, &[tagged("live-other", "not this one"), tagged("live-one", "Mozilla/5.0 <\"live\">")]).await;
    let (id, data) = sse.event(Duration::from_secs(10)).await.expect("the click arrives");
    println!("click published → on the live stream in {:?}", started.elapsed());
    assert_eq!(data["code"], "live-one");
    assert_eq!(data["user_agent"], "Mozilla/5.0 <\"live\">", "as sent, escaped only as JSON is");
    assert_eq!(data["referrer"], "https://ref.example/");
    assert_eq!(data["outcome"], "redirect");
    assert_eq!(data["bot"], false);
    assert!(data["domain"].is_null() && data["rule"].is_null(), "{data}");
    assert!(data.get("occurred_at").and_then(Value::as_str).is_some(), "{data}");
    let text = data.to_string();
    assert!(!text.contains("client_hash") && !text.contains("0123456789abcdef"), "no client hash: {text}");
    // The other link's click came first in the same message: this is its second event.
    assert!(id.ends_with("-1"), "{id}");
    finish(app, p).await;
}

#[tokio::test]
async fn the_workspace_stream_shows_its_links_and_no_one_elses() {
    let (app, p) = flowing(|_| {}).await;
    let other = app.db.token("olga", "user");
    link(&app, &app.user, "ws-a1").await;
    link(&app, &app.user, "ws-a2").await;
    link(&app, &other, "ws-b1").await;
    let mut mine = Sse::open(&app, "/api/v1/workspace/clicks/live", &app.user, None).await;
    let mut theirs = Sse::open(&app, "/api/v1/workspace/clicks/live", &other, None).await;

    let batch = [
        tagged("ws-a1", "a1 first"),
        tagged("ws-b1", "b1"),
        tagged("no-such-link", "orphan"),
        tagged("ws-a2", "a2"),
    ];
    publish(&p, &batch).await;
    publish(&p, &[tagged("ws-b1", "b1 again"), tagged("ws-a1", "a1 last")]).await;
    let got = mine.events(3).await;
    assert_eq!(uas(&got), ["a1 first", "a2", "a1 last"], "in stream order, nothing of another workspace's");
    let codes: Vec<_> = got.iter().map(|(_, d)| d["code"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(codes, ["ws-a1", "ws-a2", "ws-a1"]);
    assert_eq!(uas(&theirs.events(2).await), ["b1", "b1 again"]);
    // The orphan visit is in no workspace's stream.
    publish(&p, &[tagged("no-such-link", "orphan again"), tagged("ws-a2", "marker")]).await;
    assert_eq!(uas(&mine.events(1).await), ["marker"]);
    finish(app, p).await;
}

#[tokio::test]
async fn last_event_id_resumes_with_exactly_the_events_after_it() {
    let (app, p) = flowing(|_| {}).await;
    link(&app, &app.user, "resume").await;
    let path = "/api/v1/links/resume/clicks/live";
    let mut first = Sse::open(&app, path, &app.user, None).await;
    publish(&p, &[tagged("resume", "1"), tagged("resume", "2"), tagged("resume", "3")]).await;
    publish(&p, &[tagged("resume", "4"), tagged("resume", "5")]).await;
    let seen = first.events(5).await;
    assert_eq!(uas(&seen), ["1", "2", "3", "4", "5"]);
    drop(first);
    // While nobody listens: more clicks, and other events between them.
    publish(&p, &[tagged("resume", "6"), tagged("elsewhere", "x")]).await;
    publish(&p, &[tagged("resume", "7")]).await;

    // Resuming after the second event, in the middle of a packed message.
    let mut resumed = Sse::open(&app, path, &app.user, Some(&seen[1].0)).await;
    let got = resumed.events(5).await;
    assert_eq!(uas(&got), ["3", "4", "5", "6", "7"]);
    assert_eq!(got[0].0, seen[2].0, "the same ids as before");
    assert_eq!(got[2].0, seen[4].0);
    // Caught up, it follows the feed without a repeat.
    publish(&p, &[tagged("resume", "8")]).await;
    assert_eq!(uas(&resumed.events(1).await), ["8"]);

    // From the last event seen: only what came after it.
    let mut tail = Sse::open(&app, path, &app.user, Some(&got[4].0)).await;
    publish(&p, &[tagged("resume", "9")]).await;
    assert_eq!(uas(&tail.events(2).await), ["8", "9"]);

    for bad in ["yesterday", "12", "-1-2", "1-2-3", "18446744073709551616-0"] {
        let r =
            app.client.get(app.url(path)).bearer_auth(&app.user).header("last-event-id", bad).send().await;
        let r = r.expect("request");
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(error_code(&body), "invalid_last_event_id");
    }
    finish(app, p).await;
}

#[tokio::test]
async fn a_reader_that_never_reads_is_dropped_and_the_others_keep_receiving() {
    let (app, p) = flowing(|c| c.live.live_buffer = 64).await;
    link(&app, &app.user, "slow").await;
    let dropped = || async { metric_value(&app.metrics().await, "live_subscribers_dropped_total", &[]) };
    let before = dropped().await;

    // A client that sends its request and then reads nothing.
    let mut stuck = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    let request = format!(
        "GET /api/v1/links/slow/clicks/live HTTP/1.1\r\nHost: sho.rt\r\nAuthorization: Bearer {}\r\n\r\n",
        app.user
    );
    stuck.write_all(request.as_bytes()).await.expect("send the request");
    let mut good = Sse::open(&app, "/api/v1/links/slow/clicks/live", &app.user, None).await;
    // Both joined once a click reaches the good one (the stuck one asked first).
    publish(&p, &[tagged("slow", "joined")]).await;
    assert_eq!(uas(&good.events(1).await), ["joined"]);

    // The good reader keeps up in a task of its own, counting what it gets.
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let reader = tokio::spawn(async move {
        while let Some((_, data)) = good.event(Duration::from_secs(30)).await {
            counter.fetch_add(1, Ordering::SeqCst);
            if data["user_agent"] == "marker" {
                return true;
            }
        }
        false
    });
    // Messages of 16 big clicks until the stuck reader is dropped (its socket buffers fill
    // first), each waited for by the good reader so that it never falls behind.
    let ua = "x".repeat(8 * 1024);
    let mut sent = 0u64;
    for _ in 0..400 {
        let batch: Vec<_> = (0..16).map(|_| tagged("slow", &ua)).collect();
        publish(&p, &batch).await;
        sent += 16;
        let deadline = Instant::now() + Duration::from_secs(10);
        while received.load(Ordering::SeqCst) < sent {
            assert!(
                Instant::now() < deadline,
                "the good reader fell behind: {} of {sent}",
                received.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if dropped().await > before {
            break;
        }
    }
    assert_eq!(dropped().await - before, 1.0, "the stuck reader was dropped, alone");
    println!("the stuck reader was dropped after {sent} clicks of 8 KiB");
    publish(&p, &[tagged("slow", "marker")]).await;
    assert!(reader.await.expect("reader task"), "the good reader got the marker after the drop");
    drop(stuck);
    finish(app, p).await;
}

#[tokio::test]
async fn live_streams_are_authorised_like_stats() {
    let app = spawn().await;
    link(&app, &app.user, "guarded").await;
    let other = app.db.token("oscar", "user");
    let (_, ws) = app.call("GET", "/api/v1/workspace", Some(&app.user), None).await;
    let ws_id = ws["id"].as_i64().expect("workspace id");
    let no_analytics = app.db.member_key(ws_id, "rita", MemberRole::Admin, Some(&[Scope::LinksRead]));
    let viewer = app.db.member_key(ws_id, "vic", MemberRole::Viewer, None);
    let link_path = "/api/v1/links/guarded/clicks/live";
    let ws_path = "/api/v1/workspace/clicks/live";
    let status = |path: &'static str, token: Option<String>| {
        let req = app.client.get(app.url(path));
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        async move {
            let r = req.send().await.expect("request");
            let s = r.status().as_u16();
            if s == 200 {
                return (s, String::new());
            }
            let body: Value = r.json().await.expect("an error body");
            (s, error_code(&body))
        }
    };
    for path in [link_path, ws_path] {
        assert_eq!(status(path, None).await, (401, "unauthorized".into()), "{path}");
        assert_eq!(status(path, Some("glk_not-a-key".into())).await.0, 401, "{path}");
        assert_eq!(status(path, Some(no_analytics.clone())).await, (403, "forbidden".into()), "{path}");
        assert_eq!(status(path, Some(viewer.clone())).await.0, 200, "a viewer reads analytics: {path}");
    }
    assert_eq!(status(ws_path, Some(other.clone())).await.0, 200, "its own workspace's stream");
    // Another workspace's link, a missing one, one on a domain it is not on: as missing.
    assert_eq!(status(link_path, Some(other.clone())).await, (404, "not_found".into()));
    assert_eq!(status("/api/v1/links/nothing-here/clicks/live", Some(app.user.clone())).await.0, 404);
    let on_domain = "/api/v1/links/guarded/clicks/live?domain=go.example";
    assert_eq!(status(on_domain, Some(app.user.clone())).await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn an_idle_stream_pings_and_ends_when_its_time_is_up() {
    let app = spawn_with(|c| {
        c.live.live_heartbeat_ms = 200;
        c.live.live_max_stream_secs = 1;
    })
    .await;
    let mut sse = Sse::open(&app, "/api/v1/workspace/clicks/live", &app.user, None).await;
    let mut comments = Vec::new();
    while let Some(frame) = sse.frame(Duration::from_secs(10)).await {
        match frame {
            Frame::Comment(c) => comments.push(c),
            Frame::Event { id, .. } => panic!("no click was published, yet {id} came"),
        }
    }
    assert!(comments.iter().any(|c| c == "ping"), "{comments:?}");
    assert!(comments.last().is_some_and(|c| c.contains("time is up")), "{comments:?}");
    app.stop().await;
}

#[tokio::test]
async fn shutting_down_ends_open_streams_and_says_so() {
    let app = spawn().await;
    link(&app, &app.user, "closing").await;
    let mut streams = vec![
        Sse::open(&app, "/api/v1/links/closing/clicks/live", &app.user, None).await,
        Sse::open(&app, "/api/v1/workspace/clicks/live", &app.user, None).await,
    ];
    let stopping = tokio::spawn(app.stop());
    for sse in &mut streams {
        let mut last = None;
        while let Some(frame) = sse.frame(Duration::from_secs(20)).await {
            if let Frame::Comment(c) = frame {
                last = Some(c);
            }
        }
        assert!(last.as_deref().is_some_and(|c| c.contains("shutting down")), "{last:?}");
    }
    stopping.await.expect("stopped");
}

#[tokio::test]
async fn the_stream_reader_reattaches_after_a_broker_cut_and_misses_nothing() {
    let proxy = ghostlink_test_support::CutProxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    let url = proxy.amqp_url();
    let app = spawn_with(|c| c.amqp.amqp_url = url.clone()).await;
    // The test publishes past the proxy, straight to the broker.
    let p =
        Publisher::new(ghostlink_test_support::amqp_url(), ghostlink_test_support::bus::topology(&app.amqp));
    warm_up(&app, &p).await;
    link(&app, &app.user, "cut").await;
    let mut sse = Sse::open(&app, "/api/v1/links/cut/clicks/live", &app.user, None).await;
    publish(&p, &[tagged("cut", "before")]).await;
    assert_eq!(uas(&sse.events(1).await), ["before"]);

    // The replica loses the broker for a while; clicks go on being published.
    proxy.cut();
    publish(&p, &[tagged("cut", "during 1"), tagged("elsewhere", "x")]).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    publish(&p, &[tagged("cut", "during 2")]).await;
    proxy.restore();
    // The reader reattaches after the last offset it read: every click once, in order.
    assert_eq!(uas(&sse.events(2).await), ["during 1", "during 2"]);
    publish(&p, &[tagged("cut", "after")]).await;
    assert_eq!(uas(&sse.events(1).await), ["after"]);
    finish(app, p).await;
}
