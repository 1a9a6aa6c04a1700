//! The binary itself: bad config exits 2 naming the setting; SIGTERM drains and exits 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ghostlink_test_support::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_ghostlink-redirect");

#[test]
fn bad_config_exits_2_naming_the_setting() {
    for (args, setting) in [
        (vec!["--cache-ttl-ms", "5000"], "CACHE_TTL_MS"),
        (vec!["--database-url", "mysql://x/y"], "DATABASE_URL"),
        (vec!["--listen", "not-an-address"], "LISTEN_ADDR"),
        (vec!["--redirect-status", "307"], "REDIRECT_STATUS"),
        (vec!["--bus-prefix", "bad prefix"], "BUS_PREFIX"),
        (vec!["--amqp-url", "http://x"], "AMQP_URL"),
        (vec!["--trusted-proxies", "10.0.0.0/8,nginx"], "TRUSTED_PROXIES"),
        (vec!["--referrer-policy", "unsafe"], "REFERRER_POLICY"),
    ] {
        let out = Command::new(BIN).args(&args).env_remove("LISTEN_ADDR").output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(setting), "{args:?}: {err}");
    }
    let out = Command::new(BIN).args(["--redis-timeout-ms", "abc"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn no_salt_or_the_published_one_exits_2_outside_dev_mode() {
    for args in [vec![], vec!["--click-salt", "ghostlink-dev-salt"]] {
        let out = Command::new(BIN)
            .args(&args)
            .env_remove("CLICK_SALT")
            .env_remove("CLICK_SALT_FILE")
            .env_remove("GHOSTLINK_DEV")
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("CLICK_SALT"), "{args:?}");
    }
}

#[test]
fn sigterm_drains_and_exits_0() {
    let db = TestDb::new();
    let spool = std::env::temp_dir().join(format!("gl-spool-proc-{}", std::process::id()));
    let prefix = format!("gltest-proc-{}", std::process::id());
    // The salt as a compose secret would hand it over: a file.
    let salt = std::env::temp_dir().join(format!("gl-salt-proc-{}", std::process::id()));
    std::fs::write(&salt, "proc-test-salt\n").expect("salt file");
    let mut child = Command::new(BIN)
        .args([
            "--database-url",
            &db.url,
            "--listen",
            "127.0.0.1:0",
            "--ops-listen",
            "127.0.0.1:0",
            "--log-level",
            "info",
            "--bus-prefix",
            &prefix,
        ])
        .arg("--spool-dir")
        .arg(&spool)
        .arg("--click-salt-file")
        .arg(&salt)
        .env_remove("CLICK_SALT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let t = Instant::now();
    while !line.contains("listening") {
        line.clear();
        std::io::BufRead::read_line(&mut stdout, &mut line).expect("read");
        assert!(t.elapsed() < Duration::from_secs(20), "never said it was listening");
    }
    let log: serde_json::Value = serde_json::from_str(line.trim()).expect("JSON log line");
    for key in ["ts", "level", "service", "msg"] {
        assert!(log.get(key).is_some(), "log line lacks {key}: {line}");
    }
    assert_eq!(log["service"], "redirect");
    let st = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(st.success());
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert_eq!(status.code(), Some(0));
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&spool);
    let _ = std::fs::remove_file(&salt);
    if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
        rt.block_on(ghostlink_test_support::delete_topology(&prefix));
    }
}
