//! GhostLink redirect service: the public hot path `GET /{code}` (and `HEAD`).
//!
//! The request path does a lookup (memory → Redis → Postgres, see [`lookup`]), decides with the
//! domain rules, answers, and queues a click event ([`clicks`], published to RabbitMQ off the
//! path, spooled to disk while the broker is down); it never waits on a click write, logs
//! nothing per request, and writes to Postgres only for the atomic counter of a `max_clicks`
//! link. Clients in the ghost-probe's deny set ([`deny`], an in-process copy refreshed every
//! second) get 429 before any lookup. [`App::build`] validates the config and binds both
//! listeners; [`App::run`] serves until the shutdown future resolves, then drains HTTP and
//! flushes queued clicks.

pub mod clicks;
pub mod config;
pub mod deny;
pub mod lookup;
pub mod pages;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::{middleware, web, HttpMessage, HttpRequest, HttpResponse};
use anyhow::Context;
use chrono::Utc;
use ghostlink_bus::{Publisher, Spool, Topology};
use ghostlink_cache::{CacheSettings, RedisCache};
use ghostlink_db::Db;
use ghostlink_domain::click_text;
use ghostlink_domain::forwarded::{address_key, TrustedProxies};
use ghostlink_domain::{code::is_plausible_code, hash_client, ClickOutcome, Decision, GoneReason};
use ghostlink_proto::ClickRecorded;
use ghostlink_web::{deps, ApiError, OpsServer};

pub use config::Config;

const SERVICE: &str = "redirect";

/// Shared state of the request path.
pub struct State {
    resolver: lookup::Resolver,
    db: Db,
    clicks: clicks::ClickSink,
    redirect_status: StatusCode,
    salt: String,
    trusted_proxies: TrustedProxies,
    referrer_policy: Option<pages::ReferrerPolicy>,
    outcomes: Outcomes,
    deny: Arc<deny::DenyList>,
}

/// `redirect_responses_total{outcome}`, one counter per [`ClickOutcome`] (registered up front,
/// so every outcome is exported from the start), counted where the answer is made: the label is
/// the outcome the click event carries.
struct Outcomes(Vec<metrics::Counter>);

impl Outcomes {
    fn new() -> Self {
        Self(
            ClickOutcome::ALL
                .iter()
                .map(|o| metrics::counter!("redirect_responses_total", "outcome" => o.as_str()))
                .collect(),
        )
    }

    fn count(&self, outcome: ClickOutcome) {
        // ALL lists every variant in declaration order, so the discriminant is the index.
        self.0[outcome as usize].increment(1);
    }
}

/// A built, bound, not yet running redirect service.
pub struct App {
    public: actix_web::dev::Server,
    ops: OpsServer,
    public_addr: SocketAddr,
    drain: tokio::task::JoinHandle<()>,
    watcher: tokio::task::JoinHandle<()>,
    deny_refresh: tokio::task::JoinHandle<()>,
    log: slog::Logger,
}

impl App {
    /// Validates `config`, binds the listeners (port 0 picks free ports) and prepares the
    /// click drain. Connects to nothing yet: Postgres and Redis are reached lazily, so the
    /// service starts (not ready) while they are down.
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let resolved = config.resolve()?;
        let log = ghostlink_telemetry::logger(SERVICE, config.log.log_level);
        let handle = ghostlink_telemetry::metrics_handle(SERVICE);
        // The hot path's queries are primary-key lookups and one counter UPDATE: a query still
        // running after 1 s is waiting on a lock or a sick server, and a 503 now beats a hung
        // request (measured with `ghostctl simulate slow-db`: 5 s client timeouts before).
        let db = deps::database(&config.database, Duration::from_secs(1));
        let redis = RedisCache::new(CacheSettings {
            url: config.redis.redis_url.clone(),
            timeout: config.redis.timeout(),
            key_prefix: config.redis.redis_key_prefix.clone(),
            pool_size: 64,
            ttl: Duration::from_secs(config.redis_ttl_secs),
            negative_ttl: Duration::from_secs(2),
            breaker_open: Duration::from_secs(1),
        })
        .context("building the Redis pool")?;
        let memory = lookup::memory(
            config.cache_capacity,
            lookup::Lifetimes {
                short: config.cache_ttl(),
                long: Duration::from_secs(config.cache_long_ttl_secs),
            },
        );
        let freshness = Arc::new(lookup::Freshness::default());
        let watcher = tokio::spawn(lookup::watch_invalidations(
            memory.clone(),
            freshness.clone(),
            redis.clone(),
            log.clone(),
        ));
        let spool = Spool::open(&config.spool_dir, config.spool_max_bytes).map_err(|e| match e {
            ghostlink_bus::SpoolError::Locked(_) => anyhow::Error::new(ghostlink_config::ConfigError::new(
                "SPOOL_DIR (--spool-dir)",
                e.to_string(),
            )),
            other => anyhow::Error::new(other)
                .context(format!("opening the spool in {}", config.spool_dir.display())),
        })?;
        let publisher = Arc::new(Publisher::new(
            config.amqp.amqp_url.clone(),
            Topology::new(config.amqp.bus_prefix.clone()),
        ));
        let deny = Arc::new(deny::DenyList::default());
        let deny_refresh = tokio::spawn(deny::refresh(deny.clone(), redis.clone(), log.clone()));
        let (sink, rx) = clicks::channel(config.click_queue_capacity);
        let drain = tokio::spawn(clicks::publish_loop(
            rx,
            publisher.clone(),
            spool,
            config.click_batch_size,
            log.clone(),
        ));

