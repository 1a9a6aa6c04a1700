//! One probe of a destination, SSRF-safe.
//!
//! The guard is [`ghostlink_egress`]'s (shared with the webhook dispatcher): a DNS resolver
//! that hands reqwest only addresses the [`PrivateTargets`] policy allows, IP-literal hosts in
//! any spelling checked before a request is built, proxies off. Redirects are followed here by
//! hand, so every hop is checked again.
//!
//! A failed probe says two things: a [`Failure`], the generic reason its link's owner is shown,
//! and a detail for the canary's log and admins. The detail says which name resolved to which
//! address and what the resolver or the socket answered: told to anyone who can create a link,
//! it would map how the canary's network resolves internal names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use ghostlink_egress::host_key;
use ghostlink_egress::{PrivateTargets, TargetError};
use ghostlink_telemetry::trace::{self, Attribute, FutureExt as _};
use reqwest::{Method, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;
/// Bytes read of a GET body (the fallback when HEAD is refused).
const BODY_CAP: usize = 64 * 1024;

/// A probe's classified result: the domain's, so the check's row, the `link.quarantined` event
/// and the `canary_probes_total` label all use its one set of names.
pub use ghostlink_domain::CheckOutcome as Outcome;

/// Why a probe failed, in the words its link's owner sees: a reason, never a name, an address
/// or an error message from the network (those are [`ProbeError::detail`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    NotAUrl,
    SchemeNotProbed,
    NoHost,
    /// A literal address, or every address a name resolves to, is one the canary may not
    /// connect to.
    PrivateAddress,
    NameNotResolved,
    TooManyRedirects,
    BadRedirect,
    Timeout,
    Tls,
    Connect,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::NotAUrl => "blocked: not a URL",
            Failure::SchemeNotProbed => "blocked: scheme not probed",
            Failure::NoHost => "blocked: no host",
            Failure::PrivateAddress => "blocked: private address",
            Failure::NameNotResolved => "dns: the name does not resolve",
            Failure::TooManyRedirects => "http: too many redirects",
            Failure::BadRedirect => "http: redirect without a usable Location",
            Failure::Timeout => "timeout: no answer in time",
            Failure::Tls => "tls: the TLS handshake failed",
            Failure::Connect => "connect: the connection failed",
        }
    }
}

/// A failed probe: the generic reason and what exactly happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeError {
    pub failure: Failure,
    /// For the canary's log and admins only.
    pub detail: String,
}

impl ProbeError {
    fn new(failure: Failure, detail: impl Into<String>) -> Self {
        Self { failure, detail: detail.into() }
    }
}

/// What a probe saw.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub outcome: Outcome,
    pub status: Option<u16>,
    pub latency: Duration,
    /// `HEAD`, or `GET` when a hop refused HEAD.
    pub method: &'static str,
    pub final_url: Option<String>,
    /// Every URL requested after the first, in order.
    pub redirects: Vec<String>,
    pub error: Option<ProbeError>,
}

#[derive(Debug, Clone)]
pub struct ProbeSettings {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub per_host: usize,
    pub private_targets: PrivateTargets,
    pub user_agent: String,
}

