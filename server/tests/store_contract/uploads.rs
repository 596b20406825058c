//! Uploads: offsets, limits, creators, publishing, discarding, the cap on open uploads, and
//! their end when idle or at their deadline; and the single-request body's way through the same
//! operations (opened `UNCAPPED` with its first bytes, or whole).

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use hakanai_server::id::SecretId;
use hakanai_server::restrictions::Restrictions;
use hakanai_server::store::{
    Appended, Finished, NewSecret, Opened, PayloadKind, Published, TakeMode, Taken, UploadOwner,
    UploadSession, UploadState, UserType, CREATOR_HASH_LEN, UNCAPPED, UPLOAD_IDLE,
};

use crate::fixture::{locked, owner, secret, secs, Fixture, CREATOR};
use crate::secrets::{assert_expires_near, data, live, missing};

both_stores!(
    chunks_are_appended_at_their_offset_and_finish_publishes_them,
    another_creator_is_refused_and_unknown_uploads_are_missing,
    a_chunk_over_the_limit_discards_the_upload,
    a_discarded_upload_is_gone_and_gives_its_place_back,
    an_idle_upload_ends_and_each_chunk_keeps_it_open,
    an_upload_ends_at_its_deadline_however_active,
    a_published_upload_lives_for_its_ttl_from_finish,
    an_uncapped_upload_opens_with_its_first_bytes_and_takes_no_place,
    a_whole_upload_is_published_at_once_and_takes_no_place,
);

const ONE_SEC: Duration = Duration::from_secs(1);

/// An upload of at most `limit` bytes by `owner`, ending by `deadline` from now and published
/// for 300 s.
fn session(f: &Fixture, owner: &UploadOwner, limit: u64, deadline: Duration) -> UploadSession {
    UploadSession {
        ttl: secs(300),
        limit,
        user_type: UserType::Authenticated,
        deadline_ms: f.now_ms() + deadline.as_millis() as u64,
        owner: owner.clone(),
    }
}

/// A raw secret to upload, with `restrictions`.
fn upload(restrictions: Restrictions) -> NewSecret {
    NewSecret {
        kind: PayloadKind::Raw,
        restrictions,
        ..secret(b"", secs(300))
    }
}

/// Opens an upload (see [`session`]) if `owner` has fewer than `max_open` open.
async fn open(
    f: &Fixture,
    owner: &UploadOwner,
    limit: u64,
    deadline: Duration,
    max_open: u32,
) -> (SecretId, Opened) {
    let (s, session) = (
        upload(Restrictions::default()),
        session(f, owner, limit, deadline),
    );
    let id = s.id;
    (id, f.store.upload_open(s, session, max_open).await.unwrap())
}

/// Opens an upload for `owner` if it has none open.
async fn one_open(f: &Fixture, owner: &UploadOwner) -> Opened {
    open(f, owner, 10, secs(3600), 1).await.1
}

/// Opens the only upload `owner` may have open.
async fn only_open(f: &Fixture, owner: &UploadOwner, limit: u64, deadline: Duration) -> SecretId {
    let (id, o) = open(f, owner, limit, deadline, 1).await;
    assert_eq!(o, Opened::Opened);
    id
}

/// `owner` may open no other upload until its open one ends, in `retry_after`.
async fn assert_full(f: &Fixture, owner: &UploadOwner, retry_after: Duration) {
    assert_eq!(one_open(f, owner).await, Opened::TooMany { retry_after });
}

/// An open upload of at most 10 bytes with `restrictions`.
async fn opened(f: &Fixture, restrictions: Restrictions) -> SecretId {
    let s = upload(restrictions);
    let id = s.id;
    let session = session(f, &owner(1), 10, secs(3600));
    let o = f.store.upload_open(s, session, 8).await.unwrap();
    assert_eq!(o, Opened::Opened);
    id
}

async fn append(f: &Fixture, id: &SecretId, offset: u64, chunk: &'static [u8]) -> Appended {
    f.store
        .upload_append(id, &CREATOR, offset, Bytes::from_static(chunk))
        .await
        .unwrap()
}

fn open_at(offset: u64, limit: u64) -> UploadState {
    UploadState::Open { offset, limit }
}

async fn state(f: &Fixture, id: &SecretId) -> UploadState {
    f.store.upload_state(id, &CREATOR).await.unwrap()
}

