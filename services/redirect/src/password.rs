//! Password-protected links: the gate in front of their destination.
//!
//! A link with a `password_hash` (argon2id, PHC string) answers `GET` with a small form that
//! names no destination; the form `POST`s the password (`application/x-www-form-urlencoded`,
//! at most [`MAX_FORM_BYTES`], read within [`FORM_DEADLINE`]) to the same URL. The right one is
//! answered with the link's answer (a 303 to the destination) and a cookie for that link alone
//! ([`COOKIE_NAME`], `Path=/{code}`, [`COOKIE_SECS`]) with which later `GET`s go straight
//! through: its value is an expiry and an HMAC-SHA256 over the code, the expiry and the stored
//! hash, keyed by a key derived from the click salt (the same on every replica), so a new
//! password ends every cookie of the old one. It is `HttpOnly` and `SameSite=Lax`, and `Secure`
//! when the request came over HTTPS (`X-Forwarded-Proto: https` from a trusted proxy).
//!
//! The hash is verified on the blocking pool, never on an async worker, and at most
//! [`Gate::new`]'s `parallel` verifications run at once (argon2id takes ~19 MiB and tens of ms
//! each; one waiting longer than [`VERIFY_WAIT`] for its turn is answered 503). Attempts are
//! limited per client address and link across replicas in Redis (`ghostlink_cache::limit`):
//! each is counted before it is verified, so concurrent guesses cannot overshoot, and the count
//! of a right one is taken back, so the limit is on wrong passwords. Past it: 429 with
//! `Retry-After`, without verifying. When Redis cannot count, attempts fail closed: 503, the
//! password not verified. Nothing here logs, and the password is never stored, sent or counted
//! anywhere but in the verification.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use ghostlink_cache::RedisCache;
use ghostlink_domain::forwarded::TrustedProxies;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The unlock cookie's name; its `Path` makes it one per link.
pub const COOKIE_NAME: &str = "gl_unlock";
/// How long an unlock cookie lasts.
pub const COOKIE_SECS: i64 = 3600;
/// Largest form body accepted.
pub const MAX_FORM_BYTES: usize = 1024;
/// How long reading the form body may take.
pub const FORM_DEADLINE: Duration = Duration::from_secs(5);
/// Wrong passwords one client address may send one link per [`LIMIT_WINDOW`].
pub const WRONG_LIMIT: u64 = 5;
/// The wrong-password limit's window, from the first counted attempt.
pub const LIMIT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Longest wait for a verification slot.
pub const VERIFY_WAIT: Duration = Duration::from_secs(5);

/// Why a form was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormError {
    /// Not `application/x-www-form-urlencoded` (415).
    MediaType,
    /// Over [`MAX_FORM_BYTES`] (413).
    TooLarge,
    /// Not read within [`FORM_DEADLINE`], or the connection failed (408).
    Slow,
    /// No `password` field, or an empty one (400).
    NoPassword,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Right,
    Wrong,
    /// Over the limit: not verified; the window ends in this many seconds.
    Limited {
        retry_after_secs: u64,
    },
    /// Redis could not count it, or no verification slot came free: not verified.
    Unavailable,
}

impl Attempt {
    fn as_str(self) -> &'static str {
        match self {
            Attempt::Right => "right",
            Attempt::Wrong => "wrong",
            Attempt::Limited { .. } => "limited",
            Attempt::Unavailable => "unavailable",
        }
    }
}

/// The password gate's state, shared by the request path.
pub struct Gate {
    cookie_key: [u8; 32],
    redis: RedisCache,
    verifying: Arc<tokio::sync::Semaphore>,
}

impl Gate {
    /// `salt` is the click salt; `parallel` bounds concurrent verifications.
    pub fn new(salt: &str, redis: RedisCache, parallel: usize) -> Self {
        let mut mac = HmacSha256::new_from_slice(salt.as_bytes()).expect("HMAC takes a key of any length");
        mac.update(b"link-cookie");
        let cookie_key = mac.finalize().into_bytes().into();
        Self { cookie_key, redis, verifying: Arc::new(tokio::sync::Semaphore::new(parallel.max(1))) }
    }

