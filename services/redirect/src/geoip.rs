//! The client's country, for the `country` conditions of redirect rules: a MaxMind DB
//! (`GEOIP_DB`, GeoLite2/GeoIP2 Country or City, or any database whose records have
//! `country.iso_code`) read into memory once at start.
//!
//! A lookup is a walk of the in-memory search tree and the decoding of one short string: no
//! I/O, no allocation, no lock, so it runs on the request path, and only for a link that has a
//! country condition. An address the database does not know (or an IPv6 address in an
//! IPv4-only database) has no country, which matches no country condition.

use std::net::IpAddr;
use std::path::Path;

use ghostlink_domain::rules::CountryCode;

/// A loaded MaxMind DB.
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.reader.metadata();
        f.debug_struct("GeoIp")
            .field("database_type", &m.database_type)
            .field("ip_version", &m.ip_version)
            .field("node_count", &m.node_count)
            .finish()
    }
}

impl GeoIp {
    /// Reads and checks the database at `path`; the error says why it is not one.
    pub fn open(path: &Path) -> Result<Self, String> {
        let reader = maxminddb::Reader::open_readfile(path)
            .map_err(|e| format!("cannot open {} as a MaxMind DB: {e}", path.display()))?;
        Ok(Self { reader })
    }

    /// The country the database gives for `ip` (`country.iso_code`), if any.
    pub fn country(&self, ip: IpAddr) -> Option<CountryCode> {
        let found = self.reader.lookup(ip).ok()?;
        let code: Option<&str> = found.decode_path(&maxminddb::path!["country", "iso_code"]).ok()?;
        code?.parse().ok()
    }

    /// The country and region (`country.iso_code`; the first of `subdivisions`, as ISO 3166-2
    /// `FR-IDF`) for the click's breakdowns. Called by the click publisher, off the request path.
    pub fn locate(&self, ip: IpAddr) -> (Option<String>, Option<String>) {
        let Ok(found) = self.reader.lookup(ip) else { return (None, None) };
        let country: Option<CountryCode> = found
            .decode_path::<&str>(&maxminddb::path!["country", "iso_code"])
            .ok()
            .flatten()
            .and_then(|c| c.parse().ok());
        let Some(country) = country else { return (None, None) };
        let sub: Option<&str> =
            found.decode_path(&maxminddb::path!["subdivisions", 0, "iso_code"]).ok().flatten();
        let region = sub
            .filter(|s| (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
            .map(|s| format!("{}-{}", country.as_str(), s.to_ascii_uppercase()));
        (Some(country.as_str().to_owned()), region)
    }
}
