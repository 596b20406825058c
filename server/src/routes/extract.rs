//! What handlers read from a request for the domain layer: the bearer token, and who the
//! sender is ([`Requester`]).

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::client_ip::{client_ip, proxy_header};
use crate::domain::callers::Requester;
use crate::domain::secrets::Reader;
use crate::error::AppError;
use crate::headers;
use crate::restrictions::PresentedLock;
use crate::Settings;

/// A reader of a secret, as the domain layer sees it: its address and geo headers through
/// `--trusted-proxies`, its read token and passphrase verifier.
pub fn reader<'a>(settings: &Settings, peer: IpAddr, headers: &'a HeaderMap) -> Reader<'a> {
    let through_proxies = |h: &Option<axum::http::HeaderName>| {
        h.as_ref()
            .and_then(|h| proxy_header(peer, headers, h, &settings.trusted_proxies))
    };
    Reader {
        address: client_ip(
            peer,
            headers,
            &settings.trusted_ip_header,
            &settings.trusted_proxies,
        ),
        country: through_proxies(&settings.country_header),
        asn: through_proxies(&settings.asn_header)
            .and_then(|v| v.trim_start_matches("AS").parse::<u32>().ok()),
        read_token: headers
            .get(headers::READ_TOKEN)
            .map(|v| PresentedLock::of(v.as_bytes())),
        passphrase: headers.get(headers::PASSPHRASE).map(|v| v.as_bytes()),
        headers,
    }
}

/// A header's value as text, if it is one.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `X-Creator-Token`, if given.
pub fn creator_token(headers: &HeaderMap) -> Option<&str> {
    header_str(headers, headers::CREATOR_TOKEN)
}

/// The sender of a request, as the domain layer sees it: its bearer token (a malformed
/// `Authorization` header is refused here) and its address through `--trusted-proxies`.
pub fn requester<'a>(
    settings: &Settings,
    peer: IpAddr,
    headers: &'a HeaderMap,
) -> Result<Requester<'a>, AppError> {
    Ok(Requester {
        bearer: bearer(headers)?,
        ..sender(settings, peer, headers)
    })
}

/// The sender's address, without looking at its `Authorization` header.
pub fn sender<'a>(settings: &Settings, peer: IpAddr, headers: &HeaderMap) -> Requester<'a> {
    Requester {
        bearer: None,
        address: client_ip(
            peer,
            headers,
            &settings.trusted_ip_header,
            &settings.trusted_proxies,
        ),
        peer,
    }
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
