//! GhostLink shortener service: the public create API and the admin API, described by an
//! OpenAPI document generated from the handlers (`/api/v1/openapi.json`).
//!
//! Every route but the OpenAPI document authenticates a bearer token ([`auth`]) before anything
//! else, its body included, is read; `user` tokens create links and see their own, `admin`
//! tokens see and change all. Bodies are JSON only, unencoded, at most 16 KiB, read within
//! `BODY_READ_TIMEOUT_MS` ([`ghostlink_web::JsonBody`]); responses are never compressed. A
//! change invalidates the link's Redis entry so the redirect sees it within a second. [`App::build`] validates the config and binds the
//! listeners; [`App::run`] serves until the shutdown future resolves.

pub mod api;
pub mod auth;
pub mod config;
pub mod findings;
pub mod health;
pub mod qr;
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
use ghostlink_web::{deps, AccessLog, ApiError, OpsServer};
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
        api::create, api::get, api::list, api::update, api::delete, api::revisions, api::stats, api::risk, qr::qr,
        findings::list, health::health,
        workspace::show, workspace::members, workspace::add_member, workspace::change_member,
        workspace::remove_member, workspace::keys, workspace::create_key, workspace::revoke_key,
        workspace::tags, workspace::rename_tag, workspace::delete_tag
    ),
    components(schemas(
        api::CreateLinkRequest, api::UpdateLinkRequest, api::LinkView, api::LinkPage, api::ErrorBody, api::ErrorDetail,
        api::LinkStatsView, api::DayCount, api::ReferrerCount, api::RiskView, api::RiskReasonView,
        findings::FindingView, api::RevisionView,
        workspace::WorkspaceView, workspace::MemberView, workspace::KeyView, workspace::NewKeyView,
        workspace::NewMemberRequest, workspace::MemberChangeRequest, workspace::NewKeyRequest,
        workspace::TagRenameRequest, workspace::TagView,
        health::HealthView, health::CheckView
    )),
    modifiers(&BearerAuth, &Throttled)
)]
pub struct ApiDoc;

/// Every authenticated operation may be refused with 429 before its handler runs (the token's
/// rate, or the client's failed authentications): documented here, from the `security` each
/// operation declares, so that no route can leave it out.
struct Throttled;

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

struct BearerAuth;

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

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// A built, bound, not yet running shortener.
pub struct App {
    public: actix_web::dev::Server,
    ops: OpsServer,
    public_addr: SocketAddr,
    relay: ghostlink_outbox::Relay,
    log: slog::Logger,
}

