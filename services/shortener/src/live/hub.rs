//! One reader of the event stream per replica, fanned out in memory to the live streams.
//!
//! The reader follows `<prefix>.events.log` from the moment the replica starts (the stream's
//! last chunk; after a broken connection, from the offset after the last message it read, so a
//! reconnect loses nothing), and reads the clicks out of a message only when someone listens.
//! Each subscriber has a bounded buffer of its own, offered each click of its link or workspace
//! with `try_send`: a subscriber whose buffer is full is dropped there and then (its stream
//! ends), so no reader, however slow, holds up the others or the broker.
//!
//! The registry and the high-water mark (the offset of the last message fanned out) change under
//! one lock, so a subscriber that joins after reading the stream up to the mark itself (a resume
//! from `Last-Event-ID`) is offered exactly the messages after it: no gap between its own reading
//! and the feed, and what it read twice it skips by position.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ghostlink_bus::{StreamMessage, StreamReader, StreamStart, Topology};
use tokio::sync::{mpsc, watch};

use super::event::{clicks_of, Click};
use super::workspaces::Workspaces;

/// Whose clicks a stream shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One link, by key.
    Link(String),
    /// Every link of a workspace.
    Workspace(i64),
}

impl Scope {
    pub fn label(&self) -> &'static str {
        match self {
            Scope::Link(_) => "link",
            Scope::Workspace(_) => "workspace",
        }
    }

    /// Whether a click belongs here (`workspace`: its link's, when known).
    pub fn holds(&self, click: &Click, workspace: Option<i64>) -> bool {
        match self {
            Scope::Link(key) => *key == click.key,
            Scope::Workspace(ws) => workspace == Some(*ws),
        }
    }
}

/// How the live streams behave (`LIVE_*`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub amqp_url: String,
    pub topology: Topology,
    /// Clicks buffered per subscriber.
    pub buffer: usize,
    pub heartbeat: Duration,
    /// How long one stream stays open.
    pub max_stream: Duration,
}

struct Entry {
    id: u64,
    tx: mpsc::Sender<Arc<Click>>,
}

#[derive(Default)]
struct Registry {
    /// The reader has attached and read (or waited) once: its starting point is behind it.
    settled: bool,
    /// The offset of the last message fanned out.
    high: Option<u64>,
    links: HashMap<String, Vec<Entry>>,
    workspaces: HashMap<i64, Vec<Entry>>,
    next_id: u64,
    closed: bool,
}

impl Registry {
    fn offer(entries: &mut Vec<Entry>, click: &Arc<Click>, scope: &'static str) {
        entries.retain(|e| match e.tx.try_send(click.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("live_subscribers_dropped_total", "scope" => scope).increment(1);
                left(scope);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                left(scope);
                false
            }
        });
    }

    fn deliver(&mut self, clicks: &[Arc<Click>], workspaces: &HashMap<String, i64>) {
        for c in clicks {
            if let Some(entries) = self.links.get_mut(&c.key) {
                Self::offer(entries, c, "link");
                if entries.is_empty() {
                    self.links.remove(&c.key);
                }
            }
            if let Some(ws) = workspaces.get(&c.key) {
                if let Some(entries) = self.workspaces.get_mut(ws) {
                    Self::offer(entries, c, "workspace");
                    if entries.is_empty() {
                        self.workspaces.remove(ws);
                    }
                }
            }
        }
    }
}

fn left(scope: &'static str) {
    metrics::gauge!("live_subscribers", "scope" => scope).decrement(1.0);
}

/// The replica's stream reader and its subscribers.
pub struct Hub {
    registry: Mutex<Registry>,
    pub(super) workspaces: Workspaces,
    pub(super) settings: Settings,
    pub(super) log: slog::Logger,
    stop: watch::Sender<bool>,
}

/// A subscriber's place in the hub: its buffer, left when dropped.
pub struct Subscription {
    hub: Arc<Hub>,
    scope: Scope,
    id: u64,
    pub rx: mpsc::Receiver<Arc<Click>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.leave(&self.scope, self.id);
    }
}

/// The answer to a subscriber that asks to join.
pub enum Join {
    Live(Subscription),
    /// The feed is past what the subscriber has read: read on, ask again.
    Behind,
    /// The replica is shutting down.
    Closed,
}

