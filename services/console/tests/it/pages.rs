use std::net::SocketAddr;

use ghostlink_console::{App, Config};

struct Running {
    addr: SocketAddr,
    ops: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A console whose API is `api` (a closed port unless a test says otherwise).
fn spawn(api: &str, public: &str) -> Running {
    let config = Config {
        listen: ghostlink_config::ListenArgs::on("127.0.0.1:0", "127.0.0.1:0"),
        log: ghostlink_config::LogArgs { log_level: ghostlink_config::LogLevel::Off },
        api_url: api.into(),
        public_url: public.into(),
    };
    let app = App::build(config).expect("build console");
    let (addr, ops) = (app.addr(), app.ops_addr());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    Running { addr, ops, stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A port nothing listens on.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr");
    drop(l);
    format!("http://{a}")
}

#[tokio::test]
async fn sign_in_page_has_a_strict_policy_a_csrf_field_and_lax_httponly_cookies() {
    let c = spawn(&closed_port(), "https://console.example");
    let r = client().get(format!("http://{}/sign-in", c.addr)).send().await.expect("get");
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().expect("csp").to_string();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let cookie = r.headers()["set-cookie"].to_str().expect("cookie").to_string();
    for part in ["gl_csrf=", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    let token = cookie["gl_csrf=".len()..].split(';').next().expect("value").to_string();
    let body = r.text().await.expect("body");
    assert!(body.contains(&format!("name=\"csrf\" value=\"{token}\"")), "{body}");
    assert!(body.contains("<label for=\"email\">") && !body.contains("<script"), "{body}");
    let css = client().get(format!("http://{}/static/app.css", c.addr)).send().await.expect("css");
    assert_eq!(css.status(), 200);
    assert!(css.text().await.expect("css").contains("prefers-color-scheme: dark"));
    c.stop().await;
}

#[tokio::test]
async fn a_post_without_its_csrf_token_is_refused_and_cookies_are_not_secure_over_http() {
    let c = spawn(&closed_port(), "http://127.0.0.1:8083");
    let r = client().get(format!("http://{}/sign-in", c.addr)).send().await.expect("get");
    let cookie = r.headers()["set-cookie"].to_str().expect("cookie").to_string();
    assert!(!cookie.contains("Secure"), "{cookie}");
    let jar = cookie.split(';').next().expect("pair").to_string();
    for (cookie, field) in [(None, "x"), (Some(jar.clone()), "not-the-token")] {
        let mut req = client().post(format!("http://{}/sign-in", c.addr)).form(&[
            ("csrf", field),
            ("email", "a@example.org"),
            ("password", "p"),
        ]);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        assert_eq!(req.send().await.expect("post").status(), 403);
    }
    // With its token, the form reaches the API: unreachable here, said on the page, escaped.
    let token = jar["gl_csrf=".len()..].to_string();
    let r = client()
        .post(format!("http://{}/sign-in", c.addr))
        .header("cookie", &jar)
        .form(&[("csrf", token.as_str()), ("email", "\"><img src=x onerror=alert(1)>"), ("password", "p")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 502);
    let body = r.text().await.expect("body");
    assert!(body.contains("the API is unreachable") && !body.contains("<img src=x"), "{body}");
    assert!(body.contains("&#34;&gt;&lt;img") || body.contains("&quot;&gt;&lt;img"), "{body}");
    // Without a session the dashboard sends to sign-in.
    let r = client().get(format!("http://{}/", c.addr)).send().await.expect("get");
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().ok()), (303, Some("/sign-in")));
    // Ready only when the API answers.
    let r = client().get(format!("http://{}/readyz", c.ops)).send().await.expect("readyz");
    assert_eq!(r.status(), 503);
    c.stop().await;
}

#[test]
fn a_bad_api_url_is_named() {
    let config = Config {
        listen: ghostlink_config::ListenArgs::on("127.0.0.1:0", "127.0.0.1:0"),
        log: ghostlink_config::LogArgs { log_level: ghostlink_config::LogLevel::Off },
        api_url: "ftp://nowhere".into(),
        public_url: "http://127.0.0.1:8083".into(),
    };
    let e = config.resolve().expect_err("refused");
    assert!(e.to_string().contains("CONSOLE_API_URL"), "{e}");
}
