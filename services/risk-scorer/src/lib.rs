//! GhostLink risk scorer: consumes `link.created` / `link.updated`, scores each destination with
//! the domain's named rules ([`ghostlink_domain::risk`]) and the blocklist file, stores the
//! assessment (the latest per link), drops the link's cached copies so the redirect sees the new
//! level, and publishes `risk.scored`. Also the security exporter: assessments by level, rule
//! hits by rule, links by current level, blocklist size.
//!
//! The blocklist file is re-read whenever its modification time changes (checked before each
//! batch), so an edit takes effect without a restart. Handling is idempotent: a redelivered
//! event re-scores the same URL to the same result.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ghostlink_bus::{pack, Incoming, Outgoing, Publisher, Verdict};
use ghostlink_cache::RedisCache;
use ghostlink_config::blocklist::BlocklistFile;
use ghostlink_config::{ConfigError, RedisArgs, Validate};
use ghostlink_db::risk::RiskRow;
use ghostlink_db::Db;
use ghostlink_domain::risk::{assess_link, Blocklist, Thresholds};
use ghostlink_proto::{Envelope, Event, EventData, RiskReason, RiskScored};
use ghostlink_runtime::{Context, Handler, ServiceArgs, Spec, Task};
use ghostlink_web::deps;

const SERVICE: &str = "risk-scorer";

/// GhostLink risk scorer.
#[derive(Debug, Clone, Parser)]
#[command(name = "ghostlink-risk-scorer", version, about)]
pub struct Config {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    /// The blocklist file: one domain per line, `#` comments; re-read when it changes.
    #[arg(long, env = "RISK_BLOCKLIST", default_value = "ops/risk/blocklist.txt")]
    pub blocklist: PathBuf,
    /// Score from which a destination is `medium`.
    #[arg(long, env = "RISK_MEDIUM_THRESHOLD", default_value_t = 30)]
    pub medium_threshold: u32,
    /// Score from which a destination is `high` (interstitial on redirect).
    #[arg(long, env = "RISK_HIGH_THRESHOLD", default_value_t = 60)]
    pub high_threshold: u32,
}

impl Config {
    /// The scorer's own settings (the shared ones are the runtime's).
    fn validate(&self) -> Result<(), ConfigError> {
        self.redis.validate()?;
        ghostlink_config::blocklist::validate_path(&self.blocklist)?;
        if self.medium_threshold == 0
            || self.medium_threshold >= self.high_threshold
            || self.high_threshold > 100
        {
            return Err(ConfigError::new(
                "RISK_MEDIUM_THRESHOLD / RISK_HIGH_THRESHOLD",
                "need 0 < medium < high <= 100",
            ));
        }
        Ok(())
    }
}

/// The risk scorer on the consumer runtime.
pub type App = ghostlink_runtime::Service<Scorer>;

impl Handler for Scorer {
    type Config = Config;
    const SPEC: Spec = Spec::new(SERVICE, "127.0.0.1:9104", "consuming link events");

    fn service(config: &Config) -> &ServiceArgs {
        &config.service
    }

    fn build(config: Config, ctx: &Context) -> anyhow::Result<Self> {
        config.validate()?;
        let scorer = Scorer {
            db: ctx.db.clone(),
            redis: deps::invalidation_cache(&config.redis)?,
            publisher: ctx.publisher(),
            blocklist: BlocklistFile::new(&config.blocklist),
            thresholds: Thresholds { medium: config.medium_threshold, high: config.high_threshold },
            log: ctx.log.clone(),
        };
        metrics::gauge!("risk_blocklist_entries").set(scorer.blocklist.current().0.len() as f64);
        Ok(scorer)
    }

    fn background(self: &Arc<Self>, _ctx: &Context) -> Vec<Task> {
        let db = self.db.clone();
        vec![Task::every("levels", Duration::from_secs(30), move || sample_levels(db.clone()))]
    }

    async fn handle(&self, batch: Vec<Incoming>) -> Vec<Verdict> {
        let (blocklist, reloaded) = self.blocklist.current();
        if reloaded {
            metrics::gauge!("risk_blocklist_entries").set(blocklist.len() as f64);
            slog::info!(self.log, "blocklist loaded"; "entries" => blocklist.len(), "path" => %self.blocklist.path().display());
        }
        let mut verdicts = Vec::with_capacity(batch.len());
        for msg in batch {
            verdicts.push(self.handle_message(&msg.payload, &blocklist).await);
        }
        verdicts
    }

    async fn close(&self) {
        self.publisher.close().await;
    }
}

