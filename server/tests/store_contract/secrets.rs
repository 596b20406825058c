//! Secrets: one read, tombstones and their reasons, TTLs, passphrase attempts, statistics and
//! whole creates.

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use hakanai_server::id::SecretId;
use hakanai_server::restrictions::Restrictions;
use hakanai_server::store::{
    GoneReason, NewSecret, PayloadKind, Peek, PresentedLock, Reservation, Reserved, SecretCounts,
    SecretMeta, TakeMode, Taken, Tombstone,
};

use crate::fixture::{
    create, held, locked, locked_tombstone, owner, reservation, secret, secs, Fixture, CREATOR,
};

both_stores!(
    a_secret_is_read_once_then_leaves_a_read_tombstone,
    a_restricted_secret_waits_for_a_checked_read_and_its_tombstone_keeps_the_read_lock,
    a_secret_locked_only_by_its_read_token_is_read_in_one_step_by_that_token_alone,
    a_revoke_returns_no_data_and_leaves_a_revoked_tombstone,
    a_secret_and_its_tombstone_end_at_the_original_expiry,
    wrong_passphrases_are_counted_and_destroy_the_secret_at_the_limit,
    statistics_count_live_and_expired_secrets_and_give_the_age,
    a_create_reserves_stores_and_notes_the_secret_and_a_read_gives_both_back,
    a_refused_create_stores_nothing,
    concurrent_reads_and_wrong_passphrases_count_once_each,
);

/// The live secret's metadata.
pub async fn live(f: &Fixture, id: &SecretId) -> SecretMeta {
    match f.store.peek(id).await.unwrap() {
        Peek::Live(meta) => meta,
        other => panic!("expected a live secret, got {other:?}"),
    }
}

/// The tombstone `take` and `peek` both report.
async fn gone(f: &Fixture, id: &SecretId) -> Tombstone {
    let peeked = match f.store.peek(id).await.unwrap() {
        Peek::Gone(t) => t,
        other => panic!("expected a tombstone, got {other:?}"),
    };
    match f.store.take(id, TakeMode::Read).await.unwrap() {
        Taken::Gone(t) => assert_eq!(t, peeked),
        other => panic!("expected a tombstone, got {other:?}"),
    }
    peeked
}

/// The payload and age of a consuming take.
pub async fn data(
    f: &Fixture,
    id: &SecretId,
    mode: TakeMode,
) -> (PayloadKind, Vec<u8>, Option<Duration>) {
    match f.store.take(id, mode).await.unwrap() {
        Taken::Data { kind, data, age } => (kind, data.to_vec(), age),
        other => panic!("expected the data, got {other:?}"),
    }
}

pub async fn missing(f: &Fixture, id: &SecretId) {
    assert!(matches!(f.store.peek(id).await.unwrap(), Peek::Missing));
    assert!(matches!(
        f.store.take(id, TakeMode::Read).await.unwrap(),
        Taken::Missing
    ));
}

/// An expiry the store reports (Unix ms): Redis counts the TTL down on its own clock, so it may
/// be a little earlier than `expected`.
pub fn assert_expires_near(actual: u64, expected: u64) {
    assert!(
        actual <= expected && actual + 2_000 >= expected,
        "expires at {actual}, expected about {expected}"
    );
}

async fn a_secret_is_read_once_then_leaves_a_read_tombstone(f: Fixture) {
    let s = secret(b"aGVsbG8=", secs(300));
    let id = s.id;
    let expires = f.now_ms() + 300_000;
    f.store.put(s).await.unwrap();
    let meta = live(&f, &id).await;
    assert_eq!(meta.kind, PayloadKind::Base64Text);
    assert_eq!(meta.creator_hash, CREATOR);
    assert!(meta.restrictions.is_empty());
    assert_expires_near(meta.expires_at_ms, expires);

    f.advance(secs(10));
    let (kind, bytes, age) = data(&f, &id, TakeMode::ReadIfUnrestricted).await;
    assert_eq!(
        (kind, &bytes[..], age),
        (PayloadKind::Base64Text, &b"aGVsbG8="[..], None)
    );
    let read_at = f.now_secs();

    f.advance(secs(5));
    let t = gone(&f, &id).await;
    assert_eq!(
        t,
        Tombstone {
            reason: GoneReason::Read,
            at: read_at,
            creator_hash: CREATOR,
            read_lock: None,
        }
    );
    // Neither a revoke nor a wrong passphrase changes what happened to it.
    assert!(matches!(
        f.store.take(&id, TakeMode::Revoke).await.unwrap(),
        Taken::Gone(Tombstone {
            reason: GoneReason::Read,
            ..
        })
    ));
    assert_eq!(f.store.fail_attempt(&id, 3).await.unwrap(), None);
    missing(&f, &SecretId::random()).await;
}

