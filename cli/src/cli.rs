//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  other error (I/O, server error, too large)
  2  usage error (bad arguments, malformed link or key)
  3  secret not found, expired or already read
  4  not authorized: token, passphrase, access restriction
  5  network error: the server could not be reached, or the connection broke
  6  decryption failed: wrong key, damaged or truncated secret
  7  output file exists (use --force); the content was kept under another name

Environment:
  HAKANAI_SERVER        server URL (like --server)
  HAKANAI_TOKEN         user token for `send` (or --token-file)
  HAKANAI_ADMIN_TOKEN   admin token for `token` (otherwise prompted for)
  HAKANAI_LINK          the link for `get` when none is given (or give it on stdin)
  Hakanai v3's variables work too: HAKANAI_TTL, HAKANAI_ALLOWED_IPS, HAKANAI_ALLOWED_COUNTRIES,
  HAKANAI_ALLOWED_ASNS, HAKANAI_REQUIRE_PASSPHRASE, HAKANAI_QR_CODE (send), HAKANAI_TO_STDOUT,
  HAKANAI_OUTPUT_DIR (get), HAKANAI_TOKEN_TTL (token).";

/// Share one-time secrets: end-to-end encrypted, the key never leaves your machine.
#[derive(Debug, Parser)]
#[command(name = "hakanai", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Server URL.
    #[arg(
        short,
        long,
        global = true,
        env = "HAKANAI_SERVER",
        hide_env_values = true,
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,

    /// File holding the user token for uploads (otherwise HAKANAI_TOKEN).
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Encrypt a secret from stdin or files, upload it, print the link.
    #[command(after_help = EXIT_CODES)]
    Send(SendArgs),
    /// Fetch and decrypt a secret (it is destroyed on the server).
    #[command(after_help = EXIT_CODES)]
    Get(GetArgs),
    /// Create (default), list or revoke user tokens; needs the admin token.
    #[command(args_conflicts_with_subcommands = true, after_help = EXIT_CODES)]
    Token(TokenArgs),
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// File to send (repeatable; several files are sent as one bundle). Without it, the
    /// secret is read from stdin (text if it is UTF-8).
    #[arg(short, long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,

    /// Send stdin or a single file as a file even when it is text.
    #[arg(short = 'a', long)]
    pub as_file: bool,

    /// Name of the file sent (with --as-file, or for files); one --file's own name by default.
    #[arg(long, value_name = "NAME")]
    pub filename: Option<String>,

    /// Lifetime, e.g. `30m`, `12h`, `7d` (default: the server's, usually 24h).
    #[arg(long, env = "HAKANAI_TTL", value_parser = parse_duration)]
    pub ttl: Option<Duration>,

    /// Protect the secret with this passphrase (visible in the process list; prefer
    /// --ask-passphrase). --require-passphrase is the same flag.
    #[arg(
        short = 'p',
        long,
        visible_alias = "require-passphrase",
        env = "HAKANAI_REQUIRE_PASSPHRASE",
        hide_env_values = true,
        conflicts_with = "ask_passphrase"
    )]
    pub passphrase: Option<String>,

    /// Prompt for a passphrase on the terminal.
    #[arg(long)]
    pub ask_passphrase: bool,

    /// Print the key separately instead of in the link, to share through another channel.
    #[arg(long)]
    pub separate_key: bool,

    /// Allow reads only from these IP addresses or CIDR ranges (comma-separated, repeatable).
    #[arg(
        long = "allow-ip",
        value_name = "IP/CIDR",
        value_delimiter = ',',
        env = "HAKANAI_ALLOWED_IPS"
    )]
    pub allow_ips: Vec<String>,

    /// Allow reads only from these countries, ISO 3166 codes such as `DE` (comma-separated,
    /// repeatable).
    #[arg(
        long = "allow-country",
        value_name = "CC",
        value_delimiter = ',',
        env = "HAKANAI_ALLOWED_COUNTRIES"
    )]
    pub allow_countries: Vec<String>,

    /// Allow reads only from these autonomous system numbers (comma-separated, repeatable).
    #[arg(
        long = "allow-asn",
        value_name = "ASN",
        value_delimiter = ',',
        env = "HAKANAI_ALLOWED_ASNS"
    )]
    pub allow_asns: Vec<u32>,

    /// Also print the link as a QR code (--qr is the same flag).
    #[arg(
        short = 'q',
        long = "qr-code",
        visible_alias = "qr",
        env = "HAKANAI_QR_CODE",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new()
    )]
    pub qr: bool,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The link, e.g. `https://host/s/ID#KEY`. Without it: HAKANAI_LINK, else stdin (when not a
    /// terminal); `-` reads stdin. Both keep the key out of the process list and shell history.
    #[arg(env = "HAKANAI_LINK", hide_env_values = true)]
    pub url: Option<String>,

    /// The key, for links shared without it (`--separate-key`); Hakanai v3's `key:hash` too.
    // Keys are base64url, so one in 64 starts with '-': a value, not a flag.
    #[arg(short, long, conflicts_with = "ask_key", allow_hyphen_values = true)]
    pub key: Option<String>,

    /// Prompt for the key on the terminal when the link has none.
    #[arg(long)]
    pub ask_key: bool,

    /// The passphrase (visible in the process list; prefer --ask-passphrase).
    #[arg(short, long, conflicts_with = "ask_passphrase")]
    pub passphrase: Option<String>,

    /// Prompt for the passphrase on the terminal.
    #[arg(long)]
    pub ask_passphrase: bool,

    /// Directory for files (default: the current directory; text goes to stdout unless this
    /// is given).
    #[arg(short, long, value_name = "DIR", env = "HAKANAI_OUTPUT_DIR")]
    pub output_dir: Option<PathBuf>,

    /// Save under this name instead of the one in the secret (text too).
    #[arg(short = 'f', long, value_name = "NAME", conflicts_with = "to_stdout")]
    pub filename: Option<String>,

    /// Unpack an archive secret into the output directory: our bundles always are; with this
    /// flag a ZIP (how Hakanai v3 sends several files) is too.
    #[arg(short = 'e', long, conflicts_with = "to_stdout")]
    pub extract: bool,

    /// Write file content to stdout instead of saving it (a bundle as a tar archive).
    #[arg(long, env = "HAKANAI_TO_STDOUT", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub to_stdout: bool,

    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: Option<TokenCommand>,

    #[command(flatten)]
    pub create: TokenCreateArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a user token (the default): printed once on stdout.
    Create(TokenCreateArgs),
    /// List user tokens (ids and limits, never the tokens).
    List,
    /// Revoke a user token by its id (from `token list`).
    Revoke {
        /// The token id.
        // Ids are base64url, so some start with '-': they are values, not flags.
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
}

#[derive(Debug, Args, Default)]
pub struct TokenCreateArgs {
    /// Upload size limit, e.g. `5m`, `512k` (default and ceiling: the server's).
    #[arg(short, long, value_name = "SIZE")]
    pub limit: Option<String>,

    /// Lifetime of the token, e.g. `7d`, or `never`.
    #[arg(long, env = "HAKANAI_TOKEN_TTL", default_value = "30d", value_parser = parse_token_ttl)]
    pub ttl: TokenTtl,

    /// The token can create exactly one secret.
    #[arg(long)]
    pub one_time: bool,
}

/// A token's lifetime: Hakanai v3's default is 30 days; `never` keeps it until revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTtl(pub Option<Duration>);

impl Default for TokenTtl {
    fn default() -> Self {
        TokenTtl(Some(Duration::from_secs(30 * 86400)))
    }
}

fn parse_token_ttl(s: &str) -> Result<TokenTtl, String> {
    if s.trim().eq_ignore_ascii_case("never") {
        return Ok(TokenTtl(None));
    }
    parse_duration(s).map(|d| TokenTtl(Some(d)))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d =
        humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (examples: 30m, 12h, 7d)"))?;
    if d.as_secs() == 0 {
        return Err("must be at least one second".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn token_ids_starting_with_a_hyphen_are_ids() {
        let cli = Cli::try_parse_from(["hakanai", "token", "revoke", "-R2x_abc"]).unwrap();
        let Command::Token(TokenArgs {
            command: Some(TokenCommand::Revoke { id }),
            ..
        }) = cli.command
        else {
            panic!("not parsed as token revoke");
        };
        assert_eq!(id, "-R2x_abc");
    }

    #[test]
    fn keys_starting_with_a_hyphen_are_keys() {
        let key = "-Abcdefghijklmnopqrstuvwxyz0123456789_-ABCD";
        let cli = Cli::try_parse_from(["hakanai", "get", "https://h/s/x", "--key", key]).unwrap();
        let Command::Get(args) = cli.command else {
            panic!("not parsed as get");
        };
        assert_eq!(args.key.as_deref(), Some(key));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
