//! Test support for GhostLink: a fresh Postgres database per test, isolated Redis keys, config builders. Dev-dependency only.
