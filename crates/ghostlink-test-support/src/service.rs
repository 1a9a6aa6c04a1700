//! A service under test: its shared settings pointed at the test's database and broker
//! ([`shared_args`], and [`service_env`] for a binary), run on the test's runtime until the test
//! stops it ([`Running`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use ghostlink_config::{AmqpArgs, RedisArgs, SharedArgs};
use tokio::sync::oneshot;

use crate::{listen_any, log_args, TestDb};

/// A database, a Redis key prefix and a broker prefix of the test's own.
pub fn backends() -> (TestDb, RedisArgs, AmqpArgs) {
    (TestDb::new(), crate::redis_args(), crate::amqp_args())
}

/// Postgres of `db`, the broker prefix of `amqp`, listeners on free ports, quiet logs.
pub fn shared_args(db: &TestDb, amqp: &AmqpArgs) -> SharedArgs {
    SharedArgs {
        database: db.database_args(),
        amqp: amqp.clone(),
        listen: listen_any(),
        log: log_args(),
        trace: Default::default(),
    }
}

/// The environment pointing a service binary (or `ghostctl`) at `db` and `amqp`, its ops
/// listener on a free port and its logs off; a variable pushed after these overrides them.
pub fn service_env(db: &TestDb, amqp: &AmqpArgs) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", db.url.clone()),
        ("AMQP_URL", amqp.amqp_url.clone()),
        ("BUS_PREFIX", amqp.bus_prefix.clone()),
        ("OPS_LISTEN_ADDR", "127.0.0.1:0".into()),
        ("LOG_LEVEL", "off".into()),
    ]
}

/// One `/metrics` scrape of the ops listener at `ops`.
pub async fn scrape(ops: SocketAddr) -> String {
    let resp = reqwest::get(format!("http://{ops}/metrics")).await.expect("GET /metrics");
    resp.text().await.expect("the metrics text")
}

/// The shutdown future a service under test runs until: it resolves when [`Running::stop`] is
/// called, or when the [`Running`] is dropped (a test that failed half-way).
pub struct StopSignal(oneshot::Receiver<()>);

impl Future for StopSignal {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Sent or dropped: either way the service stops.
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

/// A service running on the test's runtime.
pub struct Running {
    /// Its ops listener.
    pub ops: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Spawns the future `run` makes of the stop signal, e.g.
    /// `Running::spawn(app.ops_addr(), |stop| app.run(stop))`.
    pub fn spawn<F>(ops: SocketAddr, run: impl FnOnce(StopSignal) -> F) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, rx) = oneshot::channel();
        let task = tokio::spawn(run(StopSignal(rx)));
        Self { ops, stop, task }
    }

    /// Once `/readyz` answers 200 ([`crate::wait_ready`]): a consumer consumes.
    pub async fn ready(self) -> Self {
        crate::wait_ready(self.ops).await;
        self
    }

    /// One `/metrics` scrape.
    pub async fn metrics(&self) -> String {
        scrape(self.ops).await
    }

    /// Stops the service and waits for it; its run must end in `Ok`.
    pub async fn stop(self) {
        // Err: the service already ended; its result (next) says why.
        let _ = self.stop.send(());
        self.task.await.expect("the service task panicked").expect("the service failed");
    }
}

/// A bad value of each setting every consumer binary shares (its consumer tuning, its database,
/// broker and ops listener), with the setting its exit-2 message must name; a service's test
/// adds its own (`ghostlink_runtime::testing::assert_bad_settings_exit_2`).
pub const BAD_CONSUMER_SETTINGS: &[(&str, &str, &str)] = &[
    ("CONSUMER_PREFETCH", "0", "CONSUMER_PREFETCH"),
    ("CONSUMER_BATCH_SIZE", "0", "CONSUMER_BATCH_SIZE"),
    ("CONSUMER_BATCH_WAIT_MS", "600000", "CONSUMER_BATCH_WAIT_MS"),
    ("CONSUMER_CONCURRENCY", "65", "CONSUMER_CONCURRENCY"),
    // Above the queues' own delivery limit (5).
    ("CONSUMER_DELIVERY_LIMIT", "6", "CONSUMER_DELIVERY_LIMIT"),
    ("DATABASE_URL", "mysql://db.example/x", "DATABASE_URL"),
    ("AMQP_URL", "http://broker.example", "AMQP_URL"),
    ("BUS_PREFIX", "bad prefix", "BUS_PREFIX"),
    ("OPS_LISTEN_ADDR", "nowhere", "OPS_LISTEN_ADDR"),
];
