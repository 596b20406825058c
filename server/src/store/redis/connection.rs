//! One connection type for every deployment, so the store's commands and scripts never know
//! which one they talk to.
//!
//! A single node gets a few shared multiplexed connections, cloned for every operation, so that
//! commands of concurrent requests travel together (one write and one read for a burst of them,
//! in the server and in Redis) instead of one round trip each. A connection whose command fails
//! in transport is marked broken and replaced by the next operation, so a Redis restart costs
//! only the operations in flight at that moment, and nothing is asked of Redis on the way (a
//! `PING` per checkout was a second round trip for every operation).
//!
//! A Sentinel-managed master gets a bb8 pool of multiplexed connections: every new connection
//! asks the sentinels for the current master, and every checkout checks with `ROLE` that the
//! node is still a master, so after a failover dead or demoted connections are replaced by
//! connections to the new master without any other bookkeeping. A cluster gets one
//! `ClusterConnection` (multiplexed, follows `MOVED` and failovers by itself). Connections are
//! made on first use, so that startup can report an unreachable Redis like any other.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use bb8::{ErrorSink, ManageConnection, Pool, PooledConnection, RunError};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ErrorKind, Pipeline, RedisError,
    RedisFuture, RedisResult, TlsCertificates, TlsMode, Value,
};
use tokio::sync::Notify;
use tokio::sync::{Mutex, OnceCell};

use super::dsn::{self, Target};

/// How many connections a single node's operations share. More than one, so that one large
/// secret in transfer does not hold up every other operation; few, so that concurrent commands
/// share writes.
const SHARED_CONNECTIONS: usize = 2;

/// Makes the pooled connections to a Sentinel-managed master.
pub struct Manager {
    sentinel: Mutex<SentinelClient>,
    config: AsyncConnectionConfig,
    /// bb8 stops waiting for a connection after `op_timeout` but lets the attempt run on; a
    /// sentinel that never answers would then hold the look-up lock for good.
    op_timeout: Duration,
}

/// A connection that remembers whether a command on it failed in transport; pooled ones are
/// dropped by bb8 when they come back, shared ones replaced by the next operation.
#[derive(Clone)]
pub struct Tracked {
    conn: MultiplexedConnection,
    broken: Arc<AtomicBool>,
}

impl Tracked {
    fn new(conn: MultiplexedConnection) -> Tracked {
        Tracked {
            conn,
            broken: Arc::default(),
        }
    }

    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    fn note<T>(&self, r: &RedisResult<T>) {
        if let Err(e) = r {
            // A reply error (WRONGTYPE, NOSCRIPT, …) leaves the connection usable; a dropped or
            // timed-out connection is not trusted again.
            if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                self.broken.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// The shared connections of a single node.
pub struct Shared {
    client: Client,
    config: AsyncConnectionConfig,
    op_timeout: Duration,
    slots: [SharedSlot; SHARED_CONNECTIONS],
    next: AtomicUsize,
}

#[derive(Default)]
struct SharedSlot {
    current: SyncMutex<Option<Tracked>>,
    /// One connection attempt per slot at a time; the others wait for its outcome.
    connecting: Mutex<()>,
}

impl SharedSlot {
    fn live(&self) -> Option<Tracked> {
        let current = self.current.lock().ok()?;
        current.as_ref().filter(|c| !c.is_broken()).cloned()
    }
}

impl Shared {
    async fn get(&self) -> Result<Tracked, ConnError> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % SHARED_CONNECTIONS];
        if let Some(c) = slot.live() {
            return Ok(c);
        }
        let _connecting = slot.connecting.lock().await;
        if let Some(c) = slot.live() {
            return Ok(c);
        }
        let connect = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config);
        let conn = match tokio::time::timeout(self.op_timeout, connect).await {
            Ok(Ok(conn)) => Tracked::new(conn),
            Ok(Err(e)) => return Err(ConnError::Redis(e)),
            Err(_) => return Err(ConnError::TimedOut),
        };
        if let Ok(mut current) = slot.current.lock() {
            *current = Some(conn.clone());
        }
        Ok(conn)
    }
}

