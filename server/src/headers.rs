//! Every HTTP header of the protocol, named once: what clients send, what the server answers,
//! and which of them carry credentials. CORS, the webhook's header forwarding and the handlers
//! all read these lists, so a new header cannot be allowed in one place and forgotten in another.

/// The reader's passphrase verifier (hex).
pub const PASSPHRASE: &str = "x-secret-passphrase";
/// The reader's read token (hex, `docs/FORMAT.md` § Read token).
pub const READ_TOKEN: &str = "x-secret-read-token";
/// The creator token from the create response (revoke, status, multi-request uploads).
pub const CREATOR_TOKEN: &str = "x-creator-token";
/// Raw-upload options (each also a query parameter).
pub const TTL: &str = "x-secret-ttl";
pub const ALLOWED_IPS: &str = "x-secret-allowed-ips";
pub const ALLOWED_COUNTRIES: &str = "x-secret-allowed-countries";
pub const ALLOWED_ASNS: &str = "x-secret-allowed-asns";
pub const PASSPHRASE_HASH: &str = "x-secret-passphrase-hash";
pub const READ_TOKEN_HASH: &str = "x-secret-read-token-hash";
/// Where a multi-request upload's chunk belongs (request), or stands (a 409 answer).
pub const UPLOAD_OFFSET: &str = "upload-offset";
/// Passphrase attempts left, on a 401.
pub const ATTEMPTS_REMAINING: &str = "x-passphrase-attempts-remaining";
/// A proxy's or client's request id, echoed into logs and traces.
pub const REQUEST_ID: &str = "x-request-id";
/// The webhook's own request headers.
pub const WEBHOOK_EVENT: &str = "x-hakanai-event";
pub const WEBHOOK_TIMESTAMP: &str = "x-hakanai-timestamp";
pub const WEBHOOK_SIGNATURE: &str = "x-hakanai-signature";

/// Headers of ours a cross-origin caller may send (besides `Authorization` and `Content-Type`).
pub const CLIENT_SENT: &[&str] = &[
    PASSPHRASE,
    READ_TOKEN,
    CREATOR_TOKEN,
    TTL,
    ALLOWED_IPS,
    ALLOWED_COUNTRIES,
    ALLOWED_ASNS,
    PASSPHRASE_HASH,
    READ_TOKEN_HASH,
    UPLOAD_OFFSET,
];

/// Headers of ours a cross-origin caller may read.
pub const CLIENT_READ: &[&str] = &[ATTEMPTS_REMAINING, UPLOAD_OFFSET];

/// Request headers that carry a credential, or what unlocks a secret, or a lock on one: never
/// forwarded to the webhook, whatever `--webhook-headers` says.
pub const CREDENTIALS: &[&str] = &[
    "authorization",
    "cookie",
    "proxy-authorization",
    PASSPHRASE,
    READ_TOKEN,
    CREATOR_TOKEN,
    PASSPHRASE_HASH,
    READ_TOKEN_HASH,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_lowercase_header_names() {
        let all = CLIENT_SENT
            .iter()
            .chain(CLIENT_READ)
            .chain(CREDENTIALS)
            .chain(&[
                REQUEST_ID,
                WEBHOOK_EVENT,
                WEBHOOK_TIMESTAMP,
                WEBHOOK_SIGNATURE,
            ]);
        for name in all {
            let parsed = axum::http::HeaderName::from_static(name);
            assert_eq!(parsed.as_str(), *name);
        }
    }

    #[test]
    fn every_secret_bearing_header_a_client_sends_is_a_credential() {
        for name in [
            PASSPHRASE,
            READ_TOKEN,
            CREATOR_TOKEN,
            PASSPHRASE_HASH,
            READ_TOKEN_HASH,
        ] {
            assert!(CREDENTIALS.contains(&name), "{name}");
            assert!(CLIENT_SENT.contains(&name), "{name}");
        }
    }
}
