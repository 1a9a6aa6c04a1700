//! Custom domains: a link's key names its domain, and the database keeps the two together.

use ghostlink_db::domains::{self, DomainChanges, Removed};
use ghostlink_db::{query_json, workspaces, DbError};
use ghostlink_test_support::TestDb;

#[test]
fn the_same_code_lives_on_two_domains_and_a_key_names_only_its_workspaces_domain() {
    let db = TestDb::new();
    let mut c = db.conn();
    let team = workspaces::create(&mut c, "team", "Team").expect("workspace");
    let other = workspaces::create(&mut c, "other", "Other").expect("workspace");
    let go = domains::add(&mut c, team.id, "go.team.test", Some("https://team.test/"), None).expect("add");
    domains::add(&mut c, other.id, "go.other.test", None, None).expect("add");
    assert!(matches!(domains::add(&mut c, other.id, "go.team.test", None, None), Err(DbError::Conflict(_))));

    db.execute(&format!(
        "INSERT INTO links (code, url, workspace_id) VALUES ('abc', 'https://d.test/', {t}), \
           ('go.team.test/abc', 'https://t.test/', {t}), ('go.other.test/abc', 'https://o.test/', {o})",
        t = team.id,
        o = other.id
    ));
    let rows = query_json(&mut c, "SELECT code, domain_id FROM links ORDER BY code").expect("rows");
    assert_eq!(rows[0]["code"], "abc");
    assert!(rows[0]["domain_id"].is_null());
    assert_eq!(rows[2]["code"], "go.team.test/abc");
    assert_eq!(rows[2]["domain_id"], go.id);

    // A key on another workspace's domain, or on no domain, is refused by the database itself.
    for key in ["go.other.test/x", "nowhere.test/x"] {
        let err = ghostlink_db::execute(
            &mut c,
            &format!(
                "INSERT INTO links (code, url, workspace_id) VALUES ('{key}', 'https://x.test/', {})",
                team.id
            ),
        );
        assert!(matches!(err, Err(DbError::Refused { .. })), "{key}: {err:?}");
    }

    let changed = domains::update(
        &mut c,
        team.id,
        "go.team.test",
        &DomainChanges { root_url: Some(None), not_found_url: Some(Some("https://team.test/404".into())) },
    )
    .expect("update")
    .expect("found");
    assert_eq!((changed.root_url, changed.not_found_url.as_deref()), (None, Some("https://team.test/404")));
    assert_eq!(
        domains::update(&mut c, other.id, "go.team.test", &DomainChanges::default()).expect("update"),
        None
    );

    assert_eq!(domains::remove(&mut c, team.id, "go.team.test").expect("remove"), Removed::HasLinks(1));
    assert_eq!(domains::remove(&mut c, team.id, "go.other.test").expect("remove"), Removed::NotFound);
    let spare = domains::add(&mut c, team.id, "spare.team.test", None, None).expect("add");
    assert_eq!(domains::remove(&mut c, team.id, &spare.host).expect("remove"), Removed::Removed);
    assert_eq!(domains::all(&mut c).expect("all").len(), 2);
}
