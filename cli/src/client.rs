//! The Hakanai HTTP API, blocking. Knows routes and headers; no crypto.

use std::io::Read;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::CONTENT_TYPE;
use reqwest::redirect::Policy;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, CliError};

const ATTEMPTS_HEADER: &str = "x-passphrase-attempts-remaining";
const USER_AGENT: &str = concat!("hakanai-cli/", env!("CARGO_PKG_VERSION"));
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of a raw upload, sent as `X-Secret-*` headers.
#[derive(Debug, Default)]
pub struct UploadOptions {
    /// Lifetime; `None` = the server's default.
    pub ttl: Option<Duration>,
    /// `X-Secret-Allowed-IPs`.
    pub allowed_ips: Vec<String>,
    /// `X-Secret-Allowed-Countries`.
    pub allowed_countries: Vec<String>,
    /// `X-Secret-Allowed-ASNs`.
    pub allowed_asns: Vec<u32>,
    /// `X-Secret-Passphrase-Hash`: hex SHA-256 of the verifier.
    pub passphrase_hash: Option<String>,
    /// `X-Secret-Read-Token-Hash`: hex SHA-256 of the read token (`docs/FORMAT.md` § Read
    /// token), so the id alone reads nothing.
    pub read_token_hash: Option<String>,
}

/// The answer to an upload.
#[derive(Debug, Deserialize)]
pub struct Created {
    /// The secret id.
    pub id: String,
    /// Lets the creator revoke the secret or ask for its status.
    #[allow(dead_code)]
    pub creator_token: String,
}

/// A new user token.
#[derive(Debug, Deserialize)]
pub struct NewToken {
    /// The bearer token (shown once).
    pub token: String,
    /// Its public id.
    pub id: String,
}

/// A user token as listed (never the token itself).
#[derive(Debug, Deserialize)]
pub struct TokenInfo {
    /// Public id.
    pub id: String,
    /// Upload limit in bytes.
    pub upload_size_limit: u64,
    /// Creates one secret only.
    pub one_time: bool,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub expires_at: Option<u64>,
}

#[derive(Debug, Serialize)]
struct CreateTokenRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_size_limit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl_seconds: Option<u64>,
    one_time: bool,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
    details: String,
}

/// A client for one server.
pub struct Api {
    base: String,
    http: Client,
}

impl Api {
    /// A client for `base` (e.g. `https://secrets.example.com`).
    pub fn new(base: &str) -> Result<Api, CliError> {
        if let Some(origin) = plain_http_remote(base) {
            eprintln!(
                "warning: {origin} is plain http://: tokens, secret ids and passphrase \
                 verifiers cross the network unencrypted, and anyone on the way can read or \
                 change what is exchanged; use https://"
            );
        }
        let http = Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(same_origin_redirects())
            // Large secrets take long; the connection timeout bounds the dead-server case.
            .timeout(None)
            .build()
            .map_err(|e| CliError::Protocol(format!("cannot set up HTTP: {e}")))?;
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// The base URL, without trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn send(&self, req: RequestBuilder, url: &str) -> Result<Response, CliError> {
        let resp = req.send().map_err(|source| network_error(url, source))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let attempts = attempts_remaining(resp.headers());
        let text = resp.text().unwrap_or_default();
        Err(CliError::Api(api_error(status, attempts, &text)))
    }

    /// `POST /api/v1/secret` with a raw body streamed from `body`.
    ///
    /// Async under the hood: the blocking client drops the server's answer when the server
    /// refuses an upload (401, 413) before reading all of it; this way the answer is reported.
    pub fn upload(
        &self,
        token: Option<&str>,
        options: &UploadOptions,
        body: impl Read + Send + 'static,
    ) -> Result<Created, CliError> {
        let url = self.url("/api/v1/secret");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::io("cannot start the HTTP runtime", e))?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(same_origin_redirects())
            .build()
            .map_err(|e| CliError::Protocol(format!("cannot set up HTTP: {e}")))?;
        let mut req = http
            .post(&url)
            .header(CONTENT_TYPE, "application/octet-stream");
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(ttl) = options.ttl {
            req = req.header("X-Secret-TTL", ttl.as_secs().to_string());
        }
        if !options.allowed_ips.is_empty() {
            req = req.header("X-Secret-Allowed-IPs", options.allowed_ips.join(","));
        }
        if !options.allowed_countries.is_empty() {
            req = req.header(
                "X-Secret-Allowed-Countries",
                options.allowed_countries.join(","),
            );
        }
        if !options.allowed_asns.is_empty() {
            let asns: Vec<String> = options.allowed_asns.iter().map(u32::to_string).collect();
            req = req.header("X-Secret-Allowed-ASNs", asns.join(","));
        }
        if let Some(hash) = &options.passphrase_hash {
            req = req.header("X-Secret-Passphrase-Hash", hash);
        }
        if let Some(hash) = &options.read_token_hash {
            req = req.header("X-Secret-Read-Token-Hash", hash);
        }

