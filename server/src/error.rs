//! One error type for every refusal, from the domain layer up: what went wrong, in terms a
//! client can act on. `routes/response.rs` maps each to its status, its JSON body
//! `{"error", "details"}` and headers; this module knows nothing of HTTP.

use serde::Serialize;
use utoipa::ToSchema;

use crate::restrictions::RestrictionError;
use crate::store::StoreError;

pub const ATTEMPTS_HEADER: &str = crate::headers::ATTEMPTS_REMAINING;
/// Where a multi-request upload stands, in payload bytes (the name tus uses).
pub const UPLOAD_OFFSET_HEADER: &str = crate::headers::UPLOAD_OFFSET;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// A token was given but is unknown, expired or spent: 403, as Hakanai v3's clients expect
    /// (401 stays for a missing token).
    #[error("token refused: {0}")]
    TokenRefused(&'static str),
    /// Passphrase missing or wrong; carries the attempts left.
    #[error("passphrase required or wrong")]
    Passphrase {
        remaining: u32,
        details: &'static str,
    },
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound(&'static str),
    #[error("gone: {0}")]
    Gone(&'static str),
    /// A chunk for another offset than where the upload stands.
    #[error("upload offset mismatch")]
    UploadOffset(u64),
    #[error("payload too large")]
    PayloadTooLarge(u64),
    /// Over a cap that frees itself in time; `Retry-After` says when to try again.
    #[error("too many requests: {details}")]
    TooManyRequests {
        retry_after: std::time::Duration,
        details: &'static str,
    },
    /// The identity (token or address) holds as many stored bytes as it may; its earliest
    /// secret expires within the duration.
    #[error("over the storage budget")]
    OverBudget(std::time::Duration),
    /// The global storage budget is used up.
    #[error("insufficient storage")]
    InsufficientStorage,
    /// The request body stalled or arrived too slowly (`connections::RequestBody`).
    #[error("request body timed out")]
    RequestTimeout,
    #[error("unsupported media type")]
    /// Carries the media types the route takes.
    UnsupportedMediaType(&'static str),
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<RestrictionError> for AppError {
    fn from(e: RestrictionError) -> AppError {
        match e {
            RestrictionError::Invalid(d) => AppError::BadRequest(d),
            RestrictionError::Unsupported(d) => AppError::NotImplemented(d),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable error code.
    pub error: &'static str,
    /// Human-readable explanation; never internal details.
    pub details: String,
}
