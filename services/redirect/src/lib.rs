//! GhostLink redirect service: the public hot path `GET /{code}` (and `HEAD`, and the `POST` of
//! a password-protected link's form, [`password`]).
//!
//! The request path does a lookup (memory → Redis → Postgres, see [`lookup`]), decides with the
//! domain rules, picks the destination with the link's redirect rules and query options
//! ([`destination`], in memory from the cached snapshot), answers, and queues a click event ([`clicks`], published to RabbitMQ off the
//! path, spooled to disk while the broker is down); it never waits on a click write, logs
//! nothing per request, and writes to Postgres only for the atomic counter of a `max_clicks`
//! link. Clients in the ghost-probe's deny set ([`deny`], an in-process copy refreshed every
//! second) get 429 before any lookup. [`App::build`] validates the config and binds both
//! listeners; [`App::run`] serves until the shutdown future resolves, then drains HTTP and
//! flushes queued clicks.

pub mod clicks;
pub mod config;
pub mod deny;
pub mod destination;
pub mod domains;
pub mod geoip;
pub mod lookup;
pub mod pages;
pub mod password;
mod refresh;

use std::future::Future;
use std::net::{IpAddr, SocketAddr, TcpListener};
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
use ghostlink_web::{deps, ApiError, OpsServer, WatchedDir};

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
    geoip: Option<Arc<geoip::GeoIp>>,
    clients: destination::ClientCache,
    gate: password::Gate,
    query_fallbacks: metrics::Counter,
    domains: Arc<domains::Domains>,
    /// `redirect_unknown_hosts_total`: requests for a host that is no domain of ours.
    unknown_hosts: metrics::Counter,
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
    domains_refresh: tokio::task::JoinHandle<()>,
    log: slog::Logger,
}

