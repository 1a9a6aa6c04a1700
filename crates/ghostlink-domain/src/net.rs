//! Which network addresses GhostLink may connect to on a user's behalf (the canary's probes),
//! and reading IP literals the way resolvers and browsers do (`127.1`, `2130706433`,
//! `0x7f000001`, `0177.0.0.1`), so that no spelling of a private address slips through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is off limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    Unspecified,
    Loopback,
    Private,
    LinkLocal,
    SharedCgnat,
    Multicast,
    Reserved,
    Documentation,
    Benchmarking,
    UniqueLocal,
    Ipv4Mapped,
}

/// `Some(reason)` when connecting to `ip` could reach something internal.
pub fn forbidden(ip: IpAddr) -> Option<Forbidden> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<Forbidden> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => Forbidden::Unspecified,
        (127, _, _) => Forbidden::Loopback,
        (10, _, _) => Forbidden::Private,
        (172, 16..=31, _) => Forbidden::Private,
        (192, 168, _) => Forbidden::Private,
        (169, 254, _) => Forbidden::LinkLocal,
        (100, 64..=127, _) => Forbidden::SharedCgnat,
        (192, 0, 0) => Forbidden::Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Forbidden::Documentation,
        (198, 18..=19, _) => Forbidden::Benchmarking,
        (224..=239, _, _) => Forbidden::Multicast,
        (240..=255, _, _) => Forbidden::Reserved,
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<Forbidden> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        // ::ffff:a.b.c.d reaches a.b.c.d: refuse it outright rather than trust the v4 check.
        return Some(forbidden_v4(v4).unwrap_or(Forbidden::Ipv4Mapped));
    }
    let seg = ip.segments();
    Some(match seg {
        [0, 0, 0, 0, 0, 0, 0, 0] => Forbidden::Unspecified,
        [0, 0, 0, 0, 0, 0, 0, 1] => Forbidden::Loopback,
        // ::a.b.c.d (deprecated IPv4-compatible) and 64:ff9b::/96 (NAT64) embed an IPv4 address.
        [0, 0, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Forbidden::Ipv4Mapped,
        [s, ..] if s & 0xffc0 == 0xfe80 => Forbidden::LinkLocal,
        [s, ..] if s & 0xfe00 == 0xfc00 => Forbidden::UniqueLocal,
        [s, ..] if s & 0xff00 == 0xff00 => Forbidden::Multicast,
        [0x2001, 0x0db8, ..] => Forbidden::Documentation,
        [s, ..] if s & 0xffc0 == 0xfec0 => Forbidden::Reserved, // site-local, deprecated
        _ => return None,
    })
}

/// Parses a host as an IP literal the permissive way (inet_aton rules for IPv4: 1–4 parts,
/// each decimal, octal with a leading `0`, or hex with `0x`; the last part fills the remaining
/// bytes; and bracketed IPv6). `None` when the host is a name.
pub fn parse_ip_literal(host: &str) -> Option<IpAddr> {
    let h = host.trim_end_matches('.');
    if let Some(inner) = h.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(v6) = h.parse::<Ipv6Addr>() {
        return Some(IpAddr::V6(v6));
    }
    let parts: Vec<&str> = h.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let nums: Option<Vec<u64>> = parts.iter().map(|p| parse_part(p)).collect();
    let nums = nums?;
    let (last, init) = nums.split_last()?;
    if init.iter().any(|n| *n > 255) {
        return None;
    }
    let rest_bytes = 4 - init.len() as u32;
    if *last >= 1u64 << (8 * rest_bytes) {
        return None;
    }
    let mut v: u64 = 0;
    for (i, n) in init.iter().enumerate() {
        v |= n << (8 * (3 - i as u32));
    }
    v |= last;
    Some(IpAddr::V4(Ipv4Addr::from(v as u32)))
}

