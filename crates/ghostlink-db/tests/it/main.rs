//! ghostlink-db against the real Postgres: how a refused write is classified, and how typed
//! values are stored and read ([`typed`]).

mod domains;
mod partitions;
mod typed;
mod upgrade;

use chrono::{TimeZone, Utc};
use ghostlink_db::clicks::{insert_batch, NewClick};
use ghostlink_db::{DbError, Refusal};
use ghostlink_domain::ClickOutcome;
use ghostlink_test_support::TestDb;

pub(crate) fn click(code: &str) -> NewClick {
    NewClick {
        event_id: uuid::Uuid::now_v7(),
        code: code.into(),
        occurred_at: Utc::now(),
        outcome: ClickOutcome::Redirect,
        method: "GET".into(),
        user_agent: None,
        referrer: None,
        client_hash: "0123456789abcdef0123456789abcdef".into(),
        bot: false,
        details: Default::default(),
    }
}

fn refusal(db: &TestDb, batch: &[NewClick]) -> Option<Refusal> {
    match insert_batch(&mut db.conn(), batch) {
        Ok(n) => panic!("stored {n:?}"),
        Err(e @ DbError::Refused { .. }) => e.refusal(),
        Err(e) => panic!("not classified as refused: {e}"),
    }
}

/// Small batches are one INSERT, large ones COPY: both tell a value Postgres refuses.
#[test]
fn values_postgres_refuses_are_classified_permanent_on_both_insert_paths() {
    let db = TestDb::new();
    db.execute("ALTER TABLE clicks ADD CONSTRAINT clicks_code_not_refused CHECK (code <> 'refused')");
    let ancient = Utc.with_ymd_and_hms(-5000, 1, 1, 0, 0, 0).single().expect("time");
    for size in [1, 250] {
        let batch = |bad: NewClick| {
            let mut b: Vec<NewClick> = (1..size).map(|i| click(&format!("ok{i}"))).collect();
            b.push(bad);
            b
        };
        let nul = NewClick { user_agent: Some("a\0b".into()), ..click("nul") };
        assert_eq!(refusal(&db, &batch(nul)), Some(Refusal::DataException), "NUL, {size} rows");
        let old = NewClick { occurred_at: ancient, ..click("ancient") };
        assert_eq!(refusal(&db, &batch(old)), Some(Refusal::DataException), "timestamp, {size} rows");
        assert_eq!(
            refusal(&db, &batch(click("refused"))),
            Some(Refusal::IntegrityConstraint),
            "check, {size} rows"
        );
    }
    assert_eq!(ghostlink_db::clicks::count(&mut db.conn()).expect("count"), 0, "each batch was atomic");
    let ok: Vec<NewClick> = (0..250).map(|i| click(&format!("ok{i}"))).collect();
    assert_eq!(insert_batch(&mut db.conn(), &ok).expect("insert").written, 250);
}
