//! The running GhostLink a drill works on, as the drill sees it: the shortener's API (links,
//! their health, findings), the redirect, the ops listeners' metrics, Prometheus's alerts, and
//! the database (how many clicks were stored, which links were checked or quarantined).
//!
//! Every database read goes through a one-connection pool made for it: the fault may have
//! broken every connection made before it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ghostlink_domain::HealthState;
use serde::Deserialize;

use crate::metrics::Scrape;
use crate::settings::DrillArgs;
use crate::traffic::{ClickAccount, Sample};
use crate::DrillError;

/// The system under drill.
pub struct System<'a> {
    pub args: &'a DrillArgs,
    /// Follows no redirects; 5 s per request.
    pub client: reqwest::Client,
    token: String,
    database_url: String,
}

#[derive(Deserialize)]
struct Created {
    code: String,
}

#[derive(Deserialize)]
struct Health {
    state: HealthState,
}

#[derive(Deserialize)]
struct Finding {
    last_seen: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Alerts {
    data: AlertList,
}

#[derive(Deserialize)]
struct AlertList {
    alerts: Vec<Alert>,
}

#[derive(Deserialize)]
struct Alert {
    labels: AlertLabels,
    state: String,
}

#[derive(Deserialize)]
struct AlertLabels {
    alertname: String,
    #[serde(default)]
    instance: String,
}

impl<'a> System<'a> {
    pub fn new(args: &'a DrillArgs, database_url: &str, token: &str) -> Result<Self, DrillError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .user_agent("ghostlink-simulate/1 (checks)")
            .pool_max_idle_per_host(64)
            .build()
            .map_err(DrillError::failed)?;
        Ok(System { args, client, token: token.to_string(), database_url: database_url.to_string() })
    }

    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    fn db(&self) -> ghostlink_db::Db {
        ghostlink_db::Db::new(&ghostlink_db::DbSettings {
            url: self.database_url.clone(),
            pool_size: 1,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        })
    }

    /// Creates `n` links through the shortener, the i-th to `url(i)`; returns their codes.
    pub async fn create_links(
        &self,
        n: usize,
        url: impl Fn(usize) -> String,
    ) -> Result<Vec<String>, DrillError> {
        let mut codes = Vec::with_capacity(n);
        for i in 0..n {
            let resp = self
                .client
                .post(format!("{}/api/v1/links", self.args.shortener_url))
                .bearer_auth(&self.token)
                .json(&serde_json::json!({ "url": url(i) }))
                .send()
                .await
                .map_err(|e| DrillError::Failed(format!("shortener unreachable: {e}")))?;
            let status = resp.status();
            let body = resp.text().await.unwrap_or_else(|e| format!("(body unreadable: {e})"));
            match serde_json::from_str::<Created>(&body) {
                Ok(c) if status.is_success() => codes.push(c.code),
                _ => return Err(DrillError::Failed(format!("creating a link failed: {status} {body}"))),
            }
        }
        Ok(codes)
    }

    /// The status `url` answers a GET from `agent` with; `None` for no answer.
    pub async fn status_of(&self, url: String, agent: &str) -> Option<u16> {
        self.client.get(url).header("User-Agent", agent).send().await.ok().map(|r| r.status().as_u16())
    }

    /// Requests every code four times: two replicas behind a round-robin proxy see each twice.
    pub async fn warm(&self, codes: &[String]) {
        for c in codes {
            for _ in 0..4 {
                // A miss only leaves the code colder; the checks see what that does.
                let _ = self
                    .status_of(format!("{}/{c}", self.args.redirect_url), "ghostlink-simulate/1 (warm-up)")
                    .await;
            }
        }
    }

    /// Waits (at most `limit`) until the risk scorer has scored every code: it drops a link's
    /// cached copies when it scores it, so "cached before the fault" means cached only after.
    pub async fn wait_scored(&self, codes: &[String], limit: Duration) {
        let t = Instant::now();
        let db = self.db();
        while t.elapsed() < limit {
            let cs = codes.to_vec();
            let scored = db
                .run(move |c| {
                    let mut n = 0;
                    for code in &cs {
                        n += usize::from(ghostlink_db::risk::get(c, code)?.is_some());
                    }
                    Ok(n)
                })
                .await
                .unwrap_or(0);
            if scored == codes.len() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        println!(
            "note: not every link was risk-scored within {} s (is the risk scorer running?)",
            limit.as_secs()
        );
    }

    /// The metrics of every listed ops listener, together (sums add replicas up; one that does
    /// not answer adds nothing).
    pub async fn metrics_of<'u>(&self, ops_urls: impl IntoIterator<Item = &'u str>) -> Scrape {
        let mut all = Scrape::default();
        for ops in ops_urls {
            let Ok(response) = self.client.get(format!("{ops}/metrics")).send().await else { continue };
            let Ok(text) = response.text().await else { continue };
            match Scrape::parse(&text) {
                Ok(s) => all.extend(s),
                Err(e) => println!("note: {ops}/metrics: {e}"),
            }
        }
        all
    }

