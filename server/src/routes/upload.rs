//! Multi-request uploads over HTTP (`domain/uploads.rs` has what they do): open, append a
//! chunk at an explicit offset — checked before a byte of its body is read, and never read
//! past the room left —, finish.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{creator_token, header_str, requester};
use super::secret::{declared_length, parse_id, read_limited, CreateSecretResponse};
use crate::domain::callers::authorize_upload;
use crate::domain::uploads::{self, Opening};
use crate::error::{AppError, ErrorBody, UPLOAD_OFFSET_HEADER};
use crate::restrictions::RestrictionsRequest;
use crate::AppState;

pub use crate::domain::uploads::MAX_CHUNK;

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
    let opening = Opening {
        ttl: req.expires_in.map(Duration::from_secs),
        restrictions: req.restrictions.unwrap_or_default().validate()?,
        size: req.size,
    };
    let (id, creator_token) = uploads::open(&state, &uploader, opening).await?;
    Ok(Json(StartUploadResponse {
        id: id.to_string(),
        creator_token,
        max_chunk: MAX_CHUNK,
        limit: uploader.limit,
        idle_timeout: crate::store::UPLOAD_IDLE.as_secs(),
        deadline: state.settings.upload_deadline.as_secs(),
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
    let Some(token) = creator_token(&headers) else {
        return Err(AppError::Unauthorized("X-Creator-Token is required"));
    };
    let offset = header_str(&headers, UPLOAD_OFFSET_HEADER)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| AppError::BadRequest("Upload-Offset must be a byte count".into()))?;
    let room = uploads::room(&state, &id, Some(token), offset, declared_length(&headers)).await?;
    let chunk = match read_limited(&headers, body, room.cap, room.refused_as).await {
        Err(AppError::PayloadTooLarge(n)) => {
            if room.discards {
                uploads::discard(&state, &id).await;
            }
            return Err(AppError::PayloadTooLarge(n));
        }
        read => read?,
    };
    let offset = uploads::append(&state, &id, Some(token), offset, chunk).await?;
    Ok(Json(UploadOffset { offset }))
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
    uploads::finish(&state, &id, creator_token(&headers), &headers).await?;
    Ok(Json(CreateSecretResponse {
        id: id.to_string(),
        // Echoed so the finish response has the shape of a single-request create.
        creator_token: creator_token(&headers).unwrap_or_default().to_owned(),
    }))
}
