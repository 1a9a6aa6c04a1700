//! Integration tests of the shortener against real Postgres and Redis.

mod api;
mod auth;
mod auth_matrix;
mod body;
mod events;
mod findings;
mod health;
mod hostile;
mod qr;

use std::net::SocketAddr;

use ghostlink_config::{AmqpArgs, RedisArgs};
use ghostlink_shortener::{App, Config};
use ghostlink_test_support::{listen_any, log_args, redis_args, TestDb};
use serde_json::Value;

pub struct TestApp {
    pub addr: SocketAddr,
    pub ops: SocketAddr,
    pub db: TestDb,
    pub redis: RedisArgs,
    pub amqp: AmqpArgs,
    pub client: reqwest::Client,
    pub admin: String,
    pub user: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(f: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDb::new();
    let redis = redis_args();
    let amqp = ghostlink_test_support::amqp_args();
    let mut cfg = Config {
        database: db.database_args(),
        redis: redis.clone(),
        amqp: amqp.clone(),
        listen: listen_any(),
        log: log_args(),
        public_base_url: "http://sho.rt".into(),
        rate_limit_per_second: 1000,
        rate_limit_burst: 1000,
        token_cache_ttl_ms: 200,
        blocklist: None,
        http_workers: Some(2),
        body_read_timeout_ms: 10_000,
        proxy: ghostlink_config::ProxyArgs::none(),
        // Tests send many refused requests from one address; the limit has its own test.
        auth_failure_limit: 10_000,
        auth_failure_window_ms: 60_000,
    };
    f(&mut cfg);
    let admin = db.token("admin", "admin");
    let user = db.token("alice", "user");
    let amqp = cfg.amqp.clone();
    let app = App::build(cfg).expect("build shortener");
    let (addr, ops) = (app.public_addr(), app.ops_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        ops,
        db,
        redis,
        amqp,
        client: reqwest::Client::new(),
        admin,
        user,
        stop: Some(tx),
        task: Some(task),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request with an optional bearer token and JSON body; returns status and body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method.parse().expect("method"), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn create(&self, token: &str, body: Value) -> (u16, Value) {
        self.call("POST", "/api/v1/links", Some(token), Some(body)).await
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("http://{}/metrics", self.ops))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body")
    }

    /// Stops the service and deletes its broker topology.
    pub async fn stop(self) {
        let prefix = self.amqp.bus_prefix.clone();
        self.stop_keep_bus().await;
        ghostlink_test_support::delete_topology(&prefix).await;
    }

    /// Stops the service (the relay publishes what is left first), keeping the topology.
    pub async fn stop_keep_bus(self) {
        if let Some(tx) = self.stop {
            let _ = tx.send(());
        }
        if let Some(t) = self.task {
            t.await.expect("join").expect("run");
        }
    }
}

/// Asserts the JSON error shape and returns its code.
pub fn error_code(body: &Value) -> String {
    let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"));
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    code.to_string()
}

/// Every event in a prefix's stream, decoded.
pub async fn stream_events(amqp: &AmqpArgs) -> Vec<ghostlink_proto::Event> {
    let topo = ghostlink_bus::Topology::new(amqp.bus_prefix.clone());
    let mut out = Vec::new();
    ghostlink_bus::read_stream(
        &amqp.amqp_url,
        &topo,
        ghostlink_bus::StreamStart::First,
        1000,
        std::time::Duration::from_secs(2),
        |msgs| {
            out.extend(
                msgs.iter()
                    .flat_map(|m| ghostlink_proto::Event::decode_lines(&m.payload))
                    .filter_map(Result::ok),
            );
            async { true }
        },
    )
    .await
    .expect("read stream");
    out
}
