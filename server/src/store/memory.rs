//! The embedded store: everything lives in this process and is gone on restart.
//!
//! It mirrors the Redis store's semantics under one mutex; operations are short and never await
//! while holding it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use subtle::ConstantTimeEq;

use super::codec;
use super::*;

const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

enum Slot {
    Live { blob: Bytes, attempts: u32 },
    Gone(Tombstone),
}

struct Entry {
    slot: Slot,
    expires_at: Instant,
    expires_at_ms: u64,
}

/// Why an upload request finds no upload it may touch.
enum Refused {
    Missing,
    Forbidden,
}

/// A multi-request upload: the record being built (header, restrictions, payload so far).
struct Pending {
    record: bytes::BytesMut,
    meta_len: usize,
    creator_hash: [u8; CREATOR_HASH_LEN],
    session: UploadSession,
    /// Counts among its owner's open uploads (not one opened [`UNCAPPED`]).
    counted: bool,
    /// Unix ms: the upload ends when idle this long, or at its deadline, whichever comes first.
    ends_ms: u64,
}

impl Pending {
    fn is_open(&self, now_ms: u64) -> bool {
        self.ends_ms > now_ms
    }

    /// Another request came: idle from now on, but never past the deadline.
    fn touch(&mut self, now_ms: u64) {
        self.ends_ms = upload_ends_ms(now_ms, self.session.deadline_ms);
    }
}

/// When an upload touched at `now_ms` ends: after [`UPLOAD_IDLE`], or at its deadline.
pub(crate) fn upload_ends_ms(now_ms: u64, deadline_ms: u64) -> u64 {
    (now_ms + UPLOAD_IDLE.as_millis() as u64).min(deadline_ms)
}

#[derive(Default)]
struct Inner {
    // B-trees for what grows with every stored secret: a hash map doubles and rehashes all of
    // it at once under this one lock, which stalled every request for 100 ms and more at a few
    // hundred thousand secrets (create p99 165–294 ms in BENCHMARKS.md); a B-tree grows a node
    // at a time.
    secrets: BTreeMap<SecretId, Entry>,
    uploads: HashMap<SecretId, Pending>,
    tokens: HashMap<TokenHash, TokenRecord>,
    admin: Option<TokenHash>,
    stats: Stats,
    budget: Budget,
}

/// The storage budgets' reservations, as the Redis store keeps them (`BUDGET_RESERVE`).
#[derive(Default)]
struct Budget {
    /// id → (bytes, owner, expiry in Unix ms).
    entries: BTreeMap<SecretId, (u64, Option<UploadOwner>, u64)>,
    by_expiry: BTreeSet<(u64, SecretId)>,
    total: u64,
    /// Per owner: bytes held and its reservations by expiry.
    owners: HashMap<UploadOwner, (u64, BTreeSet<(u64, SecretId)>)>,
}

impl Budget {
    fn release(&mut self, id: &SecretId) {
        let Some((bytes, owner, expires)) = self.entries.remove(id) else {
            return;
        };
        self.by_expiry.remove(&(expires, *id));
        self.total = self.total.saturating_sub(bytes);
        if let Some(owner) = owner {
            if let Some((held, set)) = self.owners.get_mut(&owner) {
                *held = held.saturating_sub(bytes);
                set.remove(&(expires, *id));
                if set.is_empty() {
                    self.owners.remove(&owner);
                }
            }
        }
    }

    /// Expired reservations free their bytes.
    fn prune(&mut self, now_ms: u64) {
        while let Some(&(expires, id)) = self.by_expiry.first() {
            if expires > now_ms {
                break;
            }
            self.release(&id);
        }
    }

