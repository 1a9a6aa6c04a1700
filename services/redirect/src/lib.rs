//! GhostLink redirect service: the public hot path GET /{code}.