    /// Every redirect replica's metrics.
    pub async fn redirect_metrics(&self) -> Scrape {
        self.metrics_of(self.args.redirect_ops_urls()).await
    }

    pub async fn canary_metrics(&self) -> Scrape {
        self.metrics_of([self.args.canary_ops_url.as_str()]).await
    }

    /// The status the shortener answers a link creation with now; `None` for no answer.
    pub async fn shortener_create_status(&self) -> Option<u16> {
        self.client
            .post(format!("{}/api/v1/links", self.args.shortener_url))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({"url": "https://example.com/simulate/during"}))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// Prints the alerts pending or firing now (with `--prometheus-url`).
    pub async fn print_alerts(&self) {
        let Some(prom) = &self.args.prometheus_url else {
            println!("alerts: pass --prometheus-url to list the alerts pending or firing now");
            return;
        };
        let alerts = match self.client.get(format!("{prom}/api/v1/alerts")).send().await {
            Ok(r) => r.json::<Alerts>().await,
            Err(e) => return println!("alerts: Prometheus unreachable ({e})"),
        };
        match alerts {
            Ok(a) => {
                println!("alerts now ({}):", a.data.alerts.len());
                for al in a.data.alerts {
                    println!("  {} {} {}", al.labels.alertname, al.state, al.labels.instance);
                }
            }
            Err(e) => println!("alerts: Prometheus answered something else ({e})"),
        }
    }

    /// A link's health as the shortener reports it; `None` when it cannot be read.
    pub async fn health_state(&self, code: &str) -> Option<HealthState> {
        let r = self
            .client
            .get(format!("{}/api/v1/links/{code}/health", self.args.shortener_url))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        r.json::<Health>().await.ok().map(|h| h.state)
    }

    /// Waits (at most `limit`, polling every second) until every code is in `want`; how long
    /// that took.
    pub async fn wait_states(
        &self,
        codes: &[String],
        want: HealthState,
        limit: Duration,
    ) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < limit {
            let mut all = true;
            for c in codes {
                all &= self.health_state(c).await == Some(want);
            }
            if all {
                return Some(t.elapsed());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        None
    }

    /// Whether ghost-probe has an enumeration finding last seen at or after `since`.
    pub async fn enumeration_seen_since(&self, since: DateTime<Utc>) -> bool {
        let Ok(r) = self
            .client
            .get(format!("{}/api/v1/findings?kind=enumeration", self.args.shortener_url))
            .bearer_auth(&self.token)
            .send()
            .await
        else {
            return false;
        };
        r.json::<Vec<Finding>>().await.is_ok_and(|fs| fs.iter().any(|f| f.last_seen >= since))
    }

    /// Waits until every request that made a click has it stored (or `--drain-secs` pass), then
    /// counts lost and duplicated ones by the Referer each carried. `None` when the database
    /// cannot be read.
    pub async fn account_clicks(&self, samples: &[Sample], tag: &str) -> Option<ClickAccount> {
        let t = Instant::now();
        let db = self.db();
        loop {
            let prefix = tag.to_string();
            let rows =
                db.run(move |c| ghostlink_db::clicks::count_by_referrer_prefix(c, &prefix)).await.ok()?;
            let account = ClickAccount::tally(samples, tag, &rows, t.elapsed().as_secs_f64());
            if account.lost == 0 || t.elapsed() >= Duration::from_secs(self.args.drain_secs) {
                return Some(account);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Links quarantined now (by anyone); `None` when the database cannot be read.
    pub async fn quarantined_count(&self) -> Option<i64> {
        self.db().run(ghostlink_db::health::quarantined_count).await.ok()
    }

    /// Every canary check stored since `since`, as (code, time), oldest first.
    pub async fn checks_since(&self, since: DateTime<Utc>) -> Option<Vec<(String, DateTime<Utc>)>> {
        self.db().run(move |c| ghostlink_db::health::checks_since(c, since)).await.ok()
    }
}
