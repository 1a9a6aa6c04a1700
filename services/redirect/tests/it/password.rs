//! Password-protected links: the form (no destination in it), the right password (303 with the
//! rules and UTM applied, and a cookie for that link), wrong ones (401, then 429 past the limit
//! shared through Redis, 503 when Redis cannot count), bots (only ever the form), and the
//! password itself, which appears in no answer and no event.

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use ghostlink_domain::rules::{validate_rules, RuleInput};
use ghostlink_domain::utm::Utm;
use ghostlink_domain::ClickOutcome;
use reqwest::header::HeaderMap;

use crate::{spawn, spawn_with, TestApp};

const PASSWORD: &str = "correct-horse-7f3a91";
const DEST: &str = "https://secret.example/landing";
const BOT: &str = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";

/// An argon2id PHC string of `password`, with the smallest parameters (the redirect reads them
/// from the string; a debug build would take seconds per default-cost verification).
fn hash(password: &str) -> String {
    let params = argon2::Params::new(8, 1, 1, None).expect("params");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    argon.hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng)).expect("hash").to_string()
}

/// Everything a client sees of an answer: status, headers, body.
struct Seen {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    async fn of(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        Self { status, headers, body: r.text().await.expect("body") }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("text"))
    }

    /// Whether `text` occurs anywhere in the answer.
    fn shows(&self, text: &str) -> bool {
        self.body.contains(text)
            || self.headers.values().any(|v| String::from_utf8_lossy(v.as_bytes()).contains(text))
    }

    /// The unlock cookie's `name=value`, as a browser would send it back.
    fn cookie(&self) -> Option<String> {
        let set = self.header("set-cookie")?;
        set.split(';').next().map(str::to_owned)
    }
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Seen {
    let mut req = app.client.get(app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Seen::of(req.send().await.expect("get")).await
}

async fn post(app: &TestApp, path: &str, password: &str, headers: &[(&str, &str)]) -> Seen {
    let body: String =
        url::form_urlencoded::Serializer::new(String::new()).append_pair("password", password).finish();
    let mut req =
        app.client.post(app.url(path)).header("content-type", "application/x-www-form-urlencoded").body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Seen::of(req.send().await.expect("post")).await
}

fn protected(app: &TestApp, code: &str) {
    let h = hash(PASSWORD);
    app.link(code, DEST, |l| l.password_hash = Some(h));
}

#[tokio::test]
async fn the_form_hides_the_destination_and_the_right_password_opens_it() {
    let app = spawn().await;
    let h = hash(PASSWORD);
    let rules: Vec<RuleInput> = serde_json::from_str(
        r#"[{"conditions":[{"type":"query","name":"ref","value":"mail"}],"url":"https://secret.example/mail"}]"#,
    )
    .expect("rules");
    app.link("pw01", DEST, |l| {
        l.password_hash = Some(h);
        l.rules = validate_rules(&rules).expect("valid");
        l.utm = Utm { source: Some("qr".into()), ..Default::default() };
    });

    let form = get(&app, "/pw01", &[]).await;
    assert_eq!(form.status, 200);
    assert_eq!(form.header("cache-control"), Some("no-store"));
    assert!(form.header("content-type").is_some_and(|t| t.starts_with("text/html")));
    assert!(
        form.body.contains(r#"<form method="post">"#) && form.body.contains(r#"name="password""#),
        "{}",
        form.body
    );
    assert!(form.header("location").is_none() && form.header("set-cookie").is_none());
    assert!(!form.shows("secret.example"), "the form names the destination: {}", form.body);

    // The right password: 303 to the destination the rules and UTM values give, and a cookie.
    let opened = post(&app, "/pw01?ref=mail", PASSWORD, &[]).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    assert_eq!(opened.header("location"), Some("https://secret.example/mail?utm_source=qr"));
    let set = opened.header("set-cookie").expect("a cookie").to_owned();
    for part in ["gl_unlock=", "Max-Age=3600", "Path=/pw01", "HttpOnly", "SameSite=Lax"] {
        assert!(set.contains(part), "{set} lacks {part}");
    }
    assert!(!set.contains("Secure"), "plain HTTP from no trusted proxy: {set}");
    let cookie = opened.cookie().expect("cookie");

    // With it, a GET goes straight through (the rules apply to the GET's own query).
    let again = get(&app, "/pw01", &[("cookie", &cookie)]).await;
    assert_eq!(again.status, 302);
    assert_eq!(again.header("location"), Some("https://secret.example/landing?utm_source=qr"));
    let among = format!("theme=dark; {cookie}; other=1");
    assert_eq!(get(&app, "/pw01?ref=mail", &[("cookie", &among)]).await.status, 302);

    // A forged, altered or expired cookie, or one for another link, opens nothing.
    let (name_expiry, tag) = cookie.rsplit_once('.').expect("expiry.tag");
    let flipped = match tag.strip_prefix('0') {
        Some(rest) => format!("1{rest}"),
        None => format!("0{}", tag.get(1..).unwrap_or_default()),
    };
    let later = {
        let (name, expiry) = name_expiry.split_once('=').expect("name=expiry");
        format!("{name}={}.{tag}", expiry.parse::<i64>().expect("expiry") + 100)
    };
    let past = "gl_unlock=1000000000.00";
    for bad in [format!("{name_expiry}.{flipped}"), later, past.to_owned(), "gl_unlock=junk".to_owned()] {
        let r = get(&app, "/pw01", &[("cookie", &bad)]).await;
        assert_eq!(r.status, 200, "{bad} opened the link");
        assert!(r.header("location").is_none());
    }
    protected(&app, "pw02");
    assert_eq!(get(&app, "/pw02", &[("cookie", &cookie)]).await.status, 200, "another link's cookie");

    // API clients are told in JSON.
    let json = get(&app, "/pw01", &[("accept", "application/json")]).await;
    assert_eq!(json.status, 401);
    assert!(json.body.contains("password_required"), "{}", json.body);
    assert!(!json.shows("secret.example"));

    app.stop().await;
}

#[tokio::test]
async fn the_cookie_is_secure_when_a_trusted_proxy_says_https() {
    let app = spawn_with(|c| c.proxy.trusted_proxies = "127.0.0.1".into()).await;
    protected(&app, "pwsec1");
    let https = [("x-forwarded-proto", "https"), ("x-forwarded-for", "198.51.100.20")];
    let opened = post(&app, "/pwsec1", PASSWORD, &https).await;
    assert_eq!(opened.status, 303);
    assert!(
        opened.header("set-cookie").is_some_and(|c| c.contains("; Secure")),
        "{:?}",
        opened.header("set-cookie")
    );
    let plain = post(&app, "/pwsec1", PASSWORD, &[("x-forwarded-proto", "http")]).await;
    assert!(plain.header("set-cookie").is_some_and(|c| !c.contains("Secure")));
    app.stop().await;

    // From a peer that is no trusted proxy the header is not believed.
    let app = spawn().await;
    protected(&app, "pwsec1");
    let opened = post(&app, "/pwsec1", PASSWORD, &[("x-forwarded-proto", "https")]).await;
    assert!(opened.header("set-cookie").is_some_and(|c| !c.contains("Secure")));
    app.stop().await;
}

#[tokio::test]
async fn wrong_passwords_are_limited_per_client_and_link() {
    let app = spawn_with(|c| c.proxy.trusted_proxies = "127.0.0.1".into()).await;
    protected(&app, "pwlim1");
    protected(&app, "pwlim2");
    let me = [("x-forwarded-for", "198.51.100.30")];
    for i in 0..5 {
        let r = post(&app, "/pwlim1", &format!("guess-{i}"), &me).await;
        assert_eq!(r.status, 401, "wrong password {i}");
        assert!(r.body.contains("not right") && r.body.contains(r#"name="password""#), "{}", r.body);
        assert!(r.header("location").is_none() && r.header("set-cookie").is_none());
        assert!(!r.shows("secret.example"));
    }
    // The sixth is refused before it is verified, even the right one.
    for password in ["guess-5", PASSWORD] {
        let r = post(&app, "/pwlim1", password, &me).await;
        assert_eq!(r.status, 429, "{password}");
        let wait: u64 = r.header("retry-after").expect("retry-after").parse().expect("seconds");
        assert!((1..=900).contains(&wait), "{wait}");
        assert!(r.header("location").is_none());
    }
    // Another link, another address: their own counts.
    assert_eq!(post(&app, "/pwlim2", PASSWORD, &me).await.status, 303);
    assert_eq!(post(&app, "/pwlim1", PASSWORD, &[("x-forwarded-for", "198.51.100.31")]).await.status, 303);

    // Only wrong passwords count: a right one in between gives its count back.
    let other = [("x-forwarded-for", "198.51.100.32")];
    for i in 0..4 {
        assert_eq!(post(&app, "/pwlim2", &format!("guess-{i}"), &other).await.status, 401);
    }
    assert_eq!(post(&app, "/pwlim2", PASSWORD, &other).await.status, 303);
    assert_eq!(post(&app, "/pwlim2", "guess-4", &other).await.status, 401, "the fifth wrong one");
    assert_eq!(post(&app, "/pwlim2", "guess-5", &other).await.status, 429, "the sixth");
    app.stop().await;
}

#[tokio::test]
async fn without_redis_password_attempts_fail_closed() {
    let app = spawn_with(|c| c.redis.redis_url = "redis://127.0.0.1:1".into()).await;
    protected(&app, "pwdown");
    // The link is read from Postgres, so the form is shown; an attempt cannot be counted.
    assert_eq!(get(&app, "/pwdown", &[]).await.status, 200);
    for password in [PASSWORD, "wrong"] {
        let r = post(&app, "/pwdown", password, &[]).await;
        assert_eq!(r.status, 503, "{password}: {}", r.body);
        assert!(r.header("location").is_none() && r.header("set-cookie").is_none());
    }
    app.stop().await;
}

#[tokio::test]
async fn bots_and_previews_only_ever_get_the_form() {
    let app = spawn().await;
    protected(&app, "pwbot1");
    let opened = post(&app, "/pwbot1", PASSWORD, &[]).await;
    let cookie = opened.cookie().expect("a person's cookie");
    let bot = [("user-agent", BOT)];
    let with_cookie = [("user-agent", BOT), ("cookie", cookie.as_str())];
    for r in [
        get(&app, "/pwbot1", &bot).await,
        get(&app, "/pwbot1", &with_cookie).await,
        post(&app, "/pwbot1", PASSWORD, &bot).await,
    ] {
        assert_eq!(r.status, 200);
        assert!(r.header("location").is_none() && r.header("set-cookie").is_none());
        assert!(!r.shows("secret.example"), "{}", r.body);
    }
    let head = app.client.head(app.url("/pwbot1")).header("cookie", &cookie).send().await.expect("head");
    assert_eq!(head.status(), 200, "a HEAD is a bot's");
    assert!(head.headers().get("location").is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_form_that_cannot_be_read_is_refused() {
    let app = spawn().await;
    protected(&app, "pwform");
    let send = |ct: &'static str, body: String| {
        let req = app.client.post(app.url("/pwform")).header("content-type", ct).body(body);
        async move { req.send().await.expect("post").status().as_u16() }
    };
    assert_eq!(send("application/json", format!(r#"{{"password":"{PASSWORD}"}}"#)).await, 415);
    assert_eq!(
        send("application/x-www-form-urlencoded", format!("password={}", "x".repeat(2000))).await,
        413
    );
    assert_eq!(send("application/x-www-form-urlencoded", "other=1".into()).await, 400);
    assert_eq!(send("application/x-www-form-urlencoded", "password=".into()).await, 400);
    assert_eq!(
        send("application/x-www-form-urlencoded; charset=UTF-8", format!("password={PASSWORD}")).await,
        303
    );
    // A link without a password takes no POST.
    app.link("nopw01", DEST, |_| {});
    let r = post(&app, "/nopw01", PASSWORD, &[]).await;
    assert_eq!(r.status, 405);
    assert!(!r.shows("secret.example"));
    // Not even a limited one's click is used up by it.
    app.link("nopw02", DEST, |l| l.max_clicks = Some(1));
    assert_eq!(post(&app, "/nopw02", PASSWORD, &[]).await.status, 405);
    assert_eq!(post(&app, "/nosuch9", PASSWORD, &[]).await.status, 405, "nor does it tell what exists");
    assert_eq!(get(&app, "/nopw02", &[]).await.status, 302);
    app.stop().await;
}

#[tokio::test]
async fn the_password_is_in_no_answer_and_no_event() {
    let app = spawn_with(|c| c.proxy.trusted_proxies = "127.0.0.1".into()).await;
    protected(&app, "pwleak");
    let mut seen = vec![get(&app, "/pwleak", &[]).await];
    seen.push(post(&app, "/pwleak", &format!("{PASSWORD}-wrong"), &[]).await);
    seen.push(post(&app, "/pwleak", PASSWORD, &[]).await);
    seen.push(post(&app, "/pwleak", PASSWORD, &[("user-agent", BOT)]).await);
    for i in 0..6 {
        seen.push(
            post(&app, "/pwleak", &format!("{PASSWORD}{i}"), &[("x-forwarded-for", "198.51.100.40")]).await,
        );
    }
    assert_eq!(
        seen.iter().map(|s| s.status).collect::<Vec<_>>(),
        [200, 401, 303, 200, 401, 401, 401, 401, 401, 429]
    );
    for s in &seen {
        assert!(!s.shows(PASSWORD), "the password in an answer: {:?} {}", s.headers, s.body);
    }
    let metrics = app.metrics().await;
    assert!(!metrics.contains(PASSWORD));
    let counted = |result: &str| {
        ghostlink_test_support::metric_value(
            &metrics,
            "redirect_password_attempts_total",
            &[&format!(r#"result="{result}""#)],
        )
    };
    assert!(
        counted("wrong") >= 6.0 && counted("right") >= 1.0 && counted("limited") >= 1.0,
        "counted by result"
    );

    let (_db, amqp) = app.stop_keep_bus().await;
    let events = crate::published_clicks(&amqp).await;
    let mine: Vec<_> = events.iter().filter(|e| e.data.code == "pwleak").collect();
    assert_eq!(mine.len(), seen.len());
    for e in &mine {
        let text = String::from_utf8(e.to_bytes()).expect("utf-8");
        assert!(!text.contains(PASSWORD), "the password in an event: {text}");
    }
    let outcomes: Vec<(&str, ClickOutcome)> =
        mine.iter().map(|e| (e.data.method.as_str(), e.data.outcome)).collect();
    use ClickOutcome::{PasswordRequired as Asked, Redirect};
    assert_eq!(
        outcomes,
        [
            ("GET", Asked),
            ("POST", Asked),
            ("POST", Redirect),
            ("POST", Asked),
            ("POST", Asked),
            ("POST", Asked),
            ("POST", Asked),
            ("POST", Asked),
            ("POST", Asked),
            ("POST", Asked)
        ]
    );
    assert!(mine[3].data.bot);
    ghostlink_test_support::delete_topology(&amqp.bus_prefix).await;
}
