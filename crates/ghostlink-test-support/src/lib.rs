//! Test support for GhostLink: a Postgres database per test (cloned from a migrated template:
//! [`TestDb`]), an isolated Redis key prefix and RabbitMQ topology per test, builders for the
//! shared config blocks pointing at them, a service run until the test stops it ([`Running`]),
//! the test's events published and read back ([`bus`]), an OTLP/gRPC trace receiver the
//! services export their spans to ([`otlp`]), and a TCP proxy that cuts the network for real.
//!
//! Only ever a dev-dependency (checked by this crate's architecture test). Tests talk to the real
//! Postgres, Redis and RabbitMQ named by `DATABASE_URL` / `REDIS_URL` / `AMQP_URL` (defaults: the
//! local servers), never to mocks.

pub mod bus;
mod db;
pub mod otlp;
mod service;

pub use db::{base_database_url, drop_database, TestDb, TEMPLATE_ENV};
pub use service::{backends, scrape, service_env, shared_args, Running, StopSignal, BAD_CONSUMER_SETTINGS};

use ghostlink_config::{ListenArgs, LogArgs, RedisArgs};

/// The Redis tests use.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// Redis settings with a key prefix no other test uses.
pub fn redis_args() -> RedisArgs {
    RedisArgs {
        redis_url: redis_url(),
        redis_timeout_ms: 50,
        redis_key_prefix: format!("gltest:{}:", uuid::Uuid::new_v4().simple()),
    }
}

/// Listeners on free loopback ports.
pub fn listen_any() -> ListenArgs {
    ListenArgs::on("127.0.0.1:0", "127.0.0.1:0")
}

/// Silent unless `TEST_LOG` is set.
pub fn log_args() -> LogArgs {
    LogArgs {
        log_level: if std::env::var_os("TEST_LOG").is_some() {
            ghostlink_config::LogLevel::Debug
        } else {
            ghostlink_config::LogLevel::Off
        },
    }
}

/// Sums the samples in Prometheus text (one `/metrics` scrape) named `name` whose labels have
/// every `key="value"` in `labels`, values compared whole (the drills' reader,
/// `ghostlink_drills::metrics`). Missing series read as 0; text that is not Prometheus's
/// format, or a fragment that is not `key="value"`, fails the test.
pub fn metric_value(text: &str, name: &str, labels: &[&str]) -> f64 {
    let pairs: Vec<(&str, &str)> = labels
        .iter()
        .map(|f| match f.split_once('=') {
            Some((k, v)) if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') => (k, &v[1..v.len() - 1]),
            _ => panic!("label {f:?} is not key=\"value\""),
        })
        .collect();
    match ghostlink_drills::metrics::Scrape::parse(text) {
        Ok(scrape) => scrape.sum(name, &pairs),
        Err(e) => panic!("{e}\n{text}"),
    }
}

/// The RabbitMQ tests use.
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_string())
}

/// RabbitMQ settings with an exchange/queue prefix no other test uses.
pub fn amqp_args() -> ghostlink_config::AmqpArgs {
    ghostlink_config::AmqpArgs {
        amqp_url: amqp_url(),
        bus_prefix: format!("gltest-{}", uuid::Uuid::new_v4().simple()),
    }
}

/// Waits (at most 20 s) until a service's ops port answers `/readyz` with 200 — for a consumer,
/// until it consumes. A test that publishes before that races the service declaring the same
/// topology (a full workspace run once failed to publish that way).
pub async fn wait_ready(ops: std::net::SocketAddr) {
    let client = reqwest::Client::new();
    let t = std::time::Instant::now();
    loop {
        let ready = client.get(format!("http://{ops}/readyz")).send().await.map(|r| r.status().as_u16());
        if ready.ok() == Some(200) {
            return;
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(20), "{ops} never became ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Deletes a test's exchanges and queues.
pub async fn delete_topology(prefix: &str) {
    // Cleanup only: what a test leaves on the broker carries its own prefix and fails nothing.
    let _ = ghostlink_bus::delete_topology(&amqp_url(), &ghostlink_bus::Topology::new(prefix)).await;
}

/// A TCP proxy in front of a real server, to cut the network for real: `cut` drops every open
/// connection and refuses new ones until `restore`.
pub struct CutProxy {
    pub addr: std::net::SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    /// Listens on a free loopback port, forwarding to `target`.
    pub async fn start(target: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c2, k2) = (cut.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                if let Ok(mut v) = k2.lock() {
                    v.push(task.abort_handle());
                }
            }
        });
        Self { addr, cut, conns, accept }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut v) = self.conns.lock() {
            for h in v.drain(..) {
                h.abort();
            }
        }
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// An AMQP URL through this proxy.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
