//! Command-line flags; every flag is also read from a `HAKANAI_*` environment variable.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser};
use ipnet::IpNet;

use crate::client_ip::parse_ip_or_net;

/// Hakanai v3's default `WEBHOOK_HEADERS`.
pub const DEFAULT_WEBHOOK_HEADERS: &str =
    "user-agent,x-forwarded-for,x-forwarded-proto,x-real-ip,x-request-id";

#[derive(Debug, Clone, Parser)]
#[command(
    name = "hakanai-server",
    version,
    about = "Hakanai one-time secret storage server"
)]
pub struct Config {
    /// Port to listen on (0 picks a free port).
    #[arg(short, long, env = "HAKANAI_PORT", default_value_t = 8080)]
    pub port: u16,

    /// Address to listen on (--listen is the same flag, as Hakanai v3's guide calls it).
    #[arg(
        short,
        long,
        visible_alias = "listen",
        env = "HAKANAI_LISTEN_ADDRESS",
        default_value = "127.0.0.1"
    )]
    pub listen_address: IpAddr,

    /// Longest time a client may take to send a request's head (line and headers); also how
    /// long a keep-alive connection may stay idle between requests.
    #[arg(long, env = "HAKANAI_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub header_read_timeout: Duration,

    /// Longest pause inside a request body (answered with 408), and inside a response the
    /// client is reading (the connection is closed).
    #[arg(long, env = "HAKANAI_BODY_IDLE_TIMEOUT", default_value = "30s", value_parser = parse_positive_duration)]
    pub body_idle_timeout: Duration,

    /// Slowest average rate, in bytes per second, at which a request body may arrive once
    /// --min-body-rate-grace has passed (408 below it); 0 turns the check off.
    #[arg(long, env = "HAKANAI_MIN_BODY_RATE", default_value = "1k", value_parser = parse_rate)]
    pub min_body_rate: u64,

    /// Time a request body may take before --min-body-rate applies.
    #[arg(long, env = "HAKANAI_MIN_BODY_RATE_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub min_body_rate_grace: Duration,

    /// Most connections served at once (on each listener); one more is answered 503 with
    /// Retry-After and closed. Keep it below the file descriptor limit (`ulimit -n`).
    #[arg(long, env = "HAKANAI_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Redis DSN: redis://[[user]:pass@]host:port/db, rediss://… (TLS),
    /// redis+unix:///path.sock?db=N, redis-sentinel://[[user]:pass@]host:port[,host:port…]/master[/db],
    /// redis-cluster://[[user]:pass@]host:port[,host:port…] or rediss-cluster://… (TLS).
    /// Without it secrets live in this process only.
    #[arg(short, long, env = "HAKANAI_REDIS_DSN")]
    pub redis_dsn: Option<String>,

    /// Upper bound for one Redis operation, including connecting and waiting for a connection
    /// [default: --redis-response-timeout if given, else 1500ms].
    #[arg(long, env = "HAKANAI_REDIS_TIMEOUT", value_parser = parse_duration)]
    pub redis_timeout: Option<Duration>,

    /// Hakanai v3's name for the time one Redis command may take: used for --redis-timeout when
    /// that is not given.
    #[arg(long, env = "HAKANAI_REDIS_RESPONSE_TIMEOUT", value_parser = parse_duration)]
    pub redis_response_timeout: Option<Duration>,

    /// Hakanai v3's bound on opening a Redis connection. Accepted for compatibility: here
    /// connecting is bounded by --redis-timeout, which is shorter unless set otherwise.
    #[arg(long, env = "HAKANAI_REDIS_CONNECTION_TIMEOUT", value_parser = parse_duration)]
    pub redis_connection_timeout: Option<Duration>,

    /// Longest pause between attempts to reach Redis while starting (Hakanai v3's reconnection
    /// delay cap).
    #[arg(long, env = "HAKANAI_REDIS_RECONNECTION_MAX_DELAY", default_value = "5s", value_parser = parse_duration)]
    pub redis_reconnection_max_delay: Duration,

    /// CA certificates (PEM) that rediss:// and rediss-cluster:// servers must chain to, instead
    /// of the system roots.
    #[arg(long, env = "HAKANAI_REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,

    /// How long startup keeps retrying an unreachable Redis, with backoff, before giving up.
    #[arg(long, env = "HAKANAI_REDIS_STARTUP_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub redis_startup_timeout: Duration,

    /// Largest secret a user token may upload (decoded size), e.g. 10m, 1.5m, 512k.
    #[arg(short, long, env = "HAKANAI_UPLOAD_SIZE_LIMIT", default_value = "10m", value_parser = parse_size)]
    pub upload_size_limit: u64,

    /// Allow uploads without a token.
    #[arg(long, env = "HAKANAI_ALLOW_ANONYMOUS", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub allow_anonymous: bool,

    /// Largest secret an anonymous client may upload (--anonymous-size-limit is the same flag).
    #[arg(
        long = "anonymous-upload-size-limit",
        visible_alias = "anonymous-size-limit",
        env = "HAKANAI_ANONYMOUS_UPLOAD_SIZE_LIMIT",
        value_parser = parse_size
    )]
    pub anonymous_upload_size_limit: Option<u64>,

    /// The environment name this server read before it took Hakanai v3's.
    #[arg(long = "legacy-anonymous-size-limit", env = "HAKANAI_ANONYMOUS_SIZE_LIMIT", hide = true, value_parser = parse_size)]
    pub legacy_anonymous_size_limit: Option<u64>,

    /// Longest lifetime a secret may have, e.g. 7d, 12h.
    #[arg(long, env = "HAKANAI_MAX_TTL", default_value = "7d", value_parser = parse_duration)]
    pub max_ttl: Duration,

    /// Enable the admin API; an admin token is created and handed over once (see --token-file)
    /// if none exists.
    #[arg(long, env = "HAKANAI_ENABLE_ADMIN_TOKEN", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub enable_admin_token: bool,

    /// Create a new admin token, hand it over once (see --token-file) and exit.
    #[arg(long, env = "HAKANAI_RESET_ADMIN_TOKEN", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub reset_admin_token: bool,

    /// Delete all user tokens, create one new default token, hand it over once (see
    /// --token-file) and exit.
    #[arg(long, env = "HAKANAI_RESET_USER_TOKENS", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub reset_user_tokens: bool,

    /// Where new bootstrap and reset tokens are written: appended as `admin <token>` or
    /// `user <token>` lines to this file, created 0600 (an existing file readable by group or
    /// others is refused). Default: the terminal if stderr is one, else
    /// `$STATE_DIRECTORY/hakanai-tokens`, else `./hakanai-tokens`; never the log.
    #[arg(long, env = "HAKANAI_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Client IP ranges (comma-separated CIDRs) that may create secrets without a token, up to
    /// --upload-size-limit, and may reach the admin API. Default: none may upload without a
    /// token; the admin API from loopback only.
    #[arg(long, env = "HAKANAI_TRUSTED_IP_RANGES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_ip_ranges: Vec<IpNet>,

    /// Peers whose forwarded client-IP header is believed (comma-separated CIDRs). The default,
    /// loopback and private ranges, covers an ordinary reverse proxy; a client on a public
    /// address can never choose its own IP. Narrow it if clients on private networks connect
    /// without a proxy, since those could otherwise name any address.
    #[arg(
        long,
        env = "HAKANAI_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_net,
        default_value = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// Header carrying the client IP when set by a trusted proxy.
    #[arg(
        long,
        env = "HAKANAI_TRUSTED_IP_HEADER",
        default_value = "x-forwarded-for"
    )]
    pub trusted_ip_header: String,

    /// Header carrying the client's country code (e.g. CF-IPCountry); enables country restrictions.
    #[arg(long, env = "HAKANAI_COUNTRY_HEADER")]
    pub country_header: Option<String>,

    /// Header carrying the client's ASN; enables ASN restrictions.
    #[arg(long, env = "HAKANAI_ASN_HEADER")]
    pub asn_header: Option<String>,

    /// Origins allowed for cross-origin API calls (comma-separated). Default: same origin only.
    #[arg(
        short,
        long,
        env = "HAKANAI_CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,

    /// Show the token field on the create page of an anonymous server too; without anonymous
    /// uploads it is always shown (Hakanai v3; `?show_token` shows it for one visit).
    #[arg(long, env = "HAKANAI_SHOW_TOKEN_INPUT", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub show_token_input: bool,

    /// Hakanai v3 kept per-secret statistics in Redis for this long. Accepted for compatibility:
    /// this server keeps no such records (its metrics are counted as events happen).
    #[arg(long, env = "HAKANAI_STATS_TTL", default_value = "30d", value_parser = parse_duration)]
    pub stats_ttl: Duration,

    /// Wrong passphrases before a secret is destroyed.
    #[arg(long, env = "HAKANAI_MAX_PASSPHRASE_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_passphrase_attempts: u32,

    /// A multi-request upload is discarded this long after it opened, however active it is (as
    /// well as after 10 minutes without a request); a single request body still arriving after
    /// this long is cut with 408.
    #[arg(long, env = "HAKANAI_UPLOAD_DEADLINE", default_value = "1h", value_parser = parse_positive_duration)]
    pub upload_deadline: Duration,

    /// Multi-request uploads one user token may hold open at once (429 with Retry-After over it).
    #[arg(long, env = "HAKANAI_MAX_OPEN_UPLOADS_PER_TOKEN", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_open_uploads_per_token: u32,

    /// Multi-request uploads one client address (an IPv6 /64) may hold open at once without a
    /// token (429 with Retry-After over it).
    #[arg(long, env = "HAKANAI_MAX_OPEN_UPLOADS_PER_ADDRESS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_open_uploads_per_address: u32,

    /// Bytes all stored secrets (and open uploads) may hold together; a create over it gets 507.
    /// Default: the embedded store takes half the memory available to the process (the cgroup
    /// limit if there is one, else `MemAvailable`); Redis half of its own `maxmemory`,
    /// read at startup (none when Redis has none or refuses `CONFIG`). `0`: no global budget.
    #[arg(long, env = "HAKANAI_MAX_STORED_BYTES", value_parser = parse_budget)]
    pub max_stored_bytes: Option<u64>,

    /// Bytes one user token may hold stored at once (429 with Retry-After over it), unless the
    /// token has its own `max_stored_bytes`. `0`: no budget.
    #[arg(long, env = "HAKANAI_MAX_STORED_BYTES_PER_TOKEN", default_value = "1g", value_parser = parse_budget)]
    pub max_stored_bytes_per_token: u64,

    /// Bytes one client address (an IPv6 /64) may hold stored at once without a token (429 with
    /// Retry-After over it). `0`: no budget.
    #[arg(long, env = "HAKANAI_MAX_STORED_BYTES_PER_ADDRESS", default_value = "256m", value_parser = parse_budget)]
    pub max_stored_bytes_per_address: u64,

    /// Lifetime of the one-time tokens users mint at `POST /api/v1/one-time-token`.
    #[arg(long, env = "HAKANAI_ONE_TIME_TOKEN_TTL", default_value = "7d", value_parser = parse_duration)]
    pub one_time_token_ttl: Duration,

    /// Serve the web page from this directory (e.g. web/dist) instead of the page built into
    /// the binary: for working on the page without rebuilding the server.
    #[arg(long, env = "HAKANAI_WEB_ROOT")]
    pub web_root: Option<PathBuf>,

    /// Serve the page built into the binary when there is no `--web-root`. Not a flag: tests
    /// turn it off to see the server as built with `HAKANAI_SKIP_WEB_BUILD=1`.
    #[arg(skip = true)]
    pub embedded_page: bool,

    /// Serve `/metrics` on this address (e.g. 127.0.0.1:9100) instead of the main port.
    /// Without it, `/metrics` is on the main port: block it at the reverse proxy.
    #[arg(long, env = "HAKANAI_METRICS_LISTEN_ADDRESS")]
    pub metrics_listen_address: Option<SocketAddr>,

    /// Audit webhook: each lifecycle event is POSTed here as JSON (metadata only).
    #[arg(long, env = "HAKANAI_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// Sent as `Authorization: Bearer <token>` with every delivery (Hakanai v3's meaning).
    /// Prefer --webhook-token-file: flags show up in `ps`.
    #[arg(long, env = "HAKANAI_WEBHOOK_TOKEN", hide_env_values = true)]
    pub webhook_token: Option<Redacted>,

    /// File holding the webhook bearer token (surrounding whitespace is ignored).
    #[arg(
        long,
        env = "HAKANAI_WEBHOOK_TOKEN_FILE",
        conflicts_with = "webhook_token"
    )]
    pub webhook_token_file: Option<PathBuf>,

    /// HMAC key signing each delivery (`X-Hakanai-Signature`), separate from the bearer token
    /// so a receiver can verify bodies without holding the bearer secret as key. Prefer
    /// --webhook-signing-key-file.
    #[arg(long, env = "HAKANAI_WEBHOOK_SIGNING_KEY", hide_env_values = true)]
    pub webhook_signing_key: Option<Redacted>,

    /// File holding the webhook signing key (surrounding whitespace is ignored).
    #[arg(
        long,
        env = "HAKANAI_WEBHOOK_SIGNING_KEY_FILE",
        conflicts_with = "webhook_signing_key"
    )]
    pub webhook_signing_key_file: Option<PathBuf>,

    /// Events sent to the webhook (comma-separated): secret.created, secret.read,
    /// secret.revoked, secret.destroyed, token.created. Hakanai v3 sent the first two only.
    #[arg(
        long,
        env = "HAKANAI_WEBHOOK_EVENTS",
        value_delimiter = ',',
        default_value = "secret.created,secret.read,secret.revoked,secret.destroyed,token.created"
    )]
    pub webhook_events: Vec<String>,

    /// Request headers copied into webhook events (comma-separated; an empty value forwards
    /// none). Credentials are never forwarded.
    #[arg(
        long,
        env = "HAKANAI_WEBHOOK_HEADERS",
        value_delimiter = ',',
        default_value = DEFAULT_WEBHOOK_HEADERS
    )]
    pub webhook_headers: Vec<String>,

    /// Hakanai v3 took the forwarded headers as a positional argument; replaces --webhook-headers.
    #[arg(value_name = "WEBHOOK_HEADERS", value_delimiter = ',', hide = true)]
    pub webhook_headers_positional: Vec<String>,

    /// Timeout of one webhook delivery attempt.
    #[arg(long, env = "HAKANAI_WEBHOOK_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub webhook_timeout: Duration,

    /// Plain-text file shown, escaped, at /impressum (legal notice).
    #[arg(long, env = "HAKANAI_IMPRESSUM_FILE")]
    pub impressum_file: Option<PathBuf>,

    /// Plain-text file shown, escaped, at /privacy (privacy policy).
    #[arg(long, env = "HAKANAI_PRIVACY_FILE")]
    pub privacy_file: Option<PathBuf>,

    /// Send `Strict-Transport-Security: max-age=<this>` with every response (e.g. 365d), so
    /// browsers reach this host over HTTPS only. Only for a site served over HTTPS; off by
    /// default (a proxy in front may set the header instead).
    #[arg(long, env = "HAKANAI_HSTS_MAX_AGE", value_parser = parse_duration)]
    pub hsts_max_age: Option<Duration>,

    /// Directory whose files replace same-named static files (logo, CSS, icons) without a rebuild.
    #[arg(long, env = "HAKANAI_CUSTOM_ASSETS_DIR")]
    pub custom_assets_dir: Option<PathBuf>,
}

