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
        Metrics {
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
        }
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

/// Arbitrary method strings would let a client create unbounded series.
fn method_label(m: &Method) -> &'static str {
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
    metrics
        .request_duration
        .with_label_values(&[route.as_str(), method, resp.status().as_str()])
        .observe(start.elapsed().as_secs_f64());
    if let Some(Rejection(reason)) = resp.extensions().get::<Rejection>() {
        metrics.requests_rejected.with_label_values(&[reason]).inc();
    }
    resp
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>) -> Response {
    // Counting on scrape keeps the gauge right across restarts and several instances sharing
    // one Redis; a failed count leaves the last value rather than failing the scrape.
    if let Ok(tokens) = state.store.token_list().await {
        let now = now_secs();
        let live = tokens.iter().filter(|t| !t.is_expired(now)).count();
        state.metrics.tokens_active.set(live as i64);
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response()
}
