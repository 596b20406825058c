//! Who is asking, and what they may do: a bearer token decides when one is given; without one,
//! a client in `--trusted-ip-ranges`, else an anonymous client (Hakanai v3's order). An upload's
//! owner — its token, else the client's address — is what its open uploads and stored bytes
//! count against.

use std::net::IpAddr;

use crate::client_ip::in_ranges;
use crate::error::AppError;
use crate::store::{TokenHash, TokenRecord, UploadOwner};
use crate::tokens::{self, UserType};

use super::Services;

/// What a request tells about its sender, read from the request by the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// `Authorization: Bearer <token>`, if given.
    pub bearer: Option<&'a str>,
    /// The client's address as believed through `--trusted-proxies`: `None` when a trusted
    /// proxy sent a header that does not parse (then the client is unknown).
    pub address: Option<IpAddr>,
    /// The TCP peer.
    pub peer: IpAddr,
}

/// Who is asking to store something or to mint a token.
pub enum Caller {
    Token {
        hash: TokenHash,
        record: TokenRecord,
    },
    TrustedRange,
    Anonymous,
}

pub async fn identify_caller(s: &Services, r: &Requester<'_>) -> Result<Caller, AppError> {
    if let Some(token) = r.bearer {
        let hash = tokens::hash_token(token);
        let Some(record) = s.store.token_get(&hash).await? else {
            return Err(AppError::TokenRefused("invalid or expired token"));
        };
        return Ok(Caller::Token { hash, record });
    }
    let ranges = &s.settings.trusted_ip_ranges;
    let trusted = !ranges.is_empty() && r.address.is_some_and(|ip| in_ranges(ip, ranges));
    Ok(if trusted {
        Caller::TrustedRange
    } else {
        Caller::Anonymous
    })
}

/// Who is uploading, and what they may upload.
pub struct Uploader {
    pub limit: u64,
    pub one_time: Option<TokenHash>,
    pub user_type: UserType,
    /// Whom the upload counts against (open uploads, storage budget): its token, wherever it
    /// comes from, else the client's address.
    pub owner: UploadOwner,
    /// The owner's storage budget in bytes, if it has one.
    pub stored_bytes_limit: Option<u64>,
}

impl Uploader {
    /// The owner whose storage budget the upload is reserved against: none for clients in
    /// `--trusted-ip-ranges`, which count against the global budget only.
    pub fn budget_owner(&self) -> Option<&UploadOwner> {
        (self.user_type != UserType::Whitelisted).then_some(&self.owner)
    }
}

#[tracing::instrument(skip_all)]
pub async fn authorize_upload(s: &Services, r: &Requester<'_>) -> Result<Uploader, AppError> {
    let settings = &s.settings;
    let address = || UploadOwner::address(r.address.unwrap_or(r.peer));
    Ok(match identify_caller(s, r).await? {
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

/// Spends a one-time token: after a JSON body has been read and checked (it is not stored
/// yet), and before any body of a raw or multi-request upload reaches the store.
#[tracing::instrument(skip_all)]
pub async fn burn_one_time_token(s: &Services, uploader: &Uploader) -> Result<(), AppError> {
    let Some(hash) = &uploader.one_time else {
        return Ok(());
    };
    if !s.store.token_take(hash).await? {
        return Err(AppError::TokenRefused("token already used"));
    }
    Ok(())
}
