//! A link's state and what it answers at a given moment.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

crate::named::named_enum! {
    /// Lifecycle of a link. `Deleted` links keep their row so the code is never reissued.
    pub enum LinkStatus: "link status" {
        Active = "active",
        Disabled = "disabled",
        Quarantined = "quarantined",
        Deleted = "deleted",
    }
}

/// What the redirect needs to know about a link; cached in memory and in Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSnapshot {
    pub code: String,
    pub url: String,
    pub status: LinkStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_clicks: Option<i64>,
    /// Since when the link is quarantined, when it is.
    #[serde(default)]
    pub status_since: Option<DateTime<Utc>>,
    /// The destination's risk level, once scored.
    #[serde(default)]
    pub risk: Option<crate::risk::Level>,
    /// The scored reasons, as short sentences, for the warning page.
    #[serde(default)]
    pub risk_reasons: Vec<String>,
    /// Redirect rules, first match wins (evaluated in memory from this snapshot).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<crate::rules::Rule>,
    /// Query forwarding and stored UTM parameters.
    #[serde(default)]
    pub query: crate::utm::QueryOptions,
    /// The argon2id hash (PHC string) of the link's password, when it has one: the redirect
    /// asks for the password before it redirects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
}

crate::named::named_enum! {
    /// Why a link no longer redirects.
    pub enum GoneReason: "gone reason" {
        Disabled = "disabled",
        Deleted = "deleted",
        Expired = "expired",
        UsedUp = "used_up",
    }
}

/// What the redirect should do with a found link, before any click counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Redirect; when `counted` the link has a `max_clicks` and the atomic counter decides.
    Redirect {
        counted: bool,
    },
    /// Show the quarantine page instead of redirecting.
    Quarantined,
    Gone(GoneReason),
    /// The stored URL may not become a `Location`.
    Unsafe,
    /// A high-risk destination: a warning page with a continue link instead of a redirect.
    Interstitial,
    /// A blocked destination: 451, never a redirect.
    Blocked,
}

impl LinkSnapshot {
    /// Decides at `now`, without side effects.
    pub fn decide(&self, now: DateTime<Utc>) -> Decision {
        match self.status {
            LinkStatus::Disabled => return Decision::Gone(GoneReason::Disabled),
            LinkStatus::Deleted => return Decision::Gone(GoneReason::Deleted),
            LinkStatus::Quarantined => return Decision::Quarantined,
            LinkStatus::Active => {}
        }
        if self.expires_at.is_some_and(|t| t <= now) {
            return Decision::Gone(GoneReason::Expired);
        }
        if crate::safe_location(&self.url).is_none() {
            return Decision::Unsafe;
        }
        match self.risk {
            Some(crate::risk::Level::Blocked) => return Decision::Blocked,
            Some(crate::risk::Level::High) => return Decision::Interstitial,
            _ => {}
        }
        Decision::Redirect { counted: self.max_clicks.is_some() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn snap() -> LinkSnapshot {
        LinkSnapshot {
            code: "abc".into(),
            url: "https://example.com/".into(),
            status: LinkStatus::Active,
            expires_at: None,
            max_clicks: None,
            status_since: None,
            risk: None,
            risk_reasons: vec![],
            rules: vec![],
            query: Default::default(),
            password_hash: None,
        }
    }

    #[test]
    fn decisions() {
        let now = Utc::now();
        assert_eq!(snap().decide(now), Decision::Redirect { counted: false });
        let s = LinkSnapshot { max_clicks: Some(3), ..snap() };
        assert_eq!(s.decide(now), Decision::Redirect { counted: true });
        let s = LinkSnapshot { expires_at: Some(now - Duration::seconds(1)), ..snap() };
        assert_eq!(s.decide(now), Decision::Gone(GoneReason::Expired));
        let s = LinkSnapshot { expires_at: Some(now + Duration::seconds(60)), ..snap() };
        assert_eq!(s.decide(now), Decision::Redirect { counted: false });
        let s = LinkSnapshot { status: LinkStatus::Disabled, ..snap() };
        assert_eq!(s.decide(now), Decision::Gone(GoneReason::Disabled));
        let s = LinkSnapshot { status: LinkStatus::Deleted, ..snap() };
        assert_eq!(s.decide(now), Decision::Gone(GoneReason::Deleted));
        let s = LinkSnapshot { status: LinkStatus::Quarantined, ..snap() };
        assert_eq!(s.decide(now), Decision::Quarantined);
        let s = LinkSnapshot { url: "javascript:alert(1)".into(), ..snap() };
        assert_eq!(s.decide(now), Decision::Unsafe);
        use crate::risk::Level;
        let s = LinkSnapshot { risk: Some(Level::High), ..snap() };
        assert_eq!(s.decide(now), Decision::Interstitial);
        let s = LinkSnapshot { risk: Some(Level::Blocked), ..snap() };
        assert_eq!(s.decide(now), Decision::Blocked);
        let s = LinkSnapshot { risk: Some(Level::Medium), ..snap() };
        assert_eq!(s.decide(now), Decision::Redirect { counted: false });
        let s = LinkSnapshot { risk: Some(Level::Blocked), status: LinkStatus::Disabled, ..snap() };
        assert_eq!(s.decide(now), Decision::Gone(GoneReason::Disabled));
    }
}
