//! Prometheus metrics in the text exposition format.
//!
//! Every label comes from a fixed vocabulary (route templates, status codes, reasons, store
//! operations): never a concrete path, a secret id, a token or a header value, because the path
//! of a read carries the secret's id and labels end up in long-lived monitoring systems.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::KeyValue;
use prometheus::core::Collector;
use prometheus::proto::MetricType;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::connections::{ConnectionMetrics, Cut};
use crate::labels;
use crate::tokens::UserType;

/// Whether histograms are also recorded into OpenTelemetry: only while metrics are exported, so
/// a server without export builds no attribute lists per request.
static OTEL_HISTOGRAMS: AtomicBool = AtomicBool::new(false);

/// Called once metrics export is set up (`main.rs`).
pub fn record_histograms_in_otel() {
    OTEL_HISTOGRAMS.store(true, Ordering::Relaxed);
}

/// The `type` label values of `hakanai_secrets_with_restrictions_total`, by bitfield.
const RESTRICTION_TYPES: [&str; 16] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
];

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
    /// By `user_type` (Hakanai v3's label).
    pub secrets_created: IntCounterVec,
    pub secrets_retrieved: IntCounter,
    pub secrets_revoked: IntCounter,
    pub secrets_destroyed: IntCounter,
    pub request_duration: HistogramVec,
    pub tokens_active: IntGauge,
    /// Bytes reserved by stored secrets and open uploads, and the global budget (0: none).
    pub stored_bytes: IntGauge,
    pub stored_bytes_limit: IntGauge,
    pub redis_operations: IntCounterVec,
    pub requests_rejected: IntCounterVec,
    pub webhook_deliveries: IntCounterVec,
    /// `hakanai_connections_open` and `hakanai_connections_cut_total`, fed by the server loop.
    pub connections: ConnectionMetrics,
    otel_request_duration: Histogram<f64>,
    hakanai: HakanaiMetrics,
}

/// Hakanai v3's metric names, so its dashboards and alerts keep working. Where a number is also
/// one of ours (active tokens, the created counter) both come from the same observation.
struct HakanaiMetrics {
    active_tokens: IntGauge,
    active_secrets: IntGauge,
    expired_secrets: IntGauge,
    with_restrictions: IntCounterVec,
    secret_size: DualHistogram,
    secret_ttl: DualHistogram,
    secret_lifetime: DualHistogram,
    http_duration: DualHistogram,
    http_request_size: DualHistogram,
    http_response_size: DualHistogram,
    http_active: IntGaugeVec,
}

/// Hakanai v3's buckets: sizes up to its 10 MiB default limit, TTLs up to 30 days, lifetimes
/// up to a week.
const SIZE_BUCKETS: &[f64] = &[
    256.0, 1024.0, 4096.0, 16384.0, 32768.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 10485760.0,
];
const TTL_BUCKETS: &[f64] = &[
    300.0, 900.0, 3600.0, 21600.0, 43200.0, 86400.0, 259200.0, 604800.0, 1209600.0, 2592000.0,
];
const LIFETIME_BUCKETS: &[f64] = &[
    10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 10800.0, 43200.0, 86400.0, 259200.0, 604800.0,
];
/// OpenTelemetry's HTTP server duration buckets (seconds), as Hakanai v3 exported them.
const HTTP_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
const HTTP_SIZE_BUCKETS: &[f64] = &[
    0.0, 128.0, 1024.0, 8192.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0, 67108864.0,
];

/// A histogram in the Prometheus registry and, under the same name, in OpenTelemetry (which has
/// no observable histogram, so each observation is recorded in both).
struct DualHistogram {
    prometheus: HistogramVec,
    otel: Histogram<f64>,
    labels: &'static [&'static str],
}

