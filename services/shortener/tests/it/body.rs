//! Request bodies as a hostile client sends them: a refused token is answered before any body
//! byte arrives, only the identity `Content-Encoding` is accepted (nothing is inflated), the size
//! limit holds while a chunked body streams in, and a body trickled in too slowly is cut off
//! with 408. Every answer is the JSON error shape.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{error_code, spawn, spawn_with, TestApp};

/// What a raw request got back: the status and the JSON body (Null when not JSON).
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
}

/// Reads one response from `s`: `None` when nothing complete arrived within `within` (the
/// server is still waiting for something). The body is read by its Content-Length.
async fn read_answer(s: &mut (impl AsyncRead + Unpin), within: Duration) -> Option<Answer> {
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    let status = head.split(' ').nth(1)?.parse().ok()?;
                    let body = serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap_or(Value::Null);
                    return Some(Answer { status, body });
                }
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok().flatten()
}

fn head(path: &str, token: Option<&str>, headers: &[(&str, String)]) -> String {
    let mut h = format!("POST {path} HTTP/1.1\r\nHost: x\r\n");
    if let Some(t) = token {
        h.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h
}

/// A gzip member holding `data` in one stored (uncompressed) deflate block: a valid gzip body
/// without a compression library.
pub(crate) fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let crc = data.iter().fold(!0u32, |mut c, &b| {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
        c
    }) ^ !0;
    let len = u16::try_from(data.len()).expect("small body");
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x01];
    out.extend(len.to_le_bytes());
    out.extend((!len).to_le_bytes());
    out.extend(data);
    out.extend(crc.to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

#[tokio::test]
async fn a_refused_token_is_answered_before_any_body_byte_arrives() {
    let app = spawn().await;
    let bogus = ghostlink_domain::new_token(&mut rand::rngs::OsRng);
    let json = ("Content-Type", "application/json".to_string());
    // Declared bodies that are never sent: the answer must not wait for them.
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("1 MiB declared", vec![json.clone(), ("Content-Length", (1 << 20).to_string())]),
        ("8 KiB declared", vec![json.clone(), ("Content-Length", "8192".into())]),
        ("chunked, no chunk sent", vec![json.clone(), ("Transfer-Encoding", "chunked".into())]),
        ("gzip", vec![json.clone(), ("Content-Encoding", "gzip".into()), ("Content-Length", "5000".into())]),
        ("not JSON", vec![("Content-Type", "text/plain".into()), ("Content-Length", "100".into())]),
    ];
    let mut failures = vec![];
    for (what, headers) in &cases {
        for (who, token) in [("bogus token", Some(bogus.as_str())), ("no token", None)] {
            for path in ["/api/v1/links", "/api/v1/links/some-code"] {
                let mut s = TcpStream::connect(app.addr).await.expect("connect");
                let method_head = head(path, token, headers);
                let req = if path.ends_with("some-code") {
                    method_head.replacen("POST", "PATCH", 1)
                } else {
                    method_head
                };
                s.write_all(req.as_bytes()).await.expect("write head");
                match read_answer(&mut s, Duration::from_secs(5)).await {
                    Some(a) if a.status == 401 && a.body["error"]["code"] == "unauthorized" => {}
                    other => failures.push(format!("{what}, {who}, {path}: {other:?}")),
                }
            }
        }
    }
    assert!(failures.is_empty(), "want 401 without the body being sent:\n{}", failures.join("\n"));
    app.stop().await;
}

