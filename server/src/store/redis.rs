//! The Redis store: one node, a Sentinel-managed master or a cluster (`connection.rs`), chosen
//! by the DSN (`dsn.rs`).
//!
//! Keys of one secret share the `{id}` hash tag, so they live in one Redis Cluster slot and the
//! Lua scripts below may touch them together: `hk:{id}` (header + payload), `hk:{id}:t`
//! (tombstone after a read, until the original expiry) and `hk:{id}:a` (failed passphrase
//! attempts). All three expire with the secret. An upload (multi-request, or the body of one
//! request) builds its record in `hk:{id}:p` beside its session `hk:{id}:s` ("ttl_ms tag
//! deadline_ms owner limit"); both expire after `UPLOAD_IDLE` without a write or at the
//! deadline, and finishing renames the record to `hk:{id}`. Each owner's open multi-request
//! uploads are a sorted set `hk:{uploads:<owner>}` (id by the time the upload ends), which caps
//! how many one token or address holds open. Tokens live in one hash, `hk:tokens`, keyed by
//! the token's SHA-256, so listing them never needs `KEYS` or `SCAN`.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ::redis::{ErrorKind, RedisError, Script, Value};
use async_trait::async_trait;
use bytes::Bytes;

use super::codec;
use super::*;

mod connection;
pub mod dsn;
mod hakanai_v3;

use connection::{Backend, Conn, ConnError};

const TOKENS_KEY: &str = "hk:tokens";
const ADMIN_KEY: &str = "hk:admin";
/// Statistics (see `stats_score`): a sorted set of live secrets by expiry and TTL, and the count
/// of those that expired unread. One hash tag, so one script may touch both on a cluster.
const STATS_LIVE_KEY: &str = "hk:{stats}:live";
const STATS_EXPIRED_KEY: &str = "hk:{stats}:expired";

/// Removes member ARGV[1]; returns its score, or nil if it was not there.
static STATS_REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s then redis.call('ZREM', KEYS[1], ARGV[1]) end
return s
"#,
    )
});

/// Moves members scored below ARGV[1] into the expired count; returns {live, expired}.
static STATS_COUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local n = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local e = 0
if n > 0 then e = redis.call('INCRBY', KEYS[2], n)
else e = tonumber(redis.call('GET', KEYS[2]) or '0') end
return {redis.call('ZCARD', KEYS[1]), e}
"#,
    )
});

/// Lua over the record layout, generated from `codec`'s offsets so that no script repeats them:
/// `HEADER_LEN`; `meta_len(h)`, the length of header and restrictions of the record whose
/// header (its first `HEADER_LEN` bytes) is `h`; `creator_of(h)`, its creator hash, which a
/// tombstone copies after its own prefix; and `read_lock(h)`, the read lock
/// (`Restrictions::read_lock`, 64 hex characters) of the record at KEYS[1], or '' if it has none,
/// for its tombstone (only a secret with restrictions pays the extra read).
fn record_lua() -> String {
    use codec::{CREATOR_AT, HEADER_LEN, RESTRICTIONS_LEN_AT};
    format!(
        r#"
local HEADER_LEN = {HEADER_LEN}
local function meta_len(h)
  local a, b, c, d = string.byte(h, {len_from}, {len_to})
  return HEADER_LEN + ((a * 256 + b) * 256 + c) * 256 + d
end
local function creator_of(h) return string.sub(h, {creator_from}, {creator_to}) end
{READ_LOCK_LUA}"#,
        len_from = RESTRICTIONS_LEN_AT + 1,
        len_to = RESTRICTIONS_LEN_AT + 4,
        creator_from = CREATOR_AT + 1,
        creator_to = CREATOR_AT + CREATOR_HASH_LEN,
    )
}

/// A script on records: `body` after [`record_lua`].
fn record_script(body: &str) -> Script {
    Script::new(&format!("{}{body}", record_lua()))
}

const READ_LOCK_LUA: &str = r#"
local function opened_by_lock_alone(meta, presented)
  if string.len(presented) ~= 64 then return false end
  local ok, r = pcall(cjson.decode, string.sub(meta, HEADER_LEN + 1))
  if not ok or type(r) ~= 'table' or r['r'] ~= presented then return false end
  for k in pairs(r) do
    if k ~= 'r' then return false end
  end
  return true
end
local function read_lock(h)
  local m = meta_len(h)
  if m == HEADER_LEN then return '' end
  local ok, r = pcall(cjson.decode, redis.call('GETRANGE', KEYS[1], HEADER_LEN, m - 1))
  if ok and type(r) == 'table' and type(r['r']) == 'string' then return r['r'] end
  return ''
end
"#;

/// {0} | {1, header+restrictions, pttl} | {2, tombstone}
static PEEK: LazyLock<Script> = LazyLock::new(|| {
    record_script(
        r#"
local h = redis.call('GETRANGE', KEYS[1], 0, HEADER_LEN - 1)
if h == '' then
  local t = redis.call('GET', KEYS[2])
  if t then return {2, t} end
  return {0}
end
local m = meta_len(h)
if m > HEADER_LEN then h = redis.call('GETRANGE', KEYS[1], 0, m - 1) end
return {1, h, redis.call('PTTL', KEYS[1])}
"#,
    )
});

/// Removes the secret and leaves a tombstone (ARGV[1] .. creator hash) for the remaining TTL.
/// ARGV[2] == '1': return the payload. ARGV[3] == '0': take it whatever its restrictions;
/// '1': only if unrestricted, else act as PEEK; else a presented read lock (64 hex digits):
/// also if that lock is its only restriction (`Restrictions::opened_by_lock_alone`).
/// Where one script may touch the budget's and the statistics' keys too (no cluster slots):
/// KEYS[4..6] the budget's all, sizes, total and KEYS[7] the statistics' live set, ARGV[4] now
/// (ms) and ARGV[5] the id; a secret taken then gives its reservation and statistics entry back.
/// {0} | {1, blob?, statistics score?} | {2, tombstone} | {3, header+restrictions, pttl}
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    record_script(&format!(
        r#"{}
local h = redis.call('GETRANGE', KEYS[1], 0, HEADER_LEN - 1)
if h == '' then
  local t = redis.call('GET', KEYS[2])
  if t then return {{2, t}} end
  return {{0}}
end
if ARGV[3] ~= '0' then
  local m = meta_len(h)
  if m > HEADER_LEN then
    local meta = redis.call('GETRANGE', KEYS[1], 0, m - 1)
    if not opened_by_lock_alone(meta, ARGV[3]) then
      return {{3, meta, redis.call('PTTL', KEYS[1])}}
    end
  end
end
local ttl = redis.call('PTTL', KEYS[1])
local v = false
if ARGV[2] == '1' then v = redis.call('GET', KEYS[1]) end
local lock = read_lock(h)
redis.call('DEL', KEYS[1], KEYS[3])
if ttl > 0 then
  redis.call('SET', KEYS[2], ARGV[1] .. creator_of(h) .. lock, 'PX', ttl)
end
local s = false
if KEYS[7] then
  prune(tonumber(ARGV[4]), 32)
  release(ARGV[5])
  s = redis.call('ZSCORE', KEYS[7], ARGV[5])
  if s then redis.call('ZREM', KEYS[7], ARGV[5]) end
end
return {{1, v, s}}
"#,
        budget_lua(4)
    ))
});

/// Counts a failed attempt; at ARGV[1] the secret is destroyed with tombstone prefix ARGV[2].
/// Returns the count, or -1 if the secret is gone.
static FAIL: LazyLock<Script> = LazyLock::new(|| {
    record_script(
        r#"
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return -1 end
local n = redis.call('INCR', KEYS[3])
if n == 1 then redis.call('PEXPIRE', KEYS[3], ttl) end
if n >= tonumber(ARGV[1]) then
  local h = redis.call('GETRANGE', KEYS[1], 0, HEADER_LEN - 1)
  local lock = read_lock(h)
  redis.call('DEL', KEYS[1], KEYS[3])
  redis.call('SET', KEYS[2], ARGV[2] .. creator_of(h) .. lock, 'PX', ttl)
end
return n
"#,
    )
});