impl ManageConnection for Manager {
    type Connection = Tracked;
    type Error = RedisError;

    async fn connect(&self) -> Result<Tracked, RedisError> {
        match tokio::time::timeout(self.op_timeout, self.open()).await {
            Ok(r) => r.map(Tracked::new),
            Err(_) => Err(RedisError::from((
                ErrorKind::Io,
                "connecting took longer than --redis-timeout",
            ))),
        }
    }

    async fn is_valid(&self, conn: &mut Tracked) -> Result<(), RedisError> {
        self.check(&mut conn.conn).await
    }

    fn has_broken(&self, conn: &mut Tracked) -> bool {
        conn.is_broken()
    }
}

impl Manager {
    async fn open(&self) -> Result<MultiplexedConnection, RedisError> {
        // The lock serialises master look-ups; after a failover the first caller resolves the
        // new master and the rest follow quickly.
        let client = self.sentinel.lock().await.async_get_client().await?;
        client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
    }

    async fn check(&self, conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
        // A master demoted by a failover still answers PING but refuses writes.
        let role: Vec<Value> = redis::cmd("ROLE").query_async(conn).await?;
        match role.first() {
            Some(Value::BulkString(r)) if r == b"master" => Ok(()),
            Some(Value::SimpleString(r)) if r == "master" => Ok(()),
            _ => Err(RedisError::from((
                ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
                "no longer the master",
            ))),
        }
    }
}

/// bb8 never returns a failed connection attempt to the caller (it times out instead) but hands
/// it to an error sink; keeping the last one lets a timed-out checkout say why (refused, wrong
/// password, no master) instead of only "timed out". A refusal (Redis down) also wakes the
/// checkouts waiting meanwhile, so an outage is a 503 at once rather than after `op_timeout`.
#[derive(Clone, Default)]
pub struct LastError(Arc<SyncMutex<Option<RedisError>>>, Arc<Notify>);

impl ErrorSink<RedisError> for LastError {
    fn sink(&self, e: RedisError) {
        // Only refusals: a stale pooled connection failing its check after a restart is
        // replaced by bb8, and the requests waiting meanwhile must not fail.
        let refusal = e.is_connection_refusal();
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(e);
        }
        if refusal {
            self.1.notify_waiters();
        }
    }

    fn boxed_clone(&self) -> Box<dyn ErrorSink<RedisError>> {
        Box::new(self.clone())
    }
}

impl std::fmt::Debug for LastError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LastError")
    }
}

pub enum Backend {
    Node(Box<Shared>),
    Pool {
        pool: Pool<Manager>,
        last_error: LastError,
    },
    Cluster {
        client: Box<ClusterClient>,
        conn: OnceCell<ClusterConnection>,
    },
}

/// A checked-out connection; commands and scripts run on it through [`ConnectionLike`].
pub enum Conn<'a> {
    Shared(Tracked),
    Pooled(PooledConnection<'a, Manager>),
    Cluster(ClusterConnection),
}

/// TLS trust for `rediss://` and `rediss-cluster://`: the system roots, or only `ca` (PEM).
fn certificates(ca: Option<&[u8]>) -> TlsCertificates {
    TlsCertificates {
        client_tls: None,
        root_cert: ca.map(<[u8]>::to_vec),
    }
}

