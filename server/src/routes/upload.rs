//! Multi-request uploads: open, append chunks at known offsets, finish.
//!
//! A browser cannot stream one request body over HTTP/1.1, so without this it would have to
//! encrypt a whole file before the first byte leaves. With it, the page encrypts the next chunk
//! while the previous one is on the wire, and memory stays bounded at a few chunks. Each chunk
//! names the offset it belongs at, so a retried chunk is never stored twice, and the upload can
//! continue on any replica: its state lives in the store.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{creator_token, header_str, requester};
use super::secret::{declared_length, parse_id, read_limited, CreateSecretResponse};
use crate::domain::budget;
use crate::domain::callers::{authorize_upload, burn_one_time_token};
use crate::domain::secrets::{checked_ttl, new_secret, record_created};
use crate::error::{AppError, ErrorBody, UPLOAD_OFFSET_HEADER};
use crate::events::Created;
use crate::restrictions::{Restrictions, RestrictionsRequest};
use crate::store::{
    now_ms, Appended, Finished, Opened, PayloadKind, Peek, UploadSession, UploadState,
    CREATOR_HASH_LEN,
};
use crate::tokens::{self, UserType};
use crate::AppState;

/// The largest chunk one request may carry. Small enough for default reverse-proxy body limits
/// of a few MiB to be raised modestly, large enough that request overhead stays negligible.
pub const MAX_CHUNK: u64 = 8 * 1024 * 1024;

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StartUploadRequest {
    /// Lifetime in seconds once finished; defaults as for a single-request upload.
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub restrictions: Option<RestrictionsRequest>,
    /// The total size in bytes, if known: refused at once when over the limit.
    #[serde(default)]
    pub size: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StartUploadResponse {
    /// The secret's id, readable once the upload is finished.
    pub id: String,
    /// Authorizes the chunks and the finish, then revocation and status as for any secret.
    pub creator_token: String,
    /// The most bytes one chunk may carry.
    pub max_chunk: u64,
    /// The most bytes the whole upload may carry.
    pub limit: u64,
    /// Seconds an upload may stay idle between two requests before it is discarded.
    pub idle_timeout: u64,
    /// Seconds from now after which the upload is discarded however active it is.
    pub deadline: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadOffset {
    /// Payload bytes stored so far; the next chunk belongs at this offset.
    pub offset: u64,
}

#[utoipa::path(
    post, path = "/api/v1/upload", tag = "upload",
    request_body(content = StartUploadRequest, content_type = "application/json"),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = StartUploadResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The token is unknown, expired or already used"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "The token or address has the most uploads open, or holds the most stored bytes, it may; see Retry-After"),
        (status = 501, body = ErrorBody, description = "Country or ASN restrictions, but the server has no --country-header / --asn-header to check them"),
        (status = 503, body = ErrorBody),
        (status = 507, body = ErrorBody, description = "The global storage budget (--max-stored-bytes) is used up")
    )
)]
/// Open a multi-request upload (token checked, and a one-time token used up, here).
pub async fn start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<StartUploadResponse>, AppError> {
    let uploader =
        authorize_upload(&state, &requester(&state.settings, peer.ip(), &headers)?).await?;
    let is_json = header_str(&headers, header::CONTENT_TYPE.as_str())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return Err(AppError::UnsupportedMediaType("application/json"));
    }
    let raw = read_limited(&headers, body, 64 * 1024, 64 * 1024).await?;
    let req: StartUploadRequest = serde_json::from_slice(&raw)
        .map_err(|e| AppError::BadRequest(format!("invalid JSON: {e}")))?;
    if req.size.is_some_and(|n| n > uploader.limit) {
        return Err(AppError::PayloadTooLarge(uploader.limit));
    }
    let ttl = checked_ttl(&state, req.expires_in.map(Duration::from_secs))?;
    let restrictions = req.restrictions.unwrap_or_default().validate()?;
    restrictions.ensure_checkable(&state.settings)?;
    let s = &state.settings;
    // A token's uploads count against the token, wherever they come from; uploads without one
    // against the client's address.
    let owner = uploader.owner.clone();
    let max_open = if uploader.user_type == UserType::Authenticated {
        s.max_open_uploads_per_token
    } else {
        s.max_open_uploads_per_address
    };
    let (secret, creator_token) = new_secret(PayloadKind::Raw, restrictions, ttl);
    let id = secret.id;
    let deadline_ms = now_ms().saturating_add(s.upload_deadline.as_millis() as u64);
    // The declared size, else the upload's limit, is held from the open to the deadline (or
    // the finish, which settles it to the real size); a refusal opens nothing.
    let claim = req.size.unwrap_or(uploader.limit);
    budget::reserve(&state, &id, &uploader, claim, deadline_ms).await?;
    let session = UploadSession {
        ttl,
        limit: uploader.limit,
        user_type: uploader.user_type,
        deadline_ms,
        owner,
    };
    let opened = state.store.upload_open(secret, session, max_open).await;
    if !matches!(opened, Ok(Opened::Opened)) {
        budget::release(&state, &id).await;
    }
    if let Opened::TooMany { retry_after } = opened? {
        return Err(AppError::TooManyRequests {
            retry_after,
            details: "too many uploads are open: finish one, or wait until one expires",
        });
    }
    // Burned once the upload is open (so a refused open spends nothing): a one-time token must
    // never yield two secrets, and an upload abandoned halfway has used its chance.
    if let Err(e) = burn_one_time_token(&state, &uploader).await {
        if let Err(gone) = state.store.upload_discard(&id).await {
            tracing::debug!(error = %gone, "upload not discarded");
        }
        budget::release(&state, &id).await;
        return Err(e);
    }
    Ok(Json(StartUploadResponse {
        id: id.to_string(),
        creator_token,
        max_chunk: MAX_CHUNK,
        limit: uploader.limit,
        idle_timeout: crate::store::UPLOAD_IDLE.as_secs(),
        deadline: s.upload_deadline.as_secs(),
    }))
}

