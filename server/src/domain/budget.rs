//! Storage budgets: bytes a secret holds are reserved in the store before it is stored, checked
//! against the global budget (`--max-stored-bytes`, 507 over it) and its owner's (a token's or a
//! client address's, 429 over it), and released when it is read, revoked or destroyed; an
//! expired reservation frees itself. The check and the reservation are one atomic store
//! operation, so concurrent creates, on any number of replicas, never pass the last free bytes
//! twice.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::domain::callers::Uploader;
use crate::domain::Services;
use crate::error::AppError;
use crate::id::SecretId;
use crate::store::{now_ms, Reservation, Reserved, StoreCapacity};

/// Reserves `bytes` for `id` until `expires_at_ms`, for `uploader`.
pub(crate) async fn reserve(
    state: &Services,
    id: &SecretId,
    uploader: &Uploader,
    bytes: u64,
    expires_at_ms: u64,
) -> Result<(), AppError> {
    let r = reservation(state, id, uploader, bytes, expires_at_ms);
    let reserved = state.store.budget_reserve(&r).await?;
    check(reserved, uploader)
}

/// What `reserve` asks of the store, for callers that hand it to the store with the secret
/// (`Store::create`).
pub(crate) fn reservation(
    state: &Services,
    id: &SecretId,
    uploader: &Uploader,
    bytes: u64,
    expires_at_ms: u64,
) -> Reservation {
    let global = state.settings.max_stored_bytes.load(Ordering::Relaxed);
    Reservation {
        id: *id,
        owner: uploader.budget_owner().cloned(),
        bytes,
        expires_at_ms,
        global_limit: (global > 0).then_some(global),
        owner_limit: uploader.stored_bytes_limit,
        settle: false,
    }
}

/// The answer to an uploader whose reservation came back as `reserved`.
pub(crate) fn check(reserved: Reserved, uploader: &Uploader) -> Result<(), AppError> {
    match reserved {
        Reserved::Reserved => Ok(()),
        Reserved::StoreFull => Err(AppError::InsufficientStorage),
        Reserved::OwnerFull {
            retry_after: Some(retry_after),
        } => Err(AppError::OverBudget(retry_after)),
        // The secret alone is over the owner's budget: no wait helps.
        Reserved::OwnerFull { retry_after: None } => Err(AppError::PayloadTooLarge(
            uploader.stored_bytes_limit.unwrap_or_default(),
        )),
    }
}

/// A finished upload holds `bytes` until `ttl` from now, whatever it reserved at its start.
/// Never refused: the upload reserved at least this much when it opened.
pub(crate) async fn settle(state: &Services, id: &SecretId, bytes: u64, ttl: Duration) {
    let reservation = Reservation {
        id: *id,
        owner: None,
        bytes,
        expires_at_ms: now_ms().saturating_add(ttl.as_millis() as u64),
        global_limit: None,
        owner_limit: None,
        settle: true,
    };
    if let Err(e) = state.store.budget_reserve(&reservation).await {
        tracing::warn!(error = %e, "storage budget not settled");
    }
}

/// The secret (or upload) `id` no longer holds its bytes. A failure only delays their release
/// until the reservation expires.
pub(crate) async fn release(state: &Services, id: &SecretId) {
    if let Err(e) = state.store.budget_release(id).await {
        tracing::warn!(error = %e, "storage budget not released");
    }
}

/// Without `--max-stored-bytes`, the global budget is what the store says it can hold: half the
/// memory available to this process for the embedded store, half of Redis's
/// `maxmemory` for Redis.
pub(crate) async fn resolve_global(state: &Services, flag: Option<u64>) {
    if let Some(bytes) = flag {
        if bytes == 0 {
            tracing::info!("no global storage budget (--max-stored-bytes 0)");
        }
        return;
    }
    match state.store.capacity().await {
        StoreCapacity::Bytes {
            bytes,
            source,
            warning,
        } => {
            if let Some(w) = warning {
                tracing::warn!("{w}");
            }
            tracing::info!(bytes, source = %source, "global storage budget (--max-stored-bytes)");
            state
                .settings
                .max_stored_bytes
                .store(bytes, Ordering::Relaxed);
        }
        StoreCapacity::Unknown(why) => {
            tracing::warn!(
                "{why}; running without a global storage budget: set --max-stored-bytes"
            );
        }
    }
}
