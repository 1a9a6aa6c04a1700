//! Hostile input against the running shortener: malformed and oversized JSON, wrong content
//! types, unicode, NUL and CR/LF in fields, path traversal, overlong codes, every method on
//! every route, raw HTTP garbage. Every answer is a 4xx (or the documented 2xx for a valid
//! call) with the JSON error shape, never a 5xx, and the database is unchanged afterwards.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{error_code, spawn, TestApp};

/// What must not change: links (every column), and the number of outbox events and tokens.
#[derive(Debug, PartialEq)]
struct Snapshot {
    links: (i64, String),
    outbox: i64,
    tokens: i64,
}

fn snapshot(app: &TestApp) -> Snapshot {
    Snapshot {
        links: app.db.fingerprint("links"),
        outbox: app.db.fingerprint("outbox").0,
        tokens: app.db.fingerprint("api_tokens").0,
    }
}

/// Sends raw bytes as the body with the given content type (None: no header).
async fn send_raw(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Option<String>, Value) {
    let mut req = app.client.request(method.parse().expect("method"), app.url(path)).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let ct = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = resp.text().await.expect("body");
    (status, ct, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts an API error answer: the status, the JSON content type and body shape, the code.
fn assert_error(what: &str, got: &(u16, Option<String>, Value), status: u16, code: &str) {
    let (s, ct, body) = got;
    assert_eq!(*s, status, "{what}: status (body {body})");
    assert!(ct.as_deref().is_some_and(|c| c.starts_with("application/json")), "{what}: content type {ct:?}");
    assert_eq!(error_code(body), code, "{what}: {body}");
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_bodies_are_refused_and_write_nothing() {
    let app = spawn().await;
    let (s, link) = app.create(&app.admin, json!({"url": "https://keep.example/", "alias": "keep-me"})).await;
    assert_eq!(s, 201, "{link}");
    let before = snapshot(&app);
    let json = Some("application/json");
    let admin = Some(app.admin.as_str());

    let deep = format!("{}{}", "[".repeat(8000), "]".repeat(8000));
    let deep_obj = format!("{}1{}", r#"{"a":"#.repeat(2000), "}".repeat(2000));
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("empty body", b"".to_vec(), 400, "malformed_json"),
        ("open brace", b"{".to_vec(), 400, "malformed_json"),
        ("truncated", br#"{"url": "https://a.example/"#.to_vec(), 400, "malformed_json"),
        ("trailing comma", br#"{"url": "https://a.example/",}"#.to_vec(), 400, "malformed_json"),
        ("trailing garbage", br#"{"url": "https://a.example/"}}"#.to_vec(), 400, "malformed_json"),
        (
            "two documents",
            br#"{"url": "https://a.example/"} {"url": "https://b.example/"}"#.to_vec(),
            400,
            "malformed_json",
        ),
        ("single quotes", b"{'url': 'https://a.example/'}".to_vec(), 400, "malformed_json"),
        ("byte order mark", b"\xef\xbb\xbf{\"url\": \"https://a.example/\"}".to_vec(), 400, "malformed_json"),
        (
            "invalid UTF-8 in a string",
            b"{\"url\": \"https://a.example/\xff\xfe\"}".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "UTF-16",
            "{\"url\":\"https://a.example/\"}".encode_utf16().flat_map(u16::to_le_bytes).collect(),
            400,
            "malformed_json",
        ),
        ("lone surrogate escape", br#"{"url": "https://a.example/\ud800"}"#.to_vec(), 400, "malformed_json"),
        (
            "number out of range",
            br#"{"url": "https://a.example/", "max_clicks": 1e999}"#.to_vec(),
            400,
            "malformed_json",
        ),
        ("NaN", br#"{"url": "https://a.example/", "max_clicks": NaN}"#.to_vec(), 400, "malformed_json"),
        ("deeply nested array", deep.into_bytes(), 400, "malformed_json"),
        ("deeply nested object", deep_obj.into_bytes(), 400, "malformed_json"),
        ("null", b"null".to_vec(), 400, "malformed_json"),
        ("array", br#"[{"url": "https://a.example/"}]"#.to_vec(), 400, "malformed_json"),
        ("string", br#""https://a.example/""#.to_vec(), 400, "malformed_json"),
        ("number", b"42".to_vec(), 400, "malformed_json"),
        ("NUL byte outside strings", b"{\"url\": \0\"https://a.example/\"}".to_vec(), 400, "malformed_json"),
        ("raw NUL in a string", b"{\"url\": \"https://a.example/\0\"}".to_vec(), 400, "malformed_json"),
        (
            "raw CR LF in a string",
            b"{\"url\": \"https://a.example/\r\nSet-Cookie: a=b\"}".to_vec(),
            400,
            "malformed_json",
        ),
    ];
    for (what, body, status, code) in cases {
        let got = send_raw(&app, "POST", "/api/v1/links", admin, json, body).await;
        assert_error(&format!("POST {what}"), &got, status, code);
    }

    // Bigger than the 16 KiB body limit, with and without a Content-Length.
    for size in [16 * 1024 + 1, 64 * 1024, 1024 * 1024] {
        let url = format!("https://a.example/{}", "a".repeat(size));
        let body = serde_json::to_vec(&json!({ "url": url })).expect("json");
        let got = send_raw(&app, "POST", "/api/v1/links", admin, json, body.clone()).await;
        assert_error(&format!("{size} bytes"), &got, 413, "payload_too_large");
        let got = send_raw(&app, "PATCH", "/api/v1/links/keep-me", admin, json, body.clone()).await;
        assert_error(&format!("PATCH {size} bytes"), &got, 413, "payload_too_large");
        // Chunked, so the server only learns the size while reading.
        let mut chunked = format!(
            "POST /api/v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            app.admin
        )
        .into_bytes();
        for c in body.chunks(4096) {
            chunked.extend(format!("{:x}\r\n", c.len()).into_bytes());
            chunked.extend(c);
            chunked.extend(b"\r\n");
        }
        chunked.extend(b"0\r\n\r\n");
        let line = raw_http(&app, &chunked).await;
        assert!(line.starts_with("HTTP/1.1 413"), "chunked {size} bytes: {line:?}");
    }

    // Wrong or missing content types on a valid body.
    let valid = br#"{"url": "https://a.example/"}"#.to_vec();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/xml"),
        Some("json"),
        Some(""),
        Some("application/javascript"),
        Some("*/*"),
    ] {
        let got = send_raw(&app, "POST", "/api/v1/links", admin, ct, valid.clone()).await;
        assert_error(&format!("content type {ct:?}"), &got, 415, "unsupported_media_type");
        let got =
            send_raw(&app, "PATCH", "/api/v1/links/keep-me", admin, ct, br#"{"status":"disabled"}"#.to_vec())
                .await;
        assert_error(&format!("PATCH content type {ct:?}"), &got, 415, "unsupported_media_type");
    }

    // Fields that break a rule: unicode, NUL, CR/LF, traversal, wrong types, out of range.
    let long_url = format!("https://a.example/{}", "x".repeat(3000));
    let fields: Vec<(Value, u16, &str)> = vec![
        (json!({}), 422, "url_missing"),
        (json!({"url": null}), 422, "url_missing"),
        (json!({"url": 5}), 422, "url_malformed"),
        (json!({"url": ["https://a.example/"]}), 422, "url_malformed"),
        (json!({"url": ""}), 422, "url_empty"),
        (json!({"url": "https://a.example/\u{0}"}), 422, "url_control_characters"),
        (json!({"url": "https://a.example/\r\nSet-Cookie: a=b"}), 422, "url_control_characters"),
        (
            json!({"url": "https://a.example/%0d%0a\r\nLocation: https://evil.example/"}),
            422,
            "url_control_characters",
        ),
        (json!({"url": "https://a.example/\u{2028}"}), 422, "url_control_characters"),
        (json!({"url": "https://a.example/\u{85}"}), 422, "url_control_characters"),
        (json!({"url": "https://exa\u{a0}mple.com/"}), 422, "url_control_characters"),
        (json!({"url": "\u{feff}https://a.example/"}), 422, "url_not_absolute"),
        (json!({"url": "javascript:alert(1)//https://a.example/"}), 422, "url_scheme"),
        (json!({"url": "jav\u{0}ascript:alert(1)"}), 422, "url_control_characters"),
        (json!({"url": "//evil.example/"}), 422, "url_not_absolute"),
        (json!({"url": "https:/\\evil.example/"}), 422, "url_not_absolute"),
        (json!({"url": "https://"}), 422, "url_no_host"),
        (json!({"url": "https://[::1/"}), 422, "url_malformed"),
        (json!({"url": long_url}), 422, "url_too_long"),
        (json!({"url": "https://a.example/", "alias": ""}), 422, "alias_length"),
        (json!({"url": "https://a.example/", "alias": "ab"}), 422, "alias_length"),
        (json!({"url": "https://a.example/", "alias": "a".repeat(65)}), 422, "alias_length"),
        (json!({"url": "https://a.example/", "alias": "ab\u{0}cd"}), 422, "alias_charset"),
        (json!({"url": "https://a.example/", "alias": "ab\r\nSet-Cookie: a=b"}), 422, "alias_charset"),
        (json!({"url": "https://a.example/", "alias": "abc%0d%0a"}), 422, "alias_charset"),
        (json!({"url": "https://a.example/", "alias": "../../etc/passwd"}), 422, "alias_charset"),
        (json!({"url": "https://a.example/", "alias": "..%2f..%2f"}), 422, "alias_charset"),
        (json!({"url": "https://a.example/", "alias": "héllo"}), 422, "alias_charset"),
        (json!({"url": "https://a.example/", "alias": "abc\u{202e}def"}), 422, "alias_charset"),
        (json!({"url": "https://a.example/", "alias": "\u{ff41}\u{ff42}\u{ff43}"}), 422, "alias_charset"),
        (json!({"url": "https://a.example/", "alias": "😀😀😀"}), 422, "alias_charset"),
        (json!({"url": "https://a.example/", "alias": "API"}), 422, "alias_reserved"),
        (json!({"url": "https://a.example/", "alias": "keep-me"}), 409, "alias_taken"),
        (json!({"url": "https://a.example/", "alias": 12345}), 422, "invalid_alias"),
        (json!({"url": "https://a.example/", "max_clicks": 0}), 422, "invalid_max_clicks"),
        (json!({"url": "https://a.example/", "max_clicks": -1}), 422, "invalid_max_clicks"),
        (json!({"url": "https://a.example/", "max_clicks": 1.5}), 422, "invalid_max_clicks"),
        (json!({"url": "https://a.example/", "max_clicks": "5"}), 422, "invalid_max_clicks"),
        (json!({"url": "https://a.example/", "max_clicks": u64::MAX}), 422, "invalid_max_clicks"),
        (
            json!({"url": "https://a.example/", "expires_at": "2001-01-01T00:00:00Z"}),
            422,
            "invalid_expires_at",
        ),
        (json!({"url": "https://a.example/", "expires_at": "tomorrow\u{0}"}), 422, "invalid_expires_at"),
        (
            json!({"url": "https://a.example/", "expires_at": "+275760-09-13T00:00:00Z"}),
            422,
            "invalid_expires_at",
        ),
        (json!({"url": "https://a.example/", "expires_at": 1_900_000_000}), 422, "invalid_expires_at"),
        // RFC 3339 years have four digits: nothing past 9999 in UTC is stored or echoed.
        (
            json!({"url": "https://a.example/", "expires_at": "10000-01-01T00:00:00Z"}),
            422,
            "invalid_expires_at",
        ),
        (
            json!({"url": "https://a.example/", "expires_at": "+10000-01-01T00:00:00Z"}),
            422,
            "invalid_expires_at",
        ),
        (
            json!({"url": "https://a.example/", "expires_at": "99999-12-31T23:59:59Z"}),
            422,
            "invalid_expires_at",
        ),
        (
            json!({"url": "https://a.example/", "expires_at": "9999-12-31T23:59:59-23:59"}),
            422,
            "invalid_expires_at",
        ),
        (
            json!({"url": "https://a.example/", "max_clicks": 9_007_199_254_740_992_i64}),
            422,
            "invalid_max_clicks",
        ),
        (json!({"url": "https://a.example/", "max_clicks": i64::MAX}), 422, "invalid_max_clicks"),
        (json!({"url": "https://a.example/", "owner_token_id": 1}), 422, "unknown_field"),
        (json!({"url": "https://a.example/", "\u{0}": 1}), 422, "unknown_field"),
    ];
    for (body, status, code) in &fields {
        let got =
            send_raw(&app, "POST", "/api/v1/links", admin, json, serde_json::to_vec(body).expect("json"))
                .await;
        assert_error(&format!("POST {body}"), &got, *status, code);
    }
    let patches: Vec<(Value, u16, &str)> = vec![
        (json!({"status": "disabled\u{0}"}), 422, "invalid_status"),
        (json!({"status": "DISABLED\r\n"}), 422, "invalid_status"),
        (json!({"status": null}), 422, "invalid_status"),
        (json!({"status": ["active"]}), 422, "invalid_status"),
        (json!({"max_clicks": 9.9e300}), 422, "invalid_max_clicks"),
        (json!({"expires_at": "2030-02-30T00:00:00Z"}), 422, "invalid_expires_at"),
        (json!({"expires_at": "10000-01-01T00:00:00Z"}), 422, "invalid_expires_at"),
        (json!({"expires_at": "9999-12-31T23:30:00-01:00"}), 422, "invalid_expires_at"),
        (json!({"expires_at": "0000-06-01T00:00:00Z"}), 422, "invalid_expires_at"),
        (json!({"expires_at": "0001-01-01T00:00:00+00:01"}), 422, "invalid_expires_at"),
        (json!({"max_clicks": 9_007_199_254_740_992_i64}), 422, "invalid_max_clicks"),
        (json!({"owner": 1}), 422, "unknown_field"),
        (json!({"url": 7}), 422, "url_malformed"),
        (json!({"url": null}), 422, "url_malformed"),
        (json!({"title": "a\u{0}b"}), 422, "invalid_title"),
        (json!({"title": "x".repeat(201)}), 422, "invalid_title"),
        (json!({"description": "\u{1b}[31m"}), 422, "invalid_description"),
        (json!({"tags": "a,b"}), 422, "invalid_tags"),
        (json!({"tags": [""]}), 422, "invalid_tags"),
        (json!({"tags": ["a\nb"]}), 422, "invalid_tags"),
        (json!({"tags": (0..21).map(|i| i.to_string()).collect::<Vec<_>>()}), 422, "invalid_tags"),
        (json!({"rules": {"url": "https://a.example/"}}), 422, "invalid_rules"),
        (
            json!({"rules": [{"conditions": [{"type": "planet", "is": ["mars"]}], "url": "https://a.example/"}]}),
            422,
            "invalid_rules",
        ),
        (json!({"forward_query": "yes"}), 422, "invalid_forward_query"),
        (json!({"utm": {"source": "a", "evil": "b"}}), 422, "invalid_utm"),
        (json!({"password": ""}), 422, "invalid_password"),
        (json!({"password": 12345}), 422, "invalid_password"),
        (json!({}), 422, "empty_change"),
        (json!([]), 400, "malformed_json"),
    ];
    for (body, status, code) in &patches {
        let got = send_raw(
            &app,
            "PATCH",
            "/api/v1/links/keep-me",
            admin,
            json,
            serde_json::to_vec(body).expect("json"),
        )
        .await;
        assert_error(&format!("PATCH {body}"), &got, *status, code);
    }
    // A duplicate key: the last one wins, and it is checked.
    let got = send_raw(
        &app,
        "POST",
        "/api/v1/links",
        admin,
        json,
        br#"{"url": "https://a.example/", "url": "javascript:alert(1)"}"#.to_vec(),
    )
    .await;
    assert_error("duplicate key", &got, 422, "url_scheme");

    assert_eq!(snapshot(&app), before, "a refused request changed the database");
    app.stop().await;
}

/// What a date or a number is accepted as comes back as it went in: the bounds themselves
/// (UTC years 0001 to 9999, the RFC 3339 range; click limits up to 2^53 - 1, what every JSON
/// reader holds exactly) are stored and echoed as sent, and every date the API answers is RFC 3339.
#[tokio::test]
async fn dates_and_numbers_at_their_bounds_are_echoed_as_sent() {
    let app = spawn().await;
    let (s, link) = app
        .create(
            &app.admin,
            json!({"url": "https://bounds.example/", "expires_at": "9999-12-31T23:59:59Z", "max_clicks": 9_007_199_254_740_991_i64}),
        )
        .await;
    assert_eq!(s, 201, "{link}");
    assert_eq!(link["expires_at"], "9999-12-31T23:59:59Z", "{link}");
    assert_eq!(link["max_clicks"], 9_007_199_254_740_991_i64, "{link}");
    // An offset is turned into UTC: still inside the range.
    let path = format!("/api/v1/links/{}", link["code"].as_str().expect("code"));
    for (sent, echoed) in [
        ("9999-12-31T23:59:59+01:00", "9999-12-31T22:59:59Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("0001-01-01T00:00:00-01:00", "0001-01-01T01:00:00Z"),
    ] {
        let (s, b) = app.call("PATCH", &path, Some(&app.admin), Some(json!({"expires_at": sent}))).await;
        assert_eq!((s, b["expires_at"].as_str()), (200, Some(echoed)), "{sent}: {b}");
    }
    // The OpenAPI document states the bounds.
    let (_, doc) = app.call("GET", "/api/v1/openapi.json", None, None).await;
    for schema in ["CreateLinkRequest", "UpdateLinkRequest"] {
        let props = &doc["components"]["schemas"][schema]["properties"];
        assert_eq!(props["max_clicks"]["maximum"], ghostlink_shortener::api::MAX_CLICKS, "{schema}: {props}");
        let about = props["expires_at"]["description"].as_str().unwrap_or_default();
        assert!(about.contains("0001") && about.contains("9999"), "{schema}: {props}");
    }
    let rfc3339 = |v: &str| {
        chrono::DateTime::parse_from_rfc3339(v).is_ok()
            && v.as_bytes().first().is_some_and(u8::is_ascii_digit)
    };
    let (s, page) = app.call("GET", "/api/v1/links", Some(&app.admin), None).await;
    assert_eq!(s, 200);
    for item in page["items"].as_array().expect("items") {
        for field in ["created_at", "updated_at", "expires_at"] {
            if let Some(v) = item[field].as_str() {
                assert!(rfc3339(v), "{field} = {v} is not RFC 3339");
            }
        }
    }
    app.stop().await;
}

/// Paths a client may send: traversal, encoded separators and NULs, overlong codes.
const HOSTILE_PATHS: &[&str] = &[
    "/api/v1/links/..%2f..%2fetc%2fpasswd",
    "/api/v1/links/%2e%2e/",
    "/api/v1/links/%2e%2e",
    "/api/v1/links/%2e%2e%2f%2e%2e%2fadmin",
    "/api/v1/%2e%2e/%2e%2e/etc/passwd",
    "/api/v1/links/..;/..;/",
    "/api/v1/links/%00",
    "/api/v1/links/abc%00def",
    "/api/v1/links/%0d%0aSet-Cookie:%20a=b",
    "/api/v1/links/%ff%fe",
    "/api/v1/links/%",
    "/api/v1/links/%zz",
    "/api/v1/links/%c0%ae%c0%ae",
    "/api/v1/links/%E2%80%AE",
    "/api/v1/links/keep-me%2fstats",
    "/api/v1/links/keep-me/../../findings",
    "/api/v1/links/%00/stats",
    "/api/v1/links/%00/clicks",
    "/api/v1/domains/%00/orphan-visits",
    "/api/v1/links/%00/risk",
    "/api/v1/links/%00/health",
    "/api/v1/links/%00/qr",
    "/api/v1/links/keep-me/qr?size=%00",
    "/api/v1/links?q=%00",
    "/api/v1/links?q=%0d%0a",
    "/api/v1/links?q=%ff",
    "/api/v1/links?q=%25%5f%5c",
    "/api/v1/links?cursor=%00",
    "/api/v1/links?cursor=-9223372036854775808",
    "/api/v1/links?cursor=99999999999999999999",
    "/api/v1/links?limit=%00",
    "/api/v1/links?limit=1e3",
    "/api/v1/links?status=%00",
    "/api/v1/links?risk=%00&health=%00",
    "/api/v1/links?limit=1&limit=2",
    "/api/v1/findings?kind=%00",
    "/api/v1/findings?limit=-1",
    "/api/v1//links",
    "/api/v1/links/",
    "/API/V1/LINKS",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2f",
];

#[tokio::test]
async fn hostile_paths_and_overlong_codes_get_json_4xx() {
    let app = spawn().await;
    let (s, _) = app.create(&app.admin, json!({"url": "https://keep.example/", "alias": "keep-me"})).await;
    assert_eq!(s, 201);
    let before = snapshot(&app);
    let long_codes = [65, 300, 4000].map(|n| format!("/api/v1/links/{}", "a".repeat(n)));
    let mut failures = vec![];
    for path in HOSTILE_PATHS.iter().copied().chain(long_codes.iter().map(String::as_str)) {
        for token in [Some(app.admin.as_str()), Some(app.user.as_str()), None] {
            for method in ["GET", "DELETE"] {
                let (s, ct, body) = send_raw(&app, method, path, token, None, vec![]).await;
                let ok = (200..300).contains(&s) && method == "GET"
                    || (400..500).contains(&s)
                        && ct.as_deref().is_some_and(|c| c.starts_with("application/json"))
                        && body["error"]["code"].is_string()
                        && body["error"]["message"].is_string();
                if !ok {
                    failures
                        .push(format!("{method} {path} (token: {}) -> {s} {ct:?} {body}", token.is_some()));
                }
            }
        }
    }
    // A code too long for any URL the server reads is still refused, not crashed on.
    let huge = format!("/api/v1/links/{}", "a".repeat(64 * 1024));
    let req = format!(
        "GET {huge} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        app.admin
    );
    let line = raw_http(&app, req.as_bytes()).await;
    assert!(line.is_empty() || line.starts_with("HTTP/1.1 4"), "64 KiB path: {line:?}");
    assert!(failures.is_empty(), "hostile paths answered badly:\n{}", failures.join("\n"));
    assert_eq!(snapshot(&app), before, "a hostile path changed the database");
    app.stop().await;
}

/// Every route of the shortener (and a few that are not), with a link's code filled in.
fn routes(code: &str) -> Vec<(String, &'static [&'static str])> {
    vec![
        ("/api/v1/openapi.json".into(), &["GET", "HEAD"]),
        ("/api/v1/links".into(), &["GET", "HEAD", "POST"]),
        (format!("/api/v1/links/{code}"), &["GET", "HEAD", "PATCH", "DELETE"]),
        (format!("/api/v1/links/{code}/stats"), &["GET", "HEAD"]),
        (format!("/api/v1/links/{code}/clicks"), &["GET", "HEAD"]),
        (format!("/api/v1/links/{code}/risk"), &["GET", "HEAD"]),
        (format!("/api/v1/links/{code}/health"), &["GET", "HEAD"]),
        (format!("/api/v1/links/{code}/qr"), &["GET", "HEAD"]),
        (format!("/api/v1/links/{code}/revisions"), &["GET", "HEAD"]),
        // The admin API's, not served here.
        ("/api/v1/findings".into(), &[]),
        ("/api/v1/export".into(), &["GET", "HEAD"]),
        ("/api/v1/import".into(), &["POST"]),
        ("/api/v1/workspace".into(), &["GET", "HEAD"]),
        ("/api/v1/workspace/stats".into(), &["GET", "HEAD"]),
        ("/api/v1/members".into(), &["GET", "HEAD", "POST"]),
        ("/api/v1/members/1".into(), &["PATCH", "DELETE"]),
        ("/api/v1/keys".into(), &["GET", "HEAD", "POST"]),
        ("/api/v1/keys/1".into(), &["DELETE"]),
        ("/api/v1/tags".into(), &["GET", "HEAD"]),
        ("/api/v1/tags/x".into(), &["PATCH", "DELETE"]),
        ("/".into(), &[]),
        ("/api".into(), &[]),
        ("/api/v1".into(), &[]),
        ("/api/v1/".into(), &[]),
        ("/api/v1/nope".into(), &[]),
        ("/api/v2/links".into(), &[]),
        (format!("/api/v1/links/{code}/nope"), &[]),
        (format!("/{code}"), &[]),
    ]
}

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];

#[tokio::test]
async fn every_method_on_every_route() {
    let app = spawn().await;
    let (s, _) = app.create(&app.user, json!({"url": "https://keep.example/", "alias": "keep-me"})).await;
    assert_eq!(s, 201);
    // A plain member of the user's workspace: it reads the workspace's links but changes only
    // its own, and administers nothing.
    let ws =
        ghostlink_db::workspaces::by_slug(&mut app.db.conn(), "ws-alice").expect("query").expect("workspace");
    let member = app.db.member_key(ws.id, "bob", ghostlink_domain::workspace::MemberRole::Member, None);
    let before = snapshot(&app);
    let mut failures = vec![];
    // With a member's token on another member's link, no body: every call is either a read
    // (2xx), or refused before it writes (403 not allowed, 415 no JSON body, 405, 404); without
    // a token, everything under /api/v1 but the OpenAPI document is 401 first.
    for (path, allowed) in routes("keep-me") {
        for method in METHODS {
            for (who, token) in [("member", Some(member.as_str())), ("none", None)] {
                let resp = app
                    .client
                    .request(method.parse().expect("method"), app.url(&path))
                    .timeout(Duration::from_secs(10));
                let resp = match token {
                    Some(t) => resp.bearer_auth(t),
                    None => resp,
                };
                let resp = resp.send().await.expect("request");
                let s = resp.status().as_u16();
                let ct =
                    resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let allow = resp.headers().get("allow").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let body: Value =
                    serde_json::from_str(&resp.text().await.expect("body")).unwrap_or(Value::Null);
                let public = path.ends_with("openapi.json");
                // Everything under /api/v1 but the OpenAPI document authenticates first.
                let authenticated = !public && (path == "/api/v1" || path.starts_with("/api/v1/"));
                let want: &[u16] = if token.is_none() && authenticated {
                    &[401]
                } else if !allowed.contains(method) {
                    if allowed.is_empty() || public {
                        &[404]
                    } else {
                        &[405]
                    }
                } else {
                    match *method {
                        "GET" | "HEAD" if path.ends_with("/members") || path.ends_with("/keys") => &[403],
                        "GET" | "HEAD" => &[200, 404],
                        // No JSON body: refused before anything is looked up.
                        "POST" | "PATCH" => &[415],
                        // Another member's link, a key, a member or a tag: a member may not.
                        "DELETE" => &[403],
                        _ => &[],
                    }
                };
                let mut ok = want.contains(&s);
                if s >= 400 && *method != "HEAD" {
                    ok &= ct.starts_with("application/json")
                        && body["error"]["code"].is_string()
                        && body["error"]["message"].is_string();
                }
                if s == 405 {
                    ok &= allow.as_deref().is_some_and(|a| allowed.iter().all(|m| a.contains(m)));
                }
                if !ok {
                    failures.push(format!("{method:7} {path:32} {who:6} -> {s} (want {want:?}) {ct} {body}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "unexpected answers:\n{}", failures.join("\n"));
    assert_eq!(snapshot(&app), before, "a method probe changed the database");
    app.stop().await;
}

/// Sends raw bytes on a fresh connection and returns the status line (empty if the server
/// closed without answering).
async fn raw_http(app: &TestApp, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    let _ = s.write_all(request).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).lines().next().unwrap_or("").to_string()
}

#[tokio::test]
async fn raw_http_garbage_never_gets_a_5xx() {
    let app = spawn().await;
    let before = snapshot(&app);
    let auth = format!("Authorization: Bearer {}\r\n", app.admin);
    let body = r#"{"url":"https://a.example/"}"#;
    let requests: Vec<Vec<u8>> = vec![
        b"GET /api/v1/links/a\r\nb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /api/v1/links/a b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /api/v1/links/\0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET http://evil.example/api/v1/links HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /api/v1/links HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"get /api/v1/links HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"BREW /api/v1/links HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
        b"GET /api/v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n".to_vec(),
        b"GET /api/v1/links HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\rb\r\nConnection: close\r\n\r\n".to_vec(),
        format!("GET /api/v1/links HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n", "a".repeat(100_000))
            .into_bytes(),
        format!(
            "POST /api/v1/links HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 5\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
        format!(
            "POST /api/v1/links HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
        format!(
            "POST /api/v1/links HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 999999\r\nConnection: close\r\n\r\n{body}"
        )
        .into_bytes(),
        format!(
            "POST /api/v1/links HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: -1\r\nConnection: close\r\n\r\n{body}"
        )
        .into_bytes(),
        format!(
            "POST /api/v1/links HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{body}\r\n0\r\n\r\n"
        )
        .into_bytes(),
    ];
    let mut failures = vec![];
    for req in &requests {
        let line = raw_http(&app, req).await;
        let status = line.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok());
        // Either a 4xx, or the connection closed without an answer (the parser gave up).
        if !(line.is_empty() || status.is_some_and(|s| (400..500).contains(&s))) {
            failures.push(format!("{:?} -> {line:?}", String::from_utf8_lossy(&req[..req.len().min(120)])));
        }
    }
    assert!(failures.is_empty(), "raw requests answered badly:\n{}", failures.join("\n"));
    // The server still answers normally afterwards.
    let (s, _) = app.call("GET", "/api/v1/links", Some(&app.admin), None).await;
    assert_eq!(s, 200);
    assert_eq!(snapshot(&app), before, "a raw request changed the database");
    app.stop().await;
}
