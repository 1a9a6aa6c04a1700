//! The only GhostLink crate that knows diesel: schema, models, queries and embedded migrations.
//!
//! Services see a small API of plain functions over an opaque [`Conn`] and [`Db::run`], which
//! takes a pooled connection on the blocking thread pool, so a slow or absent Postgres turns
//! into [`DbError::Unavailable`] (an HTTP 503) within the configured timeout instead of a hung
//! request. The schema and the migrations are private; callers hold a connection only to pass it
//! back in, and cannot query it themselves: no other crate depends on diesel (an architecture
//! test checks).

pub mod accounts;
pub mod admin;
pub mod click_stats;
pub mod clicks;
pub mod domains;
pub mod findings;
pub mod health;
pub mod import;
pub mod links;
pub mod outbox;
mod partitions;
pub mod risk;
mod schema;
mod stored;
pub mod tags;
pub mod tokens;
pub mod webhook_deliveries;
pub mod webhooks;
pub mod workspaces;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use ghostlink_telemetry::trace::{self, Attribute};

/// The migrations shipped inside every binary.
const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A digest of the migrations this build embeds: of every file `build.rs` read in `migrations/`
/// (path and content) and of the versions `embed_migrations!` embedded, so a migration added or
/// changed changes it, and so does a build that read the folder twice across a change (a
/// migration added or removed while it compiled). The tests' template database is named after it.
pub fn migrations_digest() -> Result<String, DbError> {
    use std::hash::{Hash, Hasher};
    let mut hash = std::hash::DefaultHasher::new();
    (env!("GHOSTLINK_MIGRATIONS_DIGEST"), migration_versions()?).hash(&mut hash);
    Ok(format!("{:016x}", hash.finish()))
}

/// The versions of the migrations this build embeds, oldest first.
pub fn migration_versions() -> Result<Vec<String>, DbError> {
    let all = diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map_err(|e| DbError::Query(format!("embedded migrations: {e}")))?;
    Ok(all.iter().map(|m| m.name().version().to_string()).collect())
}

/// An open Postgres connection, as this crate's query functions take it: callers get one from
/// [`Db::run`] (or own one through [`Connection`]) only to pass it back in. It is opaque — no
/// diesel type shows through it — so no other crate can run a query of its own on it.
#[derive(ref_cast::RefCast)]
#[repr(transparent)]
pub struct Conn(PgConnection);

impl Conn {
    /// The diesel connection, for this crate's queries.
    pub(crate) fn pg(&mut self) -> &mut PgConnection {
        &mut self.0
    }

    /// Wraps a diesel connection (one inside a transaction, say) to hand to this crate's functions.
    pub(crate) fn wrap(conn: &mut PgConnection) -> &mut Conn {
        use ref_cast::RefCast;
        Conn::ref_cast_mut(conn)
    }
}

/// A connection a caller holds on its own thread (CLIs and tests; services use [`Db::run`]):
/// either of its own ([`connect`]) or from a pool ([`Db::get`]). Lends itself as a [`Conn`].
pub struct Connection(Held);

enum Held {
    Own(PgConnection),
    Pooled(PooledConnection<ConnectionManager<PgConnection>>),
}

impl std::ops::Deref for Connection {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        use ref_cast::RefCast;
        match &self.0 {
            Held::Own(c) => Conn::ref_cast(c),
            Held::Pooled(c) => Conn::ref_cast(c),
        }
    }
}

impl std::ops::DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut Conn {
        match &mut self.0 {
            Held::Own(c) => Conn::wrap(c),
            Held::Pooled(c) => Conn::wrap(c),
        }
    }
}

/// What went wrong talking to Postgres, in the terms callers act on.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time, or the connection broke: answer 503, retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Postgres refused the values themselves (SQLSTATE class 22 or 23, other than a unique
    /// violation): the same write with the same values can never succeed, so it is not retried.
    #[error("the database refused the data ({kind}): {message}")]
    Refused { kind: Refusal, message: String },
    /// Any other database error: a bug or a schema mismatch.
    #[error("database error: {0}")]
    Query(String),
}

/// Why Postgres refused a value: the SQLSTATE class of a permanent data error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Class 22, data exception: a value the column's type cannot hold (a NUL or invalid byte in
    /// text, a timestamp outside Postgres's range, a number out of range).
    DataException,
    /// Class 23, integrity constraint violation: a check, not-null, foreign-key, exclusion or
    /// unique constraint.
    IntegrityConstraint,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::DataException => "data_exception",
            Refusal::IntegrityConstraint => "integrity_constraint",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DbError {
    /// Whether the error is permanent for the values written (SQLSTATE class 22 or 23, a
    /// unique violation included), and which class: retrying the same row cannot help, unlike
    /// an outage ([`DbError::Unavailable`]) or a bug ([`DbError::Query`]).
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            DbError::Refused { kind, .. } => Some(*kind),
            DbError::Conflict(_) => Some(Refusal::IntegrityConstraint),
            DbError::Unavailable(_) | DbError::Query(_) => None,
        }
    }
}

