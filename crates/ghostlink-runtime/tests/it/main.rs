//! The runtime with a handler of the test's own, against real RabbitMQ and Postgres: the
//! consumer's concurrency and delivery limit, the readiness it reports, and shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ghostlink_bus::{Incoming, Outgoing, Verdict};
use ghostlink_config::{AmqpArgs, ConsumerArgs};
use ghostlink_runtime::{Context, Handler, ServiceArgs, Spec, Task};
use ghostlink_test_support::bus::{publisher, topology};
use ghostlink_test_support::{amqp_args, delete_topology, shared_args, TestDb};
use ghostlink_web::ReadinessCheck;
use tokio::sync::Notify;

/// What the handler saw, shared with the test.
#[derive(Default)]
struct Seen {
    /// Deliveries per payload.
    deliveries: Mutex<HashMap<Vec<u8>, Vec<u32>>>,
    in_hand: AtomicUsize,
    most_in_hand: AtomicUsize,
    changed: Notify,
    /// Set by the background task once it saw the stop, and by `close`.
    task_stopped: AtomicBool,
    closed: AtomicBool,
}

#[derive(Debug, Clone, clap::Parser)]
struct TestConfig {
    #[command(flatten)]
    service: ServiceArgs,
    /// Batches the handler waits for before answering (each batch in hand counts).
    #[arg(skip)]
    wait_for_in_hand: usize,
    #[arg(skip)]
    seen: SharedSeen,
}

#[derive(Clone, Default)]
struct SharedSeen(Arc<Seen>);

impl std::fmt::Debug for SharedSeen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seen")
    }
}

/// Acks every message but `fail` (always a retry); for a `hold`, waits until
/// `wait_for_in_hand` batches have been in hand at once (or 10 s pass).
struct TestHandler {
    seen: Arc<Seen>,
    wait_for_in_hand: usize,
}

impl Handler for TestHandler {
    type Config = TestConfig;
    const SPEC: Spec = Spec::new("click-recorder", "127.0.0.1:0", "consuming test messages").tuning(8, 1, 5);

    fn service(config: &TestConfig) -> &ServiceArgs {
        &config.service
    }

    fn build(config: TestConfig, _ctx: &Context) -> anyhow::Result<Self> {
        Ok(Self { seen: config.seen.0, wait_for_in_hand: config.wait_for_in_hand })
    }

    fn readiness(&self) -> Vec<ReadinessCheck> {
        vec![ReadinessCheck::new("test-dependency", false, || async { Err("never there".to_string()) })]
    }

    fn background(self: &std::sync::Arc<Self>, ctx: &Context) -> Vec<Task> {
        let (me, stop) = (self.clone(), ctx.stop.clone());
        vec![Task::until_stopped("test-task", Duration::from_secs(5), async move {
            stop.stopped().await;
            me.seen.task_stopped.store(true, Ordering::SeqCst);
        })]
    }

    async fn handle(&self, batch: Vec<Incoming>) -> Vec<Verdict> {
        let now = self.seen.in_hand.fetch_add(1, Ordering::SeqCst) + 1;
        self.seen.most_in_hand.fetch_max(now, Ordering::SeqCst);
        self.seen.changed.notify_waiters();
        let mut verdicts = Vec::new();
        for m in &batch {
            self.seen.deliveries.lock().expect("lock").entry(m.payload.clone()).or_default().push(m.delivery);
            if m.payload == b"hold" {
                let t = Instant::now();
                while self.seen.most_in_hand.load(Ordering::SeqCst) < self.wait_for_in_hand
                    && t.elapsed() < Duration::from_secs(10)
                {
                    tokio::select! {
                        _ = self.seen.changed.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    }
                }
            }
            verdicts.push(if m.payload == b"fail" { Verdict::Retry } else { Verdict::Ack });
        }
        self.seen.in_hand.fetch_sub(1, Ordering::SeqCst);
        verdicts
    }

    async fn close(&self) {
        self.seen.closed.store(true, Ordering::SeqCst);
    }
}

