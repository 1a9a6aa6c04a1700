//! `normalize_url` and `safe_location` on arbitrary input. Asserts, for every input:
//! - neither panics;
//! - an accepted URL is http(s), ASCII, at most `MAX_URL_BYTES`, free of control characters
//!   and whitespace, passes `safe_location` unchanged, and normalises to itself again;
//! - whatever `safe_location` lets through has no byte <= 0x20 or 0x7f and an http(s) prefix.
#![no_main]

use ghostlink_domain::{normalize_url, safe_location, MAX_URL_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok(out) = normalize_url(&raw) {
        assert!(out.starts_with("http://") || out.starts_with("https://"), "{raw:?} -> {out:?}");
        assert!(out.len() <= MAX_URL_BYTES, "{raw:?} -> {} bytes", out.len());
        assert!(out.is_ascii(), "{raw:?} -> {out:?}");
        assert!(!out.chars().any(|c| c.is_control() || c.is_whitespace()), "{raw:?} -> {out:?}");
        assert_eq!(safe_location(&out), Some(out.as_str()), "{raw:?} -> {out:?}");
        assert_eq!(normalize_url(&out).as_deref(), Ok(out.as_str()), "not idempotent: {raw:?}");
    }
    if let Some(loc) = safe_location(&raw) {
        assert!(loc.bytes().all(|b| b > 0x20 && b != 0x7f), "{loc:?}");
        let lower = loc.to_ascii_lowercase();
        assert!(lower.starts_with("http://") || lower.starts_with("https://"), "{loc:?}");
    }
});
