//! Typed columns: every value of every named enum is written and read back through Postgres
//! (so the CHECK constraints and the enums agree), JSON columns are `jsonb` read into their
//! types, and a row its type cannot read is an error — never a default.

use std::time::Duration;

use chrono::Utc;
use ghostlink_db::clicks::{self, insert_batch, NewClick};
use ghostlink_db::findings::{self, Observation};
use ghostlink_db::health::{self, NewCheck, Policy, Transition};
use ghostlink_db::links::{self, LinkChanges, ListFilter, NewLink};
use ghostlink_db::risk::{self, RiskRow};
use ghostlink_db::{tokens, DbError};
use ghostlink_domain::bot::BotReason;
use ghostlink_domain::probe::{ClientKey, FindingKind, ProbeAction};
use ghostlink_domain::risk::{Level, Reason};
use ghostlink_domain::rules::{DeviceType, Os};
use ghostlink_domain::{CheckOutcome, ClickOutcome, HealthState, LinkStatus, Role};
use ghostlink_test_support::TestDb;

fn link(db: &TestDb, code: &str) {
    let new = NewLink {
        code: code.into(),
        url: "https://example.com/".into(),
        owner_token_id: None,
        expires_at: None,
        max_clicks: None,
        ..Default::default()
    };
    links::insert(&mut db.conn(), &new).expect("insert link");
}

fn reasons(n: u32) -> Vec<Reason> {
    (0..n)
        .map(|i| Reason { rule: format!("rule{i}"), weight: i * 10, detail: format!("detail {i}") })
        .collect()
}

fn assessment(code: &str, level: Level, n: u32) -> RiskRow {
    RiskRow {
        code: code.into(),
        url: "https://example.com/".into(),
        score: 40,
        level,
        reasons: reasons(n),
        // Postgres keeps microseconds.
        assessed_at: chrono::SubsecRound::trunc_subsecs(Utc::now(), 6),
    }
}

#[test]
fn link_status_and_role_are_stored_by_name() {
    let db = TestDb::new();
    link(&db, "st01");
    let mut conn = db.conn();
    for &status in LinkStatus::ALL {
        let changes = LinkChanges { status: Some(status), ..Default::default() };
        let row = links::update(&mut conn, "st01", &changes).expect("update").expect("a live link");
        assert_eq!(row.status, status);
        assert_eq!(links::get(&mut conn, "st01").expect("get").expect("row").status, status);
        let stored = db.rows("SELECT status FROM links WHERE code = 'st01'");
        assert_eq!(stored[0]["status"], status.as_str(), "stored by its name");
    }
    for &role in Role::ALL {
        let name = format!("t-{role}");
        tokens::insert(&mut conn, &name, role, &format!("hash-{role}"), "glk_x").expect("insert token");
        let row = tokens::find_by_hash(&mut conn, &format!("hash-{role}")).expect("find").expect("row");
        assert_eq!((row.name, row.role), (name, role));
    }
}

#[test]
fn risk_levels_and_reasons_round_trip_and_filter() {
    let db = TestDb::new();
    let mut conn = db.conn();
    for (i, &level) in Level::ALL.iter().enumerate() {
        let code = format!("rk{i:02}");
        link(&db, &code);
        let row = assessment(&code, level, i as u32);
        risk::upsert(&mut conn, &row).expect("upsert");
        assert_eq!(risk::get(&mut conn, &code).expect("get"), Some(row.clone()));
        let snap = links::snapshot(&mut conn, &code).expect("snapshot").expect("a link");
        assert_eq!(snap.risk, Some(level));
        assert_eq!(
            snap.risk_reasons,
            row.reasons.iter().map(|r| format!("{}: {}", r.rule, r.detail)).collect::<Vec<_>>()
        );
        let filter = ListFilter { risk: Some(level), limit: 10, ..Default::default() };
        let listed: Vec<String> =
            links::list(&mut conn, &filter).expect("list").into_iter().map(|l| l.code).collect();
        assert_eq!(listed, std::slice::from_ref(&code));
    }
    let stored =
        db.rows("SELECT jsonb_typeof(reasons) AS t, reasons FROM risk_assessments WHERE code = 'rk02'");
    assert_eq!(stored[0]["t"], "array", "reasons are jsonb");
    assert_eq!(stored[0]["reasons"][1]["detail"], "detail 1");
    let by_level = risk::count_by_level(&mut conn).expect("count");
    assert_eq!(by_level, Level::ALL.iter().map(|&l| (l, 1)).collect::<Vec<_>>());
}

