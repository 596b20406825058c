//! A store with a clock the case moves: the embedded store, or a `RedisStore` on a
//! `redis-server` of its own.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hakanai_server::id::SecretId;
use hakanai_server::restrictions::Restrictions;
use hakanai_server::store::redis::dsn;
use hakanai_server::store::{
    Clock, GoneReason, ManualClock, MemoryStore, NewSecret, PayloadKind, RedisStore, Reservation,
    Reserved, Store, Tombstone, UploadOwner, CREATOR_HASH_LEN,
};
use hakanai_test_support::{RedisServer, Reply, RespConnection};

/// Shortens every key's expiry by ARGV[1] ms, deleting the keys whose time is up: what the
/// clock's advance means to Redis, which counts expiries down on its own clock.
const ADVANCE_LUA: &str = r#"
local d = tonumber(ARGV[1])
for _, k in ipairs(redis.call('KEYS', '*')) do
  local t = redis.call('PTTL', k)
  if t > 0 then
    if t <= d then redis.call('DEL', k) else redis.call('PEXPIRE', k, t - d) end
  end
end
return 1
"#;

pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub clock: ManualClock,
    redis: Option<RedisServer>,
}

impl Fixture {
    pub fn memory() -> Fixture {
        let clock = ManualClock::new();
        Fixture {
            store: Arc::new(MemoryStore::with_clock(Arc::new(clock.clone()))),
            clock,
            redis: None,
        }
    }

    pub fn redis() -> Fixture {
        let redis = RedisServer::start();
        let target = dsn::parse(&redis.dsn()).expect("the test DSN parses");
        let clock = ManualClock::new();
        let store = RedisStore::new(&target, None, Duration::from_secs(5))
            .expect("a Redis store")
            .with_clock(Arc::new(clock.clone()));
        Fixture {
            store: Arc::new(store),
            clock,
            redis: Some(redis),
        }
    }

    /// Moves time forward by `d`: the store's clock, and on Redis every key's expiry.
    pub fn advance(&self, d: Duration) {
        if let Some(redis) = &self.redis {
            let ms = d.as_millis().to_string();
            let reply = RespConnection::connect(redis.port)
                .and_then(|mut c| c.command(&["EVAL", ADVANCE_LUA, "0", &ms]))
                .expect("Redis answers");
            assert_eq!(reply, Reply::Int(1), "advancing Redis's expiries");
        }
        self.clock.advance(d);
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub fn now_secs(&self) -> u64 {
        self.clock.now_secs()
    }
}

pub const CREATOR: [u8; CREATOR_HASH_LEN] = [7; CREATOR_HASH_LEN];

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A secret of `data` with `ttl`, by [`CREATOR`].
pub fn secret(data: &'static [u8], ttl: Duration) -> NewSecret {
    NewSecret {
        id: SecretId::random(),
        kind: PayloadKind::Base64Text,
        creator_hash: CREATOR,
        restrictions: Restrictions::default(),
        data: Bytes::from_static(data),
        ttl,
    }
}

/// Restrictions with a passphrase and a read lock, as current clients store them.
pub fn locked() -> Restrictions {
    Restrictions {
        passphrase_hash: Some("ab".repeat(32)),
        read_lock: Some("0f".repeat(32)),
        ..Restrictions::default()
    }
}

/// The tombstone of a secret by [`CREATOR`] with [`locked`] restrictions, gone at `at`.
pub fn locked_tombstone(reason: GoneReason, at: u64) -> Tombstone {
    Tombstone {
        reason,
        at,
        creator_hash: CREATOR,
        read_lock: locked().read_lock,
    }
}

/// The uploader (an address) numbered `n`.
pub fn owner(n: u8) -> UploadOwner {
    UploadOwner::address(std::net::Ipv4Addr::new(192, 0, 2, n).into())
}

/// Creates `s` as the API does (`Store::create`), its bytes reserved by `owner(1)` until it
/// expires; its id.
pub async fn create(f: &Fixture, s: NewSecret) -> SecretId {
    let (id, bytes, ttl) = (s.id, s.data.len() as u64, s.ttl);
    let r = reservation(f, id, &owner(1), bytes, ttl);
    assert_eq!(f.store.create(s, &r).await.unwrap(), Reserved::Reserved);
    id
}

/// The bytes `owner(1)` holds reserved, and how many secrets the statistics count as live.
pub async fn held(f: &Fixture) -> (u64, u64) {
    let (_, mine) = f.store.budget_used(Some(&owner(1))).await.unwrap();
    (mine, f.store.stats_counts().await.unwrap().active)
}

/// `bytes` for `id` by `owner` for `ttl` from now; 1000 bytes in all, 600 per owner.
pub fn reservation(
    f: &Fixture,
    id: SecretId,
    owner: &UploadOwner,
    bytes: u64,
    ttl: Duration,
) -> Reservation {
    Reservation {
        id,
        owner: Some(owner.clone()),
        bytes,
        expires_at_ms: f.now_ms() + ttl.as_millis() as u64,
        global_limit: Some(1000),
        owner_limit: Some(600),
        settle: false,
    }
}
