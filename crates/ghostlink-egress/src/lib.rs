//! Outbound HTTP to addresses someone else chose (a link's destination, a webhook's URL),
//! SSRF-safe. Shared by the canary and the webhook dispatcher, so both refuse exactly the same
//! targets.
//!
//! The guard sits where the connection is made, not where the URL is read: [`client_builder`]
//! gives reqwest a DNS resolver that hands out only addresses the [`PrivateTargets`] policy
//! allows (so a name that resolves to `169.254.169.254` is never connected to), turns redirects
//! off (a caller that follows them does so by hand, checking every hop with [`check_target`])
//! and proxies off (a proxy would connect for us). IP-literal hosts in any spelling are checked
//! by [`check_target`] before a request is built, as reqwest does not resolve them.
//!
//! A refusal or failure is classified by [`classify`] into a [`Failure`] and a detail. The
//! detail names which name resolved to which address: for logs and admins, not for whoever
//! chose the URL.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ghostlink_domain::net::parse_ip_literal;
pub use ghostlink_domain::net::{Forbidden, PrivateTargets};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

/// The resolver's refusal: every address of the name is off limits.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to addresses that may not be connected to ({reason:?} {addr})")]
pub struct BlockedAddress {
    pub host: String,
    pub addr: IpAddr,
    pub reason: Forbidden,
}

/// The name did not resolve (or to nothing).
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {host}: {detail}")]
pub struct DnsFailure {
    pub host: String,
    pub detail: String,
}

/// Resolves with the system resolver, then drops every address the policy refuses.
struct GuardedResolver {
    policy: Arc<PrivateTargets>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await.map_err(|e| {
                Box::new(DnsFailure { host: host.clone(), detail: e.to_string() })
                    as Box<dyn std::error::Error + Send + Sync>
            })?;
            let mut allowed: Vec<SocketAddr> = Vec::new();
            let mut refused = None;
            for a in found {
                match policy.check(a.ip()) {
                    Ok(()) => allowed.push(a),
                    Err(reason) => refused = Some((a.ip(), reason)),
                }
            }
            if allowed.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = match refused {
                    Some((addr, reason)) => Box::new(BlockedAddress { host, addr, reason }),
                    None => Box::new(DnsFailure { host, detail: "no addresses".into() }),
                };
                return Err(err);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// A client builder that connects only to addresses `policy` allows, follows no redirect and
/// uses no proxy. Callers add their timeouts, user agent and pool settings.
pub fn client_builder(policy: &PrivateTargets) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(GuardedResolver { policy: Arc::new(policy.clone()) }))
}

/// Why a URL is refused before any connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("scheme '{0}' is not allowed")]
    Scheme(String),
    #[error("no host")]
    NoHost,
    #[error("address {ip} is off limits ({reason:?})")]
    Private { ip: IpAddr, reason: Forbidden },
}

/// The scheme (`http`, `https`) and literal-address checks of one URL; names are checked by
/// the resolver of [`client_builder`] when connecting.
pub fn check_target(url: &Url, policy: &PrivateTargets) -> Result<(), TargetError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::Scheme(url.scheme().to_string()));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => parse_ip_literal(d),
        None => return Err(TargetError::NoHost),
    };
    match ip {
        Some(ip) => policy.check(ip).map_err(|reason| TargetError::Private { ip, reason }),
        None => Ok(()),
    }
}

/// `host:port` of a URL: the unit of per-destination limits.
pub fn host_key(url: &Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0))
}

/// What went wrong with a request, at the network level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// Every address of the name is one that may not be connected to.
    PrivateAddress,
    NameNotResolved,
    Timeout,
    Tls,
    Connect,
}

/// Classifies a reqwest error, with the chain of messages as the detail.
pub fn classify(e: &reqwest::Error) -> (Failure, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut text = Vec::new();
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<BlockedAddress>() {
            return (Failure::PrivateAddress, b.to_string());
        }
        if let Some(d) = s.downcast_ref::<DnsFailure>() {
            return (Failure::NameNotResolved, d.to_string());
        }
        text.push(s.to_string());
        source = s.source();
    }
    let detail = text.join(": ");
    let lower = detail.to_ascii_lowercase();
    let failure = if e.is_timeout() {
        Failure::Timeout
    } else if ["certificate", "tls", "handshake", "corrupt message", "peer is incompatible", "alert"]
        .iter()
        .any(|k| lower.contains(k))
    {
        Failure::Tls
    } else {
        Failure::Connect
    };
    (failure, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_private_hosts_are_refused_in_any_spelling() {
        let deny = PrivateTargets::default();
        for u in ["http://127.0.0.1/", "http://[::1]/", "http://169.254.169.254/latest", "http://0x7f000001/"]
        {
            let url = Url::parse(u).expect("url");
            assert!(matches!(check_target(&url, &deny), Err(TargetError::Private { .. })), "{u}");
        }
        let ok = Url::parse("https://example.com/").expect("url");
        assert_eq!(check_target(&ok, &deny), Ok(()));
        let ftp = Url::parse("ftp://example.com/").expect("url");
        assert_eq!(check_target(&ftp, &deny), Err(TargetError::Scheme("ftp".into())));
        let all: PrivateTargets = "true".parse().expect("policy");
        assert_eq!(check_target(&Url::parse("http://127.0.0.1:9/").expect("url"), &all), Ok(()));
    }
}