async fn a_restricted_secret_waits_for_a_checked_read_and_its_tombstone_keeps_the_read_lock(
    f: Fixture,
) {
    let mut s = secret(b"raw bytes", secs(300));
    s.kind = PayloadKind::Raw;
    s.restrictions = locked();
    let expires = f.now_ms() + 300_000;
    let id = create(&f, s).await;
    match f
        .store
        .take(&id, TakeMode::ReadIfUnrestricted)
        .await
        .unwrap()
    {
        Taken::Restricted(meta) => {
            assert_eq!(meta.kind, PayloadKind::Raw);
            assert_eq!(meta.restrictions, locked());
            assert_expires_near(meta.expires_at_ms, expires);
        }
        other => panic!("expected the restrictions, got {other:?}"),
    }
    assert_eq!(live(&f, &id).await.restrictions, locked());
    // Nothing was consumed, so nothing was given back.
    assert_eq!(held(&f).await, (9, 1));
    let (kind, bytes, _) = data(&f, &id, TakeMode::Read).await;
    assert_eq!((kind, &bytes[..]), (PayloadKind::Raw, &b"raw bytes"[..]));
    assert_eq!(held(&f).await, (0, 0));
    let t = gone(&f, &id).await;
    assert_eq!(t.reason, GoneReason::Read);
    assert_eq!(t.read_lock, locked().read_lock);
}

async fn a_secret_locked_only_by_its_read_token_is_read_in_one_step_by_that_token_alone(
    f: Fixture,
) {
    let token = b"the reader's token";
    let lock = PresentedLock::of(token);
    let only_locked = Restrictions {
        read_lock: Some(lock.as_str().to_owned()),
        ..Restrictions::default()
    };
    let mut s = secret(b"bG9ja2Vk", secs(300));
    s.restrictions = only_locked.clone();
    let id = create(&f, s).await;
    // No token, or another one: nothing is consumed, the restrictions come back to be checked.
    for mode in [
        TakeMode::ReadIfUnrestricted,
        TakeMode::ReadIfOpenedBy(PresentedLock::of(b"another token")),
    ] {
        match f.store.take(&id, mode).await.unwrap() {
            Taken::Restricted(meta) => assert_eq!(meta.restrictions, only_locked),
            other => panic!("expected the restrictions, got {other:?}"),
        }
    }
    assert_eq!(held(&f).await, (8, 1));
    // The token's lock: handed out at once, with its reservation and statistics entry.
    let (_, bytes, _) = data(&f, &id, TakeMode::ReadIfOpenedBy(lock)).await;
    assert_eq!(&bytes[..], b"bG9ja2Vk");
    assert_eq!(held(&f).await, (0, 0));
    let t = gone(&f, &id).await;
    assert_eq!(
        (t.reason, &t.read_lock),
        (GoneReason::Read, &only_locked.read_lock)
    );

    // A lock and anything else to check (here a passphrase): the right token alone is not enough.
    let mut s = secret(b"dHdvIGxvY2tz", secs(300));
    s.restrictions = Restrictions {
        passphrase_hash: Some("ab".repeat(32)),
        ..only_locked.clone()
    };
    let id = create(&f, s).await;
    assert!(matches!(
        f.store
            .take(&id, TakeMode::ReadIfOpenedBy(lock))
            .await
            .unwrap(),
        Taken::Restricted(_)
    ));
    let (_, bytes, _) = data(&f, &id, TakeMode::Read).await;
    assert_eq!(&bytes[..], b"dHdvIGxvY2tz");
}

