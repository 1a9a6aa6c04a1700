//! The stats API over clicks stored the way the click recorder stores them (its handler,
//! `ghostlink_recorder::apply`, on real event lines): series in a time zone, breakdowns,
//! the workspace's top links, orphan visits and the raw-click CSV — all from rollups that stay
//! exact under redelivery and a repair's deletion.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ghostlink_domain::ClickOutcome;
use ghostlink_proto::{ClickRecorded, Envelope};
use ghostlink_test_support::bus;
use serde_json::{json, Value};

use crate::{error_code, spawn, TestApp};

const CHROME_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// One click event line, as the redirect sends it.
struct Click {
    code: &'static str,
    at: DateTime<Utc>,
    ua: Option<&'static str>,
    referrer: Option<&'static str>,
    country: Option<&'static str>,
    outcome: ClickOutcome,
    rule: Option<u32>,
    client: &'static str,
}

fn click(code: &'static str, at: &str) -> Click {
    Click {
        code,
        at: at.parse().expect("an instant"),
        ua: Some(CHROME_WINDOWS),
        referrer: None,
        country: None,
        outcome: ClickOutcome::Redirect,
        rule: None,
        client: "0123456789abcdef0123456789abcdef",
    }
}

fn line(c: &Click) -> Vec<u8> {
    let bot = ghostlink_domain::bot::is_bot(false, c.ua);
    Envelope::new(
        "redirect",
        None,
        c.at,
        ClickRecorded {
            outcome: c.outcome,
            user_agent: c.ua.map(Into::into),
            referrer: c.referrer.map(Into::into),
            country: c.country.map(Into::into),
            client_hash: c.client.into(),
            rule: c.rule,
            bot,
            ..bus::click(c.code)
        },
    )
    .to_bytes()
}

/// Stores event lines through the recorder's handler, one message each.
async fn record(app: &TestApp, payloads: &[Vec<u8>]) -> ghostlink_recorder::Applied {
    let db = ghostlink_db::Db::new(&ghostlink_db::DbSettings {
        url: app.db.url.clone(),
        pool_size: 1,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
    });
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let out = ghostlink_recorder::apply(&db, payloads, &log, || true).await;
    assert!(out.refused.is_empty(), "{:?}", out.refused);
    out.applied
}

fn slice(stats: &Value, dim: &str) -> Vec<(String, i64, i64)> {
    stats["breakdowns"][dim]["top"]
        .as_array()
        .unwrap_or_else(|| panic!("breakdown {dim} in {stats}"))
        .iter()
        .map(|s| {
            (
                s["value"].as_str().expect("value").to_owned(),
                s["clicks"].as_i64().expect("clicks"),
                s["bots"].as_i64().expect("bots"),
            )
        })
        .collect()
}

