//! The Standard Webhooks headers of one attempt: `webhook-id` (the event's id, the same on
//! every attempt, so a receiver drops duplicates), `webhook-timestamp` (unix seconds of this
//! attempt) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`).

use ghostlink_domain::webhook::{secret_key, sign, SecretError};
use uuid::Uuid;

/// The three headers, by name.
pub fn headers(
    secret: &str,
    event_id: Uuid,
    body: &[u8],
    timestamp: i64,
) -> Result<[(&'static str, String); 3], SecretError> {
    let key = secret_key(secret)?;
    let id = event_id.to_string();
    let signature = sign(&key, &id, timestamp, body);
    Ok([("webhook-id", id), ("webhook-timestamp", timestamp.to_string()), ("webhook-signature", signature)])
}
