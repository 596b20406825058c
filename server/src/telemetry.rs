//! Logs, spans and OpenTelemetry export.
//!
//! Logs always go to stdout as JSON lines; the level comes from `RUST_LOG` (default `info`), which
//! also selects the spans that are exported. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, traces,
//! metrics and logs are exported through OTLP as well ([`otel_from_env`]); without it no exporter
//! is built and nothing connects anywhere.
//!
//! What reaches the exporters is what reaches the JSON logs: span fields and log events. Both are
//! written by this crate with fixed vocabularies (route templates, operation names), so the rules
//! that keep tokens, verifiers, bodies and ids out of the logs keep them out of the exports too.
//! The one header value in either is a client's `X-Request-Id`, after [`client_request_id`]
//! checked it; a caller's `tracestate` rides along with its trace in the exported spans only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::MatchedPath;
use axum::http::{HeaderName, Request};
use bytes::Bytes;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_http::{HeaderExtractor, HttpClient, HttpError};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::resource::{EnvResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::{Metadata, Span, Subscriber};
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::filter::{filter_fn, FilterFn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

mod json_log;
use json_log::JsonLog;

/// The name of the meter and tracer; also the default `service.name`.
pub const SERVICE_NAME: &str = env!("CARGO_PKG_NAME");
const SERVICE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The largest collector response read; OTLP responses are tiny, and an endless one must not
/// grow memory.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Hakanai's request id header. A client's value, when it passes [`client_request_id`], becomes
/// the request's `request_id`.
pub const REQUEST_ID_HEADER: &str = crate::headers::REQUEST_ID;

/// The longest client request id taken.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Set once spans are exported ([`get_subscriber_with_otel`]): only then is an incoming W3C
/// `traceparent` read. With export off, the request path reads this flag and nothing else.
static CONTINUE_TRACES: AtomicBool = AtomicBool::new(false);

pub fn get_subscriber<W>(default_filter: &str, sink: W) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    get_subscriber_with_otel(default_filter, sink, None)
}

/// Like [`get_subscriber`], adding the span and log bridges of `otel` when there is one.
pub fn get_subscriber_with_otel<W>(
    default_filter: &str,
    sink: W,
    otel: Option<&OtelProviders>,
) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    // One level filter per layer rather than a global one: a span that no layer wants (a store
    // call's, with export off) is then never built at all.
    let level =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let spans = otel.and_then(|o| o.tracer.as_ref()).map(|p| {
        CONTINUE_TRACES.store(true, Ordering::Relaxed);
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(SERVICE_NAME))
            .with_filter(level().and(not_exporter_internals()))
    });
    let logs = otel.and_then(|o| o.logger.as_ref()).map(|p| {
        opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(p)
            .with_filter(level().and(not_exporter_internals()))
    });
    Registry::default()
        .with(JsonLog::new(sink).with_filter(level().and(request_span_only())))
        .with(spans)
        .with(logs)
}

/// The JSON log knows only the request span: a line inside a store call or a check still names
/// the request (route, request id, trace id), and the spans of those calls, which only the
/// exporter needs, cost the log nothing (their fields used to be formatted for every request).
fn request_span_only() -> FilterFn<impl Fn(&Metadata<'_>) -> bool> {
    filter_fn(|meta| !meta.is_span() || meta.name() == "request")
}

/// The exporters' own HTTP and gRPC clients log and open spans; exporting those would make
/// every export cause the next one. Matched by crate, so `tower_http`'s request log still goes.
fn not_exporter_internals() -> FilterFn<impl Fn(&Metadata<'_>) -> bool> {
    const CRATES: &[&str] = &[
        "h2",
        "hyper",
        "hyper_util",
        "reqwest",
        "rustls",
        "tonic",
        "tower",
    ];
    filter_fn(|meta| {
        let target = meta.target();
        let krate = target.split("::").next().unwrap_or(target);
        !krate.starts_with("opentelemetry") && !CRATES.contains(&krate)
    })
}

