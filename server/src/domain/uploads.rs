//! Uploads: open, append chunks at known offsets, finish — over several requests, or from the
//! body of one (`stream`, for `secrets::create_streamed`): one mechanism in the store either way.
//!
//! A browser cannot stream one request body over HTTP/1.1, so without this it would have to
//! encrypt a whole file before the first byte leaves. With it, the page encrypts the next chunk
//! while the previous one is on the wire, and memory stays bounded at a few chunks. Each chunk
//! names the offset it belongs at, so a retried chunk is never stored twice, and the upload can
//! continue on any replica: its state lives in the store.

use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::error::AppError;
use crate::events::Created;
use crate::id::SecretId;
use crate::restrictions::Restrictions;
use crate::store::{
    now_ms, Appended, Finished, NewSecret, Opened, PayloadKind, Peek, Published, StoreError,
    UploadSession, UploadState, CREATOR_HASH_LEN, UNCAPPED, UPLOAD_PIECE,
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
    let session = session(s, uploader, ttl);
    // The declared size, else the upload's limit, is held from the open to the deadline (or
    // the finish, which settles it to the real size); a refusal opens nothing.
    let claim = opening.size.unwrap_or(uploader.limit);
    budget::reserve(s, &id, uploader, claim, session.deadline_ms).await?;
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

/// The session of an upload by `uploader` whose secret will live for `ttl`: it ends at
/// `--upload-deadline` from now however active it is (as a single request's body does).
pub fn session(s: &Services, uploader: &Uploader, ttl: Duration) -> UploadSession {
    UploadSession {
        ttl,
        limit: uploader.limit,
        user_type: uploader.user_type,
        deadline_ms: now_ms().saturating_add(s.settings.upload_deadline.as_millis() as u64),
        owner: uploader.owner.clone(),
    }
}

/// A body that stalls for this long with less than a piece buffered still writes what it has,
/// which renews the upload in the store: a slow body must not outlive its upload.
const RENEW_AFTER: Duration = Duration::from_secs(60);

/// Uploads the body of one request through the same store operations as a multi-request
/// upload: pieces of [`UPLOAD_PIECE`] bytes opened and appended at their offsets, then
/// finished; a body that ends within its first piece is opened and finished in one step
/// (`upload_whole`: one round trip on Redis). The upload takes no place among its owner's open
/// ones, since it ends with its request. Over `session.limit` the upload is discarded (413).
/// Returns what the finished upload became.
pub async fn stream<B>(
    s: &Services,
    secret: NewSecret,
    session: UploadSession,
    mut body: B,
) -> Result<Published, AppError>
where
    B: Stream<Item = Result<Bytes, AppError>> + Unpin,
{
    let (id, creator) = (secret.id, secret.creator_hash);
    let limit = session.limit;
    let mut opening = Some((secret, session));
    let mut piece = BytesMut::new();
    // Payload bytes in the store; `opening` is taken once the upload is open.
    let mut stored: u64 = 0;
    let mut written = Instant::now();
    let result = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            if stored + (piece.len() + chunk.len()) as u64 > limit {
                return Err(AppError::PayloadTooLarge(limit));
            }
            piece.extend_from_slice(&chunk);
            let stalled = opening.is_none() && written.elapsed() >= RENEW_AFTER;
            if piece.len() < UPLOAD_PIECE && !stalled {
                continue;
            }
            let data = piece.split().freeze();
            let n = data.len() as u64;
            match opening.take() {
                Some((secret, session)) => {
                    let opened = s
                        .store
                        .upload_open(NewSecret { data, ..secret }, session, UNCAPPED)
                        .await?;
                    if opened != Opened::Opened {
                        return Err(lost());
                    }
                }
                None => match s.store.upload_append(&id, &creator, stored, data).await? {
                    Appended::At(_) => {}
                    _ => return Err(lost()),
                },
            }
            stored += n;
            written = Instant::now();
        }
        let data = piece.split().freeze();
        let finished = match opening.take() {
            Some((secret, session)) => {
                s.store
                    .upload_whole(NewSecret { data, ..secret }, session)
                    .await?
            }
            None => {
                if !data.is_empty()
                    && !matches!(
                        s.store.upload_append(&id, &creator, stored, data).await?,
                        Appended::At(_)
                    )
                {
                    return Err(lost());
                }
                s.store.upload_finish(&id, &creator).await?
            }
        };
        match finished {
            Finished::Published(p) => Ok(p),
            Finished::Missing | Finished::Forbidden => Err(lost()),
        }
    }
    .await;
    // Once something was sent to the store, a failure discards it now rather than at its
    // expiry (an open upload, or a whole one whose reply was lost).
    if result.is_err() && opening.is_none() {
        if let Err(e) = s.store.upload_discard(&id).await {
            tracing::debug!(error = %e, "upload not discarded");
        }
    }
    result
}

/// The store lost an upload it had open (evicted, expired, a failover): 503, as a store failure.
fn lost() -> AppError {
    AppError::Store(StoreError::Lost(
        "an upload disappeared while its body arrived",
    ))
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
