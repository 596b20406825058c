//! Where bootstrap tokens go (the first start's admin and user tokens, `--reset-admin-token`,
//! `--reset-user-tokens`). Never the log stream: journald and container runtimes keep stderr,
//! so a token printed there would outlive its "shown once". It goes to the terminal when a
//! person is watching, otherwise to a 0600 file (`--token-file`, else a default path).
//!
//! File format (appended, one token per line): `admin <token>` or `user <token>`.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The default file's name, inside `$STATE_DIRECTORY` (systemd's `StateDirectory=`) or else
/// the working directory.
pub const DEFAULT_TOKEN_FILE: &str = "hakanai-tokens";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Admin,
    User,
}

impl TokenKind {
    /// The first word of the token file's line.
    pub fn label(self) -> &'static str {
        match self {
            TokenKind::Admin => "admin",
            TokenKind::User => "user",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenDestination {
    /// Printed on stderr, which is a terminal: a person reads it there and then.
    Terminal,
    /// Appended to this file, created 0600.
    File(PathBuf),
    /// Only returned to the caller (`Application::new_tokens`), for programs and tests that
    /// embed the server.
    Returned,
}

impl TokenDestination {
    /// `--token-file` if given; else the terminal if stderr is one; else the default file.
    pub fn choose(token_file: Option<&Path>) -> TokenDestination {
        if let Some(path) = token_file {
            return TokenDestination::File(path.to_owned());
        }
        if std::io::stderr().is_terminal() {
            return TokenDestination::Terminal;
        }
        TokenDestination::File(default_token_file(
            std::env::var_os("STATE_DIRECTORY").as_deref(),
        ))
    }

    /// For the log line that says where a token went (never the token itself).
    pub fn describe(&self) -> String {
        match self {
            TokenDestination::Terminal => "the terminal (stderr)".into(),
            TokenDestination::File(p) => p.display().to_string(),
            TokenDestination::Returned => "the embedding program".into(),
        }
    }

    /// Opens the file once without writing, so that a reset can fail before it deletes
    /// anything (the file is created empty if missing).
    pub fn check(&self) -> std::io::Result<()> {
        match self {
            TokenDestination::File(p) => open_private(p).map(drop),
            _ => Ok(()),
        }
    }

    /// Hands one token over. Only after `Ok` may the token be stored (or kept).
    pub fn deliver(&self, kind: TokenKind, token: &str) -> std::io::Result<()> {
        match self {
            TokenDestination::Terminal => {
                let name = match kind {
                    TokenKind::Admin => "Admin",
                    TokenKind::User => "User",
                };
                // One write: stderr is unbuffered, and `writeln!` would write each piece on
                // its own, so a log line written meanwhile could land inside the token's line.
                let line = format!("{name} token (shown once, store it now): {token}\n");
                std::io::stderr().write_all(line.as_bytes())
            }
            TokenDestination::File(p) => {
                let mut f = open_private(p)?;
                writeln!(f, "{} {token}", kind.label())?;
                // A token the operator cannot find after a crash is one nobody can use.
                f.sync_all()
            }
            TokenDestination::Returned => Ok(()),
        }
    }
}

/// `$STATE_DIRECTORY/hakanai-tokens` (the first directory when systemd lists several), else
/// `hakanai-tokens` in the working directory.
pub fn default_token_file(state_directory: Option<&std::ffi::OsStr>) -> PathBuf {
    let dir = state_directory
        .and_then(|d| d.to_str())
        .and_then(|d| d.split(':').next())
        .filter(|d| !d.is_empty());
    match dir {
        Some(d) => Path::new(d).join(DEFAULT_TOKEN_FILE),
        None => PathBuf::from(DEFAULT_TOKEN_FILE),
    }
}

/// Opens for appending, creating with mode 0600. An existing file that group or others may
/// read is refused rather than fixed: whatever it already holds may have been read, and the
/// operator should decide (chmod 600, or another path).
fn open_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("mode {mode:03o} lets others read it; chmod 600 it or choose another path"),
            ));
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_prefers_the_state_directory() {
        assert_eq!(
            default_token_file(Some("/var/lib/hakanai".as_ref())),
            Path::new("/var/lib/hakanai/hakanai-tokens")
        );
        assert_eq!(
            default_token_file(Some("/var/lib/a:/var/lib/b".as_ref())),
            Path::new("/var/lib/a/hakanai-tokens")
        );
        assert_eq!(default_token_file(None), Path::new("hakanai-tokens"));
        assert_eq!(
            default_token_file(Some("".as_ref())),
            Path::new("hakanai-tokens")
        );
    }

    #[cfg(unix)]
    #[test]
    fn file_is_private_appended_and_refused_when_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hakanai-token-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens");
        let _ = std::fs::remove_file(&path);
        let dest = TokenDestination::File(path.clone());
        dest.deliver(TokenKind::Admin, "a1").unwrap();
        dest.deliver(TokenKind::User, "u1").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "admin a1\nuser u1\n"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = dest.deliver(TokenKind::User, "u2").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "admin a1\nuser u1\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
