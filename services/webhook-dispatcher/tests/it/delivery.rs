//! Deliveries to real receivers: signed as the Standard Webhooks library verifies, retried
//! until delivered once, bounded when a receiver hangs, never made to a private address the
//! setting does not allow, and a subscription failing for the set time disabled with an event.

use std::time::Duration;

use chrono::Utc;
use ghostlink_domain::webhook::{DeliveryStatus, WebhookEventType};
use ghostlink_domain::LinkStatus;
use ghostlink_proto::{Envelope, LinkCreated};
use ghostlink_test_support::bus::{click, outgoing, publisher};
use ghostlink_test_support::delete_topology;
use serde_json::Value;

use crate::receiver::{Answer, Receiver};
use crate::{start, wait_for, Setup};

const LONG: Duration = Duration::from_secs(20);

/// Events through the broker: a link created and three clicks in one message become a
/// `link.created` and one `click.batch` delivery, each verified by the `standardwebhooks`
/// crate with the subscription's secret; `webhook-id` is the event's id.
#[tokio::test]
async fn events_arrive_signed_as_the_standard_webhooks_library_verifies() {
    let setup = Setup::new();
    setup.link("hooked");
    setup.link("other");
    let receiver = Receiver::start(|_| Answer::Status(204)).await;
    let sub =
        setup.subscribe(&receiver.url("/in"), &[WebhookEventType::LinkCreated, WebhookEventType::ClickBatch]);
    let dispatcher = start(setup.config());

    let now = Utc::now();
    let created = Envelope::new(
        "shortener",
        None,
        now,
        LinkCreated {
            code: "hooked".into(),
            url: "https://example.com/".into(),
            status: LinkStatus::Active,
            owner_token_id: None,
            expires_at: None,
            max_clicks: None,
            created_at: now,
        },
    );
    let clicks: Vec<_> = (0..3).map(|_| Envelope::new("redirect", None, now, click("hooked"))).collect();
    let mut batch = outgoing(&clicks[0]);
    for c in &clicks[1..] {
        batch.payload.push(b'\n');
        batch.payload.extend_from_slice(&c.to_bytes());
    }
    let publisher = publisher(&setup.amqp);
    publisher.publish(&[outgoing(&created), batch]).await.expect("publish");

    let got = wait_for("two deliveries", LONG, || Some(receiver.received()).filter(|r| r.len() >= 2)).await;
    let verifier =
        standardwebhooks::Webhook::new(&sub.secret).expect("the secret is a Standard Webhooks secret");
    let mut types = Vec::new();
    for r in &got {
        verifier.verify(&r.body, &r.headers).unwrap_or_else(|e| panic!("signature refused: {e:?} {r:?}"));
        let body: Value = serde_json::from_slice(&r.body).expect("json");
        types.push(body["type"].as_str().expect("type").to_string());
        if body["type"] == "link.created" {
            assert_eq!(r.header("webhook-id"), created.id.to_string());
            assert_eq!(body["data"]["code"], "hooked");
        } else {
            assert_eq!(body["data"]["count"], 3, "{body}");
            assert_eq!(body["data"]["clicks"].as_array().map(Vec::len), Some(3));
        }
        assert_eq!(r.header("content-type"), "application/json");
    }
    types.sort();
    assert_eq!(types, ["click.batch", "link.created"]);
    // A tampered body is refused by the same library: the check above can fail.
    let mut tampered = got[0].body.clone();
    tampered.push(b' ');
    assert!(verifier.verify(&tampered, &got[0].headers).is_err());
    let log = wait_for("both delivered in the log", LONG, || {
        Some(setup.log(&sub))
            .filter(|l| l.len() == 2 && l.iter().all(|d| d.status == DeliveryStatus::Delivered))
    })
    .await;
    assert!(log.iter().all(|d| d.attempts == 1 && d.last_status == Some(204)), "{log:?}");

    // A redelivered event writes nothing twice: once a later message (a click on another link)
    // made its delivery, the repeated link.created, consumed before it, has made none.
    publisher.publish(&[outgoing(&created)]).await.expect("publish again");
    let other = Envelope::new("redirect", None, now, click("other"));
    publisher.publish(&[outgoing(&other)]).await.expect("publish");
    let count = |kind: &str| {
        setup.db.rows(&format!("SELECT count(*) AS n FROM webhook_deliveries WHERE event_type = '{kind}'"))[0]
            ["n"]
            .as_i64()
    };
    wait_for("the other click's batch", LONG, || (count("click.batch") == Some(2)).then_some(())).await;
    assert_eq!(count("link.created"), Some(1));
    publisher.close().await;
    dispatcher.stop().await;
    receiver.stop();
    delete_topology(&setup.amqp.bus_prefix).await;
}

