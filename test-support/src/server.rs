//! The `hakanai-server` binary as a child process: `--port 0`, the port read from the
//! structured `"listening"` line of its JSON log, its tokens from `--token-file`.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::http::get_status;
use crate::ports::TempDir;

/// How long a start may take: a debug build on two busy cores, waiting for its store.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the server's stdout (its JSON log) goes.
#[derive(Clone)]
enum LogTo {
    Discard,
    File(PathBuf),
    Capture,
}

/// Which `--token-file` the server gets.
#[derive(Clone)]
enum TokenFile {
    /// One in the start's private directory.
    Private,
    /// The caller's.
    At(PathBuf),
    /// None: the server's own choice (the terminal, `$STATE_DIRECTORY` or `./hakanai-tokens`).
    ServersDefault,
}

/// How to start a [`HakanaiServer`]; see [`HakanaiServer::builder`].
#[derive(Clone)]
pub struct ServerBuilder {
    bin: PathBuf,
    port_args: Vec<OsString>,
    token_file: TokenFile,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    rust_log: String,
    log: LogTo,
    stderr_file: Option<PathBuf>,
    dir: Option<PathBuf>,
    ready_paths: Vec<String>,
}

impl ServerBuilder {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// An environment variable; the server starts with an otherwise empty environment.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// How port 0 and the loopback address are given, instead of `--port 0 --listen-address
    /// 127.0.0.1`: to start it with another spelling (`-p 0 -l 127.0.0.1`, or none here and
    /// `HAKANAI_PORT=0` in [`Self::env`]). It must still ask for port 0: the port is learned
    /// from the `"listening"` line.
    pub fn port_args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.port_args = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// `--token-file PATH` (the caller's file) instead of one in a private directory; the
    /// tokens of this start are still read from it.
    pub fn token_file(mut self, path: &Path) -> Self {
        self.token_file = TokenFile::At(path.to_owned());
        self
    }

    /// No `--token-file`: the server writes new tokens where it would in production (the
    /// terminal, `$STATE_DIRECTORY/hakanai-tokens` or `./hakanai-tokens`), and
    /// [`HakanaiServer::admin_token`] and [`HakanaiServer::user_token`] are not read.
    pub fn servers_token_file(mut self) -> Self {
        self.token_file = TokenFile::ServersDefault;
        self
    }

    /// `--redis-dsn DSN` (the default is the embedded store).
    pub fn redis(self, dsn: &str) -> Self {
        self.args(["--redis-dsn", dsn])
    }

    /// `--enable-admin-token`: the first start also makes an admin token.
    pub fn admin_token(self) -> Self {
        self.arg("--enable-admin-token")
    }

    /// `--allow-anonymous`: no default user token is made.
    pub fn anonymous(self) -> Self {
        self.arg("--allow-anonymous")
    }

    /// `RUST_LOG` (default `info`). Below info (`warn`, `error`, `off`) the `hakanai_server`
    /// target stays at info, which logs the startup lines only, so the `"listening"` line that
    /// names the port is still written.
    pub fn rust_log(mut self, filter: &str) -> Self {
        self.rust_log = filter.to_owned();
        self
    }

    /// The JSON log (stdout) to `path`. Default: discarded.
    pub fn log_file(mut self, path: &Path) -> Self {
        self.log = LogTo::File(path.to_owned());
        self
    }

    /// The JSON log (stdout) kept in memory, returned by [`HakanaiServer::stop`] and
    /// [`HakanaiServer::log`].
    pub fn capture_log(mut self) -> Self {
        self.log = LogTo::Capture;
        self
    }

    /// stderr also to `path` (it is always kept in memory: [`HakanaiServer::stderr`], and the
    /// error of a failed start).
    pub fn stderr_file(mut self, path: &Path) -> Self {
        self.stderr_file = Some(path.to_owned());
        self
    }

