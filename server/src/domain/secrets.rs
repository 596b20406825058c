//! A secret's life after it is stored: read once (read token, restrictions and passphrase
//! checked first, in that order), revoked by its creator, asked about by its creator; and what
//! each of these records (statistics, metrics, events).

use std::net::IpAddr;
use std::time::Duration;

use axum::http::HeaderMap;
use bytes::Bytes;
use futures_util::Stream;
use subtle::ConstantTimeEq;

use crate::error::AppError;
use crate::events::{Created, Event, Subject};
use crate::id::SecretId;
use crate::restrictions::{passphrase_opens, read_token_opens, Restrictions};
use crate::store::{
    now_ms, GoneReason, NewSecret, PayloadKind, Peek, PresentedLock, SecretMeta, TakeMode, Taken,
    Tombstone,
};
use crate::tokens;

use super::callers::{burn_one_time_token, Uploader};
use super::{budget, uploads, Services};

/// A secret uploaded whole (JSON): its payload as stored, parsed and validated except for the
/// TTL's bounds and whether the server can check its restrictions.
pub struct Whole {
    pub kind: PayloadKind,
    pub data: Bytes,
    pub ttl: Option<Duration>,
    pub restrictions: Restrictions,
}

/// A secret whose body is still arriving (a raw upload).
pub struct Streamed<B> {
    pub ttl: Option<Duration>,
    pub restrictions: Restrictions,
    /// The body's declared length, if any.
    pub declared: Option<u64>,
    pub body: B,
}

/// Stores a whole secret for `uploader`; returns its id and creator token.
pub async fn create_whole(
    s: &Services,
    uploader: &Uploader,
    upload: Whole,
    headers: &HeaderMap,
) -> Result<(SecretId, String), AppError> {
    upload.restrictions.ensure_checkable(&s.settings)?;
    let ttl = checked_ttl(s, upload.ttl)?;
    let (secret, creator_token) = new_secret(upload.kind, upload.restrictions, ttl);
    let id = secret.id;
    let size = upload.data.len() as u64;
    let restrictions = secret.restrictions.clone();
    let reservation = budget::reservation(s, &id, uploader, size, expiry_ms(ttl));
    let secret = NewSecret {
        data: upload.data,
        ..secret
    };
    if uploader.one_time.is_none() {
        // Reservation, secret and statistics entry in one store call: one round trip to a
        // Redis node.
        budget::check(s.store.create(secret, &reservation).await?, uploader)?;
    } else {
        // Reserved before the one-time token is spent, so a refusal spends nothing; stored
        // only once it is spent.
        let reserved = s.store.budget_reserve(&reservation).await?;
        budget::check(reserved, uploader)?;
        if let Err(e) = burn_one_time_token(s, uploader).await {
            budget::release(s, &id).await;
            return Err(e);
        }
        crate::store::put_reserved(&*s.store, secret).await?;
    }
    let details = Created {
        user_type: uploader.user_type,
        ttl,
        size,
        restrictions: &restrictions,
    };
    s.events.created(&id, &details, headers);
    Ok((id, creator_token))
}

