//! Integration tests of the shortener against real Postgres and Redis.

mod accounts;
mod admin;
mod analytics;
mod api;
mod auth;
mod auth_matrix;
mod body;
mod domains;
mod events;
mod findings;
mod health;
mod hostile;
mod live;
mod qr;
mod transfer;
mod webhooks;
mod workspaces;

use std::net::SocketAddr;

use ghostlink_config::{AmqpArgs, RedisArgs};
use ghostlink_shortener::{App, Config};
use ghostlink_test_support::{shared_args, Running, TestDb};
use serde_json::Value;

pub struct TestApp {
    pub addr: SocketAddr,
    /// The admin API's listener.
    pub admin_addr: SocketAddr,
    pub ops: SocketAddr,
    pub db: TestDb,
    pub redis: RedisArgs,
    pub amqp: AmqpArgs,
    pub client: reqwest::Client,
    pub admin: String,
    pub user: String,
    service: Running,
}

pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(f: impl FnOnce(&mut Config)) -> TestApp {
    let (db, redis, amqp) = ghostlink_test_support::backends();
    let mut cfg = Config {
        shared: shared_args(&db, &amqp),
        redis: redis.clone(),
        public_base_url: "http://sho.rt".into(),
        admin_listen: "127.0.0.1:0".into(),
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
        live: Default::default(),
        sign_in_attempt_limit: 1_000,
        sign_in_window_ms: 60_000,
        session_ttl_hours: 24,
    };
    f(&mut cfg);
    let admin = db.token("admin", "admin");
    let user = db.token("alice", "user");
    let amqp = cfg.amqp.clone();
    let app = App::build(cfg).expect("build shortener");
    let addr = app.public_addr();
    let admin_addr = app.admin_addr();
    let service = Running::spawn(app.ops_addr(), |stop| app.run(stop));
    TestApp {
        addr,
        admin_addr,
        ops: service.ops,
        db,
        redis,
        amqp,
        client: reqwest::Client::new(),
        admin,
        user,
        service,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request to the public API with an optional bearer token and JSON body; returns
    /// status and body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.send(self.url(path), method, token, body).await
    }

    /// [`TestApp::call`] on the admin API.
    pub async fn admin_call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.send(format!("http://{}{}", self.admin_addr, path), method, token, body).await
    }

    async fn send(
        &self,
        url: String,
        method: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method.parse().expect("method"), url);
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
        self.service.metrics().await
    }

    /// Stops the service and deletes its broker topology.
    pub async fn stop(self) {
        let prefix = self.amqp.bus_prefix.clone();
        self.stop_keep_bus().await;
        ghostlink_test_support::delete_topology(&prefix).await;
    }

    /// Stops the service (the relay publishes what is left first), keeping the topology.
    pub async fn stop_keep_bus(self) {
        self.service.stop().await;
    }
}

/// Asserts the JSON error shape and returns its code.
pub fn error_code(body: &Value) -> String {
    let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"));
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    code.to_string()
}
