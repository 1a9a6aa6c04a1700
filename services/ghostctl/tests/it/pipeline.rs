//! The event pipeline end to end with the real binaries: replay, dead letters, and a broker
//! outage under traffic.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use ghostlink_bus::Outgoing;
use ghostlink_config::AmqpArgs;
use ghostlink_proto::{ClickRecorded, Envelope, Event};
use ghostlink_test_support::bus::{click, outgoing, publisher, stream_events, topology};
use ghostlink_test_support::{amqp_args, delete_topology, service_env, TestDb};

use crate::BIN;

fn ghostctl_bus(db: &TestDb, amqp: &AmqpArgs, args: &[&str]) -> std::process::Output {
    Command::new(BIN).envs(service_env(db, amqp)).args(args).output().expect("run ghostctl")
}

fn click_at(code: &str, day: u32, i: u32) -> Outgoing {
    let at = Utc.with_ymd_and_hms(2026, 11, day, 10, 0, i % 60).single().expect("time");
    outgoing(&Envelope::new(
        "redirect",
        None,
        at,
        ClickRecorded { user_agent: Some(format!("agent-{i}")), ..click(code) },
    ))
}

fn all_clicks(db: &TestDb) -> Vec<ghostlink_db::clicks::NewClick> {
    let mut v = Vec::new();
    for code in ["r1", "r2"] {
        v.extend(ghostlink_db::clicks::for_code(&mut db.conn(), code).expect("clicks"));
    }
    v.sort_by_key(|c| c.event_id);
    v
}

