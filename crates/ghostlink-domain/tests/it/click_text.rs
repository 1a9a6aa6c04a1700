//! Whatever bytes a client sends in a click, `storable` returns text Postgres accepts (valid
//! UTF-8, no NUL), within its byte budget, and keeps text that was already storable.

use ghostlink_domain::click_text::{is_storable, storable, storable_str};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_become_storable_text(bytes in proptest::collection::vec(any::<u8>(), 0..600), max in 0usize..600) {
        let s = storable(&bytes, max);
        prop_assert!(s.len() <= max);
        prop_assert!(!s.contains('\0'));
        prop_assert!(!s.chars().any(|c| c.is_control() && c != '\t'));
        prop_assert!(is_storable(&s, max));
        // Idempotent: sanitising twice changes nothing.
        prop_assert_eq!(storable_str(&s, max), s.clone());
    }

    #[test]
    fn storable_text_is_kept_whole(s in "[a-zA-Z0-9 ;/().éü日本語-]{0,100}") {
        prop_assert_eq!(storable(s.as_bytes(), 1024), s);
    }

    #[test]
    fn a_cut_keeps_a_prefix(s in "\\PC{0,80}", max in 0usize..200) {
        let out = storable_str(&s, max);
        prop_assert!(s.starts_with(&out) || out.contains(char::REPLACEMENT_CHARACTER));
    }
}