impl App {
    /// Validates `config`, binds the listeners (port 0 picks free ports) and prepares the
    /// click drain. Connects to nothing yet: Postgres and Redis are reached lazily, so the
    /// service starts (not ready) while they are down.
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let resolved = config.resolve()?;
        let log = ghostlink_telemetry::logger(SERVICE, config.log.log_level);
        // Low by default: the redirect answers most of the traffic (OTEL_TRACES_SAMPLER_ARG).
        ghostlink_telemetry::trace::install(&config.trace, SERVICE, 0.01, &log)
            .context("setting up tracing")?;
        // The user-agent parser's tables, built now rather than by the first request a rule
        // reads a user agent for.
        ghostlink_domain::rules::warm_up();
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
        let domains = Arc::new(domains::Domains::new(resolved.default_hosts.clone()));
        let domains_refresh = tokio::spawn(domains::refresh(domains.clone(), db.clone(), log.clone()));
        let (sink, rx) = clicks::channel(config.click_queue_capacity);
        let drain = tokio::spawn(clicks::publish_loop(
            rx,
            publisher.clone(),
            spool,
            config.click_batch_size,
            resolved.geoip.clone(),
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
            domains,
            geoip: resolved.geoip.clone(),
            clients: destination::ClientCache::new(),
            gate: password::Gate::new(
                &resolved.click_salt,
                redis.clone(),
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            query_fallbacks: metrics::counter!("redirect_query_fallbacks_total"),
            unknown_hosts: metrics::counter!("redirect_unknown_hosts_total"),
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
                    web::resource("/")
                        .route(web::get().to(root))
                        .route(web::head().to(root))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/{code}")
                        .route(web::get().to(follow))
                        .route(web::head().to(follow))
                        .route(web::post().to(unlock))
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
            vec![
                WatchedDir::new("data", &config.listen.data_dir),
                WatchedDir::new("spool", &config.spool_dir),
            ],
        )
        .with_context(|| format!("binding ops listener {}", resolved.ops))?;
        if resolved.click_salt == config::DEV_CLICK_SALT {
            slog::warn!(log, "CLICK_SALT is the published development salt (--dev); never in production");
        }
        slog::info!(log, "redirect listening"; "public" => %public_addr, "ops" => %ops.addr,
            "geoip" => resolved.geoip.as_ref().map(|g| format!("{g:?}")));
        Ok(Self { public, ops, public_addr, drain, watcher, deny_refresh, domains_refresh, log })
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
        self.domains_refresh.abort();
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
    handle(req, path.into_inner(), state, None).await
}

/// `POST /{code}`: a password sent with a password-protected link's form.
async fn unlock(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<State>,
    form: web::Payload,
) -> HttpResponse {
    handle(req, path.into_inner(), state, Some(form)).await
}

/// Who asked, as the answer needs it.
struct Client<'a> {
    addr: IpAddr,
    /// The hashed address key (the scan budget's and the password limit's unit).
    address_hash: &'a str,
    user_agent: Option<&'a str>,
    bot: bool,
}

/// What a request was answered, and what its click event says of it.
struct Answer {
    outcome: ClickOutcome,
    /// The rule that chose the destination of a redirect.
    rule: Option<u32>,
    resp: HttpResponse,
    /// `false`: not a click (a `POST` to anything but a password link).
    recorded: bool,
    /// The answer is a password link's (the only ones a `POST` is for).
    posted_to_password: bool,
}

impl From<(ClickOutcome, HttpResponse)> for Answer {
    fn from((outcome, resp): (ClickOutcome, HttpResponse)) -> Self {
        Self { outcome, rule: None, resp, recorded: true, posted_to_password: false }
    }
}

async fn handle(
    req: HttpRequest,
    code: String,
    state: web::Data<State>,
    form: Option<web::Payload>,
) -> HttpResponse {
    let route = state.domains.route(&req);
    match route {
        domains::Route::Unknown => return unknown_host(&state),
        domains::Route::NotLoaded => return unavailable(&req).1,
        _ => {}
    }
    let method = if form.is_some() {
        "POST"
    } else if req.method() == Method::HEAD {
        "HEAD"
    } else {
        "GET"
    };
    let user_agent = header_text(&req, actix_web::http::header::USER_AGENT, click_text::MAX_USER_AGENT_BYTES);
    let bot = ghostlink_domain::bot::is_bot(method == "HEAD", user_agent.as_deref());
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
    let client = Client { addr, address_hash: &address_hash, user_agent: user_agent.as_deref(), bot };
    let posted = form.is_some();
    // The link's key on the request's domain; a path that is no code at all is no link anywhere.
    let key = is_plausible_code(&code).then(|| route.key(&code));
    let mut answer = match &key {
        Some(key) => answer(&req, key, &client, &state, form).await,
        None => not_found_link(&req).into(),
    };
    if answer.outcome == ClickOutcome::NotFound {
        if let Some(url) = route.not_found_url() {
            answer.resp = pages::redirect(StatusCode::FOUND, url, state.referrer_policy);
        }
    }
    if posted && !answer.posted_to_password {
        // Only a password link's form is posted to: any other POST is the 405 it always was
        // (no click), whether the code exists or not.
        answer = Answer { recorded: false, ..(ClickOutcome::Redirect, method_not_allowed_page(&req)).into() };
    }
    if !answer.recorded {
        return answer.resp;
    }
    state.outcomes.count(answer.outcome);
    state.clicks.record(clicks::ClickEvent {
        id: uuid::Uuid::now_v7(),
        at: Utc::now(),
        request_id: req.extensions().get::<ghostlink_web::RequestId>().map(|r| r.0.clone()),
        data: ClickRecorded {
            code: click_text::storable_str(key.as_deref().unwrap_or(&code), click_text::MAX_CODE_BYTES),
            outcome: answer.outcome,
            method: method.to_owned(),
            user_agent,
            referrer: header_text(&req, actix_web::http::header::REFERER, click_text::MAX_REFERRER_BYTES),
            client_hash,
            bot,
            address_hash: Some(address_hash),
            rule: answer.rule,
            country: None,
            region: None,
        },
        client_addr: Some(addr),
    });
    answer.resp
}

/// Whether a decision's answer would reveal the destination, so that a password must come
/// first: the redirect, and the pages that name it.
fn reveals_destination(decision: &Decision) -> bool {
    matches!(decision, Decision::Redirect { .. } | Decision::Quarantined | Decision::Interstitial)
}

async fn answer(
    req: &HttpRequest,
    code: &str,
    client: &Client<'_>,
    state: &State,
    form: Option<web::Payload>,
) -> Answer {
    let found = match state.resolver.resolve(code, client.address_hash).await {
        Ok(f) => f,
        Err(lookup::NotAsked::Unavailable) => return unavailable(req).into(),
        Err(lookup::NotAsked::OverScanBudget { retry_after_secs }) => {
            let err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "scan_limited",
                "too many requests for codes that do not exist from this address; try again later",
            )
            .with_retry_after(retry_after_secs);
            let page =
                pages::error(req, err, "Too many requests for links that do not exist; try again later.");
            return (ClickOutcome::ScanLimited, page).into();
        }
    };
    let Some(link) = found else { return not_found_link(req).into() };
    if form.is_some() && link.password_hash.is_none() {
        // Not for this link: the caller answers 405 (before any click counter is touched).
        return not_found_link(req).into();
    }
    let mut answer = decided(req, code, &link, client, state, form).await;
    answer.posted_to_password = link.password_hash.is_some();
    answer
}

