//! Multi-request uploads: open, append chunks at known offsets, finish.
//!
//! A browser cannot stream one request body over HTTP/1.1, so without this it would have to
//! encrypt a whole file before the first byte leaves. With it, the page encrypts the next chunk
//! while the previous one is on the wire, and memory stays bounded at a few chunks. Each chunk
//! names the offset it belongs at, so a retried chunk is never stored twice, and the upload can
//! continue on any replica: its state lives in the store.

use std::time::Duration;

use axum::http::HeaderMap;
use bytes::Bytes;

use crate::error::AppError;
use crate::events::Created;
use crate::id::SecretId;
use crate::restrictions::Restrictions;
use crate::store::{
    now_ms, Appended, Finished, Opened, PayloadKind, Peek, UploadSession, UploadState,
    CREATOR_HASH_LEN,
};
use crate::tokens::{self, UserType};

use super::callers::{burn_one_time_token, Uploader};
use super::secrets::{checked_ttl, new_secret, record_created};
use super::{budget, Services};

/// The largest chunk one request may carry. Small enough for default reverse-proxy body limits
/// of a few MiB to be raised modestly, large enough that request overhead stays negligible.
pub const MAX_CHUNK: u64 = 8 * 1024 * 1024;

/// What an upload is opened with.
pub struct Opening {
    pub ttl: Option<Duration>,
    pub restrictions: Restrictions,
    /// The total size, if known: refused at once when over the limit.
    pub size: Option<u64>,
}

/// Opens an upload for `uploader`; returns its id and creator token. A one-time token is used
/// up once the upload is open (a refused open spends nothing).
pub async fn open(
    s: &Services,
    uploader: &Uploader,
    opening: Opening,
) -> Result<(SecretId, String), AppError> {
    if opening.size.is_some_and(|n| n > uploader.limit) {
        return Err(AppError::PayloadTooLarge(uploader.limit));
    }
    let ttl = checked_ttl(s, opening.ttl)?;
    opening.restrictions.ensure_checkable(&s.settings)?;
    let settings = &s.settings;
    // A token's uploads count against the token, wherever they come from; uploads without one
    // against the client's address.
    let max_open = if uploader.user_type == UserType::Authenticated {
        settings.max_open_uploads_per_token
    } else {
        settings.max_open_uploads_per_address
    };
    let (secret, creator_token) = new_secret(PayloadKind::Raw, opening.restrictions, ttl);
    let id = secret.id;
    let deadline_ms = now_ms().saturating_add(settings.upload_deadline.as_millis() as u64);
    // The declared size, else the upload's limit, is held from the open to the deadline (or
    // the finish, which settles it to the real size); a refusal opens nothing.
    let claim = opening.size.unwrap_or(uploader.limit);
    budget::reserve(s, &id, uploader, claim, deadline_ms).await?;
    let session = UploadSession {
        ttl,
        limit: uploader.limit,
        user_type: uploader.user_type,
        deadline_ms,
        owner: uploader.owner.clone(),
    };
    let opened = s.store.upload_open(secret, session, max_open).await;
    if !matches!(opened, Ok(Opened::Opened)) {
        budget::release(s, &id).await;
    }
    if let Opened::TooMany { retry_after } = opened? {
        return Err(AppError::TooManyRequests {
            retry_after,
            details: "too many uploads are open: finish one, or wait until one expires",
        });
    }
    // A one-time token must never yield two secrets, and an upload abandoned halfway has used
    // its chance.
    if let Err(e) = burn_one_time_token(s, uploader).await {
        if let Err(gone) = s.store.upload_discard(&id).await {
            tracing::debug!(error = %gone, "upload not discarded");
        }
        budget::release(s, &id).await;
        return Err(e);
    }
    Ok((id, creator_token))
}

/// How much of a chunk may be read: checked before a byte of its body is.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    /// The most bytes the chunk may carry.
    pub cap: u64,
    /// The limit a longer chunk is refused with (413).
    pub refused_as: u64,
    /// A longer chunk passes the upload's own limit, which discards the whole upload.
    pub discards: bool,
}

