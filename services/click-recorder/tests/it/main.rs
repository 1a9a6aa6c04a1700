//! The click recorder against real RabbitMQ and Postgres.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use ghostlink_bus::{Outgoing, Publisher, Topology};
use ghostlink_click_recorder::{App, Config};
use ghostlink_config::AmqpArgs;
use ghostlink_proto::{ClickRecorded, Envelope, EventData};
use ghostlink_test_support::{amqp_args, delete_topology, listen_any, log_args, TestDb};

fn config(db: &TestDb, amqp: &AmqpArgs) -> Config {
    Config {
        database: db.database_args(),
        amqp: amqp.clone(),
        listen: listen_any(),
        log: log_args(),
        prefetch: 500,
        batch_size: 200,
        batch_wait_ms: 20,
    }
}

fn click(code: &str) -> Outgoing {
    let env = Envelope::new(
        "redirect",
        None,
        Utc::now(),
        ClickRecorded {
            code: code.into(),
            outcome: "redirect".into(),
            method: "GET".into(),
            user_agent: None,
            referrer: None,
            client_hash: "0123456789abcdef0123456789abcdef".into(),
            bot: false,
            address_hash: None,
        },
    );
    Outgoing {
        routing_key: ClickRecorded::TYPE.into(),
        message_id: env.id.to_string(),
        payload: env.to_bytes(),
    }
}

async fn wait_for_rows(db: &TestDb, want: i64, within: Duration) -> i64 {
    let t = Instant::now();
    loop {
        let n = ghostlink_db::clicks::count(&mut db.conn()).expect("count");
        if n >= want || t.elapsed() > within {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn stores_each_event_once_and_dead_letters_poison() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let app = App::build(config(&db, &amqp)).expect("build");
    let ops = app.ops_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    ghostlink_test_support::wait_ready(ops).await;
    let publisher = Publisher::new(amqp.amqp_url.clone(), Topology::new(amqp.bus_prefix.clone()));
    let batch: Vec<Outgoing> = (0..300).map(|i| click(&format!("c{}", i % 7))).collect();
    publisher.publish(&batch).await.expect("publish");
    // Duplicates (a publisher retry) and a poison message in the middle of good ones.
    publisher.publish(&batch[..50]).await.expect("publish dupes");
    publisher
        .publish(&[Outgoing {
            routing_key: "click.recorded".into(),
            message_id: "poison".into(),
            payload: b"{not json".to_vec(),
        }])
        .await
        .expect("publish poison");
    let more: Vec<Outgoing> = (0..100).map(|i| click(&format!("d{i}"))).collect();
    // Packed: 100 events in 4 messages, as the redirect publishes them.
    publisher.publish(&ghostlink_bus::pack(&more, 25)).await.expect("publish more");
    // A packed message with one bad line: its good events are stored, the message dead-lettered.
    let mut mixed = ghostlink_bus::pack(&(0..3).map(|i| click(&format!("m{i}"))).collect::<Vec<_>>(), 10);
    mixed[0].payload.extend_from_slice(b"\n{\"type\":\"click.recorded\",\"version\":1}");
    publisher.publish(&mixed).await.expect("publish mixed");

    assert_eq!(wait_for_rows(&db, 403, Duration::from_secs(20)).await, 403);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ghostlink_db::clicks::count(&mut db.conn()).expect("count"), 403, "duplicates stored once");
    let topo = Topology::new(amqp.bus_prefix.clone());
    let t = Instant::now();
    while ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.dlq("click-recorder")).await.expect("dlq") != 2 {
        assert!(t.elapsed() < Duration::from_secs(10), "poison message never reached the DLQ");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics =
        reqwest::get(format!("http://{ops}/metrics")).await.expect("metrics").text().await.expect("text");
    assert!(ghostlink_test_support::metric_value(&metrics, "bus_acked_total", &[]) >= 450.0);
    assert!(ghostlink_test_support::metric_value(&metrics, "bus_dead_lettered_total", &[]) >= 1.0);
    let ready = reqwest::get(format!("http://{ops}/readyz")).await.expect("readyz");
    assert_eq!(ready.status(), 200);
    let _ = tx.send(());
    task.await.expect("join").expect("run");
    publisher.close().await;
    delete_topology(&amqp.bus_prefix).await;
}

#[tokio::test]
async fn a_postgres_outage_holds_messages_instead_of_dead_lettering_them() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let mut cfg = config(&db, &amqp);
    cfg.database.db_timeout_ms = 200;
    let app = App::build(cfg).expect("build");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    let name = db.name().to_string();
    db.admin_execute(&format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid();"
    ));
    let publisher = Publisher::new(amqp.amqp_url.clone(), Topology::new(amqp.bus_prefix.clone()));
    let batch: Vec<Outgoing> = (0..100).map(|i| click(&format!("o{i}"))).collect();
    publisher.publish(&batch).await.expect("publish");
    tokio::time::sleep(Duration::from_secs(3)).await;
    db.admin_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"));
    assert_eq!(wait_for_rows(&db, 100, Duration::from_secs(20)).await, 100);
    let topo = Topology::new(amqp.bus_prefix.clone());
    assert_eq!(
        ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.dlq("click-recorder")).await.expect("dlq"),
        0
    );
    let _ = tx.send(());
    task.await.expect("join").expect("run");
    publisher.close().await;
    delete_topology(&amqp.bus_prefix).await;
}

/// kill -9 in the middle of the work, restart: every event stored exactly once.
#[tokio::test]
async fn kill_9_mid_batch_loses_and_duplicates_nothing() {
    let db = TestDb::new();
    let amqp = amqp_args();
    let publisher = Publisher::new(amqp.amqp_url.clone(), Topology::new(amqp.bus_prefix.clone()));
    const N: usize = 20_000;
    for chunk in (0..N).collect::<Vec<_>>().chunks(2000) {
        let batch: Vec<Outgoing> = chunk.iter().map(|i| click(&format!("k{}", i % 100))).collect();
        publisher.publish(&batch).await.expect("publish");
    }
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_ghostlink-click-recorder"))
            .env("DATABASE_URL", &db.url)
            .env("AMQP_URL", &amqp.amqp_url)
            .env("BUS_PREFIX", &amqp.bus_prefix)
            .env("OPS_LISTEN_ADDR", "127.0.0.1:0")
            .env("RECORDER_BATCH_SIZE", "500")
            .env("LOG_LEVEL", "off")
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn recorder")
    };
    let mut child = spawn();
    let t = Instant::now();
    loop {
        let n = ghostlink_db::clicks::count(&mut db.conn()).expect("count");
        if n > 1000 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "recorder made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    let at_kill = ghostlink_db::clicks::count(&mut db.conn()).expect("count");
    assert!((at_kill as usize) < N, "killed before the end ({at_kill})");
    let mut child = spawn();
    let stored = wait_for_rows(&db, N as i64, Duration::from_secs(60)).await;
    assert_eq!(stored as usize, N, "every event stored, none twice (event_id is unique)");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    publisher.close().await;
    delete_topology(&amqp.bus_prefix).await;
}