    fn mac(&self, code: &str, expiry: i64, password_hash: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.cookie_key).expect("HMAC takes a key of any length");
        mac.update(code.as_bytes());
        mac.update(b"\0");
        mac.update(expiry.to_string().as_bytes());
        mac.update(b"\0");
        mac.update(password_hash.as_bytes());
        mac
    }

    /// The `Set-Cookie` value unlocking the link keyed `code` until `now + COOKIE_SECS`.
    pub fn cookie(&self, code: &str, password_hash: &str, now: i64, secure: bool) -> String {
        let expiry = now + COOKIE_SECS;
        let tag = hex::encode(self.mac(code, expiry, password_hash).finalize().into_bytes());
        let secure = if secure { "; Secure" } else { "" };
        // The MAC covers the link's key (its domain too); the path is the code's on that host.
        let path = ghostlink_domain::domains::split_key(code).1;
        format!("{COOKIE_NAME}={expiry}.{tag}; Max-Age={COOKIE_SECS}; Path=/{path}; HttpOnly; SameSite=Lax{secure}")
    }

    /// Whether the request carries a valid, unexpired unlock cookie for `code` (at `now`, unix
    /// seconds).
    pub fn unlocked(&self, req: &HttpRequest, code: &str, password_hash: &str, now: i64) -> bool {
        cookie_values(req).any(|v| self.valid(v, code, password_hash, now))
    }

    fn valid(&self, value: &str, code: &str, password_hash: &str, now: i64) -> bool {
        let Some((expiry, tag)) = value.split_once('.') else { return false };
        let Ok(expiry) = expiry.parse::<i64>() else { return false };
        if expiry <= now || expiry > now + COOKIE_SECS + 60 {
            return false;
        }
        let Ok(tag) = hex::decode(tag) else { return false };
        self.mac(code, expiry, password_hash).verify_slice(&tag).is_ok()
    }

    /// One attempt of the client at `address` (its hashed address key) on `code`: counted,
    /// refused past the limit, verified on the blocking pool.
    pub async fn attempt(&self, address: &str, code: &str, password_hash: &str, password: String) -> Attempt {
        let outcome = self.try_attempt(address, code, password_hash, password).await;
        metrics::counter!("redirect_password_attempts_total", "result" => outcome.as_str()).increment(1);
        outcome
    }

    async fn try_attempt(&self, address: &str, code: &str, password_hash: &str, password: String) -> Attempt {
        let key = format!("pwfail:{address}:{code}");
        let counted = match self.redis.window_hit(&key, LIMIT_WINDOW).await {
            Ok(state) => state,
            Err(_) => return Attempt::Unavailable,
        };
        if counted.count > WRONG_LIMIT {
            return Attempt::Limited { retry_after_secs: counted.resets_in.as_secs().max(1) };
        }
        let right = match verify(self.verifying.clone(), password_hash.to_owned(), password).await {
            Some(right) => right,
            None => {
                // Not verified: the attempt does not count against the client.
                let _ = self.redis.window_undo(&key).await;
                return Attempt::Unavailable;
            }
        };
        if !right {
            return Attempt::Wrong;
        }
        // A right password is no wrong one: take its count back (at worst it stays counted).
        let _ = self.redis.window_undo(&key).await;
        Attempt::Right
    }
}

/// Verifies `password` against the PHC string `hash` on the blocking pool, once a slot is free.
/// `None`: no slot within [`VERIFY_WAIT`], or the task failed. A hash that cannot be read
/// verifies nothing (counted: `redirect_password_hashes_unreadable_total`).
async fn verify(slots: Arc<tokio::sync::Semaphore>, hash: String, password: String) -> Option<bool> {
    let permit = tokio::time::timeout(VERIFY_WAIT, slots.acquire_owned()).await.ok()?.ok()?;
    let checked = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        match PasswordHash::new(&hash) {
            Ok(parsed) => argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => {
                metrics::counter!("redirect_password_hashes_unreadable_total").increment(1);
                false
            }
        }
    })
    .await;
    checked.ok()
}