        // A thread reads (and encrypts) while the runtime sends: at most a few chunks queued.
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
        let producer = std::thread::spawn(move || {
            let mut body = body;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let item = match body.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => Ok(buf[..n].to_vec()),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = item.is_err();
                if tx.blocking_send(item).is_err() || failed {
                    return;
                }
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let result = runtime.block_on(async {
            let resp = req
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
                .map_err(|source| network_error(&url, source))?;
            if !resp.status().is_success() {
                let status = resp.status().as_u16();
                let attempts = attempts_remaining(resp.headers());
                let text = resp.text().await.unwrap_or_default();
                return Err(CliError::Api(api_error(status, attempts, &text)));
            }
            resp.json::<Created>()
                .await
                .map_err(|e| CliError::Protocol(format!("invalid upload response: {e}")))
        });
        drop(runtime);
        let _ = producer.join();
        result
    }

    /// `GET /api/v1/secret/{id}`: the envelope as a stream. Consumes the secret.
    pub fn download(
        &self,
        id: &str,
        verifier_hex: Option<&str>,
        read_token_hex: Option<&str>,
    ) -> Result<Response, CliError> {
        let url = self.url(&format!("/api/v1/secret/{id}"));
        let mut req = self.http.get(&url);
        if let Some(v) = verifier_hex {
            req = req.header("X-Secret-Passphrase", v);
        }
        if let Some(t) = read_token_hex {
            req = req.header("X-Secret-Read-Token", t);
        }
        // The id is a read capability: keep it out of error messages.
        self.send(req, &self.url("/api/v1/secret/…"))
    }

    /// `POST /api/v1/admin/tokens`.
    pub fn create_token(
        &self,
        admin: &str,
        limit: Option<&str>,
        ttl: Option<Duration>,
        one_time: bool,
    ) -> Result<NewToken, CliError> {
        let url = self.url("/api/v1/admin/tokens");
        let body = CreateTokenRequest {
            upload_size_limit: limit,
            ttl_seconds: ttl.map(|t| t.as_secs()),
            one_time,
        };
        let req = self.http.post(&url).bearer_auth(admin).json(&body);
        self.send(req, &url)?
            .json()
            .map_err(|e| CliError::Protocol(format!("invalid token response: {e}")))
    }

    /// `GET /api/v1/admin/tokens`.
    pub fn list_tokens(&self, admin: &str) -> Result<Vec<TokenInfo>, CliError> {
        let url = self.url("/api/v1/admin/tokens");
        let req = self.http.get(&url).bearer_auth(admin);
        self.send(req, &url)?
            .json()
            .map_err(|e| CliError::Protocol(format!("invalid token list: {e}")))
    }

    /// `DELETE /api/v1/admin/tokens/{id}`.
    pub fn revoke_token(&self, admin: &str, id: &str) -> Result<(), CliError> {
        let url = self.url(&format!("/api/v1/admin/tokens/{id}"));
        let req = self.http.delete(&url).bearer_auth(admin);
        self.send(req, &url)?;
        Ok(())
    }
}

/// Redirects are followed only within the origin (scheme, host, port) first asked: the
/// requests carry the passphrase verifier (`X-Secret-Passphrase`) or a token, and reqwest's
/// default policy would carry custom headers to any host (it strips only `Authorization` and
/// cookies). Another origin, even the same host over https, is refused with
/// [`CrossOriginRedirect`], so the user decides which server to trust.
fn same_origin_redirects() -> Policy {
    Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.follow();
        };
        let (from, to) = (first.origin(), attempt.url().origin());
        if from != to {
            let refused = CrossOriginRedirect {
                from: from.ascii_serialization(),
                to: to.ascii_serialization(),
            };
            return attempt.error(refused);
        }
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error("too many redirects");
        }
        attempt.follow()
    })
}

const MAX_REDIRECTS: usize = 10;

/// A redirect to another origin, refused by [`same_origin_redirects`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossOriginRedirect {
    /// The origin asked.
    pub from: String,
    /// The origin it redirected to.
    pub to: String,
}

impl std::fmt::Display for CrossOriginRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} redirected to {}", self.from, self.to)
    }
}

impl std::error::Error for CrossOriginRedirect {}

/// A failed request: a refused cross-origin redirect, or the network's own failure.
fn network_error(url: &str, source: reqwest::Error) -> CliError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&source);
    while let Some(e) = cause {
        if let Some(redirect) = e.downcast_ref::<CrossOriginRedirect>() {
            return CliError::Redirect(redirect.clone());
        }
        cause = e.source();
    }
    CliError::Network {
        url: url.to_string(),
        source,
    }
}

/// The origin of `base` when it is plain `http://` to a host that is not this machine: then
/// the requests cross a network unencrypted. `None` for https, loopback and unparsable URLs.
pub fn plain_http_remote(base: &str) -> Option<String> {
    let url = reqwest::Url::parse(base).ok()?;
    if url.scheme() != "http" {
        return None;
    }
    let host = url.host_str()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        // RFC 6761: `localhost` and its subdomains resolve to loopback.
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    (!loopback).then(|| url.origin().ascii_serialization())
}

fn attempts_remaining(headers: &reqwest::header::HeaderMap) -> Option<u32> {
    headers
        .get(ATTEMPTS_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn api_error(status: u16, attempts_remaining: Option<u32>, text: &str) -> ApiError {
    let (code, details) = match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => (body.error, body.details),
        Err(_) => (String::new(), text.chars().take(200).collect()),
    };
    ApiError {
        status,
        code,
        details,
        attempts_remaining,
    }
}

#[cfg(test)]
mod tests {
    use super::plain_http_remote;

    #[test]
    fn plain_http_is_flagged_off_this_machine_only() {
        for remote in [
            "http://secrets.example.com",
            "http://10.0.0.5:8080/prefix",
            "http://[2001:db8::1]:8080",
            "http://localhost.example.com",
        ] {
            assert!(plain_http_remote(remote).is_some(), "{remote}");
        }
        assert_eq!(
            plain_http_remote("http://secrets.example.com/x").as_deref(),
            Some("http://secrets.example.com")
        );
        for local in [
            "https://secrets.example.com",
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://[::1]:8080",
            "http://[::ffff:127.0.0.1]",
            "http://localhost:8080",
            "http://LOCALHOST.",
            "http://app.localhost",
            "not a url",
        ] {
            assert_eq!(plain_http_remote(local), None, "{local}");
        }
    }
}
