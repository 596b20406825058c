//! Operations: Prometheus metrics, signed audit webhooks, legal pages, custom assets, and the
//! deployment files checked against the real binary's flags.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use prometheus_parse::{Scrape, Value};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::helpers::{earlier_forms, spawn_app, Backend, TestApp};

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

async fn scrape_text(app: &TestApp, addr: SocketAddr) -> String {
    let resp = app
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    resp.text().await.unwrap()
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text")
}

/// Value of a counter or gauge sample with the given labels (0 when absent).
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => panic!("{name} is not a plain value"),
        })
        .sum()
}

/// Observations in the latency histogram for one route and status.
fn observations(s: &Scrape, route: &str, status: &str) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == "hakanai_request_duration_seconds")
        .filter(|x| x.labels.get("route") == Some(route) && x.labels.get("status") == Some(status))
        .map(|x| match &x.value {
            Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            _ => panic!("not a histogram"),
        })
        .sum()
}

#[tokio::test]
async fn metrics_count_lifecycle_and_rejections_without_leaking() {
    let app = spawn_app(Backend::Redis, |c| c.upload_size_limit = 1024).await;
    let before = parse(&scrape_text(&app, app.addr).await);
    assert_eq!(value(&before, "hakanai_secrets_created_total", &[]), 0.0);
    // The series exist before the first secret, so dashboards show zeros, not gaps.
    assert!(before
        .samples
        .iter()
        .any(|x| x.metric == "hakanai_secrets_created_total"
            && x.labels.get("user_type") == Some("anonymous")));
    assert_eq!(value(&before, "hakanai_tokens_active", &[]), 1.0);

    let body = "c2VjcmV0LWJvZHktbWFya2Vy"; // "secret-body-marker"
    let plain = app.create(body, json!(null)).await;
    assert_eq!(app.get_secret(&plain.id).await.status(), 200);
    // Rejections: too big, bad token, wrong passphrase, IP restriction.
    let big = base64_of(2048);
    assert_eq!(app.post_json(json!({"data": big})).await.status(), 413);
    let bad_token = app
        .client
        .post(app.url("/api/v1/secret"))
        .bearer_auth("not-a-real-token")
        .json(&json!({"data": body}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), 403);
    let guarded = app
        .create(body, json!({"passphrase_hash": sha256_hex("right")}))
        .await;
    let wrong = app
        .client
        .get(app.secret_url(&guarded.id))
        .header("x-secret-passphrase", "wrong-passphrase-marker")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let fenced = app
        .create(body, json!({"allowed_ips": ["203.0.113.7"]}))
        .await;
    assert_eq!(app.get_secret(&fenced.id).await.status(), 403);
    let (_, _) = app.create_token(json!({})).await;

    let text = scrape_text(&app, app.addr).await;
    let s = parse(&text);
    assert_eq!(value(&s, "hakanai_secrets_created_total", &[]), 3.0);
    assert_eq!(value(&s, "hakanai_secrets_retrieved_total", &[]), 1.0);
    assert_eq!(value(&s, "hakanai_tokens_active", &[]), 2.0);
    for reason in ["size", "token", "restriction", "passphrase"] {
        assert_eq!(
            value(&s, "hakanai_requests_rejected_total", &[("reason", reason)]),
            1.0,
            "{reason}"
        );
    }
    // One take per read attempt: the plain read, the passphrase and the IP-restricted attempts.
    assert_eq!(
        value(
            &s,
            "hakanai_redis_operations_total",
            &[("operation", "take")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &s,
            "hakanai_redis_operations_total",
            &[("operation", "fail_attempt")]
        ),
        1.0
    );
    assert!(value(&s, "hakanai_redis_operations_total", &[("result", "error")]) == 0.0);
    assert_eq!(observations(&s, "/api/v1/secret", "200"), 3.0);
    assert_eq!(observations(&s, "/api/v1/secret/:id", "200"), 1.0);
    assert_eq!(observations(&s, "/api/v1/secret/:id", "403"), 1.0);

    // Nothing secret in the exposition: no id, token, body, passphrase or creator token.
    let mut needles = vec![
        app.user_token().to_owned(),
        app.admin_token().to_owned(),
        body.to_owned(),
        "wrong-passphrase-marker".to_owned(),
        "not-a-real-token".to_owned(),
    ];
    for c in [&plain, &guarded, &fenced] {
        needles.push(c.id.clone());
        needles.push(c.creator_token.clone());
    }
    for n in &needles {
        assert!(!text.contains(n.as_str()), "metrics leak {n}");
    }
}

/// Count and sum of a histogram's samples with these labels.
fn histogram(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> (f64, f64) {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Value::Histogram(buckets) => {
                let count = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
                (count, 0.0)
            }
            _ => panic!("{name} is not a histogram"),
        })
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
}

