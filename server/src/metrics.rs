//! Prometheus metrics in the text exposition format.
//!
//! Every label comes from a fixed vocabulary (route templates, status codes, reasons, store
//! operations): never a concrete path, a secret id, a token or a header value, because the path
//! of a read carries the secret's id and labels end up in long-lived monitoring systems.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::KeyValue;
use prometheus::core::Collector;
use prometheus::proto::MetricType;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::store::now_secs;
use crate::AppState;

/// Why a request was refused; set on error responses and counted by [`track_requests`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection(pub &'static str);

/// One registry per application, so several servers in one process (tests) count separately.
///
/// The Prometheus collectors are the one place where counts live. With OpenTelemetry export on,
/// the OTLP counters and gauge are read from this registry at each export ([`Metrics::new`]), so
/// both outputs always carry the same numbers; only the latency histogram is recorded twice, in
/// [`Metrics::observe_request`], because OpenTelemetry has no observable histogram.
pub struct Metrics {
    registry: Registry,
    pub secrets_created: IntCounter,
    pub secrets_retrieved: IntCounter,
    pub secrets_revoked: IntCounter,
    pub secrets_destroyed: IntCounter,
    pub request_duration: HistogramVec,
    pub tokens_active: IntGauge,
    pub redis_operations: IntCounterVec,
    pub requests_rejected: IntCounterVec,
    pub webhook_deliveries: IntCounterVec,
    otel_request_duration: Histogram<f64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique");
            c
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique");
            c
        };
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "hakanai_request_duration_seconds",
                "HTTP request latency by route template, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(request_duration.clone()))
            .expect("unique");
        let tokens_active = IntGauge::new(
            "hakanai_tokens_active",
            "User tokens that exist and have not expired (refreshed on each scrape)",
        )
        .expect("valid metric");
        registry
            .register(Box::new(tokens_active.clone()))
            .expect("unique");
        let requests_rejected = counter_vec(
            "hakanai_requests_rejected_total",
            "Refused requests by reason: size, token, restriction, passphrase",
            &["reason"],
        );
        // Pre-create the series so dashboards see zeros rather than gaps.
        for reason in ["size", "token", "restriction", "passphrase"] {
            requests_rejected.with_label_values(&[reason]);
        }
        let meter = opentelemetry::global::meter(crate::telemetry::SERVICE_NAME);
        let otel_request_duration = meter
            .f64_histogram("hakanai_request_duration_seconds")
            .with_description("HTTP request latency by route template, method and status")
            .with_unit("s")
            .with_boundaries(prometheus::DEFAULT_BUCKETS.to_vec())
            .build();
        let metrics = Metrics {
            secrets_created: counter("hakanai_secrets_created_total", "Secrets stored"),
            secrets_retrieved: counter(
                "hakanai_secrets_retrieved_total",
                "Secrets handed out (and consumed)",
            ),
            secrets_revoked: counter(
                "hakanai_secrets_revoked_total",
                "Secrets deleted by their creator before being read",
            ),
            secrets_destroyed: counter(
                "hakanai_secrets_destroyed_total",
                "Secrets destroyed after too many wrong passphrases",
            ),
            request_duration,
            tokens_active,
            redis_operations: counter_vec(
                "hakanai_redis_operations_total",
                "Redis store operations by operation and result (ok or error)",
                &["operation", "result"],
            ),
            requests_rejected,
            webhook_deliveries: counter_vec(
                "hakanai_webhook_events_total",
                "Webhook events by outcome: delivered, failed (retries exhausted), dropped (queue full)",
                &["outcome"],
            ),
            registry,
            otel_request_duration,
        };
        metrics.mirror_into(&meter);
        metrics
    }

    /// Registers an observable OpenTelemetry instrument for each counter and gauge, reading the
    /// registry. Without an installed meter provider the meter is a no-op and this costs nothing.
    fn mirror_into(&self, meter: &Meter) {
        let counters: [&dyn Collector; 8] = [
            &self.secrets_created,
            &self.secrets_retrieved,
            &self.secrets_revoked,
            &self.secrets_destroyed,
            &self.redis_operations,
            &self.requests_rejected,
            &self.webhook_deliveries,
            &self.tokens_active,
        ];
        for desc in counters.iter().flat_map(|c| c.desc()) {
            let registry = self.registry.clone();
            let name = desc.fq_name.clone();
            let observe = move |want: MetricType, record: &mut dyn FnMut(f64, Vec<KeyValue>)| {
                for family in registry.gather() {
                    if family.name() != name || family.get_field_type() != want {
                        continue;
                    }
                    for m in family.get_metric() {
                        let labels = m
                            .get_label()
                            .iter()
                            .map(|l| KeyValue::new(l.name().to_owned(), l.value().to_owned()))
                            .collect();
                        let value = match want {
                            MetricType::GAUGE => m.get_gauge().get_value(),
                            _ => m.get_counter().get_value(),
                        };
                        record(value, labels);
                    }
                }
            };
            if desc.fq_name == "hakanai_tokens_active" {
                meter
                    .i64_observable_gauge(desc.fq_name.clone())
                    .with_description(desc.help.clone())
                    .with_callback(move |o| {
                        observe(MetricType::GAUGE, &mut |v, attrs| {
                            o.observe(v as i64, &attrs)
                        })
                    })
                    .build();
            } else {
                meter
                    .u64_observable_counter(desc.fq_name.clone())
                    .with_description(desc.help.clone())
                    .with_callback(move |o| {
                        observe(MetricType::COUNTER, &mut |v, attrs| {
                            o.observe(v as u64, &attrs)
                        })
                    })
                    .build();
            }
        }
    }

    /// One finished request, into both the Prometheus and the OpenTelemetry histogram.
    pub fn observe_request(&self, route: &str, method: &'static str, status: &str, secs: f64) {
        self.request_duration
            .with_label_values(&[route, method, status])
            .observe(secs);
        self.otel_request_duration.record(
            secs,
            &[
                KeyValue::new("route", route.to_owned()),
                KeyValue::new("method", method),
                KeyValue::new("status", status.to_owned()),
            ],
        );
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

/// Route label: the matched template, or a fixed word for everything else (static files, 404s).
/// Parameters are written `:id` rather than axum's `{id}`: some text-format parsers in the wild
/// (prometheus-parse among them) drop samples whose label values contain braces.
fn route_label(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().replace('{', ":").replace('}', ""))
        .unwrap_or_else(|| "(other)".to_owned())
}

/// Arbitrary method strings would let a client create unbounded series (or span names).
pub(crate) fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Middleware: request latency and rejection counts.
pub async fn track_requests(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let route = route_label(&req);
    let method = method_label(req.method());
    let start = Instant::now();
    let resp = next.run(req).await;
    metrics.observe_request(
        &route,
        method,
        resp.status().as_str(),
        start.elapsed().as_secs_f64(),
    );
    if let Some(Rejection(reason)) = resp.extensions().get::<Rejection>() {
        metrics.requests_rejected.with_label_values(&[reason]).inc();
    }
    resp
}

/// Recounts `hakanai_tokens_active`. Counting (on scrape, or on a timer when metrics are pushed)
/// keeps the gauge right across restarts and several instances sharing one Redis; a failed count
/// leaves the last value rather than failing the scrape.
pub async fn refresh_gauges(state: &AppState) {
    if let Ok(tokens) = state.store.token_list().await {
        let now = now_secs();
        let live = tokens.iter().filter(|t| !t.is_expired(now)).count();
        state.metrics.tokens_active.set(live as i64);
    }
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>) -> Response {
    refresh_gauges(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response()
}