fn parse_part(p: &str) -> Option<u64> {
    if p.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(x) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        (x, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    if digits.is_empty() {
        return if radix == 16 { Some(0) } else { None };
    }
    if digits.len() > 12 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// An address block, `10.0.0.0/8` or `::1/128` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = a.trim().parse().map_err(|_| format!("'{s}' is not an address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}': prefix length must be 0..={max}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

/// Which otherwise forbidden addresses an operator lets the canary reach: none (the default),
/// all (`true`, for a lab), or listed blocks (`127.0.0.1/32,10.1.0.0/16`). Tests run their
/// destination servers on loopback through this, never by weakening [`forbidden`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PrivateTargets {
    #[default]
    Deny,
    AllowAll,
    Allow(Vec<Cidr>),
}

impl PrivateTargets {
    /// `Err(reason)` when `ip` may not be connected to under this policy.
    pub fn check(&self, ip: IpAddr) -> Result<(), Forbidden> {
        let Some(reason) = forbidden(ip) else { return Ok(()) };
        match self {
            PrivateTargets::AllowAll => Ok(()),
            PrivateTargets::Allow(blocks) if blocks.iter().any(|b| b.contains(ip)) => Ok(()),
            _ => Err(reason),
        }
    }

    pub fn is_deny(&self) -> bool {
        *self == PrivateTargets::Deny
    }
}

impl std::str::FromStr for PrivateTargets {
    type Err = String;
    /// `false`/empty, `true`, or a comma-separated list of addresses and CIDR blocks.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "false" | "0" | "no" => Ok(PrivateTargets::Deny),
            "true" | "1" | "yes" => Ok(PrivateTargets::AllowAll),
            list => list.split(',').map(str::parse).collect::<Result<_, _>>().map(PrivateTargets::Allow),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_an_internal_address_is_caught() {
        for host in [
            "127.0.0.1",
            "127.1",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "0x7f.1",
            "127.0.0.1.",
            "10.0.0.5",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0",
            "224.0.0.1",
            "255.255.255.255",
            "[::1]",
            "::1",
            "[::]",
            "[fe80::1]",
            "[fc00::1]",
            "[fd12:3456::1]",
            "[::ffff:127.0.0.1]",
            "[::ffff:7f00:1]",
            "[::ffff:8.8.8.8]",
            "[64:ff9b::a00:1]",
            "[ff02::1]",
            "3232235777",
            "0xa9fea9fe",
        ] {
            let ip = parse_ip_literal(host).unwrap_or_else(|| panic!("{host} is an IP literal"));
            assert!(forbidden(ip).is_some(), "{host} ({ip}) must be forbidden");
        }
    }

    #[test]
    fn public_addresses_and_names() {
        for host in
            ["8.8.8.8", "1.1.1.1", "[2606:4700:4700::1111]", "93.184.216.34", "172.32.0.1", "100.128.0.1"]
        {
            let ip = parse_ip_literal(host).expect("literal");
            assert_eq!(forbidden(ip), None, "{host}");
        }
        for name in ["example.com", "localhost", "127.0.0.1.nip.io", "1.2.3.4.5", "08.1.1.1", "256.1.1.1", ""]
        {
            assert_eq!(parse_ip_literal(name), None, "{name} is not an IP literal");
        }
        assert_eq!(parse_ip_literal("1.2.3.4"), Some(IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4))));
        assert_eq!(parse_ip_literal("1.65535"), Some(IpAddr::V4(Ipv4Addr::new(1, 0, 255, 255))));
    }

    #[test]
    fn private_target_policy() {
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        let lo2: IpAddr = "127.0.0.2".parse().expect("ip");
        let meta: IpAddr = "169.254.169.254".parse().expect("ip");
        let public: IpAddr = "93.184.216.34".parse().expect("ip");
        let deny: PrivateTargets = "false".parse().expect("policy");
        assert_eq!(deny.check(lo), Err(Forbidden::Loopback));
        assert_eq!(deny.check(public), Ok(()));
        let all: PrivateTargets = "true".parse().expect("policy");
        assert_eq!(all.check(meta), Ok(()));
        let one: PrivateTargets = "127.0.0.1/32, 10.0.0.0/8".parse().expect("policy");
        assert_eq!(one.check(lo), Ok(()));
        assert_eq!(one.check(lo2), Err(Forbidden::Loopback));
        assert_eq!(one.check(meta), Err(Forbidden::LinkLocal));
        assert_eq!(one.check("10.9.8.7".parse().expect("ip")), Ok(()));
        let v6: PrivateTargets = "::1".parse().expect("policy");
        assert_eq!(v6.check("::1".parse().expect("ip")), Ok(()));
        assert_eq!(v6.check(lo), Err(Forbidden::Loopback));
        assert!("10.0.0.0/33".parse::<PrivateTargets>().is_err());
        assert!("nonsense".parse::<PrivateTargets>().is_err());
    }
}