async fn hakanai_names_carry_the_numbers(backend: Backend) {
    let app = spawn_app(backend, |c| {
        c.trusted_ip_ranges = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    // Authenticated (with the token), one with restrictions; whitelisted (no token, trusted
    // address); one that expires unread; one read, one revoked.
    let read = app.create("YWJj", json!(null)).await;
    let fenced = app
        .create(
            "YWJj",
            json!({"allowed_ips": ["127.0.0.1"], "passphrase_hash": sha256_hex("pw")}),
        )
        .await;
    let whitelisted = app
        .client
        .post(app.url("/api/v1/secret"))
        .json(&json!({"data": "YWJjZA==", "expires_in": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(whitelisted.status(), 200);
    let revoked = app.create("YWJj", json!(null)).await;
    assert_eq!(app.get_secret(&read.id).await.status(), 200);
    let resp = app
        .client
        .delete(app.secret_url(&revoked.id))
        .header("x-creator-token", &revoked.creator_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let s = parse(&scrape_text(&app, app.addr).await);
    let created = |t| value(&s, "hakanai_secrets_created_total", &[("user_type", t)]);
    assert_eq!(created("authenticated"), 3.0);
    assert_eq!(created("whitelisted"), 1.0);
    assert_eq!(created("anonymous"), 0.0);
    assert_eq!(
        value(
            &s,
            "hakanai_secrets_with_restrictions_total",
            &[("user_type", "authenticated"), ("type", "9")]
        ),
        1.0
    );
    assert_eq!(
        value(&s, "hakanai_secrets_with_restrictions_total", &[]),
        1.0
    );
    assert_eq!(
        histogram(
            &s,
            "hakanai_secret_size_bytes",
            &[("user_type", "authenticated")]
        )
        .0,
        3.0
    );
    assert_eq!(
        histogram(
            &s,
            "hakanai_secret_ttl_seconds",
            &[("user_type", "whitelisted")]
        )
        .0,
        1.0
    );
    assert_eq!(histogram(&s, "hakanai_secret_lifetime_seconds", &[]).0, 1.0);
    // Four stored, one read, one revoked.
    assert_eq!(value(&s, "hakanai_active_secrets", &[]), 2.0);
    assert_eq!(value(&s, "hakanai_expired_secrets", &[]), 0.0);
    assert_eq!(
        value(&s, "hakanai_active_tokens", &[]),
        value(&s, "hakanai_tokens_active", &[])
    );
    assert_eq!(value(&s, "hakanai_active_tokens", &[]), 1.0);
    // The same request counts, under our names and Hakanai's.
    let ours = observations(&s, "/api/v1/secret", "200");
    let theirs = histogram(
        &s,
        "http_server_duration_seconds",
        &[
            ("http_route", "/api/v1/secret"),
            ("http_request_method", "POST"),
            ("http_response_status_code", "200"),
        ],
    )
    .0;
    assert_eq!(ours, 4.0);
    assert_eq!(theirs, ours);
    assert_eq!(
        histogram(
            &s,
            "http_server_request_size_bytes",
            &[("http_route", "/api/v1/secret")]
        )
        .0,
        4.0
    );
    // Only the scrape itself is in flight.
    assert_eq!(value(&s, "http_server_active_requests", &[]), 1.0);
    assert_eq!(
        value(
            &s,
            "target_info",
            &[
                ("service_name", "hakanai-server"),
                ("service_version", env!("CARGO_PKG_VERSION"))
            ]
        ),
        1.0
    );

    // The whitelisted one expires unread: counted at the next scrape, without a scan.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let s = parse(&scrape_text(&app, app.addr).await);
    assert_eq!(value(&s, "hakanai_active_secrets", &[]), 1.0);
    assert_eq!(value(&s, "hakanai_expired_secrets", &[]), 1.0);
    // Reading the last one leaves nothing active.
    let ok = app
        .client
        .get(app.secret_url(&fenced.id))
        .header("x-secret-passphrase", sha256_hex("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let s = parse(&scrape_text(&app, app.addr).await);
    assert_eq!(value(&s, "hakanai_active_secrets", &[]), 0.0);
    assert_eq!(value(&s, "hakanai_expired_secrets", &[]), 1.0);
    assert_eq!(histogram(&s, "hakanai_secret_lifetime_seconds", &[]).0, 2.0);
}

#[tokio::test]
async fn hakanai_metric_names_carry_the_numbers_in_memory() {
    hakanai_names_carry_the_numbers(Backend::Memory).await;
}

#[tokio::test]
async fn hakanai_metric_names_carry_the_numbers_in_redis() {
    hakanai_names_carry_the_numbers(Backend::Redis).await;
}

fn base64_of(n: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(vec![7u8; n])
}

#[tokio::test]
async fn metrics_listener_can_be_separate_from_the_api() {
    let app = spawn_app(Backend::Memory, |c| {
        c.metrics_listen_address = Some("127.0.0.1:0".parse().unwrap())
    })
    .await;
    let on_main = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(on_main.status(), 404);
    let metrics_addr = app.metrics_addr.expect("a metrics listener");
    app.create("YWJj", json!(null)).await;
    let s = parse(&scrape_text(&app, metrics_addr).await);
    assert_eq!(value(&s, "hakanai_secrets_created_total", &[]), 1.0);
    // The metrics listener serves nothing else.
    let other = app
        .client
        .get(format!("http://{metrics_addr}/config.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}

// ---- webhooks ----

type Received = (HeaderMap, Bytes);

/// A local audit receiver answering 200 and handing each delivery to the test.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    async fn accept(State(tx): State<mpsc::UnboundedSender<Received>>, h: HeaderMap, b: Bytes) {
        let _ = tx.send((h, b));
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/hook", post(accept)).with_state(tx);
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}/hook"), rx)
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<Received>) -> (HeaderMap, Bytes, Json) {
    let (h, b) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a delivery in time")
        .unwrap();
    let v: Json = serde_json::from_slice(&b).unwrap();
    (h, b, v)
}

fn verify(token: &str, h: &HeaderMap, body: &[u8]) {
    let ts = h["x-hakanai-timestamp"].to_str().unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(h["x-hakanai-signature"].to_str().unwrap(), expected);
}

fn secret_ref(id: &str) -> String {
    // Of the storage form, so a secret keeps its ref whichever form its link shows.
    sha256_hex(&format!("hakanai-secret-ref:{}", earlier_forms(id).0))
}

#[tokio::test]
async fn webhook_events_are_signed_and_carry_metadata_only() {
    let (url, mut rx) = receiver().await;
    let dir = tempdir("webhook-token");
    let key_file = dir.join("webhook.key");
    std::fs::write(&key_file, "hook-signing-key\n").unwrap();
    let app = spawn_app(Backend::Memory, |c| {
        c.webhook_url = Some(url);
        c.webhook_signing_key_file = Some(key_file);
        c.webhook_headers = vec!["user-agent".into(), "x-request-id".into()];
    })
    .await;
    let body = "c2VjcmV0LWJvZHktbWFya2Vy";
    let resp = app
        .client
        .post(app.url("/api/v1/secret"))
        .bearer_auth(app.user_token())
        .header("user-agent", "audit-test/1.0")
        .header("x-request-id", "req-42")
        .json(&json!({"data": body}))
        .send()
        .await
        .unwrap();
    let created: Json = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let creator = created["creator_token"].as_str().unwrap().to_owned();

    let (h, raw, v) = next_event(&mut rx).await;
    verify("hook-signing-key", &h, &raw);
    assert_eq!(h["x-hakanai-event"], "secret.created");
    assert_eq!(v["event"], "secret.created");
    assert_eq!(v["secret_ref"], secret_ref(&id));
    assert_eq!(v["headers"]["user-agent"], "audit-test/1.0");
    assert_eq!(v["headers"]["x-request-id"], "req-42");
    assert!(v["headers"].get("authorization").is_none());
    // No --webhook-token: no bearer.
    assert!(h.get("authorization").is_none());
    let ts: u64 = h["x-hakanai-timestamp"].to_str().unwrap().parse().unwrap();
    assert_eq!(v["timestamp"], ts);
    // Hakanai v3's fields beside ours: a ULID that is not the secret's id, its action name, and
    // the details (forwarded headers and what is known of the secret, all strings).
    let hakanai_id = v["secret_id"].as_str().unwrap();
    assert!(ulid::Ulid::from_string(hakanai_id).is_ok(), "{hakanai_id}");
    assert_ne!(hakanai_id, id);
    assert_eq!(v["action"], "Created");
    assert_eq!(v["details"]["user-agent"], "audit-test/1.0");
    assert_eq!(v["details"]["user_type"], "authenticated");
    assert_eq!(v["details"]["ttl"], "1day");
    assert_eq!(v["details"]["size"], body.len().to_string());
    assert!(v["details"].get("restrictions").is_none());

    assert_eq!(app.get_secret(&id).await.status(), 200);
    let (h, raw, v) = next_event(&mut rx).await;
    verify("hook-signing-key", &h, &raw);
    assert_eq!(v["event"], "secret.read");
    assert_eq!(v["secret_ref"], secret_ref(&id));
    assert_eq!(v["action"], "Retrieved");
    assert_eq!(v["secret_id"].as_str().unwrap(), hakanai_id);

    let revocable = app.create(body, json!(null)).await;
    next_event(&mut rx).await;
    let resp = app
        .client
        .delete(app.secret_url(&revocable.id))
        .header("x-creator-token", &revocable.creator_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (_, _, v) = next_event(&mut rx).await;
    assert_eq!(v["event"], "secret.revoked");

    let guarded = app
        .create(body, json!({"passphrase_hash": sha256_hex("right")}))
        .await;
    next_event(&mut rx).await;
    for _ in 0..5 {
        app.client
            .get(app.secret_url(&guarded.id))
            .header("x-secret-passphrase", "wrong")
            .send()
            .await
            .unwrap();
    }
    let (_, _, v) = next_event(&mut rx).await;
    assert_eq!(v["event"], "secret.destroyed");
    assert_eq!(v["action"], "Destroyed");
    assert_eq!(v["secret_ref"], secret_ref(&guarded.id));

    let (token, token_id) = app.create_token(json!({})).await;
    let (_, raw, v) = next_event(&mut rx).await;
    assert_eq!(v["event"], "token.created");
    assert_eq!(v["token_id"], token_id.as_str());
    assert_eq!(v["action"], "TokenCreated");
    assert!(v.get("secret_id").is_none());
    let raw = String::from_utf8(raw.to_vec()).unwrap();
    for n in [
        &token,
        app.admin_token(),
        app.user_token(),
        &id,
        &creator,
        body,
        "hook-signing-key",
    ] {
        assert!(!raw.contains(n), "webhook leaks {n}");
    }
}

/// A receiver as Hakanai v3's documentation describes one: it checks
/// `Authorization: Bearer <--webhook-token>` (401 otherwise) and reads
/// `{"secret_id": <ULID>, "action": "Created" | "Retrieved", "details": {<string>: <string>}}`
/// strictly, answering 422 to anything else.
async fn hakanai_style_receiver(
    bearer: &'static str,
) -> (String, mpsc::UnboundedReceiver<HakanaiEvent>) {
    #[derive(serde::Deserialize, Debug)]
    enum Action {
        Created,
        Retrieved,
    }
    #[derive(serde::Deserialize, Debug)]
    struct Payload {
        secret_id: String,
        action: Action,
        details: std::collections::HashMap<String, String>,
    }
    type Inbox = (&'static str, mpsc::UnboundedSender<HakanaiEvent>);
    async fn accept(
        State((bearer, tx)): State<Inbox>,
        h: HeaderMap,
        b: Bytes,
    ) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        if h.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {bearer}"))
        {
            return StatusCode::UNAUTHORIZED;
        }
        let Ok(p) = serde_json::from_slice::<Payload>(&b) else {
            return StatusCode::UNPROCESSABLE_ENTITY;
        };
        if ulid::Ulid::from_string(&p.secret_id).is_err() {
            return StatusCode::UNPROCESSABLE_ENTITY;
        }
        let action = match p.action {
            Action::Created => "Created",
            Action::Retrieved => "Retrieved",
        };
        let _ = tx.send(HakanaiEvent {
            secret_id: p.secret_id,
            action,
            details: p.details,
        });
        StatusCode::OK
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new()
        .route("/hook", post(accept))
        .with_state((bearer, tx));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}/hook"), rx)
}

#[derive(Debug)]
struct HakanaiEvent {
    secret_id: String,
    action: &'static str,
    details: std::collections::HashMap<String, String>,
}

async fn next_hakanai_event(rx: &mut mpsc::UnboundedReceiver<HakanaiEvent>) -> HakanaiEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a delivery in time")
        .unwrap()
}

#[tokio::test]
async fn a_hakanai_v3_style_receiver_keeps_working() {
    let (url, mut rx) = hakanai_style_receiver("hook-bearer").await;
    // Hakanai v3's flags: --webhook-token is the bearer, the default headers are forwarded;
    // --webhook-events keeps to Hakanai's two events.
    let app = spawn_app(Backend::Redis, |c| {
        c.webhook_url = Some(url);
        c.webhook_token = Some(hakanai_server::configuration::Redacted(
            "hook-bearer".into(),
        ));
        c.webhook_events = vec!["secret.created".into(), "secret.read".into()];
        c.country_header = Some("cf-ipcountry".into());
    })
    .await;
    let resp = app
        .client
        .post(app.url("/api/v1/secret"))
        .bearer_auth(app.user_token())
        .header("user-agent", "hakanai-cli/3.0.7")
        .header("x-forwarded-proto", "https")
        .header("x-real-ip", "198.51.100.4")
        .header("x-request-id", "req-7")
        .header("x-secret-passphrase", "never-forwarded")
        .json(&json!({
            "data": "c2VjcmV0",
            "expires_in": 3600,
            "restrictions": {"allowed_ips": ["127.0.0.1"], "allowed_countries": ["DE"],
                             "passphrase_hash": sha256_hex("pw")}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Json>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = next_hakanai_event(&mut rx).await;
    assert_eq!(e.action, "Created");
    assert_eq!(e.details["user-agent"], "hakanai-cli/3.0.7");
    assert_eq!(e.details["x-forwarded-proto"], "https");
    assert_eq!(e.details["x-real-ip"], "198.51.100.4");
    assert_eq!(e.details["x-request-id"], "req-7");
    assert_eq!(e.details["user_type"], "authenticated");
    assert_eq!(e.details["ttl"], "1h");
    assert_eq!(e.details["size"], "8");
    assert_eq!(
        e.details["restrictions"],
        "Allowed IPs: 127.0.0.1/32; Allowed Countries: DE; Passphrase: ***"
    );
    assert!(!e.details.contains_key("x-secret-passphrase"));
    assert!(!e.details.contains_key("authorization"));
    // Revoking is not one of Hakanai's events: nothing is sent; the read is.
    let plain = app.create("c2VjcmV0", json!(null)).await;
    let plain_created = next_hakanai_event(&mut rx).await;
    let resp = app
        .client
        .delete(app.secret_url(&plain.id))
        .header("x-creator-token", &plain.creator_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = app
        .client
        .get(app.secret_url(&id))
        .header("x-secret-passphrase", sha256_hex("pw"))
        .header("cf-ipcountry", "DE")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let read = next_hakanai_event(&mut rx).await;
    assert_eq!(read.action, "Retrieved");
    assert_ne!(read.secret_id, plain_created.secret_id);
    assert_eq!(read.secret_id, e.secret_id, "one secret, one secret_id");
    // Every delivery was accepted: nothing failed or was refused.
    let s = parse(&scrape_text(&app, app.addr).await);
    assert_eq!(
        value(
            &s,
            "hakanai_webhook_events_total",
            &[("outcome", "delivered")]
        ),
        3.0
    );
    assert_eq!(
        value(&s, "hakanai_webhook_events_total", &[("outcome", "failed")]),
        0.0
    );
}

#[tokio::test]
async fn a_receiver_refusing_our_bearer_is_counted_as_refused() {
    let (url, _rx) = hakanai_style_receiver("the-right-one").await;
    let app = spawn_app(Backend::Memory, |c| {
        c.webhook_url = Some(url);
        c.webhook_token = Some(hakanai_server::configuration::Redacted(
            "a-wrong-one".into(),
        ));
    })
    .await;
    app.create("YWJj", json!(null)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = parse(&scrape_text(&app, app.addr).await);
        if value(
            &s,
            "hakanai_webhook_events_total",
            &[("outcome", "refused")],
        ) == 1.0
        {
            // Not retried: a wrong credential stays wrong.
            assert_eq!(
                value(&s, "hakanai_webhook_events_total", &[("outcome", "failed")]),
                0.0
            );
            break;
        }
        assert!(Instant::now() < deadline, "no refused delivery was counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn unknown_webhook_events_are_refused_at_startup() {
    let mut config = crate::helpers::base_config();
    config.webhook_url = Some("http://127.0.0.1:9/hook".into());
    config.webhook_events = vec!["secret.created".into(), "secret.burned".into()];
    let err = hakanai_server::Application::build(config)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("secret.burned"), "{err}");
}

#[tokio::test]
async fn credential_headers_cannot_be_forwarded() {
    for header in [
        "Authorization",
        "X-Secret-Passphrase",
        "X-Secret-Read-Token",
        "X-Creator-Token",
        "X-Secret-Read-Token-Hash",
    ] {
        let mut config = crate::helpers::base_config();
        config.webhook_url = Some("http://127.0.0.1:9/hook".into());
        config.webhook_headers = vec![header.into()];
        let err = hakanai_server::Application::build(config)
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string().contains(&header.to_ascii_lowercase()),
            "{err}"
        );
    }
}

/// Creates and reads secrets, asserting each request is fast despite the receiver.
async fn api_stays_fast(app: &TestApp) {
    for _ in 0..10 {
        let start = Instant::now();
        let c = app.create("YWJj", json!(null)).await;
        assert_eq!(app.get_secret(&c.id).await.status(), 200);
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "API slowed down: {:?}",
            start.elapsed()
        );
    }
}

#[tokio::test]
async fn dead_webhook_receiver_does_not_affect_the_api() {
    // Bound, never listening, held until the end: connections are refused, and no other
    // process's server can be handed this port meanwhile.
    let dead = hakanai_test_support::ReservedPort::new();
    let port = dead.port();
    let app = spawn_app(Backend::Memory, |c| {
        c.webhook_url = Some(format!("http://127.0.0.1:{port}/hook"));
    })
    .await;
    api_stays_fast(&app).await;
    let resp = app.client.get(app.url("/healthy")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn hanging_webhook_receiver_does_not_affect_the_api() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let app = spawn_app(Backend::Memory, |c| {
        c.webhook_url = Some(format!("http://127.0.0.1:{port}/hook"));
        c.webhook_timeout = Duration::from_millis(200);
    })
    .await;
    api_stays_fast(&app).await;
    // Attempts time out and are counted as failures rather than piling up forever.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = parse(&scrape_text(&app, app.addr).await);
        if value(&s, "hakanai_webhook_events_total", &[("outcome", "failed")]) >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no failed delivery was counted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---- legal pages and custom assets ----

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hakanai-ops-{name}-{}-{}",
        std::process::id(),
        uuid_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn uuid_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test]
async fn legal_pages_render_in_the_layout_and_are_listed_in_config() {
    let dir = tempdir("legal");
    // Plain text is escaped, paragraph by paragraph; markup is the operator's HTML (as in
    // Hakanai v3), shown inside the site's layout under the same CSP.
    std::fs::write(
        dir.join("impressum.txt"),
        "Example GmbH\nMain St. 1\n\n5 > 4 & \"quotes\"",
    )
    .unwrap();
    std::fs::write(
        dir.join("privacy.html"),
        "<h2>Data</h2>\n<p>We store only <em>ciphertext</em>.</p>",
    )
    .unwrap();
    let app = spawn_app(Backend::Memory, |c| {
        c.impressum_file = Some(dir.join("impressum.txt"));
        c.privacy_file = Some(dir.join("privacy.html"));
    })
    .await;
    let resp = app.client.get(app.url("/impressum")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("<p>Example GmbH<br>\nMain St. 1</p>"),
        "{html}"
    );
    assert!(html.contains("5 &gt; 4 &amp; &quot;quotes&quot;"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    let privacy = app
        .client
        .get(app.url("/privacy"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The operator's HTML as it is, inside our page: stylesheet first, then the content.
    let content = "<h2>Data</h2>\n<p>We store only <em>ciphertext</em>.</p>";
    let at = privacy.find(content).expect(&privacy);
    let style = privacy
        .find(r#"<link rel="stylesheet" href="/style.css">"#)
        .unwrap();
    let main = privacy.find("<main>").unwrap();
    assert!(style < main && main < at, "{privacy}");
    assert!(privacy.contains(r#"src="/logo.svg""#), "{privacy}");
    assert!(privacy.contains("<h1 id=\"legal-heading\">Privacy policy</h1>"));
    let config: Json = app
        .client
        .get(app.url("/config.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["impressum_url"], "/impressum");
    assert_eq!(config["privacy_url"], "/privacy");

    let plain = spawn_app(Backend::Memory, |_| {}).await;
    let resp = plain
        .client
        .get(plain.url("/impressum"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let config: Json = plain
        .client
        .get(plain.url("/config.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(config.get("impressum_url").is_none());
}

#[tokio::test]
async fn missing_legal_page_file_stops_startup() {
    let mut config = crate::helpers::base_config();
    config.impressum_file = Some("/nonexistent/impressum.txt".into());
    let err = hakanai_server::Application::build(config)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("impressum.txt"), "{err}");
}

#[tokio::test]
async fn custom_assets_override_images_and_append_style() {
    let root = tempdir("root");
    let custom = tempdir("custom");
    std::fs::write(root.join("logo.svg"), "<svg>stock</svg>").unwrap();
    std::fs::write(root.join("icon.svg"), "<svg>stock icon</svg>").unwrap();
    std::fs::write(root.join("style.css"), "body{color:black}").unwrap();
    std::fs::write(custom.join("logo.svg"), "<svg>brand</svg>").unwrap();
    let app = spawn_app(Backend::Memory, |c| {
        c.web_root = Some(root.clone());
        c.custom_assets_dir = Some(custom.clone());
    })
    .await;
    let get = |p: &str| app.client.get(app.url(p)).send();
    assert_eq!(
        get("/logo.svg").await.unwrap().text().await.unwrap(),
        "<svg>brand</svg>"
    );
    assert_eq!(
        get("/icon.svg").await.unwrap().text().await.unwrap(),
        "<svg>stock icon</svg>"
    );
    // Without a custom style.css, the stock one as it is.
    assert_eq!(
        get("/style.css").await.unwrap().text().await.unwrap(),
        "body{color:black}"
    );
    assert_eq!(get("/missing.png").await.unwrap().status(), 404);
    // Traversal out of the custom directory is refused.
    assert_ne!(get("/../root/logo.svg").await.unwrap().status(), 200);

    // A custom style.css is appended to the stock one, which keeps its place first.
    std::fs::write(custom.join("style.css"), "body{color:red}").unwrap();
    let styled = spawn_app(Backend::Memory, |c| {
        c.web_root = Some(root.clone());
        c.custom_assets_dir = Some(custom.clone());
    })
    .await;
    let css = styled
        .client
        .get(styled.url("/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers()["x-content-type-options"], "nosniff");
    let css = css.text().await.unwrap();
    assert!(css.starts_with("body{color:black}"), "{css}");
    assert!(css.ends_with("body{color:red}"), "{css}");

    // Without a web root, custom files still shadow the embedded page's files, and the custom
    // style follows the embedded one.
    let bare = spawn_app(Backend::Memory, |c| c.custom_assets_dir = Some(custom)).await;
    let logo = bare.client.get(bare.url("/logo.svg")).send().await.unwrap();
    assert_eq!(logo.text().await.unwrap(), "<svg>brand</svg>");
    let index = bare.client.get(bare.url("/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let missing = bare.client.get(bare.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let css = bare
        .client
        .get(bare.url("/style.css"))
        .send()
        .await
        .unwrap();
    let css = css.text().await.unwrap();
    assert!(css.ends_with("body{color:red}"), "{css}");
    if let Some(stock) =
        hakanai_server::assets::find(hakanai_server::assets::EMBEDDED, "/style.css")
    {
        assert!(css.starts_with(std::str::from_utf8(stock.body).unwrap()));
    }
}

/// `/get`, `/share` and `/one-time-token` (Hakanai v3's pages), the app manifest and the
/// images, with the security headers every page has.
#[tokio::test]
async fn site_pages_manifest_and_images() {
    use hakanai_server::assets::{find, EMBEDDED};
    let app = spawn_app(Backend::Memory, |_| {}).await;
    let get = |p: &str| app.client.get(app.url(p)).send();
    for (path, file) in [
        ("/get", "/get.html"),
        ("/share", "/share.html"),
        ("/one-time-token", "/one-time-token.html"),
    ] {
        let resp = get(path).await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers().clone();
        assert_eq!(h["content-type"], "text/html; charset=utf-8", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
        assert_eq!(
            h["content-security-policy"],
            hakanai_server::CONTENT_SECURITY_POLICY
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let body = resp.bytes().await.unwrap();
        if let Some(asset) = find(EMBEDDED, file) {
            assert_eq!(&body[..], asset.body, "{path}");
            let html = std::str::from_utf8(asset.body).unwrap();
            assert!(html.contains(r#"<link rel="manifest" href="/manifest.json">"#));
            assert!(html.contains(r#"href="/icon.svg""#));
            assert!(!html.contains("<style"), "{path}");
        }
    }
    // A share that reached the server (no service worker yet) is not read.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = no_redirects
        .post(app.url("/share"))
        .body("text=secret")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 303);
    assert_eq!(post.headers()["location"], "/share?shared=0");

    if EMBEDDED.is_empty() {
        return;
    }
    let manifest = get("/manifest.json").await.unwrap();
    assert_eq!(manifest.status(), 200);
    assert!(manifest.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("json"));
    let manifest: Json = manifest.json().await.unwrap();
    assert_eq!(manifest["start_url"], "/");
    assert_eq!(manifest["display"], "standalone");
    assert_eq!(manifest["share_target"]["action"], "/share");
    assert_eq!(manifest["share_target"]["method"], "POST");
    assert_eq!(manifest["icons"][0]["src"], "/icon.svg");
    for svg in ["/logo.svg", "/icon.svg", "/banner.svg"] {
        let resp = get(svg).await.unwrap();
        assert_eq!(resp.status(), 200, "{svg}");
        assert_eq!(resp.headers()["content-type"], "image/svg+xml");
        assert!(resp.text().await.unwrap().starts_with("<svg"));
    }
    let sw = get("/sw.js").await.unwrap();
    assert_eq!(sw.status(), 200);
    assert!(sw.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
}

/// A binary built with HAKANAI_SKIP_WEB_BUILD=1 (here: the built-in page switched off) says at
/// `/`, `/create` and `/s/<id>` that it has no page, and still serves the API and its docs.
#[tokio::test]
async fn without_a_built_in_page_the_pages_say_so() {
    let app = spawn_app(Backend::Memory, |c| c.embedded_page = false).await;
    let get = |p: &str| app.client.get(app.url(p)).send();
    let index = get("/").await.unwrap();
    assert_eq!(index.status(), 200);
    assert!(index
        .text()
        .await
        .unwrap()
        .contains("The web page was not built into this server"));
    let create = get("/create").await.unwrap().text().await.unwrap();
    assert!(create.contains("not built into this server"), "{create}");
    let reveal = get("/s/01ARZ3NDEKTSV4RRFFQ69G5FAV").await.unwrap();
    assert!(reveal
        .text()
        .await
        .unwrap()
        .contains("built without its web page"));
    assert_eq!(get("/hakanai_wasm_bg.wasm").await.unwrap().status(), 404);
    assert_eq!(get("/docs").await.unwrap().status(), 200);
    assert_eq!(get("/ready").await.unwrap().status(), 200);

    // The built-in page, unless built without one, is what the same server serves by default.
    if !hakanai_server::assets::EMBEDDED.is_empty() {
        let app = spawn_app(Backend::Memory, |_| {}).await;
        let wasm = app
            .client
            .get(app.url("/hakanai_wasm_bg.wasm"))
            .send()
            .await
            .unwrap();
        assert_eq!(wasm.status(), 200);
        assert_eq!(wasm.headers()["content-type"], "application/wasm");
        assert_eq!(
            wasm.headers()["content-security-policy"],
            hakanai_server::CONTENT_SECURITY_POLICY
        );
    }
}

// ---- the real binary: documented flags exist, logs stay clean ----

/// Flags of other programs (Redis, Docker, cargo, useradd, systemctl, helm, the CLI) that the
/// deployment files mention; everything else must be a `hakanai-server` flag.
const OTHER_TOOLS_FLAGS: &[&str] = &[
    "--save",
    "--appendonly",
    "--maxmemory",
    "--maxmemory-policy",
    "--build",
    "--scale",
    "--release",
    "--system",
    "--shell",
    "--now",
    "--rm",
    "--with",
    "--limit",
    "--ttl",
    "--set",
    // `cargo xtask image` and buildah.
    "--prebuilt",
    "--isolation",
    "--layers",
    "--format",
    // `docker run --ulimit` (connection limits).
    "--ulimit",
];

/// CLI variables (`hakanai`, not `hakanai-server`) the guide mentions.
const OTHER_TOOLS_ENV: &[&str] = &["HAKANAI_ADMIN_TOKEN"];

fn workspace_file(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn words_with_prefix<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        let tail = &rest[i..];
        let end = tail
            .char_indices()
            .find(|&(_, c)| !is_word(c))
            .map_or(tail.len(), |(j, _)| j);
        let word = tail[..end].trim_end_matches(['-', '_']);
        // A flag starts a word: not the middle of `a--b` or a longer prefix like `---`.
        if !before.is_some_and(is_word)
            && word.len() > prefix.len()
            && !word[prefix.len()..].starts_with('-')
        {
            out.push(word);
        }
        rest = &tail[end.max(1)..];
    }
    out
}

#[test]
fn deployment_files_name_only_real_flags() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_hakanai-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    // Whitespace normalised: with clap's `wrap_help` (enabled by another workspace member
    // through feature unification) the help is wrapped, which can split "[env: NAME=]".
    let help = String::from_utf8(help.stdout)
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        + " ";
    let mut checked = 0;
    for file in [
        "docs/DEPLOYMENT.md",
        "deploy/systemd/hakanai.service",
        "docker-compose.yml",
        "docker-compose.prod.yml",
        "Dockerfile",
        "deploy/helm/hakanai/values.yaml",
        "deploy/helm/hakanai/templates/deployment.yaml",
    ] {
        let text = workspace_file(file);
        for flag in words_with_prefix(&text, "--") {
            if OTHER_TOOLS_FLAGS.contains(&flag) || file == "Dockerfile" {
                continue;
            }
            assert!(
                help.contains(&format!("{flag} ")),
                "{file} names {flag}, which hakanai-server --help does not list"
            );
            checked += 1;
        }
        for var in words_with_prefix(&text, "HAKANAI_") {
            if OTHER_TOOLS_ENV.contains(&var) {
                continue;
            }
            assert!(
                help.contains(&format!("env: {var}=")) || help.contains(&format!("env: {var}]")),
                "{file} names {var}, which hakanai-server --help does not list"
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} mentions checked");
}

#[test]
fn flag_scanner_finds_flags_and_skips_lookalikes() {
    assert_eq!(
        words_with_prefix("run --port 1 a--b --- --webhook-url=x `--x-y`.", "--"),
        ["--port", "--webhook-url", "--x-y"]
    );
    assert_eq!(
        words_with_prefix(
            "HAKANAI_PORT=1 and `HAKANAI_WEB_ROOT`, XHAKANAI_NO",
            "HAKANAI_"
        ),
        ["HAKANAI_PORT", "HAKANAI_WEB_ROOT"]
    );
}

/// The real binary at debug level, with a webhook configured: its logs name no token, id,
/// body, passphrase, creator token or webhook key.
#[tokio::test]
async fn logs_of_the_real_binary_hold_no_secrets() {
    // A port nothing listens on (held until the end): the webhook's deliveries fail and are
    // logged.
    let reserved = hakanai_test_support::ReservedPort::new();
    let dead = reserved.port();
    // The tokens go to --token-file, never to the output this test searches for secrets.
    let server = hakanai_test_support::HakanaiServer::builder(env!("CARGO_BIN_EXE_hakanai-server"))
        .rust_log("debug")
        .capture_log()
        .admin_token()
        .args(["--webhook-url", &format!("http://127.0.0.1:{dead}/hook")])
        .args(["--webhook-token", "webhook-key-marker"])
        .args(["--webhook-headers", "user-agent"]);
    let server = tokio::task::spawn_blocking(move || server.start())
        .await
        .unwrap();
    let admin = server.admin_token().to_owned();
    let user = server.user_token().to_owned();
    let base = server.base_url();
    let client = reqwest::Client::new();
    let body = "Ym9keS1tYXJrZXItbm90LWluLWxvZ3M="; // "body-marker-not-in-logs"
    let created: Json = client
        .post(format!("{base}/api/v1/secret"))
        .bearer_auth(&user)
        .json(
            &json!({"data": body, "restrictions": {"passphrase_hash": sha256_hex("pass-marker")}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let creator = created["creator_token"].as_str().unwrap().to_owned();
    let wrong = client
        .get(format!("{base}/api/v1/secret/{id}"))
        .header("x-secret-passphrase", "wrong-pass-marker")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let read = client
        .get(format!("{base}/api/v1/secret/{id}"))
        .header("x-secret-passphrase", "pass-marker")
        .send()
        .await
        .unwrap();
    assert_eq!(read.text().await.unwrap(), body);
    let new_token: Json = client
        .post(format!("{base}/api/v1/admin/tokens"))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_token = new_token["token"].as_str().unwrap().to_owned();
    // Let a webhook attempt fail and be logged.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = tokio::task::spawn_blocking(move || server.stop(Duration::from_secs(30)))
        .await
        .unwrap();
    let exit = stopped.status.expect("a graceful exit");
    assert!(exit.success(), "{exit:?}");
    let mut out = stopped.log;
    assert!(out.contains("\"route\":\"/api/v1/secret/:id\""), "{out}");
    // Stderr is searched as well: with --token-file no token is printed there either.
    out.push_str(&stopped.stderr);
    for needle in [
        admin.as_str(),
        &user,
        &new_token,
        &id,
        &creator,
        body,
        "pass-marker",
        &sha256_hex("pass-marker"),
        "webhook-key-marker",
    ] {
        assert!(!out.contains(needle), "the log holds {needle}");
    }
}

/// The compose files' Redis holds enough secrets at the full upload limit: with `noeviction`, a
/// Redis sized below a handful of maximal uploads refuses creates after the first few.
#[test]
fn compose_redis_maxmemory_fits_the_upload_limit() {
    fn value_after(text: &str, key: &str) -> Option<String> {
        let mut lines = text.lines().map(str::trim);
        while let Some(l) = lines.next() {
            if l == format!("- {key}") {
                return lines
                    .next()
                    .map(|v| v.trim_start_matches("- ").trim_matches('"').to_owned());
            }
            if let Some(v) = l.strip_prefix(&format!("{key}:")) {
                return Some(v.trim().trim_matches('"').to_owned());
            }
        }
        None
    }
    let bytes = |s: &str| parse_size::parse_size(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    let base = workspace_file("docker-compose.yml");
    let prod = workspace_file("docker-compose.prod.yml");
    // The server's default limit (10m) unless the file sets one; the override's Redis wins.
    let cases = [
        (bytes("10m"), value_after(&base, "--maxmemory").unwrap()),
        (
            bytes(&value_after(&prod, "HAKANAI_UPLOAD_SIZE_LIMIT").unwrap()),
            value_after(&prod, "--maxmemory").unwrap(),
        ),
    ];
    for (limit, maxmemory) in cases {
        let maxmemory = bytes(&maxmemory);
        // JSON uploads keep the base64 text (4/3) plus a little per key: 1.4 x the limit.
        let full_size_secrets = maxmemory as f64 / (limit as f64 * 1.4);
        assert!(
            full_size_secrets >= 10.0,
            "Redis maxmemory {maxmemory} holds only {full_size_secrets:.1} secrets of {limit} bytes"
        );
    }
    assert!(prod.contains("noeviction") && base.contains("noeviction"));
}
