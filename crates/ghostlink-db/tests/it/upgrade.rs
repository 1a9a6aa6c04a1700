//! Migrations applied to a database the previous schema filled: nothing is lost.

use ghostlink_db::{query_json, tokens, workspaces};
use ghostlink_domain::workspace::{MemberRole, Scope};
use ghostlink_domain::Role;
use ghostlink_test_support::TestDb;

#[test]
fn tokens_and_links_move_into_the_default_workspace_with_no_loss() {
    let db = TestDb::new();
    let reverted = ghostlink_db::revert_migrations_to(&db.url, "20261202000108").expect("revert");
    assert_eq!(
        reverted,
        [
            "20261208000114",
            "20261207000113",
            "20261206000112",
            "20261205000111",
            "20261204000110",
            "20261203000109"
        ]
    );
    // What the schema before workspaces held: an admin and two users, their links, one ownerless.
    db.execute(
        "INSERT INTO api_tokens (name, role, token_sha256, prefix) VALUES \
           ('ops', 'admin', 'h-ops', 'glk_o'), ('ann', 'user', 'h-ann', 'glk_a'), ('bob', 'user', 'h-bob', 'glk_b'); \
         UPDATE api_tokens SET revoked_at = now() WHERE name = 'bob'; \
         INSERT INTO links (code, url, owner_token_id) \
           SELECT 'ann-' || g, 'https://a.example/' || g, (SELECT id FROM api_tokens WHERE name = 'ann') \
           FROM generate_series(1, 50) g; \
         INSERT INTO links (code, url, owner_token_id, status) VALUES \
           ('ops-1', 'https://o.example/', (SELECT id FROM api_tokens WHERE name = 'ops'), 'quarantined'), \
           ('nobody', 'https://n.example/', NULL, 'disabled');",
    );
    let before =
        query_json(&mut db.conn(), "SELECT code, url, status, owner_token_id FROM links ORDER BY code")
            .expect("links before");
    ghostlink_db::run_migrations(&db.url).expect("migrate");

    let mut c = db.conn();
    let after = query_json(&mut c, "SELECT code, url, status, owner_token_id FROM links ORDER BY code")
        .expect("after");
    assert_eq!(before, after, "every link, as it was");
    let default = workspaces::default_workspace(&mut c).expect("default workspace");
    let members = workspaces::members(&mut c, default.id, false).expect("members");
    let roles: Vec<(&str, MemberRole)> = members.iter().map(|m| (m.name.as_str(), m.role)).collect();
    assert_eq!(roles, [("ops", MemberRole::Owner), ("ann", MemberRole::Member), ("bob", MemberRole::Member)]);
    for (hash, role, scopes, revoked) in [
        ("h-ops", Role::Admin, Scope::ALL.to_vec(), false),
        ("h-ann", Role::User, MemberRole::Member.full_scopes(), false),
        ("h-bob", Role::User, MemberRole::Member.full_scopes(), true),
    ] {
        let p = tokens::principal_by_hash(&mut c, hash).expect("query").expect("key kept");
        assert_eq!(
            (p.key.role, p.key.scopes.clone(), p.key.revoked_at.is_some()),
            (role, scopes, revoked),
            "{hash}"
        );
        assert_eq!(p.key.workspace_id, default.id);
        assert_eq!(p.member_name, p.key.name, "the key's member is named after it");
    }
    let owners = query_json(
        &mut c,
        "SELECT l.code, m.name AS member, l.workspace_id FROM links l LEFT JOIN members m ON m.id = l.owner_member_id \
         ORDER BY l.code",
    )
    .expect("owners");
    assert_eq!(owners.len(), 52);
    for row in &owners {
        assert_eq!(row["workspace_id"], default.id, "{row}");
        let want = match row["code"].as_str().expect("code") {
            c if c.starts_with("ann-") => Some("ann"),
            "ops-1" => Some("ops"),
            _ => None,
        };
        assert_eq!(row["member"].as_str(), want, "{row}");
    }
    // A tool's raw INSERT, which names no workspace, lands in 'default'.
    db.execute("INSERT INTO links (code, url) VALUES ('raw', 'https://r.example/')");
    let raw = query_json(&mut c, "SELECT workspace_id FROM links WHERE code = 'raw'").expect("raw");
    assert_eq!(raw[0]["workspace_id"], default.id);
    // And back: the migration reverts cleanly, and re-applies.
    drop(c);
    ghostlink_db::revert_migrations_to(&db.url, "20261202000108").expect("revert again");
    ghostlink_db::run_migrations(&db.url).expect("re-apply");
}