async fn finish(f: &Fixture, id: &SecretId) -> Finished {
    f.store.upload_finish(id, &CREATOR).await.unwrap()
}

/// Nothing left of the upload.
async fn ended(f: &Fixture, id: &SecretId) {
    assert_eq!(state(f, id).await, UploadState::Missing);
    assert_eq!(append(f, id, 0, b"x").await, Appended::Missing);
    assert_eq!(finish(f, id).await, Finished::Missing);
}

async fn chunks_are_appended_at_their_offset_and_finish_publishes_them(f: Fixture) {
    let id = opened(&f, locked()).await;
    assert_eq!(state(&f, &id).await, open_at(0, 10));
    // Of chunks sent at once for one offset, one is stored.
    let sent = join_all((0..4).map(|_| append(&f, &id, 0, b"abc"))).await;
    let stored = sent.iter().filter(|a| **a == Appended::At(3)).count();
    let refused = sent.iter().filter(|a| **a == Appended::OffsetMismatch(3));
    assert_eq!((stored, refused.count()), (1, 3));
    // A chunk sent again, or meant for another offset, changes nothing.
    assert_eq!(
        append(&f, &id, 0, b"abc").await,
        Appended::OffsetMismatch(3)
    );
    assert_eq!(append(&f, &id, 5, b"x").await, Appended::OffsetMismatch(3));
    assert_eq!(append(&f, &id, 3, b"def").await, Appended::At(6));
    assert_eq!(state(&f, &id).await, open_at(6, 10));
    missing(&f, &id).await;

    let expires = f.now_ms() + 300_000;
    assert_eq!(
        finish(&f, &id).await,
        Finished::Published(Published {
            ttl: secs(300),
            size: 6,
            user_type: UserType::Authenticated,
        })
    );
    let meta = live(&f, &id).await;
    assert_eq!((meta.kind, meta.creator_hash), (PayloadKind::Raw, CREATOR));
    assert_eq!(meta.restrictions, locked());
    assert_expires_near(meta.expires_at_ms, expires);
    ended(&f, &id).await;
    let unchecked = f.store.take(&id, TakeMode::ReadIfUnrestricted).await;
    assert!(matches!(unchecked.unwrap(), Taken::Restricted(_)));
    let (kind, bytes, _) = data(&f, &id, TakeMode::Read).await;
    assert_eq!((kind, &bytes[..]), (PayloadKind::Raw, &b"abcdef"[..]));
}

async fn another_creator_is_refused_and_unknown_uploads_are_missing(f: Fixture) {
    let id = opened(&f, Restrictions::default()).await;
    let other = [8u8; CREATOR_HASH_LEN];
    let store = &f.store;
    assert_eq!(
        store.upload_state(&id, &other).await.unwrap(),
        UploadState::Forbidden
    );
    let chunk = Bytes::from_static(b"a");
    assert_eq!(
        store.upload_append(&id, &other, 0, chunk).await.unwrap(),
        Appended::Forbidden
    );
    assert_eq!(
        store.upload_finish(&id, &other).await.unwrap(),
        Finished::Forbidden
    );
    assert_eq!(state(&f, &id).await, open_at(0, 10));
    let unknown = SecretId::random();
    ended(&f, &unknown).await;
    store.upload_discard(&unknown).await.unwrap();
}

async fn a_chunk_over_the_limit_discards_the_upload(f: Fixture) {
    let me = owner(2);
    let id = only_open(&f, &me, 5, secs(3600)).await;
    assert_eq!(append(&f, &id, 0, b"abcde").await, Appended::At(5));
    assert_eq!(state(&f, &id).await, open_at(5, 5));
    assert_eq!(append(&f, &id, 5, b"f").await, Appended::TooLarge(5));
    ended(&f, &id).await;
    // ... and gives its place among the owner's open uploads back.
    let id = only_open(&f, &me, 5, secs(3600)).await;
    assert_eq!(append(&f, &id, 0, b"abcdef").await, Appended::TooLarge(5));
    ended(&f, &id).await;
}

async fn a_discarded_upload_is_gone_and_gives_its_place_back(f: Fixture) {
    let (me, other) = (owner(3), owner(4));
    let first = only_open(&f, &me, 10, secs(3600)).await;
    f.advance(secs(100));
    // Full: the first one ends when idle, UPLOAD_IDLE after it opened.
    assert_full(&f, &me, UPLOAD_IDLE - secs(100)).await;
    assert_eq!(one_open(&f, &other).await, Opened::Opened);
    f.store.upload_discard(&first).await.unwrap();
    ended(&f, &first).await;
    assert_eq!(one_open(&f, &me).await, Opened::Opened);
}

