//! Hostile input against the running redirect: CR/LF and unicode in destinations (what the
//! shortener's rules let through, and rows tampered with behind its back), path traversal,
//! encoded NULs, overlong codes, every method. No answer is a 5xx, no `Location` carries a
//! control character or injects a header, and nothing is written.
//!
//! Services never depend on each other, so links are stored the way the shortener stores them:
//! through `ghostlink_domain::normalize_url`, the function its create handler calls.

use ghostlink_domain::normalize_url;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde_json::Value;

use crate::{spawn, TestApp};

/// Destinations a client may send to the shortener's API.
const SUBMITTED: &[&str] = &[
    "https://example.com/a\r\nSet-Cookie: pwned=1",
    "https://example.com/a%0d%0aSet-Cookie:%20pwned=1",
    "https://example.com/%0D%0ALocation:%20https://evil.example/",
    "https://example.com/a\nX-Injected: 1",
    "https://example.com/\u{0}",
    "https://example.com/\u{2028}x",
    "https://example.com/\u{85}x",
    "https://bücher.example/päth?q=ü#frag",
    "https://example.com/\u{202e}gpj.exe",
    "https://ex\u{200b}ample.com/",
    "https://example.com/<script>alert(1)</script>",
    "https://example.com/\"onmouseover=\"alert(1)",
    "https://example.com/%00",
    "https://user:pa%0d%0ass@example.com/",
    "https://example.com:443/../../etc/passwd",
    "https://example.com/..%2f..%2f",
    "https://example.com/?q=%0d%0a%0d%0a<html>",
    "https://[::ffff:127.0.0.1]/",
    "HTTPS://EXAMPLE.COM/Path",
    "javascript:alert(1)",
];

/// Stored values no API call can produce: rows changed behind the shortener's back.
const TAMPERED: &[&str] = &[
    "https://example.com/a\r\nSet-Cookie: pwned=1",
    "https://example.com/a\nX-Injected: 1",
    "https://example.com/a\rX-Injected: 1",
    "https://example.com/\u{7f}",
    "https://example.com/\t",
    "https://example.com/ space",
    " https://example.com/",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example/",
    "/relative",
    "",
    "https://example.com/é",
    "https://example.com/\u{2028}",
];

#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<Vec<u8>>,
    headers: Vec<String>,
    body: String,
}

async fn ask(app: &TestApp, method: &str, path: &str, json: bool) -> Answer {
    let mut req = app.client.request(method.parse().expect("method"), app.url(path));
    if json {
        req = req.header("accept", "application/json");
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    Answer {
        status: resp.status().as_u16(),
        location: resp.headers().get(LOCATION).map(|v| v.as_bytes().to_vec()),
        headers: resp.headers().keys().map(|k| k.as_str().to_owned()).collect(),
        body: resp.text().await.unwrap_or_default(),
    }
}

/// What must hold for every answer, whatever was asked.
fn check(what: &str, a: &Answer, failures: &mut Vec<String>) {
    let mut bad = vec![];
    if a.status >= 500 {
        bad.push("5xx".to_string());
    }
    for h in &a.headers {
        if ["set-cookie", "x-injected"].contains(&h.as_str()) {
            bad.push(format!("injected header {h}"));
        }
    }
    if let Some(loc) = &a.location {
        if loc.iter().any(|b| *b < 0x20 || *b == 0x7f) {
            bad.push(format!("control character in Location {:?}", String::from_utf8_lossy(loc)));
        }
        let lower = String::from_utf8_lossy(loc).to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            bad.push(format!("Location is not http(s): {lower:?}"));
        }
        if !(300..400).contains(&a.status) {
            bad.push("Location on a non-redirect".into());
        }
    }
    if !bad.is_empty() {
        failures.push(format!(
            "{what} -> {} {:?}: {}",
            a.status,
            a.location.as_deref().map(String::from_utf8_lossy),
            bad.join("; ")
        ));
    }
}

