//! The click recorder against real RabbitMQ and Postgres.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use ghostlink_bus::Outgoing;
use ghostlink_click_recorder::{App, Config};
use ghostlink_config::{AmqpArgs, ConsumerArgs};
use ghostlink_proto::{ClickRecorded, Envelope};
use ghostlink_runtime::ServiceArgs;
use ghostlink_test_support::bus::{self, outgoing, publisher, topology};
use ghostlink_test_support::{amqp_args, delete_topology, metric_value, shared_args, Running, TestDb};

fn config(db: &TestDb, amqp: &AmqpArgs) -> Config {
    Config {
        service: ServiceArgs {
            shared: shared_args(db, amqp),
            consumer: ConsumerArgs {
                prefetch: Some(500),
                batch_size: Some(200),
                batch_wait_ms: Some(20),
                ..Default::default()
            },
        },
        click_retention_days: 400,
        click_partitions_ahead: 7,
        click_maintenance_secs: 3600,
    }
}

fn click(code: &str) -> Outgoing {
    click_with(code, None, None, Utc::now())
}

fn click_with(code: &str, user_agent: Option<&str>, referrer: Option<&str>, at: DateTime<Utc>) -> Outgoing {
    outgoing(&Envelope::new(
        "redirect",
        None,
        at,
        ClickRecorded {
            user_agent: user_agent.map(Into::into),
            referrer: referrer.map(Into::into),
            ..bus::click(code)
        },
    ))
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
    let _serial = SERIAL.lock().await;
    let db = TestDb::new();
    let amqp = amqp_args();
    let recorder = start(config(&db, &amqp)).await;
    let before = recorder.metrics().await;
    let publisher = publisher(&amqp);
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
    // A packed message with one bad line: its good events are stored, the bad line dead-lettered alone.
    let mut mixed = ghostlink_bus::pack(&(0..3).map(|i| click(&format!("m{i}"))).collect::<Vec<_>>(), 10);
    mixed[0].payload.extend_from_slice(b"\n{\"type\":\"click.recorded\",\"version\":1}");
    publisher.publish(&mixed).await.expect("publish mixed");

    assert_eq!(wait_for_rows(&db, 403, Duration::from_secs(20)).await, 403);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ghostlink_db::clicks::count(&mut db.conn()).expect("count"), 403, "duplicates stored once");
    let t = Instant::now();
    while dlq_depth(&amqp).await != 2 {
        assert!(t.elapsed() < Duration::from_secs(10), "poison message never reached the DLQ");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut letters: Vec<Vec<u8>> =
        ghostlink_bus::admin::dlq_peek(&amqp.amqp_url, &topology(&amqp), "click-recorder", 10)
            .await
            .expect("peek")
            .into_iter()
            .inspect(|l| {
                assert!(l.reason.as_deref().is_some_and(|r| r.starts_with("undecodable: ")), "{l:?}")
            })
            .map(|l| l.payload)
            .collect();
    letters.sort();
    assert_eq!(letters, vec![b"{\"type\":\"click.recorded\",\"version\":1}".to_vec(), b"{not json".to_vec()]);
    // 356 messages, each acknowledged (the bad lines went to the DLQ alone).
    let metrics = wait_for_acks(&recorder, &before, 356.0).await;
    assert_eq!(moved(&metrics, &before, "bus_dead_lettered_total", &[]), 2.0);
    assert_eq!(moved(&metrics, &before, "clicks_rejected_total", &["reason=\"undecodable\""]), 2.0);
    let ready = reqwest::get(format!("http://{}/readyz", recorder.ops)).await.expect("readyz");
    assert_eq!(ready.status(), 200);
    recorder.stop().await;
    publisher.close().await;
    delete_topology(&amqp.bus_prefix).await;
}

