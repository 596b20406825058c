//! Lifecycle events: counted in the metrics and, when configured, sent to the audit webhook.
//!
//! An event carries metadata only. Secrets are named by `secret_ref`, a hash of the id, because
//! the id itself lets anyone fetch (and burn) the ciphertext: the audit receiver can correlate
//! the events of one secret, and an operator can compute the ref from an id a user reports, but
//! the receiver cannot read anything. Content, tokens, passphrase verifiers and link fragments
//! never reach this module.
//!
//! The body also carries Hakanai v3's fields (`secret_id`, `action`, `details`), so receivers
//! written for it keep working. Its `secret_id` was the secret's id; ours is a ULID derived from
//! `secret_ref` instead: the same for every event of one secret, shaped as Hakanai's, and useless
//! for fetching anything.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName};
use serde::Serialize;

use crate::id::SecretId;
use crate::metrics::Metrics;
use crate::restrictions::Restrictions;
use crate::store::now_secs;
pub use crate::tokens::UserType;
use crate::webhook::{Delivery, Webhook};

/// Request headers that may never be forwarded, whatever `--webhook-headers` says.
pub const NEVER_FORWARDED: &[&str] = crate::headers::CREDENTIALS;

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

    /// Hakanai v3's `action`: it named only `Created` and `Retrieved`; ours follow its style.
    fn action(self) -> &'static str {
        match self {
            Event::SecretCreated => "Created",
            Event::SecretRead => "Retrieved",
            Event::SecretRevoked => "Revoked",
            Event::SecretDestroyed => "Destroyed",
            Event::TokenCreated => "TokenCreated",
        }
    }

    pub const ALL: [Event; 5] = [
        Event::SecretCreated,
        Event::SecretRead,
        Event::SecretRevoked,
        Event::SecretDestroyed,
        Event::TokenCreated,
    ];

    /// Parses an event name (as in `--webhook-events`).
    pub fn from_name(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// What is known about a secret when it is created; metadata only.
pub struct Created<'a> {
    pub user_type: UserType,
    pub ttl: Duration,
    /// Bytes stored (the envelope, or its base64 text for JSON uploads).
    pub size: u64,
    pub restrictions: &'a Restrictions,
}

/// Hakanai v3's restriction bitfield (the `type` label of
/// `hakanai_secrets_with_restrictions_total`): 1 IP, 2 country, 4 ASN, 8 passphrase.
pub fn restriction_bits(r: &Restrictions) -> u8 {
    u8::from(!r.allowed_ips.is_empty())
        | u8::from(!r.allowed_countries.is_empty()) << 1
        | u8::from(!r.allowed_asns.is_empty()) << 2
        | u8::from(r.passphrase_hash.is_some()) << 3
}

/// Hakanai v3's `details.restrictions` text, parts separated by `; `; never the passphrase lock.
fn restriction_text(r: &Restrictions) -> String {
    let mut parts = Vec::new();
    if !r.allowed_ips.is_empty() {
        let ips: Vec<String> = r.allowed_ips.iter().map(|n| n.to_string()).collect();
        parts.push(format!("Allowed IPs: {}", ips.join(", ")));
    }
    if !r.allowed_countries.is_empty() {
        parts.push(format!(
            "Allowed Countries: {}",
            r.allowed_countries.join(", ")
        ));
    }
    if !r.allowed_asns.is_empty() {
        let asns: Vec<String> = r.allowed_asns.iter().map(u32::to_string).collect();
        parts.push(format!("Allowed ASNs: {}", asns.join(", ")));
    }
    if r.passphrase_hash.is_some() {
        parts.push("Passphrase: ***".to_owned());
    }
    parts.join("; ")
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
    /// Hakanai v3: a ULID derived from `secret_ref` (never the id itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_id: Option<String>,
    /// Hakanai v3: `Created`, `Retrieved`, and ours in its style.
    action: &'static str,
    /// Hakanai v3: the forwarded headers, and for `Created` also `user_type`, `ttl`, `size`,
    /// `restrictions`; all values strings.
    details: serde_json::Map<String, serde_json::Value>,
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
    /// Events sent to the webhook (all are counted).
    send: Vec<Event>,
}

impl Events {
    pub fn new(
        metrics: Arc<Metrics>,
        webhook: Option<Webhook>,
        forward: Vec<HeaderName>,
        send: Vec<Event>,
    ) -> Self {
        Events {
            metrics,
            webhook,
            forward,
            send,
        }
    }

    /// A secret was stored.
    pub fn created(&self, id: &SecretId, created: &Created<'_>, headers: &HeaderMap) {
        self.metrics.observe_created(
            created.user_type.label(),
            created.size,
            created.ttl,
            restriction_bits(created.restrictions),
        );
        self.deliver(
            Event::SecretCreated,
            Subject::Secret(id),
            headers,
            Some(created),
        );
    }

    /// Any other event; a secret's creation goes through [`Events::created`].
    pub fn record(&self, event: Event, subject: Subject<'_>, headers: &HeaderMap) {
        let m = &self.metrics;
        match event {
            Event::SecretRead => m.secrets_retrieved.inc(),
            Event::SecretRevoked => m.secrets_revoked.inc(),
            Event::SecretDestroyed => m.secrets_destroyed.inc(),
            Event::SecretCreated | Event::TokenCreated => {}
        }
        self.deliver(event, subject, headers, None);
    }

    fn deliver(
        &self,
        event: Event,
        subject: Subject<'_>,
        headers: &HeaderMap,
        created: Option<&Created<'_>>,
    ) {
        let Some(webhook) = &self.webhook else {
            return;
        };
        if !self.send.contains(&event) {
            return;
        }
        let timestamp = now_secs();
        let (secret_ref, token_id) = match subject {
            Subject::Secret(id) => (Some(secret_ref(id)), None),
            Subject::Token(id) => (None, Some(id)),
        };
        let forwarded: serde_json::Map<String, serde_json::Value> = self
            .forward
            .iter()
            .filter_map(|name| {
                let v = headers.get(name)?.to_str().ok()?;
                Some((name.as_str().to_owned(), serde_json::Value::from(v)))
            })
            .collect();
        let mut details = forwarded.clone();
        if let Some(c) = created {
            let mut put = |k: &str, v: String| details.insert(k.to_owned(), v.into());
            put("user_type", c.user_type.label().to_owned());
            put("ttl", humantime::format_duration(c.ttl).to_string());
            put("size", c.size.to_string());
            if c.restrictions.limits_readers() {
                put("restrictions", restriction_text(c.restrictions));
            }
        }
        let payload = Payload {
            event: event.name(),
            timestamp,
            secret_id: secret_ref.as_deref().map(hakanai_secret_id),
            secret_ref,
            token_id,
            headers: forwarded,
            action: event.action(),
            details,
        };
        let body = serde_json::to_vec(&payload).expect("plain data serialises");
        webhook.enqueue(Delivery {
            event: event.name(),
            timestamp,
            body,
        });
    }
}

/// The `secret_id` of Hakanai's body: the first 128 bits of `secret_ref` as a ULID.
fn hakanai_secret_id(secret_ref: &str) -> String {
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(&secret_ref[..32], &mut bytes).expect("secret_ref is hex");
    ulid::Ulid::from_bytes(bytes).to_string()
}

pub use crate::id::secret_ref;