/// Probes destinations; shared by every task of a canary.
pub struct Prober {
    client: reqwest::Client,
    settings: ProbeSettings,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Prober {
    pub fn new(settings: ProbeSettings) -> Result<Self, reqwest::Error> {
        let client = ghostlink_egress::client_builder(&settings.private_targets)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .user_agent(settings.user_agent.clone())
            .pool_max_idle_per_host(1)
            .build()?;
        Ok(Self { client, settings, hosts: Mutex::new(HashMap::new()) })
    }

    /// Waits for a slot on the URL's host (`host:port`), so many links to one site do not
    /// hammer it.
    async fn host_permit(&self, url: &Url) -> Option<OwnedSemaphorePermit> {
        let key = host_key(url);
        let sem = {
            let mut hosts = self.hosts.lock().ok()?;
            // Forget hosts nobody is probing, so the map stays small.
            if hosts.len() > 10_000 {
                hosts.retain(|_, s| Arc::strong_count(s) > 1);
            }
            hosts.entry(key).or_insert_with(|| Arc::new(Semaphore::new(self.settings.per_host))).clone()
        };
        sem.acquire_owned().await.ok()
    }

    /// Probes `url`: HEAD (GET when refused), following at most [`MAX_REDIRECTS`] redirects,
    /// every hop checked against the address policy, all within the total timeout.
    pub async fn probe(&self, url: &str) -> ProbeResult {
        let started = Instant::now();
        let mut result = ProbeResult {
            outcome: Outcome::Blocked,
            status: None,
            latency: Duration::ZERO,
            method: "HEAD",
            final_url: None,
            redirects: Vec::new(),
            error: None,
        };
        let parsed = match Url::parse(url) {
            Ok(u) => u,
            Err(e) => {
                result.error = Some(ProbeError::new(Failure::NotAUrl, format!("not a URL: {e}")));
                return result;
            }
        };
        let _permit = self.host_permit(&parsed).await;
        let started_probe = Instant::now();
        match tokio::time::timeout(self.settings.timeout, self.follow(parsed, &mut result)).await {
            Ok(()) => {}
            Err(_) => {
                result.outcome = Outcome::Timeout;
                result.error = Some(ProbeError::new(
                    Failure::Timeout,
                    format!("no answer within {} ms", self.settings.timeout.as_millis()),
                ));
            }
        }
        result.latency = started_probe.elapsed().min(started.elapsed());
        result
    }

    async fn follow(&self, mut url: Url, result: &mut ProbeResult) {
        for hop in 0..=MAX_REDIRECTS {
            result.final_url = Some(url.to_string());
            if let Err(e) = self.allowed(&url) {
                result.outcome = Outcome::Blocked;
                result.error = Some(e);
                return;
            }
            let mut resp = match self.request(Method::HEAD, &url).await {
                Ok(r) => r,
                Err(e) => return classify_error(&e, result),
            };
            if matches!(resp.status(), StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED) {
                result.method = "GET";
                resp = match self.request(Method::GET, &url).await {
                    Ok(r) => r,
                    Err(e) => return classify_error(&e, result),
                };
                drain_capped(&mut resp).await;
            }
            let status = resp.status();
            result.status = Some(status.as_u16());
            if status.is_redirection() {
                let next = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| url.join(l).ok());
                match next {
                    Some(next) if hop < MAX_REDIRECTS => {
                        result.redirects.push(next.to_string());
                        url = next;
                        continue;
                    }
                    Some(_) => {
                        result.outcome = Outcome::Http4xx;
                        result.error = Some(ProbeError::new(
                            Failure::TooManyRedirects,
                            format!("more than {MAX_REDIRECTS} redirects"),
                        ));
                        return;
                    }
                    None => {
                        result.outcome = Outcome::Http4xx;
                        result.error =
                            Some(ProbeError::new(Failure::BadRedirect, "redirect without a usable Location"));
                        return;
                    }
                }
            }
            result.outcome = if status.is_server_error() {
                Outcome::Http5xx
            } else if status.is_client_error() {
                Outcome::Http4xx
            } else {
                Outcome::Ok
            };
            return;
        }
    }

    /// One hop, in a client span when the round is traced (no trace context is sent: the
    /// destination is someone else's site).
    async fn request(&self, method: Method, url: &Url) -> Result<reqwest::Response, reqwest::Error> {
        let span = trace::child(trace::kind::Client, || {
            let mut attributes = vec![
                Attribute::new("http.request.method", method.as_str().to_owned()),
                Attribute::new("url.full", url.as_str().to_owned()),
            ];
            if let Some(host) = url.host_str() {
                attributes.push(Attribute::new("server.address", host.to_owned()));
            }
            if let Some(port) = url.port_or_known_default() {
                attributes.push(Attribute::new("server.port", i64::from(port)));
            }
            (method.as_str().to_owned(), attributes)
        });
        let send = self.client.request(method, url.clone()).send();
        let Some(cx) = span else { return send.await };
        let result = send.with_context(cx.clone()).await;
        match &result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                trace::set(&cx, Attribute::new("http.response.status_code", i64::from(status)));
                trace::finish(&cx, (status >= 400).then(|| format!("HTTP {status}")).as_deref());
            }
            Err(e) => trace::finish(&cx, Some(&e.to_string())),
        }
        result
    }

    /// The scheme and literal-address checks of one hop (names are checked by the resolver).
    fn allowed(&self, url: &Url) -> Result<(), ProbeError> {
        ghostlink_egress::check_target(url, &self.settings.private_targets).map_err(|e| {
            let failure = match e {
                TargetError::Scheme(_) => Failure::SchemeNotProbed,
                TargetError::NoHost => Failure::NoHost,
                TargetError::Private { .. } => Failure::PrivateAddress,
            };
            let detail = match e {
                TargetError::Scheme(scheme) => format!("scheme '{scheme}' is not probed"),
                other => other.to_string(),
            };
            ProbeError::new(failure, detail)
        })
    }
}

/// Reads at most [`BODY_CAP`] bytes of a body and drops the rest (closing the connection).
async fn drain_capped(resp: &mut reqwest::Response) {
    let mut read = 0;
    while read < BODY_CAP {
        match resp.chunk().await {
            Ok(Some(c)) => read += c.len(),
            _ => break,
        }
    }
}

fn classify_error(e: &reqwest::Error, result: &mut ProbeResult) {
    use ghostlink_egress::Failure as Net;
    let (failure, detail) = ghostlink_egress::classify(e);
    let (outcome, failure) = match failure {
        Net::PrivateAddress => (Outcome::Blocked, Failure::PrivateAddress),
        Net::NameNotResolved => (Outcome::Dns, Failure::NameNotResolved),
        Net::Timeout => (Outcome::Timeout, Failure::Timeout),
        Net::Tls => (Outcome::Tls, Failure::Tls),
        Net::Connect => (Outcome::Connect, Failure::Connect),
    };
    result.outcome = outcome;
    result.error = Some(ProbeError::new(failure, detail));
}