impl Backend {
    /// Builds clients without connecting. `reply_timeout` is the longest any one reply may take
    /// (consuming reads of large secrets); everything else is bounded by `op_timeout` here and by
    /// the store's own timer.
    pub fn new(
        target: &Target,
        ca: Option<&[u8]>,
        op_timeout: Duration,
        reply_timeout: Duration,
    ) -> Result<Backend, String> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(op_timeout))
            .set_response_timeout(Some(op_timeout));
        let sentinel = match target {
            Target::Single(info) => {
                let client = match (info.addr(), ca) {
                    (ConnectionAddr::TcpTls { .. }, Some(ca)) => {
                        Client::build_with_tls(info.as_ref().clone(), certificates(Some(ca)))
                    }
                    _ => Client::open(info.as_ref().clone()),
                }
                .map_err(|e| format!("--redis-dsn: {:?}", e.kind()))?;
                return Ok(Backend::Node(Box::new(Shared {
                    client,
                    config,
                    op_timeout,
                    slots: Default::default(),
                    next: AtomicUsize::new(0),
                })));
            }
            Target::Sentinel(s) => Mutex::new(sentinel_client(s)?),
            Target::Cluster(c) => {
                let nodes: Vec<String> = c
                    .nodes
                    .iter()
                    .map(|(h, p)| {
                        let scheme = if c.tls { "rediss" } else { "redis" };
                        if h.contains(':') {
                            format!("{scheme}://[{h}]:{p}")
                        } else {
                            format!("{scheme}://{h}:{p}")
                        }
                    })
                    .collect();
                let mut b = ClusterClientBuilder::new(nodes)
                    .connection_timeout(op_timeout)
                    .response_timeout(reply_timeout);
                if let Some(u) = &c.auth.username {
                    b = b.username(u);
                }
                if let Some(p) = &c.auth.password {
                    b = b.password(p);
                }
                if c.tls {
                    b = b.tls(TlsMode::Secure).certs(certificates(ca));
                }
                let client = b
                    .build()
                    .map_err(|e| format!("--redis-dsn: cluster nodes: {:?}", e.kind()))?;
                return Ok(Backend::Cluster {
                    client: Box::new(client),
                    conn: OnceCell::new(),
                });
            }
        };
        let last_error = LastError::default();
        let pool = Pool::builder()
            .max_size(64)
            .connection_timeout(op_timeout)
            .retry_connection(false)
            .error_sink(Box::new(last_error.clone()))
            .build_unchecked(Manager {
                sentinel,
                config,
                op_timeout,
            });
        Ok(Backend::Pool { pool, last_error })
    }

    pub async fn get(&self) -> Result<Conn<'_>, ConnError> {
        match self {
            Backend::Node(shared) => shared.get().await.map(Conn::Shared),
            Backend::Pool { pool, last_error } => {
                let last = || last_error.0.lock().ok().and_then(|mut e| e.take());
                // Registered before asking the pool, so a refusal of the connect this checkout
                // starts counts.
                let refused = last_error.1.notified();
                tokio::pin!(refused);
                refused.as_mut().enable();
                let got = tokio::select! {
                    biased;
                    got = pool.get() => got,
                    () = refused => {
                        return Err(last().map_or(ConnError::TimedOut, ConnError::Redis));
                    }
                };
                got.map(Conn::Pooled).map_err(|e| match e {
                    RunError::User(e) => ConnError::Redis(e),
                    RunError::TimedOut => last().map_or(ConnError::TimedOut, ConnError::Redis),
                })
            }
            Backend::Cluster { client, conn } => conn
                .get_or_try_init(|| client.get_async_connection())
                .await
                .cloned()
                .map(Conn::Cluster)
                .map_err(ConnError::Redis),
        }
    }

    /// Whether replicas may be promoted behind our back (Sentinel, Cluster).
    pub fn is_cluster(&self) -> bool {
        matches!(self, Backend::Cluster { .. })
    }

    pub fn replicated(&self) -> bool {
        match self {
            Backend::Node(_) => false,
            Backend::Pool { .. } | Backend::Cluster { .. } => true,
        }
    }
}

pub enum ConnError {
    Redis(RedisError),
    TimedOut,
}