/// The answer for a found link.
async fn decided(
    req: &HttpRequest,
    code: &str,
    link: &ghostlink_domain::LinkSnapshot,
    client: &Client<'_>,
    state: &State,
    form: Option<web::Payload>,
) -> Answer {
    let now = Utc::now();
    let decision = link.decide(now);
    // A password link's destination, and the pages naming it, wait for the password (or a
    // cookie from having given it); bots only ever see the form.
    let mut unlocked: Option<String> = None;
    if let Some(hash) = link.password_hash.as_deref().filter(|_| reveals_destination(&decision)) {
        match password_gate(req, code, hash, client, state, form, now).await {
            Ok(cookie) => unlocked = cookie,
            Err(answered) => return answered.into(),
        }
    }
    let mut answer: Answer = match decision {
        Decision::Redirect { counted } => {
            return redirect(req, code, link, client, state, counted, unlocked, now).await
        }
        Decision::Quarantined => {
            (ClickOutcome::Quarantined, pages::quarantined(link.status_since, &link.url)).into()
        }
        Decision::Gone(reason) => gone(req, reason).into(),
        Decision::Interstitial => {
            (ClickOutcome::Interstitial, pages::interstitial(&link.url, &link.risk_reasons)).into()
        }
        Decision::Blocked => {
            let err = ApiError::new(
                StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
                "blocked_destination",
                "this link's destination is blocked",
            );
            let page = pages::error(req, err, "This link's destination is blocked and will not be opened.");
            (ClickOutcome::Blocked, page).into()
        }
        Decision::Unsafe => {
            let err = ApiError::new(
                StatusCode::GONE,
                "unsafe_destination",
                "this link's destination is not allowed",
            );
            (ClickOutcome::Unsafe, pages::error(req, err, "This link's destination is not allowed.")).into()
        }
    };
    with_cookie(&mut answer.resp, unlocked);
    answer
}

/// The `Redirect` decision's answer: the click counter of a limited link, then the destination
/// the rules and query options give.
#[allow(clippy::too_many_arguments)]
async fn redirect(
    req: &HttpRequest,
    code: &str,
    link: &ghostlink_domain::LinkSnapshot,
    client: &Client<'_>,
    state: &State,
    counted: bool,
    unlocked: Option<String>,
    now: chrono::DateTime<Utc>,
) -> Answer {
    if counted && client.bot {
        // Bots (link previews, crawlers, HEADs) never use up a limited link; they get a
        // page without the destination instead.
        return (ClickOutcome::BotPreview, pages::bot_preview()).into();
    }
    if counted {
        let owned = code.to_owned();
        match state.db.run(move |c| ghostlink_db::links::take_click(c, &owned)).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                state.resolver.forget(code);
                return gone(req, GoneReason::UsedUp).into();
            }
            Err(_) => {
                metrics::counter!("db_errors_total", "op" => "take_click").increment(1);
                return unavailable(req).into();
            }
        }
    }
    let request = destination::Request { req, user_agent: client.user_agent, client: client.addr, now };
    let chosen =
        destination::choose(link, &request, state.geoip.as_deref(), &state.clients, &state.query_fallbacks);
    if ghostlink_domain::safe_location(&chosen.url).is_none() {
        let err =
            ApiError::new(StatusCode::GONE, "unsafe_destination", "this link's destination is not allowed");
        return (ClickOutcome::Unsafe, pages::error(req, err, "This link's destination is not allowed."))
            .into();
    }
    // A password just given is answered 303 (the form's POST becomes a GET of the destination).
    let status = if unlocked.is_some() { StatusCode::SEE_OTHER } else { state.redirect_status };
    let mut resp = pages::redirect(status, &chosen.url, state.referrer_policy);
    with_cookie(&mut resp, unlocked);
    Answer { rule: chosen.rule, ..(ClickOutcome::Redirect, resp).into() }
}

