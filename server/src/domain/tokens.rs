//! User and admin tokens: who may use the admin API, minting user tokens (by an admin, by a
//! token holder for one-time invites), listing and revoking them, and the tokens a fresh server
//! or a reset creates (handed over to the terminal or a 0600 file before they are stored, never
//! logged). Only a token's SHA-256 is ever stored.

use subtle::ConstantTimeEq;

use crate::client_ip::in_ranges;
use crate::error::AppError;
use crate::store::{now_secs, TokenRecord};
use crate::token_file::{TokenDestination, TokenKind};
use crate::tokens;

use super::callers::{identify_caller, Caller, Requester};
use super::Services;

/// The admin API needs it enabled, a client address in the admin ranges and the admin token.
pub async fn authorize_admin(s: &Services, r: &Requester<'_>) -> Result<(), AppError> {
    let settings = &s.settings;
    if !settings.admin_enabled {
        return Err(AppError::NotFound("the admin API is disabled"));
    }
    if !r
        .address
        .is_some_and(|ip| in_ranges(ip, &settings.admin_ranges))
    {
        return Err(AppError::Forbidden(
            "the admin API is not available from this address",
        ));
    }
    let Some(token) = r.bearer else {
        return Err(AppError::Unauthorized("admin token required"));
    };
    let Some(expected) = s.store.admin_hash_get().await? else {
        return Err(AppError::TokenRefused("invalid admin token"));
    };
    if !bool::from(tokens::hash_token(token).ct_eq(&expected)) {
        return Err(AppError::TokenRefused("invalid admin token"));
    }
    Ok(())
}

/// What a new user token may do.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenGrant {
    /// Upload limit in bytes (capped by `--upload-size-limit`).
    pub limit: u64,
    pub ttl_seconds: Option<u64>,
    pub one_time: bool,
    /// The token's own storage budget; `None` takes `--max-stored-bytes-per-token`.
    pub max_stored_bytes: Option<u64>,
}

/// Stores a new user token; returns it (shown once) and its public id.
pub async fn create_user_token(
    s: &Services,
    grant: TokenGrant,
) -> Result<(String, String), AppError> {
    let token = tokens::random_token();
    let now = now_secs();
    let record = TokenRecord {
        id: tokens::random_token_id(),
        upload_size_limit: grant.limit.min(s.settings.upload_size_limit),
        one_time: grant.one_time,
        created_at: now,
        expires_at: grant.ttl_seconds.map(|t| now.saturating_add(t)),
        max_stored_bytes: grant.max_stored_bytes,
    };
    s.store
        .token_put(&tokens::hash_token(&token), &record)
        .await?;
    Ok((token, record.id))
}

/// A one-time token minted by a token holder (Hakanai v3's invite tokens): it inherits the
/// caller's upload limit (a client in `--trusted-ip-ranges` gets `--upload-size-limit`) and
/// lives `--one-time-token-ttl`.
pub async fn mint_one_time_token(
    s: &Services,
    r: &Requester<'_>,
) -> Result<(String, String), AppError> {
    let limit = match identify_caller(s, r).await? {
        // Hakanai v3 let a one-time token mint another, which turns "once" into "for ever".
        Caller::Token { record, .. } if record.one_time => {
            return Err(AppError::TokenRefused(
                "a one-time token cannot create one-time tokens",
            ))
        }
        Caller::Token { record, .. } => record.upload_size_limit,
        Caller::TrustedRange => s.settings.upload_size_limit,
        Caller::Anonymous => {
            return Err(AppError::Unauthorized(
                "a token is required to create one-time tokens",
            ))
        }
    };
    let grant = TokenGrant {
        limit,
        ttl_seconds: Some(s.settings.one_time_token_ttl.as_secs().max(1)),
        one_time: true,
        max_stored_bytes: None,
    };
    create_user_token(s, grant).await
}

/// Every user token's record, oldest first; tokens without a limit of their own (taken over
/// from Hakanai v3) show the server's.
pub async fn list_user_tokens(s: &Services) -> Result<Vec<TokenRecord>, AppError> {
    let mut list: Vec<TokenRecord> = s
        .store
        .token_list()
        .await?
        .into_iter()
        .map(|r| TokenRecord {
            upload_size_limit: r.upload_size_limit.min(s.settings.upload_size_limit),
            ..r
        })
        .collect();
    list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(list)
}