#[tokio::test]
async fn a_postgres_outage_holds_messages_instead_of_dead_lettering_them() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::new();
    let amqp = amqp_args();
    let mut cfg = config(&db, &amqp);
    cfg.service.shared.database.db_timeout_ms = 200;
    let app = App::build(cfg).expect("build");
    let recorder = Running::spawn(app.ops_addr(), |stop| app.run(stop));
    let name = db.name().to_string();
    db.admin_execute(&format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid();"
    ));
    let publisher = publisher(&amqp);
    let batch: Vec<Outgoing> = (0..100).map(|i| click(&format!("o{i}"))).collect();
    publisher.publish(&batch).await.expect("publish");
    tokio::time::sleep(Duration::from_secs(3)).await;
    db.admin_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"));
    assert_eq!(wait_for_rows(&db, 100, Duration::from_secs(20)).await, 100);
    assert_eq!(dlq_depth(&amqp).await, 0);
    recorder.stop().await;
    publisher.close().await;
    delete_topology(&amqp.bus_prefix).await;
}

/// kill -9 in the middle of the work, restart: every event stored exactly once.
#[tokio::test]
async fn retention_drops_old_partitions_whole_and_refuses_to_count_older_clicks_again() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::new();
    let amqp = amqp_args();
    let publisher = publisher(&amqp);
    let old = Utc::now() - chrono::Duration::days(5);
    // Five days ago, stored before any retention: its day's partition is made on the way in.
    let stored = ghostlink_db::clicks::NewClick {
        event_id: uuid::Uuid::now_v7(),
        code: "old".into(),
        occurred_at: old,
        outcome: ghostlink_domain::ClickOutcome::Redirect,
        method: "GET".into(),
        user_agent: None,
        referrer: None,
        client_hash: "0123456789abcdef0123456789abcdef".into(),
        bot: true,
        details: Default::default(),
    };
    let n = ghostlink_db::clicks::insert_batch(&mut db.conn(), &[stored]).expect("insert");
    assert_eq!(n.written, 1);
    let day = |t: DateTime<Utc>| format!("clicks_{}", t.format("%Y%m%d"));
    let partitions = || db.count(&format!("pg_class WHERE relname = '{}'", day(old)));
    assert_eq!(partitions(), 1);
    // The recorder's maintenance drops the partition whole.
    let recorder =
        start(Config { click_retention_days: 2, click_maintenance_secs: 1, ..config(&db, &amqp) }).await;
    let t = Instant::now();
    while partitions() == 1 {
        assert!(t.elapsed() < Duration::from_secs(20), "the old partition was never dropped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ghostlink_db::clicks::count(&mut db.conn()).expect("count"), 0);
    let tomorrow = day(Utc::now() + chrono::Duration::days(7));
    assert_eq!(
        db.count(&format!("pg_class WHERE relname = '{tomorrow}'")),
        1,
        "partitions made a week ahead"
    );
    // A replay of the old click now: acknowledged, neither stored nor counted (its raw row is
    // gone, so counting it would count it twice); a current click is stored.
    let before = recorder.metrics().await;
    publisher.publish(&[click_with("old", None, None, old), click("new")]).await.expect("publish");
    assert_eq!(wait_for_rows(&db, 1, Duration::from_secs(20)).await, 1);
    wait_for_acks(&recorder, &before, 2.0).await;
    let after = recorder.metrics().await;
    assert_eq!(moved(&after, &before, "clicks_expired_total", &[]), 1.0);
    assert_eq!(partitions(), 0, "no partition made for a day retention dropped");
    assert_eq!(dlq_depth(&amqp).await, 0);
    recorder.stop().await;
}

#[tokio::test]
async fn kill_9_mid_batch_loses_and_duplicates_nothing() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::new();
    let amqp = amqp_args();
    let publisher = publisher(&amqp);
    const N: usize = 20_000;
    for chunk in (0..N).collect::<Vec<_>>().chunks(2000) {
        let batch: Vec<Outgoing> = chunk.iter().map(|i| click(&format!("k{}", i % 100))).collect();
        publisher.publish(&batch).await.expect("publish");
    }
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_ghostlink-click-recorder"))
            .envs(ghostlink_test_support::service_env(&db, &amqp))
            .env("CONSUMER_BATCH_SIZE", "500")
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
    // Reaps the killed child; its status is of no interest.
    let _ = child.wait();
    let at_kill = ghostlink_db::clicks::count(&mut db.conn()).expect("count");
    assert!((at_kill as usize) < N, "killed before the end ({at_kill})");
    let mut child = spawn();
    let stored = wait_for_rows(&db, N as i64, Duration::from_secs(60)).await;
    assert_eq!(stored as usize, N, "every event stored, none twice (event_id is unique)");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    publisher.close().await;
    delete_topology(&amqp.bus_prefix).await;
}

