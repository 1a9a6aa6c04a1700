//! GhostLink shortener service: the public create API and the admin API, described by an
//! OpenAPI document generated from the handlers (`/api/v1/openapi.json`).
//!
//! Every route but the OpenAPI document authenticates a bearer token ([`auth`]) before anything
//! else, its body included, is read; `user` tokens create links and see their own, `admin`
//! tokens see and change all. Bodies are JSON only, unencoded, at most 16 KiB, read within
//! `BODY_READ_TIMEOUT_MS` ([`ghostlink_web::JsonBody`]); responses are never compressed. A
//! change invalidates the link's Redis entry so the redirect sees it within a second. [`App::build`] validates the config and binds the
//! listeners; [`App::run`] serves until the shutdown future resolves.

pub mod accounts;
pub mod admin;
pub mod analytics;
pub mod api;
pub mod auth;
pub mod config;
pub mod domains;
pub mod findings;
pub mod health;
pub mod live;
mod paged;
pub mod qr;
mod routes;
pub mod transfer;
pub mod webhooks;
pub mod workspace;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{middleware, web, HttpResponse};
use anyhow::Context;
use ghostlink_cache::RedisCache;
use ghostlink_db::{Db, DbError};
use ghostlink_web::{deps, AccessLog, ApiError, OpsServer, WatchedDir};
use utoipa::OpenApi;

pub use config::Config;

const SERVICE: &str = "shortener";

/// The largest request body accepted, in bytes (the OpenAPI document says 16 KiB).
const BODY_LIMIT: usize = 16 * 1024;

/// Maps a database error to its answer: unavailable → 503, anything else → 500 (logged by
/// the access log as a failed request).
pub fn db_error(e: DbError) -> ApiError {
    match e {
        DbError::Unavailable(_) => ApiError::unavailable("the database is unavailable; try again shortly"),
        DbError::Conflict(m) => ApiError::conflict("conflict", m),
        DbError::Query(_) | DbError::Refused { .. } => {
            metrics::counter!("db_errors_total", "op" => "query").increment(1);
            ApiError::internal()
        }
    }
}

/// Maps a database error to its answer as [`db_error`] does, but a unique violation to 409
/// `code` with `message` (what the caller chose is taken), saying nothing of who has it.
pub fn conflict_or(code: &'static str, message: &'static str) -> impl Fn(DbError) -> ApiError {
    move |e| match e {
        DbError::Conflict(_) => ApiError::conflict(code, message),
        e => db_error(e),
    }
}

/// State shared by the handlers.
pub struct Shared {
    pub db: Db,
    pub redis: RedisCache,
    pub base_url: String,
    pub log: slog::Logger,
    /// Wakes the outbox relay after a write.
    pub relay: Arc<tokio::sync::Notify>,
    /// Destinations refused at creation (the risk blocklist), when configured.
    pub blocklist: Option<ghostlink_config::blocklist::BlocklistFile>,
    /// The replica's live click feed (`live`).
    pub live: Arc<live::Hub>,
}

impl Shared {
    /// Drops a changed link's cached copies the way every service does
    /// (`ghostlink_cache::RedisCache::invalidate`: delete, fence, publish; retried once, counted,
    /// logged). The fence (`ghostlink_cache::FILL_FENCE`) stops a redirect that read the old row
    /// just before the change committed from writing it back to Redis just after.
    pub async fn invalidate(&self, code: &str) {
        self.redis.invalidate(code, &self.log).await;
    }
}

/// The OpenAPI description of the public and admin API.
#[derive(OpenApi)]
#[openapi(
    info(title = "GhostLink API", description = "Create and manage short links."),
    paths(
        api::create, api::get, api::list, api::update, api::delete, api::revisions, api::risk, qr::qr,
        analytics::link_stats, analytics::workspace_stats, analytics::domain_orphans, analytics::clicks_csv,
        health::health,
        accounts::sign_in, accounts::sign_out, accounts::sign_out_everywhere, accounts::invite,
        accounts::accept_invitation, accounts::reset_password,
        workspace::show, workspace::members, workspace::add_member, workspace::change_member,
        workspace::remove_member, workspace::keys, workspace::create_key, workspace::revoke_key,
        workspace::tags, workspace::rename_tag, workspace::delete_tag,
        domains::list, domains::add, domains::update, domains::remove,
        transfer::export, transfer::import,
        webhooks::list, webhooks::create, webhooks::get, webhooks::update, webhooks::delete,
        webhooks::deliveries, webhooks::test,
        live::link, live::workspace
    ),
    components(schemas(
        api::CreateLinkRequest, api::UpdateLinkRequest, api::LinkView, api::LinkPage, api::ErrorBody, api::ErrorDetail,
        analytics::StatsView, analytics::PointView, analytics::BreakdownView, analytics::SliceView,
        analytics::OrphanReportView, analytics::OrphanCodeView, api::RiskView, api::RiskReasonView,
        api::RevisionView,
        workspace::WorkspaceView, workspace::MemberView, workspace::KeyView, workspace::NewKeyView,
        workspace::NewMemberRequest, workspace::MemberChangeRequest, workspace::NewKeyRequest,
        workspace::TagRenameRequest, workspace::TagView,
        domains::DomainView, domains::NewDomainRequest, domains::DomainChangeRequest,
        health::HealthView, health::CheckView,
        accounts::SignInRequest, accounts::SessionView, accounts::InvitationRequest, accounts::InvitationView,
        accounts::AcceptInvitationRequest, accounts::ResetPasswordRequest, accounts::RevokedView,
        transfer::ExportLink, transfer::ImportReport, transfer::ImportRowReport,
        webhooks::WebhookView, webhooks::NewWebhookRequest, webhooks::WebhookChangeRequest,
        webhooks::DeliveryView, webhooks::AttemptView, webhooks::TestEventView,
        live::LiveClick
    )),
    modifiers(&BearerAuth, &Throttled, &Refusals)
)]
pub struct ApiDoc;

