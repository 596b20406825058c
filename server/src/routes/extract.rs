//! What handlers read from a request for the domain layer: the bearer token, and who the
//! sender is ([`Requester`]).

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::client_ip::client_ip;
use crate::domain::callers::Requester;
use crate::error::AppError;
use crate::Settings;

/// The sender of a request, as the domain layer sees it: its bearer token (a malformed
/// `Authorization` header is refused here) and its address through `--trusted-proxies`.
pub fn requester<'a>(
    settings: &Settings,
    peer: IpAddr,
    headers: &'a HeaderMap,
) -> Result<Requester<'a>, AppError> {
    Ok(Requester {
        bearer: bearer(headers)?,
        address: client_ip(
            peer,
            headers,
            &settings.trusted_ip_header,
            &settings.trusted_proxies,
        ),
        peer,
    })
}

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
