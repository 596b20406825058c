//! Storage of opaque secrets and access tokens.
//!
//! Two implementations with identical behaviour: [`redis::RedisStore`] and
//! [`memory::MemoryStore`]. A stored secret is one value: a small binary header (format version,
//! payload kind, restrictions length, truncated creator-token hash), the restrictions as JSON,
//! then the payload exactly as uploaded. Keeping it in one value keeps the per-secret overhead in
//! Redis small and lets the restrictions be read without moving the payload.

pub mod clock;
pub mod counted;
pub mod memory;
pub mod redis;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::id::SecretId;
pub use crate::restrictions::PresentedLock;
use crate::restrictions::Restrictions;
pub use crate::tokens::UserType;

pub use clock::{Clock, ManualClock, SystemClock};
pub use memory::MemoryStore;
pub use redis::RedisStore;

pub use crate::tokens::{TokenHash, CREATOR_HASH_LEN};
pub use codec::{HEADER_LEN, TOMBSTONE_LEN};

/// A failure of the store, never a refusal: what a store refuses (an upload at another offset or
/// over its limit, an unknown upload, a wrong creator, a budget without room, too many open
/// uploads) is a typed value its operation returns (`Appended`, `Finished`, `UploadState`,
/// `Opened`, `Reserved`), for the domain to answer with its own status. Each of these is 503 to
/// a client, except `Full` (507).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or failed the command.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend refused our credentials (wrong password, no permission): retrying cannot
    /// help, so startup stops at once.
    #[error("the store rejected the credentials in --redis-dsn: {0}")]
    CredentialsRejected(String),
    #[error("store timed out")]
    Timeout,
    /// The store refused a write for lack of memory (Redis `OOM`).
    #[error("store is full")]
    Full,
    #[error("corrupt record: {0}")]
    Corrupt(&'static str),
    /// What the store held vanished while an operation relied on it (evicted, expired, lost
    /// in a failover): a failure of the store, not a refusal of the caller.
    #[error("store lost data: {0}")]
    Lost(&'static str),
}

impl StoreError {
    /// Whether waiting cannot help (startup stops rather than retry).
    pub fn is_permanent(&self) -> bool {
        matches!(self, StoreError::CredentialsRejected(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayloadKind {
    /// Uploaded as JSON; the standard base64 text is kept and returned as is.
    Base64Text,
    /// Uploaded as a raw body; returned as raw bytes.
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneReason {
    Read,
    Revoked,
    /// Too many wrong passphrases.
    Destroyed,
}

impl GoneReason {
    fn tag(self) -> u8 {
        match self {
            GoneReason::Read => b'r',
            GoneReason::Revoked => b'x',
            GoneReason::Destroyed => b'd',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub reason: GoneReason,
    /// Unix seconds.
    pub at: u64,
    pub creator_hash: [u8; CREATOR_HASH_LEN],
    /// The secret's read lock (`Restrictions::read_lock`), if it had one.
    pub read_lock: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SecretMeta {
    pub kind: PayloadKind,
    pub creator_hash: [u8; CREATOR_HASH_LEN],
    pub restrictions: Restrictions,
    /// Unix milliseconds.
    pub expires_at_ms: u64,
}

#[derive(Debug)]
pub enum Peek {
    Missing,
    Live(SecretMeta),
    Gone(Tombstone),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeMode {
    /// A reader: consume only if the secret has no restrictions, else return its metadata. Saves
    /// the common unrestricted read a round trip.
    ReadIfUnrestricted,
    /// A reader with a read token: consume also if the read lock is the secret's only
    /// restriction and this opens it, else as [`TakeMode::ReadIfUnrestricted`]. Every secret
    /// our clients store has a read lock, so this is the common read, in one round trip.
    ReadIfOpenedBy(PresentedLock),
    /// A reader whose restrictions and passphrase were checked.
    Read,
    /// The creator deleting it; the payload is not returned.
    Revoke,
}

impl TakeMode {
    fn reason(self) -> GoneReason {
        match self {
            TakeMode::ReadIfUnrestricted | TakeMode::ReadIfOpenedBy(_) | TakeMode::Read => {
                GoneReason::Read
            }
            TakeMode::Revoke => GoneReason::Revoked,
        }
    }
}

#[derive(Debug)]
pub enum Taken {
    Missing,
    /// `data` is empty for [`TakeMode::Revoke`]. The secret's reservation and statistics entry
    /// went with it; `age` is how long ago it was stored, if the statistics had noted it.
    Data {
        kind: PayloadKind,
        data: Bytes,
        age: Option<Duration>,
    },
    Gone(Tombstone),
    /// Only for [`TakeMode::ReadIfUnrestricted`] and [`TakeMode::ReadIfOpenedBy`]: nothing
    /// was consumed.
    Restricted(SecretMeta),
}

#[derive(Debug, Clone)]
pub struct NewSecret {
    pub id: SecretId,
    pub kind: PayloadKind,
    pub creator_hash: [u8; CREATOR_HASH_LEN],
    pub restrictions: Restrictions,
    pub data: Bytes,
    pub ttl: Duration,
}

/// A user token as stored: metadata only, the token itself exists only as the hash key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub upload_size_limit: u64,
    pub one_time: bool,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    /// Bytes this token may hold stored at once; `None` takes `--max-stored-bytes-per-token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stored_bytes: Option<u64>,
}

impl TokenRecord {
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

/// What a multi-request upload needs to remember between its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    /// The finished secret's lifetime, counted from `upload_finish`.
    pub ttl: Duration,
    /// Most payload bytes the uploader may send in total.
    pub limit: u64,
    /// Who opened it (for the created event at `upload_finish`).
    pub user_type: UserType,
    /// Unix ms after which the upload is discarded however active it is (`--upload-deadline`).
    pub deadline_ms: u64,
    /// Whose open uploads it counts against.
    pub owner: UploadOwner,
}

/// Who opened an upload, for the cap on open uploads: a hash of the user token, or of the
/// client address (an IPv6 address by its /64, which one client usually holds whole). A hash,
/// so neither a token nor an address is written into the store for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadOwner(String);

impl UploadOwner {
    pub fn token(hash: &TokenHash) -> UploadOwner {
        UploadOwner::named(b"token", hash)
    }

    pub fn address(ip: std::net::IpAddr) -> UploadOwner {
        match ip.to_canonical() {
            std::net::IpAddr::V4(v4) => UploadOwner::named(b"ipv4", &v4.octets()),
            std::net::IpAddr::V6(v6) => UploadOwner::named(b"ipv6/64", &v6.octets()[..8]),
        }
    }

    fn named(kind: &[u8], value: &[u8]) -> UploadOwner {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"hakanai upload owner\0")
            .chain_update(kind)
            .chain_update(b"\0")
            .chain_update(value)
            .finalize();
        UploadOwner(hex::encode(&digest[..16]))
    }

    /// 32 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The result of [`UploadStore::upload_open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    Opened,
    /// The owner has the most open uploads allowed; the first of them ends within this.
    TooMany {
        retry_after: Duration,
    },
}

/// The result of [`UploadStore::upload_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    /// Payload bytes stored so far, and the most the upload may hold.
    Open {
        offset: u64,
        limit: u64,
    },
    Missing,
    Forbidden,
}

/// The result of [`UploadStore::upload_append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The payload now has this many bytes.
    At(u64),
    /// The upload holds this many bytes, not the offset the chunk was meant for (a retried or
    /// lost chunk); nothing was changed.
    OffsetMismatch(u64),
    /// The chunk would pass the session's limit (given); the whole upload was discarded.
    TooLarge(u64),
    /// No such upload: never opened, finished, abandoned or idle too long.
    Missing,
    /// The creator hash does not match.
    Forbidden,
}

/// The result of [`UploadStore::upload_finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    Published(Published),
    Missing,
    Forbidden,
}

/// What a finished upload became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub ttl: Duration,
    /// Payload bytes.
    pub size: u64,
    pub user_type: UserType,
}

/// How a session's user type is written into the Redis session value.
impl UserType {
    pub(crate) fn tag(self) -> &'static str {
        match self {
            UserType::Anonymous => "a",
            UserType::Authenticated => "t",
            UserType::Whitelisted => "w",
        }
    }

    /// Sessions opened before the tag existed count as anonymous.
    pub(crate) fn from_tag(tag: &str) -> UserType {
        match tag {
            "t" => UserType::Authenticated,
            "w" => UserType::Whitelisted,
            _ => UserType::Anonymous,
        }
    }
}

/// How long a multi-request upload may sit between two requests before it is discarded.
pub const UPLOAD_IDLE: Duration = Duration::from_secs(10 * 60);

/// `max_open` for an upload that takes no place among its owner's open ones: a single-request
/// upload, which ends with its request (no owner may have this many open anyway).
pub const UNCAPPED: u32 = u32::MAX;

/// The most payload bytes a single-request upload holds before writing them to the store;
/// a body that ends before this is stored in one step (`UploadStore::upload_whole`). On Redis,
/// a JSON create larger than this is reserved before it is stored (`Store::create`).
pub const UPLOAD_PIECE: usize = 256 * 1024;

/// A claim on stored bytes (`BudgetStore::budget_reserve`): `bytes` held by `owner` for secret
/// `id` until `expires_at_ms` (then it frees itself, with no sweeper), unless released earlier.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub id: SecretId,
    /// `None`: counted in the global budget only (clients in `--trusted-ip-ranges`).
    pub owner: Option<UploadOwner>,
    pub bytes: u64,
    pub expires_at_ms: u64,
    /// Most bytes all reservations may hold together; `None` for no global budget.
    pub global_limit: Option<u64>,
    /// Most bytes the owner's reservations may hold together; `None` for no budget.
    pub owner_limit: Option<u64>,
    /// Settles an upload: the id's reservation keeps its owner (`owner` is ignored) and takes
    /// these bytes and expiry, without a check (it held at least as much since it opened).
    pub settle: bool,
}

/// The result of [`BudgetStore::budget_reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    Reserved,
    /// The global budget has no room for the bytes.
    StoreFull,
    /// The owner's budget has no room; its earliest reservation ends within `retry_after`
    /// (`None` when the bytes alone are over its budget, so no wait helps).
    OwnerFull {
        retry_after: Option<Duration>,
    },
}

/// What a store says about its own room, read at startup for the default global budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreCapacity {
    /// Bytes the store can hold, where that number comes from, and a warning to log about how
    /// the store is configured.
    Bytes {
        bytes: u64,
        source: String,
        warning: Option<String>,
    },
    /// Unknown (Redis without `maxmemory`, or with `CONFIG` refused), and why.
    Unknown(String),
}

