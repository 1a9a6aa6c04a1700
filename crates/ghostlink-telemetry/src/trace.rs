//! OpenTelemetry traces: one request followed through every service.
//!
//! [`init`] installs the process-wide tracer provider from the standard `OTEL_*` settings
//! ([`TraceSettings`], parsed by `ghostlink_config::TraceArgs`): spans go over OTLP/gRPC to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` through a batch processor on the service's own Tokio runtime,
//! whose queue is bounded (2,048 spans by default, `OTEL_BSP_MAX_QUEUE_SIZE`): a span that
//! finds it full is dropped, so a dead or slow collector never slows or breaks a request. With
//! no endpoint nothing is installed and [`enabled`] is `false`: every helper here returns at
//! once, one relaxed atomic load, which is all the redirect pays when tracing is off.
//!
//! Sampling is parent-based: a request that arrives with a `traceparent` follows its caller's
//! decision, a new trace is kept at the service's ratio (`OTEL_TRACES_SAMPLER_ARG`, else the
//! service's default: the redirect's is low).
//!
//! The helpers are what the shared crates call, so no service handles a context by hand:
//! [`extract`] / [`inject`] (W3C `traceparent`/`tracestate`, for HTTP and AMQP headers),
//! [`child`] (a span under the current one, only when that one is sampled: background loops
//! never start traces of their own), [`TraceIds`] (the slog KV adding `trace_id`/`span_id`
//! to every log line written inside a span).

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use ghostlink_config::{TraceArgs, TracesSampler};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{BatchConfigBuilder, Sampler, SdkTracer, SdkTracerProvider};

pub use opentelemetry::trace::FutureExt;
pub use opentelemetry::{Context as TraceContext, KeyValue as Attribute};

/// The W3C headers carrying a trace, in HTTP requests and AMQP messages alike.
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

fn sampler(kind: TracesSampler, ratio: f64) -> Sampler {
    match kind {
        TracesSampler::AlwaysOn => Sampler::AlwaysOn,
        TracesSampler::AlwaysOff => Sampler::AlwaysOff,
        TracesSampler::TraceIdRatio => Sampler::TraceIdRatioBased(ratio),
        TracesSampler::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        TracesSampler::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        TracesSampler::ParentBasedTraceIdRatio => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}

/// What [`init`] needs: the checked `OTEL_*` settings with the service's defaults filled in.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`; `None`: tracing off.
    pub endpoint: Option<String>,
    /// `OTEL_SERVICE_NAME`, else the service's own name.
    pub service_name: String,
    pub sampler: TracesSampler,
    /// The ratio of new traces kept (`OTEL_TRACES_SAMPLER_ARG`, else the service's default).
    pub ratio: f64,
}

