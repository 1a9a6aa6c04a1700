//! The webhook tables through the dispatcher's functions: a delivery is written once per
//! (subscription, event), a claimed one is not claimed again while its lease runs, and the
//! failure clock disables a subscription with its event in the outbox, once.

use std::time::Duration;

use ghostlink_db::outbox::OutboxEvent;
use ghostlink_db::webhook_deliveries::{self as store, AttemptResult, NewDelivery, Recorded};
use ghostlink_db::webhooks;
use ghostlink_domain::webhook::{DeliveryStatus, WebhookEventType};
use ghostlink_test_support::TestDb;

fn failure() -> AttemptResult {
    AttemptResult {
        delivered: false,
        status: Some(500),
        latency_ms: 3,
        error: Some("http: 500\u{0}".into()),
        retry_in: Some(Duration::ZERO),
    }
}

#[test]
fn deliveries_are_written_once_claimed_once_and_a_failing_subscription_is_disabled_once() {
    let db = TestDb::new();
    let mut c = db.conn();
    let ws = ghostlink_db::workspaces::default_workspace(&mut c).expect("workspace").id;
    let sub = webhooks::create(
        &mut c,
        ws,
        "https://hooks.example/in",
        &[WebhookEventType::LinkCreated],
        "whsec_AAAA",
    )
    .expect("create");
    let d = NewDelivery {
        subscription_id: sub.id,
        event_id: uuid::Uuid::now_v7(),
        event_type: WebhookEventType::LinkCreated,
        body: "{}".into(),
    };
    assert_eq!(store::enqueue(&mut c, std::slice::from_ref(&d)).expect("enqueue"), 1);
    assert_eq!(
        store::enqueue(&mut c, std::slice::from_ref(&d)).expect("again"),
        0,
        "the same event, written once"
    );

    let claimed = store::claim_due(&mut c, 10, Duration::from_secs(60)).expect("claim");
    assert_eq!(claimed.len(), 1);
    assert!(store::claim_due(&mut c, 10, Duration::from_secs(60)).expect("claim again").is_empty(), "leased");
    assert_eq!(store::backlog(&mut c).expect("backlog").0, 0, "a leased delivery is not due");

    let event = |_| OutboxEvent {
        event_id: uuid::Uuid::now_v7(),
        routing_key: "webhook.disabled".into(),
        payload: "{}".into(),
    };
    let first = store::record_attempt(&mut c, &claimed[0], &failure(), Duration::from_secs(3_600), event)
        .expect("record");
    assert_eq!(first, Recorded::Retrying);
    let again = store::claim_due(&mut c, 10, Duration::from_secs(60)).expect("due again");
    assert_eq!((again.len(), again[0].attempts), (1, 1));
    let second = store::record_attempt(&mut c, &again[0], &failure(), Duration::ZERO, event).expect("record");
    assert_eq!(second, Recorded::Disabled);

    let sub = webhooks::get(&mut c, ws, sub.id).expect("get").expect("sub");
    assert!(!sub.enabled && sub.disabled_reason.is_some(), "{sub:?}");
    let log = webhooks::deliveries(&mut c, ws, sub.id, None, 10).expect("log").expect("sub");
    assert_eq!(log[0].status, DeliveryStatus::Failed);
    assert_eq!(log[0].attempt_log.len(), 2);
    assert_eq!(log[0].attempt_log[0].error.as_deref(), Some("http: 500\u{fffd}"), "stored as storable text");
    let outbox = db.rows("SELECT routing_key FROM outbox");
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert!(
        store::claim_due(&mut c, 10, Duration::from_secs(60)).expect("claim").is_empty(),
        "nothing of a disabled subscription"
    );

    // Another workspace sees none of it.
    assert_eq!(webhooks::get(&mut c, ws + 1000, sub.id).expect("get"), None);
    assert_eq!(webhooks::deliveries(&mut c, ws + 1000, sub.id, None, 10).expect("log"), None);
    assert!(!webhooks::delete(&mut c, ws + 1000, sub.id).expect("delete"));
}
