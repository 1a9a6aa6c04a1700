//! The click table's daily partitions: made without waiting for writers, idempotent under
//! concurrent makers, and a click of a day without one gets it on the way in.

use chrono::{Duration, Utc};
use ghostlink_db::clicks::{insert_batch, NewClick};
use ghostlink_test_support::TestDb;

fn click(code: &str, at: chrono::DateTime<Utc>) -> NewClick {
    NewClick { occurred_at: at, ..crate::click(code) }
}

#[test]
fn a_new_partition_does_not_wait_for_an_open_write_and_a_click_makes_its_own() {
    let db = TestDb::new();
    // A recorder's transaction in flight: it holds its locks on clicks until it commits.
    let mut writer = db.conn();
    ghostlink_db::execute(
        &mut writer,
        "BEGIN; INSERT INTO clicks (event_id, code, occurred_at, outcome, method, client_hash) \
         VALUES (gen_random_uuid(), 'w', now(), 'redirect', 'GET', 'h')",
    )
    .expect("an open write");
    // Meanwhile maintenance makes the days ahead; it may not wait on the writer's locks.
    let mut maker = db.conn();
    ghostlink_db::execute(&mut maker, "SET lock_timeout = '2s'").expect("lock timeout");
    let far = Utc::now().date_naive() + Duration::days(30);
    let made =
        ghostlink_db::clicks::ensure_partitions(&mut maker, far, 2).expect("made while a write is open");
    assert_eq!(made, 3);
    assert_eq!(ghostlink_db::clicks::ensure_partitions(&mut maker, far, 2).expect("again"), 0, "idempotent");
    ghostlink_db::execute(&mut writer, "COMMIT").expect("commit");

    // A click of a day no partition covers gets one on the way in.
    let at = Utc::now() - Duration::days(40);
    let n = insert_batch(&mut db.conn(), &[click("old", at)]).expect("insert");
    assert_eq!(n.written, 1);
    assert_eq!(db.count(&format!("pg_class WHERE relname = 'clicks_{}'", at.format("%Y%m%d"))), 1);
    // Too far ahead for any clock: refused, never a partition for the year 2999.
    let err = insert_batch(&mut db.conn(), &[click("future", Utc::now() + Duration::days(365 * 900))])
        .expect_err("refused");
    assert!(err.refusal().is_some(), "{err}");
}

#[test]
fn concurrent_makers_of_one_day_make_it_once() {
    let db = TestDb::new();
    let day = Utc::now().date_naive() + Duration::days(60);
    let made: Vec<usize> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| ghostlink_db::clicks::ensure_partitions(&mut db.conn(), day, 0).expect("ensure"))
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert_eq!(made.iter().sum::<usize>(), 1, "{made:?}");
}
