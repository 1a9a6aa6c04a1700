//! Canary: each link's destination health (`link_health`) and its recent checks (`link_checks`).