impl Hub {
    pub fn new(settings: Settings, workspaces: Workspaces, log: slog::Logger) -> Self {
        let (stop, _) = watch::channel(false);
        Self { registry: Mutex::new(Registry::default()), workspaces, settings, log, stop }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // The registry stays consistent at every step, so a panic elsewhere leaves it usable.
        self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Resolves when the hub closes (the replica shuts down).
    pub fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Joins the feed now: offered every message fanned out from here on.
    pub fn join(self: &Arc<Self>, scope: &Scope) -> Join {
        self.join_after(scope, None, true)
    }

    /// Joins the feed if the subscriber has itself read the stream up to `reached` (inclusive)
    /// and that is at or past the feed's high-water mark; otherwise [`Join::Behind`].
    pub fn join_caught_up(self: &Arc<Self>, scope: &Scope, reached: Option<u64>) -> Join {
        self.join_after(scope, reached, false)
    }

    fn join_after(self: &Arc<Self>, scope: &Scope, reached: Option<u64>, now: bool) -> Join {
        let mut reg = self.lock();
        if reg.closed {
            return Join::Closed;
        }
        if !now {
            let caught_up = match reg.high {
                None => reg.settled,
                Some(high) => reached.is_some_and(|r| r >= high),
            };
            if !caught_up {
                return Join::Behind;
            }
        }
        let (tx, rx) = mpsc::channel(self.settings.buffer);
        let id = reg.next_id;
        reg.next_id += 1;
        let entries = match scope {
            Scope::Link(key) => reg.links.entry(key.clone()).or_default(),
            Scope::Workspace(ws) => reg.workspaces.entry(*ws).or_default(),
        };
        entries.push(Entry { id, tx });
        metrics::gauge!("live_subscribers", "scope" => scope.label()).increment(1.0);
        Join::Live(Subscription { hub: self.clone(), scope: scope.clone(), id, rx })
    }

    fn leave(&self, scope: &Scope, id: u64) {
        let mut reg = self.lock();
        let entries = match scope {
            Scope::Link(key) => reg.links.get_mut(key),
            Scope::Workspace(ws) => reg.workspaces.get_mut(ws),
        };
        let Some(entries) = entries else { return };
        let before = entries.len();
        entries.retain(|e| e.id != id);
        let (gone, empty) = (before != entries.len(), entries.is_empty());
        if empty {
            match scope {
                Scope::Link(key) => reg.links.remove(key),
                Scope::Workspace(ws) => reg.workspaces.remove(ws).map(|_| Vec::new()),
            };
        }
        if gone {
            left(scope.label());
        }
    }

    /// Ends every stream and the reader (shutdown): buffers are dropped, streams end, new
    /// subscribers are refused.
    pub fn close(&self) {
        // Streams see the stop before their buffers close, so they say why they end.
        self.stop.send_replace(true);
        let mut reg = self.lock();
        reg.closed = true;
        for (_, entries) in reg.links.drain() {
            entries.iter().for_each(|_| left("link"));
        }
        for (_, entries) in reg.workspaces.drain() {
            entries.iter().for_each(|_| left("workspace"));
        }
    }

    /// Hands one message's clicks to their subscribers and moves the high-water mark past it.
    /// The clicks are read (and their workspaces looked up) only when someone listens; the
    /// check and the hand-over are repeated if a subscriber joined in between.
    async fn fan_out(&self, msg: &StreamMessage) {
        let mut clicks: Option<Vec<Arc<Click>>> = None;
        let mut workspaces: Option<HashMap<String, i64>> = None;
        loop {
            let (any, by_workspace) = self.listening(&self.lock());
            if any && clicks.is_none() {
                clicks = Some(clicks_of(msg));
            }
            if by_workspace && workspaces.is_none() {
                workspaces = Some(match clicks.as_deref() {
                    Some(c) if !c.is_empty() => self.workspaces.of(c).await,
                    _ => HashMap::new(),
                });
            }
            let mut reg = self.lock();
            let (any, by_workspace) = self.listening(&reg);
            if (any && clicks.is_none()) || (by_workspace && workspaces.is_none()) {
                continue;
            }
            reg.high = Some(msg.offset);
            if let Some(c) = &clicks {
                reg.deliver(c, &workspaces.unwrap_or_default());
            }
            return;
        }
    }

    /// Whether anyone listens, and whether a workspace stream does.
    fn listening(&self, reg: &Registry) -> (bool, bool) {
        (!reg.links.is_empty() || !reg.workspaces.is_empty(), !reg.workspaces.is_empty())
    }

    /// Follows the stream until the hub closes, reconnecting with backoff (100 ms doubling to
    /// 5 s) from the offset after the last message read.
    pub async fn run(self: Arc<Self>) {
        let mut stop = self.stopped();
        let mut backoff = Duration::from_millis(100);
        let mut failing = false;
        loop {
            let start = {
                let reg = self.lock();
                match (reg.high, reg.settled) {
                    (Some(h), _) => StreamStart::Offset(h + 1),
                    (None, true) => StreamStart::First,
                    (None, false) => StreamStart::Last,
                }
            };
            let s = &self.settings;
            match StreamReader::open(&s.amqp_url, &s.topology, start, 500, "shortener-live").await {
                Ok(mut reader) => {
                    metrics::counter!("live_reader_connects_total").increment(1);
                    metrics::gauge!("live_reader_connected").set(1.0);
                    if failing {
                        slog::info!(self.log, "live stream reader attached again"; "start" => ?start);
                    }
                    (backoff, failing) = (Duration::from_millis(100), false);
                    let ended = self.follow(&mut reader, &mut stop).await;
                    metrics::gauge!("live_reader_connected").set(0.0);
                    reader.close().await;
                    match ended {
                        None => return,
                        Some(e) => {
                            slog::warn!(self.log, "live stream reader lost the stream; reconnecting"; "error" => %e)
                        }
                    }
                }
                Err(e) => {
                    if !failing {
                        slog::warn!(self.log, "live stream reader cannot attach; retrying"; "error" => %e);
                    }
                    failing = true;
                }
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Reads and fans out until the hub closes (`None`) or the reader fails.
    async fn follow(
        &self,
        reader: &mut StreamReader,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<ghostlink_bus::BusError> {
        let mut settled = false;
        loop {
            let next = tokio::select! {
                _ = stop.wait_for(|s| *s) => return None,
                next = reader.next(Duration::from_secs(1)) => next,
            };
            match next {
                Ok(Some(msg)) => self.fan_out(&msg).await,
                Ok(None) => {}
                Err(e) => return Some(e),
            }
            if !settled {
                self.lock().settled = true;
                settled = true;
            }
        }
    }
}
