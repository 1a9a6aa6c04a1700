//! The shortener's public API as the console uses it: every call carries the person's session
//! token as a bearer token; errors come back in the API's `{"error":{"code","message"}}` shape.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// What a call of the API can end in.
#[derive(Debug)]
pub enum ApiFailure {
    /// The API answered with an error status and its body's code and message.
    Refused { status: u16, code: String, message: String },
    /// The API could not be reached or answered something unreadable.
    Unreachable(String),
}

/// A client of the shortener's API.
#[derive(Clone)]
pub struct Api {
    base: url::Url,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: url::Url) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { base, http })
    }

    /// Sends `method path` with the session (if any) and a JSON body (if any); decodes the answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        session: Option<&str>,
        body: Option<&Value>,
    ) -> Result<T, ApiFailure> {
        let url = self.base.join(path).map_err(|e| ApiFailure::Unreachable(e.to_string()))?;
        let mut req = self.http.request(method, url);
        if let Some(s) = session {
            req = req.bearer_auth(s);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| ApiFailure::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| ApiFailure::Unreachable(e.to_string()))?;
        if status >= 400 {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return Err(ApiFailure::Refused {
                status,
                code: v["error"]["code"].as_str().unwrap_or("error").to_string(),
                message: v["error"]["message"].as_str().unwrap_or("the API refused the request").to_string(),
            });
        }
        let text = if text.is_empty() { "null".to_string() } else { text };
        serde_json::from_str(&text).map_err(|e| ApiFailure::Unreachable(e.to_string()))
    }

    /// GETs `path` with the session and returns its content type and bytes (the QR code).
    pub async fn bytes(&self, path: &str, session: &str) -> Result<(String, Vec<u8>), ApiFailure> {
        let url = self.base.join(path).map_err(|e| ApiFailure::Unreachable(e.to_string()))?;
        let resp = self
            .http
            .get(url)
            .bearer_auth(session)
            .send()
            .await
            .map_err(|e| ApiFailure::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let kind = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let body = resp.bytes().await.map_err(|e| ApiFailure::Unreachable(e.to_string()))?;
        if status >= 400 {
            return Err(ApiFailure::Refused {
                status,
                code: "error".into(),
                message: "the API refused the request".into(),
            });
        }
        Ok((kind, body.to_vec()))
    }
}