#[test]
fn health_states_check_outcomes_and_redirect_chains_round_trip() {
    let db = TestDb::new();
    link(&db, "hl01");
    let mut conn = db.conn();
    health::schedule_now(&mut conn, "hl01", "https://example.com/").expect("schedule");
    for &state in HealthState::ALL {
        db.execute(&format!("UPDATE link_health SET state = '{}' WHERE code = 'hl01'", state.as_str()));
        assert_eq!(health::get(&mut conn, "hl01").expect("get").expect("row").state, state);
        let counts = health::count_by_state(&mut conn).expect("count");
        assert_eq!(counts, HealthState::ALL.iter().map(|&s| (s, i64::from(s == state))).collect::<Vec<_>>());
    }
    db.execute("UPDATE link_health SET state = 'unknown' WHERE code = 'hl01'");
    let policy = Policy { failures_to_quarantine: 1_000, successes_to_restore: 2, keep_checks: 100 };
    for (i, &outcome) in CheckOutcome::ALL.iter().enumerate() {
        let check = NewCheck {
            code: "hl01".into(),
            outcome,
            status: None,
            latency_ms: 1,
            method: "HEAD".into(),
            final_url: None,
            redirects: (0..i).map(|n| format!("https://example.com/{n}")).collect(),
            error: None,
            error_detail: None,
        };
        let t = health::record(&mut conn, &check, "https://example.com/", &policy, |_| None).expect("record");
        assert_eq!(t, Some(Transition::None));
        let latest = health::checks(&mut conn, "hl01", 1).expect("checks").remove(0);
        assert_eq!((latest.outcome, latest.redirects), (outcome, check.redirects));
        let want = if outcome.is_ok() { HealthState::Healthy } else { HealthState::Failing };
        assert_eq!(health::get(&mut conn, "hl01").expect("get").expect("row").state, want, "{outcome}");
    }
}

#[test]
fn click_outcomes_and_details_round_trip_on_both_insert_paths() {
    let db = TestDb::new();
    let mut conn = db.conn();
    for size in [ClickOutcome::ALL.len(), 250] {
        let code = format!("ck{size}");
        let batch: Vec<NewClick> = (0..size)
            .map(|i| NewClick {
                outcome: ClickOutcome::ALL[i % ClickOutcome::ALL.len()],
                details: clicks::ClickDetails {
                    os: Some(Os::ALL[i % Os::ALL.len()]),
                    device: (i % 3 > 0).then(|| DeviceType::ALL[i % DeviceType::ALL.len()]),
                    bot_reason: (i % 2 == 0).then(|| BotReason::ALL[i % BotReason::ALL.len()]),
                    rule: Some((i % 20) as i16),
                    browser: Some("Firefox".into()),
                    ..Default::default()
                },
                ..crate::click(&code)
            })
            .collect();
        assert_eq!(insert_batch(&mut conn, &batch).expect("insert").written, size);
        let mut stored = clicks::for_code(&mut conn, &code).expect("read");
        let mut want = batch.clone();
        stored.sort_by_key(|c| c.event_id);
        want.sort_by_key(|c| c.event_id);
        for c in want.iter_mut().chain(stored.iter_mut()) {
            c.occurred_at = chrono::DateTime::<Utc>::MIN_UTC;
        }
        assert_eq!(stored, want, "{size} rows");
    }
}

