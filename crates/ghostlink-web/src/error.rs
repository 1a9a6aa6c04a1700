//! The one mapping from errors to HTTP statuses and JSON error bodies.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

/// An error answered to a client: status, stable machine code, human message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}
#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { retry_after: Some(1), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message) }
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the service log")
    }
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    /// The JSON body, for callers that build a response by hand.
    pub fn body(&self) -> String {
        serde_json::to_string(&Body { error: Inner { code: self.code, message: &self.message } })
            .unwrap_or_else(|_| r#"{"error":{"code":"internal","message":"error"}}"#.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        resp.insert_header((header::CONTENT_TYPE, "application/json"));
        resp.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(secs) = self.retry_after {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        resp.body(self.body())
    }
}

/// Query and path extractor configs that answer bad input in the JSON error shape (400).
/// JSON bodies have their own extractor, [`crate::body::JsonBody`].
pub fn extractor_configs() -> (web_cfg::QueryConfig, web_cfg::PathConfig) {
    let query = web_cfg::QueryConfig::default()
        .error_handler(|err, _req| ApiError::bad_request("invalid_query", err.to_string()).into());
    let path = web_cfg::PathConfig::default()
        .error_handler(|err, _req| ApiError::bad_request("invalid_path", err.to_string()).into());
    (query, path)
}

mod web_cfg {
    pub use actix_web::web::{PathConfig, QueryConfig};
}

/// Default service: unknown route or method, answered in the JSON shape.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::not_found(format!("no route for {} {}", req.method(), req.path())).error_response()
}