/// Opens the only upload `me` may have, ending by `deadline`; sends a chunk after `wait`; checks
/// that the upload, and its place among `me`'s open ones, end `left` after the chunk.
async fn ends_after_a_chunk(
    f: &Fixture,
    me: &UploadOwner,
    deadline: Duration,
    wait: Duration,
    left: Duration,
) {
    let id = only_open(f, me, 10, deadline).await;
    f.advance(wait);
    assert_eq!(append(f, &id, 0, b"ab").await, Appended::At(2));
    assert_full(f, me, left).await;
    f.advance(left - ONE_SEC);
    assert_eq!(state(f, &id).await, open_at(2, 10));
    f.advance(ONE_SEC);
    ended(f, &id).await;
    assert_eq!(one_open(f, me).await, Opened::Opened);
}

async fn an_idle_upload_ends_and_each_chunk_keeps_it_open(f: Fixture) {
    // Without the chunk it would end a second after the chunk came.
    let wait = UPLOAD_IDLE - ONE_SEC;
    ends_after_a_chunk(&f, &owner(5), secs(3600), wait, UPLOAD_IDLE).await;
}

async fn an_upload_ends_at_its_deadline_however_active(f: Fixture) {
    ends_after_a_chunk(&f, &owner(6), secs(90), secs(60), secs(30)).await;
}

async fn a_published_upload_lives_for_its_ttl_from_finish(f: Fixture) {
    let me = owner(7);
    let id = only_open(&f, &me, 10, secs(3600)).await;
    assert_eq!(append(&f, &id, 0, b"abc").await, Appended::At(3));
    f.advance(secs(500));
    assert!(matches!(finish(&f, &id).await, Finished::Published(_)));
    // It no longer counts among its owner's open uploads.
    assert_eq!(one_open(&f, &me).await, Opened::Opened);
    f.advance(secs(299));
    live(&f, &id).await;
    f.advance(ONE_SEC);
    missing(&f, &id).await;
}

async fn an_uncapped_upload_opens_with_its_first_bytes_and_takes_no_place(f: Fixture) {
    let me = owner(8);
    only_open(&f, &me, 10, secs(3600)).await;
    let s = NewSecret {
        data: Bytes::from_static(b"abc"),
        ..upload(Restrictions::default())
    };
    let id = s.id;
    let session = session(&f, &me, 10, secs(3600));
    let opened = f.store.upload_open(s, session, UNCAPPED).await.unwrap();
    assert_eq!(opened, Opened::Opened);
    assert_eq!(state(&f, &id).await, open_at(3, 10));
    assert_eq!(append(&f, &id, 3, b"de").await, Appended::At(5));
    assert!(matches!(finish(&f, &id).await, Finished::Published(p) if p.size == 5));
    let (_, bytes, _) = data(&f, &id, TakeMode::Read).await;
    assert_eq!(&bytes[..], b"abcde");
    // The capped upload still holds the owner's only place, and no more than that one.
    assert_full(&f, &me, UPLOAD_IDLE).await;
}

async fn a_whole_upload_is_published_at_once_and_takes_no_place(f: Fixture) {
    let me = owner(9);
    only_open(&f, &me, 10, secs(3600)).await;
    let s = NewSecret {
        data: Bytes::from_static(b"whole"),
        ..upload(locked())
    };
    let id = s.id;
    let expires = f.now_ms() + 300_000;
    let session = session(&f, &me, 10, secs(3600));
    assert_eq!(
        f.store.upload_whole(s, session).await.unwrap(),
        Finished::Published(Published {
            ttl: secs(300),
            size: 5,
            user_type: UserType::Authenticated,
        })
    );
    let meta = live(&f, &id).await;
    assert_eq!(meta.restrictions, locked());
    assert_expires_near(meta.expires_at_ms, expires);
    ended(&f, &id).await;
    assert_full(&f, &me, UPLOAD_IDLE).await;
    let (kind, bytes, _) = data(&f, &id, TakeMode::Read).await;
    assert_eq!((kind, &bytes[..]), (PayloadKind::Raw, &b"whole"[..]));
}