/// Opens an upload: record KEYS[1] = ARGV[1] (header and first bytes), session KEYS[2] = ARGV[2],
/// both expiring after ARGV[3] ms. A script rather than MULTI, which Redis Cluster clients route
/// less uniformly.
static UPLOAD_OPEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"#,
    )
});

/// Takes a place among an owner's open uploads (KEYS[1], a sorted set: upload id by the Unix ms
/// at which it ends) at time ARGV[1], if fewer than ARGV[2] are open: adds ARGV[4] ending at
/// ARGV[3]. {1} taken | {0, ms the first open one ends} full. The set expires with its last
/// entry, so an owner who stops uploading leaves nothing behind.
static UPLOAD_SLOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return {0, redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]}
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIREAT', KEYS[1], redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
return {1}
"#,
    )
});

/// Moves an upload's place (ARGV[2] in KEYS[1], if still there) to end at ARGV[1]; the set
/// expires with its last entry.
static UPLOAD_SLOT_RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
if last then redis.call('PEXPIREAT', KEYS[1], last) end
return 1
"#,
    )
});

/// The session value: "ttl_ms tag deadline_ms owner limit", the owner `-` for an upload that
/// takes no place among its owner's open ones (older servers wrote "ttl_ms tag limit" or
/// "ttl_ms limit"; the scripts read the first and the last number of any of them).
/// Lua that reads the deadline and owner of session `s` (nil for older sessions), and drops
/// the upload (KEYS[1], KEYS[2]) if the deadline passed by ARGV `now`.
const SESSION_DEADLINE_LUA: &str = r#"
local deadline, owner = string.match(s, '^%d+ %a (%d+) ([%x%-]+) %d+$')
deadline = tonumber(deadline)
if owner == '-' then owner = nil end
if deadline and now >= deadline then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {0}
end
"#;

/// Appends ARGV[3] to a multi-request upload (KEYS[1] record, KEYS[2] session) if the creator
/// hash is ARGV[1] and the payload is ARGV[2] bytes long, at time ARGV[4] (Unix ms); both keys
/// then expire after `UPLOAD_IDLE` (ARGV[5] ms), or at the deadline if sooner (relative to
/// ARGV[4], like the `PX` at open, so the server's clock and not Redis's places the end).
/// {0} missing | {1, total, owner, ends_ms} | {2, have} offset mismatch | {3, limit, owner} too
/// large (deleted) | {4} wrong creator.
static UPLOAD_APPEND: LazyLock<Script> = LazyLock::new(|| {
    record_script(&format!(
        r#"
local now = tonumber(ARGV[4])
local s = redis.call('GET', KEYS[2])
local h = redis.call('GETRANGE', KEYS[1], 0, HEADER_LEN - 1)
if not s or h == '' then return {{0}} end
if creator_of(h) ~= ARGV[1] then return {{4}} end
{SESSION_DEADLINE_LUA}
local m = meta_len(h)
local have = redis.call('STRLEN', KEYS[1]) - m
if have ~= tonumber(ARGV[2]) then return {{2, have}} end
local total = have + string.len(ARGV[3])
local limit = tonumber(string.match(s, ' (%d+)$'))
if total > limit then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {{3, limit, owner or ''}}
end
local ends = now + tonumber(ARGV[5])
if deadline and deadline < ends then ends = deadline end
redis.call('APPEND', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ends - now)
redis.call('PEXPIRE', KEYS[2], ends - now)
return {{1, total, owner or '', ends}}
"#
    ))
});

/// Where a multi-request upload (KEYS[1] record, KEYS[2] session) stands for creator hash
/// ARGV[1] at time ARGV[2]: {0} missing (or past its deadline, then dropped) | {1, payload
/// bytes, limit} | {2} wrong creator.
static UPLOAD_STATE: LazyLock<Script> = LazyLock::new(|| {
    record_script(&format!(
        r#"
local now = tonumber(ARGV[2])
local s = redis.call('GET', KEYS[2])
local h = redis.call('GETRANGE', KEYS[1], 0, HEADER_LEN - 1)
if not s or h == '' then return {{0}} end
if creator_of(h) ~= ARGV[1] then return {{2}} end
{SESSION_DEADLINE_LUA}
local m = meta_len(h)
local have = redis.call('STRLEN', KEYS[1]) - m
return {{1, have, tonumber(string.match(s, ' (%d+)$'))}}
"#
    ))
});

/// Drops a multi-request upload (KEYS[1] record, KEYS[2] session); returns the session, or
/// false when there was none.
static UPLOAD_DISCARD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local s = redis.call('GET', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return s
"#,
    )
});

/// Publishes a multi-request upload (KEYS[1] record, KEYS[2] session) as KEYS[3] with the
/// session's TTL, if the creator hash is ARGV[1] and its deadline has not passed at ARGV[2].
/// {0} missing | {1, session, payload bytes} published | {2} wrong creator.
static UPLOAD_FINISH: LazyLock<Script> = LazyLock::new(|| {
    record_script(&format!(
        r#"
local now = tonumber(ARGV[2])
local s = redis.call('GET', KEYS[2])
local h = redis.call('GETRANGE', KEYS[1], 0, HEADER_LEN - 1)
if not s or h == '' then return {{0}} end
if creator_of(h) ~= ARGV[1] then return {{2}} end
{SESSION_DEADLINE_LUA}
local m = meta_len(h)
local size = redis.call('STRLEN', KEYS[1]) - m
redis.call('RENAME', KEYS[1], KEYS[3])
redis.call('PEXPIRE', KEYS[3], tonumber(string.match(s, '^(%d+) ')))
redis.call('DEL', KEYS[2])
return {{1, s, size}}
"#
    ))
});

/// How long a consuming read waits for Redis's reply (see `take`).
const CONSUME_REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a write a failover must not undo (see `await_replica`) waits for a replica to
/// acknowledge it on a replicated deployment (Sentinel, Cluster).
const REPLICA_ACK_TIMEOUT: Duration = Duration::from_millis(500);

/// After a `WAIT` found no replica, writes skip waiting this long: a master without
/// replicas (after a failover, before the old master rejoins) would otherwise hold every read
/// back by the full wait, and on a cluster the wait blocks the one shared connection to that node.
const NO_REPLICA_BACKOFF_MS: u64 = 5_000;

#[derive(Clone)]
pub struct RedisStore {
    backend: Arc<Backend>,
    op_timeout: Duration,
    /// Unix ms until which writes do not wait for a replica (see `await_replica`).
    skip_wait_until: Arc<std::sync::atomic::AtomicU64>,
    /// The time given to the scripts and used for tombstones, token expiry and statistics. Redis's
    /// own clock only counts down key expiries, which are set relative to this one (`PX`,
    /// `PEXPIRE`) wherever they end something a reader sees.
    clock: Arc<dyn Clock>,
}

struct Keys {
    data: String,
    tomb: String,
    attempts: String,
    /// An upload's record and its session.
    pending: String,
    session: String,
}

fn keys(id: &SecretId) -> Keys {
    let data = format!("hk:{{{}}}", id.storage_key());
    Keys {
        tomb: format!("{data}:t"),
        attempts: format!("{data}:a"),
        pending: format!("{data}:p"),
        session: format!("{data}:s"),
        data,
    }
}

/// The sorted set of an owner's open uploads (`UPLOAD_SLOT`).
fn owner_key(owner: &UploadOwner) -> String {
    owner_key_str(owner.as_str())
}

fn owner_key_str(owner: &str) -> String {
    format!("hk:{{uploads:{owner}}}")
}

/// The owner named in a session value of this server ("ttl_ms tag deadline_ms owner limit").
fn session_owner(session: &str) -> Option<&str> {
    let words: Vec<&str> = session.split(' ').collect();
    match words.as_slice() {
        [_, _, _, owner, _] if owner.bytes().all(|b| b.is_ascii_hexdigit()) => Some(owner),
        _ => None,
    }
}