/// What a store took over from Hakanai v3 at startup (see `store/redis/hakanai_v3.rs`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HakanaiV3Import {
    pub secrets: usize,
    pub tokens: usize,
    pub admin_token: bool,
}

/// Secrets: stored whole, read without consuming, consumed exactly once.
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    async fn put(&self, secret: NewSecret) -> Result<(), StoreError>;
    /// Reads the metadata without consuming anything.
    async fn peek(&self, id: &SecretId) -> Result<Peek, StoreError>;
    /// Atomically removes the secret and leaves a tombstone until its original expiry; exactly
    /// one caller ever receives `Taken::Data` for a secret. Its storage budget reservation is
    /// released and its statistics entry removed with it (in the same Redis script on a node or
    /// Sentinel master); those two are a best effort that never fails the take.
    async fn take(&self, id: &SecretId, mode: TakeMode) -> Result<Taken, StoreError>;
    /// Counts a wrong passphrase; at `max` the secret is destroyed. `None` if it no longer exists.
    async fn fail_attempt(&self, id: &SecretId, max: u32) -> Result<Option<u32>, StoreError>;
}

/// Uploads: a secret's record built in the store, invisible to readers until it is published.
/// The one way a payload that arrives in pieces gets into the store, whether the pieces are
/// the requests of a multi-request upload or the body of one request (`domain/uploads.rs`).
#[async_trait]
pub trait UploadStore: Send + Sync + 'static {
    /// Opens an upload of `secret`, whose `data` are the payload's first bytes (none for a
    /// multi-request upload), unless its owner has `max_open` uploads open already
    /// (atomically, across replicas); with [`UNCAPPED`] the upload takes no place among its
    /// owner's open ones. Nothing is visible to readers until `upload_finish`; an upload idle
    /// for [`UPLOAD_IDLE`], or past its deadline, disappears and stops counting as open.
    async fn upload_open(
        &self,
        secret: NewSecret,
        session: UploadSession,
        max_open: u32,
    ) -> Result<Opened, StoreError>;
    /// Where an upload stands, without changing it: checked before a chunk's body is read.
    async fn upload_state(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
    ) -> Result<UploadState, StoreError>;
    /// Drops an upload (a chunk over its limit, a one-time token already spent).
    async fn upload_discard(&self, id: &SecretId) -> Result<(), StoreError>;
    /// Appends `chunk` if the payload so far is exactly `offset` bytes long, atomically, so a
    /// chunk sent twice (a client retry) is never stored twice.
    async fn upload_append(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
        offset: u64,
        chunk: Bytes,
    ) -> Result<Appended, StoreError>;
    /// Publishes the upload as a readable secret with the session's TTL.
    async fn upload_finish(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
    ) -> Result<Finished, StoreError>;
    /// `upload_open` of a payload that arrived whole (in `secret.data`), not counted among its
    /// owner's open uploads, then `upload_finish`: the same two operations, which Redis runs in
    /// one round trip where it can.
    async fn upload_whole(
        &self,
        secret: NewSecret,
        session: UploadSession,
    ) -> Result<Finished, StoreError> {
        let (id, creator_hash) = (secret.id, secret.creator_hash);
        match self.upload_open(secret, session, UNCAPPED).await? {
            Opened::Opened => self.upload_finish(&id, &creator_hash).await,
            Opened::TooMany { .. } => Err(StoreError::Lost("an uncapped upload was refused")),
        }
    }
}

