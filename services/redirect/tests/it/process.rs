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
fn sigterm_drains_and_exits_0() {
    let db = TestDb::new();
    let spool = std::env::temp_dir().join(format!("gl-spool-proc-{}", std::process::id()));
    let prefix = format!("gltest-proc-{}", std::process::id());
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
    if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
        rt.block_on(ghostlink_test_support::delete_topology(&prefix));
    }
}
