//! A link's redirect rules, query forwarding and UTM values, as the redirect applies them: the
//! first rule whose conditions hold chooses the destination (device, language, query, time,
//! country from a MaxMind DB the test writes), the query options are merged into it, and the
//! click event names the rule.

use std::process::Command;

use ghostlink_domain::rules::{validate_rules, Rule, RuleInput};
use ghostlink_domain::utm::Utm;
use ghostlink_domain::ClickOutcome;
use ghostlink_test_support::metric_value;

use crate::{spawn, spawn_with, TestApp};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
const DESKTOP: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

fn rules(json: &str) -> Vec<Rule> {
    let input: Vec<RuleInput> = serde_json::from_str(json).expect("rule json");
    validate_rules(&input).expect("valid rules")
}

/// Where `path` redirects a client with these headers (`None`: no redirect).
async fn location(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Option<String> {
    let mut req = app.client.get(app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("get");
    r.headers().get("location").map(|v| v.to_str().expect("text").to_owned())
}

fn ua(agent: &str) -> [(&str, &str); 1] {
    [("user-agent", agent)]
}

#[tokio::test]
async fn the_first_matching_rule_chooses_the_destination() {
    let app = spawn().await;
    app.link("dev01", "https://example.com/default", |l| {
        l.rules =
            rules(r#"[{"conditions":[{"type":"device","is":["mobile"]}],"url":"https://m.example.com/"}]"#)
    });
    app.link("lang01", "https://example.com/en", |l| {
        l.rules =
            rules(r#"[{"conditions":[{"type":"language","is":["de"]}],"url":"https://example.com/de"}]"#)
    });
    app.link("qry01", "https://example.com/plain", |l| {
        l.rules = rules(
            r#"[{"conditions":[{"type":"query","name":"ref","value":"mail"}],"url":"https://example.com/from-mail"}]"#,
        )
    });
    let now = chrono::Utc::now();
    let window = |from: chrono::Duration, to: chrono::Duration| {
        format!(
            r#"{{"type":"time","start":"{}","end":"{}"}}"#,
            (now + from).to_rfc3339(),
            (now + to).to_rfc3339()
        )
    };
    let hour = chrono::Duration::hours(1);
    app.link("time01", "https://example.com/later", |l| {
        l.rules = rules(&format!(
            r#"[{{"conditions":[{}],"url":"https://example.com/past"}},
                {{"conditions":[{}],"url":"https://example.com/now"}}]"#,
            window(-hour * 3, -hour),
            window(-hour, hour)
        ))
    });
    app.link("time02", "https://example.com/later", |l| {
        l.rules = rules(&format!(
            r#"[{{"conditions":[{}],"url":"https://example.com/soon"}}]"#,
            window(hour, hour * 2)
        ))
    });
    // Three rules, and requests that satisfy several: the first listed wins.
    app.link("three1", "https://example.com/fallback", |l| {
        l.rules = rules(
            r#"[{"conditions":[{"type":"os","is":["ios"]},{"type":"language","is":["fr"]}],"url":"https://example.com/ios-fr"},
                {"conditions":[{"type":"device","is":["mobile"]}],"url":"https://example.com/mobile"},
                {"conditions":[{"type":"query","name":"beta"}],"url":"https://example.com/beta"}]"#,
        )
    });

    assert_eq!(location(&app, "/dev01", &ua(IPHONE)).await.as_deref(), Some("https://m.example.com/"));
    assert_eq!(location(&app, "/dev01", &ua(ANDROID)).await.as_deref(), Some("https://m.example.com/"));
    assert_eq!(location(&app, "/dev01", &ua(DESKTOP)).await.as_deref(), Some("https://example.com/default"));

    let lang = |v| [("user-agent", DESKTOP), ("accept-language", v)];
    assert_eq!(
        location(&app, "/lang01", &lang("de-AT,de;q=0.9")).await.as_deref(),
        Some("https://example.com/de")
    );
    assert_eq!(
        location(&app, "/lang01", &lang("en-US,de;q=0")).await.as_deref(),
        Some("https://example.com/en")
    );
    assert_eq!(location(&app, "/lang01", &ua(DESKTOP)).await.as_deref(), Some("https://example.com/en"));

    assert_eq!(
        location(&app, "/qry01?a=1&ref=mail", &[]).await.as_deref(),
        Some("https://example.com/from-mail")
    );
    assert_eq!(location(&app, "/qry01?ref=web", &[]).await.as_deref(), Some("https://example.com/plain"));
    assert_eq!(location(&app, "/qry01", &[]).await.as_deref(), Some("https://example.com/plain"));

    assert_eq!(location(&app, "/time01", &[]).await.as_deref(), Some("https://example.com/now"));
    assert_eq!(location(&app, "/time02", &[]).await.as_deref(), Some("https://example.com/later"));

    let fr_iphone = [("user-agent", IPHONE), ("accept-language", "fr-FR")];
    assert_eq!(
        location(&app, "/three1?beta", &fr_iphone).await.as_deref(),
        Some("https://example.com/ios-fr")
    );
    assert_eq!(
        location(&app, "/three1?beta", &ua(IPHONE)).await.as_deref(),
        Some("https://example.com/mobile")
    );
    assert_eq!(
        location(&app, "/three1?beta", &ua(DESKTOP)).await.as_deref(),
        Some("https://example.com/beta")
    );
    assert_eq!(
        location(&app, "/three1", &ua(DESKTOP)).await.as_deref(),
        Some("https://example.com/fallback")
    );
    app.stop().await;
}

#[tokio::test]
async fn query_forwarding_and_utm_values_are_merged_into_the_destination() {
    let app = spawn().await;
    let utm =
        Utm { source: Some("newsletter".into()), campaign: Some("spring sale".into()), ..Default::default() };
    app.link("utm01", "https://example.com/p?a=1", |l| l.utm = utm.clone());
    app.link("fwd01", "https://example.com/p?a=1", |l| l.forward_query = true);
    app.link("both01", "https://example.com/p", |l| {
        l.forward_query = true;
        l.utm = utm.clone();
        // The rule's destination gets the query options too.
        l.rules = rules(r#"[{"conditions":[{"type":"query","name":"ref"}],"url":"https://example.com/r"}]"#);
    });
    app.link("plain1", "https://example.com/p", |_| {});

    assert_eq!(
        location(&app, "/utm01?x=1", &[]).await.as_deref(),
        Some("https://example.com/p?a=1&utm_source=newsletter&utm_campaign=spring+sale"),
        "no forwarding: the request's query stays behind"
    );
    assert_eq!(
        location(&app, "/fwd01?b=2&a=9&c=%3Cx%3E", &[]).await.as_deref(),
        Some("https://example.com/p?a=1&b=2&c=%3Cx%3E"),
        "the destination's own parameter wins"
    );
    assert_eq!(location(&app, "/fwd01", &[]).await.as_deref(), Some("https://example.com/p?a=1"));
    assert_eq!(
        location(&app, "/both01?ref=mail&utm_source=evil", &[]).await.as_deref(),
        Some("https://example.com/r?utm_source=newsletter&utm_campaign=spring+sale&ref=mail")
    );
    assert_eq!(location(&app, "/plain1?x=1", &[]).await.as_deref(), Some("https://example.com/p"));

    // Merged past the longest Location allowed: the destination as stored, counted.
    let fallbacks = || async { metric_value(&app.metrics().await, "redirect_query_fallbacks_total", &[]) };
    let before = fallbacks().await;
    let long = format!("/both01?ref=x&pad={}", "y".repeat(2100));
    assert_eq!(location(&app, &long, &[]).await.as_deref(), Some("https://example.com/r"));
    let long = format!("/fwd01?pad={}", "y".repeat(2100));
    assert_eq!(location(&app, &long, &[]).await.as_deref(), Some("https://example.com/p?a=1"));
    assert!(fallbacks().await - before >= 2.0);
    app.stop().await;
}

#[tokio::test]
async fn the_click_event_names_the_rule_that_matched() {
    let app = spawn().await;
    app.link("ruleev", "https://example.com/default", |l| {
        l.rules = rules(
            r#"[{"conditions":[{"type":"query","name":"first"}],"url":"https://example.com/first"},
                {"conditions":[{"type":"device","is":["mobile"]}],"url":"https://example.com/mobile"}]"#,
        )
    });
    assert_eq!(location(&app, "/ruleev", &ua(IPHONE)).await.as_deref(), Some("https://example.com/mobile"));
    assert_eq!(
        location(&app, "/ruleev?first", &ua(IPHONE)).await.as_deref(),
        Some("https://example.com/first")
    );
    assert_eq!(location(&app, "/ruleev", &ua(DESKTOP)).await.as_deref(), Some("https://example.com/default"));
    let (_db, amqp) = app.stop_keep_bus().await;
    let events = crate::published_clicks(&amqp).await;
    let mine: Vec<_> = events.iter().filter(|e| e.data.code == "ruleev").collect();
    assert_eq!(mine.len(), 3);
    assert!(mine.iter().all(|e| e.data.outcome == ClickOutcome::Redirect));
    let picked: Vec<Option<u32>> = mine.iter().map(|e| e.data.rule).collect();
    assert_eq!(picked, [Some(1), Some(0), None]);
    ghostlink_test_support::delete_topology(&amqp.bus_prefix).await;
}

/// A MaxMind DB in the GeoLite2 City shape (`country.iso_code`, `subdivisions[].iso_code`),
/// written for the test: 203.0.113.0/24 is Bavaria, 198.51.100.0/24 the US without a region.
fn write_geoip_db(path: &std::path::Path) {
    use maxminddb_writer::paths::IpAddrWithMask;
    #[derive(serde::Serialize)]
    struct Code {
        iso_code: &'static str,
    }
    #[derive(serde::Serialize)]
    struct Record {
        country: Code,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        subdivisions: Vec<Code>,
    }
    let mut db = maxminddb_writer::Database::default();
    db.metadata.database_type = "GhostLink-Test-City".into();
    db.metadata.binary_format_major_version = 2;
    db.metadata.languages = vec!["en".into()];
    for (net, iso_code, region) in [("203.0.113.0/24", "DE", Some("BY")), ("198.51.100.0/24", "US", None)] {
        let record = Record {
            country: Code { iso_code },
            subdivisions: region.map(|r| Code { iso_code: r }).into_iter().collect(),
        };
        let data = db.insert_value(record).expect("value");
        db.insert_node(net.parse::<IpAddrWithMask>().expect("network"), data);
    }
    let file = std::fs::File::create(path).expect("create db");
    db.write_to(std::io::BufWriter::new(file)).expect("write db");
}

#[tokio::test]
async fn country_rules_read_the_client_address_in_the_geoip_database() {
    let path = std::env::temp_dir().join(format!("gl-geoip-{}.mmdb", uuid_like()));
    write_geoip_db(&path);
    let geo = path.clone();
    let app = spawn_with(move |c| {
        c.geoip_db = Some(geo);
        // Our proxy names the client, as behind nginx.
        c.proxy.trusted_proxies = "127.0.0.1".into();
    })
    .await;
    app.link("geo01", "https://example.com/world", |l| {
        l.rules = rules(
            r#"[{"conditions":[{"type":"country","is":["de","at"]}],"url":"https://example.de/"},
                {"conditions":[{"type":"country","is":["US"]},{"type":"device","is":["mobile"]}],"url":"https://m.example.us/"}]"#,
        )
    });
    let from = |ip| [("x-forwarded-for", ip), ("user-agent", IPHONE)];
    assert_eq!(location(&app, "/geo01", &from("203.0.113.77")).await.as_deref(), Some("https://example.de/"));
    assert_eq!(
        location(&app, "/geo01", &from("198.51.100.7")).await.as_deref(),
        Some("https://m.example.us/")
    );
    let desktop_us = [("x-forwarded-for", "198.51.100.7"), ("user-agent", DESKTOP)];
    assert_eq!(location(&app, "/geo01", &desktop_us).await.as_deref(), Some("https://example.com/world"));
    assert_eq!(
        location(&app, "/geo01", &from("192.0.2.1")).await.as_deref(),
        Some("https://example.com/world"),
        "an address the database does not know has no country"
    );
    assert_eq!(
        location(&app, "/geo01", &from("2001:db8::1")).await.as_deref(),
        Some("https://example.com/world"),
        "an IPv6 client in an IPv4 database has no country"
    );
    // The click events carry the country and region (looked up by the publisher), never the
    // address.
    let (_db, amqp) = app.stop_keep_bus().await;
    let mine: Vec<_> =
        crate::published_clicks(&amqp).await.into_iter().filter(|e| e.data.code == "geo01").collect();
    let places: Vec<(Option<&str>, Option<&str>)> =
        mine.iter().map(|e| (e.data.country.as_deref(), e.data.region.as_deref())).collect();
    assert_eq!(
        places,
        [(Some("DE"), Some("DE-BY")), (Some("US"), None), (Some("US"), None), (None, None), (None, None)]
    );
    let raw = ghostlink_test_support::bus::stream_events(&amqp).await;
    let text = format!("{raw:?}");
    assert!(!text.contains("203.0.113.77") && !text.contains("198.51.100.7"), "no address on the stream");
    ghostlink_test_support::delete_topology(&amqp.bus_prefix).await;

    // Without a database no country is known.
    let app = spawn_with(|c| c.proxy.trusted_proxies = "127.0.0.1".into()).await;
    app.link("geo01", "https://example.com/world", |l| {
        l.rules = rules(r#"[{"conditions":[{"type":"country","is":["DE"]}],"url":"https://example.de/"}]"#)
    });
    assert_eq!(
        location(&app, "/geo01", &from("203.0.113.77")).await.as_deref(),
        Some("https://example.com/world")
    );
    app.stop().await;
    let _ = std::fs::remove_file(&path);
}

fn uuid_like() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[test]
fn a_geoip_db_that_is_no_maxmind_db_exits_2_naming_geoip_db() {
    let bin = env!("CARGO_BIN_EXE_ghostlink-redirect");
    let junk = std::env::temp_dir().join(format!("gl-geoip-junk-{}.mmdb", uuid_like()));
    std::fs::write(&junk, b"not a maxmind database").expect("write");
    let missing = std::env::temp_dir().join(format!("gl-geoip-missing-{}.mmdb", uuid_like()));
    for path in [&junk, &missing] {
        let out = Command::new(bin)
            .args(["--click-salt", "test-salt-123", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"])
            .arg("--geoip-db")
            .arg(path)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{}", path.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("GEOIP_DB"), "{err}");
    }
    let _ = std::fs::remove_file(&junk);
}