/// Three failures, then a success: the receiver's app sees the event delivered once (one 2xx),
/// every attempt carries the same `webhook-id`, and the log shows the four attempts.
#[tokio::test]
async fn a_receiver_failing_three_times_gets_it_once_after_three_logged_retries() {
    let setup = Setup::new();
    let receiver = Receiver::start(|n| if n < 3 { Answer::Status(503) } else { Answer::Status(200) }).await;
    let sub = setup.subscribe(&receiver.url("/flaky"), &[WebhookEventType::LinkCreated]);
    let event = setup.enqueue(&sub, r#"{"type":"webhook.test","data":{}}"#);
    let dispatcher = start(setup.config());
    let d = wait_for("delivered", LONG, || {
        setup.log(&sub).pop().filter(|d| d.status == DeliveryStatus::Delivered)
    })
    .await;
    assert_eq!(d.attempts, 4, "{d:?}");
    let statuses: Vec<_> = d.attempt_log.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(503), Some(200)]);
    assert!(d.attempt_log[..3].iter().all(|a| a.error.as_deref() == Some("http: 503 Service Unavailable")));
    let got = receiver.received();
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|r| r.header("webhook-id") == event.to_string()));
    assert_eq!(setup.subscription(sub.id).failing_since, None, "a success stops the failure clock");
    dispatcher.stop().await;
    receiver.stop();
    delete_topology(&setup.amqp.bus_prefix).await;
}

/// A receiver that never answers holds its attempt for the timeout at most, and another
/// subscription's delivery, written after it, is delivered while it hangs.
#[tokio::test]
async fn a_hanging_receiver_is_bounded_and_delays_no_other_subscription() {
    let setup = Setup::new();
    let hang = Receiver::start(|_| Answer::Hang).await;
    let fast = Receiver::start(|_| Answer::Status(200)).await;
    let stuck = setup.subscribe(&hang.url("/hang"), &[WebhookEventType::LinkCreated]);
    let quick = setup.subscribe(&fast.url("/fast"), &[WebhookEventType::LinkCreated]);
    let mut config = setup.config();
    config.timeout_ms = 3_000;
    setup.enqueue(&stuck, "{}");
    let dispatcher = start(config);
    wait_for("the hanging receiver got its request", LONG, || (hang.received().len() == 1).then_some(()))
        .await;
    setup.enqueue(&quick, "{}");
    wait_for("the other subscription delivered", LONG, || {
        setup.log(&quick).pop().filter(|d| d.status == DeliveryStatus::Delivered)
    })
    .await;
    assert_eq!(setup.log(&stuck)[0].attempts, 0, "delivered while the hanging attempt was still in flight");
    let d = wait_for("the hanging attempt recorded", LONG, || {
        setup.log(&stuck).pop().filter(|d| d.attempts >= 1)
    })
    .await;
    let first = &d.attempt_log[0];
    assert!(first.error.as_deref().unwrap_or_default().starts_with("timeout:"), "{d:?}");
    assert_eq!(first.status, None);
    assert!(first.latency_ms >= 2_900, "cut at the timeout, not before: {first:?}");
    assert_eq!(d.status, DeliveryStatus::Pending, "a timeout is retried");
    dispatcher.stop().await;
    hang.stop();
    fast.stop();
    delete_topology(&setup.amqp.bus_prefix).await;
}

/// With `WEBHOOK_ALLOW_PRIVATE_TARGETS` off, a subscription on a loopback address, literal or
/// by name, is never connected to; the log says why.
#[tokio::test]
async fn a_private_address_with_the_setting_off_gets_no_connection() {
    let setup = Setup::new();
    let sentinel = Receiver::start(|_| Answer::Status(200)).await;
    let port = sentinel.addr.port();
    let literal = setup.subscribe(&format!("http://127.0.0.1:{port}/in"), &[WebhookEventType::LinkCreated]);
    let named = setup.subscribe(&format!("http://localhost:{port}/in"), &[WebhookEventType::LinkCreated]);
    let metadata =
        setup.subscribe("http://169.254.169.254/latest/meta-data", &[WebhookEventType::LinkCreated]);
    for sub in [&literal, &named, &metadata] {
        setup.enqueue(sub, "{}");
    }
    let mut config = setup.config();
    config.allow_private_targets = "false".into();
    let dispatcher = start(config);
    for sub in [&literal, &named, &metadata] {
        let d = wait_for("an attempt", LONG, || setup.log(sub).pop().filter(|d| d.attempts >= 2)).await;
        let error = d.last_error.clone().unwrap_or_default();
        assert!(error.starts_with("blocked:"), "{}: {d:?}", sub.url);
        assert_ne!(d.status, DeliveryStatus::Delivered);
    }
    let by_name = setup.log(&named).pop().and_then(|d| d.last_error).unwrap_or_default();
    assert!(by_name.contains("localhost"), "the resolver refused the name's addresses: {by_name}");
    dispatcher.stop().await;
    assert_eq!(sentinel.accepted(), 0, "no connection reached the private address");
    sentinel.stop();
    delete_topology(&setup.amqp.bus_prefix).await;
}

