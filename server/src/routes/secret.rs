//! The secret API: create, read once, revoke, status.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::configuration::parse_duration;
use crate::domain::callers::authorize_upload;
use crate::domain::secrets::{self, Status, Streamed, Whole};
use crate::error::{AppError, ErrorBody};
use crate::id::SecretId;
use crate::restrictions::{split_list, Restrictions, RestrictionsRequest};
use crate::routes::extract;
use crate::routes::extract::requester;
use crate::store::{GoneReason, PayloadKind};
use crate::AppState;

/// Room for JSON syntax and restrictions around the base64 payload.
const JSON_OVERHEAD: u64 = 64 * 1024;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateSecretRequest {
    /// The encrypted envelope, standard base64. Returned byte for byte on read.
    #[schema(format = Byte)]
    pub data: String,
    /// Lifetime in seconds; defaults to 24 h (or the maximum TTL if shorter).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub restrictions: Option<RestrictionsRequest>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateSecretResponse {
    /// The secret's id: a ULID (26 characters of Crockford base32, all 128 bits random).
    pub id: String,
    /// Lets the creator revoke the secret or check its status; shown only here.
    pub creator_token: String,
}

/// Options for raw uploads, as query parameters (headers `X-Secret-TTL`, `X-Secret-Allowed-IPs`,
/// `X-Secret-Allowed-Countries`, `X-Secret-Allowed-ASNs`, `X-Secret-Passphrase-Hash`,
/// `X-Secret-Read-Token-Hash` take precedence).
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct RawUploadQuery {
    /// Lifetime: seconds or a duration such as `1h`.
    pub ttl: Option<String>,
    /// Comma-separated IPs or CIDR ranges.
    pub allowed_ips: Option<String>,
    /// Comma-separated country codes.
    pub allowed_countries: Option<String>,
    /// Comma-separated ASNs.
    pub allowed_asns: Option<String>,
    /// Hex SHA-256 of the passphrase verifier.
    pub passphrase_hash: Option<String>,
    /// Hex SHA-256 of the hex read token: readers must then send the token.
    pub read_token_hash: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SecretStatus {
    /// `pending`, `read`, `revoked`, `destroyed` (too many wrong passphrases) or `expired`.
    pub status: String,
    /// RFC 3339, when pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// RFC 3339, when read, revoked or destroyed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/secret", tag = "secret",
    request_body(content(
        (CreateSecretRequest = "application/json"),
        (Vec<u8> = "application/octet-stream")
    )),
    params(RawUploadQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = CreateSecretResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The token is unknown, expired or already used"),
        (status = 408, body = ErrorBody, description = "The body stalled, arrived too slowly or outlasted --upload-deadline"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "The token or address holds as many stored bytes as it may; see Retry-After"),
        (status = 501, body = ErrorBody, description = "Country or ASN restrictions, but the server has no --country-header / --asn-header to check them"),
        (status = 503, body = ErrorBody),
        (status = 507, body = ErrorBody, description = "The global storage budget (--max-stored-bytes) is used up")
    )
)]
/// Store a secret: JSON with base64 `data` (also when no Content-Type is sent), or a raw
/// `application/octet-stream` body.
pub async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<RawUploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<CreateSecretResponse>, AppError> {
    let Ok(Query(query)) = query else {
        return Err(AppError::BadRequest("malformed query string".into()));
    };
    let uploader =
        authorize_upload(&state, &requester(&state.settings, peer.ip(), &headers)?).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Media types are case-insensitive.
    let is = |prefix: &str| {
        content_type
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    // Hakanai v3's API took JSON whatever the Content-Type said; scripts written for it may send
    // none at all.
    if content_type.is_empty() || is("application/json") {
        let upload = json_upload(&headers, body, uploader.limit).await?;
        let (id, creator_token) =
            secrets::create_whole(&state, &uploader, upload, &headers).await?;
        return Ok(created(id, creator_token));
    }
    if is("application/octet-stream") {
        // Options come first, so a bad TTL is refused before any of the body is read.
        let (ttl, restrictions) = raw_options(&headers, query)?;
        let body = body
            .into_data_stream()
            .map(|chunk| chunk.map_err(crate::routes::response::body_error));
        let upload = Streamed {
            ttl,
            restrictions,
            declared: declared_length(&headers),
            body,
        };
        let (id, creator_token) =
            secrets::create_streamed(&state, &uploader, upload, &headers).await?;
        return Ok(created(id, creator_token));
    }
    Err(AppError::UnsupportedMediaType(
        "application/json or application/octet-stream",
    ))
}

fn created(id: SecretId, creator_token: String) -> Json<CreateSecretResponse> {
    Json(CreateSecretResponse {
        id: id.to_string(),
        creator_token,
    })
}

#[tracing::instrument(skip_all)]
async fn json_upload(headers: &HeaderMap, body: Body, limit: u64) -> Result<Whole, AppError> {
    let encoded = limit.div_ceil(3) * 4;
    // Some encoders escape '/' as "\/", so leave room beyond the plain encoding.
    let cap = encoded + encoded / 16 + JSON_OVERHEAD;
    let raw = read_limited(headers, body, cap, limit).await?;
    let req: CreateSecretRequest = serde_json::from_slice(&raw)
        .map_err(|e| AppError::BadRequest(format!("invalid JSON: {e}")))?;
    if decoded_len(&req.data)? > limit {
        return Err(AppError::PayloadTooLarge(limit));
    }
    Ok(Whole {
        kind: PayloadKind::Base64Text,
        ttl: req.expires_in.map(Duration::from_secs),
        restrictions: req.restrictions.unwrap_or_default().validate()?,
        data: req.data.into_bytes().into(),
    })
}

/// Validates standard base64 and returns the decoded length, decoding piecewise into a small
/// buffer instead of allocating the whole secret again.
fn decoded_len(data: &str) -> Result<u64, AppError> {
    const PIECE: usize = 64 * 1024; // a multiple of 4: padding can only appear in the last piece
    let invalid = || AppError::BadRequest("data must be standard base64".into());
    let mut buf = vec![0u8; data.len().min(PIECE) / 4 * 3 + 3];
    let mut total = 0u64;
    for piece in data.as_bytes().chunks(PIECE) {
        total += STANDARD
            .decode_slice(piece, &mut buf)
            .map_err(|_| invalid())? as u64;
    }
    Ok(total)
}

fn raw_options(
    headers: &HeaderMap,
    query: RawUploadQuery,
) -> Result<(Option<Duration>, Restrictions), AppError> {
    let ttl = extract::header_str(headers, crate::headers::TTL)
        .map(str::to_owned)
        .or(query.ttl)
        .map(|s| parse_duration(&s).map_err(AppError::BadRequest))
        .transpose()?;
    let list = |h: &str, q: Option<String>| {
        extract::header_str(headers, h)
            .map(str::to_owned)
            .or(q)
            .map(|s| split_list(&s))
    };
    let asns = list(crate::headers::ALLOWED_ASNS, query.allowed_asns)
        .map(|v| {
            v.iter()
                .map(|a| a.trim_start_matches("AS").parse::<u32>())
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|_| AppError::BadRequest("invalid ASN".into()))?;
    let restrictions = RestrictionsRequest {
        allowed_ips: list(crate::headers::ALLOWED_IPS, query.allowed_ips),
        allowed_countries: list(crate::headers::ALLOWED_COUNTRIES, query.allowed_countries),
        allowed_asns: asns,
        passphrase_hash: extract::header_str(headers, crate::headers::PASSPHRASE_HASH)
            .map(str::to_owned)
            .or(query.passphrase_hash),
        read_token_hash: extract::header_str(headers, crate::headers::READ_TOKEN_HASH)
            .map(str::to_owned)
            .or(query.read_token_hash),
    }
    .validate()?;
    Ok((ttl, restrictions))
}

pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    extract::header_str(headers, "content-length").and_then(|v| v.parse::<u64>().ok())
}

/// Reads at most `cap` bytes, answering 413 as soon as more arrive; the rest is never read
/// here (see [`stream_limited`]).
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    cap: u64,
    limit: u64,
) -> Result<bytes::Bytes, AppError> {
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > cap) {
        return Err(AppError::PayloadTooLarge(limit));
    }
    let mut buf = bytes::BytesMut::with_capacity(declared.unwrap_or(0).min(cap) as usize);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(crate::routes::response::body_error)?;
        if (buf.len() + chunk.len()) as u64 > cap {
            return Err(AppError::PayloadTooLarge(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

#[utoipa::path(
    get, path = "/api/v1/secret/{id}", tag = "secret",
    params(
        ("id" = String, Path, description = "Secret id: a ULID (26 Crockford base32 characters), or the 22-character base64url or hyphenated UUID form of earlier links", pattern = r"^([0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}|[A-Za-z0-9_-]{21}[AQgw]|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$"),
        ("X-Secret-Passphrase" = Option<String>, Header, description = "Passphrase verifier, if the secret requires one"),
        ("X-Secret-Read-Token" = Option<String>, Header, description = "Read token derived from the link key (docs/FORMAT.md § Read token); required by secrets stored with a read_token_hash")
    ),
    responses(
        (status = 200, description = "The stored bytes, consumed on the spot: base64 text (text/plain) for JSON uploads, raw bytes for raw uploads"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "Passphrase missing or wrong; see X-Passphrase-Attempts-Remaining"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "No such secret, it expired, or it needs a read token that was not sent"),
        (status = 410, body = ErrorBody), (status = 501, body = ErrorBody),
        (status = 503, body = ErrorBody)
    )
)]
/// Read a secret once; its read token, restrictions and passphrase are checked before it is
/// consumed.
pub async fn read(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    read_secret(&state, peer.ip(), &headers, &id).await
}

/// The read, also for Hakanai v3's CLI at `/s/{id}` (`pages.rs`).
pub(crate) async fn read_secret(
    state: &AppState,
    peer: IpAddr,
    headers: &HeaderMap,
    id: &str,
) -> Result<Response, AppError> {
    let id = parse_id(id)?;
    let reader = extract::reader(&state.settings, peer, headers);
    let (kind, data) = secrets::read(state, &id, &reader).await?;
    let content_type = match kind {
        PayloadKind::Base64Text => "text/plain; charset=utf-8",
        PayloadKind::Raw => "application/octet-stream",
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        data,
    )
        .into_response())
}

