//! Taking over what Hakanai v3 left in the same Redis database: its pending secrets, user
//! tokens and admin token (`docs/DEPLOYMENT.md` § Migrating from Hakanai v3).
//!
//! Its keys are `secret:{ULID}` (the base64 data), `restrictions:{ULID}` (JSON, with the
//! passphrase hash a reader sends, stored as sent), `token:{hex SHA-256}` (JSON
//! `{upload_size_limit, one_time}`, with the token's TTL) and `admin_token` (hex SHA-256).
//!
//! - A secret is *moved*, atomically, into our layout (with its remaining TTL, its
//!   restrictions and a passphrase lock instead of the reusable hash) and Hakanai's keys are
//!   deleted in the same script, so it is readable exactly once however many replicas import
//!   it and Hakanai's copy of the passphrase hash does not outlive the move.
//! - A user token is copied (Hakanai's key stays, so going back keeps it working); whatever
//!   removes it here (revoke, expiry, reset) removes Hakanai's copy too, so it never comes back.
//!   A one-time token is moved instead, so it cannot be spent once on each side.
//! - The admin token is copied when this server has none.
//! - `accessed:{ULID}` (a secret already read, kept for `--max-ttl`) becomes our tombstone, so
//!   its link still answers 410 rather than 404.
//!
//! Everything is imported at startup and, for what Hakanai replicas still create during a
//! rolling switch, on first use (a secret id or token this store does not know). Redis Cluster
//! is skipped: Hakanai v3 never ran on one.

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::{Script, Value};
use serde::Deserialize;

use super::{codec, corrupt, keys, RedisStore, ADMIN_KEY, TOKENS_KEY};
use crate::id::SecretId;
use crate::restrictions::RestrictionsRequest;
use crate::store::{
    GoneReason, HakanaiV3Import as Imported, NewSecret, PayloadKind, StoreError, TokenHash,
    TokenRecord,
};
use crate::tokens;

const SECRET_PREFIX: &str = "secret:";
const ACCESSED_PREFIX: &str = "accessed:";
const RESTRICTIONS_PREFIX: &str = "restrictions:";
const TOKEN_PREFIX: &str = "token:";
const ADMIN_TOKEN_KEY: &str = "admin_token";

/// KEYS: Hakanai's secret, its restrictions, our data key. ARGV: the data as read, our record.
/// Moves only if Hakanai's copy is still there and unchanged, so a concurrent import or a
/// reader on a Hakanai replica wins cleanly.
static MOVE_SECRET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local data = redis.call('GET', KEYS[1])
if not data or data ~= ARGV[1] then return 0 end
local pttl = redis.call('PTTL', KEYS[1])
if pttl < 1 then pttl = tonumber(ARGV[3]) end
redis.call('SET', KEYS[3], ARGV[2], 'PX', pttl, 'NX')
redis.call('DEL', KEYS[1], KEYS[2])
return 1
",
    )
});

/// KEYS: our data key, our tombstone. ARGV: the tombstone, its TTL in ms. A live secret of ours
/// under the same id is left alone.
static ADOPT_ACCESSED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
return 0
",
    )
});

/// KEYS: Hakanai's token key, our token hash. ARGV: field, record, "1" to move (one-time).
static IMPORT_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) end
return 1
",
    )
});

#[derive(Deserialize)]
struct TokenData {
    upload_size_limit: Option<i64>,
    #[serde(default)]
    one_time: bool,
}

/// Hakanai applied no expiry to a secret without TTL; ours must have one.
const FALLBACK_TTL_MS: u64 = 7 * 24 * 3600 * 1000;

pub fn token_key(hash: &TokenHash) -> String {
    format!("{TOKEN_PREFIX}{}", hex::encode(hash))
}

impl RedisStore {
    fn imports_hakanai_v3(&self) -> bool {
        !self.backend.is_cluster()
    }

