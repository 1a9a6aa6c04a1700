//! Which workspace a click's link belongs to, for the workspace-wide stream: a bounded in-memory
//! map from link key to workspace, filled from Postgres one query per batch of unknown keys. A
//! link's workspace never changes (nor is a key reused), so an entry never goes stale; a key of no
//! link (an orphan visit) is remembered as such for a few seconds only, since the link may be
//! made later, and in a map of its own, so a flood of unknown codes cannot push the known ones
//! out.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ghostlink_db::Db;

use super::event::Click;

/// How long a key of no link is remembered as one.
const ABSENT_FOR: Duration = Duration::from_secs(5);

pub struct Workspaces {
    db: Db,
    known: moka::sync::Cache<String, i64>,
    absent: moka::sync::Cache<String, ()>,
    log: slog::Logger,
}

impl Workspaces {
    pub fn new(db: Db, capacity: u64, log: slog::Logger) -> Self {
        Self {
            db,
            known: moka::sync::Cache::new(capacity),
            absent: moka::sync::Cache::builder().max_capacity(capacity).time_to_live(ABSENT_FOR).build(),
            log,
        }
    }

    /// The workspace of each click's link, by key; keys of no link are absent. When Postgres
    /// cannot be asked, the keys not yet known are absent too (counted, logged): their clicks
    /// reach the link streams, not the workspace streams.
    pub async fn of(&self, clicks: &[std::sync::Arc<Click>]) -> HashMap<String, i64> {
        let mut out = HashMap::new();
        let mut ask: HashSet<String> = HashSet::new();
        for c in clicks {
            if out.contains_key(&c.key) || ask.contains(&c.key) {
                continue;
            }
            if let Some(ws) = self.known.get(&c.key) {
                out.insert(c.key.clone(), ws);
            } else if !self.absent.contains_key(&c.key) {
                ask.insert(c.key.clone());
            }
        }
        if ask.is_empty() {
            return out;
        }
        let codes: Vec<String> = ask.iter().cloned().collect();
        match self.db.run(move |c| ghostlink_db::links::workspaces_of(c, &codes)).await {
            Ok(found) => {
                for (key, ws) in found {
                    self.known.insert(key.clone(), ws);
                    out.insert(key, ws);
                }
                for key in ask.into_iter().filter(|k| !out.contains_key(k)) {
                    self.absent.insert(key, ());
                }
            }
            Err(e) => {
                metrics::counter!("live_workspace_lookup_failures_total").increment(1);
                slog::warn!(self.log, "live stream: could not look up the workspaces of clicks";
                    "error" => %e, "keys" => ask.len());
            }
        }
        out
    }
}
