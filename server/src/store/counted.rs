//! A store decorator that opens a span around every store call and, for Redis, counts the call
//! in `hakanai_redis_operations_total`.
//!
//! Doing both here rather than inside the stores keeps telemetry out of the storage code and
//! lets the label set stay fixed: operation names are constants, never keys. Spans carry the
//! operation name only, never an id, token hash or payload.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use prometheus::IntCounterVec;
use tracing::Instrument;

use super::{
    Appended, BudgetStore, Finished, HakanaiV3Import, NewSecret, Opened, Peek, Reservation,
    Reserved, SecretCounts, SecretStore, StatsStore, Store, StoreCapacity, StoreError, TakeMode,
    Taken, TokenHash, TokenRecord, TokenStore, UploadOwner, UploadSession, UploadState,
    UploadStore, CREATOR_HASH_LEN,
};
use crate::id::SecretId;

pub struct CountedStore {
    inner: Arc<dyn Store>,
    telemetry: Telemetry,
}

/// What each call reports: the store's kind for the span, and the counter if the store has one.
#[derive(Clone)]
struct Telemetry {
    system: &'static str,
    ops: Option<IntCounterVec>,
}

impl CountedStore {
    /// A Redis store: spans and counted operations.
    pub fn new(inner: Arc<dyn Store>, ops: IntCounterVec) -> CountedStore {
        CountedStore {
            inner,
            telemetry: Telemetry {
                system: "redis",
                ops: Some(ops),
            },
        }
    }

    /// The embedded store: spans only, since the counter is about Redis round trips.
    pub fn uncounted(inner: Arc<dyn Store>) -> CountedStore {
        CountedStore {
            inner,
            telemetry: Telemetry {
                system: "memory",
                ops: None,
            },
        }
    }
}

impl Telemetry {
    async fn call<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let span = tracing::info_span!(
            "store",
            otel.name = format!("store {op}"),
            otel.kind = "client",
            db.system.name = self.system,
            db.operation.name = op,
            otel.status_code = tracing::field::Empty,
        );
        let r = call.instrument(span.clone()).await;
        if r.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        if let Some(ops) = &self.ops {
            let result = if r.is_ok() { "ok" } else { "error" };
            ops.with_label_values(&[op, result]).inc();
        }
        r
    }
}

#[async_trait]
impl SecretStore for CountedStore {
    async fn put(&self, secret: NewSecret) -> Result<(), StoreError> {
        self.telemetry.call("put", self.inner.put(secret)).await
    }

    async fn peek(&self, id: &SecretId) -> Result<Peek, StoreError> {
        self.telemetry.call("peek", self.inner.peek(id)).await
    }

    async fn take(&self, id: &SecretId, mode: TakeMode) -> Result<Taken, StoreError> {
        self.telemetry.call("take", self.inner.take(id, mode)).await
    }

    async fn fail_attempt(&self, id: &SecretId, max: u32) -> Result<Option<u32>, StoreError> {
        self.telemetry
            .call("fail_attempt", self.inner.fail_attempt(id, max))
            .await
    }
}

#[async_trait]
impl UploadStore for CountedStore {
    async fn upload_open(
        &self,
        secret: NewSecret,
        session: UploadSession,
        max_open: u32,
    ) -> Result<Opened, StoreError> {
        self.telemetry
            .call(
                "upload_open",
                self.inner.upload_open(secret, session, max_open),
            )
            .await
    }

    async fn upload_state(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
    ) -> Result<UploadState, StoreError> {
        self.telemetry
            .call("upload_state", self.inner.upload_state(id, creator_hash))
            .await
    }

    async fn upload_discard(&self, id: &SecretId) -> Result<(), StoreError> {
        self.telemetry
            .call("upload_discard", self.inner.upload_discard(id))
            .await
    }