    /// Moves Hakanai's secret `id` into our layout; false when there is none (any more).
    pub(super) async fn import_v3_secret(&self, id: &SecretId) -> Result<bool, StoreError> {
        if !self.imports_hakanai_v3() {
            return Ok(false);
        }
        let ulid = id.to_string();
        let secret_key = format!("{SECRET_PREFIX}{ulid}");
        let restrictions_key = format!("{RESTRICTIONS_PREFIX}{ulid}");
        let (data, restrictions, pttl): (Option<Vec<u8>>, Option<Vec<u8>>, i64) = self
            .timed(async {
                let mut c = self.conn().await?;
                ::redis::pipe()
                    .get(&secret_key)
                    .get(&restrictions_key)
                    .pttl(&secret_key)
                    .query_async(&mut c)
                    .await
                    .map_err(super::redis_err)
            })
            .await?;
        let Some(data) = data else { return Ok(false) };
        let restrictions = match restrictions {
            None => Default::default(),
            Some(raw) => serde_json::from_slice::<RestrictionsRequest>(&raw)
                .ok()
                .and_then(|r| r.validate().ok())
                // Unreadable restrictions must not turn into none at all.
                .ok_or(corrupt("Hakanai v3 restrictions"))?,
        };
        let ttl_ms = u64::try_from(pttl)
            .ok()
            .filter(|t| *t > 0)
            .unwrap_or(FALLBACK_TTL_MS);
        let secret = NewSecret {
            id: *id,
            kind: PayloadKind::Base64Text,
            // Hakanai had no creator tokens: nobody can revoke it or ask for its status.
            creator_hash: tokens::creator_hash(&tokens::random_token()),
            restrictions,
            data: bytes::Bytes::from(data.clone()),
            ttl: Duration::from_millis(ttl_ms),
        };
        let moved: i64 = self
            .timed(async {
                let mut c = self.conn().await?;
                MOVE_SECRET
                    .key(&secret_key)
                    .key(&restrictions_key)
                    .key(&keys(id).data)
                    .arg(data)
                    .arg(codec::encode_secret(&secret))
                    .arg(FALLBACK_TTL_MS)
                    .invoke_async(&mut c)
                    .await
                    .map_err(super::redis_err)
            })
            .await?;
        if moved == 1 {
            tracing::info!(secret_ref = %crate::id::secret_ref(id), "took over a Hakanai v3 secret");
        }
        // Moved now, or by a concurrent import: either way it is ours to look up again.
        Ok(true)
    }

    /// Copies (one-time: moves) Hakanai's user token with this hash; `None` when it has none.
    pub(super) async fn import_v3_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<TokenRecord>, StoreError> {
        if !self.imports_hakanai_v3() {
            return Ok(None);
        }
        let key = token_key(hash);
        let (raw, pttl): (Option<Vec<u8>>, i64) = self
            .timed(async {
                let mut c = self.conn().await?;
                ::redis::pipe()
                    .get(&key)
                    .pttl(&key)
                    .query_async(&mut c)
                    .await
                    .map_err(super::redis_err)
            })
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        let data: TokenData =
            serde_json::from_slice(&raw).map_err(|_| corrupt("Hakanai v3 token"))?;
        let now = self.clock.now_secs();
        let record = TokenRecord {
            id: tokens::random_token_id(),
            // Hakanai's "no limit of its own" is the server's limit, which the upload path
            // applies on top of every token's.
            upload_size_limit: data
                .upload_size_limit
                .and_then(|l| u64::try_from(l).ok())
                .filter(|l| *l > 0)
                .unwrap_or(u64::MAX),
            one_time: data.one_time,
            created_at: now,
            expires_at: u64::try_from(pttl)
                .ok()
                .filter(|t| *t > 0)
                .map(|ms| now + ms.div_ceil(1000)),
            max_stored_bytes: None,
        };
        let field = hex::encode(hash);
        let json = serde_json::to_vec(&record).map_err(|_| corrupt("token record"))?;
        let _: i64 = self
            .timed(async {
                let mut c = self.conn().await?;
                IMPORT_TOKEN
                    .key(&key)
                    .key(TOKENS_KEY)
                    .arg(&field)
                    .arg(json)
                    .arg(if data.one_time { "1" } else { "0" })
                    .invoke_async(&mut c)
                    .await
                    .map_err(super::redis_err)
            })
            .await?;
        let ours: Option<Vec<u8>> = self
            .query(::redis::cmd("HGET").arg(TOKENS_KEY).arg(&field))
            .await?;
        ours.map(|raw| super::parse_token(&raw)).transpose()
    }

    /// Hakanai's admin token hash, copied when this server has none.
    pub(super) async fn import_v3_admin(&self) -> Result<Option<TokenHash>, StoreError> {
        if !self.imports_hakanai_v3() {
            return Ok(None);
        }
        let raw: Option<String> = self.query(::redis::cmd("GET").arg(ADMIN_TOKEN_KEY)).await?;
        let Some(raw) = raw else { return Ok(None) };
        let mut hash = [0u8; 32];
        if hex::decode_to_slice(raw.trim(), &mut hash).is_err() {
            return Err(corrupt("Hakanai v3 admin token"));
        }
        self.query::<()>(
            ::redis::cmd("SET")
                .arg(ADMIN_KEY)
                .arg(hex::encode(hash))
                .arg("NX"),
        )
        .await?;
        let ours: Option<String> = self.query(::redis::cmd("GET").arg(ADMIN_KEY)).await?;
        let ours = ours.ok_or(corrupt("admin token"))?;
        hex::decode_to_slice(ours, &mut hash).map_err(|_| corrupt("admin token"))?;
        Ok(Some(hash))
    }

