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
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};

use crate::budget;
use crate::client_ip::{client_ip, proxy_header};
use crate::configuration::parse_duration;
use crate::error::{AppError, ErrorBody};
use crate::events::{Created, Event, Subject, UserType};
use crate::id::SecretId;
use crate::restrictions::{passphrase_opens, split_list, Restrictions, RestrictionsRequest};
use crate::store::{
    now_ms, GoneReason, NewSecret, PayloadKind, Peek, SecretMeta, TakeMode, Taken, Tombstone,
    UploadOwner, UploadSink,
};
use crate::tokens;
use crate::AppState;

pub const PASSPHRASE_HEADER: &str = "x-secret-passphrase";
pub const CREATOR_TOKEN_HEADER: &str = "x-creator-token";

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
/// `X-Secret-Allowed-Countries`, `X-Secret-Allowed-ASNs`, `X-Secret-Passphrase-Hash` take
/// precedence).
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

/// A JSON upload, parsed and validated except for the TTL bound.
struct Upload {
    kind: PayloadKind,
    data: bytes::Bytes,
    ttl: Option<Duration>,
    restrictions: Restrictions,
}

/// Who is uploading, and what they may upload.
pub(crate) struct Uploader {
    pub(crate) limit: u64,
    pub(crate) one_time: Option<crate::store::TokenHash>,
    pub(crate) user_type: UserType,
    /// Whom the upload counts against (open uploads, storage budget): its token, wherever it
    /// comes from, else the client's address.
    pub(crate) owner: UploadOwner,
    /// The owner's storage budget in bytes, if it has one.
    pub(crate) stored_bytes_limit: Option<u64>,
}

impl Uploader {
    /// The owner whose storage budget the upload is reserved against: none for clients in
    /// `--trusted-ip-ranges`, which count against the global budget only.
    pub(crate) fn budget_owner(&self) -> Option<&UploadOwner> {
        (self.user_type != UserType::Whitelisted).then_some(&self.owner)
    }
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
        (status = 408, body = ErrorBody, description = "The body stalled or arrived too slowly"),
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
    let uploader = authorize_upload(&state, peer.ip(), &headers).await?;
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
        upload.restrictions.ensure_checkable(&state.settings)?;
        let ttl = checked_ttl(&state, upload.ttl)?;
        let (secret, creator_token) = new_secret(upload.kind, upload.restrictions, ttl);
        let id = secret.id;
        let size = upload.data.len() as u64;
        let restrictions = secret.restrictions.clone();
        let reservation = budget::reservation(&state, &id, &uploader, size, expiry_ms(ttl));
        let secret = NewSecret {
            data: upload.data,
            ..secret
        };
        if uploader.one_time.is_none() {
            // Reservation, secret and statistics entry in one store call: one round trip to a
            // Redis node.
            budget::check(state.store.create(secret, &reservation).await?, &uploader)?;
        } else {
            // Reserved before the one-time token is spent, so a refusal spends nothing; stored
            // only once it is spent.
            let reserved = state.store.budget_reserve(&reservation).await?;
            budget::check(reserved, &uploader)?;
            if let Err(e) = burn_one_time_token(&state, &uploader).await {
                budget::release(&state, &id).await;
                return Err(e);
            }
            crate::store::put_reserved(&*state.store, secret).await?;
        }
        let details = Created {
            user_type: uploader.user_type,
            ttl,
            size,
            restrictions: &restrictions,
        };
        state.events.created(&id, &details, &headers);
        return Ok(created(id, creator_token));
    }
    if is("application/octet-stream") {
        // Options come first, so a bad TTL is refused before any of the body is read.
        let (ttl, restrictions) = raw_options(&headers, query)?;
        restrictions.ensure_checkable(&state.settings)?;
        let ttl = checked_ttl(&state, ttl)?;
        let (secret, creator_token) = new_secret(PayloadKind::Raw, restrictions.clone(), ttl);
        let id = secret.id;
        // The body's length is not known until it ends: the declared length, else the upload
        // limit, is reserved first and settled to the real size once stored.
        let claim = declared_length(&headers)
            .unwrap_or(uploader.limit)
            .min(uploader.limit);
        budget::reserve(&state, &id, &uploader, claim, expiry_ms(ttl)).await?;
        // Spent before a byte of the body is stored: a one-time token never carries two
        // bodies into the store at once, and an upload that fails halfway has used its chance
        // (as a multi-request upload does when it opens).
        let stored = async {
            burn_one_time_token(&state, &uploader).await?;
            let mut sink = state.store.begin_upload(secret);
            let size = stream_limited(&headers, body, uploader.limit, sink.as_mut()).await?;
            sink.finish().await?;
            Ok::<u64, AppError>(size)
        }
        .await;
        let size = match stored {
            Ok(size) => size,
            Err(e) => {
                budget::release(&state, &id).await;
                return Err(e);
            }
        };
        // Settled even at the declared size: the secret's lifetime began when it was published,
        // after the body arrived, so the reservation must end with it, not before.
        budget::settle(&state, &id, size, ttl).await;
        let details = Created {
            user_type: uploader.user_type,
            ttl,
            size,
            restrictions: &restrictions,
        };
        record_created(&state, &id, &details, &headers).await;
        return Ok(created(id, creator_token));
    }
    Err(AppError::UnsupportedMediaType(
        "application/json or application/octet-stream",
    ))
}

