//! The only GhostLink crate that knows diesel: schema, models, queries and embedded migrations.
//!
//! Services see a small API of plain functions over a `PgConnection` and [`Db::run`], which
//! takes a pooled connection on the blocking thread pool, so no diesel type leaks out and a
//! slow or absent Postgres turns into [`DbError::Unavailable`] (an HTTP 503) within the
//! configured timeout instead of a hung request.

pub mod admin;
pub mod clicks;
pub mod findings;
pub mod health;
pub mod links;
pub mod outbox;
pub mod risk;
pub mod schema;
pub mod tokens;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// The migrations shipped inside every binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A pooled Postgres connection.
pub type Conn = PooledConnection<ConnectionManager<PgConnection>>;

/// What went wrong talking to Postgres, in the terms callers act on.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time, or the connection broke: answer 503, retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Any other database error: a bug or a schema mismatch.
    #[error("database error: {0}")]
    Query(String),
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                DbError::Conflict(info.message().to_string())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                DbError::Unavailable(info.message().to_string())
            }
            DieselError::DatabaseError(_, ref info)
                if info.message().contains("statement timeout")
                    || info.message().contains("terminating connection")
                    || info.message().contains("server closed") =>
            {
                DbError::Unavailable(info.message().to_string())
            }
            other => DbError::Query(other.to_string()),
        }
    }
}

#[derive(Debug)]
struct SessionSettings {
    statement_timeout_ms: u64,
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!("SET statement_timeout = {}", self.statement_timeout_ms))
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Pool settings, from the shared `DatabaseArgs`.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub url: String,
    pub pool_size: u32,
    /// Wait for a pooled connection at most this long.
    pub acquire_timeout: Duration,
    /// Server-side bound on each statement.
    pub statement_timeout: Duration,
}

/// A Postgres pool whose work runs on the blocking thread pool of the runtime that built it.
///
/// At most `pool_size` tasks run at once (a gate in front of the pool): more would only block
/// threads waiting for a connection. Every task runs on the building runtime's blocking pool,
/// not on whichever runtime awaits it — actix-web gives each HTTP worker a runtime of its own,
/// and each grew its own blocking threads (64 threads in the redirect, each with its own
/// allocator heap holding cached links: docs/performance.md).
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager<PgConnection>>,
    max_size: u32,
    gate: std::sync::Arc<tokio::sync::Semaphore>,
    acquire_timeout: Duration,
    runtime: Option<tokio::runtime::Handle>,
}

/// Pool occupancy, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    pub idle: u32,
    pub in_use: u32,
    pub max: u32,
}

impl Db {
    /// Builds the pool without connecting: a service starts (and reports not-ready) while
    /// Postgres is down, and connects once it is back.
    pub fn new(settings: &DbSettings) -> Self {
        let manager = ConnectionManager::<PgConnection>::new(&settings.url);
        let pool = Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(0))
            .connection_timeout(settings.acquire_timeout)
            .test_on_check_out(false)
            .connection_customizer(Box::new(SessionSettings {
                statement_timeout_ms: settings.statement_timeout.as_millis() as u64,
            }))
            .error_handler(Box::new(diesel::r2d2::NopErrorHandler))
            .build_unchecked(manager);
        Self {
            pool,
            max_size: settings.pool_size,
            gate: std::sync::Arc::new(tokio::sync::Semaphore::new(settings.pool_size.max(1) as usize)),
            acquire_timeout: settings.acquire_timeout,
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection) -> Result<T, DbError> + Send + 'static,
    {
        // Waiting for the gate and then for a connection share one bound (`DB_TIMEOUT_MS`).
        let deadline = std::time::Instant::now() + self.acquire_timeout;
        let permit = tokio::time::timeout(self.acquire_timeout, self.gate.clone().acquire_owned())
            .await
            .map_err(|_| DbError::Unavailable("timed out waiting for a database connection".into()))?
            .map_err(|_| DbError::Unavailable("database pool closed".into()))?;
        let pool = self.pool.clone();
        let task = move || {
            let _permit = permit;
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut conn = pool
                .get_timeout(left.max(Duration::from_millis(1)))
                .map_err(|e| DbError::Unavailable(e.to_string()))?;
            let out = f(&mut conn);
            if let Err(DbError::Unavailable(_)) = &out {
                // A broken connection must not go back to the pool.
                let _ = conn.batch_execute("SELECT 1").is_err();
            }
            out
        };
        let joined = match &self.runtime {
            Some(rt) => rt.spawn_blocking(task).await,
            None => tokio::task::spawn_blocking(task).await,
        };
        joined.map_err(|e| DbError::Query(format!("database task failed: {e}")))?
    }

    /// A pooled connection on the calling thread (CLIs and tests; services use [`Db::run`]).
    pub fn get(&self) -> Result<Conn, DbError> {
        self.pool.get().map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// `SELECT 1`, for readiness.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|c| c.batch_execute("SELECT 1").map_err(DbError::from)).await
    }

    pub fn state(&self) -> PoolState {
        let s = self.pool.state();
        PoolState { idle: s.idle_connections, in_use: s.connections - s.idle_connections, max: self.max_size }
    }
}

/// Creates the database named in `url` when it does not exist yet (connecting to the server's
/// `postgres` database to do so). Returns whether it was created.
pub fn create_database_if_missing(url: &str) -> Result<bool, DbError> {
    let parsed = url::Url::parse(url).map_err(|e| DbError::Query(format!("bad database url: {e}")))?;
    let name = parsed.path().trim_start_matches('/').to_string();
    if name.is_empty() || name == "postgres" {
        return Ok(false);
    }
    let mut admin_url = parsed.clone();
    admin_url.set_path("/postgres");
    let mut conn =
        PgConnection::establish(admin_url.as_str()).map_err(|e| DbError::Unavailable(e.to_string()))?;
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let found: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(&name)
            .get_result(&mut conn)?;
    if found.exists {
        return Ok(false);
    }
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match conn.batch_execute(&format!("CREATE DATABASE {quoted}")) {
        Ok(()) => Ok(true),
        // Another replica created it between our check and our CREATE.
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) if e.to_string().contains("already exists") => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Applies pending migrations under an advisory lock, so replicas starting together migrate
/// once. Returns the versions applied.
pub fn run_migrations(url: &str) -> Result<Vec<String>, DbError> {
    let mut conn = PgConnection::establish(url).map_err(|e| DbError::Unavailable(e.to_string()))?;
    conn.batch_execute("SELECT pg_advisory_lock(7366252)")?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>())
        .map_err(|e| DbError::Query(format!("migration failed: {e}")));
    conn.batch_execute("SELECT pg_advisory_unlock(7366252)")?;
    applied
}
