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

#[test]
fn binaries_racing_for_a_new_template_each_get_a_migrated_database() {
    let family = format!("gl_tmplrace_{}_", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let exe = std::env::current_exe().expect("this test binary");
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "template::child_gets_a_migrated_database",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env(TEMPLATE_ENV, &family)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a child")
        })
        .collect();
    let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().expect("child output")).collect();
    let made = admin_rows(&format!(
        "SELECT datname, datistemplate FROM pg_database WHERE starts_with(datname, '{family}')"
    ));
    for row in &made {
        let name = row["datname"].as_str().expect("a name");
        ghostlink_db::admin::batch_execute(
            &admin_url(),
            &format!("ALTER DATABASE \"{name}\" IS_TEMPLATE false"),
        )
        .expect("unmark the template");
        ghostlink_test_support::drop_database(name);
    }
    for out in &outputs {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "a child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(made.len(), 1, "one template made: {made:?}");
    assert_eq!(made[0]["datistemplate"], true, "{made:?}");
}