impl TraceSettings {
    /// `args` (checked by their `Validate`) for `service`, whose new traces are kept at
    /// `default_ratio` unless `OTEL_TRACES_SAMPLER_ARG` says otherwise.
    pub fn new(args: &TraceArgs, service: &str, default_ratio: f64) -> Self {
        Self {
            endpoint: args.endpoint.clone(),
            service_name: args.service_name.clone().unwrap_or_else(|| service.to_string()),
            sampler: args.sampler.unwrap_or(TracesSampler::ParentBasedTraceIdRatio),
            ratio: args.sampler_arg.unwrap_or(default_ratio),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("building the OTLP exporter: {0}")]
    Exporter(String),
    #[error("tracing is already set up in this process")]
    AlreadyInstalled,
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static PROVIDER: OnceLock<(SdkTracerProvider, SdkTracer)> = OnceLock::new();

/// Whether spans are exported (an endpoint was configured). One relaxed load.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Installs the tracer provider and the W3C propagator; must run inside the service's Tokio
/// runtime (the batch processor and the gRPC channel live there). Without an endpoint it does
/// nothing and returns `Ok(false)`.
pub fn init(settings: &TraceSettings) -> Result<bool, TraceError> {
    let Some(endpoint) = settings.endpoint.as_deref() else { return Ok(false) };
    if PROVIDER.get().is_some() {
        return Err(TraceError::AlreadyInstalled);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| TraceError::Exporter(e.to_string()))?;
    // Defaults from the specification (and OTEL_BSP_*): a bounded queue of 2,048 spans,
    // exported every 5 s in batches of 512.
    let batch = BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio)
        .with_batch_config(BatchConfigBuilder::default().build())
        .build();
    let resource =
        opentelemetry_sdk::Resource::builder_empty().with_service_name(settings.service_name.clone()).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(batch)
        .with_sampler(sampler(settings.sampler, settings.ratio))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("ghostlink");
    PROVIDER.set((provider, tracer)).map_err(|_| TraceError::AlreadyInstalled)?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    ENABLED.store(true, Ordering::Relaxed);
    Ok(true)
}

/// [`init`] with `args` for `service` (new traces kept at `default_ratio` unless set), saying
/// so in the log when tracing is on.
pub fn install(
    args: &TraceArgs,
    service: &str,
    default_ratio: f64,
    log: &slog::Logger,
) -> Result<(), TraceError> {
    let settings = TraceSettings::new(args, service, default_ratio);
    if init(&settings)? {
        slog::info!(log, "exporting traces"; "otel.endpoint" => settings.endpoint.as_deref().unwrap_or(""),
            "otel.service_name" => &settings.service_name, "otel.sampler_ratio" => settings.ratio);
    }
    Ok(())
}

/// Exports what is queued and stops the exporter (at shutdown; blocks up to the export
/// timeout, so call it off the async workers).
pub fn shutdown() {
    if let Some((provider, _)) = PROVIDER.get() {
        ENABLED.store(false, Ordering::Relaxed);
        let _ = provider.force_flush();
        let _ = provider.shutdown();
    }
}

fn tracer() -> Option<&'static SdkTracer> {
    if !enabled() {
        return None;
    }
    PROVIDER.get().map(|(_, t)| t)
}

struct Pair<'a>(Option<&'a str>, Option<&'a str>);

impl Extractor for Pair<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => self.0,
            TRACESTATE => self.1,
            _ => None,
        }
    }
    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

/// The remote context carried by a `traceparent` and `tracestate` header (HTTP or AMQP); the
/// empty context when there is none, it is malformed, or tracing is off.
pub fn extract(traceparent: Option<&str>, tracestate: Option<&str>) -> Context {
    if !enabled() || traceparent.is_none() {
        return Context::new();
    }
    TraceContextPropagator::new().extract(&Pair(traceparent, tracestate))
}

struct Collect(Vec<(String, String)>);

impl Injector for Collect {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }
}

/// The `traceparent` (and `tracestate`) of `cx`'s span; empty when it has none or tracing is
/// off.
pub fn inject(cx: &Context) -> Vec<(String, String)> {
    if !enabled() || !cx.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut out = Collect(Vec::new());
    TraceContextPropagator::new().inject_context(cx, &mut out);
    out.0
}

/// [`inject`] of the current context.
pub fn current_headers() -> Vec<(String, String)> {
    if !enabled() {
        return Vec::new();
    }
    Context::map_current(inject)
}

/// A span started under `parent` (a remote context, or the empty one for a new trace): an
/// inbound request or message. `None` when tracing is off.
pub fn start(
    name: impl Into<Cow<'static, str>>,
    kind: SpanKind,
    parent: &Context,
    attributes: Vec<KeyValue>,
) -> Option<Context> {
    let tracer = tracer()?;
    let span = tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes)
        .start_with_context(tracer, parent);
    Some(parent.with_span(span))
}

/// A span under the current one (a query, a Redis call, an outbound request), only when the
/// current span is sampled: `None` otherwise, and so always when tracing is off. Work outside
/// any request (a relay's polling, a scheduler's round) starts no trace. `describe` gives the
/// span's name and attributes; it runs only when the span is made.
pub fn child<N>(kind: SpanKind, describe: impl FnOnce() -> (N, Vec<KeyValue>)) -> Option<Context>
where
    N: Into<Cow<'static, str>>,
{
    let tracer = tracer()?;
    let parent = Context::current();
    if !parent.span().span_context().is_sampled() {
        return None;
    }
    let (name, attributes) = describe();
    let span = tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes)
        .start_with_context(tracer, &parent);
    Some(parent.with_span(span))
}