    /// The working directory (default: a private empty one, so no page or token file is found
    /// there by accident).
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_owned());
        self
    }

    /// Started means these answer 200 (default `/ready`).
    pub fn ready_paths(mut self, paths: &[&str]) -> Self {
        self.ready_paths = paths.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// Starts the server; panics when it does not come up.
    pub fn start(self) -> HakanaiServer {
        self.try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the server and waits until its port is known, its tokens are read and the ready
    /// paths answer 200.
    pub fn try_start(self) -> Result<HakanaiServer, String> {
        let work = TempDir::new("server");
        let token_file = match &self.token_file {
            TokenFile::Private => Some(work.path().join("tokens")),
            TokenFile::At(path) => Some(path.clone()),
            TokenFile::ServersDefault => None,
        };
        let mut cmd = Command::new(&self.bin);
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", log_filter(&self.rust_log))
            .current_dir(self.dir.as_deref().unwrap_or(work.path()))
            .args(&self.port_args);
        if let Some(path) = &token_file {
            cmd.arg("--token-file").arg(path);
        }
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;

        let captured = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        let sink: Box<dyn Write + Send> = match &self.log {
            LogTo::Discard => Box::new(std::io::sink()),
            LogTo::File(p) => {
                Box::new(File::create(p).map_err(|e| format!("{}: {e}", p.display()))?)
            }
            LogTo::Capture => Box::new(Shared(captured.clone())),
        };
        let stdout_thread = std::thread::spawn(move || forward_log(stdout, sink, port_tx));
        let stderr_text = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped");
        let stderr_sink: Box<dyn Write + Send> = match &self.stderr_file {
            Some(p) => Box::new(File::create(p).map_err(|e| format!("{}: {e}", p.display()))?),
            None => Box::new(std::io::sink()),
        };
        let stderr_thread = {
            let text = stderr_text.clone();
            std::thread::spawn(move || tee(stderr, Shared(text), stderr_sink))
        };
        let mut server = HakanaiServer {
            child: Some(child),
            port: 0,
            admin_token: None,
            user_token: None,
            token_file,
            captured,
            stderr: stderr_text.clone(),
            threads: vec![stdout_thread, stderr_thread],
            _work: work,
        };
        let failed = |server: &mut HakanaiServer, what: String| {
            server.kill();
            let err = String::from_utf8_lossy(&stderr_text.lock().unwrap()).into_owned();
            format!("hakanai-server {what}; stderr: {}", err.trim())
        };

        let deadline = Instant::now() + START_TIMEOUT;
        server.port = loop {
            match port_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(port) => break port,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stdout closed without a "listening" line: wait for the exit status.
                    let status = server.child.as_mut().and_then(|c| c.wait().ok());
                    let status = status.map_or("?".to_owned(), |s| s.to_string());
                    return Err(failed(
                        &mut server,
                        format!("exited ({status}) before listening"),
                    ));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Some(Ok(Some(status))) = server.child.as_mut().map(Child::try_wait) {
                return Err(failed(
                    &mut server,
                    format!("exited ({status}) before listening"),
                ));
            }
            if Instant::now() > deadline {
                return Err(failed(
                    &mut server,
                    format!("logged no \"listening\" line within {START_TIMEOUT:?}"),
                ));
            }
        };
        // The tokens are written while the application is built, before it listens.
        let tokens = server.token_file.as_deref().map(read_token_file);
        for (kind, token) in tokens.unwrap_or_default() {
            match kind.as_str() {
                "admin" => server.admin_token = Some(token),
                "user" => server.user_token = Some(token),
                _ => {}
            }
        }
        for path in &self.ready_paths {
            while get_status(server.port, path) != Some(200) {
                if let Some(Ok(Some(status))) = server.child.as_mut().map(Child::try_wait) {
                    return Err(failed(&mut server, format!("exited ({status})")));
                }
                if Instant::now() > deadline {
                    let port = server.port;
                    return Err(failed(
                        &mut server,
                        format!("on port {port}: {path} did not answer 200"),
                    ));
                }
                std::thread::sleep(Duration::from_millis(30));
            }
        }
        Ok(server)
    }
}

/// `filter`, plus `hakanai_server=info` when its default level would hide the "listening" line.
fn log_filter(filter: &str) -> String {
    let quiet = filter
        .split(',')
        .any(|d| matches!(d.trim(), "off" | "error" | "warn"));
    if quiet && !filter.contains("hakanai_server") {
        format!("{filter},hakanai_server=info")
    } else {
        filter.to_owned()
    }
}

/// `(kind, token)` lines of a token file, oldest first.
fn read_token_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, t)| (k.to_owned(), t.trim().to_owned()))
        .collect()
}