/// User tokens (by their hash) and the admin token's hash.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    async fn token_get(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError>;
    async fn token_put(&self, hash: &TokenHash, record: &TokenRecord) -> Result<(), StoreError>;
    /// Removes a token; true for exactly one of any number of concurrent callers.
    async fn token_take(&self, hash: &TokenHash) -> Result<bool, StoreError>;
    async fn token_list(&self) -> Result<Vec<TokenRecord>, StoreError>;
    async fn token_delete_by_id(&self, id: &str) -> Result<bool, StoreError>;
    async fn token_clear(&self) -> Result<(), StoreError>;
    async fn admin_hash_get(&self) -> Result<Option<TokenHash>, StoreError>;
    async fn admin_hash_set(&self, hash: &TokenHash) -> Result<(), StoreError>;
}

/// Storage budgets: bytes reserved per secret, checked atomically against a global and a
/// per-owner budget (across replicas on Redis). A reservation ends when released or at its
/// expiry, whichever is first.
#[async_trait]
pub trait BudgetStore: Send + Sync + 'static {
    /// Reserves `r.bytes` for `r.id` if both budgets have room, replacing an earlier
    /// reservation of the same id (whose bytes do not count against the new one).
    async fn budget_reserve(&self, r: &Reservation) -> Result<Reserved, StoreError>;
    /// Ends the reservation of `id`, if any.
    async fn budget_release(&self, id: &SecretId) -> Result<(), StoreError>;
    /// Bytes held by all reservations, and by `owner`'s.
    async fn budget_used(&self, owner: Option<&UploadOwner>) -> Result<(u64, u64), StoreError>;
    /// The store's room, for the default of `--max-stored-bytes`.
    async fn capacity(&self) -> StoreCapacity;
}