/// The process's log sink: JSON lines go to a worker thread that writes them to stdout in
/// batches (one `write` per burst instead of one per line, and never on a request's thread).
/// Not lossy: if the queue fills up, logging waits as a plain stdout writer would. Keep the
/// guard until exit; dropping it flushes what is queued.
pub fn stdout_log_writer() -> (NonBlocking, WorkerGuard) {
    use std::os::fd::AsFd;
    let builder = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("hakanai-log");
    // Stdout's own lock flushes at every newline; a duplicate of its descriptor behind a
    // BufWriter lets the worker batch.
    match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => builder.finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::fs::File::from(fd),
        )),
        Err(_) => builder.finish(std::io::stdout()),
    }
}

pub fn init_subscriber(subscriber: impl Subscriber + Send + Sync) {
    // Ignored when already set, as in tests that share a process.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// The span of one HTTP request. It carries the route template, never the concrete path (ids are
/// read capabilities), a request id, and — when spans are exported — the trace and span id, so
/// that JSON log lines can be matched with the exported trace.
///
/// The request id is the client's `X-Request-Id` when it is a plausible one
/// ([`client_request_id`]), so that the lines of a proxy and of this server share it; otherwise
/// a fresh one. With spans exported, a W3C `traceparent` (and `tracestate`) from the client makes
/// the span a child of the caller's, in the caller's trace.
pub fn request_span<B>(req: &Request<B>) -> Span {
    let route = crate::labels::route(req.extensions().get::<MatchedPath>());
    let route: &str = &route;
    let method = crate::labels::method(req.method());
    let client = client_request_id(req);
    let own;
    let request_id: &dyn std::fmt::Display = match &client {
        Some(id) => id,
        None => {
            own = uuid::Uuid::new_v4().simple();
            &own
        }
    };
    let span = tracing::info_span!(
        "request",
        // Formatted where it is recorded: with export off, into the log's span object only.
        otel.name = format_args!("{method} {route}"),
        method,
        route,
        request_id = %request_id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    if CONTINUE_TRACES.load(Ordering::Relaxed) {
        continue_trace(&span, req);
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if sc.is_valid() {
        span.record("trace_id", sc.trace_id().to_string());
        span.record("span_id", sc.span_id().to_string());
    }
    span
}

/// Makes `span` a child of the caller's span named by `traceparent`, if the request has a valid
/// one. Must run before anything reads the span's context: that starts the span.
fn continue_trace<B>(span: &Span, req: &Request<B>) {
    if !req.headers().contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(req.headers()));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// The client's `X-Request-Id`, when it is 1 to 128 characters of visible ASCII (no spaces, no
/// control characters); anything else is ignored, and never logged.
pub fn client_request_id<B>(req: &Request<B>) -> Option<&str> {
    static NAME: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
    let value = req.headers().get(&NAME)?.as_bytes();
    if value.is_empty()
        || value.len() > MAX_REQUEST_ID_LEN
        || !value.iter().all(u8::is_ascii_graphic)
    {
        return None;
    }
    // Visible ASCII is UTF-8.
    std::str::from_utf8(value).ok()
}

/// OTLP transport, from `OTEL_EXPORTER_OTLP_PROTOCOL` (or its per-signal variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// Export compression, from `OTEL_EXPORTER_OTLP_COMPRESSION` (or its per-signal variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

/// What the `OTEL_*` variables ask for. A signal is `None` when its `OTEL_*_EXPORTER` is `none`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtelConfig {
    pub traces: Option<Protocol>,
    pub metrics: Option<Protocol>,
    pub logs: Option<Protocol>,
    pub traces_compression: Compression,
    pub metrics_compression: Compression,
    pub logs_compression: Compression,
    pub service_name: String,
    pub service_version: String,
    /// Export timeout for the HTTP client (the gRPC exporter reads the variable itself).
    pub timeout: Duration,
}

/// Reads the configuration from `var` (the process environment in production). `Ok(None)` means
/// export is off: `OTEL_EXPORTER_OTLP_ENDPOINT` is unset or empty, or `OTEL_SDK_DISABLED=true`.
pub fn otel_config(var: impl Fn(&str) -> Option<String>) -> Result<Option<OtelConfig>, String> {
    let get = |name: &str| {
        var(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if get("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
        || get("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Ok(None);
    }
    let protocol = |signal: &str| -> Result<Option<Protocol>, String> {
        let exporter = get(&format!("OTEL_{signal}_EXPORTER"));
        match exporter.as_deref() {
            None | Some("otlp") => {}
            Some("none") => return Ok(None),
            Some(other) => {
                return Err(format!(
                    "OTEL_{signal}_EXPORTER={other} is not supported (otlp or none)"
                ))
            }
        }
        let name = format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL");
        let value = get(&name).or_else(|| get("OTEL_EXPORTER_OTLP_PROTOCOL"));
        match value.as_deref() {
            // The specification's default.
            None | Some("http/protobuf") => Ok(Some(Protocol::HttpProtobuf)),
            Some("grpc") => Ok(Some(Protocol::Grpc)),
            Some(other) => Err(format!(
                "OTLP protocol {other:?} is not supported (grpc or http/protobuf)"
            )),
        }
    };
    // Read by the exporters too; decided here so that a value they would skip with a warning
    // stops the server instead, and both transports compress alike.
    let compression = |signal: &str| -> Result<Compression, String> {
        let name = format!("OTEL_EXPORTER_OTLP_{signal}_COMPRESSION");
        let (name, value) = match get(&name) {
            Some(v) => (name, Some(v)),
            None => (
                "OTEL_EXPORTER_OTLP_COMPRESSION".to_owned(),
                get("OTEL_EXPORTER_OTLP_COMPRESSION"),
            ),
        };
        match value.map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("none") => Ok(Compression::None),
            Some("gzip") => Ok(Compression::Gzip),
            Some(other) => Err(format!("{name}={other} is not supported (gzip or none)")),
        }
    };
    let timeout = match get("OTEL_EXPORTER_OTLP_TIMEOUT") {
        None => Duration::from_secs(10),
        Some(ms) => ms
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("OTEL_EXPORTER_OTLP_TIMEOUT={ms} is not milliseconds"))?,
    };
    Ok(Some(OtelConfig {
        traces: protocol("TRACES")?,
        metrics: protocol("METRICS")?,
        logs: protocol("LOGS")?,
        traces_compression: compression("TRACES")?,
        metrics_compression: compression("METRICS")?,
        logs_compression: compression("LOGS")?,
        service_name: get("OTEL_SERVICE_NAME").unwrap_or_else(|| SERVICE_NAME.to_owned()),
        // Not a standard variable, but the original deployment guide documents it.
        service_version: get("OTEL_SERVICE_VERSION").unwrap_or_else(|| SERVICE_VERSION.to_owned()),
        timeout,
    }))
}

/// The installed providers. Flush them with [`OtelProviders::shutdown`] before exiting.
#[derive(Debug)]
pub struct OtelProviders {
    pub config: OtelConfig,
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    logger: Option<SdkLoggerProvider>,
}

impl OtelProviders {
    /// How often metrics are pushed, when they are: `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds,
    /// default 60 s), as the SDK's periodic reader reads it.
    pub fn metric_interval(&self) -> Option<Duration> {
        self.meter.as_ref()?;
        let ms = std::env::var("OTEL_METRIC_EXPORT_INTERVAL")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&ms| ms > 0)
            .unwrap_or(60_000);
        Some(Duration::from_millis(ms))
    }

    /// Exports what is still buffered and stops the exporters. Blocks: call it outside the async
    /// runtime's worker threads (`spawn_blocking`), because the HTTP exporter runs on them.
    pub fn shutdown(self) {
        if let Some(p) = self.tracer {
            if let Err(e) = p.shutdown() {
                tracing::warn!(error = %e, "flushing spans failed");
            }
        }
        if let Some(p) = self.meter {
            if let Err(e) = p.shutdown() {
                tracing::warn!(error = %e, "flushing metrics failed");
            }
        }
        if let Some(p) = self.logger {
            // Logged to stdout only: the log exporter is the one stopping.
            if let Err(e) = p.shutdown() {
                eprintln!("hakanai-server: flushing logs failed: {e}");
            }
        }
    }
}

/// Builds the exporters the process environment asks for and installs the global tracer and
/// meter providers. `Ok(None)` when export is off. Must run inside the Tokio runtime: the
/// exporters' connections live on it.
pub fn otel_from_env() -> Result<Option<OtelProviders>, String> {
    let Some(config) = otel_config(|name| std::env::var(name).ok())? else {
        return Ok(None);
    };
    let resource = resource(&config);
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| "OpenTelemetry export needs the Tokio runtime".to_owned())?;
    let http = TokioHttpClient {
        client: reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| format!("OTLP HTTP client: {e}"))?,
        runtime,
    };
    let err = |what: &str| {
        let what = what.to_owned();
        move |e: opentelemetry_otlp::ExporterBuildError| format!("OTLP {what} exporter: {e}")
    };

    // The three signals' builders are distinct types with the same methods, so one macro
    // (rather than a generic over three unrelated builder traits) makes each exporter.
    macro_rules! exporter {
        ($builder:expr, $protocol:expr, $compression:expr, $what:literal) => {
            match $protocol {
                Protocol::Grpc => tonic_compression($builder.with_tonic(), $compression).build(),
                Protocol::HttpProtobuf => http_compression(
                    $builder
                        .with_http()
                        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                        .with_http_client(http.clone()),
                    $compression,
                )
                .build(),
            }
            .map_err(err($what))
        };
    }

    let tracer = match config.traces {
        None => None,
        Some(protocol) => {
            let builder = opentelemetry_otlp::SpanExporter::builder();
            let exporter = exporter!(builder, protocol, config.traces_compression, "span")?;
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource.clone())
                    .build(),
            )
        }
    };
    let meter = match config.metrics {
        None => None,
        Some(protocol) => {
            let builder = opentelemetry_otlp::MetricExporter::builder();
            let exporter = exporter!(builder, protocol, config.metrics_compression, "metric")?;
            Some(
                SdkMeterProvider::builder()
                    .with_reader(PeriodicReader::builder(exporter).build())
                    .with_resource(resource.clone())
                    .build(),
            )
        }
    };
    let logger = match config.logs {
        None => None,
        Some(protocol) => {
            let builder = opentelemetry_otlp::LogExporter::builder();
            let exporter = exporter!(builder, protocol, config.logs_compression, "log")?;
            Some(
                SdkLoggerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource)
                    .build(),
            )
        }
    };
    if let Some(p) = &tracer {
        opentelemetry::global::set_tracer_provider(p.clone());
    }
    if let Some(p) = &meter {
        opentelemetry::global::set_meter_provider(p.clone());
    }
    Ok(Some(OtelProviders {
        config,
        tracer,
        meter,
        logger,
    }))
}

