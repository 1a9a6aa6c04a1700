//! GhostLink's versioned event contracts.
//!
//! Every event travels in an [`Envelope`] (`id` UUIDv7, `type`, `version`, `occurred_at`,
//! `source`, `correlation_id`, `data`) as JSON; the `type` is also the RabbitMQ routing key.
//! The JSON Schemas in `proto/events/` are the contract other teams read; this crate is the
//! Rust side of it, and its tests validate every type against its schema file so the two cannot
//! drift. A new version of an event is a new type here and a new schema file, never an edit.
//!
//! Fields with a closed set of values are the domain's enums (`ghostlink_domain::named`): they
//! are written as the same lower-case names the schemas list, and a name outside the set makes
//! the event undecodable, as the schema refuses it.

use chrono::{DateTime, Utc};
use ghostlink_domain::probe::{ClientKey, FindingKind, ProbeAction};
use ghostlink_domain::quarantine::QuarantineActor;
use ghostlink_domain::risk::Level;
use ghostlink_domain::{CheckOutcome, ClickOutcome, LinkStatus};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

/// The common envelope of every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    pub source: String,
    #[serde(default)]
    pub correlation_id: Option<String>,
    pub data: T,
}

/// An event payload: knows its type name and version.
pub trait EventData: Serialize + DeserializeOwned {
    const TYPE: &'static str;
    const VERSION: u32;
}

impl<T: EventData> Envelope<T> {
    /// Wraps `data` in a fresh envelope (new UUIDv7 id).
    pub fn new(source: &str, correlation_id: Option<String>, occurred_at: DateTime<Utc>, data: T) -> Self {
        Self::with_id(Uuid::now_v7(), source, correlation_id, occurred_at, data)
    }

    /// Wraps `data` with a given id (an id decided before publishing, e.g. a click's).
    pub fn with_id(
        id: Uuid,
        source: &str,
        correlation_id: Option<String>,
        occurred_at: DateTime<Utc>,
        data: T,
    ) -> Self {
        Self {
            id,
            kind: T::TYPE.to_string(),
            version: T::VERSION,
            occurred_at,
            source: source.to_string(),
            correlation_id,
            data,
        }
    }

    /// The JSON bytes sent on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising these plain structs cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Why bytes could not be read as an event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a JSON event envelope: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown event type {kind} v{version}")]
    Unknown { kind: String, version: u32 },
}

/// `link.created` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkCreated {
    pub code: String,
    pub url: String,
    pub status: LinkStatus,
    #[serde(default)]
    pub owner_token_id: Option<i64>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub max_clicks: Option<i64>,
    pub created_at: DateTime<Utc>,
}
impl EventData for LinkCreated {
    const TYPE: &'static str = "link.created";
    const VERSION: u32 = 1;
}

/// `link.updated` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkUpdated {
    pub code: String,
    pub url: String,
    pub status: LinkStatus,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub max_clicks: Option<i64>,
    pub updated_at: DateTime<Utc>,
}
impl EventData for LinkUpdated {
    const TYPE: &'static str = "link.updated";
    const VERSION: u32 = 1;
}

/// `link.deleted` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkDeleted {
    pub code: String,
    pub deleted_at: DateTime<Utc>,
}
impl EventData for LinkDeleted {
    const TYPE: &'static str = "link.deleted";
    const VERSION: u32 = 1;
}

/// `click.recorded` v1: one request to the redirect, whatever it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickRecorded {
    pub code: String,
    /// Never [`ClickOutcome::Denied`]: a denied request records no click.
    pub outcome: ClickOutcome,
    pub method: String,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub referrer: Option<String>,
    pub client_hash: String,
    /// Classified as automated by the redirect (absent in older events: false).
    #[serde(default)]
    pub bot: bool,
    /// The hashed address alone (an IPv4 address or the IPv6 /64), so a client that rotates
    /// its user agent is still one client; absent in older events.
    #[serde(default)]
    pub address_hash: Option<String>,
    /// The index of the link's redirect rule that chose the destination, when one did (first
    /// match wins). Left out when absent, so a click without one is written as before; a reader
    /// older than this field refuses a click that has one (`deny_unknown_fields`): deploy the
    /// consumers first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<u32>,
    /// The client's country (ISO 3166-1 alpha-2) from the redirect's GeoIP database, when it
    /// has one and knows the address; left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The client's region (ISO 3166-2 subdivision, `FR-IDF`) from a City database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}
impl EventData for ClickRecorded {
    const TYPE: &'static str = "click.recorded";
    const VERSION: u32 = 1;
}

/// One rule's contribution to a risk score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskReason {
    pub rule: String,
    pub weight: u32,
    pub detail: String,
}

/// `risk.scored` v1: the risk scorer assessed a link's destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskScored {
    pub code: String,
    pub url: String,
    pub score: u32,
    pub level: Level,
    pub reasons: Vec<RiskReason>,
}
impl EventData for RiskScored {
    const TYPE: &'static str = "risk.scored";
    const VERSION: u32 = 1;
}

