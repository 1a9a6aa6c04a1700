//! A team's day through ghostctl and the real shortener and redirect binaries: an owner adds a
//! custom domain; a member creates a link on it with tags, a password and two rules, changes its
//! destination and reads the revision, downloads a QR code that decodes to the short URL, and
//! exports the workspace; another workspace imports the export and can touch none of the first
//! one's links.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ghostlink_test_support::{amqp_args, delete_topology, service_env, TestDb};
use serde_json::Value;

use crate::pipeline::{start, stop};
use crate::BIN;

fn run(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .env("DATABASE_URL", &db.url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ghostctl");
    if let Some(text) = stdin {
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("ghostctl output")
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

fn json(out: Output) -> Value {
    serde_json::from_str(&ok(out)).expect("ghostctl printed JSON")
}

async fn until_up(url: &str) {
    let t = Instant::now();
    while reqwest::get(url).await.is_err() {
        assert!(t.elapsed() < Duration::from_secs(30), "{url} never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_member_runs_a_custom_domain_link_and_another_workspace_touches_nothing() {
    let db = TestDb::new();
    let amqp = amqp_args();
    // Below the kernel's ephemeral range (32768 up), where an outgoing connection could take a
    // port between choosing it and the service binding it; apart from the pipeline test's.
    let port = 10_000 + (std::process::id() % 2000) as u16 * 5;
    let (api_port, redirect_port) = (port, port + 1);
    let common = |ops: u16| {
        let mut env = service_env(&db, &amqp);
        env.extend([
            ("REDIS_KEY_PREFIX", format!("{}:", amqp.bus_prefix)),
            ("OPS_LISTEN_ADDR", format!("127.0.0.1:{ops}")),
            ("LOG_LEVEL", "error".into()),
        ]);
        env
    };
    let mut senv = common(port + 2);
    senv.push(("LISTEN_ADDR", format!("127.0.0.1:{api_port}")));
    senv.push(("ADMIN_LISTEN_ADDR", format!("127.0.0.1:{}", port + 3)));
    senv.push(("PUBLIC_BASE_URL", "http://sho.rt".into()));
    let shortener = start("ghostlink-shortener", &senv);
    let mut renv = common(port + 4);
    renv.push(("LISTEN_ADDR", format!("127.0.0.1:{redirect_port}")));
    renv.push((
        "SPOOL_DIR",
        std::env::temp_dir().join(format!("gl-team-{}", amqp.bus_prefix)).display().to_string(),
    ));
    renv.push(("CLICK_SALT", "team-test-salt".into()));
    renv.push(("DEFAULT_HOSTS", "sho.rt".into()));
    let redirect = start("ghostlink-redirect", &renv);
    let api = format!("http://127.0.0.1:{api_port}");
    until_up(&format!("{api}/api/v1/openapi.json")).await;
    until_up(&format!("http://127.0.0.1:{port}/", port = port + 4)).await;

    let owner =
        ok(run(&db, &["workspace", "create", "--slug", "acme", "--name", "Acme", "--owner", "ann"], None));
    let member = ok(run(
        &db,
        &["workspace", "add-member", "--workspace", "acme", "--name", "bob", "--role", "member"],
        None,
    ));
    let rival =
        ok(run(&db, &["workspace", "create", "--slug", "rival", "--name", "Rival", "--owner", "rob"], None));
    let (owner, member, rival) = (owner.trim(), member.trim(), rival.trim());
    let as_ = |token: &str, args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--api-url".into(), api.clone(), "--token".into(), token.into()]);
        v
    };
    let call = |token: &str, args: &[&str], stdin: Option<&str>| {
        let v = as_(token, args);
        run(&db, &v.iter().map(String::as_str).collect::<Vec<_>>(), stdin)
    };

    // The owner adds the domain; a member may not.
    let out = call(member, &["domain", "add", "go.acme.test"], None);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let d = json(call(
        owner,
        &["domain", "add", "go.acme.test", "--not-found-url", "https://acme.test/404"],
        None,
    ));
    assert_eq!(d["host"], "go.acme.test");
    assert!(ok(call(member, &["domain", "list"], None)).contains("go.acme.test"));

    // A link on it with tags, a password (from stdin) and two rules.
    let rules = std::env::temp_dir().join(format!("gl-team-rules-{}.json", amqp.bus_prefix));
    std::fs::write(
        &rules,
        r#"[{"conditions":[{"type":"query","name":"v","value":"beta"}],"url":"https://acme.test/beta"},
            {"conditions":[{"type":"language","is":["de"]}],"url":"https://acme.test/de"}]"#,
    )
    .expect("rules");
    let rules = rules.display().to_string();
    let link = json(call(
        member,
        &[
            "link",
            "create",
            "--url",
            "https://acme.test/launch",
            "--alias",
            "launch",
            "--domain",
            "go.acme.test",
            "--tag",
            "launch",
            "--tag",
            "q4",
            "--rules",
            &rules,
            "--password-stdin",
        ],
        Some("open sesame\n"),
    ));
    assert_eq!(link["short_url"], "http://go.acme.test/launch", "{link}");
    assert_eq!(link["tags"], serde_json::json!(["launch", "q4"]));
    assert_eq!(link["rules"].as_array().map(Vec::len), Some(2));
    assert_eq!(link["password_protected"], true);
    assert!(!link.to_string().contains("open sesame"), "the password is never shown");
    json(call(member, &["link", "create", "--url", "https://acme.test/plain", "--alias", "plain"], None));

    // A new destination, and its revision.
    let changed = json(call(
        member,
        &["link", "update", "launch", "--domain", "go.acme.test", "--url", "https://acme.test/v2"],
        None,
    ));
    assert_eq!(changed["url"], "https://acme.test/v2");
    let revs = json(call(member, &["link", "revisions", "launch", "--domain", "go.acme.test"], None));
    assert_eq!(
        (revs[0]["old_url"].as_str(), revs[0]["new_url"].as_str()),
        (Some("https://acme.test/launch"), Some("https://acme.test/v2"))
    );
    assert_eq!(revs[0]["changed_by"], "bob");

    // The QR code decodes to the short URL on the link's domain.
    let png = std::env::temp_dir().join(format!("gl-team-{}.png", amqp.bus_prefix));
    ok(call(
        member,
        &[
            "link",
            "qr",
            "launch",
            "--domain",
            "go.acme.test",
            "--format",
            "png",
            "--size",
            "512",
            "--out",
            &png.display().to_string(),
        ],
        None,
    ));
    let zbar =
        Command::new("zbarimg").args(["--raw", "-q"]).arg(&png).output().expect("zbarimg (zbar-tools)");
    assert_eq!(String::from_utf8_lossy(&zbar.stdout).trim(), "http://go.acme.test/launch");

    // The redirect on that host: the password form first, then the rule's or the destination.
    // A browser's user agent: a client without one is a bot, and bots only ever see the form.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
        .build()
        .expect("client");
    let on = |path: &str| {
        client.get(format!("http://127.0.0.1:{redirect_port}{path}")).header("host", "go.acme.test")
    };
    let t = Instant::now();
    let form = loop {
        let r = on("/launch").send().await.expect("get");
        if r.status() == 200 {
            break r.text().await.expect("form");
        }
        assert!(t.elapsed() < Duration::from_secs(10), "the domain never routed: {}", r.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(form.contains("<form") && !form.contains("acme.test/v2"), "{form}");
    let unlocked = client
        .post(format!("http://127.0.0.1:{redirect_port}/launch?v=beta"))
        .header("host", "go.acme.test")
        .form(&[("password", "open sesame")])
        .send()
        .await
        .expect("post");
    let status = unlocked.status();
    let location = unlocked.headers().get("location").cloned();
    assert_eq!(status, 303, "{}", unlocked.text().await.unwrap_or_default());
    assert_eq!(location.expect("location"), "https://acme.test/beta");
    let missing = on("/nope").send().await.expect("get");
    assert_eq!(missing.headers()["location"], "https://acme.test/404");

    // Export the workspace; the rival imports it into its own workspace on the same instance:
    // the link on acme's domain is refused (the domain is acme's), the default domain's link
    // too (its code is taken on that domain, by acme) — nothing is moved or overwritten. (An
    // export into another instance creates every row: the shortener's transfer tests.)
    let export = std::env::temp_dir().join(format!("gl-team-{}.json", amqp.bus_prefix));
    let export_s = export.display().to_string();
    ok(call(member, &["export", "--format", "json", "--out", &export_s], None));
    let exported: Value = serde_json::from_slice(&std::fs::read(&export).expect("export")).expect("json");
    assert_eq!(exported.as_array().map(Vec::len), Some(2), "{exported}");
    let out = call(rival, &["import", &export_s, "--format", "json"], None);
    assert_eq!(out.status.code(), Some(2), "a refused row: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    let why: Vec<&str> = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["error"]["code"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        (report["created"].as_u64(), why),
        (Some(0), vec!["unknown_domain", "alias_taken"]),
        "{report}"
    );
    for args in [
        vec!["link", "get", "launch", "--domain", "go.acme.test"],
        vec!["link", "update", "launch", "--domain", "go.acme.test", "--url", "https://evil.test/"],
        vec!["domain", "set", "go.acme.test", "--root-url", "https://evil.test/"],
        vec!["domain", "remove", "go.acme.test"],
    ] {
        let out = call(rival, &args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("404"),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let still = json(call(member, &["link", "get", "launch", "--domain", "go.acme.test"], None));
    assert_eq!(still["url"], "https://acme.test/v2");
    // Bad input is exit 2 with a message.
    let out = call(member, &["link", "create", "--url", "ftp://x.test/"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("url_scheme"));

    stop(redirect);
    stop(shortener);
    for f in [&png, &export] {
        let _ = std::fs::remove_file(f);
    }
    delete_topology(&amqp.bus_prefix).await;
}
