//! How an [`AppError`] reaches a client: its status, the JSON body `{"error", "details"}`, and the
//! headers some refusals carry (`Retry-After`, `X-Passphrase-Attempts-Remaining`,
//! `Upload-Offset`); and how a failed request body becomes an [`AppError`].

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::connections::BodyStalled;
use crate::error::{AppError, ErrorBody, ATTEMPTS_HEADER, UPLOAD_OFFSET_HEADER};
use crate::metrics::Rejection;
use crate::store::StoreError;

/// A request body that could not be read: 408 when the server cut it for stalling, else 400
/// (the client went away or sent a malformed chunked body).
pub fn body_error(e: axum::Error) -> AppError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = cause {
        if err.is::<BodyStalled>() {
            return AppError::RequestTimeout;
        }
        cause = err.source();
    }
    AppError::BadRequest("could not read the body".into())
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, error, details) = match &self {
            AppError::BadRequest(d) => (StatusCode::BAD_REQUEST, "bad_request", d.clone()),
            AppError::Unauthorized(d) => (StatusCode::UNAUTHORIZED, "unauthorized", (*d).into()),
            AppError::TokenRefused(d) => (StatusCode::FORBIDDEN, "invalid_token", (*d).into()),
            AppError::Passphrase { details, .. } => (
                StatusCode::UNAUTHORIZED,
                "passphrase_required",
                (*details).into(),
            ),
            AppError::Forbidden(d) => (StatusCode::FORBIDDEN, "forbidden", (*d).into()),
            AppError::NotFound(d) => (StatusCode::NOT_FOUND, "not_found", (*d).into()),
            AppError::Gone(d) => (StatusCode::GONE, "gone", (*d).into()),
            AppError::UploadOffset(at) => (
                StatusCode::CONFLICT,
                "upload_offset_mismatch",
                format!("the upload holds {at} bytes; send the chunk for that offset"),
            ),
            AppError::PayloadTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the secret exceeds the upload limit of {limit} bytes"),
            ),
            AppError::TooManyRequests { details, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                (*details).into(),
            ),
            AppError::OverBudget(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "you hold as many stored bytes as you may: retry once one of your secrets is \
                 read or expires"
                    .into(),
            ),
            AppError::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body stalled, arrived too slowly or took longer than the upload \
                 deadline; the connection is closed"
                    .into(),
            ),
            AppError::UnsupportedMediaType(accepted) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("use {accepted}"),
            ),
            AppError::NotImplemented(d) => {
                (StatusCode::NOT_IMPLEMENTED, "not_implemented", (*d).into())
            }
            AppError::InsufficientStorage | AppError::Store(StoreError::Full) => (
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                "the server stores as much as it may: try again once secrets are read or expire"
                    .into(),
            ),
            AppError::Store(e) => {
                tracing::error!(error = %e, "store error");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "storage is unavailable, try again later".into(),
                )
            }
            AppError::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "something went wrong".into(),
                )
            }
        };
        let rejection = match &self {
            AppError::PayloadTooLarge(_) => Some("size"),
            AppError::Unauthorized(_) | AppError::TokenRefused(_) => Some("token"),
            AppError::Forbidden(_) => Some("restriction"),
            AppError::Passphrase { .. } => Some("passphrase"),
            AppError::OverBudget(_) => Some("identity_budget"),
            AppError::InsufficientStorage | AppError::Store(StoreError::Full) => {
                Some("storage_full")
            }
            _ => None,
        };
        let mut resp = (status, Json(ErrorBody { error, details })).into_response();
        if let Some(reason) = rejection {
            // Read by the metrics middleware; extensions never leave the process.
            resp.extensions_mut().insert(Rejection(reason));
        }
        if let AppError::UploadOffset(at) = self {
            resp.headers_mut()
                .insert(UPLOAD_OFFSET_HEADER, HeaderValue::from(at));
        }
        let retry_after = match self {
            AppError::TooManyRequests { retry_after, .. } | AppError::OverBudget(retry_after) => {
                Some(retry_after)
            }
            _ => None,
        };
        if let Some(retry_after) = retry_after {
            // Whole seconds, rounded up, and at least one: a client must not retry at once.
            let secs = retry_after.as_millis().div_ceil(1000).max(1) as u64;
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let AppError::Passphrase { remaining, .. } = self {
            resp.headers_mut()
                .insert(ATTEMPTS_HEADER, HeaderValue::from(remaining));
        }
        resp
    }
}