/// Scores the destinations of link events, stores and publishes the assessments.
pub struct Scorer {
    db: Db,
    redis: RedisCache,
    publisher: Publisher,
    blocklist: BlocklistFile,
    thresholds: Thresholds,
    log: slog::Logger,
}

impl Scorer {
    async fn handle_message(&self, payload: &[u8], blocklist: &Blocklist) -> Verdict {
        let mut scored = Vec::new();
        for event in Event::decode_lines(payload) {
            let (code, url, correlation_id) = match event {
                Ok(Event::LinkCreated(e)) => (e.data.code, e.data.url, e.correlation_id),
                Ok(Event::LinkUpdated(e)) => (e.data.code, e.data.url, e.correlation_id),
                Ok(_) => continue,
                Err(e) => {
                    slog::warn!(self.log, "undecodable event; dead-lettering"; "error" => %e);
                    return Verdict::Reject;
                }
            };
            // The link's rules are read from Postgres (the events carry the destination only):
            // a link is as risky as the worst place its rules can send a visitor.
            let read = retrying("risk_rules", || {
                let code = code.clone();
                self.db.run(move |c| ghostlink_db::links::get(c, &code))
            });
            let Some(link) = read.await else { return Verdict::Retry };
            let rule_urls: Vec<String> =
                link.map(|l| l.rules.into_iter().map(|r| r.url).collect()).unwrap_or_default();
            let rule_urls: Vec<&str> = rule_urls.iter().map(String::as_str).collect();
            let a = assess_link(&url, &rule_urls, blocklist, self.thresholds, None);
            let reasons: Vec<RiskReason> = a
                .reasons
                .iter()
                .map(|r| RiskReason { rule: r.rule.clone(), weight: r.weight, detail: r.detail.clone() })
                .collect();
            let row = RiskRow {
                code: code.clone(),
                url: url.clone(),
                score: a.score as i32,
                level: a.level,
                reasons: a.reasons.clone(),
                assessed_at: chrono::Utc::now(),
            };
            let stored = retrying("risk_upsert", || {
                let row = row.clone();
                self.db.run(move |c| ghostlink_db::risk::upsert(c, &row))
            });
            if stored.await.is_none() {
                return Verdict::Retry;
            }
            // The redirect caches a link's risk with the link: drop the copies.
            self.redis.invalidate(&code, &self.log).await;
            metrics::counter!("risk_assessments_total", "level" => a.level.as_str()).increment(1);
            for r in &a.reasons {
                metrics::counter!("risk_rule_hits_total", "rule" => r.rule.clone()).increment(1);
            }
            slog::info!(self.log, "destination scored"; "link.code" => &code, "risk.score" => a.score, "risk.level" => a.level.as_str());
            let env = Envelope::new(
                SERVICE,
                correlation_id,
                chrono::Utc::now(),
                RiskScored { code, url, score: a.score, level: a.level, reasons },
            );
            scored.push(Outgoing {
                routing_key: RiskScored::TYPE.to_string(),
                message_id: env.id.to_string(),
                payload: env.to_bytes(),
            });
        }
        match self.publisher.publish(&pack(&scored, 100)).await {
            Ok(()) => Verdict::Ack,
            Err(e) => {
                // The assessments are stored; scoring again on redelivery is harmless.
                slog::warn!(self.log, "publishing risk.scored failed; will retry"; "error" => %e);
                Verdict::Retry
            }
        }
    }
}

/// A database operation tried up to 8 times with backoff (counted in `db_errors_total{op}`):
/// an outage holds the message (unacknowledged) instead of burning its deliveries; `None` after
/// the last try, and the message is requeued — never dead-lettered for an outage.
async fn retrying<T, F, Fut>(op: &'static str, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ghostlink_db::DbError>>,
{
    let mut backoff = Duration::from_millis(100);
    for _ in 0..8 {
        if let Ok(v) = f().await {
            return Some(v);
        }
        metrics::counter!("db_errors_total", "op" => op).increment(1);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
    None
}

/// `risk_links_by_level{level}`; kept as it was while Postgres does not answer (the failure is
/// counted in `db_errors_total{op="risk_levels"}`).
async fn sample_levels(db: Db) {
    match db.run(ghostlink_db::risk::count_by_level).await {
        Ok(rows) => {
            for (level, n) in rows {
                metrics::gauge!("risk_links_by_level", "level" => level.as_str()).set(n as f64);
            }
        }
        Err(_) => metrics::counter!("db_errors_total", "op" => "risk_levels").increment(1),
    }
}
