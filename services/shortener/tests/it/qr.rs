//! `GET /api/v1/links/{code}/qr` against the running shortener: the PNG and the SVG it serves
//! scan, with zbar (`zbarimg`, package zbar-tools), to exactly the link's `short_url`; the SVG
//! is first rasterised by resvg, an SVG renderer of its own. Then the cache validators, the
//! refusals and the OpenAPI description.

use std::path::PathBuf;
use std::process::Command;

use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY};
use serde_json::{json, Value};

use crate::{error_code, spawn, TestApp};

/// Decodes every QR code in a PNG with zbarimg; fails clearly when zbarimg is not installed.
pub(crate) fn zbar(png: &[u8]) -> String {
    let file = TempFile::new("png");
    std::fs::write(&file.0, png).expect("write the PNG");
    let out = match Command::new("zbarimg").args(["--raw", "-q"]).arg(&file.0).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "zbarimg is not installed: these tests scan the served codes with it; install the \
             zbar-tools package (apt-get install -y zbar-tools), as .ci/run does"
        ),
        Err(e) => panic!("running zbarimg: {e}"),
    };
    assert!(
        out.status.success(),
        "zbarimg found no code ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("zbarimg printed UTF-8");
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}

/// A file in the temporary folder, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(ext: &str) -> Self {
        Self(std::env::temp_dir().join(format!("ghostlink-qr-{}.{ext}", uuid::Uuid::new_v4())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Rasterises an SVG document at its own width and height, as a PNG.
fn rasterise(svg: &[u8]) -> (u32, Vec<u8>) {
    let tree = resvg::usvg::Tree::from_data(svg, &resvg::usvg::Options::default()).expect("a valid SVG");
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).expect("pixmap");
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    assert_eq!(size.width(), size.height(), "square");
    (size.width(), pixmap.encode_png().expect("encode"))
}

/// Width and height from a PNG's header.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes"));
    (be(16), be(20))
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: reqwest::header::HeaderName) -> &str {
        self.headers.get(&name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn get(app: &TestApp, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Answer {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    Answer { status, headers, body: resp.bytes().await.expect("body").to_vec() }
}

/// A link of the user's, and its `short_url` as `GET /api/v1/links/{code}` shows it.
async fn link(app: &TestApp, alias: &str) -> (String, String) {
    let (s, created) =
        app.create(&app.user, json!({"url": "https://example.com/qr/target", "alias": alias})).await;
    assert_eq!(s, 201, "{created}");
    let (s, view) = app.call("GET", &format!("/api/v1/links/{alias}"), Some(&app.user), None).await;
    assert_eq!(s, 200, "{view}");
    (alias.to_string(), view["short_url"].as_str().expect("short_url").to_string())
}

#[tokio::test]
async fn png_and_svg_scan_to_exactly_the_short_url() {
    let app = spawn().await;
    let (code, short_url) = link(&app, "qr-scan").await;
    let path = |q: &str| format!("/api/v1/links/{code}/qr{q}");

    // The default: SVG, 256 pixels.
    let svg = get(&app, &path(""), Some(&app.user), &[]).await;
    assert_eq!(svg.status, 200, "{:?}", svg.json());
    assert_eq!(svg.header(CONTENT_TYPE), "image/svg+xml");
    let (px, raster) = rasterise(&svg.body);
    assert_eq!(px, 256);
    assert_eq!(zbar(&raster), short_url, "the default SVG");

    // PNG by the query, and by Accept; the admin reads the user's link too.
    for (query, token, headers) in [
        ("?format=png", app.user.as_str(), vec![]),
        ("", app.admin.as_str(), vec![("accept", "image/png")]),
        ("", app.user.as_str(), vec![("accept", "image/svg+xml;q=0.5, image/png")]),
    ] {
        let png = get(&app, &path(query), Some(token), &headers).await;
        assert_eq!(png.status, 200, "{query} {headers:?}: {:?}", png.json());
        assert_eq!(png.header(CONTENT_TYPE), "image/png", "{query} {headers:?}");
        assert_eq!(png_size(&png.body), (256, 256));
        assert_eq!(zbar(&png.body), short_url, "{query} {headers:?}");
    }
    let svg = get(&app, &path(""), Some(&app.user), &[("accept", "image/svg+xml, image/png;q=0.9")]).await;
    assert_eq!(svg.header(CONTENT_TYPE), "image/svg+xml", "SVG ranked first");
    let svg = get(&app, &path("?format=svg"), Some(&app.user), &[("accept", "image/png")]).await;
    assert_eq!(svg.header(CONTENT_TYPE), "image/svg+xml", "the query wins over Accept");

    // Every option, in both formats.
    for query in [
        "size=64&margin=1&ec=L",
        "size=2048&margin=16&ec=H",
        "size=333&margin=2&ec=Q&fg=1A237E&bg=fffde7",
        "size=300&ec=M&fg=ffffff&bg=003366",
    ] {
        let png = get(&app, &path(&format!("?format=png&{query}")), Some(&app.user), &[]).await;
        assert_eq!(png.status, 200, "{query}: {:?}", png.json());
        let size: u32 = query[5..query.find('&').expect("&")].parse().expect("size");
        assert_eq!(png_size(&png.body), (size, size), "{query}");
        // zbar reads dark on light only: the inverted code is checked by its rasterised SVG below,
        // inverted back.
        if !query.contains("fg=ffffff") {
            assert_eq!(zbar(&png.body), short_url, "PNG {query}");
        }
        let svg = get(&app, &path(&format!("?format=svg&{query}")), Some(&app.user), &[]).await;
        assert_eq!(svg.status, 200, "{query}: {:?}", svg.json());
        let text = String::from_utf8(svg.body.clone()).expect("UTF-8");
        let (px, raster) = rasterise(&svg.body);
        assert_eq!(px, size, "{query}");
        if query.contains("fg=ffffff") {
            assert!(text.contains("fill=\"#ffffff\"") && text.contains("fill=\"#003366\""), "{text}");
            let swapped =
                text.replace("#ffffff", "#tmp").replace("#003366", "#ffffff").replace("#tmp", "#003366");
            assert_eq!(zbar(&rasterise(swapped.as_bytes()).1), short_url, "SVG {query}, inverted back");
        } else {
            assert_eq!(zbar(&raster), short_url, "SVG {query}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn etag_and_if_none_match_answer_304() {
    let app = spawn().await;
    let (code, _) = link(&app, "qr-etag").await;
    let path = format!("/api/v1/links/{code}/qr?format=png&size=128");
    let first = get(&app, &path, Some(&app.user), &[]).await;
    assert_eq!(first.status, 200);
    let etag = first.header(ETAG).to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 20, "strong: {etag}");
    assert_eq!(first.header(CACHE_CONTROL), "private, max-age=86400");
    assert_eq!(first.header(VARY), "Accept, Authorization");

    // The same image however its options are spelled: the same tag, and the same bytes.
    let same = format!("/api/v1/links/{code}/qr?bg=FFFFFF&size=128&ec=M&margin=4&fg=000000");
    let again = get(&app, &same, Some(&app.admin), &[("accept", "image/png")]).await;
    assert_eq!((again.status, again.header(ETAG)), (200, etag.as_str()));
    assert_eq!(again.body, first.body);

    let weak = format!("W/{etag}");
    for inm in [etag.as_str(), &format!("\"other\", {etag}"), weak.as_str(), "*"] {
        let r = get(&app, &path, Some(&app.user), &[("if-none-match", inm)]).await;
        assert_eq!(r.status, 304, "If-None-Match: {inm}");
        assert!(r.body.is_empty());
        assert_eq!(r.header(ETAG), etag);
        assert_eq!(r.header(CACHE_CONTROL), "private, max-age=86400");
    }
    let r = get(&app, &path, Some(&app.user), &[("if-none-match", "\"other\"")]).await;
    assert_eq!((r.status, r.body.len()), (200, first.body.len()));

    // Another option or another link: another tag, so the old one no longer matches.
    let (other, _) = link(&app, "qr-etag-2").await;
    for p in [
        format!("/api/v1/links/{code}/qr?format=png&size=129"),
        format!("/api/v1/links/{code}/qr?format=svg&size=128"),
        format!("/api/v1/links/{code}/qr?format=png&size=128&ec=H"),
        format!("/api/v1/links/{other}/qr?format=png&size=128"),
    ] {
        let r = get(&app, &p, Some(&app.user), &[(IF_NONE_MATCH.as_str(), etag.as_str())]).await;
        assert_eq!(r.status, 200, "{p}");
        assert_ne!(r.header(ETAG), etag, "{p}");
    }
    // HEAD: the same headers, no body.
    let head = app.client.head(app.url(&path)).bearer_auth(&app.user).send().await.expect("head");
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers().get(ETAG).and_then(|v| v.to_str().ok()), Some(etag.as_str()));
    assert!(head.bytes().await.expect("body").is_empty());
    app.stop().await;
}

#[tokio::test]
async fn bad_options_are_422_unknown_links_404_and_no_token_401() {
    let app = spawn().await;
    let (code, _) = link(&app, "qr-refusals").await;
    // A long alias, so that its code cannot fit 64 pixels with a wide margin.
    let long = "qr-".to_string() + &"x".repeat(61);
    link(&app, &long).await;
    for (path, want) in [
        (format!("/api/v1/links/{code}/qr?size=63"), "invalid_size"),
        (format!("/api/v1/links/{code}/qr?size=2049"), "invalid_size"),
        (format!("/api/v1/links/{code}/qr?size=big"), "invalid_size"),
        (format!("/api/v1/links/{code}/qr?size="), "invalid_size"),
        (format!("/api/v1/links/{code}/qr?margin=17"), "invalid_margin"),
        (format!("/api/v1/links/{code}/qr?margin=-1"), "invalid_margin"),
        (format!("/api/v1/links/{code}/qr?ec=X"), "invalid_ec"),
        (format!("/api/v1/links/{code}/qr?format=gif"), "invalid_format"),
        (format!("/api/v1/links/{code}/qr?fg=red"), "invalid_colour"),
        (format!("/api/v1/links/{code}/qr?bg=%23ffffff"), "invalid_colour"),
        (format!("/api/v1/links/{code}/qr?fg=000000&bg=000000"), "low_contrast"),
        (format!("/api/v1/links/{code}/qr?fg=cccccc"), "low_contrast"),
        (format!("/api/v1/links/{code}/qr?size=100&size=200"), "duplicate_parameter"),
        (format!("/api/v1/links/{code}/qr?v=2"), "unknown_parameter"),
        (format!("/api/v1/links/{code}/qr?%00=1"), "unknown_parameter"),
        (format!("/api/v1/links/{long}/qr?size=64&margin=16&ec=H"), "size_too_small"),
    ] {
        for format in ["svg", "png"] {
            let path = match path.contains("format=") {
                true => path.clone(),
                false => format!("{path}&format={format}"),
            };
            let r = get(&app, &path, Some(&app.user), &[("if-none-match", "*")]).await;
            assert_eq!(r.status, 422, "{path}: {:?}", r.json());
            assert!(r.header(CONTENT_TYPE).starts_with("application/json"), "{path}");
            assert_eq!(error_code(&r.json()), want, "{path}");
        }
    }

    // Missing, not a code, another user's: 404 exactly as GET /api/v1/links/{code} answers.
    let (s, admins) = app.create(&app.admin, json!({"url": "https://example.com/admins"})).await;
    assert_eq!(s, 201);
    let theirs = admins["code"].as_str().expect("code").to_string();
    for missing in ["no-such-code", theirs.as_str(), "%00", &"a".repeat(65)] {
        let link = get(&app, &format!("/api/v1/links/{missing}"), Some(&app.user), &[]).await;
        let qr = get(
            &app,
            &format!("/api/v1/links/{missing}/qr"),
            Some(&app.user),
            &[(ACCEPT.as_str(), "image/png")],
        )
        .await;
        assert_eq!((qr.status, qr.json()), (404, link.json()), "{missing}");
        assert_eq!(error_code(&qr.json()), "not_found");
    }
    let r = get(&app, &format!("/api/v1/links/{theirs}/qr"), Some(&app.admin), &[]).await;
    assert_eq!(r.status, 200, "the admin sees every link");

    for token in [None, Some("glk_not-a-token")] {
        let r = get(&app, &format!("/api/v1/links/{code}/qr"), token, &[]).await;
        assert_eq!((r.status, error_code(&r.json()).as_str()), (401, "unauthorized"), "{token:?}");
    }
    let r = app.client.post(app.url(&format!("/api/v1/links/{code}/qr"))).bearer_auth(&app.user).send().await;
    let r = r.expect("post");
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers().get("allow").and_then(|v| v.to_str().ok()), Some("GET, HEAD"));
    app.stop().await;
}

#[tokio::test]
async fn openapi_describes_the_qr_route() {
    let app = spawn().await;
    let (s, doc) = app.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, 200);
    let op = &doc["paths"]["/api/v1/links/{code}/qr"]["get"];
    assert!(op.is_object(), "GET /api/v1/links/{{code}}/qr is not documented");
    let content = &op["responses"]["200"]["content"];
    assert!(content["image/svg+xml"].is_object() && content["image/png"].is_object(), "{content}");
    assert!(op["responses"]["200"]["headers"]["ETag"].is_object(), "{op}");
    for status in ["304", "401", "404", "422", "429"] {
        assert!(op["responses"][status].is_object(), "{status} is not documented: {op}");
    }
    let params: Vec<(&str, &str)> = op["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| Some((p["name"].as_str()?, p["in"].as_str()?)))
        .collect();
    for want in
        [("code", "path"), ("format", "query"), ("size", "query"), ("margin", "query"), ("ec", "query")]
    {
        assert!(params.contains(&want), "{want:?} missing from {params:?}");
    }
    for want in [("fg", "query"), ("bg", "query"), ("If-None-Match", "header")] {
        assert!(params.contains(&want), "{want:?} missing from {params:?}");
    }
    let size = op["parameters"].as_array().and_then(|ps| ps.iter().find(|p| p["name"] == "size"));
    let bounds = size.map(|p| (p["schema"]["minimum"].clone(), p["schema"]["maximum"].clone()));
    assert_eq!(bounds, Some((json!(64), json!(2048))), "size's bounds: {}", op["parameters"]);
    app.stop().await;
}