impl DualHistogram {
    fn new(
        registry: &Registry,
        meter: &Meter,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        buckets: &[f64],
    ) -> DualHistogram {
        let prometheus = HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        )
        .expect("valid metric");
        registry
            .register(Box::new(prometheus.clone()))
            .expect("unique");
        let otel = meter
            .f64_histogram(name)
            .with_description(help)
            .with_boundaries(buckets.to_vec())
            .build();
        DualHistogram {
            prometheus,
            otel,
            labels,
        }
    }

    fn observe(&self, values: &[&str], v: f64) {
        self.prometheus.with_label_values(values).observe(v);
        if OTEL_HISTOGRAMS.load(Ordering::Relaxed) {
            let attrs: Vec<KeyValue> = self
                .labels
                .iter()
                .zip(values)
                .map(|(k, v)| KeyValue::new(*k, (*v).to_owned()))
                .collect();
            self.otel.record(v, &attrs);
        }
    }
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
        let stored_bytes = IntGauge::new(
            "hakanai_stored_bytes",
            "Bytes held by stored secrets and open uploads, as counted against the storage \
             budgets (refreshed on each scrape)",
        )
        .expect("valid metric");
        registry
            .register(Box::new(stored_bytes.clone()))
            .expect("unique");
        let stored_bytes_limit = IntGauge::new(
            "hakanai_stored_bytes_limit",
            "The global storage budget (--max-stored-bytes or its default), 0 for none",
        )
        .expect("valid metric");
        registry
            .register(Box::new(stored_bytes_limit.clone()))
            .expect("unique");
        let requests_rejected = counter_vec(
            "hakanai_requests_rejected_total",
            "Refused requests by reason: size, token, restriction, passphrase, storage_full (507: the global storage budget), identity_budget (429: a token's or address's)",
            &["reason"],
        );
        // Pre-create the series so dashboards see zeros rather than gaps.
        for reason in [
            "size",
            "token",
            "restriction",
            "passphrase",
            "storage_full",
            "identity_budget",
        ] {
            requests_rejected.with_label_values(&[reason]);
        }
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique");
            g
        };
        let meter = opentelemetry::global::meter(crate::telemetry::SERVICE_NAME);
        let otel_request_duration = meter
            .f64_histogram("hakanai_request_duration_seconds")
            .with_description("HTTP request latency by route template, method and status")
            .with_unit("s")
            .with_boundaries(prometheus::DEFAULT_BUCKETS.to_vec())
            .build();
        let secrets_created = counter_vec(
            "hakanai_secrets_created_total",
            "Secrets stored, by user_type (anonymous, authenticated, whitelisted)",
            &["user_type"],
        );
        for t in UserType::ALL {
            secrets_created.with_label_values(&[t.label()]);
        }
        let histogram = |name, help, labels, buckets| {
            DualHistogram::new(&registry, &meter, name, help, labels, buckets)
        };
        let http_labels: &'static [&'static str] = &[
            "http_route",
            "http_request_method",
            "http_response_status_code",
        ];
        let hakanai = HakanaiMetrics {
            active_tokens: gauge(
                "hakanai_active_tokens",
                "User tokens that exist and have not expired (Hakanai v3's name)",
            ),
            active_secrets: gauge(
                "hakanai_active_secrets",
                "Secrets stored and neither read, revoked, destroyed nor expired",
            ),
            expired_secrets: gauge(
                "hakanai_expired_secrets",
                "Secrets that expired unread, since the store was created",
            ),
            with_restrictions: counter_vec(
                "hakanai_secrets_with_restrictions_total",
                "Secrets created with restrictions, by user_type and type (bits: 1 IP, 2 country, 4 ASN, 8 passphrase)",
                &["user_type", "type"],
            ),
            secret_size: histogram(
                "hakanai_secret_size_bytes",
                "Sizes of stored secrets in bytes, by user_type",
                &["user_type"],
                SIZE_BUCKETS,
            ),
            secret_ttl: histogram(
                "hakanai_secret_ttl_seconds",
                "TTLs of stored secrets in seconds, by user_type",
                &["user_type"],
                TTL_BUCKETS,
            ),
            secret_lifetime: histogram(
                "hakanai_secret_lifetime_seconds",
                "Time from a secret's creation to its read, in seconds",
                &[],
                LIFETIME_BUCKETS,
            ),
            http_duration: histogram(
                "http_server_duration_seconds",
                "HTTP request duration in seconds",
                http_labels,
                HTTP_DURATION_BUCKETS,
            ),
            http_request_size: histogram(
                "http_server_request_size_bytes",
                "HTTP request body sizes in bytes (Content-Length)",
                http_labels,
                HTTP_SIZE_BUCKETS,
            ),
            http_response_size: histogram(
                "http_server_response_size_bytes",
                "HTTP response body sizes in bytes, where known before sending",
                http_labels,
                HTTP_SIZE_BUCKETS,
            ),
            http_active: {
                let g = IntGaugeVec::new(
                    Opts::new("http_server_active_requests", "HTTP requests in progress"),
                    &["http_request_method"],
                )
                .expect("valid metric");
                registry.register(Box::new(g.clone())).expect("unique");
                g
            },
        };
        // target_info as an OpenTelemetry collector makes it from the resource (Hakanai's
        // dashboard shows the version from it).
        let target_info = IntGaugeVec::new(
            Opts::new("target_info", "Target metadata"),
            &["service_name", "service_version"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(target_info.clone()))
            .expect("unique");
        target_info
            .with_label_values(&[crate::telemetry::SERVICE_NAME, env!("CARGO_PKG_VERSION")])
            .set(1);
        let connections = ConnectionMetrics {
            open: gauge(
                "hakanai_connections_open",
                "Connections being served, on all listeners",
            ),
            cut: counter_vec(
                "hakanai_connections_cut_total",
                "Connections the server gave up on, by reason: header_timeout, body_idle, body_rate, body_deadline, response_idle, over_capacity (refused with 503)",
                &["reason"],
            ),
        };
        for cut in Cut::ALL {
            connections.cut.with_label_values(&[cut.label()]);
        }
        let metrics = Metrics {
            connections,
            secrets_created,
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
            stored_bytes,
            stored_bytes_limit,
            redis_operations: counter_vec(
                "hakanai_redis_operations_total",
                "Redis store operations by operation and result (ok or error)",
                &["operation", "result"],
            ),
            requests_rejected,
            webhook_deliveries: counter_vec(
                "hakanai_webhook_events_total",
                "Webhook events by outcome: delivered, failed (retries exhausted), refused (401/403: check --webhook-token), dropped (queue full)",
                &["outcome"],
            ),
            registry,
            otel_request_duration,
            hakanai,
        };
        // Zeros rather than gaps on dashboards before the first event.
        for outcome in ["delivered", "failed", "refused", "dropped"] {
            metrics.webhook_deliveries.with_label_values(&[outcome]);
        }
        metrics.mirror_into(&meter);
        metrics
    }

    /// Registers an observable OpenTelemetry instrument for each counter and gauge, reading the
    /// registry. Without an installed meter provider the meter is a no-op and this costs nothing.
    fn mirror_into(&self, meter: &Meter) {
        let h = &self.hakanai;
        let counters: [&dyn Collector; 17] = [
            &self.connections.open,
            &self.connections.cut,
            &self.secrets_created,
            &self.secrets_retrieved,
            &self.secrets_revoked,
            &self.secrets_destroyed,
            &self.redis_operations,
            &self.requests_rejected,
            &self.webhook_deliveries,
            &self.tokens_active,
            &self.stored_bytes,
            &self.stored_bytes_limit,
            &h.active_tokens,
            &h.active_secrets,
            &h.expired_secrets,
            &h.with_restrictions,
            &h.http_active,
        ];
        for (desc, kind) in counters
            .iter()
            .flat_map(|c| c.collect().into_iter().zip(c.desc()))
            .map(|(family, desc)| (desc, family.get_field_type()))
        {
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
            if kind == MetricType::GAUGE {
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

    /// A secret was stored.
    pub fn observe_created(&self, user_type: &'static str, size: u64, ttl: Duration, bits: u8) {
        let h = &self.hakanai;
        self.secrets_created.with_label_values(&[user_type]).inc();
        h.secret_size.observe(&[user_type], size as f64);
        h.secret_ttl.observe(&[user_type], ttl.as_secs() as f64);
        if bits != 0 {
            h.with_restrictions
                .with_label_values(&[user_type, RESTRICTION_TYPES[usize::from(bits & 15)]])
                .inc();
        }
    }

    /// A secret was read this long after it was created.
    pub fn observe_lifetime(&self, lifetime: Duration) {
        self.hakanai
            .secret_lifetime
            .observe(&[], lifetime.as_secs() as f64);
    }

    /// The store's counts of live and expired secrets (see `stats.rs`).
    pub fn set_secret_counts(&self, active: u64, expired: u64) {
        let h = &self.hakanai;
        h.active_secrets.set(active.try_into().unwrap_or(i64::MAX));
        h.expired_secrets
            .set(expired.try_into().unwrap_or(i64::MAX));
    }

    /// Unexpired user tokens, under our name and Hakanai's.
    pub fn set_active_tokens(&self, n: u64) {
        let n = n.try_into().unwrap_or(i64::MAX);
        self.tokens_active.set(n);
        self.hakanai.active_tokens.set(n);
    }

    /// One finished request, into both the Prometheus and the OpenTelemetry histogram, under our
    /// names and Hakanai v3's `http_server_*`.
    pub fn observe_request(&self, done: &FinishedRequest<'_>) {
        let FinishedRequest {
            route,
            method,
            status,
            secs,
            request_bytes,
            response_bytes,
        } = *done;
        self.request_duration
            .with_label_values(&[route, method, status])
            .observe(secs);
        let h = &self.hakanai;
        let labels = [route, method, status];
        h.http_duration.observe(&labels, secs);
        h.http_request_size.observe(&labels, request_bytes as f64);
        if let Some(n) = response_bytes {
            h.http_response_size.observe(&labels, n as f64);
        }
        if OTEL_HISTOGRAMS.load(Ordering::Relaxed) {
            self.otel_request_duration.record(
                secs,
                &[
                    KeyValue::new("route", route.to_owned()),
                    KeyValue::new("method", method),
                    KeyValue::new("status", status.to_owned()),
                ],
            );
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

/// What [`Metrics::observe_request`] records of one request.
pub struct FinishedRequest<'a> {
    pub route: &'a str,
    pub method: &'static str,
    pub status: &'a str,
    pub secs: f64,
    /// Content-Length of the request (0 without one).
    pub request_bytes: u64,
    /// The response body's length when known before it is sent.
    pub response_bytes: Option<u64>,
}

/// Counts a request in `http_server_active_requests` until dropped, also when the client goes
/// away and the request's future is dropped unfinished.
struct InFlight(IntGauge);

impl InFlight {
    fn start(gauge: IntGauge) -> InFlight {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Middleware: request latency, sizes, requests in flight and rejection counts.
pub async fn track_requests(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = labels::route(matched.as_ref());
    let method = labels::method(req.method());
    let request_bytes = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    let in_flight = InFlight::start(metrics.hakanai.http_active.with_label_values(&[method]));
    let start = Instant::now();
    let resp = next.run(req).await;
    drop(in_flight);
    metrics.observe_request(&FinishedRequest {
        route: &route,
        method,
        status: resp.status().as_str(),
        secs: start.elapsed().as_secs_f64(),
        request_bytes,
        response_bytes: axum::body::HttpBody::size_hint(resp.body()).exact(),
    });
    if let Some(Rejection(reason)) = resp.extensions().get::<Rejection>() {
        metrics.requests_rejected.with_label_values(&[reason]).inc();
    }
    resp
}
