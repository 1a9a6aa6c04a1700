//! Property tests of the domain rules: whatever a client sends, the rules never panic, and what
//! they accept keeps the promises the rest of the system relies on (a normalised URL is a safe
//! `Location`, an alias is a plausible code, every spelling of an internal address is caught).
//!
//! Case counts are bounded so the whole crate's tests stay within a few seconds.

mod click_text;
mod named;
mod net;
mod urls;

mod codes {
    use ghostlink_domain::code::{is_plausible_code, ALIAS_MAX, ALIAS_MIN, RESERVED};
    use ghostlink_domain::{generate_code, validate_alias, AliasError, CODE_ALPHABET, CODE_LEN};
    use proptest::prelude::*;
    use rand::SeedableRng;

    /// The documented alias alphabet, `[A-Za-z0-9_-]`, written out independently of the code.
    const ALIAS_ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

    /// The rule as `validate_alias`'s doc states it: "3–64 of `[A-Za-z0-9_-]`, not a reserved
    /// word (any case)".
    fn documented(alias: &str) -> bool {
        let n = alias.chars().count();
        (3..=64).contains(&n)
            && alias.chars().all(|c| ALIAS_ALPHABET.contains(c))
            && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(alias))
    }

    /// Mostly the alias alphabet, with some characters that must be refused mixed in.
    fn alias_like() -> impl Strategy<Value = String> {
        let ch = prop_oneof![
            8 => proptest::sample::select(ALIAS_ALPHABET.chars().collect::<Vec<_>>()),
            1 => proptest::sample::select(vec![
                '.', '/', '\\', '%', ' ', '\r', '\n', '\0', '\t', 'é', 'ß', '\u{202e}', '\u{ff21}', '~', '+',
                ':', '?', '#', '@', '\u{7f}',
            ]),
            1 => any::<char>(),
        ];
        proptest::collection::vec(ch, 0..80).prop_map(|v| v.into_iter().collect())
    }

    /// A reserved word in random letter case.
    fn reserved_any_case() -> impl Strategy<Value = String> {
        (proptest::sample::select(RESERVED.to_vec()), any::<u64>()).prop_map(|(w, bits)| {
            w.chars()
                .enumerate()
                .map(|(i, c)| if bits >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect()
        })
    }

    #[test]
    fn documented_constants() {
        assert_eq!((ALIAS_MIN, ALIAS_MAX), (3, 64));
        assert_eq!(CODE_LEN, 7);
        let mut alphabet = CODE_ALPHABET.to_vec();
        alphabet.sort_unstable();
        alphabet.dedup();
        assert_eq!(alphabet.len(), 62, "base62 without repeats");
        assert!(alphabet.iter().all(u8::is_ascii_alphanumeric));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn alias_accepted_exactly_as_documented(alias in prop_oneof![alias_like(), any::<String>(), reserved_any_case()]) {
            let got = validate_alias(&alias);
            prop_assert_eq!(got.is_ok(), documented(&alias), "{:?} -> {:?}", alias, got);
            match got {
                Ok(()) => prop_assert!(is_plausible_code(&alias), "an accepted alias must be followable"),
                Err(AliasError::Reserved(w)) => prop_assert_eq!(w, alias),
                Err(AliasError::Charset) => {
                    prop_assert!(!alias.chars().all(|c| ALIAS_ALPHABET.contains(c)))
                }
                Err(AliasError::Length) => prop_assert!(!(3..=64).contains(&alias.len())),
            }
        }

        #[test]
        fn reserved_words_are_refused_in_any_case(word in reserved_any_case()) {
            prop_assert!(validate_alias(&word).is_err());
        }

        #[test]
        fn plausible_code_is_the_alias_alphabet_up_to_the_max(s in alias_like()) {
            let want = !s.is_empty() && s.len() <= ALIAS_MAX && s.chars().all(|c| ALIAS_ALPHABET.contains(c));
            prop_assert_eq!(is_plausible_code(&s), want, "{:?}", s);
        }

        #[test]
        fn generated_codes_have_the_documented_shape(seed in any::<u64>()) {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            for _ in 0..8 {
                let code = generate_code(&mut rng);
                prop_assert_eq!(code.len(), CODE_LEN);
                prop_assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{}", code);
                prop_assert!(is_plausible_code(&code), "{}", code);
            }
        }
    }
}