/// Primary messages of the class 22 errors a written value can raise (invalid text, range,
/// length, syntax, binary format). diesel reports SQLSTATEs it does not enumerate as
/// `DatabaseErrorKind::Unknown` and drops the code, so class 22 is recognised by Postgres's
/// message (as the outage cases below are); a server with translated messages (`lc_messages`)
/// leaves such an error a `Query` error: retried, then dead-lettered by the delivery limit.
const DATA_EXCEPTION_MESSAGES: &[&str] = &[
    "invalid byte sequence for encoding",
    "has no equivalent in encoding",
    "unsupported Unicode escape sequence",
    "null character not permitted",
    "out of range",
    "value too long for type",
    "invalid input syntax for",
    "invalid input value for",
    "insufficient data left in message",
    "incorrect binary data format",
];

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                DbError::Conflict(info.message().to_string())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                DbError::Unavailable(info.message().to_string())
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::CheckViolation
                | DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::RestrictViolation
                | DatabaseErrorKind::ExclusionViolation,
                info,
            ) => DbError::Refused { kind: Refusal::IntegrityConstraint, message: info.message().to_string() },
            DieselError::DatabaseError(_, ref info)
                if info.message().contains("statement timeout")
                    || info.message().contains("terminating connection")
                    || info.message().contains("server closed") =>
            {
                DbError::Unavailable(info.message().to_string())
            }
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if DATA_EXCEPTION_MESSAGES.iter().any(|m| info.message().contains(m)) =>
            {
                DbError::Refused { kind: Refusal::DataException, message: info.message().to_string() }
            }
            // A value diesel could not encode for Postgres at all: permanent like class 22.
            DieselError::SerializationError(e) => {
                DbError::Refused { kind: Refusal::DataException, message: e.to_string() }
            }
            // A stored value its type cannot read (crate::stored): the row is a bug to see, so
            // the message names the value, which diesel keeps in the error's source.
            DieselError::DeserializationError(e) => {
                let mut message = e.to_string();
                let mut source = e.source();
                while let Some(s) = source {
                    message = format!("{message}: {s}");
                    source = s.source();
                }
                DbError::Query(message)
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
    /// The semantic-convention attributes of every query's span (system, database, server).
    span_attributes: Vec<Attribute>,
}

/// `db.system.name`, `db.namespace`, `server.address` and `server.port` of the database at
/// `url` (the password never leaves it).
fn span_attributes(url: &str) -> Vec<Attribute> {
    let mut attributes = vec![Attribute::new("db.system.name", "postgresql")];
    if let Ok(u) = url::Url::parse(url) {
        let name = u.path().trim_start_matches('/');
        if !name.is_empty() {
            attributes.push(Attribute::new("db.namespace", name.to_string()));
        }
        if let Some(host) = u.host_str() {
            attributes.push(Attribute::new("server.address", host.to_string()));
        }
        attributes.push(Attribute::new("server.port", i64::from(u.port().unwrap_or(5432))));
    }
    attributes
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
            span_attributes: span_attributes(&settings.url),
        }
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, DbError> + Send + 'static,
    {
        // Waiting for the gate and then for a connection share one bound (`DB_TIMEOUT_MS`).
        let deadline = std::time::Instant::now() + self.acquire_timeout;
        let permit = tokio::time::timeout(self.acquire_timeout, self.gate.clone().acquire_owned())
            .await
            .map_err(|_| DbError::Unavailable("timed out waiting for a database connection".into()))?
            .map_err(|_| DbError::Unavailable("database pool closed".into()))?;
        let pool = self.pool.clone();
        let span = trace::child(trace::kind::Client, || ("postgresql", self.span_attributes.clone()));
        let in_span = span.clone();
        let task = move || {
            let _permit = permit;
            // Inside the query's span: an outbox row written here stores its context.
            let _current = in_span.as_ref().map(trace::attach);
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut conn = pool
                .get_timeout(left.max(Duration::from_millis(1)))
                .map_err(|e| DbError::Unavailable(e.to_string()))?;
            let out = f(Conn::wrap(&mut conn));
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
        let out = joined.map_err(|e| DbError::Query(format!("database task failed: {e}")))?;
        if let Some(cx) = &span {
            trace::finish(cx, out.as_ref().err().map(ToString::to_string).as_deref());
        }
        out
    }

    /// A pooled connection on the calling thread (CLIs and tests; services use [`Db::run`]).
    pub fn get(&self) -> Result<Connection, DbError> {
        let pooled = self.pool.get().map_err(|e| DbError::Unavailable(e.to_string()))?;
        Ok(Connection(Held::Pooled(pooled)))
    }

    /// `SELECT 1`, for readiness.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|c| c.pg().batch_execute("SELECT 1").map_err(DbError::from)).await
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
    let mut conn = <PgConnection as diesel::Connection>::establish(admin_url.as_str())
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
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

/// A connection of its own to `url`, outside any pool (CLIs and tests; services use [`Db::run`]).
pub fn connect(url: &str) -> Result<Connection, DbError> {
    let own = <PgConnection as diesel::Connection>::establish(url)
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
    Ok(Connection(Held::Own(own)))
}

/// Runs `sql` (one or more statements, no results) on `conn`.
pub fn execute(conn: &mut Conn, sql: &str) -> Result<(), DbError> {
    conn.pg().batch_execute(sql).map_err(DbError::from)
}

/// The rows `query` returns, each a JSON object of its columns (Postgres's `json_agg`, in the
/// query's order): for tests and tools that inspect tables without a model of their own.
pub fn query_json(conn: &mut Conn, query: &str) -> Result<Vec<serde_json::Value>, DbError> {
    let conn = conn.pg();
    #[derive(QueryableByName)]
    struct Rows {
        #[diesel(sql_type = diesel::sql_types::Text)]
        rows: String,
    }
    let all: Rows =
        diesel::sql_query(format!("SELECT coalesce(json_agg(q), '[]')::text AS rows FROM ({query}) q"))
            .get_result(conn)?;
    serde_json::from_str(&all.rows).map_err(|e| DbError::Query(format!("rows as JSON: {e}")))
}

/// Applies pending migrations under an advisory lock, so replicas starting together migrate
/// once. Returns the versions applied.
pub fn run_migrations(url: &str) -> Result<Vec<String>, DbError> {
    let mut conn = <PgConnection as diesel::Connection>::establish(url)
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
    conn.batch_execute("SELECT pg_advisory_lock(7366252)")?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>())
        .map_err(|e| DbError::Query(format!("migration failed: {e}")));
    conn.batch_execute("SELECT pg_advisory_unlock(7366252)")?;
    applied
}

