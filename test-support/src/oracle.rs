//! Hakanai v3.0.7's own `hakanai-server` (the oracle binary the compatibility tests compare
//! against) as a child process, on a port the kernel picked.
//!
//! It takes `-p 0` and binds a free port, but names it only in actix's plain-text log line
//! ("listening on: 127.0.0.1:PORT"), so the port is read from `/proc` instead: the one socket the
//! child itself listens on. No port is chosen beforehand, so there is nothing to lose a race for.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports::{listening_ports, TempDir};

/// How long a start may take (it connects to its Redis first).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Hakanai v3 `hakanai-server` on loopback; killed and reaped on drop.
pub struct HakanaiV3Server {
    child: Option<Child>,
    pub port: u16,
    log: PathBuf,
    _work: TempDir,
}

impl HakanaiV3Server {
    /// `exe args… -p 0 -l 127.0.0.1`, stdout and stderr to one log file; panics when it does not
    /// come up.
    pub fn start<S: AsRef<std::ffi::OsStr>>(
        exe: &Path,
        args: impl IntoIterator<Item = S>,
    ) -> HakanaiV3Server {
        Self::try_start(exe, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts it and waits until it listens.
    pub fn try_start<S: AsRef<std::ffi::OsStr>>(
        exe: &Path,
        args: impl IntoIterator<Item = S>,
    ) -> Result<HakanaiV3Server, String> {
        let work = TempDir::new("hakanai-v3");
        let log = work.path().join("server.log");
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(exe)
            .args(args)
            .args(["-p", "0", "-l", "127.0.0.1"])
            .current_dir(work.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let mut server = HakanaiV3Server {
            child: Some(child),
            port: 0,
            log,
            _work: work,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let child = server.child.as_mut().expect("running");
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "Hakanai v3's server exited ({status}) before listening: {}",
                    server.log().trim()
                ));
            }
            if let Some(&port) = listening_ports(child.id()).first() {
                server.port = port;
                return Ok(server);
            }
            if Instant::now() > deadline {
                server.kill();
                return Err(format!(
                    "Hakanai v3's server did not listen within {START_TIMEOUT:?}: {}",
                    server.log().trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its output so far (stdout and stderr, as written: with its terminal colours).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills and reaps the process; idempotent.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for HakanaiV3Server {
    fn drop(&mut self) {
        self.kill();
    }
}