/// Streams a secret into the store for `uploader`, answering 413 as soon as its limit is passed
/// (the partial upload is discarded); returns its id and creator token.
pub async fn create_streamed<B>(
    s: &Services,
    uploader: &Uploader,
    upload: Streamed<B>,
    headers: &HeaderMap,
) -> Result<(SecretId, String), AppError>
where
    B: Stream<Item = Result<Bytes, AppError>> + Unpin,
{
    upload.restrictions.ensure_checkable(&s.settings)?;
    let ttl = checked_ttl(s, upload.ttl)?;
    let limit = uploader.limit;
    let restrictions = upload.restrictions;
    let (secret, creator_token) = new_secret(PayloadKind::Raw, restrictions.clone(), ttl);
    let id = secret.id;
    // The body's length is not known until it ends: the declared length, else the upload
    // limit, is reserved first and settled to the real size once stored.
    let claim = upload.declared.unwrap_or(limit).min(limit);
    budget::reserve(s, &id, uploader, claim, expiry_ms(ttl)).await?;
    let session = uploads::session(s, uploader, ttl);
    // Spent before a byte of the body is stored: a one-time token never carries two bodies
    // into the store at once, and an upload that fails halfway has used its chance (as a
    // multi-request upload does when it opens).
    let stored = async {
        burn_one_time_token(s, uploader).await?;
        // A body declared over the limit has used its token too, as one that passes it halfway.
        if upload.declared.is_some_and(|n| n > limit) {
            return Err(AppError::PayloadTooLarge(limit));
        }
        uploads::stream(s, secret, session, upload.body).await
    }
    .await;
    let published = match stored {
        Ok(published) => published,
        Err(e) => {
            budget::release(s, &id).await;
            return Err(e);
        }
    };
    let size = published.size;
    let details = Created {
        user_type: uploader.user_type,
        ttl,
        size,
        restrictions: &restrictions,
    };
    // Settled even at the declared size: the secret's lifetime began when it was published,
    // after the body arrived, so the reservation must end with it, not before. Independent of
    // the statistics, so both go to the store at once.
    tokio::join!(
        budget::settle(s, &id, size, ttl),
        record_created(s, &id, &details, headers)
    );
    Ok((id, creator_token))
}

/// What a reader presents, read from the request by the HTTP layer.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    /// The client's address through `--trusted-proxies` (`None`: a trusted proxy sent garbage).
    pub address: Option<IpAddr>,
    /// The country code from `--country-header`, through `--trusted-proxies`.
    pub country: Option<&'a str>,
    /// The ASN from `--asn-header`, through `--trusted-proxies`.
    pub asn: Option<u32>,
    /// `X-Secret-Read-Token`, hashed once as a [`PresentedLock`].
    pub read_token: Option<PresentedLock>,
    /// `X-Secret-Passphrase`.
    pub passphrase: Option<&'a [u8]>,
    /// The request's headers, for the ones the webhook forwards.
    pub headers: &'a HeaderMap,
}

/// Reads a secret once: the read token first (so that without it nothing else is told or
/// counted), then the restrictions, then the passphrase; only then is it consumed.
pub async fn read(
    s: &Services,
    id: &SecretId,
    r: &Reader<'_>,
) -> Result<(PayloadKind, Bytes), AppError> {
    // With a read token, a secret whose read lock is all there is to check (every secret our
    // clients store) is handed out in this one step; anything else comes back to be checked.
    let first = match r.read_token {
        Some(presented) => TakeMode::ReadIfOpenedBy(presented),
        None => TakeMode::ReadIfUnrestricted,
    };
    let mut taken = s.store.take(id, first).await?;
    if let Taken::Restricted(meta) = taken {
        if !read_token_opens(
            meta.restrictions.read_lock.as_deref(),
            r.read_token.as_ref(),
        ) {
            return Err(not_found());
        }
        check_restrictions(s, r, &meta)?;
        check_passphrase(s, r, id, &meta).await?;
        taken = s.store.take(id, TakeMode::Read).await?;
    }
    match taken {
        Taken::Missing => Err(not_found()),
        Taken::Gone(t) if !read_token_opens(t.read_lock.as_deref(), r.read_token.as_ref()) => {
            Err(not_found())
        }
        Taken::Gone(t) => Err(gone(&t)),
        Taken::Restricted(_) => Err(AppError::Internal("restricted after check".into())),
        Taken::Data { kind, data, age } => {
            // The take gave the secret's bytes and statistics entry back with it.
            if let Some(age) = age {
                s.metrics.observe_lifetime(age);
            }
            s.events
                .record(Event::SecretRead, Subject::Secret(id), r.headers);
            Ok((kind, data))
        }
    }
}