    /// Every key of Hakanai's matching `pattern` (SCAN: no blocking `KEYS` on a busy Redis).
    async fn scan(&self, pattern: &str) -> Result<Vec<String>, StoreError> {
        let mut cursor = 0u64;
        let mut out = Vec::new();
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .query(
                    ::redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000),
                )
                .await?;
            out.extend(keys);
            if next == 0 {
                return Ok(out);
            }
            cursor = next;
        }
    }

    /// Imports everything Hakanai v3 left; run at startup, before tokens are bootstrapped.
    pub(super) async fn import_all_v3(&self) -> Result<Imported, StoreError> {
        let mut imported = Imported::default();
        if !self.imports_hakanai_v3() {
            return Ok(imported);
        }
        for key in self.scan(&format!("{SECRET_PREFIX}*")).await? {
            let Some(id) = key.strip_prefix(SECRET_PREFIX).and_then(SecretId::parse) else {
                continue;
            };
            match self.import_v3_secret(&id).await {
                Ok(true) => imported.secrets += 1,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, key, "cannot take over a Hakanai v3 secret"),
            }
        }
        for key in self.scan(&format!("{ACCESSED_PREFIX}*")).await? {
            let Some(id) = key.strip_prefix(ACCESSED_PREFIX).and_then(SecretId::parse) else {
                continue;
            };
            if let Err(e) = self.import_v3_accessed(&id, &key).await {
                tracing::error!(error = %e, key, "cannot take over a Hakanai v3 read marker");
            }
        }
        for key in self.scan(&format!("{TOKEN_PREFIX}*")).await? {
            let mut hash = [0u8; 32];
            let Some(hex_hash) = key.strip_prefix(TOKEN_PREFIX) else {
                continue;
            };
            if hex::decode_to_slice(hex_hash, &mut hash).is_err() {
                continue;
            }
            match self.import_v3_token(&hash).await {
                Ok(Some(_)) => imported.tokens += 1,
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "cannot take over a Hakanai v3 token"),
            }
        }
        let had_admin: Option<String> = self.query(::redis::cmd("GET").arg(ADMIN_KEY)).await?;
        if had_admin.is_none() {
            imported.admin_token = self.import_v3_admin().await?.is_some();
        }
        Ok(imported)
    }

    /// A secret Hakanai already handed out: a tombstone of ours until its marker would expire.
    async fn import_v3_accessed(&self, id: &SecretId, key: &str) -> Result<(), StoreError> {
        let (at, pttl): (Option<String>, i64) = self
            .timed(async {
                let mut c = self.conn().await?;
                ::redis::pipe()
                    .get(key)
                    .pttl(key)
                    .query_async(&mut c)
                    .await
                    .map_err(super::redis_err)
            })
            .await?;
        let Some(at) = at else { return Ok(()) };
        let at = at
            .trim()
            .parse::<u64>()
            .unwrap_or_else(|_| self.clock.now_secs());
        let ttl_ms = u64::try_from(pttl)
            .ok()
            .filter(|t| *t > 0)
            .unwrap_or(FALLBACK_TTL_MS);
        let mut tombstone = codec::tombstone_prefix(GoneReason::Read, at);
        tombstone.extend_from_slice(&tokens::creator_hash(&tokens::random_token()));
        let k = keys(id);
        let _: i64 = self
            .timed(async {
                let mut c = self.conn().await?;
                ADOPT_ACCESSED
                    .key(&k.data)
                    .key(&k.tomb)
                    .arg(tombstone)
                    .arg(ttl_ms)
                    .invoke_async(&mut c)
                    .await
                    .map_err(super::redis_err)
            })
            .await?;
        Ok(())
    }

    /// Hakanai's copies of these tokens, removed with ours (before ours, so that a lookup in
    /// between still finds ours rather than importing Hakanai's again).
    pub(super) async fn delete_v3_tokens(&self, fields: &[String]) -> Result<(), StoreError> {
        if !self.imports_hakanai_v3() || fields.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = fields
            .iter()
            .map(|f| format!("{TOKEN_PREFIX}{f}"))
            .collect();
        self.query::<()>(::redis::cmd("DEL").arg(keys)).await
    }

    /// Every one of Hakanai's user tokens (a reset of ours resets them too).
    pub(super) async fn clear_v3_tokens(&self) -> Result<(), StoreError> {
        if !self.imports_hakanai_v3() {
            return Ok(());
        }
        let keys = self.scan(&format!("{TOKEN_PREFIX}*")).await?;
        for chunk in keys.chunks(500) {
            self.query::<()>(::redis::cmd("DEL").arg(chunk)).await?;
        }
        Ok(())
    }

    /// Keeps Hakanai's admin token in step with ours when it exists.
    pub(super) async fn set_v3_admin(&self, hash: &TokenHash) -> Result<(), StoreError> {
        if !self.imports_hakanai_v3() {
            return Ok(());
        }
        let _: Value = self
            .query(
                ::redis::cmd("SET")
                    .arg(ADMIN_TOKEN_KEY)
                    .arg(hex::encode(hash))
                    .arg("XX"),
            )
            .await?;
        Ok(())
    }
}
