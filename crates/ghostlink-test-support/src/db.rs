//! A Postgres database of its own per test, cloned from one migrated template (`CREATE
//! DATABASE … TEMPLATE`, as crates.io's test databases are) instead of migrated each time.
//!
//! The template is `gl_template_<digest>`, after `ghostlink_db::migrations_digest()` (of the
//! migrations the build embeds), so a changed or added migration makes a new template. Test
//! binaries and their threads race to make it: under an advisory lock on the server's `postgres`
//! database the first one creates it, migrates it and marks it a template that takes no
//! connections (Postgres clones a database only while nobody is connected to it); the others
//! wait for the lock and find it made. Each binary notes on the template when it ensured it; a
//! template of other migrations is dropped once no binary has ensured it for an hour (one dropped
//! under a running binary is made again).
//!
//! Everything goes through `ghostlink-db`'s API: this crate does not depend on diesel.

use std::sync::Mutex;

use ghostlink_config::DatabaseArgs;
use ghostlink_db::{Conn, Connection, DbError};

/// The server URL tests create their databases on.
pub fn base_database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// `DATABASE_URL` pointed at another database of the same server.
fn url_of(database: &str) -> url::Url {
    let mut url = url::Url::parse(&base_database_url()).expect("DATABASE_URL is a URL");
    url.set_path(&format!("/{database}"));
    url
}

/// The server's `postgres` database, where databases are created and dropped.
fn admin_url() -> String {
    url_of("postgres").to_string()
}

/// Runs `sql` on a connection of its own to the server's `postgres` database.
fn admin(sql: &str) -> Result<(), DbError> {
    ghostlink_db::admin::batch_execute(&admin_url(), sql)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A database of its own for one test, dropped when the value is (unless `KEEP_TEST_DB`).
pub struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    /// Creates `gl_test_<random>` from the migrated template.
    pub fn new() -> Self {
        let name = format!("gl_test_{}", uuid::Uuid::new_v4().simple());
        let mut last = None;
        for attempt in 0..3 {
            let template = template(attempt > 0);
            match admin(&format!("CREATE DATABASE {} TEMPLATE {}", quoted(&name), quoted(&template))) {
                Ok(()) => return Self { url: url_of(&name).to_string(), name },
                // Dropped by a binary built with other migrations, or briefly still in use:
                // make sure of the template and try again.
                Err(e) => last = Some(e),
            }
        }
        panic!("create test database {name} from the template: {last:?}");
    }

    /// A direct connection, for arranging and asserting through `ghostlink_db`'s functions.
    pub fn conn(&self) -> Connection {
        ghostlink_db::connect(&self.url).expect("connect to test database")
    }

    /// Runs SQL on this database (arranging a test without the db crate's API).
    pub fn execute(&self, sql: &str) {
        ghostlink_db::execute(&mut self.conn(), sql).expect("execute SQL on test database");
    }

    /// The rows of `query`, each a JSON object of its columns.
    pub fn rows(&self, query: &str) -> Vec<serde_json::Value> {
        ghostlink_db::query_json(&mut self.conn(), query).unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    /// `SELECT count(*) FROM <from>`: `from` is a table, optionally with a `WHERE` clause.
    pub fn count(&self, from: &str) -> i64 {
        let rows = self.rows(&format!("SELECT count(*) AS n FROM {from}"));
        rows[0]["n"].as_i64().expect("a count")
    }

    /// A table's row count and a digest of every row's content, for asserting that a request
    /// changed nothing (`table` is a plain identifier: `links`, `outbox`, ...).
    pub fn fingerprint(&self, table: &str) -> (i64, String) {
        assert!(table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "not a table name: {table}");
        let rows = self.rows(&format!(
            "SELECT count(*) AS n, coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS digest \
             FROM {table} t"
        ));
        let n = rows[0]["n"].as_i64().expect("a count");
        (n, rows[0]["digest"].as_str().expect("a digest").to_string())
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL on the server's `postgres` database (e.g. to cut this database off).
    pub fn admin_execute(&self, sql: &str) {
        admin(sql).expect("admin SQL");
    }

    pub fn database_args(&self) -> DatabaseArgs {
        DatabaseArgs { database_url: self.url.clone(), db_pool_size: 8, db_timeout_ms: 1000 }
    }

    /// Stores a token and returns its secret: an `admin` token as an owner of the default
    /// workspace (the instance administrator), a `user` token as the owner of a workspace of its
    /// own, so that two user tokens never see each other's links.
    pub fn token(&self, name: &str, role: &str) -> String {
        let role: ghostlink_domain::Role = role.parse().expect("a role");
        if role == ghostlink_domain::Role::Admin {
            let secret = ghostlink_domain::new_token(&mut rand::rngs::OsRng);
            let hash = ghostlink_domain::hash_token(&secret);
            ghostlink_db::tokens::insert(&mut self.conn(), name, role, &hash, &secret[..8])
                .expect("insert token");
            return secret;
        }
        let slug: String = format!("ws-{name}")
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(40)
            .collect();
        let slug = slug.trim_end_matches('-').to_string();
        let ws = ghostlink_db::workspaces::create(&mut self.conn(), &slug, name).expect("create workspace");
        self.member_key(ws.id, name, ghostlink_domain::workspace::MemberRole::Owner, None)
    }

    /// Adds a member of `role` to `workspace` and returns the secret of a key for it, with
    /// `scopes` (default: every scope the role can use).
    pub fn member_key(
        &self,
        workspace: i64,
        name: &str,
        role: ghostlink_domain::workspace::MemberRole,
        scopes: Option<&[ghostlink_domain::workspace::Scope]>,
    ) -> String {
        let mut conn = self.conn();
        let member =
            ghostlink_db::workspaces::add_member(&mut conn, workspace, name, role).expect("add member");
        self.key_for(
            workspace,
            member.id,
            name,
            scopes.map_or_else(|| role.full_scopes(), <[_]>::to_vec),
            None,
        )
    }

    /// Stores a key of `member` and returns its secret.
    pub fn key_for(
        &self,
        workspace: i64,
        member: i64,
        name: &str,
        scopes: Vec<ghostlink_domain::workspace::Scope>,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> String {
        let secret = ghostlink_domain::new_token(&mut rand::rngs::OsRng);
        let hash = ghostlink_domain::hash_token(&secret);
        let key = ghostlink_db::tokens::NewKey {
            workspace_id: workspace,
            member_id: member,
            name,
            role: ghostlink_domain::Role::User,
            scopes: &scopes,
            expires_at,
            sha256: &hash,
            prefix: &secret[..8],
        };
        ghostlink_db::tokens::insert_key(&mut self.conn(), &key).expect("insert key");
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
        if std::env::var_os("KEEP_TEST_DB").is_none() {
            drop_database(&self.name);
        }
    }
}

/// Drops a database by name, on the server of `DATABASE_URL` (cleanup of tests that create one).
pub fn drop_database(name: &str) {
    // Cleanup only: a database left behind (server gone mid-test) fails nothing.
    let _ = admin(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quoted(name)));
}

/// The key of the advisory lock the template is made under (on the `postgres` database).
const TEMPLATE_LOCK: i64 = 7_366_253;

/// Names the templates' family (a name prefix, `gl_template_` by default): a test of the
/// template's making uses a family of its own.
pub const TEMPLATE_ENV: &str = "GHOSTLINK_TEST_TEMPLATE";

/// The template made (or found) by this process.
static TEMPLATE: Mutex<Option<String>> = Mutex::new(None);

/// The migrated template's name; made first if this process has not yet (or `again`).
fn template(again: bool) -> String {
    let mut made = TEMPLATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let (Some(name), false) = (made.as_ref(), again) {
        return name.clone();
    }
    let family = std::env::var(TEMPLATE_ENV).unwrap_or_else(|_| "gl_template_".to_string());
    let digest = ghostlink_db::migrations_digest().expect("the embedded migrations");
    let name = format!("{family}{digest}");
    ensure_template(&family, &name).expect("make the migrated template database");
    *made = Some(name.clone());
    name
}

/// Makes the template `name` unless it is there and complete, under the advisory lock; drops
/// the family's other members.
fn ensure_template(family: &str, name: &str) -> Result<(), DbError> {
    let mut conn = ghostlink_db::connect(&admin_url())?;
    ghostlink_db::execute(&mut conn, &format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})"))?;
    let made = make_template(&mut conn, family, name);
    let unlocked = ghostlink_db::execute(&mut conn, &format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})"));
    made.and(unlocked)
}

