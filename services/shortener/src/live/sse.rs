//! One live stream as it is written: the SSE frames of a subscriber, produced by a task of its
//! own into a small channel the response body reads. A new subscriber joins the hub's feed at
//! once; one resuming from `Last-Event-ID` first reads the stream itself from that position
//! until it has reached the feed, then joins it (`hub.rs` says why that leaves no gap).
//!
//! Frames: `id: <offset>-<index>` and `data: <click JSON>` per click, `: ping` after a
//! heartbeat's silence, and a comment saying why the stream ends when it does (too slow, time
//! up, shutdown, the broker gone) or that a resume starts past retention.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use ghostlink_bus::{StreamReader, StreamStart};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, Instant};

use super::event::{clicks_of, Click, Position};
use super::hub::{Hub, Join, Scope, Subscription};

/// What a client waits before reconnecting (the SSE `retry:` field), in milliseconds.
const RETRY_MS: u32 = 2000;

/// Frames waiting for the response body to take them.
const FRAMES: usize = 16;

/// Why a stream ended.
#[derive(Debug)]
enum End {
    /// The client went away.
    Gone,
    /// `LIVE_MAX_STREAM_SECS` passed.
    Expired,
    Stopped,
    /// Dropped from the feed for falling behind.
    Dropped,
    /// The stream could not be read (a resume needs the broker).
    Unavailable,
}

impl End {
    fn farewell(&self) -> Option<&'static str> {
        Some(match self {
            End::Gone => return None,
            End::Expired => ": closing: this stream's time is up; reconnect with Last-Event-ID to resume\n\n",
            End::Stopped => {
                ": closing: the server is shutting down; reconnect with Last-Event-ID to resume\n\n"
            }
            End::Dropped => {
                ": closing: this reader fell too far behind; reconnect with Last-Event-ID to resume\n\n"
            }
            End::Unavailable => {
                ": closing: the event stream is unavailable; reconnect with Last-Event-ID to resume\n\n"
            }
        })
    }
}

/// How a stream begins.
pub enum Start {
    /// On the feed, joined before the response began (so nothing published after the request
    /// was answered is missed).
    Live(Subscription),
    /// After this position, read from the stream first.
    Resume(Position),
}

/// Starts a subscriber's task; returns the response body.
pub fn start(
    hub: Arc<Hub>,
    scope: Scope,
    start: Start,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> {
    let (tx, rx) = mpsc::channel::<Bytes>(FRAMES);
    actix_web::rt::spawn(serve(hub, scope, start, tx));
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) })
}

/// Where a subscriber's frames go, and when it must stop.
struct Out {
    tx: mpsc::Sender<Bytes>,
    deadline: Instant,
    stop: watch::Receiver<bool>,
    heartbeat: Duration,
    next_ping: Instant,
    scope: &'static str,
    /// The last click sent (or, resuming, the client's): nothing at or before it is sent.
    last: Option<Position>,
}

impl Out {
    async fn frame(&mut self, text: String) -> Result<(), End> {
        tokio::select! {
            biased;
            () = stopped(&mut self.stop) => Err(End::Stopped),
            () = sleep_until(self.deadline) => Err(End::Expired),
            sent = self.tx.send(Bytes::from(text)) => sent.map_err(|_| End::Gone),
        }?;
        self.next_ping = Instant::now() + self.heartbeat;
        Ok(())
    }

    async fn comment(&mut self, text: &str) -> Result<(), End> {
        self.frame(format!(": {text}\n\n")).await
    }

    /// Sends `click` unless the client has had it.
    async fn click(&mut self, click: &Click) -> Result<(), End> {
        if self.last.is_some_and(|l| click.position <= l) {
            return Ok(());
        }
        self.frame(format!("id: {}\ndata: {}\n\n", click.position, click.json)).await?;
        self.last = Some(click.position);
        metrics::counter!("live_events_sent_total", "scope" => self.scope).increment(1);
        Ok(())
    }

    async fn ping_if_due(&mut self) -> Result<(), End> {
        if Instant::now() >= self.next_ping {
            self.comment("ping").await?;
        }
        Ok(())
    }
}

/// Resolves once the hub has closed.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the hub is gone: stopped as well.
    let _ = stop.wait_for(|s| *s).await;
}

