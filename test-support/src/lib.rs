//! Test processes for the server, CLI and xtask tests and for Playwright (through
//! `cargo xtask test-servers`): `redis-server` alone or as a Sentinel or Cluster topology, the
//! `hakanai-server` binary, and Hakanai v3.0.7's own `hakanai-server` (the oracle), each on a
//! port it owns, killed and reaped on drop.
//!
//! Ports without races. A port found by binding and releasing it can be taken by another
//! process before the child binds it (two other engineers' test runs share these machines), so:
//! - `hakanai-server` gets `--port 0` and the kernel picks the port; it is read from the
//!   structured `"listening"` line of its JSON log (stdout), which is then passed on to the
//!   caller's log destination.
//! - Hakanai v3's server takes port 0 too, but names the port only in a plain-text line, so its
//!   port is read from `/proc`: the one socket the child itself listens on.
//! - `redis-server` cannot take port 0: a candidate port is tried and the start is retried with
//!   another one when the process exits (the port was taken). It counts as started only once
//!   the child *itself* listens on the port (`/proc/<pid>/fd` against `/proc/net/tcp*`), so a
//!   process of someone else's that took the port is never mistaken for ours.
//! - A port a test must name before anything listens on it (a URL or DSN that must be refused,
//!   or a process started there later on purpose) is a [`ReservedPort`]: bound, not listening,
//!   held until drop, so no port-0 lookup hands it to anyone else meanwhile.
//!
//! Tokens are read from the server's `--token-file` (`admin <token>` / `user <token>` lines),
//! never from its output.
//!
//! Std only: xtask depends on it. Linux only (`/proc`), like the tests that use it.

mod http;
mod oracle;
mod ports;
mod redis;
mod resp;
mod server;

pub use http::get_status;
pub use oracle::HakanaiV3Server;
pub use ports::{listening_ports, listens_on, ReservedPort, TempDir};
pub use redis::{RedisBuilder, RedisCluster, RedisServer, SentinelSetup};
pub use resp::info_field;
pub use resp::{Reply, RespConnection};
pub use server::{HakanaiServer, ServerBuilder, Stopped};

use std::time::{Duration, Instant};

/// Polls `check` every 100 ms until it returns true; panics with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}
