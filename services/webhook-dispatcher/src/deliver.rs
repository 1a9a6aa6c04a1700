//! The delivery loop: claims due deliveries (`FOR UPDATE SKIP LOCKED`, under a lease, so N
//! replicas share them), sends each as one signed POST within the request timeout, and records
//! the attempt. Deliveries run concurrently up to `WEBHOOK_CONCURRENCY` per replica, each on
//! its own task, so a hanging receiver holds one slot for at most the timeout and delays no
//! other subscription; a destination host gets at most `WEBHOOK_PER_HOST_CONCURRENCY` requests
//! at once across every replica (a semaphore in Redis); a delivery whose host is full waits a
//! moment without an attempt counted.
//!
//! What counts as delivered is a 2xx answer. A 3xx is a failed attempt (redirects are never
//! followed: the address they name was not checked); so is every refusal of the SSRF guard
//! ([`ghostlink_egress`]), which the log shows as `blocked: …` with no connection made.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ghostlink_cache::RedisCache;
use ghostlink_db::outbox::OutboxEvent;
use ghostlink_db::webhook_deliveries::{self as store, AttemptResult, Claimed, Recorded};
use ghostlink_db::Db;
use ghostlink_egress::PrivateTargets;
use ghostlink_proto::{Envelope, EventData, WebhookDisabled};
use rand::Rng;
use tokio::sync::{watch, Notify, Semaphore};
use url::Url;

use crate::schedule::Schedule;

/// What the loop needs.
pub struct Deliverer {
    pub db: Db,
    pub redis: RedisCache,
    pub client: reqwest::Client,
    pub policy: PrivateTargets,
    pub schedule: Schedule,
    pub timeout: Duration,
    pub per_host: u32,
    pub disable_after: Duration,
    pub concurrency: Arc<Semaphore>,
    pub batch: i64,
    pub poll: Duration,
    /// Woken when deliveries were written.
    pub wake: Arc<Notify>,
    /// Woken after a subscription was disabled (its event is in the outbox).
    pub relay: Arc<Notify>,
    /// This replica, in the holders of host slots.
    pub replica: String,
    pub log: slog::Logger,
}

impl Deliverer {
    /// Claims and sends until `stop`; deliveries in flight at the stop finish within the
    /// timeout (or their lease hands them to another replica).
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            let free = self.concurrency.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let limit = self.batch.min(free as i64);
            let lease = self.timeout + Duration::from_secs(30);
            let claimed = match self.db.run(move |c| store::claim_due(c, limit, lease)).await {
                Ok(c) => c,
                Err(e) => {
                    slog::warn!(self.log, "claiming deliveries failed"; "error" => %e);
                    Vec::new()
                }
            };
            let full = claimed.len() as i64 == limit;
            for d in claimed {
                let Ok(permit) = self.concurrency.clone().acquire_owned().await else { return };
                let this = self.clone();
                tokio::spawn(async move {
                    this.deliver(d).await;
                    drop(permit);
                });
            }
            if !full {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }

    /// One attempt of one delivery, recorded.
    async fn deliver(&self, d: Claimed) {
        let url = match Url::parse(&d.url) {
            Ok(u) => u,
            Err(e) => return self.record(&d, failed(None, 0, format!("blocked: not a URL ({e})"))).await,
        };
        if let Err(e) = ghostlink_egress::check_target(&url, &self.policy) {
            return self.record(&d, failed(None, 0, format!("blocked: {e}"))).await;
        }
        let slot = format!("webhook:host:{}", ghostlink_egress::host_key(&url));
        let holder = format!("{}:{}", self.replica, d.id);
        let lease = self.timeout + Duration::from_secs(5);
        match self.redis.slot_acquire(&slot, &holder, self.per_host, lease).await {
            Ok(true) => {}
            outcome => {
                let reason = if outcome.is_ok() { "host_busy" } else { "redis_error" };
                metrics::counter!("webhook_deferrals_total", "reason" => reason).increment(1);
                let wait = Duration::from_millis(rand::thread_rng().gen_range(100..500));
                let id = d.id;
                if let Err(e) = self.db.run(move |c| store::postpone(c, id, wait)).await {
                    slog::warn!(self.log, "postponing a delivery failed"; "delivery.id" => id, "error" => %e);
                }
                return;
            }
        }
        let result = self.send(&d, url).await;
        if let Err(e) = self.redis.slot_release(&slot, &holder).await {
            slog::debug!(self.log, "releasing a host slot failed (its lease ends it)"; "error" => %e);
        }
        self.record(&d, result).await;
    }