/// Statistics for Hakanai v3's gauges, kept as secrets come and go (never by scanning keys).
#[async_trait]
pub trait StatsStore: Send + Sync + 'static {
    /// Notes a secret just stored with this TTL.
    async fn stats_add(&self, id: &SecretId, ttl: Duration) -> Result<(), StoreError>;
    /// Forgets a secret that was read, revoked or destroyed; its age if it was noted.
    async fn stats_remove(&self, id: &SecretId) -> Result<Option<Duration>, StoreError>;
    /// Counts noted secrets whose time is up as expired; returns the live and expired counts.
    async fn stats_counts(&self) -> Result<SecretCounts, StoreError>;
}

/// The whole store, as the server holds it: every concern, and what spans them.
#[async_trait]
pub trait Store: SecretStore + UploadStore + TokenStore + BudgetStore + StatsStore {
    /// Takes over what Hakanai v3 left in the same database; nothing for stores it never used.
    async fn import_hakanai_v3(&self) -> Result<HakanaiV3Import, StoreError> {
        Ok(HakanaiV3Import::default())
    }
    async fn ping(&self) -> Result<(), StoreError>;
    /// Reserves `r` for `secret` and, if reserved, stores the secret and notes it in the
    /// statistics: a whole create. On a Redis node or Sentinel master that is one round trip
    /// (the secret's `SET`, then a script that reserves and notes it, or deletes it if refused);
    /// elsewhere the steps of [`create_in_steps`].
    async fn create(&self, secret: NewSecret, r: &Reservation) -> Result<Reserved, StoreError> {
        create_in_steps(self, secret, r).await
    }
}

