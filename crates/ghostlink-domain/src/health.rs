//! A destination's health as the canary sees it: what one probe found ([`CheckOutcome`]) and
//! where a run of probes has left the link ([`HealthState`]).

crate::named::named_enum! {
    /// Where a link's run of probes stands.
    pub enum HealthState: "health state" {
        /// Not probed yet, or its destination changed since.
        Unknown = "unknown",
        Healthy = "healthy",
        /// Failed at least once in a row, not yet quarantined.
        Failing = "failing",
        /// Quarantined by the canary after consecutive failures.
        Quarantined = "quarantined",
    }
}

crate::named::named_enum! {
    /// A probe's classified result.
    pub enum CheckOutcome: "check outcome" {
        Ok = "ok",
        Http4xx = "http_4xx",
        Http5xx = "http_5xx",
        Timeout = "timeout",
        Dns = "dns",
        Tls = "tls",
        Connect = "connect",
        /// An address the canary may not connect to (the SSRF guard), or not a probeable URL.
        Blocked = "blocked",
    }
}

impl CheckOutcome {
    /// Whether the destination answered as it should.
    pub fn is_ok(self) -> bool {
        self == CheckOutcome::Ok
    }

    /// Failures that say more about the canary's own network than about the destination.
    pub fn is_network(self) -> bool {
        matches!(self, CheckOutcome::Timeout | CheckOutcome::Dns | CheckOutcome::Connect)
    }
}