fn tonic_compression<B: WithTonicConfig>(builder: B, c: Compression) -> B {
    match c {
        Compression::None => builder,
        Compression::Gzip => builder.with_compression(opentelemetry_otlp::Compression::Gzip),
    }
}

fn http_compression<B: WithHttpConfig>(builder: B, c: Compression) -> B {
    match c {
        Compression::None => builder,
        Compression::Gzip => builder.with_compression(opentelemetry_otlp::Compression::Gzip),
    }
}

/// `service.name` and `service.version` from the crate unless the environment names them;
/// `OTEL_RESOURCE_ATTRIBUTES` adds to them (and `OTEL_SERVICE_NAME` beats its `service.name`).
fn resource(config: &OtelConfig) -> Resource {
    let version = KeyValue::new("service.version", config.service_version.clone());
    let mut builder = Resource::builder_empty()
        .with_service_name(SERVICE_NAME)
        .with_attribute(version.clone())
        .with_detectors(&[
            Box::new(TelemetryResourceDetector),
            Box::new(EnvResourceDetector::new()),
        ]);
    if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        builder = builder.with_service_name(config.service_name.clone());
    }
    if std::env::var_os("OTEL_SERVICE_VERSION").is_some() {
        builder = builder.with_attribute(version);
    }
    builder.build()
}

