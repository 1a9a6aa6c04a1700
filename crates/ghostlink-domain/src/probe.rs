//! What the ghost-probe finds in the click stream, as closed sets: the kind of a finding
//! ([`FindingKind`]), which key of a client it counted by ([`ClientKey`]) and what it did to the
//! client ([`ProbeAction`]).
//!
//! The same names are the `probe_findings` columns, the `probe.detected` event's fields, the
//! admin API's findings and filter, and the `kind` label of `probe_detections_total`.

crate::named::named_enum! {
    /// A detector of the ghost-probe, and so the kind of what it found.
    pub enum FindingKind: "finding kind" {
        /// One client asks for many distinct unknown codes.
        Enumeration = "enumeration",
        /// One client keeps hitting gone or quarantined links.
        DeadLinkProbing = "dead_link_probing",
        /// A link opened many times by bots and never by a person (link-level: no client).
        ZeroClick = "zero_click",
        /// One client makes very many requests in a few seconds.
        Burst = "burst",
    }
}

crate::named::named_enum! {
    /// Which key of a client a finding counted by.
    pub enum ClientKey: "client key" {
        /// The redirect's `client_hash`: the hashed address and user agent.
        AddressAgent = "address_agent",
        /// The hashed address alone (an IPv6 address by its /64): a client rotating its user
        /// agent is still one client.
        Address = "address",
    }
}

crate::named::named_enum! {
    /// What a finding did to its client, in increasing severity: an episode once denied stays
    /// denied (`max` of the two).
    #[derive(PartialOrd, Ord)]
    pub enum ProbeAction: "probe action" {
        /// Recorded and published only.
        Observe = "observe",
        /// The client is refused (429) at the redirect until its entry expires.
        Deny = "deny",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for &k in FindingKind::ALL {
            assert_eq!(k.as_str().parse::<FindingKind>(), Ok(k));
        }
        for &k in ClientKey::ALL {
            assert_eq!(k.as_str().parse::<ClientKey>(), Ok(k));
        }
        let e = "scan".parse::<FindingKind>().expect_err("not a kind");
        assert_eq!(
            e.to_string(),
            "unknown finding kind 'scan' (expected enumeration, dead_link_probing, zero_click, burst)"
        );
        assert!("".parse::<ClientKey>().is_err(), "no key is None, not a name");
    }

    #[test]
    fn a_deny_outranks_an_observe() {
        assert_eq!(ProbeAction::Observe.max(ProbeAction::Deny), ProbeAction::Deny);
        assert_eq!(ProbeAction::Deny.max(ProbeAction::Observe), ProbeAction::Deny);
        assert_eq!(ProbeAction::Observe.max(ProbeAction::Observe), ProbeAction::Observe);
    }
}