/// Where the upload `id` stands for a chunk at `offset`: a chunk may carry up to `MAX_CHUNK`,
/// and never more than the upload has room for.
pub async fn room(
    s: &Services,
    id: &SecretId,
    creator_token: Option<&str>,
    offset: u64,
    declared: Option<u64>,
) -> Result<Room, AppError> {
    let creator = creator_hash(creator_token)?;
    if declared == Some(0) {
        return Err(empty_chunk());
    }
    let (at, limit) = match s.store.upload_state(id, &creator).await? {
        UploadState::Open { offset, limit } => (offset, limit),
        UploadState::Missing => return Err(no_upload()),
        UploadState::Forbidden => return Err(AppError::Forbidden("wrong creator token")),
    };
    if at != offset {
        return Err(AppError::UploadOffset(at));
    }
    let room = limit.saturating_sub(at);
    Ok(if room <= MAX_CHUNK {
        Room {
            cap: room,
            refused_as: limit,
            discards: true,
        }
    } else {
        Room {
            cap: MAX_CHUNK,
            refused_as: MAX_CHUNK,
            discards: false,
        }
    })
}

/// A chunk over the upload's own limit: the whole upload is discarded, so nothing half-written
/// can be published.
pub async fn discard(s: &Services, id: &SecretId) {
    if let Err(e) = s.store.upload_discard(id).await {
        tracing::debug!(error = %e, "upload not discarded");
    }
    budget::release(s, id).await;
}

/// Appends `chunk` at `offset`; returns the upload's new length.
pub async fn append(
    s: &Services,
    id: &SecretId,
    creator_token: Option<&str>,
    offset: u64,
    chunk: Bytes,
) -> Result<u64, AppError> {
    let creator = creator_hash(creator_token)?;
    if chunk.is_empty() {
        return Err(empty_chunk());
    }
    match s.store.upload_append(id, &creator, offset, chunk).await? {
        Appended::At(offset) => Ok(offset),
        Appended::OffsetMismatch(at) => Err(AppError::UploadOffset(at)),
        Appended::TooLarge(limit) => {
            budget::release(s, id).await;
            Err(AppError::PayloadTooLarge(limit))
        }
        Appended::Missing => Err(no_upload()),
        Appended::Forbidden => Err(AppError::Forbidden("wrong creator token")),
    }
}

/// Publishes the upload: from now on it is a secret like any other, readable once.
pub async fn finish(
    s: &Services,
    id: &SecretId,
    creator_token: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    let creator = creator_hash(creator_token)?;
    let published = match s.store.upload_finish(id, &creator).await? {
        Finished::Published(p) => p,
        Finished::Missing => return Err(no_upload()),
        Finished::Forbidden => return Err(AppError::Forbidden("wrong creator token")),
    };
    budget::settle(s, id, published.size, published.ttl).await;
    // The restrictions live in the record; reading them back costs a round trip only here.
    let restrictions = match s.store.peek(id).await {
        Ok(Peek::Live(meta)) => meta.restrictions,
        _ => Restrictions::default(),
    };
    let details = Created {
        user_type: published.user_type,
        ttl: published.ttl,
        size: published.size,
        restrictions: &restrictions,
    };
    record_created(s, id, &details, headers).await;
    Ok(())
}

fn creator_hash(token: Option<&str>) -> Result<[u8; CREATOR_HASH_LEN], AppError> {
    token
        .map(tokens::creator_hash)
        .ok_or(AppError::Unauthorized("X-Creator-Token is required"))
}

fn no_upload() -> AppError {
    AppError::NotFound(
        "no such upload: it was finished, discarded, idle too long, past its deadline or never \
         opened",
    )
}

/// An empty chunk appends nothing; refused so that it cannot keep an upload alive either.
fn empty_chunk() -> AppError {
    AppError::BadRequest("a chunk must carry at least one byte".into())
}
