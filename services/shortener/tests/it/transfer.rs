//! Import and export: round trips between instances, idempotent re-imports, dry runs,
//! collisions, every sample format, hostile rows refused one by one, formula cells neutralised
//! in CSV, and no other workspace's links ever exported.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{error_code, spawn, TestApp};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/import_samples");

async fn export(app: &TestApp, token: &str, format: &str) -> (u16, String, String) {
    let resp = app
        .client
        .get(app.url(&format!("/api/v1/export?format={format}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, ct, resp.text().await.expect("body"))
}

async fn import(app: &TestApp, token: &str, query: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/import?{query}")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, serde_json::from_str(&resp.text().await.expect("body")).unwrap_or(Value::Null))
}

fn counts(report: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| report[k].as_u64().unwrap_or_else(|| panic!("{k} in {report}"));
    (n("total"), n("created"), n("unchanged"), n("refused"))
}

/// The CSV export's rows as maps of column to cell.
fn csv_rows(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().expect("header row").clone();
    r.records()
        .map(|rec| {
            let rec = rec.expect("record");
            headers.iter().zip(rec.iter()).map(|(h, c)| (h.to_string(), c.to_string())).collect()
        })
        .collect()
}

/// The fields an import carries over, of each exported link, by code.
fn portable(export: &str) -> Vec<Value> {
    let items: Vec<Value> = serde_json::from_str(export).expect("a JSON array");
    let mut out: Vec<Value> = items
        .into_iter()
        .map(|l| {
            let keep = [
                "code",
                "url",
                "title",
                "description",
                "tags",
                "status",
                "expires_at",
                "max_clicks",
                "forward_query",
                "utm",
                "rules",
            ];
            Value::Object(keep.iter().map(|k| (k.to_string(), l[*k].clone())).collect())
        })
        .collect();
    out.sort_by_key(|l| l["code"].as_str().unwrap_or("").to_string());
    out
}

/// Links of several kinds in the user's workspace; returns how many.
async fn seed(app: &TestApp) -> usize {
    let bodies = [
        json!({"url": "https://seed.example/a", "alias": "seed-a", "title": "=HYPERLINK(\"http://evil.example\")",
               "description": "+1 line\nsecond", "tags": ["Team", "q3"], "max_clicks": 50,
               "expires_at": "2999-01-01T00:00:00Z"}),
        json!({"url": "https://seed.example/b?x=1", "alias": "-seed-b", "title": "@SUM(A1)",
               "utm": {"source": "news", "campaign": "spring"}, "forward_query": true}),
        json!({"url": "https://seed.example/c", "alias": "seed-c",
               "rules": [{"conditions": [{"type": "device", "is": ["mobile"]}], "url": "https://m.seed.example/"}]}),
        json!({"url": "https://seed.example/d", "alias": "seed-d", "password": "hunter2"}),
        json!({"url": "https://seed.example/e"}),
    ];
    for b in &bodies {
        let (s, body) = app.create(&app.user, b.clone()).await;
        assert_eq!(s, 201, "{body}");
    }
    let (s, body) =
        app.call("PATCH", "/api/v1/links/seed-c", Some(&app.user), Some(json!({"status": "disabled"}))).await;
    assert_eq!(s, 200, "{body}");
    bodies.len()
}

#[tokio::test]
async fn export_round_trips_into_another_instance_and_collides_in_this_one() {
    let app = spawn().await;
    let n = seed(&app).await;
    let (s, ct, json_doc) = export(&app, &app.user, "json").await;
    assert_eq!(s, 200);
    assert!(ct.starts_with("application/json"), "{ct}");
    let (s, ct, csv_doc) = export(&app, &app.user, "csv").await;
    assert_eq!(s, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    let original = portable(&json_doc);
    assert_eq!(original.len(), n);
    let exported: Vec<Value> = serde_json::from_str(&json_doc).expect("json");
    assert!(exported.iter().all(|l| l.get("password_hash").is_none()));
    let protected: Vec<bool> =
        exported.iter().map(|l| l["password_protected"].as_bool().expect("bool")).collect();
    assert_eq!(protected.iter().filter(|p| **p).count(), 1, "{json_doc}");
    assert!(!json_doc.contains("argon2") && !csv_doc.contains("argon2"));

    // Another instance (its own database): each document makes the same links there.
    for (format, ct, doc) in [("csv", "text/csv", &csv_doc), ("json", "application/json", &json_doc)] {
        let other = spawn().await;
        let bob = other.db.token("bob", "user");
        let (s, report) =
            import(&other, &bob, &format!("format={format}"), ct, doc.clone().into_bytes()).await;
        assert_eq!(s, 200, "{report}");
        assert_eq!(counts(&report), (n as u64, n as u64, 0, 0), "{report}");
        let (_, _, back) = export(&other, &bob, "json").await;
        assert_eq!(portable(&back), original, "{format} round trip");
        // The importer's workspace now has them: the scorer and the canary hear of each.
        let events = other.db.count("outbox WHERE routing_key = 'link.created'");
        assert_eq!(events, n as i64);
        other.stop().await;
    }

    // Here, every code is another workspace's: reported, never overwritten.
    let bob = app.db.token("bob", "user");
    let (s, report) = import(&app, &bob, "format=csv", "text/csv", csv_doc.clone().into_bytes()).await;
    assert_eq!(s, 200, "{report}");
    // Every exported row has a code (a generated one too), each the user's.
    assert_eq!(counts(&report), (n as u64, 0, 0, n as u64), "{report}");
    assert_eq!(report["rows"][1]["line"], 4, "the line a row starts on (the first has a line break)");
    for row in report["rows"].as_array().expect("rows") {
        if row["status"] == "refused" {
            assert_eq!(row["error"]["code"], "alias_taken", "{row}");
        }
    }
    let (_, _, after) = export(&app, &app.user, "json").await;
    assert_eq!(portable(&after), original, "nothing of the user's changed");
    app.stop().await;
}

/// A custom domain's links export with their domain, import back as they were (unchanged), and
/// into a workspace without that domain are refused row by row (never moved to the default one,
/// where the default domain's row collides with the code it already has).
#[tokio::test]
async fn links_on_a_custom_domain_keep_it_through_export_and_import() {
    let app = spawn().await;
    let (s, _) =
        app.call("POST", "/api/v1/domains", Some(&app.user), Some(json!({"host": "go.alice.test"}))).await;
    assert_eq!(s, 201);
    for body in [
        json!({"url": "https://d.example/a", "alias": "same", "domain": "go.alice.test"}),
        json!({"url": "https://d.example/b", "domain": "go.alice.test"}),
        json!({"url": "https://plain.example/", "alias": "same"}),
    ] {
        let (s, b) = app.create(&app.user, body).await;
        assert_eq!(s, 201, "{b}");
    }
    for format in ["json", "csv"] {
        let (s, _, doc) = export(&app, &app.user, format).await;
        assert_eq!(s, 200);
        if format == "json" {
            let links: Vec<Value> = serde_json::from_str(&doc).expect("json");
            let on: Vec<_> = links.iter().filter(|l| l["domain"] == "go.alice.test").collect();
            assert_eq!(on.len(), 2, "{doc}");
            assert!(on
                .iter()
                .all(|l| l["short_url"].as_str().is_some_and(|u| u.starts_with("http://go.alice.test/"))));
        } else {
            assert!(doc.starts_with("code,domain,short_url,"), "{doc}");
        }
        let ct = if format == "json" { "application/json" } else { "text/csv" };
        let (s, again) =
            import(&app, &app.user, &format!("format={format}"), ct, doc.clone().into_bytes()).await;
        assert_eq!(s, 200, "{again}");
        assert_eq!(
            (again["unchanged"].as_u64(), again["created"].as_u64()),
            (Some(3), Some(0)),
            "{format}: {again}"
        );

        let other = app.db.token(&format!("other-{format}"), "user");
        let (s, there) = import(&app, &other, &format!("format={format}"), ct, doc.into_bytes()).await;
        assert_eq!(s, 200, "{there}");
        assert_eq!(
            (there["created"].as_u64(), there["refused"].as_u64()),
            (Some(0), Some(3)),
            "{format}: {there}"
        );
        let refused: Vec<&str> = there["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["status"] == "refused")
            .map(|r| r["error"]["code"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(refused, ["unknown_domain", "unknown_domain", "alias_taken"], "{there}");
    }
}

#[tokio::test]
async fn a_second_import_changes_nothing_and_a_dry_run_writes_nothing() {
    let app = spawn().await;
    let doc = "code,url,title,tags\nidem-1,https://idem.example/1,One,\"[\"\"x\"\"]\"\n,https://idem.example/no-code,,\nidem-2,https://idem.example/2,,\n";
    let before = app.db.count("links");
    let (s, dry) = import(&app, &app.user, "format=csv&dry_run=true", "text/csv", doc.into()).await;
    assert_eq!(s, 200, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(counts(&dry), (3, 3, 0, 0), "{dry}");
    assert_eq!(app.db.count("links"), before, "a dry run writes nothing");
    assert_eq!(app.db.count("outbox WHERE routing_key = 'link.created'"), 0);

    let (s, first) = import(&app, &app.user, "format=csv", "text/csv", doc.into()).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(counts(&first), (3, 3, 0, 0), "{first}");
    let generated = first["rows"][1]["code"].as_str().expect("a generated code").to_string();
    assert_eq!(first["rows"][0]["line"], 2);
    assert_eq!(first["rows"][1]["line"], 3);
    let (s, second) = import(&app, &app.user, "format=csv", "text/csv", doc.into()).await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(counts(&second), (3, 0, 3, 0), "{second}");
    assert_eq!(second["rows"][1]["code"], generated.as_str(), "matched by destination");
    assert_eq!(app.db.count("links"), before + 3);
    let (s, link) = app.call("GET", "/api/v1/links/idem-1", Some(&app.user), None).await;
    assert_eq!(s, 200);
    assert_eq!(link["tags"], json!(["x"]));
    assert_eq!(link["title"], "One");

    // The same code with another destination: a collision, reported; the link is untouched.
    let clash = "code,url\nidem-1,https://elsewhere.example/\n";
    let (_, r) = import(&app, &app.user, "format=csv", "text/csv", clash.into()).await;
    assert_eq!(counts(&r), (1, 0, 0, 1), "{r}");
    assert_eq!(r["rows"][0]["error"]["code"], "alias_taken");
    let (_, link) = app.call("GET", "/api/v1/links/idem-1", Some(&app.user), None).await;
    assert_eq!(link["url"], "https://idem.example/1");
    // Twice in one document: the second is the first's, or a collision.
    let twice =
        "code,url\ndup-1,https://dup.example/\ndup-1,https://dup.example/\ndup-1,https://other.example/\n";
    let (_, r) = import(&app, &app.user, "format=csv", "text/csv", twice.into()).await;
    assert_eq!(counts(&r), (3, 1, 1, 1), "{r}");
    app.stop().await;
}

#[tokio::test]
async fn every_sample_format_imports() {
    let app = spawn().await;
    let cases = [
        ("shlink", "shlink.csv", "text/csv", 3, "shl-docs", "https://shlink.example/docs"),
        ("shlink", "shlink-web.csv", "text/csv", 2, "shlw-one", "https://shlink.example/web/1"),
        ("yourls", "yourls.csv", "text/csv", 2, "yrl-wiki", "https://yourls.example/wiki"),
        ("yourls", "yourls-dump.csv", "text/csv", 1, "yrd-one", "https://yourls.example/dump/1"),
        ("kutt", "kutt.json", "application/json", 2, "kutt-two", "https://kutt.example/two"),
        ("bitly", "bitly.csv", "text/csv", 2, "3xYzAbc", "https://bitly.example/campaign"),
    ];
    for (format, file, ct, n, code, url) in cases {
        let doc = std::fs::read(format!("{SAMPLES}/{file}")).expect("sample");
        let (s, r) = import(&app, &app.user, &format!("format={format}"), ct, doc).await;
        assert_eq!(s, 200, "{file}: {r}");
        assert_eq!(counts(&r), (n, n, 0, 0), "{file}: {r}");
        let (s, link) = app.call("GET", &format!("/api/v1/links/{code}"), Some(&app.user), None).await;
        assert_eq!(s, 200, "{file}: {link}");
        assert_eq!(link["url"], url, "{file}");
    }
    let (_, l) = app.call("GET", "/api/v1/links/shl-docs", Some(&app.user), None).await;
    assert_eq!((l["title"].clone(), l["tags"].clone()), (json!("Shlink docs"), json!(["docs", "shlink"])));
    let (_, l) = app.call("GET", "/api/v1/links/yrl-wiki", Some(&app.user), None).await;
    assert_eq!(l["title"], "Wiki, the \"real\" one");
    let (_, l) = app.call("GET", "/api/v1/links/kutt-two", Some(&app.user), None).await;
    assert_eq!(l["expires_at"], "2999-12-31T00:00:00Z");
    let (_, l) = app.call("GET", "/api/v1/links/3xYzAbc", Some(&app.user), None).await;
    assert_eq!(l["tags"], json!(["ads", "spring"]));
    // A document that is not the format: 422 for the whole, naming what is missing.
    let (s, r) =
        import(&app, &app.user, "format=shlink", "text/csv", b"url\nhttps://a.example/\n".to_vec()).await;
    assert_eq!((s, error_code(&r).as_str()), (422, "missing_column"), "{r}");
    let (s, r) = import(&app, &app.user, "format=kutt", "application/json", b"{\"data\": 3}".to_vec()).await;
    assert_eq!((s, error_code(&r).as_str()), (422, "invalid_document"), "{r}");
    let (s, r) = import(&app, &app.user, "format=xml", "text/csv", b"x".to_vec()).await;
    assert_eq!((s, error_code(&r).as_str()), (400, "invalid_query"), "{r}");
    let (s, r) = import(&app, &app.user, "", "application/xml", b"<x/>".to_vec()).await;
    assert_eq!((s, error_code(&r).as_str()), (415, "unsupported_media_type"), "{r}");
    app.stop().await;
}

#[tokio::test]
async fn hostile_rows_are_refused_one_by_one() {
    let app = spawn().await;
    let long_title = "t".repeat(300);
    let long_url = format!("https://long.example/{}", "a".repeat(3000));
    let many_tags: Vec<String> = (0..30).map(|i| format!("t{i}")).collect();
    let mut doc = String::from("code,url,title,tags\n");
    doc.push_str("ok-first,https://ok.example/1,,\n");
    doc.push_str("js-1,javascript:alert(1),,\n");
    doc.push_str("nul-1,https://nul.example/,\"a\u{0}b\",\n");
    doc.push_str("nul\u{0}2,https://nul.example/2,,\n");
    doc.push_str(&format!("long-1,https://ok.example/long,{long_title},\n"));
    doc.push_str(&format!("long-2,{long_url},,\n"));
    doc.push_str("tags-1,https://ok.example/tags,,plain-tag\n");
    doc.push_str(&format!("tags-2,https://ok.example/tags2,,\"{}\"\n", many_tags.join(",")));
    doc.push_str("=cmd,https://ok.example/formula,,\n");
    doc.push_str("fml-1,https://ok.example/formula2,\"=HYPERLINK(\"\"http://evil.example\"\")\",\n");
    doc.push_str("ok-last,https://ok.example/2,,\n");
    let mut bytes = doc.into_bytes();
    bytes.extend_from_slice(b"bad-utf8,https://ok.example/\xff\xfe,,\n");
    let (s, r) = import(&app, &app.user, "format=csv", "text/csv", bytes).await;
    assert_eq!(s, 200, "{r}");
    let codes: Vec<(String, String)> = r["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["code"].as_str().unwrap_or("").to_string(),
                row["error"]["code"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    let refused: Vec<&(String, String)> = codes.iter().filter(|(_, e)| e != "-").collect();
    assert_eq!(counts(&r), (12, 4, 0, 8), "{r}");
    let want_refused = [
        ("js-1", "url_scheme"),
        ("nul-1", "invalid_title"),
        ("long-1", "invalid_title"),
        ("tags-2", "invalid_tags"),
        ("=cmd", "alias_charset"),
        ("", "invalid_utf8"),
    ];
    for (code, err) in want_refused {
        assert!(refused.iter().any(|(c, e)| c == code && e == err), "{code} {err} in {refused:?}");
    }
    // Every refusal names its line and says why.
    for row in r["rows"].as_array().expect("rows") {
        if row["status"] == "refused" {
            assert!(row["line"].as_u64().is_some_and(|l| l >= 2), "{row}");
            assert!(row["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{row}");
        }
    }
    for ok in ["ok-first", "ok-last", "fml-1", "tags-1"] {
        let (s, _) = app.call("GET", &format!("/api/v1/links/{ok}"), Some(&app.user), None).await;
        assert_eq!(s, 200, "{ok} was created");
    }
    // A body past the JSON API's 16 KiB is fine here; past 32 MiB it is not.
    let big = format!("url\n{}", (0..2000).map(|i| format!("https://big.example/{i}\n")).collect::<String>());
    assert!(big.len() > 16 * 1024);
    let (s, r) = import(&app, &app.user, "format=csv&dry_run=true", "text/csv", big.into_bytes()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(counts(&r).1, 2000);
    assert_eq!(r["rows"].as_array().map(Vec::len), Some(1000), "the first 1000 others are listed");
    assert_eq!(r["rows_omitted"], 1000);
    // Declared past the limit: refused before a byte of it is read.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    let head = format!(
        "POST /api/v1/import?format=csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        app.user,
        32 * 1024 * 1024 + 1
    );
    conn.write_all(head.as_bytes()).await.expect("write");
    let mut answer = vec![];
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn csv_export_neutralises_formulas_and_shows_only_the_callers_workspace() {
    let app = spawn().await;
    seed(&app).await;
    let bob = app.db.token("bob", "user");
    let (s, _) = app.create(&bob, json!({"url": "https://bob.example/secret", "alias": "bob-only"})).await;
    assert_eq!(s, 201);
    let (_, _, doc) = export(&app, &app.user, "csv").await;
    let rows = csv_rows(&doc);
    assert_eq!(rows.len(), 5);
    let a = rows.iter().find(|r| r["code"] == "seed-a").expect("seed-a");
    assert_eq!(a["title"], "'=HYPERLINK(\"http://evil.example\")");
    assert_eq!(a["description"], "'+1 line\nsecond");
    assert_eq!(a["tags"], "[\"q3\",\"Team\"]");
    assert_eq!(a["max_clicks"], "50");
    let b = rows.iter().find(|r| r["code"] == "'-seed-b").expect("-seed-b, neutralised");
    assert_eq!(b["title"], "'@SUM(A1)");
    assert_eq!(b["forward_query"], "true");
    let utm: Value = serde_json::from_str(&b["utm"]).expect("utm JSON");
    assert_eq!(utm["campaign"], "spring");
    let c = rows.iter().find(|r| r["code"] == "seed-c").expect("seed-c");
    assert_eq!(c["status"], "disabled");
    assert!(c["rules"].contains("mobile"));
    let d = rows.iter().find(|r| r["code"] == "seed-d").expect("seed-d");
    assert_eq!(d["password_protected"], "true");
    for r in &rows {
        for cell in r.values() {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "a live formula: {cell:?}");
        }
    }
    // Never another workspace's: not bob's in the user's, not the user's in bob's or the admin's.
    assert!(!doc.contains("bob-only") && !doc.contains("bob.example"));
    let (_, _, bobs) = export(&app, &bob, "json").await;
    assert_eq!(portable(&bobs).len(), 1, "{bobs}");
    assert!(!bobs.contains("seed.example"));
    let (_, _, admins) = export(&app, &app.admin, "json").await;
    assert!(!admins.contains("seed.example") && !admins.contains("bob.example"), "{admins}");
    let (s, r) = app.call("GET", "/api/v1/export?format=xml", Some(&app.user), None).await;
    assert_eq!((s, error_code(&r).as_str()), (400, "invalid_query"));
    // A viewer may export, not import.
    let ws = ghostlink_db::workspaces::by_slug(&mut app.db.conn(), "ws-alice").expect("query").expect("ws");
    let viewer = app.db.member_key(ws.id, "vic", ghostlink_domain::workspace::MemberRole::Viewer, None);
    let (s, _, _) = export(&app, &viewer, "csv").await;
    assert_eq!(s, 200);
    let (s, r) = import(&app, &viewer, "format=csv", "text/csv", b"url\nhttps://v.example/\n".to_vec()).await;
    assert_eq!((s, error_code(&r).as_str()), (403, "forbidden"));
    app.stop().await;
}

/// 100,000 rows through the real shortener (release build recommended):
/// `cargo test --release -p ghostlink-shortener --test it transfer::bench_import -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a benchmark: prints rows/s"]
async fn bench_import() {
    let rows: usize = std::env::var("IMPORT_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let app = spawn().await;
    let mut doc = String::from("code,url,title,tags\n");
    for i in 0..rows {
        doc.push_str(&format!(
            "b{i:07},https://bench{}.example/path/{i}?q={i},Bench link {i},\"[\"\"bench\"\"]\"\n",
            i % 97
        ));
    }
    let bytes = doc.len();
    let started = std::time::Instant::now();
    let (s, r) =
        import(&app, &app.user, "format=csv&dry_run=true", "text/csv", doc.clone().into_bytes()).await;
    assert_eq!(s, 200, "{}", r["error"]);
    println!("dry run: {rows} rows in {:.2} s", started.elapsed().as_secs_f64());
    let started = std::time::Instant::now();
    let (s, r) = import(&app, &app.user, "format=csv", "text/csv", doc.into_bytes()).await;
    let elapsed = started.elapsed();
    assert_eq!(s, 200, "{}", r["error"]);
    assert_eq!(counts(&r), (rows as u64, rows as u64, 0, 0));
    let rate = rows as f64 / elapsed.as_secs_f64();
    println!("import: {rows} rows ({bytes} bytes) in {:.2} s = {rate:.0} rows/s", elapsed.as_secs_f64());
    let started = std::time::Instant::now();
    let (_, _, export_doc) = export(&app, &app.user, "csv").await;
    let e = started.elapsed();
    println!(
        "export: {} bytes in {:.2} s = {:.0} rows/s",
        export_doc.len(),
        e.as_secs_f64(),
        rows as f64 / e.as_secs_f64()
    );
    app.stop().await;
    assert!(rate >= 5000.0, "{rate:.0} rows/s is under 5000");
}
