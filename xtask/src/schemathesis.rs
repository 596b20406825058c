//! The `schemathesis` step of `cargo xtask test`: property-based API fuzzing of a running
//! `hakanai-server` against its own OpenAPI document (`/api/openapi.json`), once per store.
//! Schemathesis is a Python tool; `setup` installs it at a pinned version into a venv under
//! the target directory, so nothing outside the checkout changes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::shell::{flags, free_port, target_dir, Cmd, Error, Result};

/// Pinned: a new release may add checks or change the CLI, which must not break CI by itself.
pub const VERSION: &str = "4.32.5";
/// Test cases per operation and phase: enough to reach every status of every handler while
/// keeping the step near a minute on a 2-core machine.
const MAX_EXAMPLES: &str = "20";
/// Response checks that must pass: no 5xx, and every status, content type and body is the
/// one the document declares. (`positive_data_acceptance` is left out: the document cannot
/// express limits that are configuration, such as the maximum TTL.)
const CHECKS: &str = "not_a_server_error,response_schema_conformance,status_code_conformance,\
content_type_conformance";

pub fn venv() -> PathBuf {
    target_dir()
        .join("xtask")
        .join(format!("schemathesis-{VERSION}"))
}

fn exe() -> PathBuf {
    venv().join("bin").join("schemathesis")
}

pub fn installed() -> bool {
    Cmd::new(exe())
        .arg("--version")
        .probe()
        .is_some_and(|v| v.contains(VERSION))
}

pub fn install() -> Result<()> {
    let dir = venv();
    Cmd::new("python3").args(["-m", "venv"]).arg(&dir).run()?;
    Cmd::new(dir.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("schemathesis=={VERSION}"))
        .run()
}

/// `cargo xtask schemathesis`: the test step on its own.
pub fn task(args: &[String]) -> Result<()> {
    flags("schemathesis", args, &[])?;
    crate::setup::ensure(false)?;
    println!("{}", run()?);
    Ok(())
}

/// Runs schemathesis against a debug server on the embedded store, then on Redis: secret and
/// health operations with a user token, admin operations with the admin token.
pub fn run() -> Result<String> {
    Cmd::cargo()
        .args(["build", "-p", "hakanai-server", "--bin", "hakanai-server"])
        .run()?;
    let redis = Proc::redis()?;
    let mut runs = 0;
    for dsn in [None, Some(format!("redis://127.0.0.1:{}/0", redis.port))] {
        let server = Proc::server(dsn.as_deref())?;
        let schema = format!("http://127.0.0.1:{}/api/openapi.json", server.port);
        for (token, paths) in [
            (
                &server.user_token,
                "^/(api/v1/secret|api/v1/upload|config.json|ready|healthy)",
            ),
            (&server.admin_token, "^/api/v1/admin/"),
        ] {
            Cmd::new(exe())
                .args(["run", &schema, "--checks", CHECKS])
                .args(["--max-examples", MAX_EXAMPLES, "--seed", "1"])
                .args(["--include-path-regex", paths])
                .args(["--header", &format!("Authorization: Bearer {token}")])
                .args(["--request-timeout", "10", "--no-color"])
                // It keeps a `.schemathesis/` cache in the working directory.
                .current_dir(target_dir().join("xtask"))
                .run()?;
            runs += 1;
        }
    }
    Ok(format!(
        "schemathesis {VERSION}: {runs} runs (embedded + Redis), {MAX_EXAMPLES} examples"
    ))
}

/// A child process (server or Redis) on a free port, killed on drop so a failed step
/// leaves nothing running.
struct Proc {
    child: Child,
    port: u16,
    admin_token: String,
    user_token: String,
}

impl Proc {
    fn redis() -> Result<Proc> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| Error::new(format!("cannot start redis-server: {e}")))?;
        let redis = Proc {
            child,
            port,
            admin_token: String::new(),
            user_token: String::new(),
        };
        wait_for(port, b"PING\r\n", b"+PONG")?;
        Ok(redis)
    }

    /// Starts the server with an admin token and (because anonymous uploads stay off) a
    /// default user token, both read from the lines it prints once at startup.
    fn server(redis_dsn: Option<&str>) -> Result<Proc> {
        let port = free_port()?;
        let bin = target_dir().join("debug").join("hakanai-server");
        let mut cmd = Command::new(&bin);
        cmd.env_clear()
            .env("RUST_LOG", "error")
            .args(["--port", &port.to_string(), "--enable-admin-token"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(dsn) = redis_dsn {
            cmd.args(["--redis-dsn", dsn]);
        }
        println!("$ {} --port {port} --enable-admin-token", bin.display());
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::new(format!("cannot start {}: {e}", bin.display())))?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        // Keeps draining stderr after the tokens, so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                let _ = tx.send(line);
            }
        });
        let mut server = Proc {
            child,
            port,
            admin_token: String::new(),
            user_token: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.admin_token.is_empty() || server.user_token.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .map_err(|_| Error::new("hakanai-server printed no tokens"))?;
            let token = line.rsplit(' ').next().unwrap_or("").to_owned();
            if line.starts_with("Admin token") {
                server.admin_token = token;
            } else if line.starts_with("User token") {
                server.user_token = token;
            }
        }
        wait_for(
            port,
            b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"HTTP/1.1 200",
        )?;
        Ok(server)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `request` until the reply starts with `expect` (10 s at most).
fn wait_for(port: u16, request: &[u8], expect: &[u8]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let mut buf = vec![0u8; expect.len()];
            if s.write_all(request).is_ok() && s.read_exact(&mut buf).is_ok() && buf == expect {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(Error::new(format!("nothing answered on port {port}")))
}