async fn a_revoke_returns_no_data_and_leaves_a_revoked_tombstone(f: Fixture) {
    let mut s = secret(b"c2VjcmV0", secs(300));
    s.restrictions = locked();
    let id = create(&f, s).await;
    f.advance(secs(1));
    let (_, bytes, age) = data(&f, &id, TakeMode::Revoke).await;
    assert_eq!((&bytes[..], age), (&b""[..], Some(secs(1))));
    assert_eq!(held(&f).await, (0, 0));
    let at = f.now_secs();
    f.advance(secs(1));
    assert_eq!(
        gone(&f, &id).await,
        locked_tombstone(GoneReason::Revoked, at)
    );
    assert!(matches!(
        f.store
            .take(&id, TakeMode::ReadIfUnrestricted)
            .await
            .unwrap(),
        Taken::Gone(Tombstone {
            reason: GoneReason::Revoked,
            ..
        })
    ));
}

async fn a_secret_and_its_tombstone_end_at_the_original_expiry(f: Fixture) {
    let expires = f.now_ms() + 60_000;
    let kept = create(&f, secret(b"a2VwdA==", secs(60))).await;
    let read = create(&f, secret(b"cmVhZA==", secs(60))).await;

    f.advance(secs(30));
    data(&f, &read, TakeMode::Read).await;
    f.advance(secs(29));
    // The expiry does not move as time passes, and the tombstone lasts no longer.
    assert_expires_near(live(&f, &kept).await.expires_at_ms, expires);
    assert_eq!(gone(&f, &read).await.reason, GoneReason::Read);
    assert_eq!(f.store.fail_attempt(&kept, 5).await.unwrap(), Some(1));

    f.advance(secs(1));
    missing(&f, &kept).await;
    missing(&f, &read).await;
    assert_eq!(f.store.fail_attempt(&kept, 5).await.unwrap(), None);
    // The unread one's reservation ended with it; the statistics, which count in whole
    // seconds, call it expired once its last second has passed.
    assert_eq!(f.store.budget_used(None).await.unwrap(), (0, 0));
    assert_eq!(held(&f).await, (0, 1));
    f.advance(secs(1));
    assert_eq!(held(&f).await, (0, 0));
    assert_eq!(f.store.stats_counts().await.unwrap().expired, 1);
}

async fn wrong_passphrases_are_counted_and_destroy_the_secret_at_the_limit(f: Fixture) {
    let mut s = secret(b"cGFzcw==", secs(300));
    s.restrictions = locked();
    let id = create(&f, s).await;
    let other = secret(b"b3RoZXI=", secs(300));
    let other_id = other.id;
    f.store.put(other).await.unwrap();

    assert_eq!(f.store.fail_attempt(&id, 3).await.unwrap(), Some(1));
    assert_eq!(f.store.fail_attempt(&id, 3).await.unwrap(), Some(2));
    assert_eq!(live(&f, &id).await.restrictions, locked());
    f.advance(secs(10));
    // Counted per secret.
    assert_eq!(f.store.fail_attempt(&other_id, 3).await.unwrap(), Some(1));
    assert_eq!(f.store.fail_attempt(&id, 3).await.unwrap(), Some(3));
    let at = f.now_secs();
    f.advance(secs(10));
    assert_eq!(
        gone(&f, &id).await,
        locked_tombstone(GoneReason::Destroyed, at)
    );
    // Destroying gives neither back: the caller does (`domain::secrets::record_destroyed`).
    assert_eq!(held(&f).await, (8, 1));
    f.store.budget_release(&id).await.unwrap();
    assert_eq!(f.store.stats_remove(&id).await.unwrap(), Some(secs(20)));
    assert_eq!(held(&f).await, (0, 0));
    assert_eq!(f.store.fail_attempt(&id, 3).await.unwrap(), None);
    assert_eq!(
        f.store.fail_attempt(&SecretId::random(), 3).await.unwrap(),
        None
    );
    live(&f, &other_id).await;
}

async fn statistics_count_live_and_expired_secrets_and_give_the_age(f: Fixture) {
    let (a, b) = (SecretId::random(), SecretId::random());
    f.store.stats_add(&a, secs(60)).await.unwrap();
    f.store.stats_add(&b, secs(300)).await.unwrap();
    let counts = |active, expired| SecretCounts { active, expired };
    assert_eq!(f.store.stats_counts().await.unwrap(), counts(2, 0));
    f.advance(secs(30));
    assert_eq!(f.store.stats_remove(&a).await.unwrap(), Some(secs(30)));
    assert_eq!(f.store.stats_remove(&a).await.unwrap(), None);
    assert_eq!(f.store.stats_counts().await.unwrap(), counts(1, 0));
    f.advance(secs(300));
    assert_eq!(f.store.stats_counts().await.unwrap(), counts(0, 1));
    assert_eq!(f.store.stats_remove(&b).await.unwrap(), None);
}