#[tokio::test]
async fn stats_series_and_breakdowns_come_from_rollups() {
    let app = spawn().await;
    for alias in ["alpha", "beta"] {
        let (s, b) = app.create(&app.user, json!({"url": "https://s.example/", "alias": alias})).await;
        assert_eq!(s, 201, "{b}");
    }
    let mallory = app.db.token("mallory", "user");
    let (s, _) = app.create(&mallory, json!({"url": "https://m.example/", "alias": "mal"})).await;
    assert_eq!(s, 201);
    let clicks = [
        // 2026-03-28 23:30 in Paris (+01:00): the 28th there, the 28th in UTC.
        Click {
            country: Some("FR"),
            referrer: Some("https://News.Example/item?id=1"),
            ..click("alpha", "2026-03-28T22:30:00Z")
        },
        // 00:30 on the 29th in Paris, still the 28th in UTC.
        Click {
            country: Some("FR"),
            ua: Some(SAFARI_IPHONE),
            rule: Some(1),
            ..click("alpha", "2026-03-28T23:30:00Z")
        },
        Click { country: Some("DE"), ua: Some(GOOGLEBOT), ..click("alpha", "2026-03-29T12:00:00Z") },
        Click { ua: None, referrer: Some("not a url"), ..click("alpha", "2026-03-29T12:10:00Z") },
        Click { country: Some("US"), ..click("beta", "2026-03-29T13:00:00Z") },
        Click { country: Some("US"), ..click("mal", "2026-03-29T13:00:00Z") },
    ];
    let lines: Vec<Vec<u8>> = clicks.iter().map(line).collect();
    let applied = record(&app, &lines).await;
    assert_eq!(applied.written, 6);
    // A redelivery of the same events changes nothing.
    let again = record(&app, &lines).await;
    assert_eq!((again.written, again.duplicates), (0, 6));

    let range = "from=2026-03-28T00:00:00Z&to=2026-03-30T00:00:00Z";
    let (s, st) = app
        .call(
            "GET",
            &format!("/api/v1/links/alpha/stats?{range}&granularity=day&tz=Europe/Paris&breakdowns=country,browser,device,referrer,rule,traffic"),
            Some(&app.user),
            None,
        )
        .await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(
        (st["total"].as_i64(), st["bots"].as_i64(), st["humans"].as_i64()),
        (Some(4), Some(2), Some(2))
    );
    let series: Vec<(&str, i64)> = st["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|p| (p["start"].as_str().expect("start"), p["clicks"].as_i64().expect("clicks")))
        .collect();
    assert_eq!(
        series,
        [
            ("2026-03-28T00:00:00+01:00", 1),
            ("2026-03-29T00:00:00+01:00", 3),
            ("2026-03-30T00:00:00+02:00", 0)
        ],
        "days in Paris, across its daylight-saving change"
    );
    assert_eq!(slice(&st, "country"), [("FR".into(), 2, 0), ("DE".into(), 1, 1), ("unknown".into(), 1, 1)]);
    assert_eq!(
        slice(&st, "browser"),
        [
            ("Chrome".into(), 1, 0),
            ("Googlebot".into(), 1, 1),
            ("Safari".into(), 1, 0),
            ("unknown".into(), 1, 1)
        ]
    );
    assert_eq!(
        slice(&st, "device"),
        [("bot".into(), 2, 2), ("desktop".into(), 1, 0), ("mobile".into(), 1, 0)]
    );
    assert_eq!(
        slice(&st, "referrer"),
        [("direct".into(), 2, 1), ("news.example".into(), 1, 0), ("unknown".into(), 1, 1)]
    );
    assert_eq!(slice(&st, "rule"), [("none".into(), 3, 2), ("1".into(), 1, 0)]);
    assert_eq!(slice(&st, "traffic"), [("bot".into(), 2, 2), ("human".into(), 2, 0)]);

    // Hours, and a limit with the rest summed.
    let (s, st) = app
        .call(
            "GET",
            &format!("/api/v1/links/alpha/stats?{range}&granularity=hour&breakdowns=country&limit=1"),
            Some(&app.user),
            None,
        )
        .await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["series"].as_array().map(Vec::len), Some(48));
    assert_eq!(st["breakdowns"]["country"]["values"], 3);
    assert_eq!(st["breakdowns"]["country"]["other_clicks"], 2);

    // The workspace: both links, its top links first; never another workspace's.
    let (s, ws) = app
        .call(
            "GET",
            &format!("/api/v1/workspace/stats?{range}&breakdowns=link,country"),
            Some(&app.user),
            None,
        )
        .await;
    assert_eq!(s, 200, "{ws}");
    assert_eq!(ws["total"], 5);
    assert_eq!(slice(&ws, "link"), [("alpha".into(), 4, 2), ("beta".into(), 1, 0)]);
    let (s, ws) = app.call("GET", &format!("/api/v1/workspace/stats?{range}"), Some(&mallory), None).await;
    assert_eq!((s, ws["total"].as_i64()), (200, Some(1)));
    let (s, b) = app.call("GET", "/api/v1/links/alpha/stats", Some(&mallory), None).await;
    assert_eq!((s, error_code(&b).as_str()), (404, "not_found"));

    for bad in [
        "granularity=fortnight",
        "tz=Mars/Olympus_Mons",
        "breakdowns=country,shoe_size",
        "breakdowns=link",
        "from=2026-03-30T00:00:00Z&to=2026-03-28T00:00:00Z",
        "from=yesterday",
        "from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "from=2025-01-01T00:00:00Z&to=2026-12-01T00:00:00Z&granularity=hour",
        "limit=0",
    ] {
        let (s, b) =
            app.call("GET", &format!("/api/v1/links/alpha/stats?{bad}"), Some(&app.user), None).await;
        assert_eq!((s, error_code(&b).as_str()), (400, "invalid_query"), "{bad}: {b}");
    }

    // A repair deletes a window and replays it: the rollups follow both.
    let (from, to) = ("2026-03-29T00:00:00Z".parse().expect("t"), "2026-03-30T00:00:00Z".parse().expect("t"));
    let deleted = ghostlink_db::clicks::delete_window(&mut app.db.conn(), from, to).expect("delete");
    assert_eq!(deleted, 4);
    let (_, st) = app
        .call("GET", &format!("/api/v1/links/alpha/stats?{range}&breakdowns=none"), Some(&app.user), None)
        .await;
    assert_eq!(st["total"], 2, "{st}");
    let replayed = record(&app, &lines).await;
    assert_eq!((replayed.written, replayed.duplicates), (4, 2));
    let (_, st) = app
        .call("GET", &format!("/api/v1/links/alpha/stats?{range}&breakdowns=none"), Some(&app.user), None)
        .await;
    assert_eq!(st["total"], 4, "{st}");
    app.stop().await;
}

