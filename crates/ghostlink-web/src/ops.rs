//! The ops listener: `/metrics`, `/healthz`, `/readyz` and `/system` (host and process
//! telemetry, [`crate::system`]), on its own port so it stays reachable (and unexposed) whatever
//! happens to the public listener.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::system::{SystemProbe, WatchedDir};

type CheckFn = dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync;

/// One dependency named in `/readyz`. A `required` one failing makes the service not ready;
/// an optional one is reported as degraded.
#[derive(Clone)]
pub struct ReadinessCheck {
    pub name: &'static str,
    pub required: bool,
    pub check: Arc<CheckFn>,
}

impl ReadinessCheck {
    pub fn new<F, Fut>(name: &'static str, required: bool, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self { name, required, check: Arc::new(move || Box::pin(f())) }
    }
}

/// Something sampled just before each scrape (pool occupancy, queue depth).
pub type Sampler = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
struct OpsState {
    handle: PrometheusHandle,
    checks: Arc<Vec<ReadinessCheck>>,
    samplers: Arc<Vec<Sampler>>,
    service: &'static str,
    system: Arc<SystemProbe>,
}

/// A bound ops listener.
pub struct OpsServer {
    pub server: actix_web::dev::Server,
    pub addr: SocketAddr,
}

impl OpsServer {
    /// Binds `addr` now (port 0 picks one) and returns the server, not yet polled. `dirs` are
    /// the directories whose disks `/system` reports (the data directory, a spool).
    pub fn bind(
        addr: SocketAddr,
        service: &'static str,
        handle: PrometheusHandle,
        checks: Vec<ReadinessCheck>,
        samplers: Vec<Sampler>,
        dirs: Vec<WatchedDir>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let system = Arc::new(SystemProbe::new(service, dirs));
        let state =
            OpsState { handle, checks: Arc::new(checks), samplers: Arc::new(samplers), service, system };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .route("/metrics", web::get().to(metrics))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/system", web::get().to(system_report))
                .default_service(web::to(crate::not_found))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
        Ok(Self { server, addr })
    }
}

async fn metrics(state: web::Data<OpsState>) -> HttpResponse {
    for s in state.samplers.iter() {
        s();
    }
    state.system.sample_disks();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(ghostlink_telemetry::render(&state.handle))
}

async fn system_report(state: web::Data<OpsState>) -> HttpResponse {
    let probe = state.system.clone();
    match web::block(move || probe.report()).await {
        Ok(report) => HttpResponse::Ok().json(report),
        Err(e) => HttpResponse::InternalServerError()
            .json(json!({"error": {"code": "internal", "message": e.to_string()}})),
    }
}

async fn healthz(state: web::Data<OpsState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok", "service": state.service}))
}

async fn readyz(state: web::Data<OpsState>) -> HttpResponse {
    let futures = state.checks.iter().map(|c| {
        let fut = (c.check)();
        async move {
            let r = tokio::time::timeout(Duration::from_secs(2), fut)
                .await
                .unwrap_or_else(|_| Err("timed out after 2s".to_string()));
            (c, r)
        }
    });
    let results = futures_util::future::join_all(futures).await;
    let mut ready = true;
    let mut deps = serde_json::Map::new();
    for (c, r) in results {
        let entry = match r {
            Ok(()) => json!({"state": "up", "required": c.required}),
            Err(e) => {
                if c.required {
                    ready = false;
                }
                json!({"state": "down", "required": c.required, "error": e})
            }
        };
        deps.insert(c.name.to_string(), entry);
    }
    let body = json!({"status": if ready {"ready"} else {"not_ready"}, "service": state.service, "dependencies": deps});
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
