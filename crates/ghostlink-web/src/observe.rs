//! Request ids, request metrics and the request's server span, for every route of a service.
//!
//! The span continues the caller's trace when the request carries a W3C `traceparent`
//! (`tracestate`), else it is a new trace kept at the service's ratio; everything the request
//! does (queries, Redis calls, the outbox row it writes) happens inside it. With tracing off
//! none of that runs: one atomic load.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use ghostlink_telemetry::trace::{self, Attribute, FutureExt as _};

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
    let span = server_span(&req, &method);
    metrics::gauge!("http_requests_in_flight").increment(1.0);
    let res = match &span {
        Some(cx) => next.call(req).with_context(cx.clone()).await,
        None => next.call(req).await,
    };
    metrics::gauge!("http_requests_in_flight").decrement(1.0);
    let mut res = match res {
        Ok(res) => res,
        Err(e) => {
            if let Some(cx) = &span {
                trace::finish(cx, Some(&e.to_string()));
            }
            return Err(e);
        }
    };
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_u16();
    if let Some(cx) = &span {
        end_server_span(cx, &method, &route, status);
    }
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route, "method" => method)
        .record(start.elapsed().as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    Ok(res)
}

/// The request's server span under the caller's context, when tracing is on.
fn server_span(req: &ServiceRequest, method: &str) -> Option<trace::TraceContext> {
    if !trace::enabled() {
        return None;
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let parent = trace::extract(header(trace::TRACEPARENT), header(trace::TRACESTATE));
    trace::start(
        method.to_owned(),
        trace::kind::Server,
        &parent,
        vec![
            Attribute::new("http.request.method", method.to_owned()),
            Attribute::new("url.path", req.path().to_owned()),
            Attribute::new("url.scheme", req.connection_info().scheme().to_owned()),
        ],
    )
}

/// Names the span after its route (`POST /api/v1/links`), records the status (a 5xx is an
/// error) and ends it.
fn end_server_span(cx: &trace::TraceContext, method: &str, route: &str, status: u16) {
    if trace::is_recording(cx) {
        trace::rename(cx, format!("{method} {route}"));
        trace::set(cx, Attribute::new("http.route", route.to_owned()));
        trace::set(cx, Attribute::new("http.response.status_code", i64::from(status)));
    }
    trace::finish(cx, (status >= 500).then(|| format!("HTTP {status}")).as_deref());
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
