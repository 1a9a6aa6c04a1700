//! What a live stream carries: a click's [`Position`] in the event stream (its SSE `id:`, what
//! `Last-Event-ID` resumes from) and its JSON view ([`LiveClick`]), read out of a stream message.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ghostlink_bus::StreamMessage;
use ghostlink_domain::domains::split_key;
use ghostlink_domain::ClickOutcome;
use ghostlink_proto::{ClickRecorded, EventData};
use serde::Serialize;
use utoipa::ToSchema;

/// Where an event is in the stream: the offset of its message and its index among the
/// message's events (a message may carry several, one per line). Written `offset-index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub offset: u64,
    pub index: u32,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.offset, self.index)
    }
}

/// A `Last-Event-ID` that is no position.
#[derive(Debug, thiserror::Error)]
#[error("Last-Event-ID must be an id this stream sent: <offset>-<index>, both decimal")]
pub struct BadPosition;

impl FromStr for Position {
    type Err = BadPosition;

    fn from_str(s: &str) -> Result<Self, BadPosition> {
        let (offset, index) = s.split_once('-').ok_or(BadPosition)?;
        let digits = |t: &str| !t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(offset) || !digits(index) {
            return Err(BadPosition);
        }
        Ok(Position {
            offset: offset.parse().map_err(|_| BadPosition)?,
            index: index.parse().map_err(|_| BadPosition)?,
        })
    }
}

/// One click as a live stream shows it: what the redirect answered and to whom, never the
/// client's hashes. Text is as the redirect received it, escaped only as JSON requires.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveClick {
    /// The event's id (UUIDv7; the click's id once stored).
    #[schema(value_type = String)]
    pub event_id: uuid::Uuid,
    pub code: String,
    /// The custom domain the click came in on (absent: the default domain).
    pub domain: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// What the redirect answered: `redirect`, `not_found`, `gone`, …
    #[schema(value_type = String)]
    pub outcome: ClickOutcome,
    /// Classified as automated by the redirect.
    pub bot: bool,
    pub method: String,
    pub referrer: Option<String>,
    pub user_agent: Option<String>,
    /// The index of the link's redirect rule that chose the destination, when one did.
    pub rule: Option<u32>,
    /// The client's country (ISO 3166-1 alpha-2) and region (ISO 3166-2), when the redirect's
    /// GeoIP database knew them.
    pub country: Option<String>,
    pub region: Option<String>,
}

/// A click read from the stream, its view serialised once for every subscriber.
#[derive(Debug)]
pub struct Click {
    pub position: Position,
    /// The link key the click names (`ghostlink_domain::domains`).
    pub key: String,
    pub json: String,
}

/// The clicks of one stream message, by position. Every non-blank line counts as an index,
/// whether or not it decodes, so a position names the same event on every reader; a line that
/// is not UTF-8 is read with the invalid bytes replaced, as the recorder reads it.
pub fn clicks_of(msg: &StreamMessage) -> Vec<Arc<Click>> {
    if msg.routing_key != ClickRecorded::TYPE {
        return Vec::new();
    }
    msg.payload
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .enumerate()
        .filter_map(|(i, line)| {
            let env = decode(line)?;
            let position = Position { offset: msg.offset, index: u32::try_from(i).ok()? };
            Some(Arc::new(click(position, env)))
        })
        .collect()
}

fn decode(line: &[u8]) -> Option<ghostlink_proto::Envelope<ClickRecorded>> {
    match std::str::from_utf8(line) {
        Ok(text) => serde_json::from_str(text).ok(),
        Err(_) => serde_json::from_str(&String::from_utf8_lossy(line)).ok(),
    }
}

fn click(position: Position, env: ghostlink_proto::Envelope<ClickRecorded>) -> Click {
    let d = env.data;
    let (domain, code) = split_key(&d.code);
    let view = LiveClick {
        event_id: env.id,
        code: code.to_string(),
        domain: domain.map(str::to_string),
        occurred_at: env.occurred_at,
        outcome: d.outcome,
        bot: d.bot,
        method: d.method,
        referrer: d.referrer,
        user_agent: d.user_agent,
        rule: d.rule,
        country: d.country,
        region: d.region,
    };
    // Serialising this plain struct cannot fail.
    let json = serde_json::to_string(&view).unwrap_or_default();
    Click { position, key: d.code, json }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_order() {
        let p: Position = "42-3".parse().expect("a position");
        assert_eq!(p, Position { offset: 42, index: 3 });
        assert_eq!(p.to_string(), "42-3");
        assert!(Position { offset: 42, index: 4 } > p && Position { offset: 43, index: 0 } > p);
        for bad in
            ["", "42", "-3", "42-", "+4-2", "4 2-1", "1-2-3", "a-1", "99999999999999999999-0", "1-4294967296"]
        {
            assert!(bad.parse::<Position>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_line_counts_and_other_events_are_skipped() {
        let env = |code: &str| {
            ghostlink_proto::Envelope::new(
                "redirect",
                None,
                Utc::now(),
                ClickRecorded {
                    user_agent: Some("<b>\"x\"</b>".into()),
                    client_hash: "secret-hash".into(),
                    address_hash: Some("secret-address".into()),
                    rule: Some(1),
                    country: Some("FR".into()),
                    ..ghostlink_test_support::bus::click(code)
                },
            )
            .to_bytes()
        };
        let mut payload = env("a1");
        payload.extend_from_slice(b"\nnot json\n\n");
        payload.extend_from_slice(&env("go.example/b2"));
        let msg = StreamMessage { offset: 7, routing_key: "click.recorded".into(), payload };
        let clicks = clicks_of(&msg);
        let got: Vec<_> = clicks.iter().map(|c| (c.position.to_string(), c.key.as_str())).collect();
        assert_eq!(got, [("7-0".to_string(), "a1"), ("7-2".to_string(), "go.example/b2")]);
        let view: serde_json::Value = serde_json::from_str(&clicks[1].json).expect("json");
        assert_eq!((view["code"].as_str(), view["domain"].as_str()), (Some("b2"), Some("go.example")));
        assert_eq!(view["user_agent"], "<b>\"x\"</b>");
        assert_eq!((view["rule"].as_u64(), view["country"].as_str()), (Some(1), Some("FR")));
        assert!(view["region"].is_null(), "{view}");
        assert!(!clicks[1].json.contains("secret"), "{}", clicks[1].json);
        let other = StreamMessage { offset: 8, routing_key: "link.created".into(), payload: env("a1") };
        assert!(clicks_of(&other).is_empty());
    }
}