/// Storage budgets. Every budget key carries the `{budget}` hash tag, so one script sees the
/// global and the owner's reservations together (on a cluster they share one slot, apart from
/// the secrets' slots: a secret and its reservation are changed in one script only where there
/// are no slots, on a single node or a Sentinel-managed master; see `create`).
/// `hk:{budget}:all`: reservations by expiry (Unix ms); `hk:{budget}:sizes`: id → "bytes owner";
/// `hk:{budget}:total`: bytes reserved; for owners with a budget of their own,
/// `hk:{budget}:o:<owner>` (by expiry) and `hk:{budget}:o:<owner>:n` (bytes). Each key expires
/// with its last reservation; expired reservations are pruned by the scripts that run, so no
/// sweeper is needed.
const BUDGET_ALL_KEY: &str = "hk:{budget}:all";
const BUDGET_SIZES_KEY: &str = "hk:{budget}:sizes";
const BUDGET_TOTAL_KEY: &str = "hk:{budget}:total";

fn budget_owner_key(owner: Option<&UploadOwner>) -> String {
    format!("hk:{{budget}}:o:{}", owner.map_or("-", |o| o.as_str()))
}

/// `release(id)` and `prune(now, most)` over the budget's all, sizes and total keys, which are
/// KEYS[first..first + 2] (`bk` in the script); `extend(key, ttl, had_ttl)`.
fn budget_lua(first: usize) -> String {
    format!(
        "local bk = {{KEYS[{first}], KEYS[{}], KEYS[{}]}}\n{BUDGET_LUA_BODY}",
        first + 1,
        first + 2
    )
}

const BUDGET_LUA_BODY: &str = r#"
local function release(id)
  local v = redis.call('HGET', bk[2], id)
  redis.call('ZREM', bk[1], id)
  if not v then return end
  redis.call('HDEL', bk[2], id)
  local sp = string.find(v, ' ', 1, true)
  local n = tonumber(string.sub(v, 1, sp - 1))
  local owner = string.sub(v, sp + 1)
  if redis.call('DECRBY', bk[3], n) <= 0 then redis.call('DEL', bk[3]) end
  if owner ~= '' then
    local z = 'hk:{budget}:o:' .. owner
    redis.call('ZREM', z, id)
    if redis.call('DECRBY', z .. ':n', n) <= 0 or redis.call('ZCARD', z) == 0 then
      redis.call('DEL', z, z .. ':n')
    end
  end
end
-- At most `most` (nil: all) expired reservations per call, so a create or read does bounded
-- work however many expired meanwhile; each call prunes more than it adds, so none pile up.
local function prune(now, most)
  local ids
  if most then
    ids = redis.call('ZRANGEBYSCORE', bk[1], '-inf', now, 'LIMIT', 0, most)
  else
    ids = redis.call('ZRANGEBYSCORE', bk[1], '-inf', now)
  end
  for _, id in ipairs(ids) do release(id) end
end
-- A key that held bytes before this script (`had_ttl`) has an expiry already, which GT moves in
-- one command; Redis before 7.0 refuses GT and takes the PTTL way, as does a key that may be new.
local function extend(k, ttl, had_ttl)
  if had_ttl and type(redis.pcall('PEXPIRE', k, ttl, 'GT')) == 'number' then return end
  local t = redis.call('PTTL', k)
  if t ~= -2 and t < ttl then redis.call('PEXPIRE', k, ttl) end
end
"#;

/// KEYS: all, sizes, total, owner set, owner bytes[, secret, statistics]. ARGV: now ms, id,
/// bytes, expiry ms, global limit (-1: none), owner ('': none, or the owner has no budget),
/// owner limit, '1' to settle (keep the old owner, no checks)[, the secret's statistics score].
/// With the secret's keys (a create, on a server without cluster slots, whose `SET` came just
/// before in the same round trip): a reservation made notes the secret in the statistics, a
/// refused one deletes it.
/// {0} reserved | {1} store full | {2, first expiry?} owner full
const BUDGET_RESERVE_LUA: &str = r#"
local now = tonumber(ARGV[1])
local id, bytes, at = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local glimit, owner, olimit = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local kz, kn = KEYS[4], KEYS[5]
local ttl = at - now
if ttl < 1 then ttl = 1 end
prune(now, 32)

-- Adds `bytes` to counter k if it then holds at most `limit` (< 0: no limit); expired
-- reservations the bounded prune has not reached yet are dropped (`drop`) before a refusal.
-- Returns what k held before, or nil when refused.
local function count(k, limit, drop)
  local held = redis.call('INCRBY', k, bytes)
  if limit < 0 or held <= limit then return held - bytes end
  redis.call('DECRBY', k, bytes)
  drop()
  held = redis.call('INCRBY', k, bytes)
  if held <= limit then return held - bytes end
  if redis.call('DECRBY', k, bytes) <= 0 then redis.call('DEL', k) end
  return nil
end

-- A new id, already entered in sizes: no old reservation to look up or replace.
local function fresh()
  local oheld = 0
  if owner ~= '' then
    oheld = count(kn, olimit, function()
      for _, x in ipairs(redis.call('ZRANGEBYSCORE', kz, '-inf', now)) do release(x) end
    end)
    if not oheld then
      redis.call('HDEL', KEYS[2], id)
      local first = redis.call('ZRANGE', kz, 0, 0, 'WITHSCORES')[2]
      if first then return {2, first} end
      return {2}
    end
  end
  local held = count(KEYS[3], glimit, function() prune(now) end)
  if not held then
    redis.call('HDEL', KEYS[2], id)
    if owner ~= '' and redis.call('DECRBY', kn, bytes) <= 0 then redis.call('DEL', kn) end
    return {1}
  end
  redis.call('ZADD', KEYS[1], at, id)
  for i = 1, 3 do extend(KEYS[i], ttl, held > 0) end
  if owner ~= '' then
    redis.call('ZADD', kz, at, id)
    extend(kz, ttl, oheld > 0)
    extend(kn, ttl, oheld > 0)
  end
  return {0}
end

-- An id that holds a reservation (an upload settling): it is replaced, and its bytes do not
-- count against the new one.
local function replace()
  local oldn, oldowner = 0, nil
  local old = redis.call('HGET', KEYS[2], id)
  if old then
    local sp = string.find(old, ' ', 1, true)
    oldn, oldowner = tonumber(string.sub(old, 1, sp - 1)), string.sub(old, sp + 1)
  end
  local owner, olimit, glimit, kz, kn = owner, olimit, glimit, kz, kn
  if ARGV[8] == '1' then
    owner = oldowner or ''
    kz = 'hk:{budget}:o:' .. owner
    kn = kz .. ':n'
    olimit, glimit = -1, -1
  end
  if owner ~= '' and olimit >= 0 then
    local held = tonumber(redis.call('GET', kn) or '0')
    if oldowner == owner then held = held - oldn end
    if held + bytes > olimit then
      local first = redis.call('ZRANGE', kz, 0, 1, 'WITHSCORES')
      for i = 1, #first, 2 do
        if first[i] ~= id then return {2, first[i + 1]} end
      end
      return {2}
    end
  end
  local total = tonumber(redis.call('GET', KEYS[3]) or '0')
  if glimit >= 0 and total - oldn + bytes > glimit then return {1} end
  if old then release(id) end
  redis.call('HSET', KEYS[2], id, bytes .. ' ' .. owner)
  redis.call('ZADD', KEYS[1], at, id)
  redis.call('INCRBY', KEYS[3], bytes)
  for i = 1, 3 do extend(KEYS[i], ttl, false) end
  if owner ~= '' then
    redis.call('ZADD', kz, at, id)
    redis.call('INCRBY', kn, bytes)
    extend(kz, ttl, false)
    extend(kn, ttl, false)
  end
  return {0}
end

local function reserve()
  if ARGV[8] ~= '1' and owner ~= '' and bytes > olimit then return {2} end
  if ARGV[8] ~= '1' and redis.call('HSETNX', KEYS[2], id, bytes .. ' ' .. owner) == 1 then
    return fresh()
  end
  return replace()
end
local r = reserve()
if KEYS[6] then
  if r[1] == 0 then redis.call('ZADD', KEYS[7], ARGV[9], id) else redis.call('DEL', KEYS[6]) end
