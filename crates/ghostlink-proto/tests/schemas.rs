//! Code and contract cannot drift: every event type, serialised, validates against its schema
//! file in `proto/events/`, and bad payloads do not.

use std::path::PathBuf;

use chrono::Utc;
use ghostlink_domain::probe::{ClientKey, FindingKind, ProbeAction};
use ghostlink_domain::quarantine::QuarantineActor;
use ghostlink_domain::risk::Level;
use ghostlink_domain::{CheckOutcome, ClickOutcome, LinkStatus};
use ghostlink_proto::*;
use serde_json::Value;

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto/events")
}

fn load(name: &str) -> Value {
    let p = schema_dir().join(format!("{name}.v1.schema.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .expect("schema JSON")
}

/// A validator for an event schema, with the envelope schema resolvable by its relative $ref.
fn validator(name: &str) -> jsonschema::Validator {
    let envelope = load("envelope");
    let resource = jsonschema::Resource::from_contents(envelope).expect("envelope resource");
    jsonschema::options()
        .should_validate_formats(true)
        .with_resource("https://ghostlink.invalid/proto/events/envelope.v1.schema.json", resource)
        .build(&load(name))
        .expect("valid schema")
}

fn samples() -> Vec<(&'static str, Value)> {
    let now = Utc::now();
    let j = |v: Vec<u8>| serde_json::from_slice::<Value>(&v).expect("json");
    vec![
        (
            LinkCreated::TYPE,
            j(Envelope::new(
                "shortener",
                Some("req-1".into()),
                now,
                LinkCreated {
                    code: "abc1234".into(),
                    url: "https://example.com/".into(),
                    status: LinkStatus::Active,
                    owner_token_id: Some(3),
                    expires_at: Some(now),
                    max_clicks: Some(5),
                    created_at: now,
                },
            )
            .to_bytes()),
        ),
        (
            LinkUpdated::TYPE,
            j(Envelope::new(
                "shortener",
                None,
                now,
                LinkUpdated {
                    code: "abc1234".into(),
                    url: "https://example.com/".into(),
                    status: LinkStatus::Disabled,
                    expires_at: None,
                    max_clicks: None,
                    updated_at: now,
                },
            )
            .to_bytes()),
        ),
        (
            LinkDeleted::TYPE,
            j(Envelope::new("shortener", None, now, LinkDeleted { code: "abc1234".into(), deleted_at: now })
                .to_bytes()),
        ),
        (
            ClickRecorded::TYPE,
            j(Envelope::new(
                "redirect",
                Some("0192-req".into()),
                now,
                ClickRecorded {
                    code: "abc1234".into(),
                    outcome: ClickOutcome::Redirect,
                    method: "GET".into(),
                    user_agent: Some("curl/8".into()),
                    referrer: None,
                    client_hash: "0123456789abcdef0123456789abcdef".into(),
                    bot: false,
                    address_hash: Some("fedcba9876543210fedcba9876543210".into()),
                    rule: Some(2),
                    country: Some("FR".into()),
                    region: Some("FR-IDF".into()),
                },
            )
            .to_bytes()),
        ),
        (
            RiskScored::TYPE,
            j(Envelope::new(
                "risk-scorer",
                None,
                now,
                RiskScored {
                    code: "abc1234".into(),
                    url: "http://203.0.113.9/login".into(),
                    score: 40,
                    level: Level::Medium,
                    reasons: vec![RiskReason {
                        rule: "ip_literal_host".into(),
                        weight: 30,
                        detail: "ip".into(),
                    }],
                },
            )
            .to_bytes()),
        ),
        (
            LinkQuarantined::TYPE,
            j(Envelope::new(
                "canary",
                None,
                now,
                LinkQuarantined {
                    code: "abc1234".into(),
                    url: "https://example.com/".into(),
                    by: QuarantineActor::Canary,
                    consecutive_failures: 3,
                    failing_since: Some(now),
                    last_outcome: Some(CheckOutcome::Http5xx),
                },
            )
            .to_bytes()),
        ),
        (
            LinkRestored::TYPE,
            j(Envelope::new(
                "canary",
                None,
                now,
                LinkRestored {
                    code: "abc1234".into(),
                    url: "https://example.com/".into(),
                    by: QuarantineActor::Canary,
                    consecutive_successes: 2,
                },
            )
            .to_bytes()),
        ),
        (
            ProbeDetected::TYPE,
            j(Envelope::new(
                "ghost-probe",
                None,
                now,
                ProbeDetected {
                    kind: FindingKind::Enumeration,
                    client_hash: Some("0123456789abcdef0123456789abcdef".into()),
                    client_key: Some(ClientKey::Address),
                    code: None,
                    count: 20,
                    window_secs: 60,
                    first_seen: now,
                    last_seen: now,
                    action: ProbeAction::Deny,
                },
            )
            .to_bytes()),
        ),
    ]
}

#[test]
fn every_type_validates_against_its_schema_and_round_trips() {
    let samples = samples();
    assert_eq!(samples.len(), KNOWN.len(), "a sample per known type");
    for (kind, value) in samples {
        let v = validator(kind);
        let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{kind}: {errors:?}");
        let bytes = serde_json::to_vec(&value).expect("bytes");
        let decoded = Event::decode(&bytes).expect("decode");
        assert_eq!(decoded.kind(), kind);
        // The other schemas refuse it (type is a const).
        for (other, _) in KNOWN.iter().filter(|(k, _)| *k != kind) {
            assert!(!validator(other).is_valid(&value), "{kind} must not validate as {other}");
        }
    }
}

#[test]
fn schemas_refuse_what_the_code_refuses() {
    let (_, mut click) = samples().into_iter().find(|(k, _)| *k == ClickRecorded::TYPE).expect("click");
    let v = validator(ClickRecorded::TYPE);
    click["data"]["client_hash"] = Value::String("not-hex".into());
    assert!(!v.is_valid(&click));
    click["data"]["client_hash"] = Value::String("0123456789abcdef0123456789abcdef".into());
    click["data"]["surprise"] = Value::Bool(true);
    assert!(!v.is_valid(&click));
    assert!(
        Event::decode(&serde_json::to_vec(&click).expect("bytes")).is_err(),
        "unknown field refused by code too"
    );
    assert!(matches!(
        Event::decode(br#"{"type":"link.created","version":9}"#),
        Err(DecodeError::Unknown { .. })
    ));
    assert!(Event::decode(b"not json").is_err());
}

#[test]
fn a_click_without_an_address_hash_is_still_a_v1_click() {
    let (_, mut click) = samples().into_iter().find(|(k, _)| *k == ClickRecorded::TYPE).expect("click");
    let v = validator(ClickRecorded::TYPE);
    click["data"]["address_hash"] = Value::String("not-hex".into());
    assert!(!v.is_valid(&click), "an address hash is 32 hex digits");
    click["data"].as_object_mut().expect("data").remove("address_hash");
    assert!(v.is_valid(&click), "older redirects send no address hash");
    let Ok(Event::ClickRecorded(e)) = Event::decode(&serde_json::to_vec(&click).expect("bytes")) else {
        panic!("an older click decodes");
    };
    assert_eq!(e.data.address_hash, None);
}

#[test]
fn a_click_names_the_rule_that_chose_its_destination_or_none() {
    let (_, mut click) = samples().into_iter().find(|(k, _)| *k == ClickRecorded::TYPE).expect("click");
    let v = validator(ClickRecorded::TYPE);
    assert_eq!(click["data"]["rule"], 2);
    let last = ghostlink_domain::rules::MAX_RULES - 1;
    let schema = load(ClickRecorded::TYPE);
    assert_eq!(schema["properties"]["data"]["properties"]["rule"]["maximum"], last, "one index per rule");
    for bad in [Value::from(-1), Value::from(last + 1), Value::from("0"), Value::Null] {
        click["data"]["rule"] = bad.clone();
        assert!(!v.is_valid(&click), "rule {bad}");
    }
    click["data"]["rule"] = Value::from(last);
    click["data"]["method"] = Value::from("POST");
    assert!(v.is_valid(&click), "the last rule, a password sent to the form");
    click["data"].as_object_mut().expect("data").remove("rule");
    assert!(v.is_valid(&click), "no rule matched");
    let Ok(Event::ClickRecorded(e)) = Event::decode(&serde_json::to_vec(&click).expect("bytes")) else {
        panic!("a click without a rule decodes");
    };
    assert_eq!(e.data.rule, None);
    let written: Value = serde_json::from_slice(&e.to_bytes()).expect("json");
    assert!(written["data"].get("rule").is_none(), "an absent rule is left out, as older redirects wrote it");
}

#[test]
fn a_finding_names_its_client_key_or_none() {
    let (_, mut found) = samples().into_iter().find(|(k, _)| *k == ProbeDetected::TYPE).expect("probe");
    let v = validator(ProbeDetected::TYPE);
    found["data"]["client_key"] = Value::String("user_agent".into());
    assert!(!v.is_valid(&found), "only address_agent or address");
    found["data"]["client_key"] = Value::String("address_agent".into());
    assert!(v.is_valid(&found));
    found["data"].as_object_mut().expect("data").remove("client_key");
    assert!(v.is_valid(&found), "older findings name no key");
    let Ok(Event::ProbeDetected(e)) = Event::decode(&serde_json::to_vec(&found).expect("bytes")) else {
        panic!("an older finding decodes");
    };
    assert_eq!(e.data.client_key, None);
}

#[test]
fn every_schema_file_is_a_known_type() {
    for entry in std::fs::read_dir(schema_dir()).expect("proto/events") {
        let name = entry.expect("entry").file_name().to_string_lossy().to_string();
        let Some(kind) = name.strip_suffix(".v1.schema.json") else { panic!("unexpected file {name}") };
        assert!(kind == "envelope" || KNOWN.iter().any(|(k, _)| *k == kind), "{name} has no Rust type");
    }
}

/// The `enum` a schema lists for `data.<field>` (through a nullable `oneOf` too).
fn schema_enum(kind: &str, field: &str) -> Vec<String> {
    let schema = load(kind.strip_suffix(".v1").unwrap_or(kind));
    let prop = &schema["properties"]["data"]["properties"][field];
    let list = prop["enum"]
        .as_array()
        .or_else(|| prop["oneOf"].as_array()?.iter().find_map(|alt| alt["enum"].as_array()))
        .unwrap_or_else(|| panic!("{kind}.{field} has no enum"));
    list.iter().map(|v| v.as_str().expect("a name").to_string()).collect()
}

fn names<T: ghostlink_domain::Named>(keep: impl Fn(T) -> bool) -> Vec<String> {
    T::ALL.iter().copied().filter(|&v| keep(v)).map(|v| v.as_str().to_string()).collect()
}

/// Every value the code can send is one the schema lists, and the schema lists nothing the code
/// cannot send: the enums and the contract cannot drift.
#[test]
fn schema_enums_are_the_domain_enums() {
    assert_eq!(schema_enum(ClickRecorded::TYPE, "outcome"), names(ClickOutcome::is_recorded));
    assert_eq!(schema_enum(LinkCreated::TYPE, "status"), names::<LinkStatus>(|_| true));
    assert_eq!(schema_enum(LinkUpdated::TYPE, "status"), names::<LinkStatus>(|_| true));
    assert_eq!(schema_enum(RiskScored::TYPE, "level"), names::<Level>(|_| true));
    assert_eq!(schema_enum(LinkQuarantined::TYPE, "last_outcome"), names::<CheckOutcome>(|_| true));
    assert_eq!(schema_enum(LinkQuarantined::TYPE, "by"), names::<QuarantineActor>(|_| true));
    assert_eq!(schema_enum(LinkRestored::TYPE, "by"), names::<QuarantineActor>(|_| true));
    assert_eq!(schema_enum(ProbeDetected::TYPE, "kind"), names::<FindingKind>(|_| true));
    assert_eq!(schema_enum(ProbeDetected::TYPE, "client_key"), names::<ClientKey>(|_| true));
    assert_eq!(schema_enum(ProbeDetected::TYPE, "action"), names::<ProbeAction>(|_| true));
    let description = load(ClickRecorded::TYPE)["properties"]["data"]["properties"]["outcome"]["description"]
        .as_str()
        .expect("the outcome is described")
        .to_string();
    for o in ClickOutcome::ALL {
        assert!(description.contains(o.as_str()), "the description of click.recorded's outcome names {o}");
    }
}

/// Every click outcome the redirect records validates, is written as its name and decodes back;
/// the one it never records (`denied`) is refused by the schema.
#[test]
fn every_click_outcome_travels_as_its_name() {
    let (_, click) = samples().into_iter().find(|(k, _)| *k == ClickRecorded::TYPE).expect("click");
    let v = validator(ClickRecorded::TYPE);
    for &outcome in ClickOutcome::ALL {
        let Ok(Event::ClickRecorded(mut e)) = Event::decode(&serde_json::to_vec(&click).expect("bytes"))
        else {
            panic!("the sample decodes");
        };
        e.data.outcome = outcome;
        let value: Value = serde_json::from_slice(&e.to_bytes()).expect("json");
        assert_eq!(value["data"]["outcome"], outcome.as_str());
        assert_eq!(v.is_valid(&value), outcome.is_recorded(), "{outcome}");
        let Ok(Event::ClickRecorded(back)) = Event::decode(&e.to_bytes()) else {
            panic!("{outcome} decodes")
        };
        assert_eq!(back.data.outcome, outcome);
    }
}

/// The wire format did not change with the typed fields: an event as older code wrote it (every
/// field a string) decodes and is written again byte for byte, and a value outside the schema's
/// set is undecodable, as the schema refuses it.
#[test]
fn typed_fields_keep_the_wire_format() {
    let old = [
        r#"{"id":"01a23123-91bd-76c5-8549-21d4c82efbbb","type":"click.recorded","version":1,"occurred_at":"2026-11-20T10:00:02Z","source":"redirect","correlation_id":null,"data":{"code":"c","outcome":"scan_limited","method":"GET","user_agent":null,"referrer":null,"client_hash":"0123456789abcdef0123456789abcdef","bot":false,"address_hash":null}}"#,
        r#"{"id":"01a23123-91bd-76c5-8549-21d4c82efbbc","type":"link.updated","version":1,"occurred_at":"2026-11-20T10:00:02Z","source":"shortener","correlation_id":"r","data":{"code":"abc","url":"https://example.com/","status":"quarantined","expires_at":null,"max_clicks":null,"updated_at":"2026-11-20T10:00:02Z"}}"#,
        r#"{"id":"01a23123-91bd-76c5-8549-21d4c82efbbd","type":"risk.scored","version":1,"occurred_at":"2026-11-20T10:00:02Z","source":"risk-scorer","correlation_id":null,"data":{"code":"abc","url":"https://example.com/","score":60,"level":"high","reasons":[]}}"#,
        r#"{"id":"01a23123-91bd-76c5-8549-21d4c82efbbe","type":"link.quarantined","version":1,"occurred_at":"2026-11-20T10:00:02Z","source":"canary","correlation_id":null,"data":{"code":"abc","url":"https://example.com/","by":"canary","consecutive_failures":3,"failing_since":null,"last_outcome":"timeout"}}"#,
        r#"{"id":"01a23123-91bd-76c5-8549-21d4c82efbbf","type":"link.restored","version":1,"occurred_at":"2026-11-20T10:00:02Z","source":"canary","correlation_id":null,"data":{"code":"abc","url":"https://example.com/","by":"admin","consecutive_successes":2}}"#,
        r#"{"id":"01a23123-91bd-76c5-8549-21d4c82efbc0","type":"probe.detected","version":1,"occurred_at":"2026-11-20T10:00:02Z","source":"ghost-probe","correlation_id":null,"data":{"kind":"dead_link_probing","client_hash":"0123456789abcdef0123456789abcdef","client_key":"address_agent","code":null,"count":10,"window_secs":60,"first_seen":"2026-11-20T10:00:00Z","last_seen":"2026-11-20T10:00:02Z","action":"observe"}}"#,
    ];
    for line in old {
        let again = match Event::decode(line.as_bytes()).expect(line) {
            Event::ClickRecorded(e) => e.to_bytes(),
            Event::LinkUpdated(e) => e.to_bytes(),
            Event::RiskScored(e) => e.to_bytes(),
            Event::LinkQuarantined(e) => e.to_bytes(),
            Event::LinkRestored(e) => e.to_bytes(),
            Event::ProbeDetected(e) => e.to_bytes(),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(String::from_utf8(again).expect("utf-8"), line);
        let unknown = line
            .replace(r#""scan_limited""#, r#""teleported""#)
            .replace(r#""quarantined""#, r#""archived""#)
            .replace(r#""high""#, r#""severe""#)
            .replace(r#""timeout""#, r#""slow""#)
            .replace(r#""admin""#, r#""robot""#)
            .replace(r#""dead_link_probing""#, r#""probing""#);
        assert!(Event::decode(unknown.as_bytes()).is_err(), "{unknown}");
        let value: Value = serde_json::from_str(&unknown).expect("json");
        let kind = value["type"].as_str().expect("type").to_string();
        assert!(!validator(&kind).is_valid(&value), "the schema refuses {unknown}");
    }
}
