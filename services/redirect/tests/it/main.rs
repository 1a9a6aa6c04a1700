//! Integration tests of the redirect service against real Postgres and Redis.

mod click_text;
mod deny;
mod domains;
mod follow;
mod forwarded;
mod hostile;
mod outages;
mod password;
mod process;
mod rules;
mod scan;

use std::net::SocketAddr;

use ghostlink_config::{AmqpArgs, RedisArgs};
use ghostlink_db::links::NewLink;
use ghostlink_redirect::{App, Config};
use ghostlink_test_support::{shared_args, Running, TestDb};

pub struct TestApp {
    pub addr: SocketAddr,
    pub ops: SocketAddr,
    pub db: TestDb,
    pub redis: RedisArgs,
    pub amqp: AmqpArgs,
    pub client: reqwest::Client,
    service: Running,
}

pub fn config(db: &TestDb, redis: &RedisArgs, amqp: &AmqpArgs) -> Config {
    Config {
        shared: shared_args(db, amqp),
        redis: redis.clone(),
        spool_dir: std::env::temp_dir().join(format!("gl-spool-{}", amqp.bus_prefix)),
        spool_max_bytes: 1 << 30,
        proxy: ghostlink_config::ProxyArgs::none(),
        redirect_status: 302,
        cache_ttl_ms: 1000,
        cache_long_ttl_secs: 300,
        cache_capacity: 10_000,
        redis_ttl_secs: 300,
        scan_budget: 100,
        scan_budget_window_secs: 60,
        click_salt: Some("test-salt-123".into()),
        click_salt_file: None,
        dev: false,
        click_queue_capacity: 10_000,
        click_batch_size: 100,
        referrer_policy: String::new(),
        http_workers: Some(2),
        geoip_db: None,
        default_hosts: vec![],
    }
}

/// The hash the redirect computes for a client at `ip` with user agent `ua` (tests' salt).
pub fn client_hash(ip: &str, ua: &str) -> String {
    ghostlink_domain::hash_client("test-salt-123", &format!("{ip}\u{0}{ua}"))
}

/// A Redis client on the app's key prefix (to arrange the deny set, read budgets).
pub fn redis_cache(app: &TestApp) -> ghostlink_cache::RedisCache {
    ghostlink_cache::RedisCache::new(ghostlink_cache::CacheSettings {
        url: app.redis.redis_url.clone(),
        timeout: std::time::Duration::from_secs(1),
        key_prefix: app.redis.redis_key_prefix.clone(),
        pool_size: 2,
        ttl: std::time::Duration::from_secs(60),
        negative_ttl: std::time::Duration::from_secs(2),
        breaker_open: std::time::Duration::from_millis(100),
    })
    .expect("redis")
}

pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(f: impl FnOnce(&mut Config)) -> TestApp {
    let (db, redis, amqp) = ghostlink_test_support::backends();
    let mut cfg = config(&db, &redis, &amqp);
    f(&mut cfg);
    let app = App::build(cfg).expect("build redirect");
    let addr = app.public_addr();
    let service = Running::spawn(app.ops_addr(), |stop| app.run(stop));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0 ghostlink-tests")
        .build()
        .expect("client");
    TestApp { addr, ops: service.ops, db, redis, amqp, client, service }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn metrics(&self) -> String {
        self.service.metrics().await
    }

    pub fn link(&self, code: &str, url: &str, f: impl FnOnce(&mut NewLink)) {
        let mut new = NewLink {
            code: code.into(),
            url: url.into(),
            owner_token_id: None,
            expires_at: None,
            max_clicks: None,
            ..Default::default()
        };
        f(&mut new);
        ghostlink_db::links::insert(&mut self.db.conn(), &new).expect("insert link");
    }

    /// Stops the service (flushing clicks), waits for it, and hands back the database.
    pub async fn stop(self) -> TestDb {
        let (db, amqp) = self.stop_keep_bus().await;
        ghostlink_test_support::delete_topology(&amqp.bus_prefix).await;
        let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("gl-spool-{}", amqp.bus_prefix)));
        db
    }

    /// Stops the service but keeps its broker topology, for reading what it published.
    pub async fn stop_keep_bus(self) -> (TestDb, AmqpArgs) {
        let TestApp { db, amqp, service, .. } = self;
        service.stop().await;
        (db, amqp)
    }
}

/// Every click event in the test's stream.
pub async fn published_clicks(
    amqp: &AmqpArgs,
) -> Vec<ghostlink_proto::Envelope<ghostlink_proto::ClickRecorded>> {
    let events = ghostlink_test_support::bus::stream_events(amqp).await;
    let click = |e| if let ghostlink_proto::Event::ClickRecorded(e) = e { Some(e) } else { None };
    events.into_iter().filter_map(click).collect()
}
