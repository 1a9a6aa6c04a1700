//! What the redirect answered a request for `/{code}`: a click's outcome.
//!
//! One value per kind of answer, and every answer the redirect gives has its own: it labels
//! `redirect_responses_total{outcome}`, travels in `click.recorded` (`proto/events/`) and is
//! stored with the click. `docs/metrics.md` and the event's schema list exactly these names.

crate::named::named_enum! {
    /// What a request for a code was answered.
    pub enum ClickOutcome: "click outcome" {
        /// A redirect to the destination.
        Redirect = "redirect",
        /// No link with this code (or not a plausible code at all): 404.
        NotFound = "not_found",
        /// Disabled, deleted, expired or used up: 410.
        Gone = "gone",
        /// The link could not be looked up (Postgres down, a failed click counter): 503.
        Unavailable = "unavailable",
        /// Quarantined by the canary or an admin: the quarantine page.
        Quarantined = "quarantined",
        /// The stored destination may not become a `Location` (`safe_location`): 410
        /// `unsafe_destination`, counted apart from `gone` because it is never the link's
        /// lifecycle but a destination that should not have been stored.
        Unsafe = "unsafe",
        /// A blocked destination: 451.
        Blocked = "blocked",
        /// A high-risk destination: a warning page with a continue link.
        Interstitial = "interstitial",
        /// A bot on a `max_clicks` link: a page without the destination, no click used.
        BotPreview = "bot_preview",
        /// An address past its scan budget asked for a code in neither cache: 429, not looked up.
        ScanLimited = "scan_limited",
        /// A password-protected link answered its password form instead of the destination:
        /// shown (200, and always to bots), a wrong password (401), too many wrong ones (429)
        /// or a form that could not be read (4xx).
        PasswordRequired = "password_required",
        /// A client in the ghost-probe's deny set: 429 before any lookup. Counted, but no click
        /// is recorded for it (see [`ClickOutcome::is_recorded`]).
        Denied = "denied",
    }
}

impl ClickOutcome {
    /// Whether a request answered so becomes a `click.recorded` event. A denied client's
    /// requests do not: the ghost-probe already judged it, and its flood would only feed the
    /// click pipeline.
    pub fn is_recorded(self) -> bool {
        self != ClickOutcome::Denied
    }
}