    fn reserve(&mut self, r: &Reservation, now_ms: u64) -> Reserved {
        self.prune(now_ms);
        // A reservation being replaced (settled) does not count against itself.
        let (old, old_owner) = match self.entries.get(&r.id) {
            Some((bytes, owner, _)) => (*bytes, owner.clone()),
            None => (0, None),
        };
        // The owner's budget first: over both, its 429 says when to retry.
        if let (false, Some(owner), Some(limit)) = (r.settle, &r.owner, r.owner_limit) {
            let (held, set) = self
                .owners
                .get(owner)
                .map(|(h, s)| (*h, Some(s)))
                .unwrap_or((0, None));
            let mine = if old_owner.as_ref() == Some(owner) {
                old
            } else {
                0
            };
            // Alone over the budget: no wait makes room.
            if r.bytes > limit {
                return Reserved::OwnerFull { retry_after: None };
            }
            if held.saturating_sub(mine).saturating_add(r.bytes) > limit {
                let first = set
                    .and_then(|s| s.iter().find(|(_, id)| *id != r.id))
                    .map(|(e, _)| Duration::from_millis(e.saturating_sub(now_ms)));
                return Reserved::OwnerFull { retry_after: first };
            }
        }
        if let (false, Some(limit)) = (r.settle, r.global_limit) {
            if self.total.saturating_sub(old).saturating_add(r.bytes) > limit {
                return Reserved::StoreFull;
            }
        }
        // An owner without a budget of its own is counted in the global budget only.
        let owner = if r.settle {
            old_owner
        } else {
            r.owner.clone().filter(|_| r.owner_limit.is_some())
        };
        self.release(&r.id);
        self.entries
            .insert(r.id, (r.bytes, owner.clone(), r.expires_at_ms));
        self.by_expiry.insert((r.expires_at_ms, r.id));
        self.total += r.bytes;
        if let Some(owner) = &owner {
            let (held, set) = self.owners.entry(owner.clone()).or_default();
            *held += r.bytes;
            set.insert((r.expires_at_ms, r.id));
        }
        Reserved::Reserved
    }
}

/// Half the memory this process may use: the cgroup's limit if it has one, else what the
/// kernel reports available (`MemAvailable`, else `MemTotal`). Read once, at startup.
pub fn machine_budget() -> Option<(u64, &'static str)> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let cgroup = read("/sys/fs/cgroup/memory.max")
        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        .and_then(|s| s.trim().parse::<u64>().ok())
        // cgroup v1 writes a huge number for "no limit".
        .filter(|n| *n < 1 << 60);
    if let Some(n) = cgroup {
        return Some((n / 2, "half the cgroup memory limit"));
    }
    let meminfo = read("/proc/meminfo")?;
    let field = |name: &str| {
        meminfo.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            let kib = rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
            Some(kib * 1024)
        })
    };
    if let Some(n) = field("MemAvailable") {
        return Some((n / 2, "half of MemAvailable"));
    }
    field("MemTotal").map(|n| (n / 2, "half of MemTotal"))
}

/// The statistics of `stats_*`, as the Redis store keeps them (a set ordered by score).
#[derive(Default)]
struct Stats {
    scores: BTreeMap<SecretId, u64>,
    by_score: BTreeSet<(u64, SecretId)>,
    expired: u64,
}

impl Stats {
    /// Forgets a noted secret; its age at `now` (Unix seconds).
    fn remove(&mut self, id: &SecretId, now: u64) -> Option<Duration> {
        let score = self.scores.remove(id)?;
        self.by_score.remove(&(score, *id));
        Some(Duration::from_secs(stats_score::age(score, now)))
    }
}

#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// Must be called inside a Tokio runtime: it starts a sweeper that drops expired entries.
    pub fn new() -> MemoryStore {
        MemoryStore::with_clock(super::clock::system())
    }

    /// A store that reads the time from `clock` (see [`MemoryStore::new`]).
    pub fn with_clock(clock: Arc<dyn Clock>) -> MemoryStore {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let weak: Weak<Mutex<Inner>> = Arc::downgrade(&inner);
        let sweeper_clock = clock.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let now = sweeper_clock.instant();
                let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
                g.secrets.retain(|_, e| e.expires_at > now);
                let ms = sweeper_clock.now_ms();
                g.uploads.retain(|_, u| u.is_open(ms));
                let secs = sweeper_clock.now_secs();
                g.tokens.retain(|_, t| !t.is_expired(secs));
            }
        });
        MemoryStore { inner, clock }
    }

    /// The open upload `id`, if its creator hash matches; expired ones are dropped here.
    fn pending<'a>(
        g: &'a mut Inner,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
        now_ms: u64,
    ) -> Result<&'a mut Pending, Refused> {
        if g.uploads.get(id).is_some_and(|u| !u.is_open(now_ms)) {
            g.uploads.remove(id);
        }
        match g.uploads.get_mut(id) {
            None => Err(Refused::Missing),
            Some(u) if !bool::from(u.creator_hash.ct_eq(creator_hash)) => Err(Refused::Forbidden),
            Some(u) => Ok(u),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the store down; the data is still consistent because
        // every mutation is a single map operation.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn live_entry<'a>(g: &'a mut Inner, id: &SecretId, now: Instant) -> Option<&'a mut Entry> {
    if g.secrets.get(id).is_some_and(|e| e.expires_at <= now) {
        g.secrets.remove(id);
    }
    g.secrets.get_mut(id)
}