#[tokio::test]
async fn only_the_identity_content_encoding_is_accepted() {
    let app = spawn().await;
    let before = app.db.fingerprint("links");
    let body = serde_json::to_vec(&json!({"url": "https://gzip.example/"})).expect("json");
    for (encoding, payload) in [
        ("gzip", gzip_stored(&body)),
        ("x-gzip", gzip_stored(&body)),
        ("deflate", body.clone()),
        ("br", body.clone()),
        ("zstd", body.clone()),
        ("compress", body.clone()),
        ("gzip, identity", gzip_stored(&body)),
        ("identity, gzip", gzip_stored(&body)),
        ("x-custom", body.clone()),
        ("", body.clone()),
    ] {
        for (method, path) in [("POST", "/api/v1/links"), ("PATCH", "/api/v1/links/nope-code")] {
            let r = app
                .client
                .request(method.parse().expect("method"), app.url(path))
                .bearer_auth(&app.admin)
                .header("content-type", "application/json")
                .header("content-encoding", encoding)
                .body(payload.clone())
                .send()
                .await
                .expect("send");
            let status = r.status().as_u16();
            let b: Value = r.json().await.unwrap_or(Value::Null);
            assert_eq!(
                (status, b["error"]["code"].as_str()),
                (415, Some("unsupported_encoding")),
                "{method} {encoding:?}: {b}"
            );
        }
    }
    assert_eq!(app.db.fingerprint("links"), before, "an encoded body created a link");
    // The identity encoding, spelled out, is the plain body.
    for encoding in ["identity", "IDENTITY", " identity "] {
        let r = app
            .client
            .post(app.url("/api/v1/links"))
            .bearer_auth(&app.user)
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(body.clone())
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 201, "{encoding:?}");
    }
    app.stop().await;
}

/// Sends a chunked body of `chunks` chunks of 1 KiB and never ends it.
async fn unending_chunked(app: &TestApp, token: &str, chunks: usize) -> Option<Answer> {
    let mut s = TcpStream::connect(app.addr).await.expect("connect");
    let h = head(
        "/api/v1/links",
        Some(token),
        &[("Content-Type", "application/json".into()), ("Transfer-Encoding", "chunked".into())],
    );
    s.write_all(h.as_bytes()).await.expect("head");
    let json = format!("{{\"url\": \"https://a.example/{}", "a".repeat(chunks * 1024));
    let mut body = Vec::new();
    for c in json.as_bytes()[..chunks * 1024].chunks(1024) {
        body.extend(format!("{:x}\r\n", c.len()).into_bytes());
        body.extend(c);
        body.extend(b"\r\n");
    }
    // The server may answer and close before all of it is written.
    let _ = s.write_all(&body).await;
    read_answer(&mut s, Duration::from_secs(5)).await
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_as_it_streams() {
    let app = spawn().await;
    // 20 KiB of a body that never ends: answered once the 16 KiB limit is crossed.
    let a = unending_chunked(&app, &app.admin, 20).await.expect("an answer before the body ends");
    assert_eq!((a.status, error_code(&a.body).as_str()), (413, "payload_too_large"), "{a:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_trickled_body_is_cut_off_at_the_read_deadline() {
    let deadline = Duration::from_millis(400);
    let app = spawn_with(|c| c.body_read_timeout_ms = deadline.as_millis() as u64).await;
    let before = app.db.fingerprint("links");
    let body = br#"{"url": "https://trickle.example/a-long-enough-path-to-take-a-while"}"#;
    let mut s = TcpStream::connect(app.addr).await.expect("connect");
    let h = head(
        "/api/v1/links",
        Some(&app.user),
        &[("Content-Type", "application/json".into()), ("Content-Length", body.len().to_string())],
    );
    s.write_all(h.as_bytes()).await.expect("head");
    let (mut rd, mut wr) = s.into_split();
    let start = Instant::now();
    // One byte every 100 ms: the whole body would take about 7 s.
    let trickle = tokio::spawn(async move {
        for b in body {
            if wr.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // An answer within 20 s, or it waited for the whole body (about 7 s) and answered 201.
    let answer = read_answer(&mut rd, Duration::from_secs(20)).await;
    let took = start.elapsed();
    trickle.abort();
    let a = answer.expect("no answer to a trickled body");
    assert_eq!((a.status, error_code(&a.body).as_str()), (408, "body_timeout"), "after {took:?}: {a:?}");
    assert!(took >= deadline, "answered before the deadline: {took:?}");
    assert_eq!(app.db.fingerprint("links"), before);
    // A body sent at once is read well within the deadline.
    let (s, b) = app.create(&app.user, json!({"url": "https://prompt.example/"})).await;
    assert_eq!(s, 201, "{b}");
    let m = app.metrics().await;
    assert!(
        ghostlink_test_support::metric_value(
            &m,
            "http_request_bodies_refused_total",
            &[r#"reason="timeout""#]
        ) >= 1.0,
        "{m}"
    );
    app.stop().await;
}