pub async fn revoke_user_token(s: &Services, id: &str) -> Result<(), AppError> {
    if s.store.token_delete_by_id(id).await? {
        return Ok(());
    }
    Err(AppError::NotFound("no such token"))
}

/// Tokens created at startup or by a reset, as they were handed over (for programs and tests
/// that embed the server; otherwise they went to the terminal or the token file).
#[derive(Debug, Default, Clone)]
pub struct NewTokens {
    pub admin: Option<String>,
    pub user: Option<String>,
}

/// What a fresh server needs: an admin token when the admin API is on and none exists
/// (`admin`), and a user token when anonymous uploads are off and none exists (`user`, with
/// this upload limit). A token goes to `to` before it is stored; one that cannot be handed
/// over is logged as such and not created, and the server starts without it.
pub async fn bootstrap(
    s: &Services,
    admin: bool,
    user: Option<u64>,
    to: &TokenDestination,
) -> Result<NewTokens, AppError> {
    let mut out = NewTokens::default();
    if admin && s.store.admin_hash_get().await?.is_none() {
        let token = tokens::random_token();
        match to.deliver(TokenKind::Admin, &token) {
            Ok(()) => {
                s.store.admin_hash_set(&tokens::hash_token(&token)).await?;
                log_delivered(TokenKind::Admin, to);
                out.admin = Some(token);
            }
            Err(e) => log_undelivered(TokenKind::Admin, to, &e),
        }
    }
    if let Some(limit) = user {
        if s.store.token_list().await?.is_empty() {
            let (token, id) = create_user_token(s, plain(limit)).await?;
            match to.deliver(TokenKind::User, &token) {
                Ok(()) => {
                    log_delivered(TokenKind::User, to);
                    out.user = Some(token);
                }
                Err(e) => {
                    s.store.token_delete_by_id(&id).await?;
                    log_undelivered(TokenKind::User, to, &e);
                }
            }
        }
    }
    Ok(out)
}

/// Why a reset stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error(
        "cannot write the new token to {destination}: {error}; no token was stored. Pass \
         --token-file with a writable path, or run this on a terminal"
    )]
    Undeliverable {
        destination: String,
        error: std::io::Error,
    },
    #[error(transparent)]
    Refused(#[from] AppError),
}

/// `--reset-admin-token` (`admin`) and `--reset-user-tokens` (`user`: every user token goes,
/// one new one with this upload limit comes). Each new token is handed over before it is
/// stored, so the old admin token stays valid, and no user token is lost, if it cannot be.
pub async fn reset(
    s: &Services,
    admin: bool,
    user: Option<u64>,
    to: &TokenDestination,
) -> Result<NewTokens, ResetError> {
    let undeliverable = |error| ResetError::Undeliverable {
        destination: to.describe(),
        error,
    };
    to.check().map_err(undeliverable)?;
    let mut out = NewTokens::default();
    if admin {
        let token = tokens::random_token();
        to.deliver(TokenKind::Admin, &token)
            .map_err(undeliverable)?;
        s.store
            .admin_hash_set(&tokens::hash_token(&token))
            .await
            .map_err(AppError::from)?;
        log_delivered(TokenKind::Admin, to);
        out.admin = Some(token);
    }
    if let Some(limit) = user {
        s.store.token_clear().await.map_err(AppError::from)?;
        let (token, id) = create_user_token(s, plain(limit)).await?;
        if let Err(e) = to.deliver(TokenKind::User, &token) {
            s.store
                .token_delete_by_id(&id)
                .await
                .map_err(AppError::from)?;
            return Err(undeliverable(e));
        }
        log_delivered(TokenKind::User, to);
        out.user = Some(token);
    }
    Ok(out)
}

/// A user token with this upload limit, no expiry, not one-time.
fn plain(limit: u64) -> TokenGrant {
    TokenGrant {
        limit,
        ..Default::default()
    }
}

/// The one log line about a new token: what and where, never the token.
fn log_delivered(kind: TokenKind, to: &TokenDestination) {
    tracing::info!(
        token_kind = kind.label(),
        destination = %to.describe(),
        "created a new {} token; it was written to {} only (never to this log)",
        kind.label(),
        to.describe()
    );
}

fn log_undelivered(kind: TokenKind, to: &TokenDestination, e: &std::io::Error) {
    tracing::error!(
        token_kind = kind.label(),
        destination = %to.describe(),
        error = %e,
        "could not write the new {} token to {}, so none was created; restart with \
         --token-file <a writable path>, or on a terminal",
        kind.label(),
        to.describe()
    );
}
