//! Who takes a link in or out of quarantine ([`QuarantineActor`]): the `by` of the
//! `link.quarantined` and `link.restored` events.

crate::named::named_enum! {
    /// Who quarantined a link, or released it.
    pub enum QuarantineActor: "quarantine actor" {
        /// The canary: consecutive failed checks of the destination (or successes, to restore).
        Canary = "canary",
        /// An admin, by hand.
        Admin = "admin",
    }
}
