//! OpenTelemetry export, end to end: the real `hakanai-server` binary (the providers are
//! process-global) exports to an OTLP receiver started by the test, over HTTP/protobuf and over
//! gRPC. The receiver keeps every request (gunzipped when the server compressed it); the tests
//! decode them, and grep them and the server's stdout for the credentials and content the
//! requests carried.

use std::io::Read;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hakanai_test_support::HakanaiServer;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use prost::Message;
use sha2::{Digest, Sha256};

/// Everything is expected well within this; the exporters are set to export every few hundred ms.
const WAIT: Duration = Duration::from_secs(10);

/// The caller's trace that [`traced_requests`] continues, and its span.
const CALLER_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
/// The trace of the request whose `X-Request-Id` is refused.
const OTHER_TRACE_ID: &str = "5cf92f3577b34da6a3ce929d0e0e4737";
/// A client's (a proxy's) request id, and one that is not taken (a space, and too long).
const CLIENT_REQUEST_ID: &str = "edge-7f3a9c/2024:req.1";
const BAD_REQUEST_ID: &str = "not an id because it has spaces in it";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Traces,
    Metrics,
    Logs,
}

/// One export request as received: its headers (or gRPC metadata) and protobuf body, decompressed.
#[derive(Debug, Clone)]
struct Received {
    signal: Signal,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

fn keep(inbox: &Inbox, signal: Signal, headers: Vec<(String, String)>, body: Vec<u8>) {
    inbox.lock().unwrap().push(Received {
        signal,
        headers,
        body,
    });
}

fn header_pairs(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// OTLP/HTTP receiver: `POST /v1/{traces,metrics,logs}` with a protobuf body.
async fn http_receiver() -> (u16, Inbox) {
    use axum::routing::post;
    let inbox = Inbox::default();
    async fn handle(signal: Signal, inbox: Inbox, headers: HeaderMap, body: Bytes) -> Vec<u8> {
        let body = match headers.get("content-encoding").map(|v| v.as_bytes()) {
            None => body.to_vec(),
            Some(b"gzip") => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut out)
                    .expect("a gzip body");
                out
            }
            Some(other) => panic!("unexpected content-encoding {other:?}"),
        };
        keep(&inbox, signal, header_pairs(&headers), body);
        // An empty protobuf message: the Export*ServiceResponse with no partial success.
        Vec::new()
    }
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            post(|State(i): State<Inbox>, h: HeaderMap, b: Bytes| handle(Signal::Traces, i, h, b)),
        )
        .route(
            "/v1/metrics",
            post(|State(i): State<Inbox>, h: HeaderMap, b: Bytes| handle(Signal::Metrics, i, h, b)),
        )
        .route(
            "/v1/logs",
            post(|State(i): State<Inbox>, h: HeaderMap, b: Bytes| handle(Signal::Logs, i, h, b)),
        )
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, inbox)
}

/// OTLP/gRPC receiver: the three collector services, answering every export with success.
mod grpc {
    use std::convert::Infallible;
    use std::future::Future;
    use std::marker::PhantomData;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use prost::Message;

    use super::*;

