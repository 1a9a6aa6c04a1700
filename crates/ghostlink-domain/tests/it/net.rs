//! `net::parse_ip_literal` and `net::forbidden`: every spelling of an address is the address, and
//! every internal address is forbidden, compared against the blocks written out here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ghostlink_domain::net::{forbidden, parse_ip_literal};
use proptest::prelude::*;

/// IPv4 blocks that must never be reached (RFC 6890 and friends), as (network, prefix).
const FORBIDDEN_V4: &[([u8; 4], u32)] = &[
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
];

fn in_block(v: u32, (net, prefix): ([u8; 4], u32)) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    v & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn expected_forbidden(v: u32) -> bool {
    FORBIDDEN_V4.iter().any(|b| in_block(v, *b))
}

/// One part of an inet_aton literal in a chosen radix (0 decimal, 1 hex, 2 HEX, 3 octal).
fn spell(n: u32, radix: u8) -> String {
    match radix % 4 {
        0 => n.to_string(),
        1 => format!("0x{n:x}"),
        2 => format!("0X{n:X}"),
        _ => format!("0{n:o}"),
    }
}

/// `v` written with 1–4 parts, each in its own radix, maybe with a trailing dot.
fn spellings(v: u32, radixes: [u8; 4], dot: bool) -> Vec<String> {
    let [a, b, c, d] = v.to_be_bytes().map(u32::from);
    let forms = vec![
        spell(v, radixes[0]),
        format!("{}.{}", spell(a, radixes[0]), spell(v & 0x00ff_ffff, radixes[1])),
        format!("{}.{}.{}", spell(a, radixes[0]), spell(b, radixes[1]), spell(v & 0xffff, radixes[2])),
        format!(
            "{}.{}.{}.{}",
            spell(a, radixes[0]),
            spell(b, radixes[1]),
            spell(c, radixes[2]),
            spell(d, radixes[3])
        ),
    ];
    if dot {
        forms.into_iter().map(|f| f + ".").collect()
    } else {
        forms
    }
}

/// Any address, weighted towards the forbidden blocks and their edges.
fn v4() -> impl Strategy<Value = u32> {
    prop_oneof![
        2 => any::<u32>(),
        3 => (proptest::sample::select(FORBIDDEN_V4.to_vec()), any::<u32>()).prop_map(|((net, prefix), r)| {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            (u32::from(Ipv4Addr::from(net)) & mask) | (r & !mask)
        }),
        1 => (proptest::sample::select(FORBIDDEN_V4.to_vec()), any::<bool>()).prop_map(|((net, prefix), after)| {
            // Just outside the block.
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            let start = u32::from(Ipv4Addr::from(net)) & mask;
            if after { (start | !mask).wrapping_add(1) } else { start.wrapping_sub(1) }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn every_spelling_parses_to_the_same_address(v in v4(), radixes in any::<[u8; 4]>(), dot in any::<bool>()) {
        let want = IpAddr::V4(Ipv4Addr::from(v));
        for s in spellings(v, radixes, dot) {
            prop_assert_eq!(parse_ip_literal(&s), Some(want), "{:?}", s);
        }
    }

    #[test]
    fn forbidden_is_exactly_the_internal_blocks_in_every_spelling(v in v4(), radixes in any::<[u8; 4]>()) {
        let ip = Ipv4Addr::from(v);
        let want = expected_forbidden(v);
        prop_assert_eq!(forbidden(IpAddr::V4(ip)).is_some(), want, "{}", ip);
        for s in spellings(v, radixes, false) {
            let parsed = parse_ip_literal(&s);
            prop_assert_eq!(parsed.and_then(forbidden).is_some(), want, "{:?} ({})", s, ip);
        }
        // An IPv4-mapped IPv6 address reaches the IPv4 one: refused whatever it is.
        let mapped = ip.to_ipv6_mapped();
        prop_assert!(forbidden(IpAddr::V6(mapped)).is_some(), "{}", mapped);
        prop_assert!(parse_ip_literal(&format!("[{mapped}]")).and_then(forbidden).is_some(), "[{}]", mapped);
        prop_assert!(parse_ip_literal(&format!("[::ffff:{ip}]")).and_then(forbidden).is_some(), "[::ffff:{}]", ip);
    }

    #[test]
    fn ipv6_literals_parse_bracketed_or_bare(bits in any::<u128>()) {
        let ip = Ipv6Addr::from(bits);
        prop_assert_eq!(parse_ip_literal(&format!("[{ip}]")), Some(IpAddr::V6(ip)));
        prop_assert_eq!(parse_ip_literal(&ip.to_string()), Some(IpAddr::V6(ip)));
        let _ = forbidden(IpAddr::V6(ip));
    }

    #[test]
    fn internal_ipv6_blocks_are_forbidden(
        low in any::<u128>(),
        block in proptest::sample::select(vec![(0xfe80u16, 10u32), (0xfc00, 7), (0xff00, 8), (0xfec0, 10)]),
    ) {
        let (net, prefix) = block;
        let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
        let ip = Ipv6Addr::from((u128::from(net) << 112) & mask | (low & !mask));
        prop_assert!(forbidden(IpAddr::V6(ip)).is_some(), "{}", ip);
    }

    #[test]
    fn parse_never_panics(host in prop_oneof![
        any::<String>(),
        "[0-9xXa-fA-F.\\[\\]:]{0,40}",
        "(0[xX]?[0-9a-fA-F]{0,14}\\.?){0,6}",
    ]) {
        if let Some(ip) = parse_ip_literal(&host) {
            let _ = forbidden(ip);
        }
    }

    #[test]
    fn too_many_parts_or_oversized_parts_are_names(v in any::<u32>(), extra in 256u64..1u64 << 40) {
        let [a, b, c, d] = v.to_be_bytes();
        prop_assert_eq!(parse_ip_literal(&format!("{a}.{b}.{c}.{d}.{a}")), None);
        // A leading part above 255, or a last part too big for the bytes left, is not an address.
        prop_assert_eq!(parse_ip_literal(&format!("{extra}.{b}.{c}.{d}")), None);
        prop_assert_eq!(parse_ip_literal(&format!("{a}.{}", u64::from(u32::MAX) + 1 + extra)), None);
        prop_assert_eq!(parse_ip_literal(&format!("{}", u64::from(u32::MAX) + 1 + extra)), None);
    }
}
