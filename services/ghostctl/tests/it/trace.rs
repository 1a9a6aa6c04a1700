//! One request followed through every service, over the real wire: the shortener, the risk
//! scorer and the canary run as their own processes and export their spans over OTLP/gRPC to
//! the receiver in this test ([`ghostlink_test_support::otlp`]); the test then checks the
//! tree the spans make. A link is created with a `traceparent` of the test's own, so the whole
//! trace must carry the test's trace id: HTTP in → the row's query → the outbox relay's publish
//! (in the shortener, from the context the row stored) → each consumer (another process, from
//! the message's headers) → its own queries and publishes. The canary's round that probes the
//! link is a trace of its own: the outbound HTTP span, the quarantine, the cache invalidation
//! and the `link.quarantined` publish inside it.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ghostlink_test_support::otlp::{OtlpReceiver, ReceivedSpan};
use ghostlink_test_support::{amqp_args, delete_topology, service_env, TestDb};

use crate::BIN;

const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;

fn start(name: &str, envs: &[(&'static str, String)], stdout: Stdio) -> Child {
    let bin = std::path::Path::new(BIN).parent().expect("dir").join(name);
    assert!(bin.exists(), "{name} not built beside ghostctl: run `cargo test --workspace`");
    Command::new(bin).envs(envs.iter().cloned()).stdout(stdout).spawn().expect("spawn")
}

struct Stop(Vec<Child>);

impl Drop for Stop {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn ready(ops: u16) {
    let t = Instant::now();
    let url = format!("http://127.0.0.1:{ops}/readyz");
    while reqwest::get(&url).await.map(|r| r.status().as_u16()).unwrap_or(0) != 200 {
        assert!(t.elapsed() < Duration::from_secs(30), "the service on ops port {ops} never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The span's ancestors' names up to its trace's root, nearest first.
fn ancestry<'a>(span: &'a ReceivedSpan, by_id: &HashMap<&str, &'a ReceivedSpan>) -> Vec<&'a ReceivedSpan> {
    let mut chain = Vec::new();
    let mut at = span;
    while let Some(parent) = by_id.get(at.parent_span_id.as_str()) {
        chain.push(*parent);
        at = parent;
    }
    chain
}

#[tokio::test]
async fn a_link_is_followed_from_its_creation_through_the_relay_to_every_consumer() {
    let receiver = OtlpReceiver::start().await;
    let db = TestDb::new();
    let amqp = amqp_args();
    let token = db.token("tracer", "user");
    let port = 40_000 + (std::process::id() % 4000) as u16 * 5;
    let common = |ops: u16| {
        let mut env = service_env(&db, &amqp);
        env.extend([
            ("OPS_LISTEN_ADDR", format!("127.0.0.1:{ops}")),
            ("REDIS_KEY_PREFIX", format!("{}:", amqp.bus_prefix)),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_TRACES_SAMPLER_ARG", "1".into()),
            // Export every 100 ms instead of 5 s, so the test waits little.
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        ]);
        env
    };
    let mut shortener_env = common(port + 1);
    shortener_env.extend([
        ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
        ("ADMIN_LISTEN_ADDR", "127.0.0.1:0".into()),
        ("LOG_LEVEL", "info".into()),
    ]);
    let mut risk_env = common(port + 2);
    risk_env.push((
        "RISK_BLOCKLIST",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../ops/risk/blocklist.txt").into(),
    ));
    let mut canary_env = common(port + 3);
    canary_env.extend([
        ("CANARY_INTERVAL", "1".into()),
        ("CANARY_FAILURES_TO_QUARANTINE", "1".into()),
        ("CANARY_TIMEOUT_MS", "2000".into()),
        ("CANARY_CONNECT_TIMEOUT_MS", "1000".into()),
    ]);
    let log_path = std::env::temp_dir().join(format!("gl-trace-shortener-{}.log", amqp.bus_prefix));
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let _running = Stop(vec![
        start("ghostlink-shortener", &shortener_env, Stdio::from(log_file)),
        start("ghostlink-risk-scorer", &risk_env, Stdio::null()),
        start("ghostlink-canary", &canary_env, Stdio::null()),
    ]);
    for ops in [port + 1, port + 2, port + 3] {
        ready(ops).await;
    }

    // The caller's trace: every span below must belong to it.
    let trace_id = format!("{:032x}", rand_u128());
    let caller_span = "00f067aa0ba902b7";
    // `.invalid` never resolves (RFC 2606): the canary's probe fails, and quarantines.
    let url = "https://trace-test.invalid/followed";
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/links"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&serde_json::json!({ "url": url }))
        .send()
        .await
        .expect("create the link");
    assert_eq!(resp.status().as_u16(), 201, "{:?}", resp.text().await);

    let in_trace = |spans: &[ReceivedSpan], service: &str, name: &str| {
        spans.iter().any(|s| s.trace_id == trace_id && s.service == service && s.name == name)
    };
    let spans = receiver
        .wait_for(
            "the link's trace through the shortener, the risk scorer and the canary",
            Duration::from_secs(30),
            |s| {
                in_trace(s, "shortener", "POST /api/v1/links")
                    && in_trace(s, "shortener", "publish link.created")
                    && in_trace(s, "risk-scorer", "process link.created")
                    && in_trace(s, "canary", "process link.created")
            },
        )
        .await;
    let trace: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let by_id: HashMap<&str, &ReceivedSpan> = trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();
    let one = |service: &str, name: &str| {
        let found: Vec<_> = trace.iter().filter(|s| s.service == service && s.name == name).collect();
        assert_eq!(found.len(), 1, "one {service} span {name}: {trace:#?}");
        *found[0]
    };

    // HTTP in: the server span continues the caller's span.
    let request = one("shortener", "POST /api/v1/links");
    assert_eq!((request.kind, request.parent_span_id.as_str()), (SERVER, caller_span));
    assert_eq!(request.attribute("http.route"), Some("/api/v1/links"));
    assert_eq!(request.attribute("http.response.status_code"), Some("201"));
    // The request's queries: Postgres client spans under it.
    let queries: Vec<_> = trace
        .iter()
        .filter(|s| s.service == "shortener" && s.name == "postgresql" && s.parent_span_id == request.span_id)
        .collect();
    assert!(!queries.is_empty(), "the request's queries are spans under it: {trace:#?}");
    assert!(queries.iter().all(|q| q.kind == CLIENT && q.attribute("db.system.name") == Some("postgresql")));

    // The relay's publish continues from the context the outbox row stored: the query's span
    // that wrote it, inside the request.
    let publish = one("shortener", "publish link.created");
    assert_eq!(publish.kind, PRODUCER);
    let chain: Vec<&str> = ancestry(publish, &by_id).iter().map(|s| s.name.as_str()).collect();
    assert_eq!(chain, ["postgresql", "POST /api/v1/links"], "the publish's ancestors");

    // Every consumer, in its own process, continues from the message's headers.
    for consumer in ["risk-scorer", "canary"] {
        let process = one(consumer, "process link.created");
        assert_eq!(
            (process.kind, process.parent_span_id.as_str()),
            (CONSUMER, publish.span_id.as_str()),
            "{consumer}"
        );
        assert_eq!(process.attribute("messaging.system"), Some("rabbitmq"));
        let own_queries = trace.iter().filter(|s| {
            s.service == consumer && s.name == "postgresql" && s.parent_span_id == process.span_id
        });
        assert!(own_queries.count() > 0, "{consumer}'s queries are spans under its processing: {trace:#?}");
    }
    // The risk scorer's verdict is published inside its processing: the trace goes on.
    let risk_process = one("risk-scorer", "process link.created");
    let scored = one("risk-scorer", "publish risk.scored");
    assert_eq!((scored.kind, scored.parent_span_id.as_str()), (PRODUCER, risk_process.span_id.as_str()));

    // The canary's round: probe (outbound HTTP), quarantine, cache invalidation, and the
    // link.quarantined event relayed from the row the quarantine wrote.
    let spans = receiver
        .wait_for("the canary round that quarantines the link", Duration::from_secs(30), |s| {
            s.iter()
                .any(|p| p.service == "canary" && p.kind == CLIENT && p.attribute("url.full") == Some(url))
                && s.iter().any(|p| p.service == "canary" && p.name == "publish link.quarantined")
        })
        .await;
    let probe = spans
        .iter()
        .find(|p| p.service == "canary" && p.kind == CLIENT && p.attribute("url.full") == Some(url))
        .expect("the probe's span");
    assert!(probe.error, "the probe of a host that never resolves failed: {probe:#?}");
    assert!(["HEAD", "GET"].contains(&probe.name.as_str()), "named after its method: {probe:#?}");
    assert_eq!(probe.attribute("server.address"), Some("trace-test.invalid"));
    let round: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id == probe.trace_id).collect();
    let by_id: HashMap<&str, &ReceivedSpan> = round.iter().map(|s| (s.span_id.as_str(), *s)).collect();
    let root_of = |s: &ReceivedSpan| ancestry(s, &by_id).last().map(|r| r.name.clone());
    assert_eq!(root_of(probe).as_deref(), Some("canary round"));
    let quarantined =
        round.iter().find(|s| s.name == "publish link.quarantined").expect("in the round's trace");
    assert_eq!(root_of(quarantined).as_deref(), Some("canary round"));
    let invalidation =
        round.iter().find(|s| s.attribute("db.system.name") == Some("redis")).expect("a Redis span");
    assert_eq!((invalidation.name.as_str(), invalidation.kind), ("invalidate", CLIENT));

    // A log line written inside the request leads to its trace.
    drop(_running);
    let log = std::fs::read_to_string(&log_path).expect("the shortener's log");
    let _ = std::fs::remove_file(&log_path);
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("\"trace_id\":\"{trace_id}\"")) && l.contains("\"span_id\":")),
        "no log line of the shortener names the trace:\n{log}"
    );
    delete_topology(&amqp.bus_prefix).await;
}

fn rand_u128() -> u128 {
    let a = uuid::Uuid::new_v4().as_u128();
    a | 1
}