end
return r
"#;

static BUDGET_RESERVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{}{BUDGET_RESERVE_LUA}", budget_lua(1))));

/// KEYS: all, sizes, total. ARGV: now ms, id.
static BUDGET_RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{}
prune(tonumber(ARGV[1]), 32)
release(ARGV[2])
return 1
"#,
        budget_lua(1)
    ))
});

/// KEYS: all, sizes, total, owner bytes. ARGV: now ms. {total, owner's}
static BUDGET_USED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{}
prune(tonumber(ARGV[1]))
return {{tonumber(redis.call('GET', KEYS[3]) or '0'), tonumber(redis.call('GET', KEYS[4]) or '0')}}
"#,
        budget_lua(1)
    ))
});

/// The open script's call for `secret` at `now`: its record (header and first bytes) and
/// session, expiring when the upload would end; `counted` names the owner in the session, so
/// its place among the owner's open uploads is renewed and given back with it.
fn open_call(
    secret: &NewSecret,
    session: &UploadSession,
    counted: bool,
    now: u64,
) -> ::redis::ScriptInvocation<'static> {
    let k = keys(&secret.id);
    let ttl_ms = session.ttl.as_millis().max(1) as u64;
    let ends = super::memory::upload_ends_ms(now, session.deadline_ms);
    let owner = if counted { session.owner.as_str() } else { "-" };
    let mut call = UPLOAD_OPEN.key(&k.pending);
    call.key(&k.session)
        .arg(codec::encode_secret(secret))
        .arg(format!(
            "{ttl_ms} {} {} {owner} {}",
            session.user_type.tag(),
            session.deadline_ms,
            session.limit
        ))
        .arg(ends.saturating_sub(now).max(1));
    call
}

/// The finish script's call for upload `id` at `now`.
fn finish_call(
    id: &SecretId,
    creator_hash: &[u8; CREATOR_HASH_LEN],
    now: u64,
) -> ::redis::ScriptInvocation<'static> {
    let k = keys(id);
    let mut call = UPLOAD_FINISH.key(&k.pending);
    call.key(&k.session)
        .key(&k.data)
        .arg(&creator_hash[..])
        .arg(now);
    call
}

/// The reservation script's call for `r` at `now`; `create` adds the secret's keys and values.
fn reserve_call(r: &Reservation, now: u64) -> ::redis::ScriptInvocation<'static> {
    // Owners without a budget of their own are counted in the global budget only.
    let owner = r.owner.as_ref().filter(|_| r.owner_limit.is_some());
    let owner_set = budget_owner_key(owner);
    let limit = |l: Option<u64>| l.map_or(-1i128, i128::from).to_string();
    let mut call = BUDGET_RESERVE.key(BUDGET_ALL_KEY);
    call.key(BUDGET_SIZES_KEY)
        .key(BUDGET_TOTAL_KEY)
        .key(&owner_set)
        .key(format!("{owner_set}:n"))
        .arg(now)
        .arg(r.id.storage_key())
        .arg(r.bytes)
        .arg(r.expires_at_ms)
        .arg(limit(r.global_limit))
        .arg(owner.map_or("", |o| o.as_str()))
        .arg(limit(r.owner_limit))
        .arg(if r.settle { "1" } else { "0" });
    call
}

/// The reservation script's reply, made at `now`.
fn reserved(v: &[Value], now: u64) -> Result<Reserved, StoreError> {
    let score = |v: &Value| match v {
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|t| t.parse::<f64>().ok()),
        Value::Double(d) => Some(*d),
        Value::Int(n) => Some(*n as f64),
        _ => None,
    };
    match v {
        [Value::Int(0)] => Ok(Reserved::Reserved),
        [Value::Int(1)] => Ok(Reserved::StoreFull),
        [Value::Int(2)] => Ok(Reserved::OwnerFull { retry_after: None }),
        [Value::Int(2), first] => {
            let first = score(first).ok_or_else(|| corrupt("budget reply"))?;
            Ok(Reserved::OwnerFull {
                retry_after: Some(Duration::from_millis((first as u64).saturating_sub(now))),
            })
        }
        _ => Err(corrupt("budget reply")),
    }
}

/// A `CONFIG GET` reply (an array of name, value pairs, or a map under RESP3) as pairs.
fn config_pairs(v: Value) -> Vec<(String, String)> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        _ => String::new(),
    };
    match v {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|p| match p {
                [k, v] => Some((text(k), text(v))),
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs.iter().map(|(k, v)| (text(k), text(v))).collect(),
        _ => Vec::new(),
    }
}

fn redis_err(e: RedisError) -> StoreError {
    let refused = e.kind() == ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"));
    if refused {
        return StoreError::CredentialsRejected(e.to_string());
    }
    // Redis over maxmemory with noeviction: full, not down (507 rather than 503).
    if e.code() == Some("OOM") {
        return StoreError::Full;
    }
    StoreError::Unavailable(e.to_string())
}

/// The replies of a pipeline of two commands sent with `ignore_errors` (a command's error is
/// its reply); `what` names a reply that is not two of them.
async fn two_replies(
    c: &mut Conn<'_>,
    pipe: &::redis::Pipeline,
    what: &'static str,
) -> Result<(Value, Value), StoreError> {
    let replies: Vec<Value> = pipe.query_async(c).await.map_err(redis_err)?;
    let mut replies = replies.into_iter();
    match (replies.next(), replies.next()) {
        (Some(first), Some(second)) => Ok((first, second)),
        _ => Err(corrupt(what)),
    }
}

/// Whether a pipelined script's reply is Redis not having the script loaded yet (a new or
/// restarted Redis, a new master): the script must be sent again, which loads it.
fn unloaded(reply: &Value) -> bool {
    matches!(reply, Value::ServerError(e) if e.kind() == Some(::redis::ServerErrorKind::NoScript))
}

fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt(what)
}

impl RedisStore {
    /// Does not connect; the first operation does. Every operation (including waiting for a
    /// connection) is bounded by `op_timeout`, so a dead Redis turns into a quick 503 and the
    /// connections come back by themselves once Redis (or, after a failover, the new master) is
    /// reachable. `ca` (PEM) replaces the system roots for TLS.
    pub fn new(
        target: &dsn::Target,
        ca: Option<&[u8]>,
        op_timeout: Duration,
    ) -> Result<RedisStore, StoreError> {
        let backend = Backend::new(target, ca, op_timeout, CONSUME_REPLY_TIMEOUT)
            .map_err(StoreError::Unavailable)?;
        Ok(RedisStore {
            backend: Arc::new(backend),
            op_timeout,
            skip_wait_until: Arc::default(),
            clock: super::clock::system(),
        })
    }

    /// The same store reading the time from `clock`.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> RedisStore {
        RedisStore { clock, ..self }
    }

    async fn timed<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.op_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Timeout),
        }
    }

    /// Runs one command under `op_timeout`.
    async fn query<T: ::redis::FromRedisValue>(
        &self,
        cmd: &mut ::redis::Cmd,
    ) -> Result<T, StoreError> {
        self.timed(async {
            let mut c = self.conn().await?;
            cmd.query_async(&mut c).await.map_err(redis_err)
        })
        .await
    }

    /// After a write a failover must not undo (a secret consumed or destroyed, a one-time token
    /// spent) on a replicated deployment (Sentinel, Cluster): waits until a replica has it, since
    /// replication is asynchronous. `c` must be the connection that wrote. A master without
    /// replicas (after a failover, before the old master rejoins) is not waited for again for a
    /// while, so it does not hold every such request back.
    async fn await_replica(&self, c: &mut Conn<'_>, key: &str) -> Result<(), StoreError> {
        let skip_until = self
            .skip_wait_until
            .load(std::sync::atomic::Ordering::Relaxed);
        if !self.backend.replicated() || self.clock.now_ms() < skip_until {
            return Ok(());
        }
        let wait = REPLICA_ACK_TIMEOUT.min(self.op_timeout / 2);
        let acked = self
            .timed(async { c.wait_for_replica(key, wait).await.map_err(redis_err) })
            .await?;
        if acked == 0 {
            self.skip_wait_until.store(
                self.clock.now_ms() + NO_REPLICA_BACKOFF_MS,
                std::sync::atomic::Ordering::Relaxed,
            );
            tracing::warn!(
                "no replica acknowledged a write in time; going on and not waiting for replicas \
                 for the next 5 s"
            );
        }
        Ok(())
    }

    async fn conn(&self) -> Result<Conn<'_>, StoreError> {
        let mut conn = self.backend.get().await.map_err(|e| match e {
            ConnError::Redis(e) => redis_err(e),
            ConnError::TimedOut => StoreError::Timeout,
        })?;
        // The client's own default reply timeout (500 ms) would cut off large secrets before
        // `op_timeout`, which is the one bound operators configure.
        conn.set_response_timeout(self.op_timeout);
        Ok(conn)
    }
}

