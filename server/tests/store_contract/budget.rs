//! Storage budgets: reservations checked per owner and globally, replaced, settled, released
//! and ended by their expiry.

use hakanai_server::id::SecretId;
use hakanai_server::store::{Reservation, Reserved};

use crate::fixture::{owner, reservation, secs, Fixture};

both_stores!(
    budgets_are_checked_per_owner_and_globally_replaced_and_settled,
    a_reservation_ends_at_its_expiry_or_when_released,
);

async fn budgets_are_checked_per_owner_and_globally_replaced_and_settled(f: Fixture) {
    let (me, other) = (owner(1), owner(2));
    let (a, c, d) = (SecretId::random(), SecretId::random(), SecretId::random());
    let reserve = |r: Reservation| {
        let store = f.store.clone();
        async move { store.budget_reserve(&r).await.unwrap() }
    };
    assert_eq!(
        reserve(reservation(&f, a, &me, 500, secs(60))).await,
        Reserved::Reserved
    );
    // Over the owner's budget: its earliest reservation ends in 60 s.
    assert_eq!(
        reserve(reservation(&f, c, &me, 200, secs(120))).await,
        Reserved::OwnerFull {
            retry_after: Some(secs(60))
        }
    );
    // A reservation replaced does not count against itself.
    assert_eq!(
        reserve(reservation(&f, a, &me, 600, secs(60))).await,
        Reserved::Reserved
    );
    assert_eq!(
        reserve(reservation(&f, c, &other, 400, secs(120))).await,
        Reserved::Reserved
    );
    assert_eq!(
        reserve(reservation(&f, d, &other, 1, secs(120))).await,
        Reserved::StoreFull
    );
    assert_eq!(f.store.budget_used(Some(&me)).await.unwrap(), (1000, 600));
    // Settling keeps the owner and is never refused.
    let settle = Reservation {
        owner: None,
        settle: true,
        global_limit: Some(0),
        ..reservation(&f, a, &me, 100, secs(90))
    };
    assert_eq!(reserve(settle).await, Reserved::Reserved);
    assert_eq!(f.store.budget_used(Some(&me)).await.unwrap(), (500, 100));
    // Alone over the owner's budget: no wait helps.
    assert_eq!(
        reserve(reservation(&f, d, &me, 700, secs(120))).await,
        Reserved::OwnerFull { retry_after: None }
    );
    f.store.budget_release(&c).await.unwrap();
    assert_eq!(f.store.budget_used(Some(&other)).await.unwrap(), (100, 0));
    // An owner without a budget of its own counts in the global budget only.
    let unowned = Reservation {
        owner_limit: None,
        ..reservation(&f, d, &other, 700, secs(120))
    };
    assert_eq!(reserve(unowned).await, Reserved::Reserved);
    assert_eq!(f.store.budget_used(Some(&other)).await.unwrap(), (800, 0));
}

async fn a_reservation_ends_at_its_expiry_or_when_released(f: Fixture) {
    let me = owner(1);
    let (a, b, c) = (SecretId::random(), SecretId::random(), SecretId::random());
    for (id, ttl) in [(a, secs(60)), (b, secs(120))] {
        let r = reservation(&f, id, &me, 300, ttl);
        assert_eq!(
            f.store.budget_reserve(&r).await.unwrap(),
            Reserved::Reserved
        );
    }
    let r = reservation(&f, c, &me, 300, secs(60));
    assert_eq!(
        f.store.budget_reserve(&r).await.unwrap(),
        Reserved::OwnerFull {
            retry_after: Some(secs(60))
        }
    );
    f.advance(secs(59));
    assert_eq!(f.store.budget_used(Some(&me)).await.unwrap(), (600, 600));
    f.advance(secs(1));
    assert_eq!(f.store.budget_used(Some(&me)).await.unwrap(), (300, 300));
    let r = reservation(&f, c, &me, 300, secs(60));
    assert_eq!(
        f.store.budget_reserve(&r).await.unwrap(),
        Reserved::Reserved
    );
    f.store.budget_release(&b).await.unwrap();
    f.store.budget_release(&b).await.unwrap();
    assert_eq!(f.store.budget_used(Some(&me)).await.unwrap(), (300, 300));
    f.advance(secs(60));
    assert_eq!(f.store.budget_used(Some(&me)).await.unwrap(), (0, 0));
    assert_eq!(f.store.budget_used(None).await.unwrap(), (0, 0));
}
