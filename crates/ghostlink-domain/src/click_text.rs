//! Text that travels with a click (the requested code, User-Agent, Referer) made storable
//! where it enters.
//!
//! The HTTP layer accepts bytes that Postgres `text` refuses (NUL) and header values that are
//! not UTF-8 at all (obs-text, Latin-1 browsers). A click carrying either used to fail its
//! insert, poison the batch it travelled in and stop a replay. Every click field passes through
//! [`storable`] once, at the redirect and again in the recorder (events written before this rule
//! existed are still in the stream), so what is stored, replayed and displayed is the same
//! valid text: invalid UTF-8 becomes U+FFFD, NUL and other C0/C1 control characters (except tab)
//! become U+FFFD as well (so a log line, a CSV export or a terminal sees no raw control byte),
//! and the result is cut to a byte budget on a character boundary.

/// The most bytes kept of a requested link's key: a custom domain's host (at most 253), `/`
/// and a code (at most 64), with room to spare.
pub const MAX_CODE_BYTES: usize = 320;
/// The most bytes kept of a User-Agent header.
pub const MAX_USER_AGENT_BYTES: usize = 512;
/// The most bytes kept of a Referer header.
pub const MAX_REFERRER_BYTES: usize = 1024;

const REPLACEMENT: char = char::REPLACEMENT_CHARACTER;

/// Decodes `bytes` lossily, replaces control characters, and keeps at most `max_bytes` bytes
/// (never splitting a character). The output is always valid UTF-8 without NUL.
pub fn storable(bytes: &[u8], max_bytes: usize) -> String {
    let decoded = String::from_utf8_lossy(bytes);
    storable_str(&decoded, max_bytes)
}

/// [`storable`] for text that is already a `str` (an event decoded from JSON may still hold
/// NUL or control characters, which JSON allows).
pub fn storable_str(s: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_bytes));
    for ch in s.chars() {
        let ch = if is_unstorable(ch) { REPLACEMENT } else { ch };
        if out.len() + ch.len_utf8() > max_bytes {
            break;
        }
        out.push(ch);
    }
    out
}

/// Whether [`storable_str`] would change `s` (used to count sanitised rows).
pub fn is_storable(s: &str, max_bytes: usize) -> bool {
    s.len() <= max_bytes && !s.chars().any(is_unstorable)
}

fn is_unstorable(ch: char) -> bool {
    ch != '\t' && ch.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_invalid_bytes_are_replaced() {
        assert_eq!(storable(b"a\0b", 16), "a\u{FFFD}b");
        assert_eq!(storable(b"caf\xe9", 16), "caf\u{FFFD}");
        assert_eq!(storable_str("x\u{1b}[31m", 16), "x\u{FFFD}[31m");
        assert_eq!(storable_str("tab\tok", 16), "tab\tok");
    }

    #[test]
    fn non_ascii_text_is_kept() {
        assert_eq!(
            storable("Mozilla/5.0 (Ünïcode; 日本語)".as_bytes(), 512),
            "Mozilla/5.0 (Ünïcode; 日本語)"
        );
    }

    #[test]
    fn cut_on_a_character_boundary() {
        assert_eq!(storable("ééé".as_bytes(), 5), "éé");
        assert_eq!(storable(b"abcdef", 3), "abc");
        assert_eq!(storable(b"", 3), "");
    }

    #[test]
    fn storable_text_is_recognised() {
        assert!(is_storable("plain", 5));
        assert!(!is_storable("plain", 4));
        assert!(!is_storable("a\0", 5));
    }
}
