//! JSON request bodies, read under rules a hostile client cannot bend.
//!
//! - Only the identity `Content-Encoding` is accepted (415 otherwise): nothing is ever
//!   inflated, since a few hundred KiB of gzip can stand for gigabytes.
//! - The size limit counts the bytes as they arrive, so a chunked body without a
//!   `Content-Length` is refused (413) as soon as it crosses the limit, not once it is whole.
//! - The whole read has a deadline (408): a client trickling one byte a second holds a
//!   connection and a buffer only that long.
//!
//! The extractor reads nothing until its handler runs, and handlers run behind authentication
//! (the shortener's middleware), so an unauthenticated client never gets a body byte read.
//! Every refusal is answered in the JSON error shape and counted in
//! `http_request_bodies_refused_total{reason}`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, CONTENT_ENCODING, CONTENT_LENGTH};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// The limits of a body read, registered as app data (plain, not `web::Data`).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest body accepted, in bytes, as received (there is no decoding).
    pub max_bytes: usize,
    /// How long the read may take, from the handler asking for the body to its last byte.
    pub deadline: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self { max_bytes: 16 * 1024, deadline: Duration::from_secs(10) }
    }
}

/// A JSON body (`Content-Type: application/json` or `*/*+json`), read by the rules above.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

fn refused(reason: &'static str, err: ApiError) -> ApiError {
    metrics::counter!("http_request_bodies_refused_total", "reason" => reason).increment(1);
    err
}

/// What the headers alone decide: the encoding, the media type, a declared length.
fn check_headers(req: &HttpRequest, limits: &BodyLimits) -> Result<Option<usize>, ApiError> {
    if let Some(enc) = unaccepted_encoding(req.headers()) {
        return Err(refused(
            "encoding",
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!("Content-Encoding '{enc}' is not accepted: send the body unencoded (identity)"),
            ),
        ));
    }
    let json = matches!(req.mime_type(), Ok(Some(m)) if m.subtype() == actix_web::mime::JSON
        || m.suffix() == Some(actix_web::mime::JSON));
    if !json {
        return Err(refused(
            "media_type",
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "request body must be JSON with Content-Type: application/json",
            ),
        ));
    }
    // actix-http has already refused a Content-Length that is not a number.
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes) {
        return Err(too_large(limits));
    }
    Ok(declared)
}

/// The first `Content-Encoding` coding that is not `identity` (the whole value when it is not
/// text); `None` when there is none.
fn unaccepted_encoding(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(CONTENT_ENCODING) {
        let Ok(text) = value.to_str() else {
            return Some(String::from_utf8_lossy(value.as_bytes()).into_owned());
        };
        for coding in text.split(',').map(str::trim) {
            if !coding.eq_ignore_ascii_case("identity") {
                return Some(coding.chars().take(64).collect());
            }
        }
    }
    None
}

fn too_large(limits: &BodyLimits) -> ApiError {
    refused(
        "too_large",
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than {} bytes", limits.max_bytes),
        ),
    )
}

/// Reads the payload to its end under the size limit and the deadline.
async fn read(
    payload: &mut Payload,
    limits: &BodyLimits,
    declared: Option<usize>,
) -> Result<Vec<u8>, ApiError> {
    let deadline = tokio::time::Instant::now() + limits.deadline;
    let mut buf = Vec::with_capacity(declared.unwrap_or(1024).min(limits.max_bytes));
    loop {
        match tokio::time::timeout_at(deadline, payload.next()).await {
            Err(_) => {
                return Err(refused(
                    "timeout",
                    ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "body_timeout",
                        format!("the request body did not arrive within {} ms", limits.deadline.as_millis()),
                    ),
                ))
            }
            Ok(None) => return Ok(buf),
            Ok(Some(Err(e))) => {
                return Err(refused(
                    "incomplete",
                    ApiError::bad_request(
                        "incomplete_body",
                        format!("the request body could not be read: {e}"),
                    ),
                ))
            }
            Ok(Some(Ok(chunk))) => {
                if buf.len() + chunk.len() > limits.max_bytes {
                    return Err(too_large(limits));
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}

/// Parses the body: 400 when it is not JSON, 422 when it is JSON of the wrong shape.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            ApiError::unprocessable(
                "invalid_field",
                format!("request body has a field of the wrong type or a missing field: {e}"),
            )
        } else {
            ApiError::bad_request("malformed_json", format!("request body is not valid JSON: {e}"))
        }
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limits = req.app_data::<BodyLimits>().copied().unwrap_or_default();
        let checked = check_headers(req, &limits);
        let mut payload = payload.take();
        Box::pin(async move {
            let declared = checked?;
            let bytes = read(&mut payload, &limits, declared).await?;
            parse(&bytes).map(JsonBody)
        })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    #[test]
    fn only_identity_is_an_accepted_encoding() {
        let with = |values: &[&[u8]]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(CONTENT_ENCODING, HeaderValue::from_bytes(v).expect("header value"));
            }
            unaccepted_encoding(&h)
        };
        assert_eq!(with(&[]), None);
        assert_eq!(with(&[b"identity"]), None);
        assert_eq!(with(&[b" Identity , IDENTITY"]), None);
        assert_eq!(with(&[b"gzip"]).as_deref(), Some("gzip"));
        assert_eq!(with(&[b"identity, br"]).as_deref(), Some("br"));
        assert_eq!(with(&[b"identity", b"deflate"]).as_deref(), Some("deflate"));
        assert_eq!(with(&[b""]).as_deref(), Some(""));
        assert!(with(&[b"\xffgzip"]).is_some());
    }
}