        let state = Arc::new(State {
            resolver: lookup::Resolver::new(
                memory,
                freshness,
                config.cache_long_ttl_secs > 0,
                redis.clone(),
                db.clone(),
                config.scan_budget(),
            ),
            db: db.clone(),
            clicks: sink.clone(),
            redirect_status: StatusCode::from_u16(config.redirect_status).unwrap_or(StatusCode::FOUND),
            salt: resolved.click_salt.clone(),
            trusted_proxies: resolved.trusted_proxies.clone(),
            referrer_policy: resolved.referrer_policy,
            outcomes: Outcomes::new(),
            deny,
        });

        let listener =
            TcpListener::bind(resolved.public).with_context(|| format!("binding {}", resolved.public))?;
        let public_addr = listener.local_addr()?;
        let data = web::Data::from(state);
        let mut server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .wrap(middleware::from_fn(ghostlink_web::observe))
                .service(
                    web::resource("/{code}")
                        .route(web::get().to(follow))
                        .route(web::head().to(follow))
                        .default_service(web::to(method_not_allowed)),
                )
                .default_service(web::to(not_found))
        })
        .disable_signals()
        .shutdown_timeout(10)
        .backlog(2048);
        if let Some(w) = config.http_workers {
            server = server.workers(w);
        }
        let public = server.listen(listener)?.run();

        let ops = OpsServer::bind(
            resolved.ops,
            SERVICE,
            handle,
            vec![
                deps::postgres_check(db.clone()),
                deps::redis_check(redis.clone()),
                deps::publisher_check(publisher, "click events go to the spool"),
            ],
            vec![
                deps::pool_sampler(db.clone()),
                Arc::new(move || metrics::gauge!("clicks_queue_depth").set(sink.depth() as f64)),
            ],
        )
        .with_context(|| format!("binding ops listener {}", resolved.ops))?;
        if resolved.click_salt == config::DEV_CLICK_SALT {
            slog::warn!(log, "CLICK_SALT is the published development salt (--dev); never in production");
        }
        slog::info!(log, "redirect listening"; "public" => %public_addr, "ops" => %ops.addr);
        Ok(Self { public, ops, public_addr, drain, watcher, deny_refresh, log })
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.addr
    }

    /// Serves until `shutdown` resolves, then stops accepting, drains in-flight requests and
    /// flushes queued clicks.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let public_handle = self.public.handle();
        let ops_handle = self.ops.server.handle();
        let public = tokio::spawn(self.public);
        let ops = tokio::spawn(self.ops.server);
        shutdown.await;
        slog::info!(self.log, "shutting down: draining requests");
        public_handle.stop(true).await;
        ops_handle.stop(true).await;
        let _ = public.await;
        let _ = ops.await;
        self.watcher.abort();
        self.deny_refresh.abort();
        // Every sender lived in the servers' app data; with them gone the drain flushes and ends.
        if tokio::time::timeout(Duration::from_secs(30), self.drain).await.is_err() {
            slog::error!(self.log, "click publisher did not finish in 30s");
        }
        slog::info!(self.log, "stopped");
        Ok(())
    }
}

/// A header's value as storable text: decoded lossily (a browser may send UTF-8 or Latin-1
/// bytes) and capped, never dropped, so a non-ASCII User-Agent is still that user agent.
fn header_text(req: &HttpRequest, name: actix_web::http::header::HeaderName, max: usize) -> Option<String> {
    req.headers().get(name).map(|v| click_text::storable(v.as_bytes(), max))
}