/// Every authenticated operation may be refused with 429 before its handler runs (the token's
/// rate, or the client's failed authentications): documented here, from the `security` each
/// operation declares, so that no route can leave it out.
pub(crate) struct Throttled;

impl utoipa::Modify for Throttled {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, ResponseBuilder, Type};
        let response = ResponseBuilder::new()
            .description(
                "Rate limited: too many requests for this token (`rate_limited`), or too many \
                 failed authentications from this address (`too_many_auth_failures`)",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
                    .description(Some("Seconds to wait"))
                    .build(),
            )
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in ops.into_iter().flatten() {
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    op.responses.responses.entry("429".into()).or_insert_with(|| response.clone().into());
                }
            }
        }
    }
}

/// The refusals of the body and path extractors, which answer before any handler: documented on
/// every operation that reads a body (400 malformed JSON, 408, 413, 415) or a path parameter
/// (400), so that no route can leave them out.
pub(crate) struct Refusals;

impl utoipa::Modify for Refusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let response = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build()
        };
        let body_refusals = [
            ("400", "Malformed JSON, or a path parameter that is not one"),
            ("408", "The body did not arrive within BODY_READ_TIMEOUT_MS (`body_timeout`)"),
            ("413", "Body larger than the route's limit"),
            ("415", "Not JSON (`unsupported_media_type`), or encoded: any Content-Encoding but identity (`unsupported_encoding`)"),
        ];
        for item in openapi.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in ops.into_iter().flatten() {
                let has_path_param = op.parameters.as_ref().is_some_and(|ps| {
                    ps.iter().any(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Path)
                });
                if op.request_body.is_some() {
                    for (status, description) in body_refusals {
                        op.responses
                            .responses
                            .entry(status.into())
                            .or_insert_with(|| response(description).into());
                    }
                } else if has_path_param {
                    op.responses
                        .responses
                        .entry("400".into())
                        .or_insert_with(|| response("A path parameter that is not one").into());
                }
            }
        }
    }
}

pub(crate) struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub(crate) async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// What every listener's handlers are given.
#[derive(Clone)]
struct AppState {
    auth: web::Data<auth::Auth>,
    accounts: web::Data<accounts::Accounts>,
    shared: web::Data<Shared>,
    access: web::Data<AccessLog>,
    body_limits: ghostlink_web::BodyLimits,
    query_cfg: web::QueryConfig,
    path_cfg: web::PathConfig,
}

impl AppState {
    /// An app with the state and the middleware every listener has.
    fn app(
        &self,
    ) -> actix_web::App<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        actix_web::App::new()
            .app_data(self.auth.clone())
            .app_data(self.accounts.clone())
            .app_data(self.shared.clone())
            .app_data(self.access.clone())
            .app_data(self.body_limits)
            .app_data(self.query_cfg.clone())
            .app_data(self.path_cfg.clone())
            .wrap(middleware::from_fn(ghostlink_web::access_log))
            .wrap(middleware::from_fn(ghostlink_web::observe))
    }
}

/// A built, bound, not yet running shortener.
pub struct App {
    public: actix_web::dev::Server,
    admin: actix_web::dev::Server,
    admin_addr: SocketAddr,
    ops: OpsServer,
    public_addr: SocketAddr,
    relay: ghostlink_outbox::Relay,
    live: Arc<live::Hub>,
    log: slog::Logger,
}

