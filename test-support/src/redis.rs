//! `redis-server` and `redis-sentinel` processes, and the topologies built from them: a
//! Sentinel setup (master, replica, three sentinels) and a Cluster (three masters, three
//! replicas).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports::{listens_on, unused_port, TempDir};
use crate::resp::{info_field, info_like, Reply, RespConnection};
use crate::wait_until;

/// How often a start is tried on a new port before giving up.
const ATTEMPTS: usize = 10;

/// One `redis-server` or `redis-sentinel` process on loopback, without persistence, killed and
/// reaped on drop (the directory it runs in too, unless the caller gave one).
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    /// The TLS port, when started with [`RedisBuilder::tls`].
    pub tls_port: Option<u16>,
    log: PathBuf,
    _dir: Option<TempDir>,
}

/// How to start a [`RedisServer`].
#[derive(Default, Clone)]
pub struct RedisBuilder {
    args: Vec<String>,
    dir: Option<PathBuf>,
    log: Option<PathBuf>,
    port: Option<u16>,
    tls: Option<(PathBuf, PathBuf)>,
    cluster_node_timeout_ms: Option<u32>,
    sentinel_of: Option<u16>,
}

impl RedisBuilder {
    /// Extra `redis-server` arguments (not for a sentinel).
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Runs in `dir` (shared with other processes of a topology; not removed). Default: a
    /// private directory, removed on drop.
    pub fn dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_owned());
        self
    }

    /// Writes the process's output to `path`. Default: `redis-<port>.log` in its directory.
    pub fn log_file(mut self, path: &Path) -> Self {
        self.log = Some(path.to_owned());
        self
    }

    /// On this port exactly, without retrying elsewhere: to bring a Redis back where a server
    /// already looks for it.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Also a TLS port (chosen like the plain one) with this certificate and key; the
    /// certificate is its own CA and clients are not asked for one.
    pub fn tls(mut self, cert: &Path, key: &Path) -> Self {
        self.tls = Some((cert.to_owned(), key.to_owned()));
        self
    }

    /// A cluster node (`--cluster-enabled yes`, its config file named after its port).
    pub fn cluster_node(mut self, node_timeout_ms: u32) -> Self {
        self.cluster_node_timeout_ms = Some(node_timeout_ms);
        self
    }

    /// `redis-sentinel` watching the master at `master_port` as `mymaster`, quorum 2, with
    /// failover settings short enough for a test.
    pub fn sentinel_of(mut self, master_port: u16) -> Self {
        self.sentinel_of = Some(master_port);
        self
    }

    /// Starts it, on a new port after each failed attempt; panics after [`ATTEMPTS`].
    pub fn start(self) -> RedisServer {
        self.try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts it, on a new port after each failed attempt.
    pub fn try_start(self) -> Result<RedisServer, String> {
        let own_dir = match &self.dir {
            Some(_) => None,
            None => Some(TempDir::new("redis")),
        };
        let dir = match (&self.dir, &own_dir) {
            (Some(d), _) => d.clone(),
            (None, Some(d)) => d.path().to_owned(),
            (None, None) => unreachable!(),
        };
        let attempts = if self.port.is_some() { 1 } else { ATTEMPTS };
        let mut last = String::new();
        for _ in 0..attempts {
            let port = self.port.unwrap_or_else(unused_port);
            let tls_port = self.tls.as_ref().map(|_| unused_port());
            match self.attempt(&dir, port, tls_port) {
                Ok((child, log)) => {
                    return Ok(RedisServer {
                        child: Some(child),
                        port,
                        tls_port,
                        log,
                        _dir: own_dir,
                    })
                }
                Err(e) => last = e,
            }
        }
        Err(format!(
            "{} did not start after {attempts} attempt(s): {last}",
            self.program()
        ))
    }

    fn program(&self) -> &'static str {
        if self.sentinel_of.is_some() {
            "redis-sentinel"
        } else {
            "redis-server"
        }
    }

    fn attempt(
        &self,
        dir: &Path,
        port: u16,
        tls_port: Option<u16>,
    ) -> Result<(Child, PathBuf), String> {
        let mut cmd = Command::new(self.program());
        cmd.current_dir(dir);
        if let Some(master) = self.sentinel_of {
            let conf = dir.join(format!("sentinel-{port}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\n\
                     sentinel monitor mymaster 127.0.0.1 {master} 2\n\
                     sentinel down-after-milliseconds mymaster 1000\n\
                     sentinel failover-timeout mymaster 3000\n\
                     sentinel parallel-syncs mymaster 1\n",
                    dir = dir.display()
                ),
            )
            .map_err(|e| format!("{}: {e}", conf.display()))?;
            cmd.arg(&conf);
        } else {
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                // Replicas sync at once instead of after the default 5 s batching delay.
                .args(["--repl-diskless-sync-delay", "0"]);
            if let (Some((cert, key)), Some(tls_port)) = (&self.tls, tls_port) {
                cmd.args(["--tls-port", &tls_port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(cert)
                    .arg("--tls-key-file")
                    .arg(key)
                    .arg("--tls-ca-cert-file")
                    .arg(cert)
                    .args(["--tls-auth-clients", "no"]);
            }
            if let Some(timeout) = self.cluster_node_timeout_ms {
                cmd.args(["--cluster-enabled", "yes"])
                    .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                    .args(["--cluster-node-timeout", &timeout.to_string()]);
            }
            cmd.args(&self.args);
        }
        let log = self
            .log
            .clone()
            .unwrap_or_else(|| dir.join(format!("{}-{port}.log", self.program())));
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {} ({e}); install it with `cargo xtask setup`",
                    self.program()
                )
            })?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(3).collect();
                return Err(format!(
                    "exited ({status}) on port {port}: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ));
            }
            let ours =
                listens_on(child.id(), port) && tls_port.is_none_or(|t| listens_on(child.id(), t));
            // NOAUTH from a password-protected server also means it is up.
            if ours && matches!(ping(port), Some(Reply::Status(_) | Reply::Error(_))) {
                return Ok((child, log));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer on port {port} within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn ping(port: u16) -> Option<Reply> {
    RespConnection::connect(port).ok()?.command(&["PING"]).ok()
}

impl RedisServer {
    /// A plain `redis-server` on a port of its own.
    pub fn start() -> RedisServer {
        RedisServer::builder().start()
    }

    /// A plain `redis-server` on exactly `port` (see [`RedisBuilder::port`]).
    pub fn start_on(port: u16) -> RedisServer {
        RedisServer::builder().port(port).start()
    }

    pub fn builder() -> RedisBuilder {
        RedisBuilder::default()
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn dsn(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Where its output went.
    pub fn log_file(&self) -> &Path {
        &self.log
    }

    /// `INFO <section>`'s `key`, if it answers.
    pub fn info(&self, section: &str, key: &str) -> Option<String> {
        info_field(self.port, section, key)
    }

    /// Kills and reaps the process (a crash, for failover tests); idempotent.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The same as [`RedisServer::kill`]: nothing is persisted, so there is nothing to flush.
    pub fn stop(&mut self) {
        self.kill();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Master + replica + 3 sentinels (quorum 2, down-after 1 s), ready for a failover: the replica
/// synced, every sentinel knows the other two and the replica.
pub struct SentinelSetup {
    pub master: RedisServer,
    pub replica: RedisServer,
    pub sentinels: Vec<RedisServer>,
    _dir: TempDir,
}

impl SentinelSetup {
    pub fn start() -> SentinelSetup {
        let dir = TempDir::new("sentinel");
        let master = RedisServer::builder().dir(dir.path()).start();
        let replica = RedisServer::builder()
            .dir(dir.path())
            .args(["--replicaof", "127.0.0.1", &master.port.to_string()])
            .start();
        let rp = replica.port;
        wait_until(Duration::from_secs(10), "the replica to sync", || {
            info_field(rp, "replication", "master_link_status").as_deref() == Some("up")
        });
        let sentinels: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::builder()
                    .dir(dir.path())
                    .sentinel_of(master.port)
                    .start()
            })
            .collect();
        // Sentinels find each other and the replica through hello messages every 2 s; a
        // failover needs both.
        for s in &sentinels {
            let port = s.port;
            wait_until(Duration::from_secs(20), "sentinel discovery", || {
                let m = RespConnection::connect(port)
                    .and_then(|mut c| c.command(&["SENTINEL", "MASTER", "mymaster"]))
                    .map(|r| r.texts())
                    .unwrap_or_default();
                let field = |k: &str| {
                    m.iter()
                        .position(|x| x == k)
                        .and_then(|i| m.get(i + 1))
                        .cloned()
                };
                field("num-other-sentinels").as_deref() == Some("2")
                    && field("num-slaves").as_deref() == Some("1")
            });
        }
        SentinelSetup {
            master,
            replica,
            sentinels,
            _dir: dir,
        }
    }

    /// `redis-sentinel://<the three sentinels>/mymaster/0`.
    pub fn dsn(&self) -> String {
        let list: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis-sentinel://{}/mymaster/0", list.join(","))
    }
}

/// 3 masters + 3 replicas made by `redis-cli --cluster create`, node timeout 1 s; ready once
/// every node says `cluster_state:ok` and every replica has synced (a replica that never
/// synced has no data age and cannot be promoted).
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    _dir: TempDir,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let dir = TempDir::new("cluster");
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| {
                RedisServer::builder()
                    .dir(dir.path())
                    .cluster_node(1000)
                    .start()
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli must be installed (cargo xtask setup)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for n in &nodes {
            let port = n.port;
            wait_until(Duration::from_secs(20), "cluster_state:ok", || {
                info_like(port, &["CLUSTER", "INFO"], "cluster_state").as_deref() == Some("ok")
            });
        }
        for n in &nodes {
            let port = n.port;
            wait_until(Duration::from_secs(20), "replicas to sync", || {
                info_field(port, "replication", "role").as_deref() == Some("master")
                    || info_field(port, "replication", "master_link_status").as_deref()
                        == Some("up")
            });
        }
        RedisCluster { nodes, _dir: dir }
    }

    /// `redis-cluster://` with the first two nodes as seeds.
    pub fn dsn(&self) -> String {
        format!(
            "redis-cluster://127.0.0.1:{},127.0.0.1:{}",
            self.nodes[0].port, self.nodes[1].port
        )
    }

    /// The index of a master that holds slots and is not one of the DSN's seed nodes.
    pub fn a_master(&self) -> usize {
        let nodes = RespConnection::connect(self.nodes[0].port)
            .and_then(|mut c| c.command(&["CLUSTER", "NODES"]))
            .expect("CLUSTER NODES");
        let masters: Vec<u16> = nodes
            .text()
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("master") && !l.contains("fail"))
            .filter_map(|l| {
                let addr = l.split_whitespace().nth(1)?;
                addr.split(['@', ':']).nth(1)?.parse().ok()
            })
            .collect();
        (0..self.nodes.len())
            .rev()
            .find(|&i| masters.contains(&self.nodes[i].port))
            .expect("a master")
    }
}
