//! ghostctl
