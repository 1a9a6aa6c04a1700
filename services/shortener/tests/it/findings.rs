//! `GET /admin/v1/findings` (the admin API): admin only, newest first, filtered by kind, bounded by limit.

use std::time::Duration;

use chrono::Utc;
use ghostlink_db::findings::Observation;
use ghostlink_domain::probe::{ClientKey, FindingKind, ProbeAction};

use crate::{error_code, spawn};

fn obs(kind: FindingKind, client: &str, code: &str, minutes_ago: i64) -> Observation {
    let last = Utc::now() - chrono::Duration::minutes(minutes_ago);
    Observation {
        kind,
        client: client.into(),
        code: code.into(),
        count: 42,
        first_seen: last - chrono::Duration::seconds(60),
        last_seen: last,
        action: if client.is_empty() { ProbeAction::Observe } else { ProbeAction::Deny },
        client_key: (!client.is_empty()).then_some(ClientKey::AddressAgent),
    }
}

#[tokio::test]
async fn admins_list_findings_newest_first() {
    let app = spawn().await;
    let scanner = "0123456789abcdef0123456789abcdef";
    let gap = Duration::from_secs(600);
    {
        let mut c = app.db.conn();
        let record = |c: &mut _, o: Observation| ghostlink_db::findings::record(c, &o, gap).expect("record");
        record(&mut c, obs(FindingKind::Enumeration, scanner, "", 30));
        record(&mut c, obs(FindingKind::ZeroClick, "", "prev1ew", 20));
        let burst = record(&mut c, obs(FindingKind::Burst, scanner, "", 10));
        // The same burst two minutes later: the episode is extended, not duplicated.
        let again = record(&mut c, obs(FindingKind::Burst, scanner, "", 8));
        assert_eq!(again.id, burst.id);
        // After more than the quiet gap: a new episode.
        record(&mut c, obs(FindingKind::Enumeration, scanner, "", 5));
    }

    let (s, b) = app.admin_call("GET", "/admin/v1/findings", Some(&app.admin), None).await;
    assert_eq!(s, 200, "{b}");
    let list = b.as_array().expect("array");
    assert_eq!(list.len(), 4, "{b}");
    let kinds: Vec<&str> = list.iter().map(|f| f["kind"].as_str().expect("kind")).collect();
    assert_eq!(kinds, ["enumeration", "burst", "zero_click", "enumeration"]);
    let first = &list[0];
    assert_eq!(first["client"], scanner);
    assert!(first["code"].is_null());
    assert_eq!((first["count"].as_i64(), first["action"].as_str()), (Some(42), Some("deny")));
    assert!(
        first["id"].as_i64().is_some() && first["first_seen"].is_string() && first["last_seen"].is_string()
    );
    assert_eq!(first["client_key"], "address_agent");
    assert!(list[2]["client"].is_null() && list[2]["client_key"].is_null());
    assert_eq!(list[2]["code"], "prev1ew");

    let (s, b) =
        app.admin_call("GET", "/admin/v1/findings?kind=enumeration&limit=1", Some(&app.admin), None).await;
    assert_eq!(s, 200);
    let list = b.as_array().expect("array");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["kind"], "enumeration");
    let (_, b) = app.admin_call("GET", "/admin/v1/findings?kind=zero_click", Some(&app.admin), None).await;
    assert_eq!(b.as_array().map(Vec::len), Some(1));

    for bad in ["kind=scan", "kind=Burst", "limit=0", "limit=501", "limit=many"] {
        let (s, b) =
            app.admin_call("GET", &format!("/admin/v1/findings?{bad}"), Some(&app.admin), None).await;
        assert_eq!((s, error_code(&b).as_str()), (400, "invalid_query"), "{bad}: {b}");
    }
    // An unknown kind is answered with the kinds there are.
    let (_, b) = app.admin_call("GET", "/admin/v1/findings?kind=scan", Some(&app.admin), None).await;
    let message = b["error"]["message"].as_str().unwrap_or_default();
    for k in FindingKind::NAMES {
        assert!(message.contains(k), "{message} names {k}");
    }
    // An empty kind is no filter.
    let (s, b) = app.admin_call("GET", "/admin/v1/findings?kind=", Some(&app.admin), None).await;
    assert_eq!((s, b.as_array().map(Vec::len)), (200, Some(4)), "{b}");
    let (s, b) = app.admin_call("GET", "/admin/v1/findings", Some(&app.user), None).await;
    assert_eq!((s, error_code(&b).as_str()), (403, "forbidden"));
    let (s, _) = app.admin_call("GET", "/admin/v1/findings", None, None).await;
    assert_eq!(s, 401);

    let (_, doc) = app.admin_call("GET", "/admin/v1/openapi.json", None, None).await;
    assert!(doc["paths"]["/admin/v1/findings"]["get"].is_object());
    // The public listener has no admin route.
    let (s, _) = app.call("GET", "/api/v1/findings", Some(&app.admin), None).await;
    assert_eq!(s, 404);
    app.stop().await;
}