/// [`Store::create`] as separate store calls: the reservation, then [`put_reserved`].
pub async fn create_in_steps<S: SecretStore + BudgetStore + StatsStore + ?Sized>(
    store: &S,
    secret: NewSecret,
    r: &Reservation,
) -> Result<Reserved, StoreError> {
    let reserved = store.budget_reserve(r).await?;
    if reserved == Reserved::Reserved {
        put_reserved(store, secret).await?;
    }
    Ok(reserved)
}

/// Stores a secret whose bytes are reserved, and its statistics entry beside it (on Redis,
/// their commands share a write); a secret that could not be stored gives both back. The
/// statistics never fail a create: they are a best effort, corrected as secrets expire.
pub async fn put_reserved<S: SecretStore + BudgetStore + StatsStore + ?Sized>(
    store: &S,
    secret: NewSecret,
) -> Result<(), StoreError> {
    let (id, ttl) = (secret.id, secret.ttl);
    let (stored, noted) = tokio::join!(store.put(secret), store.stats_add(&id, ttl));
    if let Err(e) = stored {
        if noted.is_ok() {
            let _ = store.stats_remove(&id).await;
        }
        if let Err(e) = store.budget_release(&id).await {
            tracing::warn!(error = %e, "storage budget not released");
        }
        return Err(e);
    }
    if let Err(e) = noted {
        tracing::debug!(error = %e, "secret statistics not updated");
    }
    Ok(())
}

/// Secrets noted by `stats_add` and not yet removed, and those that expired unread.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SecretCounts {
    pub active: u64,
    pub expired: u64,
}

/// How a noted secret's expiry and TTL share one sortable number (a Redis sorted-set score, a
/// `f64` exact to 2^53): seconds since [`STATS_EPOCH`] of the expiry, shifted left by
/// [`STATS_TTL_BITS`], plus the TTL in seconds (capped; TTLs beyond ~48 days report a shorter
/// lifetime); exact until 2091. Ordered by expiry, so expired ones are one range; the creation time is
/// `expiry - ttl`, so a read knows the secret's age without anything stored in the secret.
pub mod stats_score {
    pub const STATS_EPOCH: u64 = 1_700_000_000;
    pub const STATS_TTL_BITS: u32 = 22;

    pub fn encode(expires_at: u64, ttl: u64) -> u64 {
        let ttl = ttl.min((1 << STATS_TTL_BITS) - 1);
        (expires_at.saturating_sub(STATS_EPOCH) << STATS_TTL_BITS) | ttl
    }

    /// Everything below this expired before `now`.
    pub fn expired_below(now: u64) -> u64 {
        now.saturating_sub(STATS_EPOCH) << STATS_TTL_BITS
    }

    /// The age at `now` of the secret with this score.
    pub fn age(score: u64, now: u64) -> u64 {
        let ttl = score & ((1 << STATS_TTL_BITS) - 1);
        let expires_at = (score >> STATS_TTL_BITS) + STATS_EPOCH;
        now.saturating_sub(expires_at.saturating_sub(ttl))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn scores_order_by_expiry_and_give_the_age() {
            let now = 1_800_000_000;
            let a = encode(now + 60, 3600);
            let b = encode(now + 61, 1);
            assert!(a < b);
            assert_eq!(age(a, now), 3540);
            assert_eq!(age(b, now), 0);
            assert!(encode(now - 1, 10) < expired_below(now));
            assert!(encode(now, 10) >= expired_below(now));
            // Exact as an f64, as Redis keeps scores, for 2^31 s (68 years) after the epoch.
            let far = encode(STATS_EPOCH + (1 << 31) - 1, (1 << STATS_TTL_BITS) - 1);
            assert_eq!(far as f64 as u64, far);
        }
    }
}