fn config(db: &TestDb, amqp: &AmqpArgs, consumer: ConsumerArgs, wait_for_in_hand: usize) -> TestConfig {
    TestConfig {
        service: ServiceArgs { shared: shared_args(db, amqp), consumer },
        wait_for_in_hand,
        seen: SharedSeen::default(),
    }
}

struct Running {
    seen: Arc<Seen>,
    service: ghostlink_test_support::Running,
}

async fn start(config: TestConfig) -> Running {
    let seen = config.seen.0.clone();
    let service = ghostlink_runtime::Service::<TestHandler>::build(config).expect("build");
    let service = ghostlink_test_support::Running::spawn(service.ops_addr(), |stop| service.run(stop));
    Running { seen, service: service.ready().await }
}

impl Running {
    fn deliveries(&self, payload: &[u8]) -> Vec<u32> {
        self.seen.deliveries.lock().expect("lock").get(payload).cloned().unwrap_or_default()
    }

    async fn stop(self) -> Arc<Seen> {
        self.service.stop().await;
        self.seen
    }
}

fn message(payload: &[u8]) -> Outgoing {
    static N: AtomicUsize = AtomicUsize::new(0);
    let id = N.fetch_add(1, Ordering::SeqCst);
    Outgoing { routing_key: "click.recorded".into(), message_id: format!("m{id}"), payload: payload.to_vec() }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `CONSUMER_DELIVERY_LIMIT=2`: a message that keeps failing is delivered twice (the quorum
/// queue counts deliveries), then dead-lettered; the queue's own limit would allow more.
#[tokio::test]
async fn a_failing_message_is_dead_lettered_at_the_consumer_delivery_limit() {
    let (db, amqp) = (TestDb::new(), amqp_args());
    let consumer = ConsumerArgs { delivery_limit: Some(2), ..Default::default() };
    let running = start(config(&db, &amqp, consumer, 0)).await;
    let topo = topology(&amqp);
    let publisher = publisher(&amqp);
    publisher.publish(&[message(b"fail"), message(b"fine")]).await.expect("publish");
    let t = Instant::now();
    while ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.dlq("click-recorder")).await.expect("dlq") != 1 {
        assert!(t.elapsed() < Duration::from_secs(30), "never dead-lettered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(running.deliveries(b"fail"), vec![1, 2], "delivered twice, counted by the queue");
    assert_eq!(running.deliveries(b"fine"), vec![1]);
    // Readiness names the handler's own check beside Postgres and the consumer.
    let ready: serde_json::Value = reqwest::get(format!("http://{}/readyz", running.service.ops))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert!(ready.to_string().contains("test-dependency"), "{ready}");
    running.stop().await;
    publisher.close().await;
    delete_topology(&amqp.bus_prefix).await;
}

/// `CONSUMER_CONCURRENCY=2`: two batches are in the handler's hands at once (each waits for
/// the other); with one at a time the first would wait alone.
#[tokio::test]
async fn batches_are_handled_concurrently_up_to_the_setting() {
    let (db, amqp) = (TestDb::new(), amqp_args());
    let consumer = ConsumerArgs { concurrency: Some(2), batch_size: Some(1), ..Default::default() };
    let running = start(config(&db, &amqp, consumer, 2)).await;
    let topo = topology(&amqp);
    let publisher = publisher(&amqp);
    publisher.publish(&[message(b"hold"), message(b"hold")]).await.expect("publish");
    wait_until("both messages handled", || running.deliveries(b"hold").len() == 2).await;
    assert_eq!(
        running.seen.most_in_hand.load(Ordering::SeqCst),
        2,
        "two batches in hand at once, never more"
    );
    // Shutdown: the background task saw the stop, the handler was closed, nothing is left.
    let seen = running.stop().await;
    assert!(seen.task_stopped.load(Ordering::SeqCst), "the background task ended on the stop");
    assert!(seen.closed.load(Ordering::SeqCst), "the handler was closed");
    assert_eq!(
        ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.queue("click-recorder")).await.expect("depth"),
        0
    );
    publisher.close().await;
    delete_topology(&amqp.bus_prefix).await;
}