/// Reverts applied migrations, newest first, until `version` is the newest applied (an
/// operator's rollback, and how the tests fill a database of an earlier schema). Returns the
/// versions reverted.
pub fn revert_migrations_to(url: &str, version: &str) -> Result<Vec<String>, DbError> {
    let mut conn = <PgConnection as diesel::Connection>::establish(url)
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
    let known = migration_versions()?;
    if !known.iter().any(|v| v == version) {
        return Err(DbError::Query(format!("no migration {version} in this build")));
    }
    let mut reverted = Vec::new();
    loop {
        let applied = conn
            .applied_migrations()
            .map_err(|e| DbError::Query(format!("reading applied migrations: {e}")))?;
        let newest = applied.iter().map(|v| v.to_string()).max();
        match newest {
            Some(v) if v.as_str() > version => {
                conn.revert_last_migration(MIGRATIONS)
                    .map_err(|e| DbError::Query(format!("reverting {v}: {e}")))?;
                reverted.push(v);
            }
            _ => return Ok(reverted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> DbError {
        DieselError::DatabaseError(kind, Box::new(message.to_string())).into()
    }

    #[test]
    fn permanent_data_errors_are_told_from_outages_and_bugs() {
        let refused = |kind, msg| db_error(kind, msg).refusal();
        use DatabaseErrorKind as K;
        assert_eq!(
            refused(K::Unknown, "invalid byte sequence for encoding \"UTF8\": 0x00"),
            Some(Refusal::DataException)
        );
        assert_eq!(refused(K::Unknown, "timestamp out of range"), Some(Refusal::DataException));
        assert_eq!(
            refused(K::CheckViolation, "new row for relation \"clicks\" violates check constraint \"c\""),
            Some(Refusal::IntegrityConstraint)
        );
        assert_eq!(refused(K::NotNullViolation, "null value in column"), Some(Refusal::IntegrityConstraint));
        assert_eq!(
            refused(K::ForeignKeyViolation, "violates foreign key"),
            Some(Refusal::IntegrityConstraint)
        );
        assert_eq!(refused(K::UniqueViolation, "duplicate key value"), Some(Refusal::IntegrityConstraint));
        assert!(matches!(db_error(K::UniqueViolation, "duplicate key value"), DbError::Conflict(_)));
        // Outages and bugs are not the row's fault.
        for (kind, msg) in [
            (K::ClosedConnection, "server closed the connection unexpectedly"),
            (K::Unknown, "canceling statement due to statement timeout"),
            (K::Unknown, "terminating connection due to administrator command"),
            (K::Unknown, "deadlock detected"),
            (K::SerializationFailure, "could not serialize access"),
            (K::ReadOnlyTransaction, "cannot execute INSERT in a read-only transaction"),
            (K::Unknown, "relation \"clicks\" does not exist"),
        ] {
            assert_eq!(refused(kind, msg), None, "{msg}");
        }
        assert!(matches!(db_error(K::Unknown, "terminating connection"), DbError::Unavailable(_)));
        assert!(matches!(db_error(K::Unknown, "deadlock detected"), DbError::Query(_)));
    }
}
