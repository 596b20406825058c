//! User tokens: stored, listed, replaced and deleted; their expiry; a one-time token's burn;
//! the admin token's hash.

use futures_util::future::join_all;
use hakanai_server::store::{TokenHash, TokenRecord};

use crate::fixture::{secs, Fixture};

both_stores!(
    tokens_are_stored_listed_replaced_and_deleted,
    a_token_ends_at_its_expiry,
    a_one_time_token_is_taken_exactly_once,
);

fn record(f: &Fixture, id: &str, expires_in: Option<u64>) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        upload_size_limit: 1000,
        one_time: false,
        created_at: f.now_secs(),
        expires_at: expires_in.map(|s| f.now_secs() + s),
        max_stored_bytes: None,
    }
}

async fn listed(f: &Fixture) -> Vec<TokenRecord> {
    let mut all = f.store.token_list().await.unwrap();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all
}

async fn tokens_are_stored_listed_replaced_and_deleted(f: Fixture) {
    let (h1, h2, h3): (TokenHash, TokenHash, TokenHash) = ([1; 32], [2; 32], [3; 32]);
    let r1 = record(&f, "a", None);
    let r2 = TokenRecord {
        max_stored_bytes: Some(5),
        ..record(&f, "b", Some(3600))
    };
    f.store.token_put(&h1, &r1).await.unwrap();
    f.store.token_put(&h2, &r2).await.unwrap();
    assert_eq!(f.store.token_get(&h1).await.unwrap(), Some(r1.clone()));
    assert_eq!(f.store.token_get(&h2).await.unwrap(), Some(r2.clone()));
    assert_eq!(f.store.token_get(&h3).await.unwrap(), None);
    assert_eq!(listed(&f).await, [r1.clone(), r2.clone()]);

    let r1 = TokenRecord {
        upload_size_limit: 7,
        ..r1
    };
    f.store.token_put(&h1, &r1).await.unwrap();
    assert_eq!(f.store.token_get(&h1).await.unwrap(), Some(r1.clone()));
    assert!(f.store.token_delete_by_id("b").await.unwrap());
    assert!(!f.store.token_delete_by_id("b").await.unwrap());
    assert_eq!(f.store.token_get(&h2).await.unwrap(), None);
    assert_eq!(listed(&f).await, [r1]);
    f.store.token_clear().await.unwrap();
    assert_eq!(listed(&f).await, []);
    assert_eq!(f.store.token_get(&h1).await.unwrap(), None);

    assert_eq!(f.store.admin_hash_get().await.unwrap(), None);
    f.store.admin_hash_set(&h1).await.unwrap();
    f.store.admin_hash_set(&h3).await.unwrap();
    assert_eq!(f.store.admin_hash_get().await.unwrap(), Some(h3));
}

async fn a_token_ends_at_its_expiry(f: Fixture) {
    let (h1, h2): (TokenHash, TokenHash) = ([1; 32], [2; 32]);
    let (r1, r2) = (record(&f, "a", Some(60)), record(&f, "b", None));
    f.store.token_put(&h1, &r1).await.unwrap();
    f.store.token_put(&h2, &r2).await.unwrap();
    f.advance(secs(59));
    assert_eq!(f.store.token_get(&h1).await.unwrap(), Some(r1.clone()));
    assert_eq!(listed(&f).await, [r1, r2.clone()]);
    f.advance(secs(1));
    assert_eq!(f.store.token_get(&h1).await.unwrap(), None);
    assert_eq!(listed(&f).await, std::slice::from_ref(&r2));
    assert!(!f.store.token_take(&h1).await.unwrap());
    assert_eq!(f.store.token_get(&h2).await.unwrap(), Some(r2));
}

async fn a_one_time_token_is_taken_exactly_once(f: Fixture) {
    let h: TokenHash = [9; 32];
    let r = TokenRecord {
        one_time: true,
        ..record(&f, "once", None)
    };
    f.store.token_put(&h, &r).await.unwrap();
    // Reading it does not spend it.
    assert_eq!(f.store.token_get(&h).await.unwrap(), Some(r.clone()));
    assert_eq!(f.store.token_get(&h).await.unwrap(), Some(r));
    let takes = join_all((0..8).map(|_| f.store.token_take(&h))).await;
    let won = takes.into_iter().map(Result::unwrap).filter(|t| *t).count();
    assert_eq!(won, 1);
    assert_eq!(f.store.token_get(&h).await.unwrap(), None);
    assert!(!f.store.token_take(&h).await.unwrap());
    assert!(!f.store.token_take(&[10; 32]).await.unwrap());
}
