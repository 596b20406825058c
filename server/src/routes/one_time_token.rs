//! Self-service invitations: any token holder mints a one-time token to hand on, as Hakanai v3's
//! `POST /api/v1/one-time-token` (the page turns it into a `/create#<token>` link).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::Json;

use crate::domain::callers::{identify_caller, Caller};
use crate::error::{AppError, ErrorBody};
use crate::events::{Event, Subject};
use crate::routes::admin::{create_user_token, CreateTokenResponse};
use crate::routes::extract::requester;
use crate::AppState;

#[utoipa::path(
    post, path = "/api/v1/one-time-token", tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CreateTokenResponse, description = "A one-time token with the caller's upload limit, valid for --one-time-token-ttl"),
        (status = 401, body = ErrorBody, description = "No token given"),
        (status = 403, body = ErrorBody, description = "The token is unknown, expired, or itself one-time")
    )
)]
/// Mint a one-time token that inherits the caller's upload limit (a client in
/// `--trusted-ip-ranges` without a token gets `--upload-size-limit`).
pub async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<CreateTokenResponse>, AppError> {
    let limit =
        match identify_caller(&state, &requester(&state.settings, peer.ip(), &headers)?).await? {
            // Hakanai v3 let a one-time token mint another, which turns "once" into "for ever".
            Caller::Token { record, .. } if record.one_time => {
                return Err(AppError::TokenRefused(
                    "a one-time token cannot create one-time tokens",
                ))
            }
            Caller::Token { record, .. } => record.upload_size_limit,
            Caller::TrustedRange => state.settings.upload_size_limit,
            Caller::Anonymous => {
                return Err(AppError::Unauthorized(
                    "a token is required to create one-time tokens",
                ))
            }
        };
    let ttl = state.settings.one_time_token_ttl.as_secs().max(1);
    let (token, id) = create_user_token(&state, limit, Some(ttl), true).await?;
    state
        .events
        .record(Event::TokenCreated, Subject::Token(&id), &headers);
    Ok(Json(CreateTokenResponse { token, id }))
}