fn tombstone(v: Value) -> Result<Tombstone, StoreError> {
    match v {
        Value::BulkString(b) => codec::decode_tombstone(&b),
        _ => Err(corrupt("tombstone")),
    }
}

/// A live secret's metadata from its header and PTTL, read at `now` (Unix ms).
fn live_meta(
    header: Option<Value>,
    pttl: Option<Value>,
    now: u64,
) -> Result<SecretMeta, StoreError> {
    let (Some(Value::BulkString(h)), Some(Value::Int(pttl))) = (header, pttl) else {
        return Err(corrupt("metadata reply"));
    };
    codec::decode_meta(&h, now + pttl.max(0) as u64)
}

fn parse_token(raw: &[u8]) -> Result<TokenRecord, StoreError> {
    serde_json::from_slice(raw).map_err(|_| corrupt("token record"))
}

#[async_trait]
impl SecretStore for RedisStore {
    async fn put(&self, secret: NewSecret) -> Result<(), StoreError> {
        let k = keys(&secret.id);
        let blob = codec::encode_secret(&secret);
        let ttl_ms = secret.ttl.as_millis().max(1) as u64;
        self.query::<()>(
            ::redis::cmd("SET")
                .arg(&k.data)
                .arg(blob)
                .arg("PX")
                .arg(ttl_ms),
        )
        .await
    }

    async fn peek(&self, id: &SecretId) -> Result<Peek, StoreError> {
        match self.peek_once(id).await? {
            Peek::Missing if self.import_v3_secret(id).await? => self.peek_once(id).await,
            found => Ok(found),
        }
    }

    async fn take(&self, id: &SecretId, mode: TakeMode) -> Result<Taken, StoreError> {
        let mut taken = match self.take_once(id, mode).await? {
            Taken::Missing if self.import_v3_secret(id).await? => self.take_once(id, mode).await?,
            taken => taken,
        };
        // On a cluster the script could not reach the budget's and statistics' slots.
        if let (true, Taken::Data { age, .. }) = (self.backend.is_cluster(), &mut taken) {
            let (released, removed) = tokio::join!(self.budget_release(id), self.stats_remove(id));
            if let Err(e) = released {
                tracing::warn!(error = %e, "storage budget not released");
            }
            match removed {
                Ok(a) => *age = a,
                Err(e) => tracing::debug!(error = %e, "secret statistics not updated"),
            }
        }
        Ok(taken)
    }

    async fn fail_attempt(&self, id: &SecretId, max: u32) -> Result<Option<u32>, StoreError> {
        let k = keys(id);
        let prefix = codec::tombstone_prefix(GoneReason::Destroyed, self.clock.now_secs());
        let mut c = self.timed(self.conn()).await?;
        let n: i64 = self
            .timed(async {
                FAIL.key(&k.data)
                    .key(&k.tomb)
                    .key(&k.attempts)
                    .arg(max)
                    .arg(prefix)
                    .invoke_async(&mut c)
                    .await
                    .map_err(redis_err)
            })
            .await?;
        if n >= i64::from(max) {
            // "Destroyed" must not be undone by a failover that brings the secret back.
            self.await_replica(&mut c, &k.data).await?;
        }
        Ok(u32::try_from(n).ok())
    }
}

#[async_trait]
impl UploadStore for RedisStore {
    async fn upload_open(
        &self,
        secret: NewSecret,
        session: UploadSession,
        max_open: u32,
    ) -> Result<Opened, StoreError> {
        let now = self.clock.now_ms();
        if max_open == UNCAPPED {
            let open = open_call(&secret, &session, false, now);
            return self
                .timed(async {
                    let mut c = self.conn().await?;
                    open.invoke_async::<()>(&mut c).await.map_err(redis_err)
                })
                .await
                .map(|()| Opened::Opened);
        }
        let slots = owner_key(&session.owner);
        let member = secret.id.storage_key();
        let ends = super::memory::upload_ends_ms(now, session.deadline_ms);
        let v: Vec<Value> = self
            .timed(async {
                let mut c = self.conn().await?;
                UPLOAD_SLOT
                    .key(&slots)
                    .arg(now)
                    .arg(max_open)
                    .arg(ends)
                    .arg(&member)
                    .invoke_async(&mut c)
                    .await
                    .map_err(redis_err)
            })
            .await?;
        match v.as_slice() {
            [Value::Int(1)] => {}
            [Value::Int(0), first] => {
                let first = match first {
                    Value::BulkString(b) => std::str::from_utf8(b)
                        .ok()
                        .and_then(|t| t.parse::<f64>().ok()),
                    Value::Double(d) => Some(*d),
                    _ => None,
                }
                .ok_or_else(|| corrupt("upload slot reply"))?;
                return Ok(Opened::TooMany {
                    retry_after: Duration::from_millis((first as u64).saturating_sub(now)),
                });
            }
            _ => return Err(corrupt("upload slot reply")),
        }
        let open = open_call(&secret, &session, true, now);
        let opened = self
            .timed(async {
                let mut c = self.conn().await?;
                open.invoke_async::<()>(&mut c).await.map_err(redis_err)
            })
            .await;
        if let Err(e) = opened {
            self.release_slot(&slots, &member).await;
            return Err(e);
        }
        Ok(Opened::Opened)
    }

    async fn upload_state(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
    ) -> Result<UploadState, StoreError> {
        let k = keys(id);
        let v: Vec<Value> = self
            .timed(async {
                let mut c = self.conn().await?;
                UPLOAD_STATE
                    .key(&k.pending)
                    .key(&k.session)
                    .arg(&creator_hash[..])
                    .arg(self.clock.now_ms())
                    .invoke_async(&mut c)
                    .await
                    .map_err(redis_err)
            })
            .await?;
        match v.as_slice() {
            [Value::Int(0)] => Ok(UploadState::Missing),
            [Value::Int(2)] => Ok(UploadState::Forbidden),
            [Value::Int(1), Value::Int(have), Value::Int(limit)] if *have >= 0 && *limit >= 0 => {
                Ok(UploadState::Open {
                    offset: *have as u64,
                    limit: *limit as u64,
                })
            }
            _ => Err(corrupt("upload reply")),
        }
    }

    async fn upload_discard(&self, id: &SecretId) -> Result<(), StoreError> {
        let k = keys(id);
        let session: Option<String> = self
            .timed(async {
                let mut c = self.conn().await?;
                UPLOAD_DISCARD
                    .key(&k.pending)
                    .key(&k.session)
                    .invoke_async(&mut c)
                    .await
                    .map_err(redis_err)
            })
            .await?;
        if let Some(owner) = session.as_deref().and_then(session_owner) {
            self.release_slot(&owner_key_str(owner), &id.storage_key())
                .await;
        }
        Ok(())
    }

