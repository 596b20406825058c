//! Starts the real `hakanai-server` binary on a free port and stops it on drop.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `hakanai-server` process; killed (and reaped) on drop so a failing test leaves nothing
/// behind.
pub struct Replica {
    child: Child,
    pub port: u16,
}

impl Replica {
    /// Starts the binary with anonymous uploads (so every replica can create without sharing a
    /// token) and `--redis-timeout timeout`, plus `extra` flags; waits until `/ready` answers.
    pub async fn start(redis_dsn: &str, timeout: &str, extra: &[&str]) -> Replica {
        // The free port is found by binding and releasing it, so another process can take it
        // before the server binds: retry with a new port when the child exits early.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(env!("CARGO_BIN_EXE_hakanai-server"))
                .env_clear()
                .env("RUST_LOG", "error")
                .args(["--port", &port.to_string(), "--listen-address", "127.0.0.1"])
                .args(["--redis-dsn", redis_dsn, "--redis-timeout", timeout])
                .arg("--allow-anonymous")
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the hakanai-server binary starts");
            let mut replica = Replica { child, port };
            if replica.wait_ready().await {
                return replica;
            }
        }
        panic!("hakanai-server did not start after 5 attempts");
    }

    async fn wait_ready(&mut self) -> bool {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            let ready = client
                .get(self.url("/ready"))
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if matches!(ready, Ok(r) if r.status() == 200) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        panic!("hakanai-server on port {} did not become ready", self.port);
    }

    /// The process's resident memory (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
