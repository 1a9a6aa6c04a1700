//! Short codes (generated) and aliases (chosen by the user).

use rand::{CryptoRng, Rng, RngCore};

/// Characters of a generated code: base62.
pub const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of a generated code.
pub const CODE_LEN: usize = 7;
/// Shortest alias accepted.
pub const ALIAS_MIN: usize = 3;
/// Longest alias accepted; also the longest code the redirect will look up.
pub const ALIAS_MAX: usize = 64;

/// Words that may never be an alias because they name, or may one day name, a route.
pub const RESERVED: &[&str] = &[
    "api",
    "admin",
    "healthz",
    "readyz",
    "livez",
    "metrics",
    "static",
    "assets",
    "favicon.ico",
    "robots.txt",
    "login",
    "logout",
    "openapi",
    "docs",
    "swagger",
    "well-known",
    "ghostlink",
];

/// A fresh code: [`CODE_LEN`] base62 characters drawn from a cryptographic RNG.
/// Rejection sampling keeps every character equally likely.
pub fn generate_code<R: RngCore + CryptoRng>(rng: &mut R) -> String {
    (0..CODE_LEN).map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char).collect()
}

/// Why an alias was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("alias must be {ALIAS_MIN} to {ALIAS_MAX} characters long")]
    Length,
    #[error("alias may only contain letters, digits, '-' and '_'")]
    Charset,
    #[error("alias '{0}' is a reserved word")]
    Reserved(String),
}

impl AliasError {
    /// Stable machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            AliasError::Length => "alias_length",
            AliasError::Charset => "alias_charset",
            AliasError::Reserved(_) => "alias_reserved",
        }
    }
}

/// Checks a user-chosen alias: 3–64 of `[A-Za-z0-9_-]`, not a reserved word (any case).
pub fn validate_alias(alias: &str) -> Result<(), AliasError> {
    if !alias.bytes().all(is_code_byte) {
        return Err(AliasError::Charset);
    }
    if !(ALIAS_MIN..=ALIAS_MAX).contains(&alias.len()) {
        return Err(AliasError::Length);
    }
    let lower = alias.to_ascii_lowercase();
    if RESERVED.iter().any(|r| *r == lower) {
        return Err(AliasError::Reserved(alias.to_string()));
    }
    Ok(())
}

/// Whether a path segment could be a code at all (cheap pre-check before any lookup).
pub fn is_plausible_code(s: &str) -> bool {
    !s.is_empty() && s.len() <= ALIAS_MAX && s.bytes().all(is_code_byte)
}

fn is_code_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn generated_codes_are_base62_of_fixed_length() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let c = generate_code(&mut OsRng);
            assert_eq!(c.len(), CODE_LEN);
            assert!(c.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert!(validate_alias(&c).is_ok() || RESERVED.contains(&c.to_lowercase().as_str()));
            seen.insert(c);
        }
        assert!(seen.len() > 1990, "codes should practically never repeat");
    }

    #[test]
    fn alias_rules() {
        assert_eq!(validate_alias("ok-alias_1"), Ok(()));
        assert_eq!(validate_alias("ab"), Err(AliasError::Length));
        assert_eq!(validate_alias(&"a".repeat(65)), Err(AliasError::Length));
        assert!(validate_alias(&"a".repeat(64)).is_ok());
        assert_eq!(validate_alias("a b c"), Err(AliasError::Charset));
        assert_eq!(validate_alias("ab\r\nc"), Err(AliasError::Charset));
        assert_eq!(validate_alias("../etc"), Err(AliasError::Charset));
        assert_eq!(validate_alias("héllo"), Err(AliasError::Charset));
        assert!(matches!(validate_alias("API"), Err(AliasError::Reserved(_))));
        assert!(matches!(validate_alias("healthz"), Err(AliasError::Reserved(_))));
        assert!(matches!(validate_alias("Metrics"), Err(AliasError::Reserved(_))));
    }

    #[test]
    fn plausible_codes() {
        assert!(is_plausible_code("abc123"));
        assert!(!is_plausible_code(""));
        assert!(!is_plausible_code("a/b"));
        assert!(!is_plausible_code(&"x".repeat(65)));
    }
}