    async fn upload_append(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
        offset: u64,
        chunk: Bytes,
    ) -> Result<Appended, StoreError> {
        self.telemetry
            .call(
                "upload_append",
                self.inner.upload_append(id, creator_hash, offset, chunk),
            )
            .await
    }

    async fn upload_finish(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
    ) -> Result<Finished, StoreError> {
        self.telemetry
            .call("upload_publish", self.inner.upload_finish(id, creator_hash))
            .await
    }

    async fn upload_whole(
        &self,
        secret: NewSecret,
        session: UploadSession,
    ) -> Result<Finished, StoreError> {
        self.telemetry
            .call("upload_whole", self.inner.upload_whole(secret, session))
            .await
    }
}

#[async_trait]
impl TokenStore for CountedStore {
    async fn token_get(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        self.telemetry
            .call("token_get", self.inner.token_get(hash))
            .await
    }

    async fn token_put(&self, hash: &TokenHash, record: &TokenRecord) -> Result<(), StoreError> {
        self.telemetry
            .call("token_put", self.inner.token_put(hash, record))
            .await
    }

    async fn token_take(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        self.telemetry
            .call("token_take", self.inner.token_take(hash))
            .await
    }

    async fn token_list(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.telemetry
            .call("token_list", self.inner.token_list())
            .await
    }

    async fn token_delete_by_id(&self, id: &str) -> Result<bool, StoreError> {
        self.telemetry
            .call("token_delete", self.inner.token_delete_by_id(id))
            .await
    }

    async fn token_clear(&self) -> Result<(), StoreError> {
        self.telemetry
            .call("token_clear", self.inner.token_clear())
            .await
    }

    async fn admin_hash_get(&self) -> Result<Option<TokenHash>, StoreError> {
        self.telemetry
            .call("admin_get", self.inner.admin_hash_get())
            .await
    }

    async fn admin_hash_set(&self, hash: &TokenHash) -> Result<(), StoreError> {
        self.telemetry
            .call("admin_set", self.inner.admin_hash_set(hash))
            .await
    }
}

#[async_trait]
impl BudgetStore for CountedStore {
    async fn budget_reserve(&self, r: &Reservation) -> Result<Reserved, StoreError> {
        self.telemetry
            .call("budget_reserve", self.inner.budget_reserve(r))
            .await
    }

    async fn budget_release(&self, id: &SecretId) -> Result<(), StoreError> {
        self.telemetry
            .call("budget_release", self.inner.budget_release(id))
            .await
    }

    async fn budget_used(&self, owner: Option<&UploadOwner>) -> Result<(u64, u64), StoreError> {
        self.telemetry
            .call("budget_used", self.inner.budget_used(owner))
            .await
    }

    async fn capacity(&self) -> StoreCapacity {
        self.inner.capacity().await
    }
}

#[async_trait]
impl StatsStore for CountedStore {
    async fn stats_add(&self, id: &SecretId, ttl: Duration) -> Result<(), StoreError> {
        self.telemetry
            .call("stats_add", self.inner.stats_add(id, ttl))
            .await
    }

    async fn stats_remove(&self, id: &SecretId) -> Result<Option<Duration>, StoreError> {
        self.telemetry
            .call("stats_remove", self.inner.stats_remove(id))
            .await
    }

    async fn stats_counts(&self) -> Result<SecretCounts, StoreError> {
        self.telemetry
            .call("stats_counts", self.inner.stats_counts())
            .await
    }
}

#[async_trait]
impl Store for CountedStore {
    async fn import_hakanai_v3(&self) -> Result<HakanaiV3Import, StoreError> {
        self.telemetry
            .call("import_hakanai_v3", self.inner.import_hakanai_v3())
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.telemetry.call("ping", self.inner.ping()).await
    }

    async fn create(&self, secret: NewSecret, r: &Reservation) -> Result<Reserved, StoreError> {
        self.telemetry
            .call("create", self.inner.create(secret, r))
            .await
    }
}
