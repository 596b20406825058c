//! Webhook deliveries for the audit trail, off the request path.
//!
//! Handlers only `try_send` into a bounded queue; one background task delivers with a timeout
//! per attempt and exponential backoff. A full queue drops the event and counts it, so a slow or
//! dead receiver can cost audit events but never API latency or availability.
//!
//! Authentication, both ways at once: `Authorization: Bearer <--webhook-token>` as Hakanai v3
//! sent it, and with `--webhook-signing-key` a signature
//! `X-Hakanai-Signature: sha256=<hex HMAC-SHA256(key, timestamp + "." + body)>` with the Unix
//! timestamp in `X-Hakanai-Timestamp`, so a receiver can verify the body and refuse replays.
//! A receiver answering 401 or 403 does not know our token: that is logged as an error and
//! counted as `refused`, since every later event will meet the same answer.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::metrics::Metrics;

pub const TIMESTAMP_HEADER: &str = crate::headers::WEBHOOK_TIMESTAMP;
pub const SIGNATURE_HEADER: &str = crate::headers::WEBHOOK_SIGNATURE;
pub const EVENT_HEADER: &str = crate::headers::WEBHOOK_EVENT;

/// Events waiting for delivery; beyond this they are dropped (and counted).
pub const QUEUE_CAPACITY: usize = 1024;

/// Settings of the delivery task.
#[derive(Clone)]
pub struct WebhookConfig {
    pub url: reqwest::Url,
    /// The `Authorization` header value (`Bearer …`, marked sensitive).
    pub bearer: Option<reqwest::header::HeaderValue>,
    /// HMAC key; `None` sends unsigned deliveries (a warning is logged at startup).
    pub signing_key: Option<Arc<[u8]>>,
    pub timeout: Duration,
    /// Attempts per event, including the first.
    pub attempts: u32,
    /// Wait before the first retry; doubled after each failure.
    pub backoff: Duration,
    /// Events waiting for delivery; usually [`QUEUE_CAPACITY`].
    pub queue_capacity: usize,
}

/// One event, already serialised: the body is signed exactly as sent.
pub struct Delivery {
    pub event: &'static str,
    pub timestamp: u64,
    pub body: Vec<u8>,
}

/// The producer side, held by the application state.
#[derive(Clone)]
pub struct Webhook {
    tx: mpsc::Sender<Delivery>,
    metrics: Arc<Metrics>,
}

impl Webhook {
    /// Starts the delivery task; must be called within a Tokio runtime.
    pub fn spawn(config: WebhookConfig, metrics: Arc<Metrics>) -> Result<Webhook, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // An audit receiver redirecting elsewhere is a misconfiguration, not something to follow.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        tokio::spawn(deliver_all(rx, client, config, metrics.clone()));
        Ok(Webhook { tx, metrics })
    }

    /// Never waits: the caller is a request handler.
    pub fn enqueue(&self, delivery: Delivery) {
        if self.tx.try_send(delivery).is_err() {
            self.metrics
                .webhook_deliveries
                .with_label_values(&["dropped"])
                .inc();
            tracing::warn!("webhook queue full or closed: audit event dropped");
        }
    }
}

