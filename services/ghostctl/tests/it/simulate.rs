//! `ghostctl simulate` refuses what no drill can run with (exit 2, naming the flag), and the
//! admin token a drill mints for itself never outlives it.

use ghostlink_test_support::TestDb;

use crate::ghostctl;

fn tokens(db: &TestDb) -> Vec<(String, bool)> {
    db.rows("SELECT name, revoked_at IS NOT NULL AS revoked FROM api_tokens ORDER BY id")
        .into_iter()
        .map(|r| (r["name"].as_str().expect("a name").to_string(), r["revoked"].as_bool().expect("a bool")))
        .collect()
}

#[test]
fn bad_settings_exit_2_before_a_token_is_made() {
    let db = TestDb::new();
    for (args, flag) in [
        (&["simulate", "db-outage", "--rate", "0"][..], "--rate"),
        (&["simulate", "redis-outage", "--link-urls", "not a url"][..], "'not a url'"),
        (&["simulate", "slow-db", "--fault-secs", "0"][..], "--fault-secs"),
    ] {
        let out = ghostctl(&db.url, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(flag),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(tokens(&db).is_empty(), "{:?}", tokens(&db));
}

#[test]
fn a_drill_that_cannot_run_revokes_its_token() {
    let db = TestDb::new();
    // No system listens there: the drill must stop at its plan, before any traffic.
    let out = ghostctl(
        &db.url,
        &[
            "simulate",
            "replica-down",
            "--redirect-url",
            "http://127.0.0.1:9",
            "--shortener-url",
            "http://127.0.0.1:9",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--stop-cmd"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = tokens(&db);
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(made[0].0.starts_with("simulate-") && made[0].1, "the drill's token is revoked: {made:?}");
}