    async fn upload_append(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
        offset: u64,
        chunk: Bytes,
    ) -> Result<Appended, StoreError> {
        let k = keys(id);
        let v: Vec<Value> = self
            .timed(async {
                let mut c = self.conn().await?;
                UPLOAD_APPEND
                    .key(&k.pending)
                    .key(&k.session)
                    .arg(&creator_hash[..])
                    .arg(offset)
                    .arg(&chunk[..])
                    .arg(self.clock.now_ms())
                    .arg(UPLOAD_IDLE.as_millis() as u64)
                    .invoke_async(&mut c)
                    .await
                    .map_err(redis_err)
            })
            .await?;
        let at = |v: Option<&Value>| match v {
            Some(Value::Int(n)) if *n >= 0 => Ok(*n as u64),
            _ => Err(corrupt("upload reply")),
        };
        let owner = |v: Option<&Value>| match v {
            Some(Value::BulkString(b)) if !b.is_empty() => {
                std::str::from_utf8(b).ok().map(owner_key_str)
            }
            _ => None,
        };
        match v.first() {
            Some(Value::Int(0)) => Ok(Appended::Missing),
            Some(Value::Int(1)) => {
                // The upload's place among its owner's open ones now ends when it does.
                if let (Some(slots), Ok(ends)) = (owner(v.get(2)), at(v.get(3))) {
                    self.renew_slot(&slots, &id.storage_key(), ends).await;
                }
                Ok(Appended::At(at(v.get(1))?))
            }
            Some(Value::Int(2)) => Ok(Appended::OffsetMismatch(at(v.get(1))?)),
            Some(Value::Int(3)) => {
                if let Some(slots) = owner(v.get(2)) {
                    self.release_slot(&slots, &id.storage_key()).await;
                }
                Ok(Appended::TooLarge(at(v.get(1))?))
            }
            Some(Value::Int(4)) => Ok(Appended::Forbidden),
            _ => Err(corrupt("upload reply")),
        }
    }

    async fn upload_finish(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
    ) -> Result<Finished, StoreError> {
        let finish = finish_call(id, creator_hash, self.clock.now_ms());
        let v: Vec<Value> = self
            .timed(async {
                let mut c = self.conn().await?;
                finish.invoke_async(&mut c).await.map_err(redis_err)
            })
            .await?;
        self.finished(id, &v).await
    }

    async fn upload_whole(
        &self,
        secret: NewSecret,
        session: UploadSession,
    ) -> Result<Finished, StoreError> {
        let now = self.clock.now_ms();
        let (id, creator_hash) = (secret.id, secret.creator_hash);
        let open = open_call(&secret, &session, false, now);
        let finish = finish_call(&id, &creator_hash, now);
        // One round trip: the open and the finish scripts pipelined (both keys share the id's
        // hash tag, so a cluster sends them to one node). A script Redis does not have loaded
        // yet (a new or restarted Redis, a new master) is loaded and run on its own.
        let mut pipe = ::redis::pipe();
        pipe.ignore_errors()
            .invoke_script(&open)
            .invoke_script(&finish);
        let v = self
            .timed(async {
                let mut c = self.conn().await?;
                let (opened, finished) = two_replies(&mut c, &pipe, "upload reply").await?;
                if unloaded(&opened) {
                    open.invoke_async::<()>(&mut c).await.map_err(redis_err)?;
                    return finish.invoke_async(&mut c).await.map_err(redis_err);
                }
                if let Value::ServerError(e) = opened {
                    return Err(redis_err(e.into()));
                }
                match finished {
                    v if unloaded(&v) => finish.invoke_async(&mut c).await.map_err(redis_err),
                    Value::ServerError(e) => Err(redis_err(e.into())),
                    Value::Array(v) => Ok(v),
                    _ => Err(corrupt("upload reply")),
                }
            })
            .await?;
        self.finished(&id, &v).await
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn token_get(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        let field = hex::encode(hash);
        let raw: Option<Vec<u8>> = self
            .query(::redis::cmd("HGET").arg(TOKENS_KEY).arg(&field))
            .await?;
        let record = match raw {
            Some(raw) => parse_token(&raw)?,
            None => match self.import_v3_token(hash).await? {
                Some(record) => record,
                None => return Ok(None),
            },
        };
        if record.is_expired(self.clock.now_secs()) {
            self.token_take(hash).await?;
            return Ok(None);
        }
        Ok(Some(record))
    }

    async fn token_put(&self, hash: &TokenHash, record: &TokenRecord) -> Result<(), StoreError> {
        let field = hex::encode(hash);
        let raw = serde_json::to_vec(record).map_err(|_| corrupt("token record"))?;
        self.query::<()>(::redis::cmd("HSET").arg(TOKENS_KEY).arg(&field).arg(raw))
            .await
    }

    async fn token_take(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        let field = hex::encode(hash);
        self.delete_v3_tokens(std::slice::from_ref(&field)).await?;
        let mut c = self.timed(self.conn()).await?;
        let n: i64 = self
            .timed(async {
                ::redis::cmd("HDEL")
                    .arg(TOKENS_KEY)
                    .arg(&field)
                    .query_async(&mut c)
                    .await
                    .map_err(redis_err)
            })
            .await?;
        if n == 1 {
            // A spent one-time token must stay spent across a failover.
            self.await_replica(&mut c, TOKENS_KEY).await?;
        }
        Ok(n == 1)
    }

    async fn token_list(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let all: Vec<(String, Vec<u8>)> =
            self.query(::redis::cmd("HGETALL").arg(TOKENS_KEY)).await?;
        let now = self.clock.now_secs();
        let mut out = Vec::with_capacity(all.len());
        let mut expired = Vec::new();
        for (field, raw) in all {
            let record = parse_token(&raw)?;
            if record.is_expired(now) {
                expired.push(field);
            } else {
                out.push(record);
            }
        }
        if !expired.is_empty() {
            self.delete_v3_tokens(&expired).await?;
            self.hdel(&expired).await?;
        }
        Ok(out)
    }

    async fn token_delete_by_id(&self, id: &str) -> Result<bool, StoreError> {
        let all: Vec<(String, Vec<u8>)> =
            self.query(::redis::cmd("HGETALL").arg(TOKENS_KEY)).await?;
        let mut fields = Vec::new();
        for (field, raw) in all {
            if parse_token(&raw)?.id == id {
                fields.push(field);
            }
        }
        if fields.is_empty() {
            return Ok(false);
        }
        self.delete_v3_tokens(&fields).await?;
        self.hdel(&fields).await?;
        Ok(true)
    }

    async fn token_clear(&self) -> Result<(), StoreError> {
        self.clear_v3_tokens().await?;
        self.query::<()>(::redis::cmd("DEL").arg(TOKENS_KEY)).await
    }

    async fn admin_hash_get(&self) -> Result<Option<TokenHash>, StoreError> {
        let raw: Option<String> = self.query(::redis::cmd("GET").arg(ADMIN_KEY)).await?;
        let Some(raw) = raw else {
            return self.import_v3_admin().await;
        };
        let mut hash = [0u8; 32];
        hex::decode_to_slice(raw, &mut hash).map_err(|_| corrupt("admin token"))?;
        Ok(Some(hash))
    }

    async fn admin_hash_set(&self, hash: &TokenHash) -> Result<(), StoreError> {
        self.query::<()>(::redis::cmd("SET").arg(ADMIN_KEY).arg(hex::encode(hash)))
            .await?;
        self.set_v3_admin(hash).await
    }
}

#[async_trait]
impl BudgetStore for RedisStore {
    async fn budget_reserve(&self, r: &Reservation) -> Result<Reserved, StoreError> {
        let now = self.clock.now_ms();
        let call = reserve_call(r, now);
        let v: Vec<Value> = self
            .timed(async {
                let mut c = self.conn().await?;
                call.invoke_async(&mut c).await.map_err(redis_err)
            })
            .await?;
        reserved(&v, now)
    }

    async fn budget_release(&self, id: &SecretId) -> Result<(), StoreError> {
        self.timed(async {
            let mut c = self.conn().await?;
            BUDGET_RELEASE
                .key(BUDGET_ALL_KEY)
                .key(BUDGET_SIZES_KEY)
                .key(BUDGET_TOTAL_KEY)
                .arg(self.clock.now_ms())
                .arg(id.storage_key())
                .invoke_async::<i64>(&mut c)
                .await
                .map_err(redis_err)
        })
        .await?;
        Ok(())
    }

