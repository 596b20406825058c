//! Ports and scratch directories.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A loopback port that nothing listened on a moment ago: only a candidate for a start that is
/// retried on another port when it fails ([`crate::RedisServer`]), so not exported. Anything
/// that must stay free, or that is started later on a port named now, takes a [`ReservedPort`].
pub(crate) fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Whether process `pid` itself holds a listening TCP socket on `port` (IPv4 or IPv6).
pub fn listens_on(pid: u32, port: u16) -> bool {
    listening_ports(pid).contains(&port)
}

/// The TCP ports process `pid` itself listens on (IPv4 or IPv6), in `/proc/net/tcp*` order:
/// its `/proc/<pid>/fd` links against the socket inodes in `/proc/net/tcp` and `/proc/net/tcp6`.
/// How the port of a child that was given port 0 and does not say which one it got is learned.
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let sockets: Vec<String> = fds
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| target.to_str().map(str::to_owned))
        .filter(|target| target.starts_with("socket:["))
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let port = local
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if let Some(port) = port.filter(|_| *state == "0A") {
                let inode = format!("socket:[{inode}]");
                if sockets.contains(&inode) && !ports.contains(&port) {
                    ports.push(port);
                }
            }
        }
    }
    ports
}

/// A loopback port held, until drop, by a TCP socket that is bound but never listens.
/// Connections to it are refused; nobody's port-0 bind (every free-port lookup) is given it,
/// because it is bound; and a process that sets `SO_REUSEADDR` before it binds (as
/// `redis-server`, `hakanai-server` and std's and tokio's listeners do) can still bind and listen
/// on it while it is held. So a test can name a port where nothing may listen (a DSN or URL that
/// must be refused), or one it starts a process on later, without racing other processes.
pub struct ReservedPort {
    port: u16,
    _socket: OwnedFd,
}

impl ReservedPort {
    pub fn new() -> ReservedPort {
        Self::try_new().unwrap_or_else(|e| panic!("cannot reserve a loopback port: {e}"))
    }

    fn try_new() -> std::io::Result<ReservedPort> {
        use sys::*;
        let check = |rc: i32| {
            if rc < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(rc)
            }
        };
        // SAFETY: plain socket calls on a descriptor owned here (closed by OwnedFd on every
        // path), with pointers to live, correctly sized values.
        unsafe {
            let fd = check(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))?;
            let socket = OwnedFd::from_raw_fd(fd);
            let on: i32 = 1;
            check(setsockopt(
                socket.as_raw_fd(),
                SOL_SOCKET,
                SO_REUSEADDR,
                (&on as *const i32).cast(),
                std::mem::size_of::<i32>() as u32,
            ))?;
            let mut addr = SockaddrIn {
                family: AF_INET as u16,
                port: 0,
                addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
                zero: [0; 8],
            };
            let mut len = std::mem::size_of::<SockaddrIn>() as u32;
            check(bind(socket.as_raw_fd(), &addr, len))?;
            check(getsockname(socket.as_raw_fd(), &mut addr, &mut len))?;
            Ok(ReservedPort {
                port: u16::from_be(addr.port),
                _socket: socket,
            })
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Default for ReservedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// The few socket calls std has no safe form of (a bound socket that does not listen), declared
/// like xtask's `signal`: std links the C library anyway. Linux's values on x86-64 and AArch64.
mod sys {
    pub const AF_INET: i32 = 2;
    pub const SOCK_STREAM: i32 = 1;
    pub const SOCK_CLOEXEC: i32 = 0o2_000_000;
    pub const SOL_SOCKET: i32 = 1;
    pub const SO_REUSEADDR: i32 = 2;

    /// `struct sockaddr_in`; port and address in network byte order.
    #[repr(C)]
    pub struct SockaddrIn {
        pub family: u16,
        pub port: u16,
        pub addr: u32,
        pub zero: [u8; 8],
    }

    extern "C" {
        pub fn socket(domain: i32, kind: i32, protocol: i32) -> i32;
        pub fn setsockopt(fd: i32, level: i32, name: i32, value: *const u8, len: u32) -> i32;
        pub fn bind(fd: i32, addr: *const SockaddrIn, len: u32) -> i32;
        pub fn getsockname(fd: i32, addr: *mut SockaddrIn, len: *mut u32) -> i32;
    }
}

/// A scratch directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory whose name starts with `hakanai-<name>-`.
    pub fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "hakanai-{name}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_port_refuses_and_is_not_handed_out_but_can_be_taken_on_purpose() {
        let reserved = ReservedPort::new();
        let port = reserved.port();
        assert_ne!(port, 0);
        let refused = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        for _ in 0..200 {
            assert_ne!(
                unused_port(),
                port,
                "a port-0 bind was given the reserved port"
            );
        }
        // A listener of our own (SO_REUSEADDR, like redis-server's) binds it while it is held.
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        assert!(listens_on(std::process::id(), port));
        assert_eq!(listening_ports(std::process::id()), [port]);
        drop(listener);
    }
}