/// Deletes a secret before anyone reads it.
pub async fn revoke(
    s: &Services,
    id: &SecretId,
    creator_token: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    match s.store.peek(id).await? {
        Peek::Missing => return Err(not_found()),
        Peek::Gone(t) => {
            creator_or_hidden(creator_token, &t.creator_hash, t.read_lock.is_some())?;
            return Err(gone(&t));
        }
        Peek::Live(meta) => creator_or_hidden(
            creator_token,
            &meta.creator_hash,
            meta.restrictions.read_lock.is_some(),
        )?,
    }
    match s.store.take(id, TakeMode::Revoke).await? {
        Taken::Data { .. } => {
            s.events
                .record(Event::SecretRevoked, Subject::Secret(id), headers);
            Ok(())
        }
        Taken::Gone(t) => Err(gone(&t)),
        Taken::Missing => Err(not_found()),
        Taken::Restricted(_) => Err(AppError::Internal("restricted on revoke".into())),
    }
}

/// Where a secret stands, as its creator may learn it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Waiting to be read; expires at this Unix ms.
    Pending { expires_at_ms: u64 },
    /// Read, revoked or destroyed at this Unix second.
    Gone { reason: GoneReason, at: u64 },
    /// Nothing is kept after expiry, so an expired secret and an unknown id look the same; so
    /// does a read-locked secret asked about with a wrong creator token.
    Expired,
}

pub async fn status(s: &Services, id: &SecretId, creator_token: &str) -> Result<Status, AppError> {
    let refused =
        |expected: &[u8], locked: bool| match creator_matches(Some(creator_token), expected) {
            Err(_) if locked => Some(Ok(Status::Expired)),
            Err(e) => Some(Err(e)),
            Ok(()) => None,
        };
    match s.store.peek(id).await? {
        Peek::Missing => Ok(Status::Expired),
        Peek::Live(meta) => refused(&meta.creator_hash, meta.restrictions.read_lock.is_some())
            .unwrap_or(Ok(Status::Pending {
                expires_at_ms: meta.expires_at_ms,
            })),
        Peek::Gone(t) => {
            refused(&t.creator_hash, t.read_lock.is_some()).unwrap_or(Ok(Status::Gone {
                reason: t.reason,
                at: t.at,
            }))
        }
    }
}

/// A secret was stored: the statistics behind Hakanai's gauges, metrics and the webhook. The
/// statistics never fail a request: the gauges are a best effort, corrected as secrets expire.
pub async fn record_created(
    s: &Services,
    id: &SecretId,
    created: &Created<'_>,
    headers: &HeaderMap,
) {
    if let Err(e) = s.store.stats_add(id, created.ttl).await {
        tracing::debug!(error = %e, "secret statistics not updated");
    }
    s.events.created(id, created, headers);
}

/// A secret was destroyed by too many wrong passphrases. (A read or revoke takes the secret,
/// and the take gives its bytes and statistics entry back itself.)
pub async fn record_destroyed(s: &Services, id: &SecretId, headers: &HeaderMap) {
    // The bytes it held are free again, whether or not the statistics knew it.
    let (_, removed) = tokio::join!(budget::release(s, id), s.store.stats_remove(id));
    if let Err(e) = removed {
        tracing::debug!(error = %e, "secret statistics not updated");
    }
    s.events
        .record(Event::SecretDestroyed, Subject::Secret(id), headers);
}

/// The TTL asked for, or the default, within `--max-ttl`.
#[tracing::instrument(skip_all)]
pub fn checked_ttl(s: &Services, ttl: Option<Duration>) -> Result<Duration, AppError> {
    let ttl = ttl.unwrap_or(s.settings.default_ttl);
    if ttl.is_zero() || ttl > s.settings.max_ttl {
        return Err(AppError::BadRequest(format!(
            "expires_in must be between 1 and {} seconds",
            s.settings.max_ttl.as_secs()
        )));
    }
    Ok(ttl)
}

/// Unix ms `ttl` from now.
pub fn expiry_ms(ttl: Duration) -> u64 {
    now_ms().saturating_add(ttl.as_millis() as u64)
}

/// A new secret (without its payload) and the creator token that lets its creator revoke it.
pub fn new_secret(
    kind: PayloadKind,
    restrictions: Restrictions,
    ttl: Duration,
) -> (NewSecret, String) {
    let creator_token = tokens::random_token();
    let secret = NewSecret {
        id: SecretId::random(),
        kind,
        creator_hash: tokens::creator_hash(&creator_token),
        restrictions,
        data: Bytes::new(),
        ttl,
    };
    (secret, creator_token)
}