async fn follow(req: HttpRequest, path: web::Path<String>, state: web::Data<State>) -> HttpResponse {
    let code = path.into_inner();
    let is_head = req.method() == Method::HEAD;
    let user_agent = header_text(&req, actix_web::http::header::USER_AGENT, click_text::MAX_USER_AGENT_BYTES);
    let bot = ghostlink_domain::bot::is_bot(is_head, user_agent.as_deref());
    // The client by its two keys, hashed once per request: its address and user agent, and its
    // address alone (an IPv6 address by its /64), which a client rotating user agents keeps.
    let addr = ghostlink_web::client_ip(&req, &state.trusted_proxies);
    let client_hash =
        hash_client(&state.salt, &format!("{addr}\u{0}{}", user_agent.as_deref().unwrap_or("")));
    let address_hash = hash_client(&state.salt, &address_key(addr));
    if let Some(secs) = state.deny.retry_after(&[&client_hash, &address_hash], Utc::now().timestamp_millis())
    {
        // Denied by the ghost-probe (enforce mode): counted, no click event.
        state.outcomes.count(ClickOutcome::Denied);
        let err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "denied",
            "too many suspicious requests from this client; try again later",
        )
        .with_retry_after(secs);
        return pages::error(&req, err, "Too many suspicious requests from your address; try again later.");
    }
    let (outcome, resp) = answer(&req, &code, &address_hash, &state, bot).await;
    state.outcomes.count(outcome);
    let method = if is_head { "HEAD" } else { "GET" };
    state.clicks.record(clicks::ClickEvent {
        id: uuid::Uuid::now_v7(),
        at: Utc::now(),
        request_id: req.extensions().get::<ghostlink_web::RequestId>().map(|r| r.0.clone()),
        data: ClickRecorded {
            code: click_text::storable_str(&code, click_text::MAX_CODE_BYTES),
            outcome,
            method: method.to_owned(),
            user_agent,
            referrer: header_text(&req, actix_web::http::header::REFERER, click_text::MAX_REFERRER_BYTES),
            client_hash,
            bot,
            address_hash: Some(address_hash),
        },
    });
    resp
}

async fn answer(
    req: &HttpRequest,
    code: &str,
    address: &str,
    state: &State,
    bot: bool,
) -> (ClickOutcome, HttpResponse) {
    if !is_plausible_code(code) {
        return not_found_link(req);
    }
    let found = match state.resolver.resolve(code, address).await {
        Ok(f) => f,
        Err(lookup::NotAsked::Unavailable) => return unavailable(req),
        Err(lookup::NotAsked::OverScanBudget { retry_after_secs }) => {
            let err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "scan_limited",
                "too many requests for codes that do not exist from this address; try again later",
            )
            .with_retry_after(retry_after_secs);
            let page =
                pages::error(req, err, "Too many requests for links that do not exist; try again later.");
            return (ClickOutcome::ScanLimited, page);
        }
    };
    let Some(link) = found else { return not_found_link(req) };
    match link.decide(Utc::now()) {
        Decision::Redirect { counted } => {
            if counted && bot {
                // Bots (link previews, crawlers, HEADs) never use up a limited link; they get a
                // page without the destination instead.
                return (ClickOutcome::BotPreview, pages::bot_preview());
            }
            if counted {
                let owned = code.to_owned();
                match state.db.run(move |c| ghostlink_db::links::take_click(c, &owned)).await {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        state.resolver.forget(code);
                        return gone(req, GoneReason::UsedUp);
                    }
                    Err(_) => {
                        metrics::counter!("db_errors_total", "op" => "take_click").increment(1);
                        return unavailable(req);
                    }
                }
            }
            (ClickOutcome::Redirect, pages::redirect(state.redirect_status, &link.url, state.referrer_policy))
        }
        Decision::Quarantined => {
            (ClickOutcome::Quarantined, pages::quarantined(link.status_since, &link.url))
        }
        Decision::Gone(reason) => gone(req, reason),
        Decision::Interstitial => {
            (ClickOutcome::Interstitial, pages::interstitial(&link.url, &link.risk_reasons))
        }
        Decision::Blocked => {
            let err = ApiError::new(
                StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
                "blocked_destination",
                "this link's destination is blocked",
            );
            let page = pages::error(req, err, "This link's destination is blocked and will not be opened.");
            (ClickOutcome::Blocked, page)
        }
        Decision::Unsafe => {
            let err = ApiError::new(
                StatusCode::GONE,
                "unsafe_destination",
                "this link's destination is not allowed",
            );
            (ClickOutcome::Unsafe, pages::error(req, err, "This link's destination is not allowed."))
        }
    }
}

fn not_found_link(req: &HttpRequest) -> (ClickOutcome, HttpResponse) {
    let page = pages::error(req, ApiError::not_found("no link with this code"), "No link with this code.");
    (ClickOutcome::NotFound, page)
}

fn gone(req: &HttpRequest, reason: GoneReason) -> (ClickOutcome, HttpResponse) {
    let text = match reason {
        GoneReason::Disabled => "This link has been disabled.",
        GoneReason::Deleted => "This link has been deleted.",
        GoneReason::Expired => "This link has expired.",
        GoneReason::UsedUp => "This link has been used the maximum number of times.",
    };
    let err = ApiError::new(StatusCode::GONE, "gone", format!("link is gone: {reason}"));
    (ClickOutcome::Gone, pages::error(req, err, text))
}

fn unavailable(req: &HttpRequest) -> (ClickOutcome, HttpResponse) {
    let page = pages::error(
        req,
        ApiError::unavailable("link storage is unavailable; try again shortly"),
        "Temporarily unavailable; try again shortly.",
    );
    (ClickOutcome::Unavailable, page)
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    pages::error(
        &req,
        ApiError::not_found(format!("no route for {} {}", req.method(), req.path())),
        "Not found.",
    )
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let err = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed here; use GET or HEAD", req.method()),
    );
    let mut resp = pages::error(&req, err, "Method not allowed.");
    resp.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static("GET, HEAD"),
    );
    resp
}