/// The OTLP/HTTP transport: the server's own reqwest (rustls) client, run on the Tokio runtime.
/// The SDK's batch processors export from their own threads, where reqwest's async client would
/// find no reactor, so each request is spawned onto the runtime and awaited from there.
#[derive(Debug, Clone)]
struct TokioHttpClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait]
impl HttpClient for TokioHttpClient {
    async fn send_bytes(
        &self,
        request: axum::http::Request<Bytes>,
    ) -> Result<axum::http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let request = reqwest::Request::try_from(request)?;
        let task = self.runtime.spawn(async move {
            let mut resp = client.execute(request).await?;
            let mut out = axum::http::Response::builder().status(resp.status());
            if let Some(h) = out.headers_mut() {
                *h = resp.headers().clone();
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err::<_, HttpError>("OTLP response too large".into());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(out.body(Bytes::from(body))?)
        });
        task.await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Option<OtelConfig>, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        otel_config(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn without_an_endpoint_nothing_is_exported() {
        assert_eq!(config(&[]), Ok(None));
        // Other OTEL_ variables alone do not switch export on.
        assert_eq!(
            config(&[
                ("OTEL_SERVICE_NAME", "x"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://127.0.0.1:1/v1/traces"
                ),
            ]),
            Ok(None)
        );
        assert_eq!(config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), Ok(None));
        assert_eq!(
            config(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_SDK_DISABLED", "true"),
            ]),
            Ok(None)
        );
    }