    async fn budget_used(&self, owner: Option<&UploadOwner>) -> Result<(u64, u64), StoreError> {
        let owner_bytes = format!("{}:n", budget_owner_key(owner));
        let (total, mine): (i64, i64) = self
            .timed(async {
                let mut c = self.conn().await?;
                BUDGET_USED
                    .key(BUDGET_ALL_KEY)
                    .key(BUDGET_SIZES_KEY)
                    .key(BUDGET_TOTAL_KEY)
                    .key(&owner_bytes)
                    .arg(self.clock.now_ms())
                    .invoke_async(&mut c)
                    .await
                    .map_err(redis_err)
            })
            .await?;
        let mine = if owner.is_some() { mine } else { 0 };
        Ok((total.max(0) as u64, mine.max(0) as u64))
    }

    async fn capacity(&self) -> StoreCapacity {
        let reply = self
            .query::<Value>(::redis::cmd("CONFIG").arg("GET").arg("maxmemory*"))
            .await;
        let pairs = match reply {
            Ok(v) => config_pairs(v),
            Err(e) => {
                return StoreCapacity::Unknown(format!(
                    "Redis refused CONFIG GET maxmemory ({e}); managed Redis often does"
                ))
            }
        };
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let policy = get("maxmemory-policy").unwrap_or("noeviction").to_owned();
        let evicts = (policy != "noeviction").then(|| {
            format!(
                "Redis maxmemory-policy is {policy}: when full, Redis evicts secrets before \
                 they are read; set it to noeviction"
            )
        });
        match get("maxmemory").and_then(|v| v.parse::<u64>().ok()) {
            // Half: the budget counts payload bytes, while Redis rounds each value up to its
            // allocator's size class (up to 25% more: a 1 MiB secret takes 1.25 MiB), adds
            // each key's overhead, and buffers the uploads in flight; past maxmemory it
            // refuses writes, and with them the tombstone a read leaves.
            Some(bytes) if bytes > 0 => StoreCapacity::Bytes {
                bytes: bytes / 2,
                source: "half of Redis maxmemory".into(),
                warning: evicts,
            },
            _ => StoreCapacity::Unknown(format!(
                "Redis has no maxmemory: nothing stops secrets from filling the machine's \
                 memory{}",
                evicts.map(|e| format!("; {e}")).unwrap_or_default()
            )),
        }
    }
}

#[async_trait]
impl StatsStore for RedisStore {
    async fn stats_add(&self, id: &SecretId, ttl: Duration) -> Result<(), StoreError> {
        let score = stats_score::encode(self.clock.now_secs() + ttl.as_secs(), ttl.as_secs());
        self.query::<()>(
            ::redis::cmd("ZADD")
                .arg(STATS_LIVE_KEY)
                .arg(score)
                .arg(id.storage_key()),
        )
        .await
    }

    async fn stats_remove(&self, id: &SecretId) -> Result<Option<Duration>, StoreError> {
        let score: Option<f64> = self
            .timed(async {
                let mut c = self.conn().await?;
                STATS_REMOVE
                    .key(STATS_LIVE_KEY)
                    .arg(id.storage_key())
                    .invoke_async(&mut c)
                    .await
                    .map_err(redis_err)
            })
            .await?;
        Ok(score.map(|s| Duration::from_secs(stats_score::age(s as u64, self.clock.now_secs()))))
    }

    async fn stats_counts(&self) -> Result<SecretCounts, StoreError> {
        let (active, expired): (u64, u64) = self
            .timed(async {
                let mut c = self.conn().await?;
                STATS_COUNT
                    .key(STATS_LIVE_KEY)
                    .key(STATS_EXPIRED_KEY)
                    .arg(stats_score::expired_below(self.clock.now_secs()))
                    .invoke_async(&mut c)
                    .await
                    .map_err(redis_err)
            })
            .await?;
        Ok(SecretCounts { active, expired })
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn import_hakanai_v3(&self) -> Result<HakanaiV3Import, StoreError> {
        self.import_all_v3().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed(async {
            let mut c = self.conn().await?;
            ::redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .map_err(redis_err)?;
            Ok(())
        })
        .await
    }

    async fn create(&self, secret: NewSecret, r: &Reservation) -> Result<Reserved, StoreError> {
        // A cluster keeps the secret and the budget in different slots, which no one script may
        // touch together. A large secret is reserved before it is stored (below, a refused one
        // would take its room in Redis for a moment).
        if self.backend.is_cluster() || secret.data.len() > UPLOAD_PIECE {
            return create_in_steps(self, secret, r).await;
        }
        debug_assert_eq!(secret.id, r.id);
        let now = self.clock.now_ms();
        let k = keys(&secret.id);
        let ttl_ms = secret.ttl.as_millis().max(1) as u64;
        let now_secs = self.clock.now_secs();
        let score = stats_score::encode(now_secs + secret.ttl.as_secs(), secret.ttl.as_secs());
        let mut call = reserve_call(r, now);
        call.key(&k.data).key(STATS_LIVE_KEY).arg(score);
        // One round trip: the secret's own SET, then the reservation script, which deletes the
        // secret again if it refuses. Nobody knows the id before this returns, so a refused
        // secret is never seen; and the value, passed through Lua instead, would cost Redis more
        // than the whole SET does.
        let mut pipe = ::redis::pipe();
        pipe.ignore_errors()
            .cmd("SET")
            .arg(&k.data)
            .arg(codec::encode_secret(&secret))
            .arg("PX")
            .arg(ttl_ms)
            .invoke_script(&call);
        let sent = self
            .timed(async {
                let mut c = self.conn().await?;
                let (stored, reply) = two_replies(&mut c, &pipe, "create reply").await?;
                let reply = match reply {
                    // The script is not loaded yet (a new or restarted Redis, a new master):
                    // this loads and runs it.
                    reply if unloaded(&reply) => call.invoke_async(&mut c).await,
                    Value::ServerError(e) => Err(e.into()),
                    v => Ok(v),
                };
                Ok((stored, reply))
            })
            .await;
        let (stored, reply) = match sent {
            Ok(replies) => replies,
            Err(e) => {
                // Lost in transport or late: whatever was stored and reserved goes back (the
                // client hears of a failure), as when storing fails in steps.
                let mut del = ::redis::cmd("DEL");
                del.arg(&k.data);
                let _ = tokio::join!(
                    self.query::<()>(&mut del),
                    self.budget_release(&r.id),
                    self.stats_remove(&r.id)
                );
                return Err(e);
            }
        };
        match (stored, reply) {
            (Value::ServerError(e), reply) => {
                // Not stored (Redis full): whatever the script reserved goes back.
                if matches!(&reply, Ok(Value::Array(v)) if matches!(v.first(), Some(Value::Int(0))))
                {
                    let (_, _) = tokio::join!(self.budget_release(&r.id), self.stats_remove(&r.id));
                }
                Err(redis_err(e.into()))
            }
            (_, Err(e)) => {
                // Stored, but not reserved: the secret goes again.
                let _ = self.query::<()>(::redis::cmd("DEL").arg(&k.data)).await;
                Err(redis_err(e))
            }
            (_, Ok(Value::Array(v))) => reserved(&v, now),
            _ => Err(corrupt("budget reply")),
        }
    }
}

impl RedisStore {
    /// The finish script's reply for upload `id`; the upload's place among its owner's open
    /// ones is given back.
    async fn finished(&self, id: &SecretId, v: &[Value]) -> Result<Finished, StoreError> {
        match v {
            [Value::Int(0)] => Ok(Finished::Missing),
            [Value::Int(2)] => Ok(Finished::Forbidden),
            [Value::Int(1), Value::BulkString(session), Value::Int(size)] => {
                let session =
                    std::str::from_utf8(session).map_err(|_| corrupt("upload session"))?;
                if let Some(owner) = session_owner(session) {
                    self.release_slot(&owner_key_str(owner), &id.storage_key())
                        .await;
                }
                let mut words = session.split(' ');
                let ttl_ms: u64 = words
                    .next()
                    .and_then(|w| w.parse().ok())
                    .ok_or_else(|| corrupt("upload session"))?;
                let words: Vec<&str> = words.collect();
                // Sessions opened by an older server hold "ttl_ms tag limit" or "ttl_ms limit".
                let user_type = match words.as_slice() {
                    [tag, _, _, _] | [tag, _] => UserType::from_tag(tag),
                    _ => UserType::Anonymous,
                };
                Ok(Finished::Published(Published {
                    ttl: Duration::from_millis(ttl_ms),
                    size: u64::try_from(*size).unwrap_or(0),
                    user_type,
                }))
            }
            _ => Err(corrupt("upload reply")),
        }
    }