/// How long a template of other migrations is kept after a binary last ensured it: a binary
/// built from them may still be cloning it (another checkout, or a build from before a change).
const STALE_AFTER_SECS: i64 = 3600;

fn make_template(conn: &mut Conn, family: &str, name: &str) -> Result<(), DbError> {
    let now = ghostlink_db::query_json(conn, "SELECT extract(epoch FROM now())::bigint AS now")?[0]["now"]
        .as_i64()
        .ok_or_else(|| DbError::Query("the server's time".into()))?;
    let found = ghostlink_db::query_json(
        conn,
        "SELECT datname, datistemplate, coalesce(shobj_description(oid, 'pg_database'), '') AS note \
         FROM pg_database",
    )?;
    let mut ready = false;
    for row in found {
        let Some(other) = row["datname"].as_str().filter(|n| n.starts_with(family)) else { continue };
        let template = row["datistemplate"].as_bool() == Some(true);
        if other == name && template {
            ready = true;
            continue;
        }
        let ensured =
            row["note"].as_str().and_then(|n| n.strip_prefix(ENSURED)).and_then(|t| t.parse::<i64>().ok());
        if other != name && template && ensured.is_some_and(|t| now - t < STALE_AFTER_SECS) {
            continue;
        }
        // Stale: of other migrations and unused for long, or half made by a process that died.
        ghostlink_db::execute(conn, &format!("ALTER DATABASE {} IS_TEMPLATE false", quoted(other)))?;
        ghostlink_db::execute(conn, &format!("DROP DATABASE {} WITH (FORCE)", quoted(other)))?;
    }
    if !ready {
        ghostlink_db::execute(conn, &format!("CREATE DATABASE {}", quoted(name)))?;
        ghostlink_db::run_migrations(url_of(name).as_str())?;
        ghostlink_db::execute(
            conn,
            &format!("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false", quoted(name)),
        )?;
    }
    ghostlink_db::execute(conn, &format!("COMMENT ON DATABASE {} IS '{ENSURED}{now}'", quoted(name)))
}

/// The note on a template, followed by when a binary last ensured it (Unix seconds, the server's
/// clock).
const ENSURED: &str = "ghostlink test template, ensured ";