#[utoipa::path(
    patch, path = "/api/v1/upload/{id}", tag = "upload",
    params(
        ("id" = String, Path, description = "Secret id from the start response"),
        ("X-Creator-Token" = String, Header, description = "Creator token from the start response"),
        ("Upload-Offset" = u64, Header, description = "Payload bytes already sent: where this chunk belongs")
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, body = UploadOffset),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 408, body = ErrorBody, description = "The body stalled, arrived too slowly or outlasted --upload-deadline"),
        (status = 409, body = ErrorBody, description = "The upload stands elsewhere; see the Upload-Offset header"),
        (status = 413, body = ErrorBody, description = "Over the chunk or upload limit; the upload is discarded when over the upload limit"),
        (status = 503, body = ErrorBody)
    )
)]
/// Append one chunk of the envelope at the offset given in `Upload-Offset`. The upload, the
/// offset and the room left are checked before any of the body is read, and no more than that
/// room is ever read.
pub async fn append(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<UploadOffset>, AppError> {
    let id = parse_id(&id)?;
    let creator = creator_hash(&headers)?;
    let offset = header_str(&headers, UPLOAD_OFFSET_HEADER)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| AppError::BadRequest("Upload-Offset must be a byte count".into()))?;
    if declared_length(&headers) == Some(0) {
        return Err(empty_chunk());
    }
    let (at, limit) = match state.store.upload_state(&id, &creator).await? {
        UploadState::Open { offset, limit } => (offset, limit),
        UploadState::Missing => return Err(no_upload()),
        UploadState::Forbidden => return Err(AppError::Forbidden("wrong creator token")),
    };
    if at != offset {
        return Err(AppError::UploadOffset(at));
    }
    // A chunk may carry up to MAX_CHUNK, and never more than the upload has room for; passing
    // the upload's limit discards it, so nothing half-written can be published.
    let room = limit.saturating_sub(at);
    let (cap, refused_as) = if room <= MAX_CHUNK {
        (room, limit)
    } else {
        (MAX_CHUNK, MAX_CHUNK)
    };
    let chunk: Bytes = match read_limited(&headers, body, cap, refused_as).await {
        Err(AppError::PayloadTooLarge(n)) => {
            if room <= MAX_CHUNK {
                if let Err(e) = state.store.upload_discard(&id).await {
                    tracing::debug!(error = %e, "upload not discarded");
                }
                budget::release(&state, &id).await;
            }
            return Err(AppError::PayloadTooLarge(n));
        }
        read => read?,
    };
    if chunk.is_empty() {
        return Err(empty_chunk());
    }
    match state
        .store
        .upload_append(&id, &creator, offset, chunk)
        .await?
    {
        Appended::At(offset) => Ok(Json(UploadOffset { offset })),
        Appended::OffsetMismatch(at) => Err(AppError::UploadOffset(at)),
        Appended::TooLarge(limit) => {
            budget::release(&state, &id).await;
            Err(AppError::PayloadTooLarge(limit))
        }
        Appended::Missing => Err(no_upload()),
        Appended::Forbidden => Err(AppError::Forbidden("wrong creator token")),
    }
}

#[utoipa::path(
    post, path = "/api/v1/upload/{id}/finish", tag = "upload",
    params(
        ("id" = String, Path, description = "Secret id from the start response"),
        ("X-Creator-Token" = String, Header, description = "Creator token from the start response")
    ),
    responses(
        (status = 200, body = CreateSecretResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)
    )
)]
/// Publish the upload: from now on it is a secret like any other, readable once.
pub async fn finish(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<CreateSecretResponse>, AppError> {
    let id = parse_id(&id)?;
    let creator = creator_hash(&headers)?;
    let published = match state.store.upload_finish(&id, &creator).await? {
        Finished::Published(p) => p,
        Finished::Missing => return Err(no_upload()),
        Finished::Forbidden => return Err(AppError::Forbidden("wrong creator token")),
    };
    budget::settle(&state, &id, published.size, published.ttl).await;
    // The restrictions live in the record; reading them back costs a round trip only here.
    let restrictions = match state.store.peek(&id).await {
        Ok(Peek::Live(meta)) => meta.restrictions,
        _ => Restrictions::default(),
    };
    let details = Created {
        user_type: published.user_type,
        ttl: published.ttl,
        size: published.size,
        restrictions: &restrictions,
    };
    record_created(&state, &id, &details, &headers).await;
    Ok(Json(CreateSecretResponse {
        id: id.to_string(),
        // Echoed so the finish response has the shape of a single-request create.
        creator_token: creator_token(&headers).unwrap_or_default().to_owned(),
    }))
}

fn creator_hash(headers: &HeaderMap) -> Result<[u8; CREATOR_HASH_LEN], AppError> {
    creator_token(headers)
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