/// The metrics registry is process-wide: tests in this binary run one at a time, so a test's
/// counters move only by its own work (compared before and after).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How much a counter moved between two scrapes.
fn moved(after: &str, before: &str, name: &str, labels: &[&str]) -> f64 {
    metric_value(after, name, labels) - metric_value(before, name, labels)
}

/// Waits until the recorder has acknowledged `messages` more messages than in `before`.
async fn wait_for_acks(recorder: &Running, before: &str, messages: f64) -> String {
    let t = Instant::now();
    loop {
        let m = recorder.metrics().await;
        if moved(&m, before, "bus_acked_total", &[]) >= messages {
            return m;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "messages never acknowledged:\n{m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The recorder, consuming.
async fn start(config: Config) -> Running {
    let app = App::build(config).expect("build");
    Running::spawn(app.ops_addr(), |stop| app.run(stop)).ready().await
}

/// Messages in the recorder's dead-letter queue.
async fn dlq_depth(amqp: &AmqpArgs) -> u32 {
    let dlq = topology(amqp).dlq("click-recorder");
    ghostlink_bus::queue_depth(&amqp.amqp_url, &dlq).await.expect("dlq depth")
}

/// A NUL (which Postgres `text` refuses), control characters and bytes that are not UTF-8 in a
/// click's code, user agent and referrer: the click is stored once, made storable, and the 250
/// clicks travelling with it are stored too, with no redelivery and nothing dead-lettered.
#[tokio::test]
async fn a_click_with_nul_and_invalid_text_is_stored_sanitised_once_and_nothing_is_redelivered() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::new();
    let amqp = amqp_args();
    let recorder = start(config(&db, &amqp)).await;
    let publisher = publisher(&amqp);
    let mut events: Vec<Outgoing> = (0..248).map(|i| click(&format!("g{i}"))).collect();
    events.insert(
        100,
        click_with("nul\0code", Some("Agent\0/1 \u{1b}[31m"), Some("https://ref\0.example/"), Utc::now()),
    );
    // Bytes that are not UTF-8 inside a JSON string (a producer that wrote Latin-1).
    let mut latin1 = click_with("latin1", Some("caf-MARK"), None, Utc::now());
    let at = latin1.payload.windows(4).position(|w| w == b"MARK").expect("marker");
    latin1.payload.splice(at..at + 4, *b"\xe9\xffX");
    events.insert(200, latin1);
    let message = ghostlink_bus::pack(&events, 250);
    assert_eq!(message.len(), 1, "one message of 250 clicks");
    let before = recorder.metrics().await;
    publisher.publish(&message).await.expect("publish");

    let metrics = wait_for_acks(&recorder, &before, 1.0).await;
    assert_eq!(ghostlink_db::clicks::count(&mut db.conn()).expect("count"), 250, "every click stored");
    let nul = ghostlink_db::clicks::for_code(&mut db.conn(), "nul\u{FFFD}code").expect("clicks");
    assert_eq!(nul.len(), 1, "stored once, sanitised");
    assert_eq!(nul[0].user_agent.as_deref(), Some("Agent\u{FFFD}/1 \u{FFFD}[31m"));
    assert_eq!(nul[0].referrer.as_deref(), Some("https://ref\u{FFFD}.example/"));
    let latin1 = ghostlink_db::clicks::for_code(&mut db.conn(), "latin1").expect("clicks");
    assert_eq!(latin1.len(), 1);
    assert_eq!(latin1[0].user_agent.as_deref(), Some("caf-\u{FFFD}\u{FFFD}X"));
    assert_eq!(moved(&metrics, &before, "bus_consumed_total", &[]), 1.0, "delivered once");
    assert_eq!(moved(&metrics, &before, "bus_failed_total", &[]), 0.0, "nothing redelivered");
    assert_eq!(moved(&metrics, &before, "bus_dead_lettered_total", &[]), 0.0);
    assert_eq!(moved(&metrics, &before, "clicks_sanitised_total", &[]), 2.0);
    assert_eq!(moved(&metrics, &before, "clicks_written_total", &[]), 250.0);

    // The same message again (a redelivery, a replay): nothing new.
    publisher.publish(&message).await.expect("publish again");
    wait_for_acks(&recorder, &metrics, 1.0).await;
    assert_eq!(ghostlink_db::clicks::count(&mut db.conn()).expect("count"), 250, "stored once");
    assert_eq!(dlq_depth(&amqp).await, 0);
    recorder.stop().await;
    publisher.close().await;
    delete_topology(&amqp.bus_prefix).await;
}

/// Rows Postgres refuses for a reason no sanitising fixes — a check constraint (SQLSTATE class
/// 23) and a timestamp before its range (class 22) — are dead-lettered alone, each as its own
/// message with its reason; the other clicks of their message are stored, nothing is retried.
#[tokio::test]
async fn rows_the_database_refuses_are_dead_lettered_alone_with_their_reason() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::new();
    db.execute("ALTER TABLE clicks ADD CONSTRAINT clicks_code_not_refused CHECK (code <> 'refused')");
    let amqp = amqp_args();
    let recorder = start(config(&db, &amqp)).await;
    let publisher = publisher(&amqp);
    let mut events: Vec<Outgoing> = (0..10).map(|i| click(&format!("ok{i}"))).collect();
    let refused = click("refused");
    let ancient_at = Utc.with_ymd_and_hms(-5000, 1, 1, 0, 0, 0).single().expect("time");
    let ancient = click_with("ancient", None, None, ancient_at);
    events.insert(3, refused.clone());
    events.insert(7, ancient.clone());
    let before = recorder.metrics().await;
    publisher.publish(&ghostlink_bus::pack(&events, 250)).await.expect("publish");

    let metrics = wait_for_acks(&recorder, &before, 1.0).await;
    assert_eq!(ghostlink_db::clicks::count(&mut db.conn()).expect("count"), 10, "the others stored");
    assert_eq!(moved(&metrics, &before, "bus_consumed_total", &[]), 1.0, "delivered once");
    assert_eq!(moved(&metrics, &before, "bus_failed_total", &[]), 0.0, "never retried");
    let letters = ghostlink_bus::admin::dlq_peek(&amqp.amqp_url, &topology(&amqp), "click-recorder", 10)
        .await
        .expect("peek");
    assert_eq!(letters.len(), 2, "one dead letter per refused click");
    let by_payload = |p: &[u8]| letters.iter().find(|l| l.payload == p).expect("dead letter of that click");
    let r = by_payload(&refused.payload);
    assert_eq!(r.routing_key, "click.recorded");
    let reason = r.reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("integrity_constraint: ") && reason.contains("clicks_code_not_refused"),
        "{reason}"
    );
    let a = by_payload(&ancient.payload);
    assert_eq!(a.routing_key, "click.recorded");
    let reason = a.reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with("data_exception: ") && reason.contains("out of range"), "{reason}");
    let rejected =
        |reason: &str| moved(&metrics, &before, "clicks_rejected_total", &[&format!("reason=\"{reason}\"")]);
    assert_eq!(rejected("integrity_constraint"), 1.0);
    assert_eq!(rejected("data_exception"), 1.0);
    assert_eq!(moved(&metrics, &before, "bus_dead_lettered_total", &[]), 2.0, "each alone");
    recorder.stop().await;
    publisher.close().await;
    delete_topology(&amqp.bus_prefix).await;
}

/// Through the real binary: each bad shared setting alone exits 2 naming it (the recorder has
/// no settings of its own).
#[test]
fn bad_settings_exit_2_naming_the_setting() {
    ghostlink_runtime::testing::assert_bad_settings_exit_2(
        env!("CARGO_BIN_EXE_ghostlink-click-recorder"),
        &[],
        ghostlink_test_support::BAD_CONSUMER_SETTINGS,
    );
}