#[test]
fn findings_store_kind_action_and_client_key_by_name() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let gap = Duration::from_secs(600);
    let keys = [None, Some(ClientKey::AddressAgent), Some(ClientKey::Address)];
    for (i, &kind) in FindingKind::ALL.iter().enumerate() {
        for (j, &client_key) in keys.iter().enumerate() {
            let client = if client_key.is_some() { format!("client{i}{j}") } else { String::new() };
            let last = Utc::now() - chrono::Duration::hours((i * keys.len() + j) as i64);
            let last = chrono::SubsecRound::trunc_subsecs(last, 6);
            let obs = Observation {
                kind,
                client: client.clone(),
                code: format!("c{i}{j}"),
                count: 3,
                first_seen: last,
                last_seen: last,
                action: ProbeAction::ALL[j % ProbeAction::ALL.len()],
                client_key,
            };
            let row = findings::record(&mut conn, &obs, gap).expect("record");
            assert_eq!(
                (row.kind, row.action, row.client_key, row.client),
                (kind, obs.action, client_key, client.clone())
            );
            let stored = db
                .rows(&format!("SELECT kind, action, client_key FROM probe_findings WHERE id = {}", row.id));
            assert_eq!(stored[0]["kind"], kind.as_str(), "stored by its name");
            assert_eq!(stored[0]["action"], obs.action.as_str());
            assert_eq!(stored[0]["client_key"], client_key.map_or("", ClientKey::as_str), "no key is ''");
        }
        let listed = findings::list(&mut conn, Some(kind), 100).expect("list");
        assert_eq!(listed.len(), keys.len(), "{kind}");
        assert!(listed.iter().all(|f| f.kind == kind));
    }
    assert_eq!(
        findings::list(&mut conn, None, 100).expect("list all").len(),
        FindingKind::ALL.len() * keys.len()
    );

    // A deny sticks to its episode: a later observe of it does not lift it.
    let at = Utc::now();
    let obs = |action| Observation {
        kind: FindingKind::Burst,
        client: "sticky".into(),
        code: String::new(),
        count: 5,
        first_seen: at,
        last_seen: at,
        action,
        client_key: Some(ClientKey::Address),
    };
    let denied = findings::record(&mut conn, &obs(ProbeAction::Deny), gap).expect("deny");
    let again = findings::record(&mut conn, &obs(ProbeAction::Observe), gap).expect("observe");
    assert_eq!((again.id, again.action), (denied.id, ProbeAction::Deny));
}

/// The canary's raw SQL names statuses and states by binding the enums: which links it looks
/// after (active and quarantined ones) and the state a changed destination starts from.
#[test]
fn the_canary_watches_active_and_quarantined_links_only() {
    let db = TestDb::new();
    let mut conn = db.conn();
    for &status in LinkStatus::ALL {
        let code = format!("w-{status}");
        link(&db, &code);
        db.execute(&format!("UPDATE links SET status = '{}' WHERE code = '{code}'", status.as_str()));
    }
    let watched = [LinkStatus::Active, LinkStatus::Quarantined];
    assert_eq!(health::adopt_missing(&mut conn).expect("adopt"), watched.len());
    for &status in LinkStatus::ALL {
        let adopted = health::get(&mut conn, &format!("w-{status}")).expect("get").is_some();
        assert_eq!(adopted, watched.contains(&status), "{status}");
    }
    for &status in LinkStatus::ALL {
        health::schedule_now(&mut conn, &format!("w-{status}"), "https://example.com/").expect("schedule");
    }
    let mut due = health::claim_due(&mut conn, 100, Duration::from_secs(60), Duration::ZERO).expect("claim");
    due.sort_by(|a, b| a.code.cmp(&b.code));
    let probed: Vec<(String, bool)> = due.into_iter().map(|d| (d.code, d.probe)).collect();
    let mut want: Vec<(String, bool)> =
        LinkStatus::ALL.iter().map(|s| (format!("w-{s}"), watched.contains(s))).collect();
    want.sort();
    assert_eq!(probed, want);

    // A changed destination starts again from unknown; the same one keeps its state.
    db.execute("UPDATE link_health SET state = 'failing' WHERE code = 'w-active'");
    health::schedule_now(&mut conn, "w-active", "https://example.com/").expect("same url");
    assert_eq!(health::get(&mut conn, "w-active").expect("get").expect("row").state, HealthState::Failing);
    health::schedule_now(&mut conn, "w-active", "https://example.org/").expect("new url");
    assert_eq!(health::get(&mut conn, "w-active").expect("get").expect("row").state, HealthState::Unknown);
}

