//! GhostLink console: server-rendered pages for people (sign in, dashboard, links), over the
//! shortener's public API only ([`api`]): it holds no query of its own and never touches a
//! database. Templates are checked at build time (askama) and escape every value; static assets
//! are embedded in the binary. Every answer carries a strict Content-Security-Policy (no inline
//! script, `frame-ancestors 'none'`); every form carries a CSRF token ([`csrf`]); the session
//! cookie is `HttpOnly`, `SameSite=Lax`, and `Secure` when `CONSOLE_PUBLIC_URL` is https.

pub mod api;
pub mod chart;
pub mod config;
pub mod csrf;
mod link;
mod links;
mod pages;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{middleware, web, HttpResponse};
use anyhow::Context;
use ghostlink_web::{AccessLog, OpsServer, ReadinessCheck, WatchedDir};

pub use config::Config;

const SERVICE: &str = "console";

/// The session cookie: the API's session token.
pub const SESSION_COOKIE: &str = "gl_session";

/// The Content-Security-Policy of every answer.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

const APP_CSS: &str = include_str!("../static/app.css");

/// What the pages are given.
pub struct Console {
    pub api: api::Api,
    pub secure_cookies: bool,
}

/// A cookie of the console: `HttpOnly`, `SameSite=Lax`, path `/`, `Secure` behind TLS.
pub fn cookie(name: &'static str, value: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(name, value.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .finish()
}

/// Middleware: the security headers on every answer.
async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let mut resp = next.call(req).await?;
    let h = resp.headers_mut();
    let set = |h: &mut actix_web::http::header::HeaderMap, k: &'static str, v: &'static str| {
        h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    };
    set(h, "content-security-policy", CSP);
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "same-origin");
    set(h, "x-frame-options", "DENY");
    set(h, "cache-control", "no-store");
    Ok(resp)
}

async fn css() -> HttpResponse {
    HttpResponse::Ok().content_type("text/css; charset=utf-8").body(APP_CSS)
}

/// A built, bound, not yet running console.
pub struct App {
    server: actix_web::dev::Server,
    ops: OpsServer,
    addr: SocketAddr,
    log: slog::Logger,
}

impl App {
    /// Validates `config` and binds both listeners (port 0 picks free ports).
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let resolved = config.resolve()?;
        let log = ghostlink_telemetry::logger(SERVICE, config.log.log_level);
        let handle = ghostlink_telemetry::metrics_handle(SERVICE);
        let api = api::Api::new(resolved.api.clone())?;
        let console = web::Data::new(Console { api: api.clone(), secure_cookies: resolved.secure_cookies });
        let access = web::Data::new(AccessLog(log.clone()));
        let socket =
            TcpListener::bind(resolved.public).with_context(|| format!("binding {}", resolved.public))?;
        let addr = socket.local_addr()?;
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(console.clone())
                .app_data(access.clone())
                .app_data(web::FormConfig::default().limit(16 * 1024))
                .wrap(middleware::from_fn(security_headers))
                .wrap(middleware::from_fn(ghostlink_web::access_log))
                .wrap(middleware::from_fn(ghostlink_web::observe))
                .route("/static/app.css", web::get().to(css))
                .route("/", web::get().to(pages::dashboard))
                .route("/links", web::get().to(links::list))
                .route("/links", web::post().to(links::create))
                .route("/links/{code}", web::get().to(link::show))
                .route("/links/{code}", web::post().to(link::edit))
                .route("/links/{code}/qr.svg", web::get().to(link::qr))
                .route("/sign-in", web::get().to(pages::sign_in_form))
                .route("/sign-in", web::post().to(pages::sign_in))
                .route("/sign-out", web::post().to(pages::sign_out))
        })
        .disable_signals()
        .shutdown_timeout(10)
        .listen(socket)?
        .run();
        let base = resolved.api.clone();
        let reach = ReadinessCheck::new("api", true, move || {
            let url = base.join("/api/v1/openapi.json");
            async move {
                let url = url.map_err(|e| e.to_string())?;
                let r = reqwest::get(url).await.map_err(|e| e.to_string())?;
                if r.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("the API answered {}", r.status()))
                }
            }
        });
        let ops = OpsServer::bind(
            resolved.ops,
            SERVICE,
            handle,
            vec![reach],
            vec![],
            vec![WatchedDir::new("data", &config.listen.data_dir)],
        )
        .with_context(|| format!("binding ops listener {}", resolved.ops))?;
        slog::info!(log, "console listening"; "public" => %addr, "ops" => %ops.addr, "api" => %resolved.api);
        Ok(Self { server, ops, addr, log })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.addr
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (sh, oh) = (self.server.handle(), self.ops.server.handle());
        let server = tokio::spawn(self.server);
        let ops = tokio::spawn(self.ops.server);
        shutdown.await;
        slog::info!(self.log, "shutting down: draining requests");
        sh.stop(true).await;
        oh.stop(true).await;
        let _ = server.await;
        let _ = ops.await;
        Ok(())
    }
}
