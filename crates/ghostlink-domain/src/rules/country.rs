//! The `country` condition's values: ISO 3166-1 alpha-2 codes, as GeoIP databases give them.
//!
//! Only the shape is checked (two ASCII letters, upper-cased): GeoIP data uses codes that are
//! not countries of the standard's main list (`XK` for Kosovo, `EU`), and a code that never
//! occurs simply never matches.

use std::fmt;
use std::str::FromStr;

/// Two upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 2]);

/// Text that is not a [`CountryCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{}' is not an ISO 3166-1 alpha-2 country code (like DE, US)", super::error::shown(.0))]
pub struct BadCountry(pub String);

impl CountryCode {
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    pub fn bytes(self) -> [u8; 2] {
        self.0
    }
}

impl FromStr for CountryCode {
    type Err = BadCountry;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Ok(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => Err(BadCountry(s.to_owned())),
        }
    }
}

impl TryFrom<[u8; 2]> for CountryCode {
    type Error = BadCountry;
    fn try_from(b: [u8; 2]) -> Result<Self, Self::Error> {
        match std::str::from_utf8(&b) {
            Ok(s) => s.parse(),
            Err(_) => Err(BadCountry(String::from_utf8_lossy(&b).into_owned())),
        }
    }
}

impl TryFrom<String> for CountryCode {
    type Error = BadCountry;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<CountryCode> for String {
    fn from(c: CountryCode) -> Self {
        c.as_str().to_owned()
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!("de".parse::<CountryCode>().map(|c| c.to_string()), Ok("DE".to_owned()));
        assert_eq!(CountryCode::try_from(*b"at").map(CountryCode::bytes), Ok(*b"AT"));
        for bad in ["", "D", "DEU", "D1", "1E", "ÄT", "D\u{0}", "\u{0}\u{0}"] {
            assert!(bad.parse::<CountryCode>().is_err(), "{bad:?}");
        }
        assert!(CountryCode::try_from([0xff, 0x41]).is_err());
        let json = serde_json::to_string(&"us".parse::<CountryCode>().expect("us")).expect("json");
        assert_eq!(json, "\"US\"");
        assert!(serde_json::from_str::<CountryCode>("\"USA\"").is_err());
    }
}