async fn a_create_reserves_stores_and_notes_the_secret_and_a_read_gives_both_back(f: Fixture) {
    let id = create(&f, secret(b"0123456789", secs(120))).await;
    assert_eq!(held(&f).await, (10, 1));
    assert_eq!(f.store.budget_used(None).await.unwrap().0, 10);
    f.advance(secs(20));
    let (_, bytes, age) = data(&f, &id, TakeMode::ReadIfUnrestricted).await;
    assert_eq!((&bytes[..], age), (&b"0123456789"[..], Some(secs(20))));
    assert_eq!(held(&f).await, (0, 0));
    assert_eq!(f.store.stats_counts().await.unwrap().expired, 0);

    // A large secret (Redis stores it in steps rather than in one round trip) alike.
    let large = Bytes::from(vec![b'x'; 300 * 1024]);
    let s = NewSecret {
        data: large.clone(),
        ..secret(b"", secs(120))
    };
    let r = Reservation {
        bytes: large.len() as u64,
        global_limit: None,
        owner_limit: None,
        ..reservation(&f, s.id, &owner(1), 0, secs(120))
    };
    let id = s.id;
    assert_eq!(f.store.create(s, &r).await.unwrap(), Reserved::Reserved);
    assert_eq!(
        f.store.budget_used(None).await.unwrap().0,
        large.len() as u64
    );
    f.advance(secs(20));
    let (_, bytes, age) = data(&f, &id, TakeMode::ReadIfUnrestricted).await;
    assert_eq!((bytes == large, age), (true, Some(secs(20))));
    assert_eq!(f.store.budget_used(None).await.unwrap(), (0, 0));
}

async fn a_refused_create_stores_nothing(f: Fixture) {
    let s = secret(b"0123456789", secs(120));
    let (id, owner) = (s.id, owner(1));
    let full = Reservation {
        global_limit: Some(5),
        owner_limit: None,
        ..reservation(&f, id, &owner, 10, secs(120))
    };
    assert_eq!(
        f.store.create(s.clone(), &full).await.unwrap(),
        Reserved::StoreFull
    );
    let over = Reservation {
        global_limit: None,
        owner_limit: Some(5),
        ..reservation(&f, id, &owner, 10, secs(120))
    };
    assert_eq!(
        f.store.create(s, &over).await.unwrap(),
        Reserved::OwnerFull { retry_after: None }
    );
    missing(&f, &id).await;
    assert_eq!(f.store.budget_used(None).await.unwrap(), (0, 0));
    assert_eq!(
        f.store.stats_counts().await.unwrap(),
        SecretCounts::default()
    );
}

async fn concurrent_reads_and_wrong_passphrases_count_once_each(f: Fixture) {
    // Of eight readers at once, one gets the secret and seven its tombstone.
    let id = create(&f, secret(b"b25jZQ==", secs(300))).await;
    let mode = TakeMode::ReadIfUnrestricted;
    let taken = join_all((0..8).map(|_| f.store.take(&id, mode))).await;
    let taken: Vec<Taken> = taken.into_iter().map(Result::unwrap).collect();
    let read = taken.iter().filter(|t| matches!(t, Taken::Data { .. }));
    let tombstones = taken.iter().filter(|t| {
        matches!(
            t,
            Taken::Gone(Tombstone {
                reason: GoneReason::Read,
                ..
            })
        )
    });
    assert_eq!((read.count(), tombstones.count()), (1, 7));
    assert_eq!(held(&f).await, (0, 0));

    // Eight wrong passphrases at once, three allowed: counted once each up to the third.
    let mut s = secret(b"b25jZQ==", secs(300));
    s.restrictions = locked();
    let id = create(&f, s).await;
    let failed = join_all((0..8).map(|_| f.store.fail_attempt(&id, 3))).await;
    let mut counts: Vec<Option<u32>> = failed.into_iter().map(Result::unwrap).collect();
    counts.sort();
    assert_eq!(
        counts,
        [None, None, None, None, None, Some(1), Some(2), Some(3)]
    );
    assert_eq!(gone(&f, &id).await.reason, GoneReason::Destroyed);
}
