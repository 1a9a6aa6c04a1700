//! Every named enum keeps its promises for every variant: its name parses back, serde writes
//! and reads that same name, the names are distinct and lower-case, and an unknown name is
//! refused with the set's kind in the error.

use ghostlink_domain::risk::Level;
use ghostlink_domain::{
    CheckOutcome, ClickOutcome, GoneReason, HealthState, LinkStatus, Named, Role, UnknownName,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

fn round_trips<T: Named + Serialize + DeserializeOwned>() {
    let mut seen = std::collections::HashSet::new();
    for &v in T::ALL {
        let name = v.as_str();
        assert!(seen.insert(name), "{}: '{name}' names two variants", T::KIND);
        assert!(
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{}: '{name}' is not a lower-case name",
            T::KIND
        );
        assert_eq!(name.parse::<T>(), Ok(v), "{}", T::KIND);
        assert_eq!(v.to_string(), name, "{}: Display", T::KIND);
        let json = serde_json::to_value(v).expect("serialises");
        assert_eq!(json, serde_json::Value::String(name.to_string()), "{}: serde writes the name", T::KIND);
        assert_eq!(
            serde_json::from_value::<T>(json).expect("deserialises"),
            v,
            "{}: serde reads it",
            T::KIND
        );
        let upper = name.to_ascii_uppercase();
        let err = upper.parse::<T>().expect_err("upper case");
        assert_eq!((err.kind, err.value.as_str()), (T::KIND, upper.as_str()));
        assert!(serde_json::from_value::<T>(serde_json::Value::String(upper)).is_err(), "{}", T::KIND);
    }
    for unknown in ["", "nope", " x", "unknown_value"] {
        let err = unknown.parse::<T>().expect_err(unknown);
        let names: Vec<&str> = T::ALL.iter().map(|v| v.as_str()).collect();
        assert_eq!(err, UnknownName { kind: T::KIND, value: unknown.into(), expected: err.expected });
        assert_eq!(err.expected, names, "{}: the error names every value", T::KIND);
        assert_eq!(
            err.to_string(),
            format!("unknown {} '{unknown}' (expected {})", T::KIND, names.join(", "))
        );
        assert!(serde_json::from_value::<T>(serde_json::Value::String(unknown.into())).is_err());
    }
    assert!(serde_json::from_value::<T>(serde_json::json!(1)).is_err(), "{}: a number", T::KIND);
}

#[test]
fn link_status() {
    round_trips::<LinkStatus>();
}

#[test]
fn gone_reason() {
    round_trips::<GoneReason>();
}

#[test]
fn risk_level() {
    round_trips::<Level>();
    // The order the redirect and the shortener rely on ("at least high").
    let mut sorted = Level::ALL.to_vec();
    sorted.sort();
    assert_eq!(sorted, Level::ALL);
}

#[test]
fn role() {
    round_trips::<Role>();
}

#[test]
fn health_state() {
    round_trips::<HealthState>();
}

#[test]
fn check_outcome() {
    round_trips::<CheckOutcome>();
    assert_eq!(CheckOutcome::ALL.iter().filter(|o| o.is_ok()).count(), 1);
}

#[test]
fn click_outcome() {
    round_trips::<ClickOutcome>();
    assert_eq!(
        ClickOutcome::ALL.iter().filter(|o| !o.is_recorded()).collect::<Vec<_>>(),
        [&ClickOutcome::Denied]
    );
}
