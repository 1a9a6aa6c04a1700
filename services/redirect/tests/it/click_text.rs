//! Header values and codes that are not plain visible ASCII: a browser sending a non-ASCII
//! User-Agent is a person (not a bot with no user agent), and what travels in the click event is
//! the storable text of what was sent (`ghostlink_domain::click_text`), never dropped.

use reqwest::header::HeaderValue;

use crate::spawn;

fn value(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(bytes).expect("obs-text is a valid header value")
}

#[tokio::test]
async fn non_ascii_headers_are_kept_and_a_person_stays_a_person() {
    let app = spawn().await;
    app.link("lim09", "https://example.com/limited", |l| l.max_clicks = Some(1));
    app.link("txt09", "https://example.com/text", |_| {});

    // UTF-8 in the User-Agent (a localised browser build): the limited link redirects.
    let utf8_ua = "Mozilla/5.0 (X11; Linux x86_64; Übersetzt) Firefox/120.0";
    let r = app.client.get(app.url("/lim09")).header("user-agent", value(utf8_ua.as_bytes())).send().await;
    assert_eq!(r.expect("get").status(), 302, "a non-ASCII user agent got the bot page");

    // Latin-1 bytes (not UTF-8 at all) in the User-Agent and the Referer.
    let r = app
        .client
        .get(app.url("/txt09"))
        .header("user-agent", value(b"Mozilla/5.0 (Windows NT 10.0; caf\xe9) Firefox/120.0"))
        .header("referer", value("https://réf.example/päth?q=ü".as_bytes()))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 302);

    // A NUL or invalid UTF-8 in the code: answered, and the event carries storable text.
    assert_eq!(app.get("/%00").await.status(), 404);
    assert_eq!(app.get("/ab%FFcd").await.status(), 404);

    // A non-ASCII byte elsewhere in Accept does not hide that JSON was asked for.
    let r = app
        .client
        .get(app.url("/nosuch9"))
        .header("accept", value(b"application/json, text/x-caf\xe9"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"].to_str().expect("ascii").starts_with("application/json"));

    let (_db, amqp) = app.stop_keep_bus().await;
    let events = crate::published_clicks(&amqp).await;
    let lim: Vec<_> = events.iter().filter(|e| e.data.code == "lim09").collect();
    assert_eq!(lim.len(), 1);
    assert_eq!((lim[0].data.user_agent.as_deref(), lim[0].data.bot), (Some(utf8_ua), false));
    let txt: Vec<_> = events.iter().filter(|e| e.data.code == "txt09").collect();
    assert_eq!(txt.len(), 1);
    assert_eq!(
        txt[0].data.user_agent.as_deref(),
        Some("Mozilla/5.0 (Windows NT 10.0; caf\u{FFFD}) Firefox/120.0")
    );
    assert_eq!(txt[0].data.referrer.as_deref(), Some("https://réf.example/päth?q=ü"));
    assert!(!txt[0].data.bot);
    assert!(
        events
            .iter()
            .any(|e| e.data.code == "\u{FFFD}" && e.data.outcome == ghostlink_domain::ClickOutcome::NotFound),
        "the NUL code's event: {:?}",
        events.iter().map(|e| &e.data.code).collect::<Vec<_>>()
    );
    assert!(events.iter().all(|e| !e.data.code.contains('\0')));
    assert!(events.iter().any(|e| e.data.code == "ab\u{FFFD}cd"), "invalid UTF-8 in a code is replaced");
    ghostlink_test_support::delete_topology(&amqp.bus_prefix).await;
}
