//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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
  HAKANAI_ADMIN_TOKEN   admin token for `token` (otherwise prompted for)";

/// Share one-time secrets: end-to-end encrypted, the key never leaves your machine.
#[derive(Debug, Parser)]
#[command(name = "hakanai", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Server URL.
    #[arg(
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

    /// Lifetime, e.g. `30m`, `12h`, `7d` (default: the server's, usually 24h).
    #[arg(long, value_parser = parse_duration)]
    pub ttl: Option<Duration>,

    /// Protect the secret with this passphrase (visible in the process list; prefer
    /// --ask-passphrase).
    #[arg(long, conflicts_with = "ask_passphrase")]
    pub passphrase: Option<String>,

    /// Prompt for a passphrase on the terminal.
    #[arg(long)]
    pub ask_passphrase: bool,

    /// Print the key separately instead of in the link, to share through another channel.
    #[arg(long)]
    pub separate_key: bool,

    /// Allow reads only from this IP address or CIDR range (repeatable).
    #[arg(long = "allow-ip", value_name = "IP/CIDR")]
    pub allow_ips: Vec<String>,

    /// Allow reads only from this country, ISO 3166 code such as `DE` (repeatable).
    #[arg(long = "allow-country", value_name = "CC")]
    pub allow_countries: Vec<String>,

    /// Allow reads only from this autonomous system number (repeatable).
    #[arg(long = "allow-asn", value_name = "ASN")]
    pub allow_asns: Vec<u32>,

    /// Also print the link as a QR code.
    #[arg(long)]
    pub qr: bool,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The link, e.g. `https://host/s/ID#KEY`.
    pub url: String,

    /// The key, for links shared without it (`--separate-key`).
    #[arg(long)]
    pub key: Option<String>,

    /// The passphrase (visible in the process list; prefer --ask-passphrase).
    #[arg(long, conflicts_with = "ask_passphrase")]
    pub passphrase: Option<String>,

    /// Prompt for the passphrase on the terminal.
    #[arg(long)]
    pub ask_passphrase: bool,

    /// Directory for files (default: the current directory; text goes to stdout unless this
    /// is given).
    #[arg(short, long, value_name = "DIR", conflicts_with = "to_stdout")]
    pub output_dir: Option<PathBuf>,

    /// Write file content to stdout instead of saving it (a bundle as a tar archive).
    #[arg(long)]
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
    #[arg(long, value_name = "SIZE")]
    pub limit: Option<String>,

    /// Lifetime of the token, e.g. `7d` (default: no expiry).
    #[arg(long, value_parser = parse_duration)]
    pub ttl: Option<Duration>,

    /// The token can create exactly one secret.
    #[arg(long)]
    pub one_time: bool,
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
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