#[tokio::test]
async fn hostile_destinations_never_inject_headers() {
    let app = spawn().await;
    // Stored as the shortener would: only what normalize_url accepts, in its normalised form.
    let mut accepted = vec![];
    for (i, raw) in SUBMITTED.iter().enumerate() {
        if let Ok(url) = normalize_url(raw) {
            let code = format!("sub{i:02}");
            app.link(&code, &url, |_| {});
            accepted.push((code, url));
        }
    }
    assert!(accepted.len() >= 8, "the corpus should exercise accepted URLs too: {accepted:?}");
    let mut tampered = vec![];
    for (i, url) in TAMPERED.iter().enumerate() {
        let code = format!("tam{i:02}");
        app.link(&code, url, |_| {});
        tampered.push((code, *url));
    }
    let before = app.db.fingerprint("links");

    let mut failures = vec![];
    for (code, url) in &accepted {
        for json in [false, true] {
            let a = ask(&app, "GET", &format!("/{code}"), json).await;
            check(&format!("GET /{code} ({url:?})"), &a, &mut failures);
            // What the API stored is what the redirect sends, byte for byte.
            if a.status != 302 || a.location.as_deref() != Some(url.as_bytes()) {
                failures.push(format!("GET /{code}: {} {:?}, want 302 to {url:?}", a.status, a.location));
            }
            let a = ask(&app, "HEAD", &format!("/{code}"), json).await;
            check(&format!("HEAD /{code}"), &a, &mut failures);
        }
    }
    for (code, url) in &tampered {
        for json in [false, true] {
            let a = ask(&app, "GET", &format!("/{code}"), json).await;
            check(&format!("GET /{code} (tampered {url:?})"), &a, &mut failures);
            let unsafe_url = ghostlink_domain::safe_location(url).is_none();
            if unsafe_url && (a.status != 410 || a.location.is_some()) {
                failures.push(format!(
                    "GET /{code} (tampered {url:?}) -> {} {:?}, want 410",
                    a.status, a.location
                ));
            }
            if unsafe_url && json {
                let body: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
                if !body["error"]["code"].is_string() {
                    failures.push(format!("GET /{code} (json): not the error shape: {}", a.body));
                }
            }
        }
    }
    assert!(failures.is_empty(), "redirect answers broke the rules:\n{}", failures.join("\n"));
    assert_eq!(app.db.fingerprint("links"), before, "following links changed them");
    app.stop().await;
}

const HOSTILE_PATHS: &[&str] = &[
    "/..%2f..%2fetc%2fpasswd",
    "/%2e%2e/",
    "/%2e%2e",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/..;/",
    "/%00",
    "/abc%00",
    "/%0d%0aSet-Cookie:%20pwned=1",
    "/abc%0d%0aX-Injected:%201",
    "/%ff%fe",
    "/%",
    "/%zz",
    "/%c0%ae%c0%ae",
    "/%E2%80%AE",
    "/good1%2f",
    "/good1/",
    "/good1/..",
    "/good1/../good1",
    "/good1?%0d%0aSet-Cookie:%20pwned=1",
    "/good1#frag",
    "/good1;param",
    "/GOOD1",
    "/api/v1/links",
    "/healthz",
    "/metrics",
    "//good1",
    "/\u{e9}",
];

#[tokio::test]
async fn hostile_paths_methods_and_overlong_codes() {
    let app = spawn().await;
    app.link("good1", "https://example.com/ok", |_| {});
    let before = app.db.fingerprint("links");
    let long: Vec<String> = [65, 300, 4000].iter().map(|n| format!("/{}", "a".repeat(*n))).collect();
    let mut failures = vec![];
    for path in HOSTILE_PATHS.iter().copied().chain(long.iter().map(String::as_str)) {
        for json in [false, true] {
            let a = ask(&app, "GET", path, json).await;
            check(&format!("GET {path}"), &a, &mut failures);
            // The query and fragment are not part of the code; the client resolves `..` itself.
            let redirect_ok =
                matches!(path, "/good1?%0d%0aSet-Cookie:%20pwned=1" | "/good1#frag" | "/good1/../good1");
            let want_ok = (400..500).contains(&a.status) || (redirect_ok && a.status == 302);
            if !want_ok {
                failures.push(format!("GET {path}: {} (want 4xx)", a.status));
            }
            if json && (400..500).contains(&a.status) {
                let body: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
                if !body["error"]["code"].is_string() || !body["error"]["message"].is_string() {
                    failures.push(format!(
                        "GET {path} (json) -> {}: not the error shape: {:.200}",
                        a.status, a.body
                    ));
                }
            }
        }
    }
    // Every method on the one route and on others.
    for path in ["/good1", "/nope404", "/", "/a/b", "/%2e%2e/"] {
        for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"] {
            let resp = app
                .client
                .request(method.parse().expect("method"), app.url(path))
                .header("accept", "application/json")
                .header(CONTENT_TYPE, "application/json")
                .body(r#"{"url":"https://evil.example/"}"#)
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            let allow = resp.headers().get("allow").is_some();
            let a = Answer {
                status,
                location: resp.headers().get(LOCATION).map(|v| v.as_bytes().to_vec()),
                headers: resp.headers().keys().map(|k| k.as_str().to_owned()).collect(),
                body: resp.text().await.unwrap_or_default(),
            };
            check(&format!("{method} {path}"), &a, &mut failures);
            let want: &[u16] = match (method, path) {
                ("GET" | "HEAD", "/good1") => &[302],
                ("GET" | "HEAD", _) => &[404],
                (_, "/good1" | "/nope404") => &[405],
                _ => &[404, 405],
            };
            if !want.contains(&status) {
                failures.push(format!("{method} {path}: {status}, want {want:?}"));
            }
            if status == 405 && !allow {
                failures.push(format!("{method} {path}: 405 without Allow"));
            }
            if method != "HEAD" && status >= 400 {
                let body: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
                if !body["error"]["code"].is_string() {
                    failures.push(format!("{method} {path}: not the error shape: {:.200}", a.body));
                }
            }
        }
    }
    assert!(failures.is_empty(), "hostile requests answered badly:\n{}", failures.join("\n"));
    assert_eq!(app.db.fingerprint("links"), before, "a hostile request changed the links");
    app.stop().await;
}
