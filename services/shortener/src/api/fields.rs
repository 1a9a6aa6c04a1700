//! Reading a JSON body field by field, for precise 422s: absent, null and set are told apart,
//! and every rule names the field it refused.

use chrono::{DateTime, Utc};
use ghostlink_web::ApiError;
use serde_json::{Map, Value};

pub(crate) fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request("malformed_json", "request body must be a JSON object")),
    }
}

pub(crate) fn reject_unknown(m: &Map<String, Value>, known: &[&str]) -> Result<(), ApiError> {
    match m.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::unprocessable(
            "unknown_field",
            format!("unknown field '{k}'; expected one of: {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// A field that may be absent (`None`), null (`Some(None)`) or set.
pub(crate) fn field<T>(
    m: &Map<String, Value>,
    name: &str,
    parse: impl Fn(&Value) -> Result<T, String>,
) -> Result<Option<Option<T>>, ApiError> {
    match m.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => parse(v).map(|t| Some(Some(t))).map_err(|why| {
            ApiError::unprocessable(
                match name {
                    "expires_at" => "invalid_expires_at",
                    "max_clicks" => "invalid_max_clicks",
                    "status" => "invalid_status",
                    "alias" => "invalid_alias",
                    _ => "invalid_field",
                },
                format!("{name}: {why}"),
            )
        }),
    }
}

/// UTC years a date the API accepts may have: what RFC 3339 (four digits) can write. An offset
/// can carry a valid time past them (`9999-12-31T23:59:59-23:59` is in the year 10000 in UTC),
/// which was stored and echoed as `+10000-…`, not a `date-time`.
pub(crate) const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// The largest `max_clicks`: 2^53 - 1, the largest integer every JSON reader holds exactly
/// (I-JSON, RFC 7493); past it a client reading the link back may see another number.
pub const MAX_CLICKS: i64 = (1 << 53) - 1;

pub(crate) fn parse_time(v: &Value) -> Result<DateTime<Utc>, String> {
    let s = v.as_str().ok_or("must be an RFC 3339 time string")?;
    let t = DateTime::parse_from_rfc3339(s).map_err(|_| format!("'{s}' is not an RFC 3339 time"))?;
    let t = t.with_timezone(&Utc);
    if !YEARS.contains(&chrono::Datelike::year(&t)) {
        return Err(format!("'{s}' is outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z in UTC"));
    }
    Ok(t)
}

pub(crate) fn parse_future_time(v: &Value) -> Result<DateTime<Utc>, String> {
    let t = parse_time(v)?;
    if t <= Utc::now() {
        return Err("must be in the future".into());
    }
    Ok(t)
}

pub(crate) fn parse_max_clicks(v: &Value) -> Result<i64, String> {
    match v.as_i64() {
        Some(n) if (1..=MAX_CLICKS).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {MAX_CLICKS}")),
    }
}

pub(crate) fn parse_string(v: &Value) -> Result<String, String> {
    v.as_str().map(str::to_owned).ok_or_else(|| "must be a string".to_string())
}

/// The most tags a link may carry.
pub const MAX_TAGS: usize = 20;

/// Text a person typed: at most `max` bytes, no control characters (`newlines` allows line
/// breaks and tabs, for descriptions). Refused rather than cleaned, so what is stored is what
/// was sent.
fn parse_text(v: &Value, max: usize, newlines: bool) -> Result<String, String> {
    let s = v.as_str().ok_or("must be a string")?;
    if s.len() > max {
        return Err(format!("at most {max} bytes"));
    }
    if s.chars().any(|c| c.is_control() && !(newlines && matches!(c, '\n' | '\r' | '\t'))) {
        return Err("must not contain control characters".into());
    }
    Ok(s.to_string())
}

/// A list of tag names: each 1–64 bytes once trimmed, no control characters, at most
/// [`MAX_TAGS`], duplicates (case-insensitively) dropped, first spelling kept.
pub(crate) fn parse_tags(v: &Value) -> Result<Vec<String>, String> {
    let items = v.as_array().ok_or("must be an array of strings")?;
    if items.len() > MAX_TAGS {
        return Err(format!("at most {MAX_TAGS} tags"));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let name = parse_tag_name(item).map_err(|why| format!("[{i}]: {why}"))?;
        if !out.iter().any(|t| t.to_lowercase() == name.to_lowercase()) {
            out.push(name);
        }
    }
    Ok(out)
}

/// One tag name (see [`parse_tags`]).
pub(crate) fn parse_tag_name(v: &Value) -> Result<String, String> {
    let name = parse_text(v, 64, false)?.trim().to_string();
    if name.is_empty() {
        return Err("a tag name must not be empty".into());
    }
    Ok(name)
}

/// The fields a link's body may set, besides its destination and code; each absent (`None`),
/// null (`Some(None)`, clears it) or set.
#[derive(Debug, Default)]
pub(crate) struct LinkFields {
    pub title: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub tags: Option<Option<Vec<String>>>,
    pub rules: Option<Option<Vec<ghostlink_domain::rules::Rule>>>,
    pub forward_query: Option<Option<bool>>,
    pub utm: Option<Option<ghostlink_domain::utm::Utm>>,
    /// The password as sent (hashed by the caller, never stored or logged as is).
    pub password: Option<Option<String>>,
}

/// The names [`LinkFields::read`] reads.
pub(crate) const LINK_FIELDS: [&str; 7] =
    ["title", "description", "tags", "rules", "forward_query", "utm", "password"];

impl LinkFields {
    pub(crate) fn read(m: &Map<String, Value>) -> Result<Self, ApiError> {
        let bad = |code: &'static str, field: &str, why: String| {
            ApiError::unprocessable(code, format!("{field}: {why}"))
        };
        let take =
            |name: &'static str, code: &'static str, parse: &dyn Fn(&Value) -> Result<_, String>| match m
                .get(name)
            {
                None => Ok(None),
                Some(Value::Null) => Ok(Some(None)),
                Some(v) => parse(v).map(|t| Some(Some(t))).map_err(|why| bad(code, name, why)),
            };
        let title = take("title", "invalid_title", &|v| parse_text(v, 200, false))?;
        let description = take("description", "invalid_description", &|v| parse_text(v, 2000, true))?;
        let tags = match m.get("tags") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => Some(Some(parse_tags(v).map_err(|why| bad("invalid_tags", "tags", why))?)),
        };
        let rules = match m.get("rules") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => {
                let input: Vec<ghostlink_domain::rules::RuleInput> = serde_json::from_value(v.clone())
                    .map_err(|e| bad("invalid_rules", "rules", format!("not a list of rules: {e}")))?;
                let rules = ghostlink_domain::rules::validate_rules(&input)
                    .map_err(|e| ApiError::unprocessable(e.code(), e.to_string()))?;
                Some(Some(rules))
            }
        };
        let forward_query = match m.get("forward_query") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::Bool(b)) => Some(Some(*b)),
            Some(_) => {
                return Err(bad("invalid_forward_query", "forward_query", "must be true or false".into()))
            }
        };
        let utm = match m.get("utm") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => {
                let utm: ghostlink_domain::utm::Utm = serde_json::from_value(v.clone()).map_err(|e| {
                    bad(
                        "invalid_utm",
                        "utm",
                        format!("an object of source, medium, campaign, term, content: {e}"),
                    )
                })?;
                utm.validate().map_err(|e| ApiError::unprocessable(e.code(), format!("utm: {e}")))?;
                Some(Some(utm))
            }
        };
        let password = match m.get("password") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(p)) if (1..=128).contains(&p.chars().count()) => Some(Some(p.clone())),
            Some(_) => {
                return Err(bad(
                    "invalid_password",
                    "password",
                    "must be a string of 1 to 128 characters".into(),
                ))
            }
        };
        Ok(Self { title, description, tags, rules, forward_query, utm, password })
    }
}

/// Hashes a link's password with argon2id (a fresh salt) on the blocking pool: hashing is
/// meant to be slow and must not hold an async worker.
pub(crate) async fn hash_password(password: String) -> Result<String, ApiError> {
    let hashed = tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{rand_core::OsRng, SaltString};
        use argon2::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(|_| ApiError::internal())?;
    hashed.map_err(|_| ApiError::internal())
}