impl App {
    /// Validates `config` and binds both listeners (port 0 picks free ports).
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let resolved = config.resolve()?;
        let log = ghostlink_telemetry::logger(SERVICE, config.log.log_level);
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
        let notify = Arc::new(tokio::sync::Notify::new());
        let shared = web::Data::new(Shared {
            db: db.clone(),
            redis: redis.clone(),
            base_url: resolved.base_url.clone(),
            log: log.clone(),
            relay: notify.clone(),
            blocklist: config.blocklist.as_deref().map(ghostlink_config::blocklist::BlocklistFile::new),
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

        let listener =
            TcpListener::bind(resolved.public).with_context(|| format!("binding {}", resolved.public))?;
        let public_addr = listener.local_addr()?;
        let mut server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(auth.clone())
                .app_data(shared.clone())
                .app_data(access.clone())
                .app_data(body_limits)
                .app_data(query_cfg.clone())
                .app_data(path_cfg.clone())
                .wrap(middleware::from_fn(ghostlink_web::access_log))
                .wrap(middleware::from_fn(ghostlink_web::observe))
                // Public, and outside the authenticated scope.
                .service(
                    web::resource("/api/v1/openapi.json")
                        .route(read().to(openapi))
                        .default_service(web::to(ghostlink_web::not_found)),
                )
                .service(
                    web::scope("/api/v1")
                        .wrap(middleware::from_fn(auth::authenticate))
                        .service(
                            web::resource("/links")
                                .route(web::post().to(api::create))
                                .route(read().to(api::list))
                                .default_service(web::to(|r| method_not_allowed(r, "GET, HEAD, POST"))),
                        )
                        .service(
                            web::resource("/links/{code}/health")
                                .route(read().to(health::health))
                                .default_service(web::to(|r| method_not_allowed(r, "GET, HEAD"))),
                        )
                        .service(
                            web::resource("/findings")
                                .route(read().to(findings::list))
                                .default_service(web::to(|r| method_not_allowed(r, "GET, HEAD"))),
                        )
                        .service(
                            web::resource("/links/{code}/qr")
                                .route(read().to(qr::qr))
                                .default_service(web::to(|r| method_not_allowed(r, "GET, HEAD"))),
                        )
                        .service(
                            web::resource("/links/{code}/risk")
                                .route(read().to(api::risk))
                                .default_service(web::to(|r| method_not_allowed(r, "GET, HEAD"))),
                        )
                        .service(
                            web::resource("/links/{code}/revisions")
                                .route(read().to(api::revisions))
                                .default_service(web::to(|r| method_not_allowed(r, "GET, HEAD"))),
                        )
                        .service(
                            web::resource("/workspace")
                                .route(read().to(workspace::show))
                                .default_service(web::to(|r| method_not_allowed(r, "GET, HEAD"))),
                        )
                        .service(
                            web::resource("/members")
                                .route(read().to(workspace::members))
                                .route(web::post().to(workspace::add_member))
                                .default_service(web::to(|r| method_not_allowed(r, "GET, HEAD, POST"))),
                        )
                        .service(
                            web::resource("/members/{id}")
                                .route(web::patch().to(workspace::change_member))
                                .route(web::delete().to(workspace::remove_member))
                                .default_service(web::to(|r| method_not_allowed(r, "PATCH, DELETE"))),
                        )
                        .service(
                            web::resource("/keys")
                                .route(read().to(workspace::keys))
                                .route(web::post().to(workspace::create_key))
                                .default_service(web::to(|r| method_not_allowed(r, "GET, HEAD, POST"))),
                        )
                        .service(
                            web::resource("/keys/{id}")
                                .route(web::delete().to(workspace::revoke_key))
                                .default_service(web::to(|r| method_not_allowed(r, "DELETE"))),
                        )
                        .service(
                            web::resource("/tags")
                                .route(read().to(workspace::tags))
                                .default_service(web::to(|r| method_not_allowed(r, "GET, HEAD"))),
                        )
                        .service(
                            web::resource("/tags/{name}")
                                .route(web::patch().to(workspace::rename_tag))
                                .route(web::delete().to(workspace::delete_tag))
                                .default_service(web::to(|r| method_not_allowed(r, "PATCH, DELETE"))),
                        )
                        .service(
                            web::resource("/links/{code}/stats")
                                .route(read().to(api::stats))
                                .default_service(web::to(|r| method_not_allowed(r, "GET, HEAD"))),
                        )
                        .service(
                            web::resource("/links/{code}")
                                .route(read().to(api::get))
                                .route(web::patch().to(api::update))
                                .route(web::delete().to(api::delete))
                                .default_service(web::to(|r| {
                                    method_not_allowed(r, "GET, HEAD, PATCH, DELETE")
                                })),
                        ),
                )
                .default_service(web::to(ghostlink_web::not_found))
        })
        .disable_signals()
        .shutdown_timeout(10);
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
                deps::publisher_check(publisher, "events wait in the outbox"),
            ],
            vec![deps::pool_sampler(db.clone())],
        )
        .with_context(|| format!("binding ops listener {}", resolved.ops))?;
        slog::info!(log, "shortener listening"; "public" => %public_addr, "ops" => %ops.addr);
        Ok(Self { public, ops, public_addr, relay, log })
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.addr
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (ph, oh) = (self.public.handle(), self.ops.server.handle());
        let public = tokio::spawn(self.public);
        let ops = tokio::spawn(self.ops.server);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let relay = tokio::spawn(self.relay.run(stop_rx));
        shutdown.await;
        slog::info!(self.log, "shutting down: draining requests");
        ph.stop(true).await;
        oh.stop(true).await;
        let _ = public.await;
        let _ = ops.await;
        // The relay publishes what the last requests wrote, then stops.
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), relay).await;
        slog::info!(self.log, "stopped");
        Ok(())
    }
}

/// A route for reads: GET, and HEAD (the same answer without its body; actix drops the body).
fn read() -> actix_web::Route {
    web::route().guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
}

/// 405 in the JSON error shape, with the `Allow` header naming the resource's methods.
async fn method_not_allowed(req: actix_web::HttpRequest, allow: &'static str) -> HttpResponse {
    use actix_web::ResponseError;
    let mut resp = ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.path()),
    )
    .error_response();
    resp.headers_mut()
        .insert(actix_web::http::header::ALLOW, actix_web::http::header::HeaderValue::from_static(allow));
    resp
}