async fn serve(hub: Arc<Hub>, scope: Scope, start: Start, tx: mpsc::Sender<Bytes>) {
    let settings = &hub.settings;
    let mut out = Out {
        tx,
        deadline: Instant::now() + settings.max_stream,
        stop: hub.stopped(),
        heartbeat: settings.heartbeat,
        next_ping: Instant::now() + settings.heartbeat,
        scope: scope.label(),
        last: match start {
            Start::Live(_) => None,
            Start::Resume(from) => Some(from),
        },
    };
    let ended = async {
        out.frame(format!("retry: {RETRY_MS}\n: live clicks\n\n")).await?;
        let mut sub = match start {
            Start::Live(sub) => sub,
            Start::Resume(from) => catch_up(&hub, &scope, from, &mut out).await?,
        };
        live(&mut sub, &mut out).await
    }
    .await;
    if let Some(text) = ended.err().and_then(|e| e.farewell()) {
        // Best effort: a client that reads nothing has no room for it.
        let _ = out.tx.try_send(Bytes::from_static(text.as_bytes()));
    }
}

/// Sends the feed's clicks until the stream ends.
async fn live(sub: &mut Subscription, out: &mut Out) -> Result<(), End> {
    loop {
        let next_ping = out.next_ping;
        tokio::select! {
            biased;
            () = stopped(&mut out.stop) => return Err(End::Stopped),
            () = sleep_until(out.deadline) => return Err(End::Expired),
            click = sub.rx.recv() => match click {
                Some(c) => out.click(&c).await?,
                None if *out.stop.borrow() => return Err(End::Stopped),
                None => return Err(End::Dropped),
            },
            () = sleep_until(next_ping) => out.comment("ping").await?,
        }
    }
}

/// Reads the stream from `from` with a consumer of its own, sending the scope's clicks after
/// it, until the hub's feed is no further along; then joins the feed.
async fn catch_up(hub: &Arc<Hub>, scope: &Scope, from: Position, out: &mut Out) -> Result<Subscription, End> {
    let mut reached = from.offset.checked_sub(1);
    let mut reader: Option<StreamReader> = None;
    let result = loop {
        match hub.join_caught_up(scope, reached) {
            Join::Live(sub) => break Ok(sub),
            Join::Closed => break Err(End::Stopped),
            Join::Behind => {}
        }
        let r = match reader.as_mut() {
            Some(r) => r,
            None => {
                let s = &hub.settings;
                let opened = StreamReader::open(
                    &s.amqp_url,
                    &s.topology,
                    StreamStart::Offset(from.offset),
                    500,
                    "shortener-live-resume",
                )
                .await;
                match opened {
                    Ok(r) => reader.insert(r),
                    Err(e) => {
                        slog::warn!(hub.log, "live stream: cannot read the stream to resume"; "error" => %e);
                        break Err(End::Unavailable);
                    }
                }
            }
        };
        let next = tokio::select! {
            biased;
            () = stopped(&mut out.stop) => break Err(End::Stopped),
            () = sleep_until(out.deadline) => break Err(End::Expired),
            next = r.next(Duration::from_millis(250)) => next,
        };
        let msg = match next {
            Ok(Some(msg)) => msg,
            Ok(None) => {
                if let Err(e) = out.ping_if_due().await {
                    break Err(e);
                }
                continue;
            }
            Err(e) => {
                slog::warn!(hub.log, "live stream: lost the stream while resuming"; "error" => %e);
                break Err(End::Unavailable);
            }
        };
        if reached.is_none_or(|r| r < from.offset) && msg.offset > from.offset {
            let note = format!(
                "resumed at {}-0, the oldest event retained: events after {from} before it are past the stream's retention",
                msg.offset
            );
            if let Err(e) = out.comment(&note).await {
                break Err(e);
            }
        }
        reached = Some(msg.offset);
        if let Err(e) = send_matching(hub, scope, &clicks_of(&msg), out).await {
            break Err(e);
        }
    };
    if let Some(r) = reader {
        r.close().await;
    }
    result
}

async fn send_matching(hub: &Hub, scope: &Scope, clicks: &[Arc<Click>], out: &mut Out) -> Result<(), End> {
    if clicks.is_empty() {
        return out.ping_if_due().await;
    }
    let workspaces = match scope {
        Scope::Workspace(_) => hub.workspaces.of(clicks).await,
        Scope::Link(_) => Default::default(),
    };
    for c in clicks.iter().filter(|c| scope.holds(c, workspaces.get(&c.key).copied())) {
        out.click(c).await?;
    }
    out.ping_if_due().await
}
