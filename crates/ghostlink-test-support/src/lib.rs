//! Test support for GhostLink: a fresh Postgres database per test (migrated), an isolated Redis
//! key prefix per test, and builders for the shared config blocks pointing at them.
//!
//! Only ever a dev-dependency (checked in CI). Tests talk to the real Postgres and Redis named
//! by `DATABASE_URL` / `REDIS_URL` (defaults: the local servers), never to mocks.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use ghostlink_config::{DatabaseArgs, ListenArgs, LogArgs, RedisArgs};

/// The server URL tests create their databases on.
pub fn base_database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// The Redis tests use.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// A database of its own for one test, dropped when the value is.
pub struct TestDb {
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDb {
    /// Creates `gl_test_<random>` and applies every migration.
    pub fn new() -> Self {
        let base = url::Url::parse(&base_database_url()).expect("DATABASE_URL is a URL");
        let name = format!("gl_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = base.clone();
        admin.set_path("/postgres");
        let mut url = base;
        url.set_path(&format!("/{name}"));
        let created = ghostlink_db::create_database_if_missing(url.as_str()).expect("create test database");
        assert!(created, "fresh test database {name} already existed");
        ghostlink_db::run_migrations(url.as_str()).expect("migrate test database");
        Self { url: url.to_string(), name, admin_url: admin.to_string() }
    }

    /// A direct connection, for arranging and asserting.
    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to test database")
    }

    /// Runs SQL on this database (arranging a test without the db crate's API).
    pub fn execute(&self, sql: &str) {
        self.conn().batch_execute(sql).expect("execute SQL on test database");
    }

    /// A table's row count and a digest of every row's content, for asserting that a request
    /// changed nothing (`table` is a plain identifier: `links`, `outbox`, ...).
    pub fn fingerprint(&self, table: &str) -> (i64, String) {
        #[derive(diesel::QueryableByName)]
        struct Print {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
            #[diesel(sql_type = diesel::sql_types::Text)]
            digest: String,
        }
        assert!(table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "not a table name: {table}");
        let sql = format!(
            "SELECT count(*) AS n, coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS digest \
             FROM {table} t"
        );
        let p: Print = diesel::RunQueryDsl::get_result(diesel::sql_query(sql), &mut self.conn())
            .expect("fingerprint table");
        (p.n, p.digest)
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL on the server's `postgres` database (e.g. to cut this database off).
    pub fn admin_execute(&self, sql: &str) {
        PgConnection::establish(&self.admin_url)
            .expect("connect as admin")
            .batch_execute(sql)
            .expect("admin SQL");
    }

    pub fn database_args(&self) -> DatabaseArgs {
        DatabaseArgs { database_url: self.url.clone(), db_pool_size: 8, db_timeout_ms: 1000 }
    }

    /// Stores a token and returns its secret.
    pub fn token(&self, name: &str, role: &str) -> String {
        let secret = ghostlink_domain::new_token(&mut rand::rngs::OsRng);
        let hash = ghostlink_domain::hash_token(&secret);
        ghostlink_db::tokens::insert(&mut self.conn(), name, role, &hash, &secret[..8])
            .expect("insert token");
        secret
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_DB").is_some() {
            return;
        }
        if let Ok(mut c) = PgConnection::establish(&self.admin_url) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name));
        }
    }
}

/// Drops a database by name, on the server of `DATABASE_URL` (cleanup of tests that create one).
pub fn drop_database(name: &str) {
    let mut admin = url::Url::parse(&base_database_url()).expect("DATABASE_URL is a URL");
    admin.set_path("/postgres");
    if let Ok(mut c) = PgConnection::establish(admin.as_str()) {
        let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
    }
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

/// Sums the samples in Prometheus text whose name matches and whose labels contain every
/// `key="value"` fragment in `labels`. Missing series read as 0.
pub fn metric_value(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|f| l.contains(f)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
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
    let Ok(conn) = ghostlink_bus::connect(&amqp_url(), std::time::Duration::from_secs(5)).await else {
        return;
    };
    if let Ok(ch) = conn.create_channel().await {
        let _ = ghostlink_bus::Topology::new(prefix).delete(&ch).await;
    }
    let _ = conn.close(200, "test done").await;
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