    /// Gives an upload's place among its owner's open ones back. Best effort: a place not given
    /// back ends with the upload anyway (its score).
    async fn release_slot(&self, slots: &str, member: &str) {
        let released = self
            .timed(async {
                let mut c = self.conn().await?;
                ::redis::cmd("ZREM")
                    .arg(slots)
                    .arg(member)
                    .query_async::<()>(&mut c)
                    .await
                    .map_err(redis_err)
            })
            .await;
        if let Err(e) = released {
            tracing::debug!(error = %e, "open-upload place not given back");
        }
    }

    /// Moves the end of an upload's place to `ends_ms`, if it still has one (best effort).
    async fn renew_slot(&self, slots: &str, member: &str, ends_ms: u64) {
        let renewed = self
            .timed(async {
                let mut c = self.conn().await?;
                UPLOAD_SLOT_RENEW
                    .key(slots)
                    .arg(ends_ms)
                    .arg(member)
                    .invoke_async::<()>(&mut c)
                    .await
                    .map_err(redis_err)
            })
            .await;
        if let Err(e) = renewed {
            tracing::debug!(error = %e, "open-upload place not renewed");
        }
    }

    async fn peek_once(&self, id: &SecretId) -> Result<Peek, StoreError> {
        let k = keys(id);
        let v: Vec<Value> = self
            .timed(async {
                let mut c = self.conn().await?;
                PEEK.key(&k.data)
                    .key(&k.tomb)
                    .invoke_async(&mut c)
                    .await
                    .map_err(redis_err)
            })
            .await?;
        let now = self.clock.now_ms();
        let mut it = v.into_iter();
        match it.next() {
            Some(Value::Int(0)) => Ok(Peek::Missing),
            Some(Value::Int(1)) => Ok(Peek::Live(live_meta(it.next(), it.next(), now)?)),
            Some(Value::Int(2)) => Ok(Peek::Gone(tombstone(
                it.next().ok_or(corrupt("peek reply"))?,
            )?)),
            _ => Err(corrupt("peek reply")),
        }
    }

    async fn take_once(&self, id: &SecretId, mode: TakeMode) -> Result<Taken, StoreError> {
        let k = keys(id);
        let prefix = codec::tombstone_prefix(mode.reason(), self.clock.now_secs());
        let want_data = mode != TakeMode::Revoke;
        let checks_first = match &mode {
            TakeMode::ReadIfOpenedBy(presented) => presented.as_str(),
            TakeMode::ReadIfUnrestricted => "1",
            TakeMode::Read | TakeMode::Revoke => "0",
        };
        // Getting a connection is bounded by `op_timeout` (a dead Redis is a quick 503), but
        // once the consuming script is sent it completes in Redis whatever we do: giving up on
        // its reply would destroy the secret without delivering it. So the reply, which may
        // carry a large secret, gets a generous bound of its own.
        let mut c = self.timed(self.conn()).await?;
        c.set_response_timeout(CONSUME_REPLY_TIMEOUT);
        let mut invocation = TAKE.key(&k.data);
        invocation
            .key(&k.tomb)
            .key(&k.attempts)
            .arg(prefix)
            .arg(if want_data { "1" } else { "0" })
            .arg(checks_first);
        if !self.backend.is_cluster() {
            invocation
                .key(BUDGET_ALL_KEY)
                .key(BUDGET_SIZES_KEY)
                .key(BUDGET_TOTAL_KEY)
                .key(STATS_LIVE_KEY)
                .arg(self.clock.now_ms())
                .arg(id.storage_key());
        }
        let reply = invocation.invoke_async(&mut c);
        let v: Vec<Value> = match tokio::time::timeout(CONSUME_REPLY_TIMEOUT, reply).await {
            Ok(reply) => reply.map_err(redis_err)?,
            Err(_) => return Err(StoreError::Timeout),
        };
        if matches!(v.first(), Some(Value::Int(1))) {
            // If the master died now, a replica that never saw the deletion could be promoted
            // and hand the secret out a second time. So it leaves only after a replica has the
            // deletion too; if the master dies first the reader gets a 503 and the secret,
            // never delivered, may still be read once.
            self.await_replica(&mut c, &k.data).await?;
        }
        drop(c);
        let now = self.clock.now_ms();
        let mut it = v.into_iter();
        match it.next() {
            Some(Value::Int(0)) => Ok(Taken::Missing),
            Some(Value::Int(1)) => {
                let (kind, data) = match it.next() {
                    Some(Value::BulkString(blob)) => codec::decode_payload(Bytes::from(blob))?,
                    // The kind is irrelevant to a caller that did not want the data.
                    _ => (PayloadKind::Raw, Bytes::new()),
                };
                let score = match it.next() {
                    Some(Value::BulkString(b)) => std::str::from_utf8(&b)
                        .ok()
                        .and_then(|t| t.parse::<f64>().ok()),
                    Some(Value::Double(d)) => Some(d),
                    _ => None,
                };
                let age =
                    score.map(|s| Duration::from_secs(stats_score::age(s as u64, now / 1000)));
                Ok(Taken::Data { kind, data, age })
            }
            Some(Value::Int(2)) => Ok(Taken::Gone(tombstone(
                it.next().ok_or(corrupt("take reply"))?,
            )?)),
            Some(Value::Int(3)) => Ok(Taken::Restricted(live_meta(it.next(), it.next(), now)?)),
            _ => Err(corrupt("take reply")),
        }
    }

    async fn hdel(&self, fields: &[String]) -> Result<(), StoreError> {
        self.query::<()>(::redis::cmd("HDEL").arg(TOKENS_KEY).arg(fields))
            .await
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use hakanai_test_support::RedisServer;

    /// The Lua the scripts read records with (`record_lua`) agrees with the codec that writes
    /// them, in a real Redis: the length of header and restrictions, the creator hash that a
    /// tombstone copies, and the read lock.
    #[tokio::test]
    async fn the_scripts_read_the_records_the_codec_writes() {
        let server = RedisServer::start();
        let client = ::redis::Client::open(server.dsn()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let probe = record_script(
            r#"
redis.call('SET', KEYS[1], ARGV[1])
local h = redis.call('GETRANGE', KEYS[1], 0, HEADER_LEN - 1)
return {meta_len(h), ARGV[2] .. creator_of(h), read_lock(h)}
"#,
        );
        let locked = Restrictions {
            read_lock: Some("0f".repeat(32)),
            passphrase_hash: Some("ab".repeat(32)),
            ..Restrictions::default()
        };
        for restrictions in [Restrictions::default(), locked] {
            let secret = NewSecret {
                id: SecretId::random(),
                kind: PayloadKind::Raw,
                creator_hash: std::array::from_fn(|i| i as u8 + 1),
                restrictions: restrictions.clone(),
                data: Bytes::from_static(b"payload"),
                ttl: Duration::from_secs(60),
            };
            let record = codec::encode_secret(&secret);
            let prefix = codec::tombstone_prefix(GoneReason::Read, 7);
            let (meta_len, tombstone, lock): (usize, Vec<u8>, String) = probe
                .key("hk:{layout}")
                .arg(&record)
                .arg(&prefix)
                .invoke_async(&mut c)
                .await
                .unwrap();
            assert_eq!(meta_len, codec::meta_len(&record).unwrap());
            let mut tombstone = tombstone;
            tombstone.extend_from_slice(lock.as_bytes());
            let decoded = codec::decode_tombstone(&tombstone).unwrap();
            assert_eq!(decoded.creator_hash, secret.creator_hash);
            assert_eq!((decoded.reason, decoded.at), (GoneReason::Read, 7));
            assert_eq!(decoded.read_lock, restrictions.read_lock);
        }
    }
}
