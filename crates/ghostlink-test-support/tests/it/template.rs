//! The template test databases are cloned from: migrated with exactly the embedded migrations,
//! and made once when several test binaries race for it.

use std::process::{Command, Stdio};

use ghostlink_test_support::{base_database_url, TestDb, TEMPLATE_ENV};

/// The server's `postgres` database.
fn admin_url() -> String {
    let mut url = url::Url::parse(&base_database_url()).expect("DATABASE_URL is a URL");
    url.set_path("/postgres");
    url.to_string()
}

/// Runs `query` on the server's `postgres` database.
fn admin_rows(query: &str) -> Vec<serde_json::Value> {
    let mut conn = ghostlink_db::connect(&admin_url()).expect("connect as admin");
    ghostlink_db::query_json(&mut conn, query).expect("admin query")
}

/// The migrations applied to `db` are exactly those this build embeds (a template named after
/// stale migrations would show here).
fn assert_migrated(db: &TestDb) {
    let applied: Vec<String> = db
        .rows("SELECT version FROM __diesel_schema_migrations ORDER BY version")
        .iter()
        .map(|row| row["version"].as_str().expect("a version").to_string())
        .collect();
    let embedded = ghostlink_db::migration_versions().expect("embedded migrations");
    assert!(embedded.len() > 5, "{embedded:?}");
    assert_eq!(applied, embedded);
}

#[test]
fn a_test_database_has_every_migration_and_no_rows() {
    let db = TestDb::new();
    assert_migrated(&db);
    assert_eq!(db.count("links"), 0);
    db.token("t", "admin");
    assert_eq!(db.count("api_tokens"), 1);
    assert_eq!(TestDb::new().count("api_tokens"), 0, "a second database shares nothing with the first");
}

/// The child side of the race below: one binary asking for a database.
#[test]
#[ignore = "run by binaries_racing_for_a_new_template_each_get_a_migrated_database"]
fn child_gets_a_migrated_database() {
    let db = TestDb::new();
    assert_migrated(&db);
}

/// A template family no other test uses.
fn family(what: &str) -> String {
    format!("gl_tmpl{what}_{}_", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Runs `n` children of this binary at once, each asking for a database of `family`; panics
/// naming the first that failed.
fn children(n: usize, family: &str) {
    let exe = std::env::current_exe().expect("this test binary");
    let started: Vec<_> = (0..n)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "template::child_gets_a_migrated_database",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env(TEMPLATE_ENV, family)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a child")
        })
        .collect();
    for child in started {
        let out = child.wait_with_output().expect("child output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "a child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The databases of `family` (name → is a template), dropped as they are listed.
fn take_family(family: &str) -> std::collections::BTreeMap<String, bool> {
    let rows = admin_rows(&format!(
        "SELECT datname, datistemplate FROM pg_database WHERE starts_with(datname, '{family}')"
    ));
    let mut found = std::collections::BTreeMap::new();
    for row in rows {
        let name = row["datname"].as_str().expect("a name").to_string();
        ghostlink_db::admin::batch_execute(
            &admin_url(),
            &format!("ALTER DATABASE \"{name}\" IS_TEMPLATE false"),
        )
        .expect("unmark the template");
        ghostlink_test_support::drop_database(&name);
        found.insert(name, row["datistemplate"] == true);
    }
    found
}

#[test]
fn binaries_racing_for_a_new_template_each_get_a_migrated_database() {
    let family = family("race");
    let raced = std::panic::catch_unwind(|| children(4, &family));
    let made = take_family(&family);
    if let Err(failed) = raced {
        std::panic::resume_unwind(failed);
    }
    let ours = format!("{family}{}", ghostlink_db::migrations_digest().expect("digest"));
    assert_eq!(made, [(ours, true)].into(), "one template made");
}

/// A template of other migrations, made by a binary built from them, as `ensure_template`
/// leaves it; `age` back in time.
fn other_template(name: &str, age: std::time::Duration) {
    let admin = admin_url();
    ghostlink_db::admin::batch_execute(&admin, &format!("CREATE DATABASE \"{name}\"")).expect("create");
    let now = admin_rows("SELECT extract(epoch FROM now())::bigint AS now")[0]["now"].as_i64().expect("now");
    let ensured = now - age.as_secs() as i64;
    for sql in [
        format!("COMMENT ON DATABASE \"{name}\" IS 'ghostlink test template, ensured {ensured}'"),
        format!("ALTER DATABASE \"{name}\" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"),
    ] {
        ghostlink_db::admin::batch_execute(&admin, &sql).expect("mark the template");
    }
}

#[test]
fn a_template_of_other_migrations_is_dropped_only_once_unused_for_an_hour() {
    let family = family("stale");
    let (recent, stale) = (format!("{family}recent"), format!("{family}stale"));
    other_template(&recent, std::time::Duration::from_secs(60));
    other_template(&stale, std::time::Duration::from_secs(2 * 3600));
    let made = std::panic::catch_unwind(|| children(1, &family));
    let found = take_family(&family);
    if let Err(failed) = made {
        std::panic::resume_unwind(failed);
    }
    let ours = format!("{family}{}", ghostlink_db::migrations_digest().expect("digest"));
    // A binary built from other migrations may still be cloning the recent one.
    assert_eq!(
        found,
        [(ours, true), (recent, true)].into(),
        "the stale template is dropped, the recent one kept"
    );
}