/// Before typed columns, an unknown outcome was counted under its own string, reasons of the
/// wrong shape read as none (the warning page without a reason) and an unknown level as
/// blocked: a bad row was a silent default. Now reading it fails.
#[test]
fn a_row_its_type_cannot_read_is_an_error_not_a_default() {
    let db = TestDb::new();
    link(&db, "bad01");
    let mut conn = db.conn();
    db.execute(
        "INSERT INTO clicks (event_id, code, occurred_at, outcome, method, client_hash) \
         VALUES (gen_random_uuid(), 'bad01', now(), 'teleported', 'GET', 'h')",
    );
    let unreadable = |r: Result<_, DbError>| match r {
        Err(DbError::Query(m)) => m,
        Err(e) => panic!("not a query error: {e}"),
        Ok(_) => panic!("a bad row was read"),
    };
    let m = unreadable(clicks::for_code(&mut conn, "bad01").map(|_| ()));
    assert!(m.contains("unknown click outcome 'teleported'"), "{m}");
    db.execute(
        "INSERT INTO clicks (event_id, code, occurred_at, outcome, method, client_hash, os) \
         VALUES (gen_random_uuid(), 'bad02', now(), 'redirect', 'GET', 'h', 'plan9')",
    );
    let m = unreadable(clicks::for_code(&mut conn, "bad02").map(|_| ()));
    assert!(m.contains("unknown os 'plan9'"), "{m}");

    db.execute(
        "INSERT INTO risk_assessments (code, url, score, level, reasons) \
         VALUES ('bad01', 'https://example.com/', 70, 'high', '[{\"rule\": \"x\"}]')",
    );
    assert!(unreadable(risk::get(&mut conn, "bad01").map(|_| ())).contains("missing field"));
    unreadable(links::snapshot(&mut conn, "bad01").map(|_| ()));

    // JSON that is not an array cannot be stored at all.
    for bad in ["'{}'", "'\"text\"'", "'not json'"] {
        let sql = format!("UPDATE risk_assessments SET reasons = {bad} WHERE code = 'bad01'");
        assert!(ghostlink_db::execute(&mut conn, &sql).is_err(), "{bad} stored");
        let sql = format!("INSERT INTO link_checks (code, outcome, latency_ms, method, redirects) VALUES ('bad01', 'ok', 1, 'GET', {bad})");
        assert!(ghostlink_db::execute(&mut conn, &sql).is_err(), "{bad} stored");
    }
}

/// The migration to `jsonb` keeps what the text columns held.
#[test]
fn json_stored_as_text_before_the_migration_is_read_after_it() {
    let db = TestDb::new();
    link(&db, "mig01");
    let mut conn = db.conn();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/2026-12-02-000108_json_columns");
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).expect("migration file");
    ghostlink_db::execute(&mut conn, &read("down.sql")).expect("down");
    db.execute(
        "INSERT INTO risk_assessments (code, url, score, level, reasons) VALUES ('mig01', 'https://example.com/', \
         10, 'low', '[{\"rule\":\"r\",\"weight\":10,\"detail\":\"d\"}]')",
    );
    db.execute(
        "INSERT INTO link_checks (code, outcome, latency_ms, method, redirects) \
         VALUES ('mig01', 'ok', 1, 'GET', '[\"https://a.example/\",\"https://b.example/\"]'), \
                ('mig01', 'ok', 1, 'GET', DEFAULT)",
    );
    ghostlink_db::execute(&mut conn, &read("up.sql")).expect("up");
    let row = risk::get(&mut conn, "mig01").expect("get").expect("row");
    assert_eq!(row.reasons, [Reason { rule: "r".into(), weight: 10, detail: "d".into() }]);
    let mut chains: Vec<Vec<String>> =
        health::checks(&mut conn, "mig01", 10).expect("checks").into_iter().map(|c| c.redirects).collect();
    chains.sort();
    assert_eq!(chains, [vec![], vec!["https://a.example/".to_string(), "https://b.example/".to_string()]]);
}