pub(crate) fn parse_id(id: &str) -> Result<SecretId, AppError> {
    SecretId::parse(id).ok_or_else(|| AppError::BadRequest("malformed secret id".into()))
}

#[utoipa::path(
    delete, path = "/api/v1/secret/{id}", tag = "secret",
    params(
        ("id" = String, Path, description = "Secret id: a ULID (26 Crockford base32 characters), or the 22-character base64url or hyphenated UUID form of earlier links", pattern = r"^([0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}|[A-Za-z0-9_-]{21}[AQgw]|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$"),
        ("X-Creator-Token" = String, Header, description = "Creator token from the create response")
    ),
    responses(
        (status = 204, description = "Revoked before anyone read it"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 410, body = ErrorBody), (status = 503, body = ErrorBody)
    )
)]
/// Delete a secret before anyone reads it (creator token required).
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    secrets::revoke(&state, &id, extract::creator_token(&headers), &headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/api/v1/secret/{id}/status", tag = "secret",
    params(
        ("id" = String, Path, description = "Secret id: a ULID (26 Crockford base32 characters), or the 22-character base64url or hyphenated UUID form of earlier links", pattern = r"^([0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}|[A-Za-z0-9_-]{21}[AQgw]|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$"),
        ("X-Creator-Token" = String, Header, description = "Creator token from the create response")
    ),
    responses(
        (status = 200, body = SecretStatus),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)
    )
)]
/// Whether a secret is pending, read, revoked or expired (creator token required).
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<SecretStatus>, AppError> {
    let id = parse_id(&id)?;
    let Some(creator_token) = extract::creator_token(&headers) else {
        return Err(AppError::Unauthorized("X-Creator-Token is required"));
    };
    let status = match secrets::status(&state, &id, creator_token).await? {
        Status::Expired => SecretStatus {
            status: "expired".into(),
            expires_at: None,
            at: None,
        },
        Status::Pending { expires_at_ms } => SecretStatus {
            status: "pending".into(),
            expires_at: Some(rfc3339(Duration::from_millis(expires_at_ms))),
            at: None,
        },
        Status::Gone { reason, at } => SecretStatus {
            status: match reason {
                GoneReason::Read => "read",
                GoneReason::Revoked => "revoked",
                GoneReason::Destroyed => "destroyed",
            }
            .into(),
            expires_at: None,
            at: Some(rfc3339(Duration::from_secs(at))),
        },
    };
    Ok(Json(status))
}

fn rfc3339(since_epoch: Duration) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + since_epoch).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_len_matches_a_full_decode() {
        for n in [
            0usize,
            1,
            2,
            3,
            48 * 1024 - 1,
            48 * 1024,
            48 * 1024 + 1,
            200_000,
        ] {
            let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let text = STANDARD.encode(&data);
            assert_eq!(decoded_len(&text).unwrap(), n as u64, "{n}");
        }
        let mut bad = STANDARD.encode(vec![1u8; 100_000]);
        bad.insert(70_000, '=');
        assert!(decoded_len(&bad).is_err());
        assert!(decoded_len("abc").is_err());
        assert!(decoded_len("ab=c").is_err());
    }
}