    /// The POST, bounded by the timeout.
    async fn send(&self, d: &Claimed, url: Url) -> AttemptResult {
        let started = Instant::now();
        let headers =
            match crate::sign::headers(&d.secret, d.event_id, d.body.as_bytes(), Utc::now().timestamp()) {
                Ok(h) => h,
                Err(e) => return failed(None, 0, format!("secret: {e}")),
            };
        let mut req = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(d.body.clone());
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let sent = tokio::time::timeout(self.timeout, async {
            let resp = req.send().await?;
            let status = resp.status();
            // The answer's body is not read: the connection is dropped with it.
            Ok::<_, reqwest::Error>(status)
        })
        .await;
        let ms = started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
        metrics::histogram!("webhook_delivery_duration_seconds").record(started.elapsed().as_secs_f64());
        match sent {
            Err(_) => failed(None, ms, format!("timeout: no answer within {} ms", self.timeout.as_millis())),
            Ok(Err(e)) => {
                let (failure, detail) = ghostlink_egress::classify(&e);
                let kind = match failure {
                    ghostlink_egress::Failure::PrivateAddress => "blocked",
                    ghostlink_egress::Failure::NameNotResolved => "dns",
                    ghostlink_egress::Failure::Timeout => "timeout",
                    ghostlink_egress::Failure::Tls => "tls",
                    ghostlink_egress::Failure::Connect => "connect",
                };
                failed(None, ms, format!("{kind}: {detail}"))
            }
            Ok(Ok(status)) if status.is_success() => AttemptResult {
                delivered: true,
                status: Some(status.as_u16()),
                latency_ms: ms,
                error: None,
                retry_in: None,
            },
            Ok(Ok(status)) if status.is_redirection() => {
                failed(Some(status.as_u16()), ms, format!("http: {status} (redirects are not followed)"))
            }
            Ok(Ok(status)) => failed(Some(status.as_u16()), ms, format!("http: {status}")),
        }
    }

    /// Records the attempt with its next step, and counts it.
    async fn record(&self, d: &Claimed, mut result: AttemptResult) {
        if !result.delivered {
            let attempt = u32::try_from(d.attempts + 1).unwrap_or(u32::MAX);
            let unit: f64 = rand::thread_rng().gen();
            result.retry_in = self.schedule.retry_in(attempt, d.created_at, Utc::now(), unit);
        }
        let (claimed, disable_after) = (d.clone(), self.disable_after);
        let recorded = self
            .db
            .run(move |c| {
                store::record_attempt(c, &claimed, &result, disable_after, |since| {
                    disabled_event(&claimed, since)
                })
            })
            .await;
        let label = match recorded {
            Ok(Recorded::Delivered) => "delivered",
            Ok(Recorded::Retrying) => "retrying",
            Ok(Recorded::Failed) => "failed",
            Ok(Recorded::Disabled) => {
                slog::warn!(self.log, "webhook subscription disabled after failing continuously";
                    "subscription.id" => d.subscription_id, "workspace.id" => d.workspace_id);
                self.relay.notify_one();
                "disabled"
            }
            Err(e) => {
                // The lease hands the delivery back: it is tried again, at least once.
                slog::warn!(self.log, "recording an attempt failed"; "delivery.id" => d.id, "error" => %e);
                return;
            }
        };
        metrics::counter!("webhook_deliveries_total", "result" => label).increment(1);
    }
}

fn failed(status: Option<u16>, latency_ms: u32, error: String) -> AttemptResult {
    AttemptResult { delivered: false, status, latency_ms, error: Some(error), retry_in: None }
}

/// The `webhook.disabled` event, for the outbox.
fn disabled_event(d: &Claimed, failing_since: chrono::DateTime<Utc>) -> OutboxEvent {
    let event = Envelope::new(
        crate::SERVICE,
        None,
        Utc::now(),
        WebhookDisabled {
            subscription_id: d.subscription_id,
            workspace_id: d.workspace_id,
            url: d.url.clone(),
            failing_since,
            reason: "every delivery attempt failed for the set time".into(),
        },
    );
    OutboxEvent {
        event_id: event.id,
        routing_key: WebhookDisabled::TYPE.to_string(),
        payload: String::from_utf8_lossy(&event.to_bytes()).into_owned(),
    }
}