/// A secret was stored: the statistics behind Hakanai's gauges, metrics and the webhook. The
/// statistics never fail a request: the gauges are a best effort, corrected as secrets expire.
pub(crate) async fn record_created(
    state: &AppState,
    id: &SecretId,
    created: &Created<'_>,
    headers: &HeaderMap,
) {
    if let Err(e) = state.store.stats_add(id, created.ttl).await {
        tracing::debug!(error = %e, "secret statistics not updated");
    }
    state.events.created(id, created, headers);
}

/// A secret was destroyed by too many wrong passphrases. (A read or revoke takes the secret,
/// and the take releases its bytes and statistics entry itself.)
pub(crate) async fn record_destroyed(state: &AppState, id: &SecretId, headers: &HeaderMap) {
    // The bytes it held are free again, whether or not the statistics knew it.
    let (_, removed) = tokio::join!(budget::release(state, id), state.store.stats_remove(id));
    if let Err(e) = removed {
        tracing::debug!(error = %e, "secret statistics not updated");
    }
    state
        .events
        .record(Event::SecretDestroyed, Subject::Secret(id), headers);
}

#[tracing::instrument(skip_all)]
pub(crate) fn checked_ttl(state: &AppState, ttl: Option<Duration>) -> Result<Duration, AppError> {
    let ttl = ttl.unwrap_or(state.settings.default_ttl);
    if ttl.is_zero() || ttl > state.settings.max_ttl {
        return Err(AppError::BadRequest(format!(
            "expires_in must be between 1 and {} seconds",
            state.settings.max_ttl.as_secs()
        )));
    }
    Ok(ttl)
}

/// Spends a one-time token: after a JSON body has been read and checked (it is not stored
/// yet), and before any body of a raw or multi-request upload reaches the store.
#[tracing::instrument(skip_all)]
pub(crate) async fn burn_one_time_token(
    state: &AppState,
    uploader: &Uploader,
) -> Result<(), AppError> {
    let Some(hash) = &uploader.one_time else {
        return Ok(());
    };
    if !state.store.token_take(hash).await? {
        return Err(AppError::TokenRefused("token already used"));
    }
    Ok(())
}

/// Unix ms `ttl` from now.
pub(crate) fn expiry_ms(ttl: Duration) -> u64 {
    now_ms().saturating_add(ttl.as_millis() as u64)
}

pub(crate) fn new_secret(
    kind: PayloadKind,
    restrictions: Restrictions,
    ttl: Duration,
) -> (NewSecret, String) {
    let creator_token = tokens::random_token();
    let secret = NewSecret {
        id: SecretId::random(),
        kind,
        creator_hash: tokens::creator_hash(&creator_token),
        restrictions,
        data: bytes::Bytes::new(),
        ttl,
    };
    (secret, creator_token)
}

fn created(id: SecretId, creator_token: String) -> Json<CreateSecretResponse> {
    Json(CreateSecretResponse {
        id: id.to_string(),
        creator_token,
    })
}

/// Who is asking to store something, in Hakanai v3's order: a bearer token decides when one is
/// given; without one, a client in `--trusted-ip-ranges`, else an anonymous client.
pub(crate) enum Caller {
    Token {
        hash: crate::store::TokenHash,
        record: crate::store::TokenRecord,
    },
    TrustedRange,
    Anonymous,
}

