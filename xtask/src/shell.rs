//! Running commands: every command is echoed as `$ cmd args` before it runs, and any
//! failure (cannot start, non-zero exit) becomes an [`Error`] naming the command.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A failed task, with a message for the user (no trailing period).
#[derive(Debug)]
pub struct Error(String);

impl Error {
    pub fn new(msg: impl Into<String>) -> Error {
        Error(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The workspace root: the parent of `xtask/`.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in a subdirectory of the workspace")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `<root>/target`.
/// Builds the debug `hakanai-server` and `hakanai` that the schemathesis, lint and image tasks
/// run, when one of them runs on its own. Inside `cargo xtask test` those steps use the
/// binaries `test native` already built: a second `cargo build` there would resolve features
/// without the dev-dependencies and recompile some twenty crates.
pub fn build_debug_binaries() -> Result<()> {
    Cmd::cargo()
        .args(["build", "-p", "hakanai-server", "-p", "hakanai-cli"])
        .run()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Running processes (Linux `/proc`): each pid with its `/proc/<pid>` directory.
pub fn pids() -> impl Iterator<Item = (u32, PathBuf)> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((pid, entry.path()))
        })
}

/// Fails unless `args` only contains flags from `allowed`; returns the flags given.
pub fn flags<'a>(task: &str, args: &'a [String], allowed: &[&str]) -> Result<Vec<&'a str>> {
    let mut given = Vec::new();
    for arg in args {
        if !allowed.contains(&arg.as_str()) {
            let expected = if allowed.is_empty() {
                "it takes no options".to_string()
            } else {
                format!("expected one of: {}", allowed.join(", "))
            };
            return Err(Error::new(format!(
                "unknown option `{arg}` for `cargo xtask {task}` ({expected})"
            )));
        }
        given.push(arg.as_str());
    }
    Ok(given)
}

fn verbose() -> bool {
    std::env::var_os("XTASK_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0")
}

/// `PATH` with `<root>/node_modules/.bin` first, so npm-installed tools (wasm-opt from
/// `binaryen`) are found by us and by the tools we start (wasm-pack).
fn path_with_node_bin() -> OsString {
    let node_bin = root().join("node_modules").join(".bin");
    let old = std::env::var_os("PATH").unwrap_or_default();
    let paths = std::iter::once(node_bin).chain(std::env::split_paths(&old));
    std::env::join_paths(paths).unwrap_or(old)
}

/// A command to run from the workspace root; built like `std::process::Command`.
pub struct Cmd {
    cmd: Command,
    shown: String,
    shown_env: String,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Cmd {
        let program = program.as_ref();
        let mut cmd = Command::new(program);
        cmd.current_dir(root()).env("PATH", path_with_node_bin());
        Cmd {
            cmd,
            shown: quote(program),
            shown_env: String::new(),
        }
    }

    /// `$CARGO` (the cargo that runs xtask), else `cargo`. It is the toolchain's own
    /// binary, not the rustup proxy: use [`Cmd::rustup_cargo`] for `cargo +nightly`.
    pub fn cargo() -> Cmd {
        let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Cmd::new(program);
        cmd.shown = "cargo".to_string();
        cmd
    }

    /// The rustup proxy `cargo` from `PATH`, which understands `+toolchain`.
    pub fn rustup_cargo(toolchain: &str) -> Cmd {
        Cmd::new("cargo").arg(format!("+{toolchain}"))
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.shown.push(' ');
        self.shown.push_str(&quote(arg.as_ref()));
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self = self.arg(arg);
        }
        self
    }

    /// Runs somewhere other than the workspace root (for tools that leave state in `.`).
    pub fn current_dir(mut self, dir: impl AsRef<std::path::Path>) -> Cmd {
        self.cmd.current_dir(dir);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Cmd {
        self.shown_env
            .push_str(&format!("{key}={} ", quote(value.as_ref())));
        self.cmd.env(key, value);
        self
    }

    /// The command as echoed, without the `$ ` prefix.
    pub fn display(&self) -> String {
        format!("{}{}", self.shown_env, self.shown)
    }

    /// Runs with inherited stdio; fails on a non-zero exit.
    pub fn run(mut self) -> Result<()> {
        self.echo();
        let status = self.cmd.status().map_err(|e| self.spawn_error(e))?;
        if !status.success() {
            return Err(self.exit_error(status));
        }
        Ok(())
    }

    /// Runs with stdout captured as text (stderr inherited); fails on a non-zero exit.
    pub fn read(self) -> Result<String> {
        let shown = self.display();
        let stdout = self.read_bytes()?;
        String::from_utf8(stdout)
            .map_err(|_| Error::new(format!("`{shown}` printed non-UTF-8 output")))
    }

    /// Runs with stdout captured (stderr inherited); fails on a non-zero exit.
    pub fn read_bytes(mut self) -> Result<Vec<u8>> {
        self.echo();
        let output = self
            .cmd
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| self.spawn_error(e))?;
        if !output.status.success() {
            return Err(self.exit_error(output.status));
        }
        Ok(output.stdout)
    }

    /// Runs quietly to ask a question ("is it installed? which version?"): stdout if
    /// it exits 0, `None` if it cannot start or fails. Echoed only with XTASK_VERBOSE.
    pub fn probe(mut self) -> Option<String> {
        if verbose() {
            println!("$ {}   (probe)", self.display());
        }
        let output = self.cmd.stdin(Stdio::null()).output().ok()?;
        if !output.status.success() {
            return None;
        }
        Some(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn echo(&self) {
        println!("$ {}", self.display());
    }

    fn spawn_error(&self, err: std::io::Error) -> Error {
        let hint = if err.kind() == std::io::ErrorKind::NotFound {
            " (not installed? try `cargo xtask setup`)"
        } else {
            ""
        };
        Error::new(format!("could not start `{}`: {err}{hint}", self.display()))
    }

    fn exit_error(&self, status: std::process::ExitStatus) -> Error {
        Error::new(format!("`{}` failed ({status})", self.display()))
    }
}

/// Quotes an argument for display if it contains characters a shell would split on.
fn quote(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=+./:,@%^".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Human-readable byte count: `123 B`, `45.6 KiB`, `7.89 MiB`.
pub fn human_bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.2} MiB", n as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote(OsStr::new("-D")), "-D");
        assert_eq!(quote(OsStr::new("--version")), "--version");
        assert_eq!(quote(OsStr::new("=0.2.126")), "=0.2.126");
        assert_eq!(quote(OsStr::new("a b")), "'a b'");
        assert_eq!(quote(OsStr::new("it's")), r"'it'\''s'");
        assert_eq!(quote(OsStr::new("")), "''");
    }

    #[test]
    fn echoes_env_and_args() {
        let cmd = Cmd::new("wasm-pack")
            .env("A", "1")
            .args(["build", "web-wasm"]);
        assert_eq!(cmd.display(), "A=1 wasm-pack build web-wasm");
    }

    #[test]
    fn rejects_unknown_flags() {
        let args = vec!["--fast".to_string()];
        assert_eq!(flags("test", &args, &["--fast"]).unwrap(), ["--fast"]);
        let err = flags("wasm", &args, &[]).unwrap_err().to_string();
        assert!(err.contains("unknown option `--fast`"), "{err}");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(35 * 1024), "35.0 KiB");
        assert_eq!(human_bytes(3 * 1_048_576), "3.00 MiB");
    }
}