fn sentinel_client(s: &dsn::Sentinel) -> Result<SentinelClient, String> {
    let addrs = s
        .sentinels
        .iter()
        .map(|(h, p)| ConnectionAddr::Tcp(h.clone(), *p));
    let mut b = SentinelClientBuilder::new(addrs, &s.master, SentinelServerType::Master)
        .map_err(|e| format!("--redis-dsn: sentinels: {:?}", e.kind()))?
        .set_client_to_redis_db(s.db);
    if let Some(u) = &s.auth.username {
        b = b.set_client_to_redis_username(u);
    }
    if let Some(p) = &s.auth.password {
        b = b.set_client_to_redis_password(p);
    }
    if let Some(p) = &s.sentinel_password {
        b = b.set_client_to_sentinel_password(p);
    }
    b.build()
        .map_err(|e| format!("--redis-dsn: sentinels: {:?}", e.kind()))
}

/// The cluster hash slot of `key` (CRC16/XMODEM of the hash tag, mod 16384).
pub fn slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            rest.iter()
                .position(|&b| b == b'}')
                .filter(|&close| close > 0)
                .map(|close| &rest[..close])
        })
        .unwrap_or(key);
    let mut crc: u16 = 0;
    for &b in tagged {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

impl Conn<'_> {
    /// The single-node or Sentinel connection; `None` for a cluster.
    fn tracked(&mut self) -> Option<&mut Tracked> {
        match self {
            Conn::Shared(c) => Some(c),
            Conn::Pooled(c) => Some(&mut **c),
            Conn::Cluster(_) => None,
        }
    }

    pub fn set_response_timeout(&mut self, timeout: Duration) {
        // A cluster client was built with the longest reply bound; shorter ones are the
        // store's own timer.
        if let Some(c) = self.tracked() {
            // Per handle: the clones of a shared connection keep their own bound.
            c.conn.set_response_timeout(timeout);
        }
    }

    /// `WAIT 1 timeout` on the node that holds `key`: returns how many replicas have every
    /// write this connection made so far, `key`'s included.
    pub async fn wait_for_replica(&mut self, key: &str, timeout: Duration) -> RedisResult<i64> {
        let mut wait = redis::cmd("WAIT");
        wait.arg(1).arg(timeout.as_millis() as u64);
        match self {
            Conn::Cluster(c) => {
                let route = Route::new(slot(key.as_bytes()), SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                match c.route_command(wait, routing).await? {
                    Value::Int(n) => Ok(n),
                    _ => Err(RedisError::from((
                        ErrorKind::UnexpectedReturnType,
                        "WAIT reply",
                    ))),
                }
            }
            _ => {
                let c = self.tracked().expect("not a cluster");
                let r = wait.query_async(&mut c.conn).await;
                c.note(&r);
                r
            }
        }
    }
}

impl ConnectionLike for Conn<'_> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Cluster(c) => c.req_packed_command(cmd),
            _ => {
                let c = self.tracked().expect("not a cluster");
                Box::pin(async move {
                    let r = c.conn.req_packed_command(cmd).await;
                    c.note(&r);
                    r
                })
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            _ => {
                let c = self.tracked().expect("not a cluster");
                Box::pin(async move {
                    let r = c.conn.req_packed_commands(pipeline, offset, count).await;
                    c.note(&r);
                    r
                })
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Shared(c) => c.conn.get_db(),
            Conn::Pooled(c) => c.conn.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::slot;

    #[test]
    fn slots_match_redis_cluster_keyslot() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"123456789"), 12739);
        // Every key of one secret shares the slot of its id.
        let id = b"AAAAAAAAAAAAAAAAAAAAAA";
        let base = slot(id);
        for key in [
            &b"hk:{AAAAAAAAAAAAAAAAAAAAAA}"[..],
            b"hk:{AAAAAAAAAAAAAAAAAAAAAA}:t",
            b"hk:{AAAAAAAAAAAAAAAAAAAAAA}:a",
            b"hk:{AAAAAAAAAAAAAAAAAAAAAA}:u",
        ] {
            assert_eq!(slot(key), base);
        }
        // An empty tag does not count.
        assert_eq!(slot(b"{}foo"), slot(b"{}foo"));
        assert_ne!(slot(b"{}foo"), slot(b"foo"));
    }
}