pub(crate) async fn identify_caller(
    state: &AppState,
    peer: IpAddr,
    headers: &HeaderMap,
) -> Result<Caller, AppError> {
    let s = &state.settings;
    if let Some(token) = tokens::bearer(headers)? {
        let hash = tokens::hash_token(token);
        let Some(record) = state.store.token_get(&hash).await? else {
            return Err(AppError::TokenRefused("invalid or expired token"));
        };
        return Ok(Caller::Token { hash, record });
    }
    let trusted = !s.trusted_ip_ranges.is_empty()
        && client_ip(peer, headers, &s.trusted_ip_header, &s.trusted_proxies)
            .is_some_and(|ip| crate::client_ip::in_ranges(ip, &s.trusted_ip_ranges));
    Ok(if trusted {
        Caller::TrustedRange
    } else {
        Caller::Anonymous
    })
}

#[tracing::instrument(skip_all)]
pub(crate) async fn authorize_upload(
    state: &AppState,
    peer: IpAddr,
    headers: &HeaderMap,
) -> Result<Uploader, AppError> {
    let settings = &state.settings;
    // Computed only for callers without a token.
    let address = || {
        let ip = client_ip(
            peer,
            headers,
            &settings.trusted_ip_header,
            &settings.trusted_proxies,
        );
        UploadOwner::address(ip.unwrap_or(peer))
    };
    Ok(match identify_caller(state, peer, headers).await? {
        Caller::Token { hash, record } => Uploader {
            limit: record.upload_size_limit.min(settings.upload_size_limit),
            one_time: record.one_time.then_some(hash),
            user_type: UserType::Authenticated,
            owner: UploadOwner::token(&hash),
            stored_bytes_limit: match record.max_stored_bytes {
                Some(0) => None,
                Some(n) => Some(n),
                None => settings.max_stored_bytes_per_token,
            },
        },
        Caller::TrustedRange => Uploader {
            limit: settings.upload_size_limit,
            one_time: None,
            user_type: UserType::Whitelisted,
            owner: address(),
            stored_bytes_limit: None,
        },
        Caller::Anonymous if settings.allow_anonymous => Uploader {
            limit: settings.anonymous_size_limit,
            one_time: None,
            user_type: UserType::Anonymous,
            owner: address(),
            stored_bytes_limit: settings.max_stored_bytes_per_address,
        },
        Caller::Anonymous => {
            return Err(AppError::Unauthorized(
                "a token is required to create secrets",
            ))
        }
    })
}

#[tracing::instrument(skip_all)]
async fn json_upload(headers: &HeaderMap, body: Body, limit: u64) -> Result<Upload, AppError> {
    let encoded = limit.div_ceil(3) * 4;
    // Some encoders escape '/' as "\/", so leave room beyond the plain encoding.
    let cap = encoded + encoded / 16 + JSON_OVERHEAD;
    let raw = read_limited(headers, body, cap, limit).await?;
    let req: CreateSecretRequest = serde_json::from_slice(&raw)
        .map_err(|e| AppError::BadRequest(format!("invalid JSON: {e}")))?;
    if decoded_len(&req.data)? > limit {
        return Err(AppError::PayloadTooLarge(limit));
    }
    Ok(Upload {
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

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn raw_options(
    headers: &HeaderMap,
    query: RawUploadQuery,
) -> Result<(Option<Duration>, Restrictions), AppError> {
    let ttl = header_str(headers, "x-secret-ttl")
        .map(str::to_owned)
        .or(query.ttl)
        .map(|s| parse_duration(&s).map_err(AppError::BadRequest))
        .transpose()?;
    let list = |h: &str, q: Option<String>| {
        header_str(headers, h)
            .map(str::to_owned)
            .or(q)
            .map(|s| split_list(&s))
    };
    let asns = list("x-secret-allowed-asns", query.allowed_asns)
        .map(|v| {
            v.iter()
                .map(|a| a.trim_start_matches("AS").parse::<u32>())
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|_| AppError::BadRequest("invalid ASN".into()))?;
    let restrictions = RestrictionsRequest {
        allowed_ips: list("x-secret-allowed-ips", query.allowed_ips),
        allowed_countries: list("x-secret-allowed-countries", query.allowed_countries),
        allowed_asns: asns,
        passphrase_hash: header_str(headers, "x-secret-passphrase-hash")
            .map(str::to_owned)
            .or(query.passphrase_hash),
    }
    .validate()?;
    Ok((ttl, restrictions))
}

pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, "content-length").and_then(|v| v.parse::<u64>().ok())
}

/// Streams the body into the store, answering 413 as soon as `limit` is passed; the partial
/// upload is discarded. The rest of the body is never read here: the server loop reads and
/// drops it, bounded, before it closes the connection (`connections.rs`), so the client sees
/// the 413 rather than a reset.
#[tracing::instrument(skip_all)]
async fn stream_limited(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    sink: &mut dyn UploadSink,
) -> Result<u64, AppError> {
    if declared_length(headers).is_some_and(|n| n > limit) {
        return Err(AppError::PayloadTooLarge(limit));
    }
    let mut total: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(AppError::from_body_error)?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(AppError::PayloadTooLarge(limit));
        }
        sink.append(chunk).await?;
    }
    Ok(total)
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
        let chunk = chunk.map_err(AppError::from_body_error)?;
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
        ("X-Secret-Passphrase" = Option<String>, Header, description = "Passphrase verifier, if the secret requires one")
    ),
    responses(
        (status = 200, description = "The stored bytes, consumed on the spot: base64 text (text/plain) for JSON uploads, raw bytes for raw uploads"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "Passphrase missing or wrong; see X-Passphrase-Attempts-Remaining"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 410, body = ErrorBody), (status = 501, body = ErrorBody),
        (status = 503, body = ErrorBody)
    )
)]
/// Read a secret once; restrictions and passphrase are checked before it is consumed.
pub async fn read(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    read_secret(&state, peer.ip(), &headers, &id).await
}

