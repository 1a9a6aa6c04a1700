//! The shortener's public API as ghostctl's commands use it: where it is and which key to send
//! (`--api-url`/`GHOSTLINK_API_URL`, `--token`/`GHOSTLINK_TOKEN`), and how its answers become
//! exit codes — 2 for a refused request (4xx, the API's error message and code printed), 1 when
//! the shortener cannot be reached or fails (5xx).

use clap::Args;
use serde_json::Value;

use crate::Failure;

/// Where the shortener's API is and which key to use.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The shortener's public API (plain HTTP).
    #[arg(long, env = "GHOSTLINK_API_URL", default_value = "http://127.0.0.1:8081")]
    pub api_url: String,
    /// An API key of the workspace.
    #[arg(long, env = "GHOSTLINK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl ApiArgs {
    pub fn token(&self) -> Result<&str, Failure> {
        self.token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Failure::usage("an API key is needed: --token or GHOSTLINK_TOKEN"))
    }

    pub fn url(&self, path_and_query: &str) -> Result<String, Failure> {
        let base = self.api_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Failure::usage(format!("--api-url '{base}' is not an http(s) URL")));
        }
        Ok(format!("{base}{path_and_query}"))
    }

    /// One JSON request; the answer's body (`Null` for 204), or the failure it means.
    pub fn call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let token = self.token()?.to_string();
        let url = self.url(path_and_query)?;
        runtime()?.block_on(async {
            let mut req = reqwest::Client::new().request(method, &url).bearer_auth(&token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.map_err(|e| unreachable(&self.api_url, e))?;
            if !resp.status().is_success() {
                return Err(refused(resp).await);
            }
            let text = resp.text().await.map_err(|e| unreachable(&self.api_url, e))?;
            if text.is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_str(&text).map_err(|e| Failure::other(format!("the answer is not JSON: {e}")))
        })
    }

    /// One request whose answer is bytes (an image).
    pub fn bytes(&self, path_and_query: &str) -> Result<Vec<u8>, Failure> {
        let token = self.token()?.to_string();
        let url = self.url(path_and_query)?;
        runtime()?.block_on(async {
            let resp = reqwest::Client::new()
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|e| unreachable(&self.api_url, e))?;
            if !resp.status().is_success() {
                return Err(refused(resp).await);
            }
            Ok(resp.bytes().await.map_err(|e| unreachable(&self.api_url, e))?.to_vec())
        })
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::other(format!("starting the runtime: {e}")))
}

/// The error an API answered, as a failure: 4xx is bad input (2), anything else 1.
pub async fn refused(resp: reqwest::Response) -> Failure {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| Some(format!("{} ({})", v["error"]["message"].as_str()?, v["error"]["code"].as_str()?)))
        .unwrap_or(text);
    let message = format!("the shortener answered {status}: {message}");
    if status.is_client_error() {
        Failure::usage(message)
    } else {
        Failure::other(message)
    }
}

pub fn unreachable(api_url: &str, e: reqwest::Error) -> Failure {
    Failure::other(format!("cannot reach the shortener at {api_url}: {e}"))
}

/// `?domain=host` for a link on a custom domain, else nothing.
pub fn domain_query(domain: Option<&str>) -> String {
    domain.map(|d| format!("?domain={}", url_escape(d))).unwrap_or_default()
}

/// A path segment or query value, percent-encoded.
pub fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Prints an answer as indented JSON on stdout.
pub fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}