impl App {
    /// Validates `config` and binds both listeners (port 0 picks free ports).
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let resolved = config.resolve()?;
        let log = ghostlink_telemetry::logger(SERVICE, config.log.log_level);
        ghostlink_telemetry::trace::install(&config.trace, SERVICE, 1.0, &log)
            .context("setting up tracing")?;
        let handle = ghostlink_telemetry::metrics_handle(SERVICE);
        let db = deps::database(&config.database, Duration::from_secs(10));
        let redis = deps::invalidation_cache(&config.redis).context("building the Redis pool")?;
        let nz = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        let auth = web::Data::new(auth::Auth::new(
            db.clone(),
            redis.clone(),
            auth::AuthSettings {
                token_cache_ttl: Duration::from_millis(config.token_cache_ttl_ms),
                per_second: nz(config.rate_limit_per_second),
                burst: nz(config.rate_limit_burst),
                failure_limit: config.auth_failure_limit,
                failure_window: Duration::from_millis(config.auth_failure_window_ms),
                trusted: resolved.trusted.clone(),
            },
        ));
        let accounts = web::Data::new(accounts::Accounts::new(
            redis.clone(),
            config.sign_in_attempt_limit,
            Duration::from_millis(config.sign_in_window_ms),
            config.session_ttl_hours,
        ));
        let notify = Arc::new(tokio::sync::Notify::new());
        let live = live::hub(&config.live, &config.amqp, db.clone(), &log);
        let shared = web::Data::new(Shared {
            db: db.clone(),
            redis: redis.clone(),
            base_url: resolved.base_url.clone(),
            log: log.clone(),
            relay: notify.clone(),
            blocklist: config.blocklist.as_deref().map(ghostlink_config::blocklist::BlocklistFile::new),
            live: live.clone(),
        });
        let publisher = Arc::new(ghostlink_bus::Publisher::new(
            config.amqp.amqp_url.clone(),
            ghostlink_bus::Topology::new(config.amqp.bus_prefix.clone()),
        ));
        let relay = ghostlink_outbox::Relay {
            db: db.clone(),
            publisher: publisher.clone(),
            notify,
            log: log.clone(),
        };
        let access = web::Data::new(AccessLog(log.clone()));
        let (query_cfg, path_cfg) = ghostlink_web::extractor_configs();
        let body_limits = ghostlink_web::BodyLimits {
            max_bytes: BODY_LIMIT,
            deadline: Duration::from_millis(config.body_read_timeout_ms),
        };

        let state = AppState { auth, accounts, shared, access, body_limits, query_cfg, path_cfg };
        let serve = |addr: SocketAddr, listener: admin::Listener| -> anyhow::Result<_> {
            let socket = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
            let bound = socket.local_addr()?;
            let state = state.clone();
            let routes = match listener {
                admin::Listener::Public => routes::public,
                admin::Listener::Admin => routes::admin,
            };
            let mut server = actix_web::HttpServer::new(move || {
                state
                    .app()
                    .app_data(web::Data::new(listener))
                    .configure(routes)
                    .default_service(web::to(ghostlink_web::not_found))
            })
            .disable_signals()
            .shutdown_timeout(10);
            if let Some(w) = config.http_workers {
                server = server.workers(w);
            }
            Ok((server.listen(socket)?.run(), bound))
        };
        let (public, public_addr) = serve(resolved.public, admin::Listener::Public)?;
        let (admin_server, admin_addr) = serve(resolved.admin, admin::Listener::Admin)?;

        let ops = OpsServer::bind(
            resolved.ops,
            SERVICE,
            handle,
            vec![
                deps::postgres_check(db.clone()),
                deps::redis_check(redis.clone()),
                deps::publisher_check(publisher, "events wait in the outbox"),
            ],
            vec![deps::pool_sampler(db.clone())],
            vec![WatchedDir::new("data", &config.listen.data_dir)],
        )
        .with_context(|| format!("binding ops listener {}", resolved.ops))?;
        slog::info!(log, "shortener listening"; "public" => %public_addr, "admin" => %admin_addr, "ops" => %ops.addr);
        Ok(Self { public, admin: admin_server, ops, public_addr, admin_addr, relay, live, log })
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// Where the admin API listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.addr
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (ph, ah, oh) = (self.public.handle(), self.admin.handle(), self.ops.server.handle());
        let public = tokio::spawn(self.public);
        let admin = tokio::spawn(self.admin);
        let ops = tokio::spawn(self.ops.server);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let relay = tokio::spawn(self.relay.run(stop_rx));
        let live = tokio::spawn(self.live.clone().run());
        shutdown.await;
        slog::info!(self.log, "shutting down: draining requests");
        // Live streams never finish by themselves: end them first, so draining does not wait.
        self.live.close();
        ph.stop(true).await;
        ah.stop(true).await;
        oh.stop(true).await;
        // Each server's own result: it has stopped either way.
        let _ = public.await;
        let _ = admin.await;
        let _ = ops.await;
        // The relay publishes what the last requests wrote, then stops.
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), relay).await;
        let _ = live.await;
        slog::info!(self.log, "stopped");
        Ok(())
    }
}