    pub trait Service: Send + 'static {
        const NAME: &'static str;
        const SIGNAL: Signal;
        type Req: Message + Default + Send + 'static;
        type Resp: Message + Default + Send + 'static;
    }
    pub struct Traces;
    impl Service for Traces {
        const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
        const SIGNAL: Signal = Signal::Traces;
        type Req = ExportTraceServiceRequest;
        type Resp = ExportTraceServiceResponse;
    }
    pub struct Metrics;
    impl Service for Metrics {
        const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
        const SIGNAL: Signal = Signal::Metrics;
        type Req = ExportMetricsServiceRequest;
        type Resp = ExportMetricsServiceResponse;
    }
    pub struct Logs;
    impl Service for Logs {
        const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
        const SIGNAL: Signal = Signal::Logs;
        type Req = ExportLogsServiceRequest;
        type Resp = ExportLogsServiceResponse;
    }

    pub struct Collector<S> {
        inbox: Inbox,
        _s: PhantomData<fn() -> S>,
    }
    impl<S> Clone for Collector<S> {
        fn clone(&self) -> Self {
            Collector {
                inbox: self.inbox.clone(),
                _s: PhantomData,
            }
        }
    }
    impl<S: Service> tonic::server::NamedService for Collector<S> {
        const NAME: &'static str = S::NAME;
    }

    type Http = axum::http::Request<tonic::body::Body>;
    impl<S: Service> tower::Service<Http> for Collector<S> {
        type Response = axum::http::Response<tonic::body::Body>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: Http) -> Self::Future {
            let inbox = self.inbox.clone();
            Box::pin(async move {
                let headers = header_pairs(req.headers());
                let export = tower::service_fn(move |r: tonic::Request<S::Req>| {
                    keep(
                        &inbox,
                        S::SIGNAL,
                        headers.clone(),
                        r.get_ref().encode_to_vec(),
                    );
                    async { Ok::<_, tonic::Status>(tonic::Response::new(S::Resp::default())) }
                });
                // Without this, a gzip-compressed export is refused (UNIMPLEMENTED).
                let mut grpc =
                    tonic::server::Grpc::new(tonic_prost::ProstCodec::<S::Resp, S::Req>::default())
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
                Ok(grpc.unary(export, req).await)
            })
        }
    }

    pub async fn receiver() -> (u16, Inbox) {
        let inbox = Inbox::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let router = tonic::transport::Server::builder()
            .add_service(Collector::<Traces> {
                inbox: inbox.clone(),
                _s: PhantomData,
            })
            .add_service(Collector::<Metrics> {
                inbox: inbox.clone(),
                _s: PhantomData,
            })
            .add_service(Collector::<Logs> {
                inbox: inbox.clone(),
                _s: PhantomData,
            });
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        tokio::spawn(router.serve_with_incoming(incoming));
        (port, inbox)
    }
}

/// The server binary with a clean environment plus `env`, through the shared test-support
/// crate: a port of its own, its JSON log (stdout) captured, the user token read from its
/// `--token-file`, ready once `/ready` answers.
struct Server {
    inner: HakanaiServer,
    token: String,
}

impl Server {
    fn start(env: &[(&str, String)]) -> Server {
        let mut builder = HakanaiServer::builder(env!("CARGO_BIN_EXE_hakanai-server"))
            .rust_log("info")
            .capture_log();
        for (k, v) in env {
            builder = builder.env(k, v);
        }
        let inner = builder.start();
        let token = inner.user_token().to_owned();
        Server { inner, token }
    }

    fn url(&self, path: &str) -> String {
        self.inner.url(path)
    }

    /// SIGTERM, a graceful exit, and the JSON log it wrote.
    fn stop(self) -> String {
        let stopped = self.inner.stop(WAIT);
        let exit = stopped.status.expect("no graceful exit");
        assert!(exit.success(), "{exit:?}");
        stopped.log
    }
}

/// What a user sends that must never be exported or logged.
struct Sensitive {
    plaintext: String,
    data: String,
    verifier: String,
    verifier_hash: String,
    fragment: String,
    id: String,
    creator_token: String,
    user_token: String,
}

impl Sensitive {
    fn needles(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("plaintext", &self.plaintext),
            ("base64 body", &self.data),
            ("passphrase verifier", &self.verifier),
            ("verifier hash", &self.verifier_hash),
            ("link fragment", &self.fragment),
            ("secret id", &self.id),
            ("creator token", &self.creator_token),
            ("user token", &self.user_token),
        ]
    }
}