/// `link.quarantined` v1: a link stopped redirecting because its destination keeps failing
/// (the canary) or an admin said so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkQuarantined {
    pub code: String,
    pub url: String,
    /// `canary` or `admin`.
    pub by: QuarantineActor,
    pub consecutive_failures: u32,
    #[serde(default)]
    pub failing_since: Option<DateTime<Utc>>,
    /// The outcome of the check that decided it, when the canary.
    #[serde(default)]
    pub last_outcome: Option<CheckOutcome>,
}
impl EventData for LinkQuarantined {
    const TYPE: &'static str = "link.quarantined";
    const VERSION: u32 = 1;
}

/// `link.restored` v1: a quarantined link redirects again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRestored {
    pub code: String,
    pub url: String,
    /// `canary` or `admin`.
    pub by: QuarantineActor,
    pub consecutive_successes: u32,
}
impl EventData for LinkRestored {
    const TYPE: &'static str = "link.restored";
    const VERSION: u32 = 1;
}

/// `probe.detected` v1: ghost-probe flagged a client (or a link) in the click stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeDetected {
    /// `enumeration`, `dead_link_probing`, `zero_click` or `burst`.
    pub kind: FindingKind,
    /// The hashed client; absent for link-level findings (`zero_click`).
    #[serde(default)]
    pub client_hash: Option<String>,
    /// What `client_hash` hashes: `address_agent` (address and user agent) or `address` (the
    /// address alone, IPv6 by /64); absent for link-level findings and in older events.
    #[serde(default)]
    pub client_key: Option<ClientKey>,
    #[serde(default)]
    pub code: Option<String>,
    pub count: u64,
    pub window_secs: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// `observe` (recorded only) or `deny` (the client is refused until the entry expires).
    pub action: ProbeAction,
}
impl EventData for ProbeDetected {
    const TYPE: &'static str = "probe.detected";
    const VERSION: u32 = 1;
}

/// Any event this crate knows, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    LinkCreated(Envelope<LinkCreated>),
    LinkUpdated(Envelope<LinkUpdated>),
    LinkDeleted(Envelope<LinkDeleted>),
    ClickRecorded(Envelope<ClickRecorded>),
    RiskScored(Envelope<RiskScored>),
    LinkQuarantined(Envelope<LinkQuarantined>),
    LinkRestored(Envelope<LinkRestored>),
    ProbeDetected(Envelope<ProbeDetected>),
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
}

impl Event {
    /// Decodes bytes by their `type` and `version`.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let head: Head = serde_json::from_slice(bytes)?;
        Ok(match (head.kind.as_str(), head.version) {
            ("link.created", 1) => Event::LinkCreated(serde_json::from_slice(bytes)?),
            ("link.updated", 1) => Event::LinkUpdated(serde_json::from_slice(bytes)?),
            ("link.deleted", 1) => Event::LinkDeleted(serde_json::from_slice(bytes)?),
            ("click.recorded", 1) => Event::ClickRecorded(serde_json::from_slice(bytes)?),
            ("risk.scored", 1) => Event::RiskScored(serde_json::from_slice(bytes)?),
            ("link.quarantined", 1) => Event::LinkQuarantined(serde_json::from_slice(bytes)?),
            ("link.restored", 1) => Event::LinkRestored(serde_json::from_slice(bytes)?),
            ("probe.detected", 1) => Event::ProbeDetected(serde_json::from_slice(bytes)?),
            _ => return Err(DecodeError::Unknown { kind: head.kind, version: head.version }),
        })
    }

    /// Decodes a message of one or more events, one envelope per line (NDJSON); blank lines
    /// are skipped.
    pub fn decode_lines(bytes: &[u8]) -> Vec<Result<Self, DecodeError>> {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(Self::decode)
            .collect()
    }

    pub fn id(&self) -> Uuid {
        match self {
            Event::LinkCreated(e) => e.id,
            Event::LinkUpdated(e) => e.id,
            Event::LinkDeleted(e) => e.id,
            Event::ClickRecorded(e) => e.id,
            Event::RiskScored(e) => e.id,
            Event::LinkQuarantined(e) => e.id,
            Event::LinkRestored(e) => e.id,
            Event::ProbeDetected(e) => e.id,
        }
    }

    pub fn kind(&self) -> &str {
        match self {
            Event::LinkCreated(e) => &e.kind,
            Event::LinkUpdated(e) => &e.kind,
            Event::LinkDeleted(e) => &e.kind,
            Event::ClickRecorded(e) => &e.kind,
            Event::RiskScored(e) => &e.kind,
            Event::LinkQuarantined(e) => &e.kind,
            Event::LinkRestored(e) => &e.kind,
            Event::ProbeDetected(e) => &e.kind,
        }
    }
}

/// Every event type and version this crate knows, as `(type, version)`.
pub const KNOWN: &[(&str, u32)] = &[
    (LinkCreated::TYPE, LinkCreated::VERSION),
    (LinkUpdated::TYPE, LinkUpdated::VERSION),
    (LinkDeleted::TYPE, LinkDeleted::VERSION),
    (ClickRecorded::TYPE, ClickRecorded::VERSION),
    (RiskScored::TYPE, RiskScored::VERSION),
    (LinkQuarantined::TYPE, LinkQuarantined::VERSION),
    (LinkRestored::TYPE, LinkRestored::VERSION),
    (ProbeDetected::TYPE, ProbeDetected::VERSION),
];