/// A credential from the command line or environment; `Debug` never shows it.
#[derive(Clone)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Redacted {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Redacted(s.to_owned()))
    }
}

impl Config {
    pub fn anonymous_size_limit(&self) -> u64 {
        self.anonymous_upload_size_limit
            .or(self.legacy_anonymous_size_limit)
            .unwrap_or(32 * 1024)
    }

    pub fn redis_op_timeout(&self) -> Duration {
        self.redis_timeout
            .or(self.redis_response_timeout)
            .unwrap_or(Duration::from_millis(1500))
    }

    /// The ranges allowed to reach the admin API.
    pub fn admin_ranges(&self) -> Vec<IpNet> {
        if self.trusted_ip_ranges.is_empty() {
            return loopback();
        }
        self.trusted_ip_ranges.clone()
    }

    /// Lifetime used when an upload does not name one.
    pub fn default_ttl(&self) -> Duration {
        self.max_ttl.min(Duration::from_secs(24 * 3600))
    }
}

fn loopback() -> Vec<IpNet> {
    vec![
        "127.0.0.0/8".parse().expect("valid"),
        "::1/128".parse().expect("valid"),
    ]
}

/// Binary units: `32k` is 32 KiB, `1.5m` is 1.5 MiB.
/// A size as for `parse_size`, or `0` (also `off`) for no budget.
pub fn parse_budget(s: &str) -> Result<u64, String> {
    match s.trim() {
        "0" | "off" | "none" => Ok(0),
        s => parse_size(s),
    }
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let n = parse_size::Config::new()
        .with_binary()
        .parse_size(s.trim())
        .map_err(|e| format!("invalid size {s:?}: {e}"))?;
    if n == 0 {
        return Err("size must be greater than zero".into());
    }
    Ok(n)
}

