//! The bus against the real RabbitMQ: idempotent topology, confirms and returns, consumers.

use std::time::Duration;

use ghostlink_bus::{Outgoing, Publisher, Topology, Verdict};
use ghostlink_test_support::{amqp_args, delete_topology};

#[tokio::test]
async fn topology_declaration_is_idempotent() {
    let amqp = amqp_args();
    let topo = Topology::new(amqp.bus_prefix.clone());
    for _ in 0..3 {
        ghostlink_bus::declare_topology(&amqp.amqp_url, &topo).await.expect("declare");
    }
    assert_eq!(
        ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.queue("click-recorder")).await.expect("queue"),
        0
    );
    assert_eq!(
        ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.dlq("click-recorder")).await.expect("dlq"),
        0
    );
    assert!(ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.stream()).await.is_ok(), "stream exists");
    delete_topology(&amqp.bus_prefix).await;
}

#[tokio::test]
async fn confirmed_messages_are_routed_and_returned_ones_fail() {
    let amqp = amqp_args();
    let topo = Topology::new(amqp.bus_prefix.clone());
    let p = Publisher::new(amqp.amqp_url.clone(), topo.clone());
    let msg = |i: usize| Outgoing {
        routing_key: "click.recorded".into(),
        message_id: format!("m{i}"),
        payload: b"{}".to_vec(),
    };
    p.publish(&(0..10).map(msg).collect::<Vec<_>>()).await.expect("confirmed");
    assert_eq!(
        ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.queue("click-recorder")).await.expect("depth"),
        10
    );
    // Nothing is bound to this key on the dead-letter exchange: mandatory publish comes back.
    let err = p.publish_raw(&topo.dlx(), "no-such-consumer", "x", b"{}").await.expect_err("returned");
    assert!(matches!(err, ghostlink_bus::BusError::NotConfirmed { returned: 1, .. }), "{err}");
    // A broker that is not there: unavailable, quickly.
    let dead = Publisher::new("amqp://guest:guest@127.0.0.1:1/%2f", topo.clone());
    assert!(matches!(dead.publish(&[msg(0)]).await, Err(ghostlink_bus::BusError::Unavailable(_))));
    p.close().await;
    delete_topology(&amqp.bus_prefix).await;
}

#[tokio::test]
async fn a_message_retried_past_the_delivery_limit_is_dead_lettered_while_others_flow() {
    let amqp = amqp_args();
    let topo = Topology::new(amqp.bus_prefix.clone());
    let p = Publisher::new(amqp.amqp_url.clone(), topo.clone());
    let batch: Vec<Outgoing> = (0..20)
        .map(|i| Outgoing {
            routing_key: "click.recorded".into(),
            message_id: format!("m{i}"),
            payload: if i == 7 { b"poison".to_vec() } else { format!("{{\"n\":{i}}}").into_bytes() },
        })
        .collect();
    p.publish(&batch).await.expect("publish");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a2 = acked.clone();
    let settings = ghostlink_bus::ConsumerSettings {
        url: amqp.amqp_url.clone(),
        topology: topo.clone(),
        name: "click-recorder".into(),
        prefetch: 50,
        batch_size: 5,
        batch_wait: Duration::from_millis(20),
        concurrency: 1,
        delivery_limit: ghostlink_bus::topology::DELIVERY_LIMIT as u32,
    };
    let task = tokio::spawn(ghostlink_bus::run_consumer(
        settings,
        move |msgs| {
            let a2 = a2.clone();
            async move {
                msgs.iter()
                    .map(|m| {
                        if m.payload == b"poison" {
                            Verdict::Retry
                        } else {
                            a2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            Verdict::Ack
                        }
                    })
                    .collect()
            }
        },
        async move {
            let _ = rx.await;
        },
        |_| {},
    ));
    let t = std::time::Instant::now();
    while ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.dlq("click-recorder")).await.expect("dlq") != 1 {
        assert!(t.elapsed() < Duration::from_secs(20), "poison never dead-lettered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(acked.load(std::sync::atomic::Ordering::SeqCst), 19, "the others flowed");
    let _ = tx.send(());
    task.await.expect("join");
    p.close().await;
    delete_topology(&amqp.bus_prefix).await;
}

/// One event dead-lettered alone: it lands in the consumer's DLQ with its type and reason (cut
/// to 1 KiB on a character boundary), and `dlq_replay` brings it back like any dead letter.
#[tokio::test]
async fn one_event_is_dead_lettered_alone_with_its_reason() {
    let amqp = amqp_args();
    let topo = Topology::new(amqp.bus_prefix.clone());
    let p = Publisher::new(amqp.amqp_url.clone(), topo.clone());
    let reason = format!("integrity_constraint: {}", "é".repeat(600));
    ghostlink_bus::consumer::dead_letter(&p, "click-recorder", "click.recorded", b"{\"n\":1}", &reason)
        .await
        .expect("dead-lettered");
    let letters =
        ghostlink_bus::admin::dlq_peek(&amqp.amqp_url, &topo, "click-recorder", 10).await.expect("peek");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].payload, b"{\"n\":1}");
    assert_eq!(letters[0].routing_key, "click.recorded");
    let kept = letters[0].reason.clone().expect("reason");
    assert!(kept.len() <= 1024 && kept.len() > 1000 && reason.starts_with(&kept), "{}", kept.len());
    // No dead-letter queue under that name: the broker returns it, and it is not confirmed.
    let err = ghostlink_bus::consumer::dead_letter(&p, "no-such-consumer", "click.recorded", b"{}", "x")
        .await
        .expect_err("returned");
    assert!(matches!(err, ghostlink_bus::BusError::NotConfirmed { returned: 1, .. }), "{err}");
    assert_eq!(
        ghostlink_bus::admin::dlq_replay(&amqp.amqp_url, &topo, "click-recorder").await.expect("replay"),
        1
    );
    assert_eq!(
        ghostlink_bus::queue_depth(&amqp.amqp_url, &topo.queue("click-recorder")).await.expect("depth"),
        1
    );
    p.close().await;
    delete_topology(&amqp.bus_prefix).await;
}