fn not_found() -> AppError {
    AppError::NotFound("the secret does not exist or has expired")
}

fn gone(t: &Tombstone) -> AppError {
    AppError::Gone(match t.reason {
        GoneReason::Read => "the secret has already been read",
        GoneReason::Revoked => "the secret was deleted by its creator",
        GoneReason::Destroyed => "the secret was destroyed after too many wrong passphrases",
    })
}

#[tracing::instrument(skip_all)]
fn check_restrictions(s: &Services, r: &Reader<'_>, meta: &SecretMeta) -> Result<(), AppError> {
    let rules = &meta.restrictions;
    if !rules.allowed_ips.is_empty() {
        let ok = r
            .address
            .is_some_and(|ip| crate::client_ip::in_ranges(ip, &rules.allowed_ips));
        if !ok {
            return Err(AppError::Forbidden(
                "access from this IP address is not allowed",
            ));
        }
    }
    if !rules.allowed_countries.is_empty() {
        if s.settings.country_header.is_none() {
            return Err(AppError::NotImplemented(
                "country restrictions need --country-header on the server",
            ));
        }
        let ok = r.country.is_some_and(|c| {
            rules
                .allowed_countries
                .iter()
                .any(|a| a.eq_ignore_ascii_case(c))
        });
        if !ok {
            return Err(AppError::Forbidden(
                "access from this country is not allowed",
            ));
        }
    }
    if !rules.allowed_asns.is_empty() {
        if s.settings.asn_header.is_none() {
            return Err(AppError::NotImplemented(
                "ASN restrictions need --asn-header on the server",
            ));
        }
        if !r.asn.is_some_and(|a| rules.allowed_asns.contains(&a)) {
            return Err(AppError::Forbidden(
                "access from this network is not allowed",
            ));
        }
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
async fn check_passphrase(
    s: &Services,
    r: &Reader<'_>,
    id: &SecretId,
    meta: &SecretMeta,
) -> Result<(), AppError> {
    let Some(expected) = &meta.restrictions.passphrase_hash else {
        return Ok(());
    };
    let max = s.settings.max_passphrase_attempts;
    let Some(given) = r.passphrase else {
        // Asking without a passphrase is how a client learns that one is needed; it costs nothing.
        return Err(AppError::Passphrase {
            remaining: max,
            details: "this secret requires a passphrase",
        });
    };
    if passphrase_opens(expected, given) {
        return Ok(());
    }
    match s.store.fail_attempt(id, max).await? {
        // Another reader read or destroyed it since we looked.
        None => match s.store.peek(id).await? {
            Peek::Gone(t) => Err(gone(&t)),
            _ => Err(not_found()),
        },
        Some(n) if n >= max => {
            record_destroyed(s, id, r.headers).await;
            Err(AppError::Passphrase {
                remaining: 0,
                details: "wrong passphrase; the secret has been destroyed",
            })
        }
        Some(n) => Err(AppError::Passphrase {
            remaining: max - n,
            details: "wrong passphrase",
        }),
    }
}

/// [`creator_matches`], except that for a read-locked secret (`hidden`) any refusal is the answer
/// for an unknown id: a wrong or missing creator token must not tell that the id exists.
fn creator_or_hidden(token: Option<&str>, expected: &[u8], hidden: bool) -> Result<(), AppError> {
    match creator_matches(token, expected) {
        Err(_) if hidden => Err(not_found()),
        checked => checked,
    }
}

/// Whether `token` is the creator token of the secret whose creator hash is `expected`.
pub fn creator_matches(token: Option<&str>, expected: &[u8]) -> Result<(), AppError> {
    let Some(token) = token else {
        return Err(AppError::Unauthorized("X-Creator-Token is required"));
    };
    if bool::from(tokens::creator_hash(token).ct_eq(expected)) {
        return Ok(());
    }
    Err(AppError::Forbidden("wrong creator token"))
}