/// Ends the span of `cx` with an error status and an `exception` event when `error` is set.
pub fn finish(cx: &Context, error: Option<&str>) {
    let span = cx.span();
    if let Some(e) = error {
        span.add_event("exception", vec![KeyValue::new("exception.message", e.to_string())]);
        span.set_status(Status::error(e.to_string()));
    }
    span.end();
}

/// Makes `cx` current on this thread until the guard drops: work handed to another thread
/// (the blocking pool) runs inside the span that handed it over.
pub fn attach(cx: &Context) -> opentelemetry::ContextGuard {
    cx.clone().attach()
}

/// Whether the span of `cx` is recorded (sampled): worth setting attributes on.
pub fn is_recording(cx: &Context) -> bool {
    cx.span().is_recording()
}

/// Renames the span of `cx` (a server span, once its route is known).
pub fn rename(cx: &Context, name: impl Into<Cow<'static, str>>) {
    cx.span().update_name(name);
}

/// Sets an attribute on the span of `cx` (nothing when it is not recording).
pub fn set(cx: &Context, attribute: KeyValue) {
    let span = cx.span();
    if span.is_recording() {
        span.set_attribute(attribute);
    }
}

/// The `trace_id` and `span_id` of the current sampled span, as a slog KV: what the root
/// logger ([`crate::logger`]) adds to a line written inside one.
pub struct TraceIds {
    trace_id: String,
    span_id: String,
}

impl TraceIds {
    /// The current span's ids, if it is sampled (an unsampled trace leads nowhere).
    pub fn current() -> Option<Self> {
        if !enabled() {
            return None;
        }
        Context::map_current(|cx| {
            let span = cx.span();
            let sc = span.span_context();
            sc.is_sampled()
                .then(|| Self { trace_id: sc.trace_id().to_string(), span_id: sc.span_id().to_string() })
        })
    }
}

impl slog::KV for TraceIds {
    fn serialize(&self, _record: &slog::Record<'_>, serializer: &mut dyn slog::Serializer) -> slog::Result {
        serializer.emit_str("trace_id", &self.trace_id)?;
        serializer.emit_str("span_id", &self.span_id)
    }
}

/// The span kinds, re-exported so callers need no `opentelemetry` dependency of their own.
pub mod kind {
    pub use opentelemetry::trace::SpanKind::{Client, Consumer, Internal, Producer, Server};
}

/// Starts a Producer/Consumer/... span with links (a batch of messages from several traces).
pub fn start_linked(
    name: impl Into<Cow<'static, str>>,
    kind: SpanKind,
    links: &[Context],
    attributes: Vec<KeyValue>,
) -> Option<Context> {
    let tracer = tracer()?;
    let links = links
        .iter()
        .map(|cx| cx.span().span_context().clone())
        .filter(|sc| sc.is_valid())
        .map(opentelemetry::trace::Link::with_context)
        .collect();
    let span = tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes)
        .with_links(links)
        .start_with_context(tracer, &Context::new());
    Some(Context::new().with_span(span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_default_ratio_applies_unless_the_setting_gives_one() {
        let s = TraceSettings::new(&TraceArgs::default(), "redirect", 0.01);
        assert_eq!(
            (s.service_name.as_str(), s.sampler, s.ratio),
            ("redirect", TracesSampler::ParentBasedTraceIdRatio, 0.01)
        );
        let args =
            TraceArgs { sampler_arg: Some(0.5), service_name: Some("r2".into()), ..Default::default() };
        let s = TraceSettings::new(&args, "redirect", 0.01);
        assert_eq!((s.service_name.as_str(), s.ratio), ("r2", 0.5));
        assert!(s.endpoint.is_none(), "no endpoint: tracing stays off");
    }

    #[test]
    fn off_costs_nothing_and_yields_nothing() {
        assert!(!enabled());
        assert!(current_headers().is_empty());
        assert!(child(SpanKind::Client, || ("x", vec![])).is_none());
        let cx = extract(Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), None);
        assert!(!cx.span().span_context().is_valid(), "nothing is extracted while tracing is off");
    }
}
