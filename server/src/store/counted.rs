//! A store decorator counting operations for `hakanai_redis_operations_total`.
//!
//! Counting here rather than inside the Redis store keeps metrics out of the storage code and
//! lets the label set stay fixed: operation names are constants, never keys.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use prometheus::IntCounterVec;

use super::{
    Appended, Finished, NewSecret, Peek, SecretStore, StoreError, TakeMode, Taken, TokenHash,
    TokenRecord, UploadSession, UploadSink, CREATOR_HASH_LEN,
};
use crate::id::SecretId;

pub struct CountedStore {
    inner: Arc<dyn SecretStore>,
    ops: IntCounterVec,
}

impl CountedStore {
    pub fn new(inner: Arc<dyn SecretStore>, ops: IntCounterVec) -> CountedStore {
        CountedStore { inner, ops }
    }
}

fn count<T>(
    ops: &IntCounterVec,
    op: &'static str,
    r: Result<T, StoreError>,
) -> Result<T, StoreError> {
    let result = if r.is_ok() { "ok" } else { "error" };
    ops.with_label_values(&[op, result]).inc();
    r
}

struct CountedSink {
    inner: Box<dyn UploadSink>,
    ops: IntCounterVec,
}

#[async_trait]
impl UploadSink for CountedSink {
    async fn append(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        count(&self.ops, "upload_append", self.inner.append(chunk).await)
    }
    async fn finish(self: Box<Self>) -> Result<(), StoreError> {
        let ops = self.ops.clone();
        count(&ops, "upload_finish", self.inner.finish().await)
    }
}

#[async_trait]
impl SecretStore for CountedStore {
    async fn put(&self, secret: NewSecret) -> Result<(), StoreError> {
        count(&self.ops, "put", self.inner.put(secret).await)
    }
    fn begin_upload(&self, secret: NewSecret) -> Box<dyn UploadSink> {
        Box::new(CountedSink {
            inner: self.inner.begin_upload(secret),
            ops: self.ops.clone(),
        })
    }
    async fn peek(&self, id: &SecretId) -> Result<Peek, StoreError> {
        count(&self.ops, "peek", self.inner.peek(id).await)
    }
    async fn take(&self, id: &SecretId, mode: TakeMode) -> Result<Taken, StoreError> {
        count(&self.ops, "take", self.inner.take(id, mode).await)
    }
    async fn fail_attempt(&self, id: &SecretId, max: u32) -> Result<Option<u32>, StoreError> {
        count(
            &self.ops,
            "fail_attempt",
            self.inner.fail_attempt(id, max).await,
        )
    }
    async fn ping(&self) -> Result<(), StoreError> {
        count(&self.ops, "ping", self.inner.ping().await)
    }
    async fn upload_open(
        &self,
        secret: NewSecret,
        session: UploadSession,
    ) -> Result<(), StoreError> {
        count(
            &self.ops,
            "upload_open",
            self.inner.upload_open(secret, session).await,
        )
    }
    async fn upload_append(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
        offset: u64,
        chunk: Bytes,
    ) -> Result<Appended, StoreError> {
        count(
            &self.ops,
            "upload_append",
            self.inner
                .upload_append(id, creator_hash, offset, chunk)
                .await,
        )
    }
    async fn upload_finish(
        &self,
        id: &SecretId,
        creator_hash: &[u8; CREATOR_HASH_LEN],
    ) -> Result<Finished, StoreError> {
        count(
            &self.ops,
            "upload_publish",
            self.inner.upload_finish(id, creator_hash).await,
        )
    }
    async fn token_get(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        count(&self.ops, "token_get", self.inner.token_get(hash).await)
    }
    async fn token_put(&self, hash: &TokenHash, record: &TokenRecord) -> Result<(), StoreError> {
        count(
            &self.ops,
            "token_put",
            self.inner.token_put(hash, record).await,
        )
    }
    async fn token_take(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        count(&self.ops, "token_take", self.inner.token_take(hash).await)
    }
    async fn token_list(&self) -> Result<Vec<TokenRecord>, StoreError> {
        count(&self.ops, "token_list", self.inner.token_list().await)
    }
    async fn token_delete_by_id(&self, id: &str) -> Result<bool, StoreError> {
        count(
            &self.ops,
            "token_delete",
            self.inner.token_delete_by_id(id).await,
        )
    }
    async fn token_clear(&self) -> Result<(), StoreError> {
        count(&self.ops, "token_clear", self.inner.token_clear().await)
    }
    async fn admin_hash_get(&self) -> Result<Option<TokenHash>, StoreError> {
        count(&self.ops, "admin_get", self.inner.admin_hash_get().await)
    }
    async fn admin_hash_set(&self, hash: &TokenHash) -> Result<(), StoreError> {
        count(
            &self.ops,
            "admin_set",
            self.inner.admin_hash_set(hash).await,
        )
    }
}
