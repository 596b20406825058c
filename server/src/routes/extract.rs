//! What handlers read from a request's headers, parsed once: the bearer token.

use axum::http::HeaderMap;

use crate::error::AppError;

/// `Authorization: Bearer <token>`; an error when the header exists but is not a bearer token.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, AppError> {
    let malformed = AppError::Unauthorized("expected Authorization: Bearer <token>");
    let Some(v) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let Ok(v) = v.to_str() else {
        return Err(malformed);
    };
    let Some((scheme, token)) = v.split_once(' ') else {
        return Err(malformed);
    };
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(malformed);
    }
    Ok(Some(token.trim()))
}