pub fn sign(token: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver_all(
    mut rx: mpsc::Receiver<Delivery>,
    client: reqwest::Client,
    config: WebhookConfig,
    metrics: Arc<Metrics>,
) {
    while let Some(d) = rx.recv().await {
        let outcome = match deliver(&client, &config, &d).await {
            Outcome::Delivered => "delivered",
            Outcome::Refused(status) => {
                tracing::error!(
                    event = d.event,
                    status = status.as_u16(),
                    "webhook receiver refused our credentials: check --webhook-token (sent as \
                     Authorization: Bearer); audit events are being lost"
                );
                "refused"
            }
            Outcome::Failed => {
                tracing::warn!(event = d.event, "webhook delivery failed after retries");
                "failed"
            }
        };
        metrics
            .webhook_deliveries
            .with_label_values(&[outcome])
            .inc();
    }
}

enum Outcome {
    Delivered,
    /// 401 or 403.
    Refused(reqwest::StatusCode),
    Failed,
}

async fn deliver(client: &reqwest::Client, config: &WebhookConfig, d: &Delivery) -> Outcome {
    let signature = config
        .signing_key
        .as_deref()
        .map(|t| sign(t, d.timestamp, &d.body));
    let mut wait = config.backoff;
    for attempt in 1..=config.attempts {
        let mut req = client
            .post(config.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, d.event)
            .header(TIMESTAMP_HEADER, d.timestamp.to_string())
            .body(d.body.clone());
        if let Some(s) = &signature {
            req = req.header(SIGNATURE_HEADER, s);
        }
        if let Some(b) = &config.bearer {
            req = req.header(reqwest::header::AUTHORIZATION, b.clone());
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => return Outcome::Delivered,
            Ok(resp)
                if resp.status() == reqwest::StatusCode::UNAUTHORIZED
                    || resp.status() == reqwest::StatusCode::FORBIDDEN =>
            {
                return Outcome::Refused(resp.status());
            }
            // Other client errors will not change on retry.
            Ok(resp)
                if resp.status().is_client_error()
                    && resp.status() != reqwest::StatusCode::TOO_MANY_REQUESTS
                    && resp.status() != reqwest::StatusCode::REQUEST_TIMEOUT =>
            {
                tracing::warn!(event = d.event, status = %resp.status(), "webhook refused the event");
                return Outcome::Failed;
            }
            Ok(resp) => {
                tracing::debug!(event = d.event, attempt, status = %resp.status(), "webhook attempt failed")
            }
            // The error names the URL but never the body or the token.
            Err(e) => {
                tracing::debug!(event = d.event, attempt, error = %e.without_url(), "webhook attempt failed")
            }
        }
        if attempt < config.attempts {
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
    }
    Outcome::Failed
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;
    use axum::routing::post;

    use super::*;

    fn config(url: String, timeout_ms: u64, queue_capacity: usize) -> WebhookConfig {
        WebhookConfig {
            url: reqwest::Url::parse(&url).unwrap(),
            bearer: None,
            signing_key: Some(Arc::from(&b"key"[..])),
            timeout: Duration::from_millis(timeout_ms),
            attempts: 3,
            backoff: Duration::from_millis(10),
            queue_capacity,
        }
    }

    fn delivery() -> Delivery {
        Delivery {
            event: "secret.created",
            timestamp: 1,
            body: b"{}".to_vec(),
        }
    }

    fn count(m: &Metrics, outcome: &str) -> u64 {
        m.webhook_deliveries.with_label_values(&[outcome]).get()
    }

    async fn wait_for(m: &Metrics, outcome: &str, n: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while count(m, outcome) < n {
            assert!(std::time::Instant::now() < deadline, "no {outcome} event");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_delivered() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let app = axum::Router::new().route(
            "/",
            post(move || async move {
                // Fails twice, then accepts: the third and last attempt succeeds.
                if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let metrics = Arc::new(Metrics::new());
        let hook = Webhook::spawn(config(url, 1000, 8), metrics.clone()).unwrap();
        hook.enqueue(delivery());
        wait_for(&metrics, "delivered", 1).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(count(&metrics, "failed"), 0);
    }

    #[tokio::test]
    async fn a_full_queue_drops_events_without_waiting() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let metrics = Arc::new(Metrics::new());
        let hook = Webhook::spawn(config(url, 5000, 2), metrics.clone()).unwrap();
        let start = std::time::Instant::now();
        for _ in 0..10 {
            hook.enqueue(delivery());
        }
        assert!(start.elapsed() < Duration::from_millis(100));
        // One in flight, two queued; the rest are dropped.
        assert!(
            count(&metrics, "dropped") >= 7,
            "{}",
            count(&metrics, "dropped")
        );
    }

    #[test]
    fn signature_matches_a_known_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Our framing: timestamp, a dot, then the body.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(b"12.{}");
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sign(b"k", 12, b"{}"), expected);
    }
}
