//! Child processes that steps start and talk to: `redis-server` and `hakanai-server` on free
//! ports, killed on drop so a failed step leaves nothing running.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::shell::{free_port, Error, Result};

pub struct Proc {
    pub child: Child,
    pub port: u16,
    /// The bootstrap tokens a server printed at startup (empty for Redis, or when the
    /// server was not asked for one).
    pub admin_token: String,
    pub user_token: String,
}

impl Proc {
    /// A throw-away `redis-server` on loopback (no snapshots), with `extra` arguments.
    pub fn redis(extra: &[&str]) -> Result<Proc> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(extra)
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

    /// Starts a `hakanai-server` command that listens on `port`, reads the tokens it prints
    /// once at startup (the admin token only if `admin`; the default user token always,
    /// since anonymous uploads stay off), and waits until `/ready` answers 200.
    pub fn server(mut cmd: Command, port: u16, admin: bool) -> Result<Proc> {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let shown = format!("{cmd:?}");
        println!("$ {shown}");
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::new(format!("cannot start {shown}: {e}")))?;
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
        while (admin && server.admin_token.is_empty()) || server.user_token.is_empty() {
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
pub fn wait_for(port: u16, request: &[u8], expect: &[u8]) -> Result<()> {
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