/// Every value of a cookie named [`COOKIE_NAME`] the request carries.
fn cookie_values(req: &HttpRequest) -> impl Iterator<Item = &str> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

/// Whether the request came over HTTPS, as a trusted proxy says (`X-Forwarded-Proto`, its last
/// value); a request from anyone else is judged by its own connection (plain HTTP here).
pub fn over_https(req: &HttpRequest, trusted: &TrustedProxies) -> bool {
    let Some(peer) = req.peer_addr() else { return false };
    if !trusted.contains(peer.ip()) {
        return false;
    }
    req.headers()
        .get_all("x-forwarded-proto")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .last()
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// Reads the form's `password`: checks the media type, then reads at most [`MAX_FORM_BYTES`]
/// within [`FORM_DEADLINE`].
pub async fn read_password(req: &HttpRequest, mut payload: web::Payload) -> Result<String, FormError> {
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(FormError::MediaType);
    }
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BYTES as u64) {
        return Err(FormError::TooLarge);
    }
    let body = tokio::time::timeout(FORM_DEADLINE, async {
        let mut body = Vec::with_capacity(declared.map_or(256, |n| n as usize));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| FormError::Slow)?;
            if body.len() + chunk.len() > MAX_FORM_BYTES {
                return Err(FormError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    })
    .await
    .map_err(|_| FormError::Slow)??;
    url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.into_owned())
        .filter(|p| !p.is_empty())
        .ok_or(FormError::NoPassword)
}

/// The `Set-Cookie` header value, for the response builder.
pub fn set_cookie(value: String) -> Option<(header::HeaderName, HeaderValue)> {
    HeaderValue::try_from(value).ok().map(|v| (header::SET_COOKIE, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        let redis = RedisCache::new(ghostlink_cache::CacheSettings {
            url: "redis://127.0.0.1:1".into(),
            timeout: Duration::from_millis(10),
            key_prefix: "unit:".into(),
            pool_size: 1,
            ttl: Duration::from_secs(1),
            negative_ttl: Duration::from_secs(1),
            breaker_open: Duration::from_secs(1),
        })
        .expect("a pool, not a connection");
        Gate::new("unit-test-salt", redis, 1)
    }

    fn value(set_cookie: &str) -> &str {
        let pair = set_cookie.split(';').next().unwrap_or_default();
        pair.strip_prefix("gl_unlock=").unwrap_or_default()
    }

    #[test]
    fn a_cookie_opens_its_link_under_its_password_until_it_expires() {
        let g = gate();
        let now = 1_900_000_000;
        let set = g.cookie("abc", "$argon2id$one", now, false);
        assert!(set.ends_with("; Max-Age=3600; Path=/abc; HttpOnly; SameSite=Lax"), "{set}");
        assert!(g.cookie("abc", "$argon2id$one", now, true).ends_with("; SameSite=Lax; Secure"));
        let v = value(&set);
        assert!(g.valid(v, "abc", "$argon2id$one", now));
        assert!(g.valid(v, "abc", "$argon2id$one", now + COOKIE_SECS - 1));
        assert!(!g.valid(v, "abc", "$argon2id$one", now + COOKIE_SECS), "expired");
        assert!(!g.valid(v, "abd", "$argon2id$one", now), "another link");
        assert!(!g.valid(v, "abc", "$argon2id$two", now), "a new password ends the old cookies");
        let other_salt = Gate::new("another-salt", g.redis.clone(), 1);
        assert!(!other_salt.valid(v, "abc", "$argon2id$one", now), "another deployment's key");
        for junk in ["", ".", "x.y", "1.zz", &format!("{}.{}", now + 10 * COOKIE_SECS, "00")] {
            assert!(!g.valid(junk, "abc", "$argon2id$one", now), "{junk}");
        }
    }
}