fn creator_hash(blob: &[u8]) -> [u8; CREATOR_HASH_LEN] {
    let mut h = [0u8; CREATOR_HASH_LEN];
    h.copy_from_slice(codec::creator_hash_of(blob));
    h
}

#[async_trait]
impl SecretStore for MemoryStore {
    async fn put(&self, secret: NewSecret) -> Result<(), StoreError> {
        let blob = Bytes::from(codec::encode_secret(&secret));
        let entry = Entry {
            slot: Slot::Live { blob, attempts: 0 },
            expires_at: self.clock.instant() + secret.ttl,
            expires_at_ms: self.clock.now_ms() + secret.ttl.as_millis() as u64,
        };
        self.lock().secrets.insert(secret.id, entry);
        Ok(())
    }

    async fn peek(&self, id: &SecretId) -> Result<Peek, StoreError> {
        let mut g = self.lock();
        let Some(e) = live_entry(&mut g, id, self.clock.instant()) else {
            return Ok(Peek::Missing);
        };
        match &e.slot {
            Slot::Live { blob, .. } => Ok(Peek::Live(codec::decode_meta(blob, e.expires_at_ms)?)),
            Slot::Gone(t) => Ok(Peek::Gone(t.clone())),
        }
    }

    async fn take(&self, id: &SecretId, mode: TakeMode) -> Result<Taken, StoreError> {
        let mut g = self.lock();
        let Some(e) = live_entry(&mut g, id, self.clock.instant()) else {
            return Ok(Taken::Missing);
        };
        let blob = match &e.slot {
            Slot::Gone(t) => return Ok(Taken::Gone(t.clone())),
            Slot::Live { blob, .. } => blob.clone(),
        };
        let checks_first = matches!(
            mode,
            TakeMode::ReadIfUnrestricted | TakeMode::ReadIfOpenedBy(_)
        );
        if checks_first && codec::meta_len(&blob)? > HEADER_LEN {
            let meta = codec::decode_meta(&blob, e.expires_at_ms)?;
            let opened = match mode {
                TakeMode::ReadIfOpenedBy(presented) => {
                    meta.restrictions.opened_by_lock_alone(&presented)
                }
                _ => false,
            };
            if !opened {
                return Ok(Taken::Restricted(meta));
            }
        }
        e.slot = Slot::Gone(Tombstone {
            reason: mode.reason(),
            at: self.clock.now_secs(),
            creator_hash: creator_hash(&blob),
            read_lock: codec::read_lock_of(&blob)?,
        });
        g.budget.release(id);
        let age = g.stats.remove(id, self.clock.now_secs());
        drop(g);
        let (kind, data) = codec::decode_payload(blob)?;
        let data = if mode == TakeMode::Revoke {
            Bytes::new()
        } else {
            data
        };
        Ok(Taken::Data { kind, data, age })
    }

    async fn fail_attempt(&self, id: &SecretId, max: u32) -> Result<Option<u32>, StoreError> {
        let mut g = self.lock();
        let Some(e) = live_entry(&mut g, id, self.clock.instant()) else {
            return Ok(None);
        };
        let Slot::Live { blob, attempts } = &mut e.slot else {
            return Ok(None);
        };
        *attempts += 1;
        let n = *attempts;
        if n >= max {
            let creator_hash = creator_hash(blob);
            let read_lock = codec::read_lock_of(blob)?;
            e.slot = Slot::Gone(Tombstone {
                reason: GoneReason::Destroyed,
                at: self.clock.now_secs(),
                creator_hash,
                read_lock,
            });
        }
        Ok(Some(n))
    }
}

#[async_trait]
impl UploadStore for MemoryStore {
    async fn upload_open(
        &self,
        secret: NewSecret,
        session: UploadSession,
        max_open: u32,
    ) -> Result<Opened, StoreError> {
        let now = self.clock.now_ms();
        let mut g = self.lock();
        let counted = max_open != UNCAPPED;
        if counted {
            let mine: Vec<u64> = g
                .uploads
                .values()
                .filter(|u| u.counted && u.session.owner == session.owner && u.is_open(now))
                .map(|u| u.ends_ms)
                .collect();
            if mine.len() >= max_open as usize {
                let first = mine.iter().min().copied().unwrap_or(now);
                return Ok(Opened::TooMany {
                    retry_after: Duration::from_millis(first.saturating_sub(now)),
                });
            }
        }
        let record = bytes::BytesMut::from(&codec::encode_secret(&secret)[..]);
        let pending = Pending {
            meta_len: record.len() - secret.data.len(),
            record,
            creator_hash: secret.creator_hash,
            counted,
            ends_ms: upload_ends_ms(now, session.deadline_ms),
            session,
        };
        g.uploads.insert(secret.id, pending);
        Ok(Opened::Opened)
    }

