//! The CLI's one error type: every failure has a message, an optional hint line and an exit code.

use std::path::PathBuf;

use thiserror::Error;

/// Process exit codes, documented in `--help` and `cli/README.md`.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Any other failure (I/O, server error, upload too large, …).
    pub const OTHER: u8 = 1;
    /// Usage error: bad arguments, malformed link or key.
    pub const USAGE: u8 = 2;
    /// The secret does not exist, has expired or was already read.
    pub const NOT_FOUND: u8 = 3;
    /// Authentication or authorization: token, passphrase, access restriction.
    pub const AUTH: u8 = 4;
    /// The server could not be reached.
    pub const NETWORK: u8 = 5;
    /// Decryption failed: wrong key, or a damaged or truncated secret.
    pub const DECRYPT: u8 = 6;
    /// A file exists and `--force` was not given.
    pub const EXISTS: u8 = 7;
}

/// An error response of the Hakanai API (`{"error", "details"}` plus the status).
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The machine-readable `error` field, if the body had one.
    pub code: String,
    /// The human-readable `details` field.
    pub details: String,
    /// `X-Passphrase-Attempts-Remaining`, when present.
    pub attempts_remaining: Option<u32>,
}

/// Everything that can go wrong in the CLI.
#[derive(Debug, Error)]
pub enum CliError {
    /// Bad arguments detected after parsing.
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// A crypto-core failure: link, key, passphrase or envelope.
    #[error("{0}")]
    Crypto(#[from] crypto_core::Error),
    /// The server answered with an error status.
    #[error("{}", api_message(.0))]
    Api(ApiError),
    /// The server could not be reached or the connection broke.
    #[error("could not reach the server at {url}: {}", root_cause(.source))]
    Network {
        /// The URL requested (never containing a key).
        url: String,
        /// The underlying error.
        source: reqwest::Error,
    },
    /// The server redirected to another origin, which the CLI does not follow.
    #[error(
        "{0}, another origin; not followed, so the passphrase verifier and tokens stay with the \
         server you named"
    )]
    Redirect(crate::client::CrossOriginRedirect),
    /// The connection broke while the secret was being downloaded.
    #[error("the download broke off: {0}")]
    Download(std::io::Error),
    /// A local file or terminal operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The server's answer was not what the API promises.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The output file exists and `--force` was not given; the data was kept elsewhere.
    #[error("refusing to overwrite {}", path.display())]
    Exists {
        /// The file that exists.
        path: PathBuf,
        /// Where the secret's content was kept instead.
        kept: PathBuf,
    },
}

/// The innermost cause ("Connection refused"), which says more than reqwest's own message.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn api_message(e: &ApiError) -> String {
    match (e.status, e.code.as_str()) {
        (401, "passphrase_required") => match e.attempts_remaining {
            Some(0) => "wrong passphrase; the secret has been destroyed".into(),
            _ if e.details.contains("requires") => "this secret requires a passphrase".into(),
            Some(n) => format!(
                "wrong passphrase ({n} attempt{} left before the secret is destroyed)",
                if n == 1 { "" } else { "s" }
            ),
            None => "wrong passphrase".into(),
        },
        (404, _) => format!("not found: {}", e.details),
        (410, _) => format!("gone: {}", e.details),
        (403, "invalid_token") => format!("not authorized: {}", e.details),
        (403, _) => format!("access denied: {}", e.details),
        (401, _) => format!("not authorized: {}", e.details),
        (413, _) => format!("too large: {}", e.details),
        (status, _) if e.details.is_empty() => format!("the server answered {status}"),
        (status, _) => format!("the server answered {status}: {}", e.details),
    }
}