#[cfg(test)]
mod tombstone_tests {
    use super::*;

    #[test]
    fn a_tombstone_keeps_the_read_lock() {
        let mut t = codec::tombstone_prefix(GoneReason::Read, 7);
        t.extend_from_slice(&[3; CREATOR_HASH_LEN]);
        let plain = codec::decode_tombstone(&t).unwrap();
        assert_eq!(plain.read_lock, None);
        let lock = "0f".repeat(32);
        t.extend_from_slice(lock.as_bytes());
        let locked = codec::decode_tombstone(&t).unwrap();
        assert_eq!(locked.read_lock, Some(lock));
        assert_eq!((locked.at, locked.creator_hash), (7, [3; CREATOR_HASH_LEN]));
        t.pop();
        assert!(codec::decode_tombstone(&t).is_err());
    }
}

#[cfg(test)]
mod owner_tests {
    use super::UploadOwner;

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_is_itself() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let owner = UploadOwner::address;
        assert_eq!(
            owner(ip("2001:db8:1:2::1")),
            owner(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(owner(ip("2001:db8:1:2::1")), owner(ip("2001:db8:1:3::1")));
        assert_eq!(owner(ip("::ffff:192.0.2.7")), owner(ip("192.0.2.7")));
        assert_ne!(owner(ip("192.0.2.7")), owner(ip("192.0.2.8")));
        // A token and an address never share a name, whatever their bytes.
        assert_ne!(UploadOwner::token(&[0; 32]), owner(ip("0.0.0.0")));
        assert_eq!(owner(ip("192.0.2.7")).as_str().len(), 32);
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The one definition of a stored secret's record and of its tombstone: the offsets below are
/// what the Rust code reads and writes, and what the Redis store's Lua scripts are generated
/// with (`redis.rs`, `record_lua`).
pub(crate) mod codec {
    use super::*;

    /// Record: format version (1 byte), payload kind (1), restrictions length (u32 big-endian),
    /// creator hash; then the restrictions (JSON, absent when empty) and the payload.
    pub const FORMAT_VERSION: u8 = 1;
    pub const VERSION_AT: usize = 0;
    pub const KIND_AT: usize = 1;
    pub const RESTRICTIONS_LEN_AT: usize = 2;
    pub const CREATOR_AT: usize = RESTRICTIONS_LEN_AT + 4;
    pub const HEADER_LEN: usize = CREATOR_AT + CREATOR_HASH_LEN;

    /// Tombstone: reason tag (1 byte), time (u64 big-endian Unix seconds), the creator hash copied
    /// from the record's header; then, for a secret stored with a read lock, the lock (64 hex
    /// characters), so "already read" is told only to a reader with the read token.
    pub const TOMBSTONE_REASON_AT: usize = 0;
    pub const TOMBSTONE_AT_AT: usize = 1;
    pub const TOMBSTONE_CREATOR_AT: usize = TOMBSTONE_AT_AT + 8;
    pub const TOMBSTONE_LEN: usize = TOMBSTONE_CREATOR_AT + CREATOR_HASH_LEN;
    const READ_LOCK_HEX_LEN: usize = 64;

    pub fn encode_secret(s: &NewSecret) -> Vec<u8> {
        let mut out = encode_header(s, s.data.len());
        out.extend_from_slice(&s.data);
        out
    }

    /// Header and restrictions, with room reserved for `extra` payload bytes.
    pub fn encode_header(s: &NewSecret, extra: usize) -> Vec<u8> {
        let restrictions = if s.restrictions.is_empty() {
            Vec::new()
        } else {
            serde_json::to_vec(&s.restrictions).expect("restrictions serialize")
        };
        let mut out = vec![0; HEADER_LEN];
        out.reserve(restrictions.len() + extra);
        out[VERSION_AT] = FORMAT_VERSION;
        out[KIND_AT] = match s.kind {
            PayloadKind::Base64Text => 0,
            PayloadKind::Raw => 1,
        };
        out[RESTRICTIONS_LEN_AT..CREATOR_AT]
            .copy_from_slice(&(restrictions.len() as u32).to_be_bytes());
        out[CREATOR_AT..HEADER_LEN].copy_from_slice(&s.creator_hash);
        out.extend_from_slice(&restrictions);
        out
    }

    /// Length of header plus restrictions, read from the first `HEADER_LEN` bytes.
    pub fn meta_len(header: &[u8]) -> Result<usize, StoreError> {
        if header.len() < HEADER_LEN || header[VERSION_AT] != FORMAT_VERSION {
            return Err(StoreError::Corrupt("secret header"));
        }
        let mut n = [0; 4];
        n.copy_from_slice(&header[RESTRICTIONS_LEN_AT..CREATOR_AT]);
        Ok(HEADER_LEN + u32::from_be_bytes(n) as usize)
    }

    pub fn decode_meta(buf: &[u8], expires_at_ms: u64) -> Result<SecretMeta, StoreError> {
        let end = meta_len(buf)?;
        if buf.len() < end {
            return Err(StoreError::Corrupt("secret header"));
        }
        let kind = kind_of(buf)?;
        let mut creator_hash = [0u8; CREATOR_HASH_LEN];
        creator_hash.copy_from_slice(creator_hash_of(buf));
        let restrictions = if end == HEADER_LEN {
            Restrictions::default()
        } else {
            serde_json::from_slice(&buf[HEADER_LEN..end])
                .map_err(|_| StoreError::Corrupt("restrictions"))?
        };
        Ok(SecretMeta {
            kind,
            creator_hash,
            restrictions,
            expires_at_ms,
        })
    }

    pub fn decode_payload(blob: Bytes) -> Result<(PayloadKind, Bytes), StoreError> {
        let end = meta_len(&blob)?;
        let kind = kind_of(&blob)?;
        if blob.len() < end {
            return Err(StoreError::Corrupt("secret length"));
        }
        Ok((kind, blob.slice(end..)))
    }

    /// The tombstone prefix: reason and time; the store appends the creator hash from the header.
    pub fn tombstone_prefix(reason: GoneReason, at: u64) -> Vec<u8> {
        let mut out = vec![0; TOMBSTONE_CREATOR_AT];
        out[TOMBSTONE_REASON_AT] = reason.tag();
        out[TOMBSTONE_AT_AT..TOMBSTONE_CREATOR_AT].copy_from_slice(&at.to_be_bytes());
        out
    }

    /// The creator hash of a record whose header `meta_len` accepted.
    pub fn creator_hash_of(blob: &[u8]) -> &[u8] {
        &blob[CREATOR_AT..HEADER_LEN]
    }

    fn kind_of(header: &[u8]) -> Result<PayloadKind, StoreError> {
        match header[KIND_AT] {
            0 => Ok(PayloadKind::Base64Text),
            1 => Ok(PayloadKind::Raw),
            _ => Err(StoreError::Corrupt("payload kind")),
        }
    }

    /// The read lock of a stored secret, for its tombstone.
    pub fn read_lock_of(blob: &[u8]) -> Result<Option<String>, StoreError> {
        Ok(decode_meta(blob, 0)?.restrictions.read_lock)
    }

    pub fn decode_tombstone(buf: &[u8]) -> Result<Tombstone, StoreError> {
        let read_lock = match buf.len() {
            TOMBSTONE_LEN => None,
            n if n == TOMBSTONE_LEN + READ_LOCK_HEX_LEN => {
                let lock = std::str::from_utf8(&buf[TOMBSTONE_LEN..])
                    .ok()
                    .filter(|l| l.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or(StoreError::Corrupt("tombstone"))?;
                Some(lock.to_owned())
            }
            _ => return Err(StoreError::Corrupt("tombstone")),
        };
        let buf = &buf[..TOMBSTONE_LEN];
        let reason = match buf[TOMBSTONE_REASON_AT] {
            b'r' => GoneReason::Read,
            b'x' => GoneReason::Revoked,
            b'd' => GoneReason::Destroyed,
            _ => return Err(StoreError::Corrupt("tombstone")),
        };
        let mut at = [0u8; 8];
        at.copy_from_slice(&buf[TOMBSTONE_AT_AT..TOMBSTONE_CREATOR_AT]);
        let mut creator_hash = [0u8; CREATOR_HASH_LEN];
        creator_hash.copy_from_slice(&buf[TOMBSTONE_CREATOR_AT..]);
        Ok(Tombstone {
            reason,
            at: u64::from_be_bytes(at),
            creator_hash,
            read_lock,
        })
    }
}
