//! GhostLink telemetry: the slog JSON root logger, the Prometheus metrics recorder, and
//! OpenTelemetry traces ([`trace`]).
//!
//! Logs are one JSON object per line on stdout with `ts`, `level`, `service`, `msg` and stable
//! dotted keys (`http.status`, `link.code`, `duration_ms`, `request_id`); see
//! `docs/architecture.md`. Metrics use the `metrics` facade, so library code records without
//! knowing the exporter; names are the contract in `docs/metrics.md`. A line written inside a
//! sampled span carries its `trace_id` and `span_id`, so a log line leads to its trace.

pub mod trace;

use std::sync::{Mutex, OnceLock};

use chrono::{SecondsFormat, Utc};
use ghostlink_config::LogLevel;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use slog::{o, Drain, FnValue, Level, PushFnValue};

pub use slog;

/// The root logger of a service: JSON lines on stdout, asynchronous, filtered at `level`.
/// `LogLevel::Off` discards everything (tests, unless `TEST_LOG` is set).
pub fn logger(service: &'static str, level: LogLevel) -> slog::Logger {
    let min = match level {
        LogLevel::Off => return slog::Logger::root(slog::Discard, o!()),
        LogLevel::Error => Level::Error,
        LogLevel::Warn => Level::Warning,
        LogLevel::Info => Level::Info,
        LogLevel::Debug => Level::Debug,
        LogLevel::Trace => Level::Trace,
    };
    let json = slog_json::Json::new(std::io::stdout())
        .set_newlines(true)
        .add_key_value(o!(
            "ts" => FnValue(|_| Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)),
            "level" => FnValue(|r| level_name(r.level())),
            "msg" => PushFnValue(|r, ser| ser.emit(r.msg())),
        ))
        .build()
        .fuse();
    let drain = slog_async::Async::new(json)
        .chan_size(8192)
        .overflow_strategy(slog_async::OverflowStrategy::DropAndReport)
        .thread_name("log".into())
        .build()
        .fuse();
    let drain = slog::LevelFilter::new(WithTraceIds(drain), min).fuse();
    slog::Logger::root(drain, o!("service" => service))
}

/// Adds `trace_id` and `span_id` of the current sampled span to a record, on the thread that
/// logs it (slog-async serialises the logger's own values later, on its thread, where no span
/// is current: they have to travel in the record).
struct WithTraceIds<D>(D);

impl<D: Drain> Drain for WithTraceIds<D> {
    type Ok = D::Ok;
    type Err = D::Err;

    fn log(&self, record: &slog::Record<'_>, values: &slog::OwnedKVList) -> Result<D::Ok, D::Err> {
        if !trace::enabled() {
            return self.0.log(record, values);
        }
        let ids = trace::TraceIds::current();
        let Some(ids) = ids else { return self.0.log(record, values) };
        let kv = (record.kv(), ids);
        let rstatic =
            slog::RecordStatic { location: record.location(), tag: record.tag(), level: record.level() };
        self.0.log(&slog::Record::new(&rstatic, record.msg(), slog::BorrowedKV(&kv)), values)
    }
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Critical => "critical",
        Level::Error => "error",
        Level::Warning => "warn",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// Histogram buckets of request durations, in seconds.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();
static PROCESS: OnceLock<Mutex<metrics_process::Collector>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once (later calls, e.g. a second service in the
/// same test process, get the same handle) and returns its handle. Every series gets the
/// `service` label of the first caller.
pub fn metrics_handle(service: &'static str) -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .add_global_label("service", service)
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_seconds_hist".into()), LATENCY_BUCKETS)
                });
            let recorder = match builder {
                Ok(b) => b.build_recorder(),
                Err(_) => PrometheusBuilder::new().build_recorder(),
            };
            let handle = recorder.handle();
            // Histogram samples wait in a buffer until they are folded into the buckets, which
            // only a render or an upkeep does: with nobody scraping, that buffer grew by 8 bytes
            // a request (tens of MiB in a benchmark run). Fold them every 5 s.
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            });
            // Fails only if another recorder was installed first; ours is still rendered then.
            let _ = metrics::set_global_recorder(recorder);
            let collector = metrics_process::Collector::default();
            collector.describe();
            let _ = PROCESS.set(Mutex::new(collector));
            handle
        })
        .clone()
}

/// Samples process metrics and renders every series as Prometheus text.
pub fn render(handle: &PrometheusHandle) -> String {
    if let Some(p) = PROCESS.get() {
        if let Ok(c) = p.lock() {
            c.collect();
        }
    }
    handle.render()
}

/// The log level tests use: silent unless `TEST_LOG` is set.
pub fn test_log_level() -> LogLevel {
    if std::env::var_os("TEST_LOG").is_some() {
        LogLevel::Debug
    } else {
        LogLevel::Off
    }
}