/// Humantime (`7d`, `90s`, `1h 30m`) or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err("duration must be greater than zero".into()),
        d => Ok(d),
    }
}

/// Bytes per second: a size (`1k`, `512`), optionally followed by `/s`; `0` is allowed.
fn parse_rate(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let s = s.strip_suffix("/s").unwrap_or(s);
    if s.trim() == "0" {
        return Ok(0);
    }
    parse_size(s)
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    parse_ip_or_net(s.trim()).ok_or_else(|| format!("invalid IP range {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32k").unwrap(), 32 * 1024);
        assert_eq!(parse_size("10m").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("1.5m").unwrap(), 1024 * 1024 * 3 / 2);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_budget("0").unwrap(), 0);
        assert_eq!(parse_budget("off").unwrap(), 0);
        assert_eq!(parse_budget("1g").unwrap(), 1 << 30);
        assert!(parse_budget("-1").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn defaults() {
        let c = Config::parse_from(["hakanai-server"]);
        assert_eq!(c.port, 8080);
        assert_eq!(c.upload_size_limit, 10 * 1024 * 1024);
        assert_eq!(c.anonymous_size_limit(), 32 * 1024);
        assert_eq!(c.max_passphrase_attempts, 5);
        assert_eq!(c.trusted_proxies.len(), 6);
        assert!(!c.allow_anonymous);
        assert!(c.metrics_listen_address.is_none());
        assert!(c.webhook_url.is_none());
        assert_eq!(c.webhook_timeout, Duration::from_secs(5));
        // Hakanai v3's defaults.
        assert_eq!(
            c.webhook_headers,
            [
                "user-agent",
                "x-forwarded-for",
                "x-forwarded-proto",
                "x-real-ip",
                "x-request-id"
            ]
        );
        assert_eq!(c.webhook_events.len(), 5);
        // Connection limits for a server exposed without a proxy.
        assert_eq!(c.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.body_idle_timeout, Duration::from_secs(30));
        assert_eq!(c.min_body_rate, 1024);
        assert_eq!(c.min_body_rate_grace, Duration::from_secs(10));
        assert_eq!(c.max_connections, 10_000);
        assert_eq!(c.upload_deadline, Duration::from_secs(3600));
        assert_eq!(c.max_open_uploads_per_token, 20);
        assert_eq!(c.max_open_uploads_per_address, 10);
        assert!(c.hsts_max_age.is_none());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("1k").unwrap(), 1024);
        assert_eq!(parse_rate("64k/s").unwrap(), 64 * 1024);
        assert_eq!(parse_rate("0").unwrap(), 0);
        assert!(parse_rate("fast").is_err());
        assert!(parse_positive_duration("0").is_err());
    }

    #[test]
    fn webhook_flags() {
        let c = Config::parse_from([
            "hakanai-server",
            "--webhook-url",
            "https://audit.example/e",
            "--webhook-token",
            "k3y",
            "--webhook-headers",
            "user-agent,x-request-id",
            "--metrics-listen-address",
            "127.0.0.1:9100",
        ]);
        assert_eq!(c.webhook_headers, ["user-agent", "x-request-id"]);
        assert_eq!(c.webhook_token.as_ref().unwrap().0, "k3y");
        assert_eq!(c.metrics_listen_address.unwrap().port(), 9100);
        // The key never shows in debug output.
        assert!(!format!("{c:?}").contains("k3y"));
        // Both key sources at once is a mistake, not a precedence question.
        assert!(Config::try_parse_from([
            "hakanai-server",
            "--webhook-token",
            "a",
            "--webhook-token-file",
            "/b"
        ])
        .is_err());
    }
}
