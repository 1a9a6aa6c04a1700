//! The one shape of an in-process copy kept fresh in the background: fetch every second,
//! replace the copy on success, keep the last one on failure, and log only when the source
//! stops or starts answering (never per tick). The deny set ([`crate::deny`]) and the domain
//! table ([`crate::domains`]) are such copies, so the request path reads memory only.

use std::future::Future;
use std::time::Duration;

/// Runs forever: every `every`, `fetch` and, when it succeeds, `apply` what it gave.
pub async fn every<T, E, F, Fut>(
    what: &'static str,
    every: Duration,
    mut fetch: F,
    apply: impl Fn(T),
    log: slog::Logger,
) where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        match fetch().await {
            Ok(value) => {
                if failing {
                    slog::info!(log, "readable again"; "copy" => what);
                    failing = false;
                }
                apply(value);
            }
            Err(e) if !failing => {
                slog::warn!(log, "cannot refresh; keeping the last copy"; "copy" => what, "error" => %e);
                failing = true;
            }
            Err(_) => {}
        }
    }
}