/// A receiver that only ever redirects: every 3xx is a failed attempt (never followed), and
/// once it has failed for the set time the subscription is disabled, its pending deliveries
/// given up and `webhook.disabled` written to the outbox.
#[tokio::test]
async fn a_subscription_failing_for_the_set_time_is_disabled_with_an_event() {
    let setup = Setup::new();
    let receiver = Receiver::start(|_| Answer::Redirect(307)).await;
    let sub = setup.subscribe(&receiver.url("/moved"), &[WebhookEventType::LinkCreated]);
    setup.enqueue(&sub, "{}");
    let mut config = setup.config();
    config.disable_after_secs = 1;
    let dispatcher = start(config);
    let disabled =
        wait_for("disabled", LONG, || Some(setup.subscription(sub.id)).filter(|s| !s.enabled)).await;
    assert!(disabled.disabled_reason.is_some(), "{disabled:?}");
    let d = setup.log(&sub).pop().expect("the delivery");
    assert_eq!(d.status, DeliveryStatus::Failed, "{d:?}");
    assert!(d.attempt_log.iter().all(|a| a.status == Some(307)));
    assert!(d.attempt_log[0].error.as_deref().unwrap_or_default().contains("redirects are not followed"));
    assert!(receiver.received().iter().all(|r| !r.header("webhook-id").is_empty()));
    let events = setup.db.rows("SELECT routing_key, payload::jsonb AS payload FROM outbox ORDER BY id");
    let event = events
        .iter()
        .find(|e| e["routing_key"] == "webhook.disabled")
        .expect("webhook.disabled in the outbox");
    assert_eq!(event["payload"]["data"]["subscription_id"], sub.id);
    assert_eq!(event["payload"]["data"]["url"], sub.url);
    dispatcher.stop().await;
    receiver.stop();
    delete_topology(&setup.amqp.bus_prefix).await;
}

/// Two dispatchers share the deliveries (each delivered once, none twice) and together never
/// send one host more requests at once than `WEBHOOK_PER_HOST_CONCURRENCY`.
#[tokio::test]
async fn replicas_share_deliveries_and_one_host_limit() {
    let setup = Setup::new();
    let receiver = Receiver::start(|_| Answer::Slow(150)).await;
    let subs: Vec<_> = (0..4)
        .map(|i| setup.subscribe(&receiver.url(&format!("/s{i}")), &[WebhookEventType::LinkCreated]))
        .collect();
    for sub in &subs {
        for _ in 0..3 {
            setup.enqueue(sub, "{}");
        }
    }
    let mut config = setup.config();
    config.per_host_concurrency = 2;
    let started = std::time::Instant::now();
    let (a, b) = (start(config.clone()), start(config));
    wait_for("all twelve delivered", LONG, || {
        let done: usize = subs
            .iter()
            .map(|s| setup.log(s).iter().filter(|d| d.status == DeliveryStatus::Delivered).count())
            .sum();
        (done == 12).then_some(())
    })
    .await;
    println!(
        "12 deliveries of 150 ms to one host, 2 replicas, 2 at once: {} ms, at most {} at once",
        started.elapsed().as_millis(),
        receiver.most_at_once()
    );
    assert_eq!(receiver.received().len(), 12, "each delivered once");
    let ids: std::collections::BTreeSet<String> =
        receiver.received().iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 12);
    assert!(receiver.most_at_once() <= 2, "{} requests at once to one host", receiver.most_at_once());
    assert!(subs.iter().flat_map(|s| setup.log(s)).all(|d| d.attempts == 1));
    a.stop().await;
    b.stop().await;
    receiver.stop();
    delete_topology(&setup.amqp.bus_prefix).await;
}
