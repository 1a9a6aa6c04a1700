//! Pure domain rules of GhostLink: what a short code, an alias and a destination URL may be,
//! and what a link answers at a given moment.
//!
//! This crate does no I/O on purpose: it has no database, network or clock of its own (callers
//! pass `now` and an RNG), so every rule here is tested with plain unit tests and reused
//! unchanged by the shortener (at creation), the redirect (at follow time) and the CLI.

pub mod analytics;
pub mod bot;
pub mod click;
pub mod click_text;
pub mod code;
pub mod confusables;
pub mod domains;
pub mod forwarded;
pub mod health;
pub mod import;
pub mod link;
pub mod named;
pub mod net;
pub mod probe;
pub mod qr;
pub mod quarantine;
pub mod risk;
pub mod rules;
pub mod token;
pub mod url_rules;
pub mod utm;
pub mod webhook;
pub mod workspace;

pub use click::ClickOutcome;
pub use code::{generate_code, validate_alias, AliasError, CODE_ALPHABET, CODE_LEN};
pub use health::{CheckOutcome, HealthState};
pub use link::{Decision, GoneReason, LinkSnapshot, LinkStatus};
pub use named::{Named, UnknownName};
pub use token::{
    hash_client, hash_token, new_secret, new_token, Role, ONE_TIME_PREFIX, SESSION_PREFIX, TOKEN_PREFIX,
};
pub use url_rules::{normalize_url, safe_location, UrlError, MAX_URL_BYTES};
