//! Who the client is when proxies stand in front of us.
//!
//! `X-Forwarded-For` is a list every proxy on the way may append to, and a client may send it
//! already filled in with whatever it likes. Only the entries added by proxies we run are
//! evidence, so the client is the **right-most address that is not one of our proxies**,
//! walking from the connection's peer leftwards, and only while each hop is itself trusted:
//! a header arriving from a peer outside [`TrustedProxies`] is ignored entirely (that peer is
//! the client). Taking the left-most entry, as before, let any client choose its own address.
//!
//! [`address_key`] is the unit a scanner is counted by: the address itself for IPv4, the /64
//! for IPv6 (one host is routinely given a whole /64, so its addresses are free to rotate).

use std::net::IpAddr;
use std::str::FromStr;

/// The networks our own reverse proxies and load balancers connect from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    net: IpAddr,
    prefix: u8,
}

/// A `TRUSTED_PROXIES` entry that is not an address or CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an IP address or CIDR (like 10.0.0.0/8 or fd00::/8)")]
pub struct BadCidr(pub String);

impl FromStr for TrustedProxies {
    type Err = BadCidr;

    /// A comma-separated list of addresses and CIDRs; empty means "no proxy is trusted".
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(parse_cidr(part).ok_or_else(|| BadCidr(part.to_owned()))?);
        }
        Ok(Self(out))
    }
}

fn parse_cidr(s: &str) -> Option<Cidr> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let net: IpAddr = addr.parse().ok()?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => {
            p.parse().ok()?
        }
        Some(_) => return None,
    };
    (prefix <= max).then_some(Cidr { net, prefix })
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), self.prefix, 32) == masked(u32::from(a).into(), self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), self.prefix, 128) == masked(u128::from(a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(bits: u128, prefix: u8, width: u32) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let shift = width - u32::from(prefix);
    (bits >> shift) << shift
}

/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a dual-stack socket reports) is the
/// IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl TrustedProxies {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client's address: `peer` unless `peer` is a trusted proxy, in which case the
    /// right-most `X-Forwarded-For` entry (over every such header, in order) that is not a
    /// trusted proxy. An entry that is not an address stops the walk at the hop before it (that
    /// hop was the last one we can vouch for); so does a list made only of trusted proxies.
    pub fn client_ip<'a>(&self, peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let entries: Vec<&str> =
            forwarded_for.into_iter().flat_map(|h| h.split(',')).map(str::trim).collect();
        let mut client = peer;
        for entry in entries.iter().rev() {
            let Some(ip) = parse_entry(entry) else { break };
            client = canonical(ip);
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, optionally `[v6]`, `v4:port` or `[v6]:port`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse().ok();
    }
    let (host, port) = entry.rsplit_once(':')?;
    if port.bytes().all(|b| b.is_ascii_digit()) {
        return host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4);
    }
    None
}

/// The unit a client is counted by regardless of its User-Agent: the IPv4 address, or the /64
/// an IPv6 address belongs to, written as text (for hashing with [`crate::hash_client`]).
pub fn address_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("{s} is an address"))
    }

    fn proxies(s: &str) -> TrustedProxies {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_addresses_and_cidrs() {
        assert!(proxies("").is_empty());
        let p = proxies("10.0.0.0/8, 127.0.0.1,fd00::/8");
        assert!(p.contains(ip("10.1.2.3")));
        assert!(p.contains(ip("127.0.0.1")));
        assert!(!p.contains(ip("127.0.0.2")));
        assert!(p.contains(ip("fd12::1")));
        assert!(p.contains(ip("::ffff:10.9.9.9")));
        assert!(!p.contains(ip("11.0.0.1")));
        assert!(proxies("0.0.0.0/0").contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "10.0.0.0/", "nope", "::/129", "1.2.3.4/+8", "10.0.0.0/08x"] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let p = proxies("10.0.0.0/8");
        assert_eq!(p.client_ip(ip("203.0.113.9"), ["1.1.1.1"]), ip("203.0.113.9"));
        assert_eq!(TrustedProxies::default().client_ip(ip("127.0.0.1"), ["1.1.1.1"]), ip("127.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        let p = proxies("10.0.0.0/8");
        // nginx's $proxy_add_x_forwarded_for: the client's own (spoofed) value, then the address
        // nginx saw. The spoof is to the left and ignored.
        assert_eq!(p.client_ip(ip("10.0.0.2"), ["6.6.6.6, 198.51.100.7"]), ip("198.51.100.7"));
        // Two of our proxies in a row.
        assert_eq!(p.client_ip(ip("10.0.0.2"), ["6.6.6.6, 198.51.100.7, 10.0.0.1"]), ip("198.51.100.7"));
        // Several headers are one list.
        assert_eq!(p.client_ip(ip("10.0.0.2"), ["6.6.6.6", "198.51.100.7"]), ip("198.51.100.7"));
        // Ports and brackets.
        assert_eq!(p.client_ip(ip("10.0.0.2"), ["198.51.100.7:4711"]), ip("198.51.100.7"));
        assert_eq!(p.client_ip(ip("10.0.0.2"), ["[2001:db8::1]:443"]), ip("2001:db8::1"));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_hop() {
        let p = proxies("10.0.0.0/8");
        assert_eq!(p.client_ip(ip("10.0.0.2"), ["1.1.1.1, unknown"]), ip("10.0.0.2"));
        assert_eq!(p.client_ip(ip("10.0.0.2"), ["1.1.1.1, garbage, 10.0.0.1"]), ip("10.0.0.1"));
        assert_eq!(p.client_ip(ip("10.0.0.2"), std::iter::empty()), ip("10.0.0.2"));
        assert_eq!(p.client_ip(ip("10.0.0.2"), ["10.0.0.1"]), ip("10.0.0.1"));
    }

    #[test]
    fn address_keys_group_an_ipv6_slash_64() {
        assert_eq!(address_key(ip("192.0.2.1")), "192.0.2.1");
        assert_eq!(address_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(address_key(ip("2001:db8:1:2:aaaa::1")), address_key(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(address_key(ip("2001:db8:1:2::1")), address_key(ip("2001:db8:1:3::1")));
    }
}
