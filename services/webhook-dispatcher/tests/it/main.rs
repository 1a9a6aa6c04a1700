//! The webhook dispatcher against real receivers on loopback, Postgres, Redis and RabbitMQ.
//! Private targets are allowed only where a test says so (`allow_private_targets`).

mod delivery;
mod receiver;

use std::time::{Duration, Instant};

use ghostlink_db::links::NewLink;
use ghostlink_db::webhook_deliveries::NewDelivery;
use ghostlink_db::webhooks::{Delivery, Subscription};
use ghostlink_domain::webhook::{generate_secret, WebhookEventType};
use ghostlink_runtime::ServiceArgs;
use ghostlink_test_support::{amqp_args, redis_args, shared_args, Running, TestDb};
use ghostlink_webhook_dispatcher::{App, Config};

pub struct Setup {
    pub db: TestDb,
    pub amqp: ghostlink_config::AmqpArgs,
    pub workspace: i64,
}

impl Setup {
    #[allow(clippy::new_without_default)] // a fresh database per call, not a value's default
    pub fn new() -> Self {
        let db = TestDb::new();
        let workspace =
            ghostlink_db::workspaces::default_workspace(&mut db.conn()).expect("default workspace").id;
        Self { db, amqp: amqp_args(), workspace }
    }

    /// A config that reaches loopback receivers, with fast retries.
    pub fn config(&self) -> Config {
        Config {
            service: ServiceArgs::new(shared_args(&self.db, &self.amqp)),
            redis: redis_args(),
            allow_private_targets: "127.0.0.1/32".into(),
            timeout_ms: 2_000,
            connect_timeout_ms: 1_000,
            concurrency: 8,
            per_host_concurrency: 4,
            batch: 50,
            poll_ms: 50,
            backoff_base_ms: 50,
            backoff_max_ms: 200,
            retry_window_secs: 3_600,
            disable_after_secs: 3_600,
            keep_days: 30,
            user_agent: "GhostLink-Webhooks/test".into(),
        }
    }

    pub fn subscribe(&self, url: &str, events: &[WebhookEventType]) -> Subscription {
        let secret = generate_secret(&mut rand::thread_rng());
        ghostlink_db::webhooks::create(&mut self.db.conn(), self.workspace, url, events, &secret)
            .expect("subscribe")
    }

    /// A delivery written as the fan-out writes one.
    pub fn enqueue(&self, sub: &Subscription, body: &str) -> uuid::Uuid {
        let event_id = uuid::Uuid::now_v7();
        let d = NewDelivery {
            subscription_id: sub.id,
            event_id,
            event_type: WebhookEventType::Test,
            body: body.into(),
        };
        ghostlink_db::webhook_deliveries::enqueue(&mut self.db.conn(), &[d]).expect("enqueue");
        event_id
    }

    pub fn link(&self, code: &str) {
        let link = NewLink { code: code.into(), url: "https://example.com/".into(), ..Default::default() };
        ghostlink_db::links::insert(&mut self.db.conn(), &link).expect("insert link");
    }

    pub fn log(&self, sub: &Subscription) -> Vec<Delivery> {
        ghostlink_db::webhooks::deliveries(&mut self.db.conn(), self.workspace, sub.id, None, 100)
            .expect("log")
            .expect("subscription")
    }

    pub fn subscription(&self, id: i64) -> Subscription {
        ghostlink_db::webhooks::get(&mut self.db.conn(), self.workspace, id)
            .expect("get")
            .expect("subscription")
    }
}

pub fn start(config: Config) -> Running {
    let app = App::build(config).expect("build");
    Running::spawn(app.ops_addr(), |stop| app.run(stop))
}

pub async fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Through the real binary: a bad setting of the dispatcher's own or a shared one exits 2
/// naming it.
#[test]
fn bad_config_exits_2_naming_the_setting() {
    let own: &[(&str, &str, &str)] = &[
        ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "10.0.0.0/99", "WEBHOOK_ALLOW_PRIVATE_TARGETS"),
        ("WEBHOOK_TIMEOUT_MS", "0", "WEBHOOK_TIMEOUT_MS"),
        ("WEBHOOK_PER_HOST_CONCURRENCY", "0", "WEBHOOK_PER_HOST_CONCURRENCY"),
        ("WEBHOOK_BACKOFF_MAX_MS", "1", "WEBHOOK_BACKOFF_MAX_MS"),
        ("WEBHOOK_DISABLE_AFTER_SECS", "0", "WEBHOOK_DISABLE_AFTER_SECS"),
    ];
    ghostlink_runtime::testing::assert_bad_settings_exit_2(
        env!("CARGO_BIN_EXE_ghostlink-webhook-dispatcher"),
        &[],
        &[own, ghostlink_test_support::BAD_CONSUMER_SETTINGS].concat(),
    );
}
