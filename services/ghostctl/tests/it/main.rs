//! ghostctl end to end: migrations, tokens, and `up` running the README walk-through against
//! the real service binaries, Postgres and Redis.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ghostlink_test_support::TestDb;

mod live;
mod pipeline;
mod simulate;
mod team;
mod trace;

const BIN: &str = env!("CARGO_BIN_EXE_ghostctl");

fn ghostctl(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN).env("DATABASE_URL", db).args(args).output().expect("run ghostctl")
}

#[test]
fn migrate_creates_the_database_and_is_idempotent() {
    let base = ghostlink_test_support::base_database_url();
    let mut url = url_of(&base);
    let name = format!("gl_test_ctl_{}", std::process::id());
    url.set_path(&format!("/{name}"));
    let out = ghostctl(url.as_str(), &["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("created database"));
    let out = ghostctl(url.as_str(), &["migrate"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("up to date"));
    ghostlink_test_support::drop_database(&name);
}

fn url_of(s: &str) -> url::Url {
    url::Url::parse(s).expect("url")
}

#[test]
fn tokens_create_list_revoke() {
    let db = TestDb::new();
    let out = ghostctl(&db.url, &["token", "create", "--name", "ops-bot", "--role", "admin"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the token alone on stdout: {stdout:?}");
    let token = lines[0];
    assert!(token.starts_with("glk_") && token.len() == 44);
    let row = ghostlink_db::tokens::find_by_hash(&mut db.conn(), &ghostlink_domain::hash_token(token))
        .expect("db")
        .expect("stored");
    assert_eq!(row.role, ghostlink_domain::Role::Admin);
    assert_ne!(row.token_sha256, token, "only the hash is stored");
    assert!(token.starts_with(&row.prefix));

    let out = ghostctl(&db.url, &["token", "create", "--name", "ops-bot", "--role", "user"]);
    assert_eq!(out.status.code(), Some(2), "a taken name is bad input");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = ghostctl(&db.url, &["token", "create", "--name", "x", "--role", "root"]);
    assert_eq!(out.status.code(), Some(2));

    let out = ghostctl(&db.url, &["token", "list"]);
    assert!(out.status.success());
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("ops-bot") && list.contains(&row.prefix) && !list.contains(token));

    let out = ghostctl(&db.url, &["token", "revoke", "ops-bot"]);
    assert!(out.status.success());
    let out = ghostctl(&db.url, &["token", "revoke", "ops-bot"]);
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN)
        .env("DATABASE_URL", "mysql://nope/x")
        .args(["token", "list"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
}

#[test]
fn workspaces_members_and_their_keys() {
    use ghostlink_domain::workspace::{MemberRole, Scope};
    let db = TestDb::new();
    let key = |out: std::process::Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).expect("utf8");
        let lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 1, "the key alone on stdout: {stdout:?}");
        ghostlink_db::tokens::principal_by_hash(&mut db.conn(), &ghostlink_domain::hash_token(&lines[0]))
            .expect("db")
            .expect("stored")
    };
    let owner = key(ghostctl(
        &db.url,
        &["workspace", "create", "--slug", "acme", "--name", "Acme", "--owner", "ann"],
    ));
    assert_eq!((owner.member_name.as_str(), owner.member_role), ("ann", MemberRole::Owner));
    assert_eq!(owner.key.scopes, MemberRole::Owner.full_scopes());
    let viewer = key(ghostctl(
        &db.url,
        &[
            "workspace",
            "add-member",
            "--workspace",
            "acme",
            "--name",
            "vic",
            "--role",
            "viewer",
            "--scopes",
            "links:read",
        ],
    ));
    assert_eq!((viewer.member_role, viewer.key.scopes.clone()), (MemberRole::Viewer, vec![Scope::LinksRead]));
    assert_eq!(viewer.key.workspace_id, owner.key.workspace_id);
    let out = ghostctl(&db.url, &["workspace", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("acme"));
    // Bad input: exit 2 with a message, nothing written.
    for args in [
        vec!["workspace", "create", "--slug", "Acme!", "--name", "x", "--owner", "o"],
        vec!["workspace", "create", "--slug", "acme", "--name", "again", "--owner", "o"],
        vec!["workspace", "add-member", "--workspace", "nope", "--name", "x", "--role", "member"],
        vec!["workspace", "add-member", "--workspace", "acme", "--name", "vic", "--role", "member"],
        vec![
            "workspace",
            "add-member",
            "--workspace",
            "acme",
            "--name",
            "w",
            "--role",
            "viewer",
            "--scopes",
            "links:write",
        ],
        vec!["workspace", "add-member", "--workspace", "acme", "--name", "w", "--role", "boss"],
    ] {
        let out = ghostctl(&db.url, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}

/// The README walk-through: `ghostctl up`, a token, a link, a redirect, every /metrics.
#[tokio::test]
async fn up_starts_the_system_and_the_walkthrough_works() {
    let dir = std::path::Path::new(BIN).parent().expect("dir");
    for b in ["ghostlink-redirect", "ghostlink-shortener", "ghostlink-click-recorder"] {
        assert!(dir.join(b).exists(), "{b} is not built beside ghostctl: run `cargo test --workspace`");
    }
    let db = TestDb::new();
    let offset = 20_000 + (std::process::id() % 2000) as u16 * 10;
    let state = std::env::temp_dir().join(format!("gl-up-state-{offset}"));
    let _ = std::fs::remove_dir_all(&state);
    let mut child = Command::new(BIN)
        .env("DATABASE_URL", &db.url)
        .env("GHOSTLINK_STATE_DIR", &state)
        .env("CLICK_SALT", "ghostlink-dev-salt")
        .env("GHOSTLINK_PORT_OFFSET", offset.to_string())
        .env("REDIS_KEY_PREFIX", format!("gltest:up:{offset}:"))
        .env("LOG_LEVEL", "warn")
        .env("BUS_PREFIX", format!("gltest-up-{offset}"))
        .env("SPOOL_DIR", std::env::temp_dir().join(format!("gl-up-spool-{offset}")))
        .arg("up")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn up");
    // Stops `ghostctl up` (and so its children) even if an assertion below fails.
    struct StopOnDrop(u32);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            let _ = Command::new("kill").args(["-TERM", &self.0.to_string()]).status();
        }
    }
    let _guard = StopOnDrop(child.id());
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut token = None;
    let mut banner = String::new();
    let t = Instant::now();
    while token.is_none() {
        let line = rx.recv_timeout(Duration::from_secs(90)).expect("ghostctl up printed nothing");
        banner.push_str(&line);
        banner.push('\n');
        if let Some(t) = line.split("store it): ").nth(1) {
            token = Some(t.trim().to_string());
        }
        assert!(t.elapsed() < Duration::from_secs(90), "no admin token in {banner}");
    }
    let token = token.expect("token");
    let (redirect, shortener) = (8080 + offset, 8081 + offset);
    assert!(banner.contains(&format!("http://127.0.0.1:{redirect}")), "{banner}");
    assert!(banner.contains(&format!("http://127.0.0.1:{}/metrics", 9102 + offset)), "{banner}");

    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let resp = client
        .post(format!("http://127.0.0.1:{shortener}/api/v1/links"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"url": "https://example.com/walkthrough"}))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), 201);
    let link: serde_json::Value = resp.json().await.expect("json");
    let short = link["short_url"].as_str().expect("short_url").to_string();
    assert!(short.starts_with(&format!("http://127.0.0.1:{redirect}/")));
    let resp = client.get(&short).send().await.expect("follow");
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "https://example.com/walkthrough");
    // The click travels redirect → RabbitMQ → click recorder → Postgres → stats.
    let code = link["code"].as_str().expect("code").to_string();
    let t = Instant::now();
    loop {
        let stats: serde_json::Value = client
            .get(format!("http://127.0.0.1:{shortener}/api/v1/links/{code}/stats"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        if stats["total"] == 1 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "click never reached the stats: {stats}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The click was hashed with the salt `up` generated and keeps in its state directory
    // (mode 0600), not with the published development default it inherited.
    let salt_file = state.join("click_salt");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&salt_file).expect("salt file").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "{salt_file:?}");
    let salt = std::fs::read_to_string(&salt_file).expect("read salt");
    let salt = salt.trim();
    assert!(salt.len() >= 32, "{salt:?}");
    let clicks = ghostlink_db::clicks::for_code(&mut db.conn(), &code).expect("clicks");
    assert_eq!(clicks.len(), 1);
    assert_eq!(clicks[0].client_hash, ghostlink_domain::hash_client(salt, "127.0.0.1\u{0}"));
    for (ops, metric) in [
        (9101 + offset, "http_requests_total"),
        (9102 + offset, "http_requests_total"),
        (9106 + offset, "bus_acked_total"),
    ] {
        let m = client.get(format!("http://127.0.0.1:{ops}/metrics")).send().await.expect("metrics");
        assert_eq!(m.status(), 200);
        let text = m.text().await.expect("text");
        assert!(
            text.contains(metric) && text.contains("process_resident_memory_bytes"),
            "{ops}: no {metric}"
        );
    }

    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill").success());
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            assert!(st.success(), "ghostctl up exited with {st}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "ghostctl up did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The children are gone too.
    assert!(std::net::TcpStream::connect(("127.0.0.1", redirect)).is_err());
    let _ = std::fs::remove_dir_all(&state);
    ghostlink_test_support::delete_topology(&format!("gltest-up-{offset}")).await;
}
