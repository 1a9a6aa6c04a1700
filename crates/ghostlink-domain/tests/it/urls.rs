//! `normalize_url` and `safe_location` on hostile input.

use ghostlink_domain::{normalize_url, safe_location, UrlError, MAX_URL_BYTES};
use proptest::prelude::*;

/// Pieces URLs are made of, plus the characters attacks are made of.
fn url_like() -> impl Strategy<Value = String> {
    let scheme = proptest::sample::select(vec![
        "http",
        "https",
        "HTTP",
        "hTTpS",
        "javascript",
        "data",
        "file",
        "ftp",
        "ws",
        "",
        "http ",
        "h\ttp",
        "vbscript",
        "https+x",
        "1http",
    ]);
    let sep =
        proptest::sample::select(vec!["://", ":", ":/", ":///", "//", ":\\\\", "://\\", "://@", ":////"]);
    let host_char = prop_oneof![
        6 => proptest::sample::select("abcdefghijklmnopqrstuvwxyz0123456789-.".chars().collect::<Vec<_>>()),
        1 => proptest::sample::select(vec![
            'Ä', 'ß', 'ü', '\u{200b}', '\u{ff0e}', '\u{3002}', '[', ']', ':', '@', '%', '_', '\u{fffd}', 'İ',
        ]),
        1 => any::<char>(),
    ];
    let host = proptest::collection::vec(host_char, 0..30).prop_map(|v| v.into_iter().collect::<String>());
    let host = prop_oneof![
        4 => host,
        1 => proptest::sample::select(vec![
            "[::1]".to_string(), "127.0.0.1".into(), "0x7f.1".into(), "[::ffff:10.0.0.1]".into(),
            "user:pw@example.com".into(), "example.com:8080".into(), "example.com:0".into(),
            "example.com:99999".into(), "xn--bcher-kva.example".into(), "EXAMPLE.com.".into(),
        ]),
    ];
    let tail_char = prop_oneof![
        6 => proptest::sample::select(
            "abcXYZ019/?#&=%._~-+!$'()*,;:@[]".chars().collect::<Vec<_>>()
        ),
        1 => proptest::sample::select(vec![
            '\r', '\n', '\0', '\t', ' ', '\u{7f}', '\u{85}', '\u{a0}', '\u{2028}', '\u{202e}', 'é', '\\',
            '<', '>', '"', '`', '{', '}', '|', '^', '\u{1f600}',
        ]),
        1 => any::<char>(),
    ];
    let tail = proptest::collection::vec(tail_char, 0..60).prop_map(|v| v.into_iter().collect::<String>());
    (scheme, sep, host, tail).prop_map(|(s, sep, h, t)| format!("{s}{sep}{h}{t}"))
}

/// Arbitrary text, URL-shaped text, and very long input.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => url_like(),
        2 => any::<String>(),
        1 => (url_like(), 1500..3000usize, any::<char>()).prop_map(|(u, n, c)| {
            let mut s = u;
            s.extend(std::iter::repeat_n(c, n / c.len_utf8().max(1)));
            s
        }),
    ]
}