    async fn upload_state(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
    ) -> Result<UploadState, StoreError> {
        let now = self.clock.now_ms();
        let mut g = self.lock();
        Ok(match MemoryStore::pending(&mut g, id, creator_hash, now) {
            Ok(u) => UploadState::Open {
                offset: (u.record.len() - u.meta_len) as u64,
                limit: u.session.limit,
            },
            Err(Refused::Forbidden) => UploadState::Forbidden,
            Err(Refused::Missing) => UploadState::Missing,
        })
    }

    async fn upload_discard(&self, id: &SecretId) -> Result<(), StoreError> {
        self.lock().uploads.remove(id);
        Ok(())
    }

    async fn upload_append(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
        offset: u64,
        chunk: Bytes,
    ) -> Result<Appended, StoreError> {
        let now = self.clock.now_ms();
        let mut g = self.lock();
        let u = match MemoryStore::pending(&mut g, id, creator_hash, now) {
            Ok(u) => u,
            Err(Refused::Forbidden) => return Ok(Appended::Forbidden),
            Err(Refused::Missing) => return Ok(Appended::Missing),
        };
        let have = (u.record.len() - u.meta_len) as u64;
        if have != offset {
            return Ok(Appended::OffsetMismatch(have));
        }
        let total = have + chunk.len() as u64;
        if total > u.session.limit {
            let limit = u.session.limit;
            g.uploads.remove(id);
            return Ok(Appended::TooLarge(limit));
        }
        u.record.extend_from_slice(&chunk);
        u.touch(now);
        Ok(Appended::At(total))
    }

    async fn upload_finish(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
    ) -> Result<Finished, StoreError> {
        let now = self.clock.now_ms();
        let mut g = self.lock();
        match MemoryStore::pending(&mut g, id, creator_hash, now) {
            Ok(_) => {}
            Err(Refused::Forbidden) => return Ok(Finished::Forbidden),
            Err(Refused::Missing) => return Ok(Finished::Missing),
        }
        let Some(u) = g.uploads.remove(id) else {
            return Ok(Finished::Missing);
        };
        let published = Published {
            ttl: u.session.ttl,
            size: (u.record.len() - u.meta_len) as u64,
            user_type: u.session.user_type,
        };
        let entry = Entry {
            slot: Slot::Live {
                blob: u.record.freeze(),
                attempts: 0,
            },
            expires_at: self.clock.instant() + u.session.ttl,
            expires_at_ms: self.clock.now_ms() + u.session.ttl.as_millis() as u64,
        };
        g.secrets.insert(*id, entry);
        Ok(Finished::Published(published))
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn token_get(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        let mut g = self.lock();
        let now = self.clock.now_secs();
        if g.tokens.get(hash).is_some_and(|t| t.is_expired(now)) {
            g.tokens.remove(hash);
        }
        Ok(g.tokens.get(hash).cloned())
    }

    async fn token_put(&self, hash: &TokenHash, record: &TokenRecord) -> Result<(), StoreError> {
        self.lock().tokens.insert(*hash, record.clone());
        Ok(())
    }

    async fn token_take(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        Ok(self.lock().tokens.remove(hash).is_some())
    }

    async fn token_list(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let mut g = self.lock();
        let now = self.clock.now_secs();
        g.tokens.retain(|_, t| !t.is_expired(now));
        Ok(g.tokens.values().cloned().collect())
    }

    async fn token_delete_by_id(&self, id: &str) -> Result<bool, StoreError> {
        let mut g = self.lock();
        let before = g.tokens.len();
        g.tokens.retain(|_, t| t.id != id);
        Ok(g.tokens.len() != before)
    }

    async fn token_clear(&self) -> Result<(), StoreError> {
        self.lock().tokens.clear();
        Ok(())
    }

    async fn admin_hash_get(&self) -> Result<Option<TokenHash>, StoreError> {
        Ok(self.lock().admin)
    }

    async fn admin_hash_set(&self, hash: &TokenHash) -> Result<(), StoreError> {
        self.lock().admin = Some(*hash);
        Ok(())
    }
}

#[async_trait]
impl BudgetStore for MemoryStore {
    async fn budget_reserve(&self, r: &Reservation) -> Result<Reserved, StoreError> {
        Ok(self.lock().budget.reserve(r, self.clock.now_ms()))
    }

