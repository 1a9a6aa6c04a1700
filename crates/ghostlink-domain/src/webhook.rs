//! Webhooks, the pure part: which events a subscription may ask for, a delivery's state, the
//! subscription URL rules, the Standard Webhooks secret and signature, and the retry schedule.
//!
//! Signatures follow the Standard Webhooks spec (<https://www.standardwebhooks.com/>): the
//! secret is `whsec_` + base64 of random bytes; a message is signed as
//! `v1,` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")).

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use url::Url;

use crate::url_rules::{normalize_url, UrlError};

crate::named::named_enum! {
    /// What a webhook delivers. Every type but `webhook.test` may be subscribed to.
    pub enum WebhookEventType: "webhook event type" {
        LinkCreated = "link.created",
        LinkUpdated = "link.updated",
        LinkDeleted = "link.deleted",
        LinkQuarantined = "link.quarantined",
        LinkRestored = "link.restored",
        /// The clicks on the workspace's links one consumer batch held, in one delivery.
        ClickBatch = "click.batch",
        /// A ghost-probe finding about one of the workspace's links (`probe.detected`).
        FindingOpened = "finding.opened",
        /// Sent by `POST /webhooks/{id}/test` only.
        Test = "webhook.test",
    }
}

impl WebhookEventType {
    /// Whether a subscription may list this type.
    pub fn subscribable(self) -> bool {
        self != WebhookEventType::Test
    }
}

crate::named::named_enum! {
    /// Where a delivery stands.
    pub enum DeliveryStatus: "delivery status" {
        /// Not delivered yet: due at its next attempt.
        Pending = "pending",
        /// The receiver answered 2xx.
        Delivered = "delivered",
        /// Given up: the retry window passed, or the subscription was disabled or deleted.
        Failed = "failed",
    }
}

/// Why a subscription URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("url must not contain credentials")]
    Credentials,
}

impl WebhookUrlError {
    /// Stable machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookUrlError::Url(e) => e.code(),
            WebhookUrlError::Credentials => "url_credentials",
        }
    }
}

/// A subscription URL, normalised: a destination's rules (http or https, a host, at most 2048
/// bytes, no whitespace) and no user name or password. Whether its address may be connected to
/// is decided at delivery, by the dispatcher's resolver: a name can change what it resolves to.
pub fn validate_webhook_url(raw: &str) -> Result<String, WebhookUrlError> {
    let normalised = normalize_url(raw)?;
    let parsed = Url::parse(&normalised).map_err(|e| UrlError::Malformed(e.to_string()))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(WebhookUrlError::Credentials);
    }
    Ok(normalised)
}

/// The body of a delivery, as the Standard Webhooks spec suggests: the event's `type`, when it
/// happened (`timestamp`, RFC 3339) and its `data`.
pub fn payload(event_type: WebhookEventType, timestamp: DateTime<Utc>, data: serde_json::Value) -> String {
    serde_json::json!({
        "type": event_type.as_str(),
        "timestamp": timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
}

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a generated secret.
const SECRET_BYTES: usize = 32;

/// A new signing secret, `whsec_` + base64 of 32 random bytes.
pub fn generate_secret(rng: &mut impl RngCore) -> String {
    let mut key = [0u8; SECRET_BYTES];
    rng.fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", B64.encode(key))
}

/// A secret that is not `whsec_` + base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret is whsec_ followed by base64")]
pub struct SecretError;

/// The key bytes of a `whsec_` secret.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, SecretError> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).ok_or(SecretError)?;
    let key = B64.decode(b64).map_err(|_| SecretError)?;
    if key.is_empty() {
        return Err(SecretError);
    }
    Ok(key)
}

/// The `webhook-signature` header value of a message: `v1,` + base64 of
/// HMAC-SHA256(key, "{id}.{timestamp}.{body}").
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts every key length"),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// The wait before retry number `attempt` (1 after the first failure): exponential backoff with
/// full jitter, a uniform draw in `[0, min(max, base × 2^(attempt-1))]`; `unit` is the draw in
/// `[0, 1)`.
pub fn backoff(attempt: u32, base: Duration, max: Duration, unit: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let ceiling = base.saturating_mul(1u32 << exp).min(max);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_standard_webhooks_example() {
        // The example of the Standard Webhooks spec's reference implementations.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let s = generate_secret(&mut rand::thread_rng());
        assert!(s.starts_with("whsec_"));
        assert_eq!(secret_key(&s).expect("key").len(), 32);
        for bad in ["", "whsec_", "whsec_!!!", "sk_abc"] {
            assert_eq!(secret_key(bad), Err(SecretError), "{bad}");
        }
    }

    #[test]
    fn backoff_grows_to_its_cap_with_full_jitter() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff(1, base, max, 0.999_999), Duration::from_secs(1).mul_f64(0.999_999));
        assert_eq!(backoff(3, base, max, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(40, base, max, 0.5), Duration::from_secs(30));
        assert_eq!(backoff(5, base, max, 0.0), Duration::ZERO);
    }

    #[test]
    fn urls_with_credentials_or_other_schemes_are_refused() {
        assert_eq!(
            validate_webhook_url("https://Hooks.Example.com/in").as_deref(),
            Ok("https://hooks.example.com/in")
        );
        assert_eq!(validate_webhook_url("https://u:p@example.com/"), Err(WebhookUrlError::Credentials));
        assert_eq!(validate_webhook_url("https://u@example.com/"), Err(WebhookUrlError::Credentials));
        assert_eq!(validate_webhook_url("ftp://example.com/").map_err(|e| e.code()), Err("url_scheme"));
        assert!(validate_webhook_url("not a url").is_err());
    }

    #[test]
    fn the_test_type_cannot_be_subscribed_to() {
        let subscribable: Vec<_> = WebhookEventType::ALL.iter().filter(|t| t.subscribable()).collect();
        assert_eq!(subscribable.len(), WebhookEventType::ALL.len() - 1);
    }
}
