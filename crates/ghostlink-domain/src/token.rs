//! API tokens and client pseudonyms.

use rand::{CryptoRng, Rng, RngCore};
use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked one is recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "glk_";

crate::named::named_enum! {
    /// What a token may do.
    pub enum Role: "role" {
        /// Sees and changes every link.
        Admin = "admin",
        /// Creates links and sees its own.
        User = "user",
    }
}

/// A new secret token: the prefix and 40 base62 characters (about 238 bits).
pub fn new_token<R: RngCore + CryptoRng>(rng: &mut R) -> String {
    new_secret(rng, TOKEN_PREFIX)
}

/// Every session token starts with this: `Authorization: Bearer` tells a session from a key by it.
pub const SESSION_PREFIX: &str = "gls_";

/// Every one-time token (an invitation, a password reset) starts with this.
pub const ONE_TIME_PREFIX: &str = "glo_";

/// `prefix` and 40 random characters of the code alphabet (about 238 bits).
pub fn new_secret<R: RngCore + CryptoRng>(rng: &mut R, prefix: &str) -> String {
    let body: String =
        (0..40).map(|_| crate::CODE_ALPHABET[rng.gen_range(0..crate::CODE_ALPHABET.len())] as char).collect();
    format!("{prefix}{body}")
}

/// The SHA-256 of a token, hex: the only form stored.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A stable pseudonym for a client address: salted SHA-256, truncated to 16 bytes of hex.
/// The salt is a secret shared by the replicas, so the same client hashes alike everywhere
/// and the raw address is never stored.
pub fn hash_client(salt: &str, addr: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0u8]);
    h.update(addr.as_bytes());
    hex::encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_hashes() {
        let t = new_token(&mut rand::rngs::OsRng);
        assert!(t.starts_with(TOKEN_PREFIX));
        assert_eq!(t.len(), TOKEN_PREFIX.len() + 40);
        assert_eq!(hash_token(&t).len(), 64);
        assert_ne!(hash_token(&t), hash_token("other"));
        assert_eq!(hash_client("s", "1.2.3.4"), hash_client("s", "1.2.3.4"));
        assert_ne!(hash_client("s", "1.2.3.4"), hash_client("t", "1.2.3.4"));
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
    }
}
