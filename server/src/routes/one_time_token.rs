//! Self-service invitations: any token holder mints a one-time token to hand on, as Hakanai v3's
//! `POST /api/v1/one-time-token` (the page turns it into a `/create#<token>` link).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::Json;

use crate::domain::tokens;
use crate::error::{AppError, ErrorBody};
use crate::events::{Event, Subject};
use crate::routes::admin::CreateTokenResponse;
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
    let requester = requester(&state.settings, peer.ip(), &headers)?;
    let (token, id) = tokens::mint_one_time_token(&state, &requester).await?;
    state
        .events
        .record(Event::TokenCreated, Subject::Token(&id), &headers);
    Ok(Json(CreateTokenResponse { token, id }))
}
