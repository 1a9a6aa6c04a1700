//! Request ids and request metrics, for every route of a service.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

/// The request's id: the caller's `X-Request-Id` when it is sane, else a fresh UUIDv7.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn sane(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())).then_some(s)
}

/// Middleware (use with `actix_web::middleware::from_fn`).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let start = Instant::now();
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(sane)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().as_str().to_owned();
    metrics::gauge!("http_requests_in_flight").increment(1.0);
    let res = next.call(req).await;
    metrics::gauge!("http_requests_in_flight").decrement(1.0);
    let mut res = res?;
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16();
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route, "method" => method)
        .record(start.elapsed().as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    Ok(res)
}

/// The logger [`access_log`] writes to, registered as app data.
#[derive(Clone)]
pub struct AccessLog(pub slog::Logger);

/// Middleware writing one log line per request (`http.method`, `http.route`, `http.status`,
/// `duration_ms`, `request_id`). Not for the redirect hot path. Place it inside [`observe`] so
/// the request id exists.
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let start = Instant::now();
    let log = req.app_data::<actix_web::web::Data<AccessLog>>().map(|l| l.0.clone());
    let res = next.call(req).await?;
    if let Some(log) = log {
        let r = res.request();
        let id = r.extensions().get::<RequestId>().map(|i| i.0.clone()).unwrap_or_default();
        let status = res.status().as_u16();
        let route = r.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let kv = slog::o!("http.method" => r.method().to_string(), "http.route" => route, "http.status" => status, "duration_ms" => ms, "request_id" => id);
        let child = log.new(kv);
        if status >= 500 {
            slog::error!(child, "request failed");
        } else {
            slog::info!(child, "request");
        }
    }
    Ok(res)
}
