//! The image's server in a container (`cargo xtask image`), killed on drop so a failed step
//! leaves nothing running. Everything else (`redis-server`, the debug `hakanai-server`) is
//! started through `hakanai-test-support`, on ports it owns; a container is given its port
//! through the image's environment, so this one takes a port that was free a moment ago.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::shell::{Error, Result};

pub struct Proc {
    pub child: Child,
    /// The bootstrap tokens the server wrote to its token file at startup (empty when it was
    /// not asked for one).
    pub admin_token: String,
    pub user_token: String,
}

impl Proc {
    /// Starts a `hakanai-server` command that listens on `port` and writes its new tokens to
    /// `token_file` (a path on this machine: the caller passes `--token-file`, or for a
    /// container the file the image's default puts in the container's root), reads them from
    /// there (the admin token only if `admin`; the default user token always, since anonymous
    /// uploads stay off), and waits until `/ready` answers 200. An earlier run's file is removed
    /// first, so only this start's tokens are read.
    pub fn server(mut cmd: Command, port: u16, admin: bool, token_file: &Path) -> Result<Proc> {
        match std::fs::remove_file(token_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::new(format!("{}: {e}", token_file.display())))
            }
            _ => {}
        }
        // The server writes nothing to stderr when its tokens go to a file; inherited, so that a
        // startup error shows up in the step's output.
        cmd.stdout(Stdio::null());
        let shown = format!("{cmd:?}");
        println!("$ {shown}");
        let child = cmd
            .spawn()
            .map_err(|e| Error::new(format!("cannot start {shown}: {e}")))?;
        let mut server = Proc {
            child,
            admin_token: String::new(),
            user_token: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while (admin && server.admin_token.is_empty()) || server.user_token.is_empty() {
            if Instant::now() > deadline {
                return Err(Error::new(format!(
                    "hakanai-server wrote no tokens to {}",
                    token_file.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
            // The documented format: `admin <token>` / `user <token>` lines.
            let text = std::fs::read_to_string(token_file).unwrap_or_default();
            for line in text.lines() {
                match line.split_once(' ') {
                    Some(("admin", t)) => server.admin_token = t.to_owned(),
                    Some(("user", t)) => server.user_token = t.to_owned(),
                    _ => {}
                }
            }
        }
        // Read: a throw-away server's tokens need not lie around afterwards.
        let _ = std::fs::remove_file(token_file);
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
