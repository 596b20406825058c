//! A real `hakanai-server` over a real `redis-server`, and the real `hakanai` binary. The server
//! runs in-process (`hakanai_server::Application` on port 0, its new tokens returned to the
//! test); Redis comes from the shared `hakanai-test-support` crate.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use clap::Parser;
use hakanai_server::{Application, Config};

/// A throwaway `redis-server` on a loopback port of its own, killed on drop (the shared
/// test-support crate).
pub use hakanai_test_support::RedisServer;

/// A running server (on its own runtime thread) with its Redis and bootstrap tokens.
pub struct Server {
    pub url: String,
    pub admin_token: String,
    pub user_token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub redis: Option<RedisServer>,
}

impl Server {
    /// A server over Redis.
    pub fn start() -> Server {
        Self::start_with(true, &[])
    }

    /// A server on its embedded in-memory store.
    pub fn start_embedded() -> Server {
        Self::start_with(false, &[])
    }

    /// Starts a server (over Redis or embedded) with extra command-line flags.
    pub fn start_with(use_redis: bool, extra: &[&str]) -> Server {
        Self::start_over(use_redis.then(RedisServer::start), extra)
    }

    /// Starts a server over `redis` (or embedded) with extra flags. The tokens it printed at
    /// startup are empty when it made none (they existed already, or anonymous uploads).
    pub fn start_over(redis: Option<RedisServer>, extra: &[&str]) -> Server {
        static TRACING: std::sync::Once = std::sync::Once::new();
        TRACING.call_once(|| {
            if std::env::var_os("TEST_LOG").is_some() {
                use hakanai_server::telemetry::{get_subscriber, init_subscriber};
                init_subscriber(get_subscriber("debug", std::io::stdout));
            }
        });
        let dsn = redis.as_ref().map(RedisServer::dsn);
        let mut args = vec![
            "hakanai-server",
            "--port",
            "0",
            "--enable-admin-token",
            "--upload-size-limit",
            "256m",
            "--redis-timeout",
            "30s",
        ];
        if let Some(dsn) = &dsn {
            args.extend(["--redis-dsn", dsn]);
        }
        args.extend_from_slice(extra);
        let config = Config::parse_from(args);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let app = Application::build(config).await.expect("the server starts");
                let tokens = (app.new_tokens.admin.clone(), app.new_tokens.user.clone());
                ready_tx.send((app.port(), tokens)).unwrap();
                app.run_until(async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            });
        });
        let (port, (admin, user)) = ready_rx.recv().expect("the server thread reports");
        Server {
            url: format!("http://127.0.0.1:{port}"),
            admin_token: admin.unwrap_or_default(),
            // With --allow-anonymous no default token is made; tests there send without one.
            user_token: user.unwrap_or_default(),
            stop: Some(stop_tx),
            thread: Some(thread),
            redis,
        }
    }

    /// Stops the server and hands back its Redis, still running.
    pub fn stop(mut self) -> Option<RedisServer> {
        self.shutdown();
        self.redis.take()
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// `hakanai` with this server and the default user token in its environment.
    pub fn hakanai(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hakanai"));
        cmd.env("HAKANAI_SERVER", &self.url)
            .env("HAKANAI_TOKEN", &self.user_token)
            .env_remove("HAKANAI_ADMIN_TOKEN");
        cmd
    }

    /// `hakanai` with the admin token in its environment.
    pub fn hakanai_admin(&self) -> Command {
        let mut cmd = self.hakanai();
        cmd.env("HAKANAI_ADMIN_TOKEN", &self.admin_token);
        cmd
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs `cmd` with `stdin` as its input.
pub fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hakanai runs");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Runs `cmd` with no input, sampling its peak resident memory (VmHWM, KiB) while it runs.
pub fn run_measured(cmd: &mut Command) -> (Output, u64) {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hakanai runs");
    let status_path = format!("/proc/{}/status", child.id());
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        loop {
            if let Ok(status) = std::fs::read_to_string(&status_path) {
                if let Some(kib) = status
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    peak = peak.max(kib);
                }
            }
            if done_rx.recv_timeout(Duration::from_millis(10)).is_ok() {
                return peak;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    done_tx.send(()).unwrap();
    (out, sampler.join().unwrap())
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and returns stdout.
#[track_caller]
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Asserts the exit code and returns stderr.
#[track_caller]
pub fn fails(out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    stderr(out)
}

/// Deterministic pseudo-random bytes (xorshift), written in 1 MiB pieces.
pub fn write_random_file(path: &Path, len: u64, seed: u64) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut state = seed | 1;
    let mut remaining = len;
    let mut block = vec![0u8; 1024 * 1024];
    while remaining > 0 {
        for word in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        let n = remaining.min(block.len() as u64) as usize;
        file.write_all(&block[..n]).unwrap();
        remaining -= n as u64;
    }
    file.flush().unwrap();
}

pub fn sha256_file(path: &Path) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).unwrap();
    hasher.finalize().into()
}
