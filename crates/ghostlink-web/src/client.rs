//! The client's address as the public listener sees it, through the proxies we trust
//! (`ghostlink_domain::forwarded`): the redirect hashes it into click events and ghost-probe's
//! keys, the shortener limits failed sign-ins by it. One function, so both read
//! `X-Forwarded-For` the same way.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::http::header::HeaderName;
use actix_web::HttpRequest;
use ghostlink_domain::forwarded::TrustedProxies;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client's IP: the peer, or (when the peer is a trusted proxy) the right-most
/// `X-Forwarded-For` entry that is not one. Header values that are not text end the walk.
pub fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> IpAddr {
    let peer = req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if trusted.is_empty() {
        return peer;
    }
    let headers = req.headers().get_all(&X_FORWARDED_FOR).map_while(|v| v.to_str().ok());
    trusted.client_ip(peer, headers)
}