/// The invariants of anything `normalize_url` returns.
fn check_output(input: &str, out: &str) -> Result<(), TestCaseError> {
    prop_assert!(out.starts_with("http://") || out.starts_with("https://"), "{:?} -> {:?}", input, out);
    prop_assert!(out.len() <= MAX_URL_BYTES, "{:?} -> {} bytes", input, out.len());
    prop_assert!(
        !out.chars().any(|c| c.is_control() || c.is_whitespace()),
        "control or whitespace in {:?} (from {:?})",
        out,
        input
    );
    prop_assert!(out.is_ascii(), "{:?} -> {:?} is not ASCII", input, out);
    prop_assert_eq!(safe_location(out), Some(out), "{:?} -> {:?} is not a safe Location", input, out);
    let again = normalize_url(out);
    prop_assert_eq!(again.as_deref(), Ok(out), "normalize_url is not idempotent for {:?}", input);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn normalize_never_panics_and_its_output_is_safe(raw in hostile()) {
        if let Ok(out) = normalize_url(&raw) {
            check_output(&raw, &out)?;
        }
    }

    #[test]
    fn safe_location_never_lets_control_characters_through(raw in hostile()) {
        if let Some(loc) = safe_location(&raw) {
            prop_assert!(loc.bytes().all(|b| b > 0x20 && b != 0x7f), "{:?}", loc);
            let lower = loc.to_ascii_lowercase();
            prop_assert!(lower.starts_with("http://") || lower.starts_with("https://"), "{:?}", loc);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn valid_urls_are_accepted_and_normalised(
        scheme in proptest::sample::select(vec!["http", "https", "HTTP", "Https"]),
        labels in proptest::collection::vec(
            "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?".prop_filter("no punycode prefix", |l| !l.starts_with("xn--")),
            1..4,
        ),
        tld in "[a-z]{2,6}",
        port in proptest::option::of(1u16..),
        path in "(/[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,12}){0,4}",
        query in proptest::option::of("[A-Za-z0-9=&_.-]{0,20}"),
    ) {
        let host = format!("{}.{tld}", labels.join("."));
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        let raw = format!("{scheme}://{host}{port}{path}{query}");
        let out = normalize_url(&raw);
        // A stray '%' may make the path malformed only if it is not followed by two hex digits;
        // url keeps it verbatim, so every one of these must be accepted.
        let out = match out {
            Ok(o) => o,
            Err(e) => return Err(TestCaseError::fail(format!("{raw:?} refused: {e}"))),
        };
        check_output(&raw, &out)?;
        prop_assert!(out.starts_with(&format!("{}://{host}", scheme.to_ascii_lowercase())), "{:?} -> {:?}", raw, out);
    }

    #[test]
    fn only_http_and_https_are_accepted(
        scheme in "[A-Za-z][A-Za-z0-9+.-]{0,10}",
        rest in "//[a-z]{1,10}\\.example/[a-z]{0,10}",
    ) {
        let raw = format!("{scheme}:{rest}");
        let lower = scheme.to_ascii_lowercase();
        match normalize_url(&raw) {
            Ok(out) => {
                prop_assert!(lower == "http" || lower == "https", "{:?} accepted as {:?}", raw, out);
                check_output(&raw, &out)?;
            }
            Err(e) => {
                prop_assert!(lower != "http" && lower != "https", "{:?} refused: {}", raw, e);
                prop_assert_eq!(e, UrlError::Scheme(lower));
            }
        }
    }

    #[test]
    fn a_control_character_anywhere_is_refused(
        path in "[a-z/]{0,20}",
        at in any::<prop::sample::Index>(),
        bad in prop_oneof![
            proptest::sample::select(vec!['\r', '\n', '\0', '\t', '\u{b}', '\u{c}', '\u{7f}', '\u{85}', ' ', '\u{a0}', '\u{2028}', '\u{3000}']),
            (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap_or('\0')),
        ],
    ) {
        let mut raw: Vec<char> = format!("https://example.com/{path}").chars().collect();
        let i = at.index(raw.len() + 1);
        raw.insert(i, bad);
        let raw: String = raw.into_iter().collect();
        prop_assert_eq!(normalize_url(&raw), Err(UrlError::ControlOrWhitespace), "{:?}", raw);
        // And a stored value carrying one never becomes a Location.
        prop_assert!(bad as u32 > 0x7f || safe_location(&raw).is_none(), "{:?}", raw);
    }

    #[test]
    fn overlong_input_is_refused(extra in 0usize..4096, c in proptest::sample::select(vec!['a', '%', 'é', '/'])) {
        let base = "https://example.com/";
        let mut raw = String::from(base);
        while raw.len() <= MAX_URL_BYTES + extra {
            raw.push(c);
        }
        prop_assert_eq!(normalize_url(&raw), Err(UrlError::TooLong));
        prop_assert_eq!(safe_location(&raw), None);
    }
}

#[test]
fn output_growth_past_the_limit_is_refused() {
    // 'é' is two bytes in, six (%C3%A9) out: the limit applies to the normalised form too.
    let raw = format!("https://example.com/{}", "é".repeat(500));
    assert!(raw.len() <= MAX_URL_BYTES);
    assert_eq!(normalize_url(&raw), Err(UrlError::TooLong));
}