/// The port of a `"listening"` JSON log line (`"address":"127.0.0.1:PORT"`).
fn listening_port(line: &str) -> Option<u16> {
    if !line.contains(r#""message":"listening""#) {
        return None;
    }
    let rest = &line[line.find(r#""address":""#)? + r#""address":""#.len()..];
    let addr: std::net::SocketAddr = rest[..rest.find('"')?].parse().ok()?;
    Some(addr.port())
}

/// Copies every log line to `sink`; sends the port of the first "listening" line.
fn forward_log(from: impl Read, mut sink: Box<dyn Write + Send>, port: mpsc::Sender<u16>) {
    let mut port = Some(port);
    let mut reader = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let _ = sink.write_all(&line);
        let _ = sink.flush();
        if let Some(p) = listening_port(&String::from_utf8_lossy(&line)) {
            if let Some(tx) = port.take() {
                let _ = tx.send(p);
            }
        }
    }
}

fn tee(mut from: impl Read, mut a: impl Write, mut b: Box<dyn Write + Send>) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        let _ = a.write_all(&buf[..n]);
        let _ = b.write_all(&buf[..n]);
        let _ = b.flush();
    }
}

struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A running `hakanai-server`; killed and reaped on drop.
pub struct HakanaiServer {
    child: Option<Child>,
    pub port: u16,
    /// The admin token this start wrote to its token file (`--enable-admin-token`, first start).
    pub admin_token: Option<String>,
    /// The default user token this start wrote (none with `--allow-anonymous`, or when the store
    /// had tokens already).
    pub user_token: Option<String>,
    token_file: Option<PathBuf>,
    captured: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    threads: Vec<JoinHandle<()>>,
    _work: TempDir,
}

/// How a server ended after [`HakanaiServer::stop`].
pub struct Stopped {
    /// `None` when it did not exit within the grace period and was killed.
    pub status: Option<ExitStatus>,
    /// Its JSON log, when started with [`ServerBuilder::capture_log`].
    pub log: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl HakanaiServer {
    /// The binary at `bin` (in a test of the server package:
    /// `env!("CARGO_BIN_EXE_hakanai-server")`).
    pub fn builder(bin: impl AsRef<Path>) -> ServerBuilder {
        ServerBuilder {
            bin: bin.as_ref().to_owned(),
            port_args: ["--port", "0", "--listen-address", "127.0.0.1"]
                .map(OsString::from)
                .to_vec(),
            token_file: TokenFile::Private,
            args: Vec::new(),
            env: Vec::new(),
            rust_log: "info".to_owned(),
            log: LogTo::Discard,
            stderr_file: None,
            dir: None,
            ready_paths: vec!["/ready".to_owned()],
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    pub fn admin_token(&self) -> &str {
        self.admin_token.as_deref().expect("an admin token")
    }

    pub fn user_token(&self) -> &str {
        self.user_token.as_deref().expect("a default user token")
    }

    /// The `--token-file` it was given (a private one is kept until drop).
    pub fn token_file(&self) -> Option<&Path> {
        self.token_file.as_deref()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The process's resident memory (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let Some(pid) = self.pid() else { return 0 };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// The log captured so far ([`ServerBuilder::capture_log`]).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.captured.lock().unwrap()).into_owned()
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// SIGTERM, then up to `grace` for a graceful exit (killed after that).
    pub fn stop(mut self, grace: Duration) -> Stopped {
        let mut status = None;
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + grace;
            status = loop {
                if let Ok(Some(s)) = child.try_wait() {
                    break Some(s);
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
        }
        self.join();
        Stopped {
            status,
            log: self.log(),
            stderr: self.stderr(),
        }
    }

    /// Kills and reaps the process; idempotent.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.join();
    }

    fn join(&mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for HakanaiServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_of_the_listening_line() {
        let line = r#"{"timestamp":"t","level":"INFO","fields":{"message":"listening","address":"127.0.0.1:36631"},"target":"hakanai_server"}"#;
        assert_eq!(listening_port(line), Some(36631));
        let other = r#"{"fields":{"message":"serving /metrics","address":"127.0.0.1:9"}}"#;
        assert_eq!(listening_port(other), None);
    }

    #[test]
    fn keeps_the_listening_line_below_info() {
        assert_eq!(log_filter("error"), "error,hakanai_server=info");
        assert_eq!(log_filter("debug"), "debug");
        assert_eq!(
            log_filter("warn,hakanai_server=debug"),
            "warn,hakanai_server=debug"
        );
    }
}
