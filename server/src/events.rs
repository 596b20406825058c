//! Lifecycle events: counted in the metrics and, when configured, sent to the audit webhook.
//!
//! An event carries metadata only. Secrets are named by `secret_ref`, a hash of the id, because
//! the id itself lets anyone fetch (and burn) the ciphertext: the audit receiver can correlate
//! the events of one secret, and an operator can compute the ref from an id a user reports, but
//! the receiver cannot read anything. Content, tokens, passphrase verifiers and link fragments
//! never reach this module.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::id::SecretId;
use crate::metrics::Metrics;
use crate::store::now_secs;
use crate::webhook::{Delivery, Webhook};

/// Request headers that may never be forwarded, whatever `--webhook-headers` says.
pub const NEVER_FORWARDED: &[&str] = &[
    "authorization",
    "cookie",
    "proxy-authorization",
    crate::routes::secret::PASSPHRASE_HEADER,
    crate::routes::secret::CREATOR_TOKEN_HEADER,
    "x-secret-passphrase-hash",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    SecretCreated,
    SecretRead,
    SecretRevoked,
    /// Destroyed after too many wrong passphrases.
    SecretDestroyed,
    TokenCreated,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::SecretCreated => "secret.created",
            Event::SecretRead => "secret.read",
            Event::SecretRevoked => "secret.revoked",
            Event::SecretDestroyed => "secret.destroyed",
            Event::TokenCreated => "token.created",
        }
    }
}

/// The webhook body.
#[derive(Debug, Serialize)]
struct Payload<'a> {
    event: &'static str,
    /// Unix seconds; equal to the `X-Hakanai-Timestamp` header.
    timestamp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_ref: Option<String>,
    /// The token's public id (as listed by the admin API), never the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<&'a str>,
    headers: serde_json::Map<String, serde_json::Value>,
}

/// What an event is about.
pub enum Subject<'a> {
    Secret(&'a SecretId),
    Token(&'a str),
}

pub struct Events {
    metrics: Arc<Metrics>,
    webhook: Option<Webhook>,
    forward: Vec<HeaderName>,
}

impl Events {
    pub fn new(metrics: Arc<Metrics>, webhook: Option<Webhook>, forward: Vec<HeaderName>) -> Self {
        Events {
            metrics,
            webhook,
            forward,
        }
    }

    pub fn record(&self, event: Event, subject: Subject<'_>, headers: &HeaderMap) {
        let m = &self.metrics;
        match event {
            Event::SecretCreated => m.secrets_created.inc(),
            Event::SecretRead => m.secrets_retrieved.inc(),
            Event::SecretRevoked => m.secrets_revoked.inc(),
            Event::SecretDestroyed => m.secrets_destroyed.inc(),
            Event::TokenCreated => {}
        }
        let Some(webhook) = &self.webhook else {
            return;
        };
        let timestamp = now_secs();
        let (secret_ref, token_id) = match subject {
            Subject::Secret(id) => (Some(secret_ref(id)), None),
            Subject::Token(id) => (None, Some(id)),
        };
        let forwarded = self
            .forward
            .iter()
            .filter_map(|name| {
                let v = headers.get(name)?.to_str().ok()?;
                Some((name.as_str().to_owned(), serde_json::Value::from(v)))
            })
            .collect();
        let payload = Payload {
            event: event.name(),
            timestamp,
            secret_ref,
            token_id,
            headers: forwarded,
        };
        let body = serde_json::to_vec(&payload).expect("plain data serialises");
        webhook.enqueue(Delivery {
            event: event.name(),
            timestamp,
            body,
        });
    }
}

/// Hex SHA-256 of the id's storage form (the same whichever form a link shows), domain-separated
/// so it matches no other hash in the system.
pub fn secret_ref(id: &SecretId) -> String {
    let mut h = Sha256::new();
    h.update(b"hakanai-secret-ref:");
    h.update(id.storage_key().as_bytes());
    hex::encode(h.finalize())
}