#[tokio::test]
async fn orphan_visits_are_reported_per_domain() {
    let app = spawn().await;
    let (s, d) =
        app.call("POST", "/api/v1/domains", Some(&app.user), Some(json!({"host": "go.alice.test"}))).await;
    assert_eq!(s, 201, "{d}");
    let orphan = |code: &'static str, client: &'static str| Click {
        outcome: ClickOutcome::NotFound,
        client,
        ..click(code, "2026-03-29T12:00:00Z")
    };
    let a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    let lines: Vec<Vec<u8>> = [
        orphan("go.alice.test/wp-admin", a),
        orphan("go.alice.test/wp-admin", a),
        orphan("go.alice.test/wp-admin", b),
        orphan("go.alice.test/<script>", a),
        orphan("nope", a),
    ]
    .iter()
    .map(line)
    .collect();
    record(&app, &lines).await;
    let range = "from=2026-03-29T00:00:00Z&to=2026-03-30T00:00:00Z";
    let (s, r) = app
        .call("GET", &format!("/api/v1/domains/go.alice.test/orphan-visits?{range}"), Some(&app.user), None)
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!((r["visits"].as_i64(), r["codes"].as_i64()), (Some(4), Some(2)));
    assert_eq!(r["top"][0]["code"], "wp-admin");
    assert_eq!((r["top"][0]["visits"].as_i64(), r["top"][0]["clients"].as_i64()), (Some(3), Some(2)));
    assert_eq!(r["top"][1]["code"], "<script>", "kept as asked, escaped by whoever shows it");
    // No link rollup counts them.
    let (_, ws) = app.call("GET", &format!("/api/v1/workspace/stats?{range}"), Some(&app.user), None).await;
    assert_eq!(ws["total"], 0);
    // Another workspace cannot read them; the default domain's are the admin's.
    let mallory = app.db.token("mallory", "user");
    let (s, b) = app
        .call("GET", &format!("/api/v1/domains/go.alice.test/orphan-visits?{range}"), Some(&mallory), None)
        .await;
    assert_eq!((s, error_code(&b).as_str()), (404, "not_found"));
    let (s, r) =
        app.admin_call("GET", &format!("/admin/v1/orphan-visits?{range}"), Some(&app.admin), None).await;
    assert_eq!((s, r["visits"].as_i64(), r["top"][0]["code"].as_str()), (200, Some(1), Some("nope")), "{r}");
    let (s, r) = app
        .admin_call(
            "GET",
            &format!("/admin/v1/orphan-visits?{range}&domain=go.alice.test"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!((s, r["visits"].as_i64()), (200, Some(4)));
    let (s, _) = app.admin_call("GET", "/admin/v1/orphan-visits", Some(&app.user), None).await;
    assert_eq!(s, 403);
    app.stop().await;
}

#[tokio::test]
async fn raw_clicks_export_as_csv_with_formulas_neutralised() {
    let app = spawn().await;
    let (s, _) = app.create(&app.user, json!({"url": "https://s.example/", "alias": "rawc"})).await;
    assert_eq!(s, 201);
    let lines: Vec<Vec<u8>> = [
        Click {
            referrer: Some("=HYPERLINK(\"https://evil.example\")"),
            ..click("rawc", "2026-03-29T12:00:00Z")
        },
        Click {
            ua: Some("<script>alert(1)</script>"),
            country: Some("FR"),
            ..click("rawc", "2026-03-29T12:01:00Z")
        },
    ]
    .iter()
    .map(line)
    .collect();
    record(&app, &lines).await;
    let resp = app
        .client
        .get(app.url("/api/v1/links/rawc/clicks?from=2026-03-29T00:00:00Z&to=2026-03-30T00:00:00Z"))
        .bearer_auth(&app.user)
        .send()
        .await
        .expect("export");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().expect("type").starts_with("text/csv"));
    let body = resp.text().await.expect("body");
    let mut rows = csv::Reader::from_reader(body.as_bytes());
    let header = rows.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let records: Vec<csv::StringRecord> = rows.records().map(|r| r.expect("row")).collect();
    assert_eq!(records.len(), 2);
    assert_eq!(&records[0][col("referrer")], "'=HYPERLINK(\"https://evil.example\")");
    assert_eq!(&records[0][col("browser")], "Chrome");
    assert_eq!(&records[1][col("user_agent")], "<script>alert(1)</script>");
    assert_eq!(&records[1][col("country")], "FR");
    assert!(!body.contains("0123456789abcdef"), "no client hash");
    let (s, b) = app.call("GET", "/api/v1/links/rawc/clicks?from=nope", Some(&app.user), None).await;
    assert_eq!((s, error_code(&b).as_str()), (400, "invalid_query"));
    app.stop().await;
}