/// The password gate of a link with `hash`: `Ok` to go on (with the unlock cookie to set when
/// the password was just given), `Err` with the answer instead (the form, a refusal).
async fn password_gate(
    req: &HttpRequest,
    code: &str,
    hash: &str,
    client: &Client<'_>,
    state: &State,
    form: Option<web::Payload>,
    now: chrono::DateTime<Utc>,
) -> Result<Option<String>, (ClickOutcome, HttpResponse)> {
    use pages::PasswordPrompt;
    let asked = |prompt| (ClickOutcome::PasswordRequired, pages::password_form(req, prompt));
    if client.bot {
        // Not verified, not counted: a preview or crawler never gets past the form.
        return Err(asked(PasswordPrompt::Ask));
    }
    let Some(form) = form else {
        return if state.gate.unlocked(req, code, hash, now.timestamp()) {
            Ok(None)
        } else {
            Err(asked(PasswordPrompt::Ask))
        };
    };
    let password = match password::read_password(req, form).await {
        Ok(p) => p,
        Err(e) => return Err((ClickOutcome::PasswordRequired, form_refused(req, e))),
    };
    match state.gate.attempt(client.address_hash, code, hash, password).await {
        password::Attempt::Right => {
            let https = password::over_https(req, &state.trusted_proxies);
            Ok(Some(state.gate.cookie(code, hash, now.timestamp(), https)))
        }
        password::Attempt::Wrong => Err(asked(PasswordPrompt::Wrong)),
        password::Attempt::Limited { retry_after_secs } => {
            let err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_passwords",
                "too many wrong passwords for this link from this address; try again later",
            )
            .with_retry_after(retry_after_secs);
            let page = pages::error(req, err, "Too many wrong passwords; try again later.");
            Err((ClickOutcome::PasswordRequired, page))
        }
        password::Attempt::Unavailable => {
            let err = ApiError::unavailable("passwords cannot be checked right now; try again shortly");
            Err((
                ClickOutcome::Unavailable,
                pages::error(req, err, "Temporarily unavailable; try again shortly."),
            ))
        }
    }
}

fn form_refused(req: &HttpRequest, e: password::FormError) -> HttpResponse {
    use password::FormError;
    let (status, code, text) = match e {
        FormError::MediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the password as application/x-www-form-urlencoded",
        ),
        FormError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the form is too large"),
        FormError::Slow => (StatusCode::REQUEST_TIMEOUT, "body_timeout", "the form was not received in time"),
        FormError::NoPassword => (StatusCode::BAD_REQUEST, "no_password", "the form has no password"),
    };
    pages::error(req, ApiError::new(status, code, text), text)
}

/// Sets the unlock cookie, when there is one, on an answer.
fn with_cookie(resp: &mut HttpResponse, cookie: Option<String>) {
    if let Some((name, value)) = cookie.and_then(password::set_cookie) {
        resp.headers_mut().insert(name, value);
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

/// A `Host` that is neither a default host nor a custom domain: a bare 404 that names nothing
/// (no link, no domain, no page of ours), and no click.
fn unknown_host(state: &State) -> HttpResponse {
    state.unknown_hosts.increment(1);
    HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("Not found.\n")
}

/// `GET /`: a custom domain's root redirect, when it has one.
async fn root(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    match state.domains.route(&req) {
        domains::Route::Unknown => unknown_host(&state),
        domains::Route::NotLoaded => unavailable(&req).1,
        domains::Route::Custom(d) if d.root_url.is_some() => pages::redirect(
            StatusCode::FOUND,
            d.root_url.as_deref().unwrap_or_default(),
            state.referrer_policy,
        ),
        _ => not_found(req).await,
    }
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    pages::error(
        &req,
        ApiError::not_found(format!("no route for {} {}", req.method(), req.path())),
        "Not found.",
    )
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    method_not_allowed_page(&req)
}

fn method_not_allowed_page(req: &HttpRequest) -> HttpResponse {
    let err = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed here; use GET or HEAD", req.method()),
    );
    let mut resp = pages::error(req, err, "Method not allowed.");
    resp.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static("GET, HEAD"),
    );
    resp
}