    async fn budget_release(&self, id: &SecretId) -> Result<(), StoreError> {
        self.lock().budget.release(id);
        Ok(())
    }

    async fn budget_used(&self, owner: Option<&UploadOwner>) -> Result<(u64, u64), StoreError> {
        let mut g = self.lock();
        g.budget.prune(self.clock.now_ms());
        let mine = owner
            .and_then(|o| g.budget.owners.get(o))
            .map_or(0, |(held, _)| *held);
        Ok((g.budget.total, mine))
    }

    async fn capacity(&self) -> StoreCapacity {
        match machine_budget() {
            Some((bytes, rule)) => StoreCapacity::Bytes {
                bytes,
                source: rule.to_owned(),
                warning: None,
            },
            None => StoreCapacity::Unknown("no /proc/meminfo to size the embedded store".into()),
        }
    }
}

#[async_trait]
impl StatsStore for MemoryStore {
    async fn stats_add(&self, id: &SecretId, ttl: Duration) -> Result<(), StoreError> {
        let now = self.clock.now_secs();
        let score = stats_score::encode(now + ttl.as_secs(), ttl.as_secs());
        let stats = &mut self.lock().stats;
        if let Some(old) = stats.scores.insert(*id, score) {
            stats.by_score.remove(&(old, *id));
        }
        stats.by_score.insert((score, *id));
        Ok(())
    }

    async fn stats_remove(&self, id: &SecretId) -> Result<Option<Duration>, StoreError> {
        Ok(self.lock().stats.remove(id, self.clock.now_secs()))
    }

    async fn stats_counts(&self) -> Result<SecretCounts, StoreError> {
        let below = stats_score::expired_below(self.clock.now_secs());
        let stats = &mut self.lock().stats;
        while let Some(&(score, id)) = stats.by_score.first() {
            if score >= below {
                break;
            }
            stats.by_score.pop_first();
            stats.scores.remove(&id);
            stats.expired += 1;
        }
        Ok(SecretCounts {
            active: stats.scores.len() as u64,
            expired: stats.expired,
        })
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    fn reservation(id: SecretId, owner: &UploadOwner, bytes: u64, expires: u64) -> Reservation {
        Reservation {
            id,
            owner: Some(owner.clone()),
            bytes,
            expires_at_ms: expires,
            global_limit: Some(1000),
            owner_limit: Some(600),
            settle: false,
        }
    }

    #[test]
    fn budgets_are_checked_replaced_settled_released_and_pruned() {
        let mut b = Budget::default();
        let me = UploadOwner::address("192.0.2.1".parse().unwrap());
        let other = UploadOwner::address("192.0.2.2".parse().unwrap());
        let (a, c, d) = (SecretId::random(), SecretId::random(), SecretId::random());
        assert_eq!(
            b.reserve(&reservation(a, &me, 500, 2000), 0),
            Reserved::Reserved
        );
        // Over the owner's budget: when its earliest reservation ends.
        assert_eq!(
            b.reserve(&reservation(c, &me, 200, 3000), 500),
            Reserved::OwnerFull {
                retry_after: Some(Duration::from_millis(1500))
            }
        );
        // Replacing a reservation does not count it twice.
        assert_eq!(
            b.reserve(&reservation(a, &me, 600, 2000), 0),
            Reserved::Reserved
        );
        assert_eq!(
            b.reserve(&reservation(c, &other, 400, 3000), 0),
            Reserved::Reserved
        );
        assert_eq!(
            b.reserve(&reservation(d, &other, 1, 3000), 0),
            Reserved::StoreFull
        );
        // Settling keeps the owner and is never refused.
        let settle = Reservation {
            owner: None,
            settle: true,
            global_limit: Some(0),
            ..reservation(a, &me, 100, 2500)
        };
        assert_eq!(b.reserve(&settle, 0), Reserved::Reserved);
        assert_eq!(b.owners[&me].0, 100);
        assert_eq!(b.total, 500);
        // Alone over the budget: no retry helps.
        assert_eq!(
            b.reserve(&reservation(d, &me, 700, 3000), 0),
            Reserved::OwnerFull { retry_after: None }
        );
        b.release(&c);
        assert_eq!(b.total, 100);
        assert!(!b.owners.contains_key(&other));
        // Expired reservations free their bytes.
        b.prune(2500);
        assert_eq!(b.total, 0);
        assert!(b.entries.is_empty() && b.owners.is_empty() && b.by_expiry.is_empty());
    }
}