/// Creates a passphrase-protected secret, reads it once with a wrong passphrase and once with the
/// right one.
async fn create_and_read(server: &Server) -> Sensitive {
    let client = reqwest::Client::new();
    let plaintext = "envelope-bytes-that-must-stay-private-7f3a".to_owned();
    let data = STANDARD.encode(plaintext.as_bytes());
    let verifier = "verifier-b9d1c0ffee-passphrase".to_owned();
    let verifier_hash = hex::encode(Sha256::digest(verifier.as_bytes()));
    let resp = client
        .post(server.url("/api/v1/secret"))
        .bearer_auth(&server.token)
        .json(&serde_json::json!({
            "data": data,
            "expires_in": 600,
            "restrictions": { "passphrase_hash": verifier_hash },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let created: serde_json::Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let creator_token = created["creator_token"].as_str().unwrap().to_owned();
    // A link carries the key in its fragment; browsers never send it, and neither does this.
    let fragment = "kF3vQ9x2LmT7wYb1NcZr5Ue8HsJd0AoPqRgVtXyWiEk".to_owned();

    let wrong = client
        .get(server.url(&format!("/api/v1/secret/{id}")))
        .header("x-secret-passphrase", "not-the-verifier")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let read = client
        .get(server.url(&format!("/api/v1/secret/{id}")))
        .header("x-secret-passphrase", &verifier)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.text().await.unwrap(), data);
    Sensitive {
        plaintext,
        data,
        verifier,
        verifier_hash,
        fragment,
        id,
        creator_token,
        user_token: server.token.clone(),
    }
}

/// Two requests from a traced caller: one continues the caller's trace with a request id of its
/// own, the other sends a request id that must not be taken.
async fn traced_requests(server: &Server) {
    let client = reqwest::Client::new();
    for (trace_id, request_id) in [
        (CALLER_TRACE_ID, CLIENT_REQUEST_ID),
        (OTHER_TRACE_ID, BAD_REQUEST_ID),
    ] {
        let resp = client
            .get(server.url("/healthy"))
            .header("traceparent", format!("00-{trace_id}-{CALLER_SPAN_ID}-01"))
            .header("tracestate", "caller=opaque-state")
            .header("x-request-id", request_id)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}

/// The decoded exports.
#[derive(Default)]
struct Decoded {
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
}

fn decode(received: &[Received]) -> Decoded {
    let mut d = Decoded::default();
    for r in received {
        let body = r.body.as_slice();
        match r.signal {
            Signal::Traces => d
                .traces
                .push(Message::decode(body).expect("trace protobuf")),
            Signal::Metrics => d
                .metrics
                .push(Message::decode(body).expect("metric protobuf")),
            Signal::Logs => d.logs.push(Message::decode(body).expect("log protobuf")),
        }
    }
    d
}

fn string_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .and_then(|v| match v {
            AnyValue::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

impl Decoded {
    /// Trace id (hex) of the create request's span, if exported.
    fn create_span_trace_id(&self) -> Option<String> {
        self.spans()
            .find(|s| s.name == "POST /api/v1/secret")
            .map(|s| hex::encode(&s.trace_id))
    }

    fn spans(&self) -> impl Iterator<Item = &opentelemetry_proto::tonic::trace::v1::Span> {
        self.traces
            .iter()
            .flat_map(|t| &t.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
    }

    /// The request span of `GET /healthy` in trace `trace_id`: there must be one at most.
    fn healthy_span_in_trace(
        &self,
        trace_id: &str,
    ) -> Option<&opentelemetry_proto::tonic::trace::v1::Span> {
        let mut spans = self
            .spans()
            .filter(|s| hex::encode(&s.trace_id) == trace_id && s.name == "GET /healthy");
        let span = spans.next()?;
        assert!(
            spans.next().is_none(),
            "one request span in trace {trace_id}"
        );
        Some(span)
    }

    /// The latest exported value of a counter series, summed over its label sets.
    fn counter(&self, name: &str) -> Option<i64> {
        self.metrics
            .iter()
            .flat_map(|m| &m.resource_metrics)
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == name)
            .filter_map(|m| match &m.data {
                Some(Data::Sum(sum)) => Some(
                    sum.data_points
                        .iter()
                        .map(|p| match p.value {
                            Some(NumberValue::AsInt(i)) => i,
                            Some(NumberValue::AsDouble(f)) => f as i64,
                            None => 0,
                        })
                        .sum(),
                ),
                _ => None,
            })
            .next_back()
    }

    /// The latest exported value of a gauge.
    fn gauge(&self, name: &str) -> Option<i64> {
        self.metrics
            .iter()
            .flat_map(|m| &m.resource_metrics)
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == name)
            .filter_map(|m| match &m.data {
                Some(Data::Gauge(g)) => g.data_points.first().and_then(|p| match p.value {
                    Some(NumberValue::AsInt(i)) => Some(i),
                    _ => None,
                }),
                _ => None,
            })
            .next_back()
    }

    fn has_histogram(&self, name: &str) -> bool {
        self.metrics
            .iter()
            .flat_map(|m| &m.resource_metrics)
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .any(|m| m.name == name && matches!(m.data, Some(Data::Histogram(_))))
    }

    /// Trace ids (hex) of exported log records.
    fn log_trace_ids(&self) -> Vec<String> {
        self.logs
            .iter()
            .flat_map(|l| &l.resource_logs)
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .filter(|r| !r.trace_id.is_empty())
            .map(|r| hex::encode(&r.trace_id))
            .collect()
    }

    fn resource_attrs(&self) -> Vec<&[KeyValue]> {
        let t = self.traces.iter().flat_map(|t| &t.resource_spans);
        let t = t.filter_map(|r| r.resource.as_ref());
        let m = self.metrics.iter().flat_map(|m| &m.resource_metrics);
        let m = m.filter_map(|r| r.resource.as_ref());
        let l = self.logs.iter().flat_map(|l| &l.resource_logs);
        let l = l.filter_map(|r| r.resource.as_ref());
        t.chain(m)
            .chain(l)
            .map(|r| r.attributes.as_slice())
            .collect()
    }

    /// What the test still waits for; empty once everything arrived.
    fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        let trace_id = self.create_span_trace_id();
        if trace_id.is_none() {
            let names: Vec<&str> = self.spans().map(|s| s.name.as_str()).collect();
            missing.push(format!("the create request's span (spans: {names:?})"));
        }
        // A JSON create is one store call (reservation, secret and statistics together).
        if !self.spans().any(|s| s.name == "store create") {
            missing.push("the store span".to_owned());
        }
        for trace_id in [CALLER_TRACE_ID, OTHER_TRACE_ID] {
            if self.healthy_span_in_trace(trace_id).is_none() {
                missing.push(format!("the span in the caller's trace {trace_id}"));
            }
            if !self.log_trace_ids().iter().any(|t| t == trace_id) {
                missing.push(format!("a log record in the caller's trace {trace_id}"));
            }
        }
        for name in [
            "hakanai_secrets_created_total",
            "hakanai_secrets_retrieved_total",
        ] {
            if self.counter(name) != Some(1) {
                missing.push(format!("{name} = 1 (got {:?})", self.counter(name)));
            }
        }
        // The bootstrap user token, counted without any scrape of /metrics.
        if self.gauge("hakanai_tokens_active") != Some(1) {
            missing.push(format!(
                "hakanai_tokens_active = 1 (got {:?})",
                self.gauge("hakanai_tokens_active")
            ));
        }
        if trace_id.is_none_or(|t| !self.log_trace_ids().contains(&t)) {
            missing.push(format!(
                "a log record of the create request ({} with trace ids)",
                self.log_trace_ids().len()
            ));
        }
        missing
    }
}

/// With `gzip`, traces and logs are compressed and metrics are not (the per-signal variable
/// beats the general one).
fn otel_env(port: u16, protocol: &str, delay_ms: u32, gzip: bool) -> Vec<(&'static str, String)> {
    let mut env = vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-collector-key=test-key-42".to_owned(),
        ),
        ("OTEL_SERVICE_NAME", "hakanai-under-test".to_owned()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=test,team=security".to_owned(),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", delay_ms.to_string()),
        ("OTEL_BLRP_SCHEDULE_DELAY", delay_ms.to_string()),
        ("OTEL_METRIC_EXPORT_INTERVAL", delay_ms.to_string()),
    ];
    if gzip {
        env.push(("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()));
        env.push(("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none".to_owned()));
    }
    env
}

/// Runs one server against `inbox`; with `flush_only` the export delays are far longer than the
/// test, so whatever arrives was flushed by the graceful shutdown. With `gzip`, see [`otel_env`].
async fn exports_reach(port: u16, inbox: Inbox, protocol: &str, flush_only: bool, gzip: bool) {
    let delay = if flush_only { 600_000 } else { 200 };
    let server = Server::start(&otel_env(port, protocol, delay, gzip));
    traced_requests(&server).await;
    let sensitive = create_and_read(&server).await;

    if !flush_only {
        let deadline = Instant::now() + WAIT;
        loop {
            let missing = decode(&inbox.lock().unwrap()).missing();
            if missing.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "exports incomplete after {WAIT:?}: {missing:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let before_stop = inbox.lock().unwrap().len();
    let stdout = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    let received = inbox.lock().unwrap().clone();
    if flush_only {
        assert_eq!(before_stop, 0, "nothing is exported before the flush");
    }

    let decoded = decode(&received);
    let missing = decoded.missing();
    assert!(
        missing.is_empty(),
        "exports incomplete: {missing:?}\n{stdout}"
    );
    let trace_id = decoded.create_span_trace_id().unwrap();
    assert!(decoded.has_histogram("hakanai_request_duration_seconds"));
    assert_eq!(
        decoded.counter("hakanai_requests_rejected_total"),
        Some(1),
        "the wrong passphrase"
    );
    // Spans for the token check and the passphrase check, inside the requests.
    let names: Vec<&str> = decoded.spans().map(|s| s.name.as_str()).collect();
    for name in [
        "authorize_upload",
        "checked_ttl",
        "check_passphrase",
        "store take",
    ] {
        assert!(names.contains(&name), "no {name} span in {names:?}");
    }
    let create = decoded
        .spans()
        .find(|s| s.name == "POST /api/v1/secret")
        .unwrap();
    assert_eq!(
        string_attr(&create.attributes, "route"),
        Some("/api/v1/secret")
    );
    assert!(string_attr(&create.attributes, "request_id").is_some_and(|r| r.len() == 32));

    // The caller's traceparent: the server's span is its child, in its trace, and the caller's
    // X-Request-Id is the request id. A request id that is not plausible is replaced.
    let continued = decoded.healthy_span_in_trace(CALLER_TRACE_ID).unwrap();
    assert_eq!(hex::encode(&continued.parent_span_id), CALLER_SPAN_ID);
    assert_eq!(continued.trace_state, "caller=opaque-state");
    assert_eq!(
        string_attr(&continued.attributes, "request_id"),
        Some(CLIENT_REQUEST_ID)
    );
    let other = decoded.healthy_span_in_trace(OTHER_TRACE_ID).unwrap();
    assert_eq!(hex::encode(&other.parent_span_id), CALLER_SPAN_ID);
    let own_id = string_attr(&other.attributes, "request_id").unwrap();
    assert!(
        own_id.len() == 32 && own_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{own_id}"
    );

    // Compression: the encoding header on every compressed export (its body was decoded above).
    for r in &received {
        let encoding = if protocol == "grpc" {
            "grpc-encoding"
        } else {
            "content-encoding"
        };
        let got = r
            .headers
            .iter()
            .find(|(k, _)| k == encoding)
            .map(|(_, v)| v.as_str());
        let want = (gzip && r.signal != Signal::Metrics).then_some("gzip");
        assert_eq!(got, want, "{encoding} of a {:?} export", r.signal);
    }

    // Resource: the environment's name and attributes, the crate's version.
    let resources = decoded.resource_attrs();
    assert!(resources.len() >= 3, "traces, metrics and logs");
    for attrs in resources {
        assert_eq!(
            string_attr(attrs, "service.name"),
            Some("hakanai-under-test")
        );
        assert_eq!(
            string_attr(attrs, "service.version"),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(string_attr(attrs, "deployment.environment"), Some("test"));
    }
    // OTEL_EXPORTER_OTLP_HEADERS reach the collector with every export.
    for r in &received {
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "x-collector-key" && v == "test-key-42"),
            "{:?} export without the configured header",
            r.signal
        );
    }

    // stdout: JSON lines, the request's lines correlated with the exported trace.
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON log lines"))
        .collect();
    assert!(stdout.contains("OpenTelemetry export enabled"), "{stdout}");
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["trace_id"].as_str() == Some(trace_id.as_str())),
        "no stdout log line carries trace id {trace_id}: {stdout}"
    );
    // The continued request's lines: the caller's trace id and the caller's request id.
    let in_trace = |t: &str| {
        lines
            .iter()
            .filter(|l| l["span"]["trace_id"].as_str() == Some(t))
            .collect::<Vec<_>>()
    };
    let continued_lines = in_trace(CALLER_TRACE_ID);
    assert!(!continued_lines.is_empty(), "{stdout}");
    for l in continued_lines {
        assert_eq!(l["span"]["request_id"], CLIENT_REQUEST_ID, "{l}");
        assert_eq!(l["span"]["route"], "/healthy", "{l}");
    }
    let other_lines = in_trace(OTHER_TRACE_ID);
    assert!(!other_lines.is_empty(), "{stdout}");
    for l in other_lines {
        assert_eq!(l["span"]["request_id"], own_id, "{l}");
    }

    // Nothing sensitive anywhere: not in the exports (raw bodies and headers), not in stdout.
    let mut exported = Vec::new();
    for r in &received {
        for (k, v) in &r.headers {
            exported.extend_from_slice(k.as_bytes());
            exported.extend_from_slice(v.as_bytes());
        }
        exported.extend_from_slice(&r.body);
    }
    let exported_text = String::from_utf8_lossy(&exported);
    let decoded_text = format!(
        "{:?}{:?}{:?}",
        decoded.traces, decoded.metrics, decoded.logs
    );
    let refused = ("refused request id", BAD_REQUEST_ID);
    for (what, needle) in sensitive.needles().into_iter().chain([refused]) {
        assert!(!exported_text.contains(needle), "{what} was exported");
        assert!(!decoded_text.contains(needle), "{what} was exported");
        assert!(!stdout.contains(needle), "{what} was logged");
    }
    // The caller's tracestate travels with its span, as the W3C asks, and is not logged.
    assert!(!stdout.contains("opaque-state"), "tracestate was logged");
}

#[tokio::test]
async fn http_protobuf_export_carries_spans_metrics_and_logs() {
    let (port, inbox) = http_receiver().await;
    exports_reach(port, inbox.clone(), "http/protobuf", false, true).await;
    let first = inbox.lock().unwrap()[0].headers.clone();
    assert!(
        first
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/x-protobuf"),
        "{first:?}"
    );
}

#[tokio::test]
async fn grpc_export_carries_spans_metrics_and_logs() {
    let (port, inbox) = grpc::receiver().await;
    exports_reach(port, inbox.clone(), "grpc", false, true).await;
    let first = inbox.lock().unwrap()[0].headers.clone();
    assert!(
        first
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("application/grpc")),
        "{first:?}"
    );
}

#[tokio::test]
async fn graceful_shutdown_flushes_what_is_buffered() {
    let (port, inbox) = grpc::receiver().await;
    exports_reach(port, inbox, "grpc", true, false).await;
}

#[tokio::test]
async fn without_the_endpoint_nothing_connects() {
    // A receiver the server could find if it looked at anything but the general endpoint.
    let (port, inbox) = http_receiver().await;
    let env = vec![
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("http://127.0.0.1:{port}/v1/traces"),
        ),
        ("OTEL_SERVICE_NAME", "hakanai-under-test".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "100".to_owned()),
    ];
    let server = Server::start(&env);
    traced_requests(&server).await;
    create_and_read(&server).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stdout = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert!(
        stdout.contains("OpenTelemetry export off"),
        "the startup line says so: {stdout}"
    );
    assert!(!stdout.contains("trace_id"), "no trace ids without export");
    assert!(
        !stdout.contains(CALLER_TRACE_ID),
        "the traceparent is not read"
    );
    // The client's request id is taken all the same; the refused one is not logged.
    assert!(
        stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .any(|l| l["span"]["request_id"] == CLIENT_REQUEST_ID),
        "{stdout}"
    );
    assert!(!stdout.contains(BAD_REQUEST_ID));
    assert_eq!(inbox.lock().unwrap().len(), 0, "nothing was exported");
}

#[tokio::test]
async fn an_unsupported_compression_stops_the_server_with_a_message() {
    let out = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_hakanai-server"))
            .env_clear()
            .env("HAKANAI_PORT", "0")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
            .env("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=zstd"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unsupported_protocol_stops_the_server_with_a_message() {
    let out = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_hakanai-server"))
            .env_clear()
            .env("HAKANAI_PORT", "0")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("http/json"), "{err}");
}