impl CliError {
    /// A usage error with a hint.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError::Usage {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        CliError::Io {
            context: context.into(),
            source,
        }
    }

    /// The process exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        use crypto_core::Error as C;
        match self {
            CliError::Usage { .. } => exit::USAGE,
            CliError::Crypto(e) => match e {
                C::EmptyLink
                | C::MissingKey
                | C::MissingId
                | C::InvalidId
                | C::KeyLength { .. }
                | C::KeyCharset { .. }
                | C::KeyEncoding
                | C::LegacyHashFormat
                | C::EmptyPassphrase => exit::USAGE,
                C::PassphraseRequired | C::PassphraseNotExpected => exit::AUTH,
                C::Random | C::Backend(_) => exit::OTHER,
                _ => exit::DECRYPT,
            },
            CliError::Api(e) => match e.status {
                404 | 410 => exit::NOT_FOUND,
                401 | 403 => exit::AUTH,
                _ => exit::OTHER,
            },
            CliError::Network { .. } | CliError::Download(_) => exit::NETWORK,
            CliError::Redirect(_) => exit::OTHER,
            CliError::Io { .. } | CliError::Protocol(_) => exit::OTHER,
            CliError::Exists { .. } => exit::EXISTS,
        }
    }

    /// A line telling the user what to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        use crypto_core::Error as C;
        match self {
            CliError::Usage { hint, .. } => hint.clone(),
            CliError::Crypto(e) => match e {
                C::MissingKey => Some("pass the separately shared key with --key".into()),
                C::KeyLength { .. }
                | C::KeyCharset { .. }
                | C::KeyEncoding
                | C::LegacyHashFormat => {
                    Some("copy the whole link, including everything after '#'".into())
                }
                C::PassphraseRequired => {
                    Some("give the passphrase with --passphrase or --ask-passphrase".into())
                }
                C::PassphraseNotExpected => {
                    Some("this secret has no passphrase; omit --passphrase".into())
                }
                C::HeaderAuthentication | C::LegacyAuthentication | C::LegacyHashMismatch => {
                    Some("check the key; the secret has been consumed on the server".into())
                }
                // The header is only seen once the server has released (and so consumed) it.
                C::Argon2ParamsRefused { .. } => Some(
                    "nothing was run or saved; the secret is consumed on the server — ask the \
                     sender to send it again with hakanai or the web page"
                        .into(),
                ),
                C::SegmentAuthentication { .. } | C::Truncated | C::TrailingData => {
                    Some("the data was damaged in transit or storage; nothing was saved".into())
                }
                _ => None,
            },
            CliError::Api(e) => match (e.status, e.code.as_str()) {
                (401, "passphrase_required") if e.attempts_remaining == Some(0) => None,
                (401, "passphrase_required") => {
                    Some("give the passphrase with --passphrase or --ask-passphrase".into())
                }
                (401, _) => Some(
                    "give a user token with --token-file or HAKANAI_TOKEN (admin commands: \
                     HAKANAI_ADMIN_TOKEN)"
                        .into(),
                ),
                (403, "invalid_token") => {
                    Some("the token is unknown, expired or already used; ask for a new one".into())
                }
                (403, _) => Some(
                    "the sender restricted who may read this secret, or your address may not \
                     use this API"
                        .into(),
                ),
                (404, "not_found") if e.details.contains("admin") => {
                    Some("start the server with --enable-admin-token".into())
                }
                // The server cannot tell an unknown id from a key that does not match it (the
                // read token comes from the key): nothing was consumed either way.
                (404, _) if e.details.contains("secret") => Some(
                    "check that the link (and its key) is complete and exact; secrets can be \
                     read once, so otherwise ask the sender for a new link"
                        .into(),
                ),
                (410, _) if e.details.contains("secret") => {
                    Some("secrets can be read once; ask the sender for a new link".into())
                }
                (413, _) => Some("ask the server operator for a token with a higher limit".into()),
                (429, "too_many_requests") if e.details.contains("stored bytes") => Some(
                    "your token or address holds as many stored bytes as it may; retry once \
                     one of your secrets is read or expires"
                        .into(),
                ),
                (507, _) => Some(
                    "the server stores as much as it may; retry later, once secrets are read \
                     or expire"
                        .into(),
                ),
                (501, _) => Some("the server is not configured for this restriction".into()),
                _ => None,
            },
            CliError::Network { .. } => {
                Some("check --server / HAKANAI_SERVER and your network connection".into())
            }
            CliError::Redirect(r) => Some(format!(
                "if {} is the right server, use it instead (in --server / HAKANAI_SERVER, or \
                 in the link); nothing was read or sent there",
                r.to
            )),
            CliError::Download(_) => Some(
                "nothing was saved, and the secret is consumed on the server; ask the sender to \
                 send it again"
                    .into(),
            ),
            CliError::Exists { kept, .. } => Some(format!(
                "the secret (already consumed on the server) was saved as {}; use --force to \
                 overwrite",
                kept.display()
            )),
            CliError::Io { .. } | CliError::Protocol(_) => None,
        }
    }
}