    #[test]
    fn protocol_defaults_to_http_protobuf_and_follows_the_variables() {
        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")])
            .unwrap()
            .unwrap();
        assert_eq!(c.traces, Some(Protocol::HttpProtobuf));
        assert_eq!(c.metrics, Some(Protocol::HttpProtobuf));
        assert_eq!(c.logs, Some(Protocol::HttpProtobuf));
        assert_eq!(c.service_name, "hakanai-server");
        assert_eq!(c.service_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert_eq!(c.traces_compression, Compression::None);
        assert_eq!(c.metrics_compression, Compression::None);
        assert_eq!(c.logs_compression, Compression::None);

        let c = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_SERVICE_NAME", "vault-share"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.traces, Some(Protocol::Grpc));
        assert_eq!(c.metrics, None);
        assert_eq!(c.logs, Some(Protocol::HttpProtobuf));
        assert_eq!(c.service_name, "vault-share");
        assert_eq!(c.timeout, Duration::from_millis(2500));
    }

    #[test]
    fn unsupported_settings_are_refused() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let e = config(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap_err();
        assert!(e.contains("http/json"), "{e}");
        let e = config(&[endpoint, ("OTEL_TRACES_EXPORTER", "zipkin")]).unwrap_err();
        assert!(e.contains("zipkin"), "{e}");
        let e = config(&[endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")]).unwrap_err();
        assert!(e.contains("milliseconds"), "{e}");
        // zstd is in the specification but not built in; a typo must not mean "uncompressed".
        let e = config(&[endpoint, ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")]).unwrap_err();
        assert!(e.contains("OTEL_EXPORTER_OTLP_COMPRESSION=zstd"), "{e}");
        let e = config(&[endpoint, ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzp")]).unwrap_err();
        assert!(e.contains("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION=gzp"), "{e}");
    }

    #[test]
    fn compression_is_gzip_or_none_per_signal() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let c = config(&[endpoint, ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")])
            .unwrap()
            .unwrap();
        assert_eq!(c.traces_compression, Compression::Gzip);
        assert_eq!(c.metrics_compression, Compression::Gzip);
        assert_eq!(c.logs_compression, Compression::Gzip);

        // The per-signal variable wins, either way; values are case-insensitive.
        let c = config(&[
            endpoint,
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP"),
            ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.traces_compression, Compression::Gzip);
        assert_eq!(c.metrics_compression, Compression::None);
        assert_eq!(c.logs_compression, Compression::Gzip);
        let c = config(&[
            endpoint,
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.traces_compression, Compression::Gzip);
        assert_eq!(c.metrics_compression, Compression::None);
        assert_eq!(c.logs_compression, Compression::None);
    }

    fn request(headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().uri("/healthy");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn a_client_request_id_is_taken_only_when_plausible() {
        assert_eq!(client_request_id(&request(&[])), None);
        let id = "req-42_abc.DEF:7f3a/~";
        assert_eq!(
            client_request_id(&request(&[("x-request-id", id)])),
            Some(id)
        );
        let longest = "a".repeat(128);
        assert_eq!(
            client_request_id(&request(&[("X-Request-Id", &longest)])),
            Some(longest.as_str())
        );
        for bad in ["", "has space", "tab\there", &"a".repeat(129)] {
            assert_eq!(
                client_request_id(&request(&[("x-request-id", bad)])),
                None,
                "{bad:?}"
            );
        }
        // Not visible ASCII: UTF-8 and obs-text bytes.
        let mut r = request(&[]);
        r.headers_mut().insert(
            "x-request-id",
            axum::http::HeaderValue::from_bytes("caf\u{e9}".as_bytes()).unwrap(),
        );
        assert_eq!(client_request_id(&r), None);
    }

    /// A log sink the test can read.
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Buf {
        fn lines(&self) -> Vec<serde_json::Value> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    /// One request span, a log line inside it; the line, and the span's OpenTelemetry context.
    fn log_in_request_span(
        otel: Option<&OtelProviders>,
        headers: &[(&str, &str)],
    ) -> (serde_json::Value, opentelemetry::trace::SpanContext) {
        let buf = Buf::default();
        let sink = buf.clone();
        let subscriber = get_subscriber_with_otel("info", move || sink.clone(), otel);
        let sc = tracing::subscriber::with_default(subscriber, || {
            let span = request_span(&request(headers));
            span.in_scope(|| tracing::info!("inside"));
            span.context().span().span_context().clone()
        });
        let line = buf.lines().pop().expect("a log line");
        (line, sc)
    }

    const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn without_span_export_a_traceparent_is_not_read() {
        let (line, sc) = log_in_request_span(
            None,
            &[
                ("traceparent", TRACEPARENT),
                ("x-request-id", "from-the-proxy-1"),
            ],
        );
        assert!(!sc.is_valid());
        assert_eq!(line["span"]["request_id"], "from-the-proxy-1");
        assert!(line["span"].get("trace_id").is_none(), "{line}");

        // Without (or with an unusable) X-Request-Id, the server's own: 32 hex digits.
        for headers in [&[][..], &[("x-request-id", "two words")][..]] {
            let (line, _) = log_in_request_span(None, headers);
            let id = line["span"]["request_id"].as_str().unwrap();
            assert!(
                id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{id}"
            );
        }
    }

    #[test]
    fn with_span_export_a_traceparent_is_continued() {
        // A provider without exporters: spans get real ids, nothing leaves the process.
        let otel = OtelProviders {
            config: config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")])
                .unwrap()
                .unwrap(),
            tracer: Some(SdkTracerProvider::builder().build()),
            meter: None,
            logger: None,
        };
        let (line, sc) = log_in_request_span(
            Some(&otel),
            &[
                ("traceparent", TRACEPARENT),
                ("tracestate", "vendor=opaque"),
            ],
        );
        assert_eq!(
            sc.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_ne!(sc.span_id().to_string(), "b7ad6b7169203331", "a child span");
        assert_eq!(sc.trace_state().get("vendor"), Some("opaque"));
        assert_eq!(line["span"]["trace_id"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(line["span"]["span_id"], sc.span_id().to_string());

        // Without one, or with a malformed one, the request starts its own trace.
        for headers in [
            &[][..],
            &[(
                "traceparent",
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            )][..],
            &[("traceparent", "garbage")][..],
        ] {
            let (line, sc) = log_in_request_span(Some(&otel), headers);
            assert!(sc.is_valid());
            assert_ne!(
                sc.trace_id().to_string(),
                "0af7651916cd43dd8448eb211c80319c"
            );
            assert_eq!(line["span"]["trace_id"], sc.trace_id().to_string());
        }
    }
}
