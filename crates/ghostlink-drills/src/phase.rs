//! The phases of a traffic drill, and the clock the traffic reads them from.
//!
//! Traffic runs *before* the fault, *during* it and *after* it, and every request is filed
//! under the [`Phase`] it was sent in. The fault itself is narrower than *during*: a request
//! sent while the fault is being injected belongs to *during* (a stopping Postgres already
//! refuses some), but only an answer that came once the injection was done and before the
//! restore began was answered *while the fault lasted* — a request waiting on a fault may be
//! answered correctly once it is lifted. [`Stage`] is that finer sequence; [`Clock`] shares
//! the current stage between the drill, which advances it, and the traffic, which reads it.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Which part of a drill a request was sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Before,
    During,
    After,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 3] = [Phase::Before, Phase::During, Phase::After];

    /// The name in tables and the summary JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::During => "during",
            Phase::After => "after",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a traffic drill stands, in the order it goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    /// Traffic against the healthy system.
    Before,
    /// The fault is being injected.
    Injecting,
    /// The fault is in place.
    Faulted,
    /// The fault is being lifted.
    Restoring,
    /// Traffic against the restored system.
    After,
    /// The traffic stops.
    Done,
}

impl Stage {
    const ORDER: [Stage; 6] =
        [Stage::Before, Stage::Injecting, Stage::Faulted, Stage::Restoring, Stage::After, Stage::Done];

    /// The phase a request sent now belongs to; `None` once the traffic is done.
    pub fn phase(self) -> Option<Phase> {
        match self {
            Stage::Before => Some(Phase::Before),
            Stage::Injecting | Stage::Faulted | Stage::Restoring => Some(Phase::During),
            Stage::After => Some(Phase::After),
            Stage::Done => None,
        }
    }

    /// Whether an answer arriving now came while the fault was in place.
    pub fn fault_in_place(self) -> bool {
        self == Stage::Faulted
    }

    /// The stage after this one (`Done` stays `Done`).
    pub fn next(self) -> Stage {
        Stage::ORDER.get(self as usize + 1).copied().unwrap_or(Stage::Done)
    }

    fn from_u8(n: u8) -> Stage {
        Stage::ORDER.get(usize::from(n)).copied().unwrap_or(Stage::Done)
    }
}

/// The current [`Stage`], shared between the drill and its traffic.
#[derive(Debug, Clone)]
pub struct Clock(Arc<AtomicU8>);

impl Clock {
    /// A clock at [`Stage::Before`].
    pub fn new() -> Self {
        Clock(Arc::new(AtomicU8::new(Stage::Before as u8)))
    }

    pub fn stage(&self) -> Stage {
        Stage::from_u8(self.0.load(Ordering::SeqCst))
    }

    /// Moves to the next stage and returns it.
    pub fn advance(&self) -> Stage {
        let next = self.stage().next();
        self.0.store(next as u8, Ordering::SeqCst);
        next
    }

    /// Moves straight to [`Stage::Done`]: the traffic stops (a drill that failed midway).
    pub fn stop(&self) {
        self.0.store(Stage::Done as u8, Ordering::SeqCst);
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drill_goes_through_every_stage_once_and_stops() {
        let clock = Clock::new();
        let mut seen = vec![clock.stage()];
        for _ in 0..7 {
            seen.push(clock.advance());
        }
        use Stage::*;
        assert_eq!(seen, [Before, Injecting, Faulted, Restoring, After, Done, Done, Done]);
    }

    #[test]
    fn stages_file_requests_under_phases() {
        let phases: Vec<Option<Phase>> = Stage::ORDER.iter().map(|s| s.phase()).collect();
        use Phase::*;
        assert_eq!(phases, [Some(Before), Some(During), Some(During), Some(During), Some(After), None]);
        let in_place: Vec<Stage> = Stage::ORDER.into_iter().filter(|s| s.fault_in_place()).collect();
        assert_eq!(in_place, [Stage::Faulted], "injecting and restoring are not the fault in place");
    }

    #[test]
    fn a_stopped_clock_stays_done() {
        let clock = Clock::new();
        clock.advance();
        clock.stop();
        assert_eq!(clock.stage(), Stage::Done);
        assert_eq!(clock.advance(), Stage::Done);
    }

    #[test]
    fn a_cloned_clock_is_the_same_clock() {
        let drill = Clock::new();
        let traffic = drill.clone();
        drill.advance();
        drill.advance();
        assert_eq!(traffic.stage(), Stage::Faulted);
    }

    #[test]
    fn phase_names_are_the_summary_names() {
        let names: Vec<&str> = Phase::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["before", "during", "after"]);
        assert_eq!(serde_json::to_string(&Phase::During).ok().as_deref(), Some("\"during\""));
    }
}