#[tokio::test]
async fn replay_from_first_is_a_no_op_and_a_deleted_day_comes_back_exactly() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let publisher = publisher(&amqp);
    let batch: Vec<Outgoing> =
        (0..60).map(|i| click_at(if i % 2 == 0 { "r1" } else { "r2" }, 20 + (i % 3), i)).collect();
    publisher.publish(&batch).await.expect("publish");
    publisher.close().await;

    let out = ghostctl_bus(&db, &amqp, &["replay", "clicks", "--from", "first"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stored = all_clicks(&db);
    assert_eq!(stored.len(), 60);

    // From first again: nothing changes.
    let out = ghostctl_bus(&db, &amqp, &["replay", "clicks", "--from", "first"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 click rows restored, 60 already stored"));
    assert_eq!(all_clicks(&db), stored);

    // Lose a day, replay that day: exactly the same rows again.
    let from = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).single().expect("t");
    let to = Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).single().expect("t");
    let deleted = ghostlink_db::clicks::delete_window(&mut db.conn(), from, to).expect("delete");
    assert_eq!(deleted, 20);
    assert_eq!(all_clicks(&db).len(), 40);
    let out =
        ghostctl_bus(&db, &amqp, &["replay", "clicks", "--from", "first", "--to", "2026-11-22T00:00:00Z"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(all_clicks(&db), stored, "the deleted day is restored exactly");

    let out = ghostctl_bus(&db, &amqp, &["replay", "clicks", "--from", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    delete_topology(&amqp.bus_prefix).await;
}

/// A stream window holding events the database refuses: a NUL in a click's text (stored made
/// storable) and a click a constraint refuses (counted as rejected); the replay goes on and
/// applies the rest instead of stopping on them.
#[tokio::test]
async fn replay_counts_refused_events_as_rejected_and_applies_the_rest() {
    let db = TestDb::new();
    db.execute("ALTER TABLE clicks ADD CONSTRAINT clicks_code_not_refused CHECK (code <> 'refused')");
    let amqp = amqp_args();
    let publisher = publisher(&amqp);
    let mut batch: Vec<Outgoing> = (0..20).map(|i| click_at("r1", 20, i)).collect();
    let mut nul = click_at("r2", 20, 30);
    let mut v: serde_json::Value = serde_json::from_slice(&nul.payload).expect("json");
    v["data"]["user_agent"] = "agent\0nul".into();
    nul.payload = serde_json::to_vec(&v).expect("json");
    batch.insert(5, nul);
    batch.insert(12, click_at("refused", 20, 31));
    publisher.publish(&ghostlink_bus::pack(&batch, 250)).await.expect("publish");
    publisher.close().await;

    let out = ghostctl_bus(&db, &amqp, &["replay", "clicks", "--from", "first"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("21 click rows restored, 0 already stored, 1 rejected"), "{stderr}");
    assert!(stderr.contains("(0 undecodable, 1 refused by the database), 1 made storable"), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("rejected (integrity_constraint): ")
                && l.contains("clicks_code_not_refused")),
        "{stderr}"
    );
    let stored = all_clicks(&db);
    assert_eq!(stored.len(), 21, "the rest applied");
    let r2 = ghostlink_db::clicks::for_code(&mut db.conn(), "r2").expect("clicks");
    assert_eq!(r2[0].user_agent.as_deref(), Some("agent\u{FFFD}nul"));
    let out = ghostctl_bus(&db, &amqp, &["replay", "clicks", "--from", "first"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("0 click rows restored, 21 already stored, 1 rejected"), "{stderr}");
    delete_topology(&amqp.bus_prefix).await;
}

/// A click the recorder dead-lettered alone: `dlq show` names why (one line, no raw control
/// character from the header).
#[tokio::test]
async fn dlq_show_names_why_a_click_was_dead_lettered() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let publisher = publisher(&amqp);
    let letter = click_at("dl2", 20, 2);
    let reason = "integrity_constraint: violates check constraint \"c\"\n\u{1b}[2J";
    ghostlink_bus::consumer::dead_letter(
        &publisher,
        "click-recorder",
        "click.recorded",
        &letter.payload,
        reason,
    )
    .await
    .expect("dead-letter");
    let out = ghostctl_bus(&db, &amqp, &["dlq", "show", "click-recorder"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(shown.lines().count(), 1, "{shown}");
    assert!(shown.starts_with("click.recorded\tdeliveries="), "{shown}");
    assert!(
        shown.contains("\treason=integrity_constraint: violates check constraint \"c\"\u{FFFD}\u{FFFD}[2J\t"),
        "{shown}"
    );
    assert!(shown.contains("\"dl2\""), "{shown}");
    publisher.close().await;
    delete_topology(&amqp.bus_prefix).await;
}

#[tokio::test]
async fn dlq_list_show_and_replay_bring_a_dead_letter_back() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let topo = topology(&amqp);
    let publisher = publisher(&amqp);
    let letter = click_at("dl1", 20, 1);
    ghostlink_bus::declare_topology(&amqp.amqp_url, &topo).await.expect("declare");
    // What the broker does after the delivery limit: the message lands in the DLQ via the DLX.
    publisher
        .publish_raw(&topo.dlx(), "click-recorder", "click.recorded", &letter.payload)
        .await
        .expect("dead-letter");

    let out = ghostctl_bus(&db, &amqp, &["dlq", "list"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(list.lines().any(|l| l.starts_with("click-recorder") && l.trim_end().ends_with(" 1")), "{list}");

    let out = ghostctl_bus(&db, &amqp, &["dlq", "show", "click-recorder"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"dl1\""));
    assert_eq!(
        ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.dlq("click-recorder")).await.expect("depth"),
        1,
        "show leaves it"
    );

    let out = ghostctl_bus(&db, &amqp, &["dlq", "replay", "click-recorder"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.dlq("click-recorder")).await.expect("depth"),
        0
    );
    assert_eq!(
        ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.queue("click-recorder")).await.expect("depth"),
        1,
        "back in the work queue"
    );

    let out = ghostctl_bus(&db, &amqp, &["dlq", "show", "nobody"]);
    assert_eq!(out.status.code(), Some(2));
    publisher.close().await;
    delete_topology(&amqp.bus_prefix).await;
}

pub(crate) fn sibling(name: &str) -> std::path::PathBuf {
    std::path::Path::new(BIN).parent().expect("dir").join(name)
}

pub(crate) fn start(name: &str, envs: &[(&str, String)]) -> Child {
    let bin = sibling(name);
    assert!(bin.exists(), "{name} not built beside ghostctl: run `cargo test --workspace`");
    let mut cmd = Command::new(bin);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::null()).spawn().expect("spawn")
}

pub(crate) fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let t = Instant::now();
    while child.try_wait().ok().flatten().is_none() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Redirects flowing; RabbitMQ cut off for real (a proxy drops every connection) for a while:
/// no redirect fails, and after the drain every answered click is stored exactly once.
#[tokio::test]
async fn broker_outage_under_traffic_loses_and_duplicates_no_click() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let proxy = ghostlink_test_support::CutProxy::start("127.0.0.1:5672".parse().expect("addr")).await;
    ghostlink_db::links::insert(
        &mut db.conn(),
        &ghostlink_db::links::NewLink {
            code: "flow1".into(),
            url: "https://example.com/flow".into(),
            owner_token_id: None,
            expires_at: None,
            max_clicks: None,
            ..Default::default()
        },
    )
    .expect("link");
    let port = 30_000 + (std::process::id() % 5000) as u16;
    let spool = std::env::temp_dir().join(format!("gl-e2e-spool-{}", amqp.bus_prefix));
    let common = |ops: u16| {
        let mut env = service_env(&db, &amqp);
        env.extend([
            ("AMQP_URL", proxy.amqp_url()),
            ("REDIS_KEY_PREFIX", format!("{}:", amqp.bus_prefix)),
            ("OPS_LISTEN_ADDR", format!("127.0.0.1:{ops}")),
            ("LOG_LEVEL", "error".into()),
        ]);
        env
    };
    let mut renv = common(port + 1);
    renv.push(("LISTEN_ADDR", format!("127.0.0.1:{port}")));
    renv.push(("SPOOL_DIR", spool.display().to_string()));
    renv.push(("CLICK_SALT", "pipeline-test-salt".into()));
    let redirect = start("ghostlink-redirect", &renv);
    let recorder = start("ghostlink-click-recorder", &common(port + 2));
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let url = format!("http://127.0.0.1:{port}/flow1");
    let t = Instant::now();
    while client.get(&url).send().await.map(|r| r.status().as_u16()).unwrap_or(0) != 302 {
        assert!(t.elapsed() < Duration::from_secs(20), "redirect did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut answered = 1u64;
    let mut failed = 0u64;
    let t = Instant::now();
    let (cut_at, restore_at, end_at) =
        (Duration::from_secs(2), Duration::from_secs(10), Duration::from_secs(12));
    let mut cut = false;
    let mut restored = false;
    while t.elapsed() < end_at {
        if !cut && t.elapsed() >= cut_at {
            proxy.cut();
            cut = true;
        }
        if cut && !restored && t.elapsed() >= restore_at {
            proxy.restore();
            restored = true;
        }
        match client.get(&url).send().await {
            Ok(r) if r.status() == 302 => answered += 1,
            _ => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(failed, 0, "no redirect may fail during the outage");
    let t = Instant::now();
    let mut stored;
    loop {
        stored = ghostlink_db::clicks::for_code(&mut db.conn(), "flow1").expect("clicks").len() as u64;
        if stored >= answered || t.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("answered {answered}, stored {stored}, drained {:?} after recovery", t.elapsed());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stored_final = ghostlink_db::clicks::for_code(&mut db.conn(), "flow1").expect("clicks").len() as u64;
    assert_eq!(stored_final, answered, "every answered click stored exactly once");
    stop(redirect);
    stop(recorder);
    let _ = std::fs::remove_dir_all(&spool);
    delete_topology(&amqp.bus_prefix).await;
}

#[tokio::test]
async fn events_tail_prints_events_as_they_flow() {
    use std::io::BufRead;
    let db = TestDb::new();
    let amqp = amqp_args();
    let mut child = Command::new(BIN)
        .envs(service_env(&db, &amqp))
        .args(["events", "tail", "--type", "click.*"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tail");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let publisher = publisher(&amqp);
    let mut got = None;
    for _ in 0..10 {
        // The tail binds its queue a moment after starting: publish until it sees one.
        publisher.publish(&[click_at("tail1", 20, 1)]).await.expect("publish");
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
            got = Some(line);
            break;
        }
    }
    let line = got.expect("events tail printed nothing");
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON event per line");
    assert_eq!(v["type"], "click.recorded");
    assert_eq!(v["data"]["code"], "tail1");
    let _ = child.kill();
    let _ = child.wait();
    publisher.close().await;
    delete_topology(&amqp.bus_prefix).await;
}

#[tokio::test]
async fn risk_rescore_publishes_link_updated_for_unscored_or_all_links() {
    let db = TestDb::new();
    let amqp = amqp_args();
    for code in ["rs1", "rs2", "rs3"] {
        ghostlink_db::links::insert(
            &mut db.conn(),
            &ghostlink_db::links::NewLink {
                code: code.into(),
                url: format!("https://{code}.example/"),
                owner_token_id: None,
                expires_at: None,
                max_clicks: None,
                ..Default::default()
            },
        )
        .expect("link");
    }
    ghostlink_db::risk::upsert(
        &mut db.conn(),
        &ghostlink_db::risk::RiskRow {
            code: "rs1".into(),
            url: "https://rs1.example/".into(),
            score: 0,
            level: ghostlink_domain::risk::Level::Low,
            reasons: vec![],
            assessed_at: Utc::now(),
        },
    )
    .expect("risk");
    let out = ghostctl_bus(&db, &amqp, &["risk", "rescore"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("score 2 link(s)"));
    let out = ghostctl_bus(&db, &amqp, &["risk", "rescore", "--all"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("score 3 link(s)"));
    let topo = topology(&amqp);
    let mut codes: Vec<String> = stream_events(&amqp)
        .await
        .into_iter()
        .filter_map(|e| if let Event::LinkUpdated(e) = e { Some(e.data.code) } else { None })
        .collect();
    codes.sort();
    assert_eq!(codes, ["rs1", "rs2", "rs2", "rs3", "rs3"]);
    // They land in the risk scorer's queue.
    assert!(
        ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.queue("risk-scorer")).await.expect("depth") >= 1
    );
    delete_topology(&amqp.bus_prefix).await;
}