pub(crate) async fn read_secret(
    state: &AppState,
    peer: IpAddr,
    headers: &HeaderMap,
    id: &str,
) -> Result<Response, AppError> {
    let id = parse_id(id)?;
    let mut taken = state.store.take(&id, TakeMode::ReadIfUnrestricted).await?;
    if let Taken::Restricted(meta) = taken {
        check_restrictions(state, peer, headers, &meta)?;
        check_passphrase(state, headers, &id, &meta).await?;
        taken = state.store.take(&id, TakeMode::Read).await?;
    }
    match taken {
        Taken::Missing => Err(not_found()),
        Taken::Gone(t) => Err(gone(&t)),
        Taken::Restricted(_) => Err(AppError::Internal("restricted after check".into())),
        Taken::Data { kind, data, age } => {
            if let Some(age) = age {
                state.metrics.observe_lifetime(age);
            }
            state
                .events
                .record(Event::SecretRead, Subject::Secret(&id), headers);
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
    }
}

pub(crate) fn parse_id(id: &str) -> Result<SecretId, AppError> {
    SecretId::parse(id).ok_or_else(|| AppError::BadRequest("malformed secret id".into()))
}

fn not_found() -> AppError {
    AppError::NotFound("the secret does not exist or has expired")
}

fn gone(t: &Tombstone) -> AppError {
    AppError::Gone(match t.reason {
        GoneReason::Read => "the secret has already been read",
        GoneReason::Revoked => "the secret was deleted by its creator",
        GoneReason::Destroyed => "the secret was destroyed after too many wrong passphrases",
    })
}

#[tracing::instrument(skip_all)]
fn check_restrictions(
    state: &AppState,
    peer: IpAddr,
    headers: &HeaderMap,
    meta: &SecretMeta,
) -> Result<(), AppError> {
    let s = &state.settings;
    let r = &meta.restrictions;
    if !r.allowed_ips.is_empty() {
        let ip = client_ip(peer, headers, &s.trusted_ip_header, &s.trusted_proxies);
        let ok = ip.is_some_and(|ip| crate::client_ip::in_ranges(ip, &r.allowed_ips));
        if !ok {
            return Err(AppError::Forbidden(
                "access from this IP address is not allowed",
            ));
        }
    }
    if !r.allowed_countries.is_empty() {
        let Some(h) = &s.country_header else {
            return Err(AppError::NotImplemented(
                "country restrictions need --country-header on the server",
            ));
        };
        let country = proxy_header(peer, headers, h, &s.trusted_proxies);
        let ok = country.is_some_and(|c| {
            r.allowed_countries
                .iter()
                .any(|a| a.eq_ignore_ascii_case(c))
        });
        if !ok {
            return Err(AppError::Forbidden(
                "access from this country is not allowed",
            ));
        }
    }
    if !r.allowed_asns.is_empty() {
        let Some(h) = &s.asn_header else {
            return Err(AppError::NotImplemented(
                "ASN restrictions need --asn-header on the server",
            ));
        };
        let asn = proxy_header(peer, headers, h, &s.trusted_proxies)
            .and_then(|v| v.trim_start_matches("AS").parse::<u32>().ok());
        if !asn.is_some_and(|a| r.allowed_asns.contains(&a)) {
            return Err(AppError::Forbidden(
                "access from this network is not allowed",
            ));
        }
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
async fn check_passphrase(
    state: &AppState,
    headers: &HeaderMap,
    id: &SecretId,
    meta: &SecretMeta,
) -> Result<(), AppError> {
    let Some(expected) = &meta.restrictions.passphrase_hash else {
        return Ok(());
    };
    let max = state.settings.max_passphrase_attempts;
    let Some(given) = headers.get(PASSPHRASE_HEADER) else {
        // Asking without a passphrase is how a client learns that one is needed; it costs nothing.
        return Err(AppError::Passphrase {
            remaining: max,
            details: "this secret requires a passphrase",
        });
    };
    if passphrase_opens(expected, given.as_bytes()) {
        return Ok(());
    }
    match state.store.fail_attempt(id, max).await? {
        // Another reader read or destroyed it since we looked.
        None => match state.store.peek(id).await? {
            Peek::Gone(t) => Err(gone(&t)),
            _ => Err(not_found()),
        },
        Some(n) if n >= max => {
            record_destroyed(state, id, headers).await;
            Err(AppError::Passphrase {
                remaining: 0,
                details: "wrong passphrase; the secret has been destroyed",
            })
        }
        Some(n) => Err(AppError::Passphrase {
            remaining: max - n,
            details: "wrong passphrase",
        }),
    }
}

pub(crate) fn creator_matches(headers: &HeaderMap, expected: &[u8]) -> Result<(), AppError> {
    let Some(token) = header_str(headers, CREATOR_TOKEN_HEADER) else {
        return Err(AppError::Unauthorized("X-Creator-Token is required"));
    };
    if bool::from(tokens::creator_hash(token).ct_eq(expected)) {
        return Ok(());
    }
    Err(AppError::Forbidden("wrong creator token"))
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
    match state.store.peek(&id).await? {
        Peek::Missing => return Err(not_found()),
        Peek::Gone(t) => {
            creator_matches(&headers, &t.creator_hash)?;
            return Err(gone(&t));
        }
        Peek::Live(meta) => creator_matches(&headers, &meta.creator_hash)?,
    }
    match state.store.take(&id, TakeMode::Revoke).await? {
        Taken::Data { .. } => {
            state
                .events
                .record(Event::SecretRevoked, Subject::Secret(&id), &headers);
            Ok(StatusCode::NO_CONTENT)
        }
        Taken::Gone(t) => Err(gone(&t)),
        Taken::Missing => Err(not_found()),
        Taken::Restricted(_) => Err(AppError::Internal("restricted on revoke".into())),
    }
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
    if header_str(&headers, CREATOR_TOKEN_HEADER).is_none() {
        return Err(AppError::Unauthorized("X-Creator-Token is required"));
    }
    let status = match state.store.peek(&id).await? {
        // Nothing is kept after expiry, so an expired secret and an unknown id look the same.
        Peek::Missing => SecretStatus {
            status: "expired".into(),
            expires_at: None,
            at: None,
        },
        Peek::Live(meta) => {
            creator_matches(&headers, &meta.creator_hash)?;
            SecretStatus {
                status: "pending".into(),
                expires_at: Some(rfc3339(Duration::from_millis(meta.expires_at_ms))),
                at: None,
            }
        }
        Peek::Gone(t) => {
            creator_matches(&headers, &t.creator_hash)?;
            let status = match t.reason {
                GoneReason::Read => "read",
                GoneReason::Revoked => "revoked",
                GoneReason::Destroyed => "destroyed",
            };
            SecretStatus {
                status: status.into(),
                expires_at: None,
                at: Some(rfc3339(Duration::from_secs(t.at))),
            }
        }
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
