//! Admin API: user tokens. Needs the admin token and a client address in the trusted ranges.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::configuration::parse_size;
use crate::domain::callers::Requester;
use crate::domain::tokens::{self, TokenGrant};
use crate::error::{AppError, ErrorBody};
use crate::events::{Event, Subject};
use crate::routes::extract::{bearer, sender};
use crate::store::TokenRecord;
use crate::AppState;

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateTokenRequest {
    /// Upload limit for this token: bytes, or a size such as `5m`. Defaults to, and is capped
    /// by, the server's `--upload-size-limit`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub upload_size_limit: Option<serde_json::Value>,
    /// Lifetime of the token in seconds; none means it does not expire.
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
    /// The token can create exactly one secret.
    #[serde(default)]
    pub one_time: bool,
    /// Bytes the token may hold stored at once: bytes, or a size such as `500m`; `0` for no
    /// budget. Defaults to `--max-stored-bytes-per-token`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub max_stored_bytes: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateTokenResponse {
    /// The bearer token; shown only here.
    pub token: String,
    /// Public handle for listing and revoking.
    pub id: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub upload_size_limit: u64,
    pub one_time: bool,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub expires_at: Option<u64>,
    /// The token's own storage budget in bytes (`0`: none), when it has one; else
    /// `--max-stored-bytes-per-token` applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stored_bytes: Option<u64>,
}

impl From<TokenRecord> for TokenInfo {
    fn from(r: TokenRecord) -> Self {
        TokenInfo {
            id: r.id,
            upload_size_limit: r.upload_size_limit,
            one_time: r.one_time,
            created_at: r.created_at,
            expires_at: r.expires_at,
            max_stored_bytes: r.max_stored_bytes,
        }
    }
}

async fn authorize(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    // A malformed Authorization header is no admin token either, refused only after the
    // address is checked, as a missing one is.
    let requester = Requester {
        bearer: bearer(headers).ok().flatten(),
        ..sender(&state.settings, peer.ip(), headers)
    };
    tokens::authorize_admin(state, &requester).await
}

#[utoipa::path(
    post, path = "/api/v1/admin/tokens", tag = "admin",
    request_body = CreateTokenRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, body = CreateTokenResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)
    )
)]
/// Create a user token (shown once) with an upload limit, lifetime and one-time flag.
pub async fn create_token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<CreateTokenResponse>, AppError> {
    authorize(&state, peer, &headers).await?;
    let req: CreateTokenRequest = if body.is_empty() {
        CreateTokenRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::BadRequest(format!("invalid JSON: {e}")))?
    };
    let global = state.settings.upload_size_limit;
    let limit = match req.upload_size_limit {
        None | Some(serde_json::Value::Null) => global,
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| AppError::BadRequest("upload_size_limit must be positive".into()))?,
        Some(serde_json::Value::String(s)) => parse_size(&s).map_err(AppError::BadRequest)?,
        Some(_) => return Err(AppError::BadRequest("invalid upload_size_limit".into())),
    };
    if req.ttl_seconds == Some(0) {
        return Err(AppError::BadRequest("ttl_seconds must be positive".into()));
    }
    let max_stored_bytes =
        match req.max_stored_bytes {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => Some(n.as_u64().ok_or_else(|| {
                AppError::BadRequest("max_stored_bytes must be a byte count".into())
            })?),
            Some(serde_json::Value::String(s)) => {
                Some(crate::configuration::parse_budget(&s).map_err(AppError::BadRequest)?)
            }
            Some(_) => return Err(AppError::BadRequest("invalid max_stored_bytes".into())),
        };
    let grant = TokenGrant {
        limit,
        ttl_seconds: req.ttl_seconds,
        one_time: req.one_time,
        max_stored_bytes,
    };
    let (token, id) = tokens::create_user_token(&state, grant).await?;
    state
        .events
        .record(Event::TokenCreated, Subject::Token(&id), &headers);
    Ok(Json(CreateTokenResponse { token, id }))
}

#[utoipa::path(
    get, path = "/api/v1/admin/tokens", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<TokenInfo>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)
    )
)]
/// List user tokens: metadata only, never the tokens.
pub async fn list_tokens(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Vec<TokenInfo>>, AppError> {
    authorize(&state, peer, &headers).await?;
    let list = tokens::list_user_tokens(&state).await?;
    Ok(Json(list.into_iter().map(TokenInfo::from).collect()))
}

#[utoipa::path(
    delete, path = "/api/v1/admin/tokens/{id}", tag = "admin",
    params(("id" = String, Path, description = "Token id from the list")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
/// Revoke a user token by its id.
pub async fn revoke_token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    authorize(&state, peer, &headers).await?;
    tokens::revoke_user_token(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
