//! Storage budgets (`--max-stored-bytes`, `--max-stored-bytes-per-token`,
//! `--max-stored-bytes-per-address`, a token's `max_stored_bytes`), on both stores.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{created, error_code, metric, metrics_text, spawn_app, Backend, TestApp};

both_stores!(
    a_full_store_answers_507_and_still_serves_reads,
    token_and_address_budgets_answer_429_with_retry_after,
    expiry_frees_the_budget,
    concurrent_creates_pass_exactly_the_budget,
    multi_request_uploads_reserve_at_open,
);

/// A JSON create of a payload of exactly `len` stored bytes (valid base64 text).
fn payload(len: usize) -> String {
    "A".repeat(len)
}

async fn create_with(
    app: &TestApp,
    token: Option<&str>,
    len: usize,
    ttl: u64,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/v1/secret"))
        .json(&json!({"data": payload(len), "expires_in": ttl}));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// `hakanai_requests_rejected_total{reason}` from `/metrics`.
async fn rejected(app: &TestApp, reason: &str) -> u64 {
    let text = metrics_text(app, app.addr).await;
    metric(
        &text,
        "hakanai_requests_rejected_total",
        &[("reason", reason)],
    ) as u64
}

/// A gauge without labels from `/metrics`.
async fn gauge(app: &TestApp, name: &str) -> u64 {
    metric(&metrics_text(app, app.addr).await, name, &[]) as u64
}

fn retry_after(resp: &reqwest::Response) -> u64 {
    resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The global budget: creates get 507 once it is used up, while reads, revocations, status and
/// health keep working; each read or revocation makes room again.
async fn a_full_store_answers_507_and_still_serves_reads(b: Backend) {
    let app = spawn_app(b, |c| {
        c.max_stored_bytes = Some(3000);
        c.max_stored_bytes_per_token = 0;
    })
    .await;
    let token = app.user_token().to_owned();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(created(create_with(&app, Some(&token), 1000, 300).await).await);
    }
    let resp = create_with(&app, Some(&token), 1000, 300).await;
    assert_eq!(resp.status(), 507);
    assert_eq!(error_code(resp).await, "insufficient_storage");
    // A raw upload is refused before its body is read, on its declared length.
    let resp = app
        .client
        .post(app.url("/api/v1/secret"))
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 507);
    // So is a multi-request upload.
    let resp = app
        .client
        .post(app.url("/api/v1/upload"))
        .bearer_auth(&token)
        .json(&json!({"size": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 507);
    assert_eq!(rejected(&app, "storage_full").await, 3);
    assert_eq!(gauge(&app, "hakanai_stored_bytes").await, 3000);
    assert_eq!(gauge(&app, "hakanai_stored_bytes_limit").await, 3000);

    // Everything else still works.
    for path in ["/healthy", "/ready"] {
        assert_eq!(
            app.client.get(app.url(path)).send().await.unwrap().status(),
            200
        );
    }
    let status = app
        .client
        .get(app.url(&format!("/api/v1/secret/{}/status", held[2].id)))
        .header("x-creator-token", &held[2].creator_token)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let read = app.get_secret(&held[0].id).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.text().await.unwrap(), payload(1000));
    // The read made room for exactly one more.
    created(create_with(&app, Some(&token), 1000, 300).await).await;
    assert_eq!(create_with(&app, Some(&token), 4, 300).await.status(), 507);
    let revoke = app
        .client
        .delete(app.secret_url(&held[1].id))
        .header("x-creator-token", &held[1].creator_token)
        .send()
        .await
        .unwrap();
    assert!(revoke.status().is_success(), "{}", revoke.status());
    created(create_with(&app, Some(&token), 1000, 300).await).await;
    assert_eq!(create_with(&app, Some(&token), 4, 300).await.status(), 507);
}

/// Each token, and each address without one, holds at most its budget; over it a create gets
/// 429 with Retry-After (when its earliest secret expires). A token's own budget beats the
/// default.
async fn token_and_address_budgets_answer_429_with_retry_after(b: Backend) {
    let app = spawn_app(b, |c| {
        c.allow_anonymous = true;
        c.max_stored_bytes = Some(0);
        c.max_stored_bytes_per_token = 2000;
        c.max_stored_bytes_per_address = 1500;
    })
    .await;
    let (token, _) = app.create_token(json!({})).await;
    created(create_with(&app, Some(&token), 1000, 120).await).await;
    created(create_with(&app, Some(&token), 1000, 300).await).await;
    let resp = create_with(&app, Some(&token), 4, 300).await;
    assert_eq!(resp.status(), 429);
    let retry = retry_after(&resp);
    assert!((115..=120).contains(&retry), "{retry}");
    assert_eq!(error_code(resp).await, "too_many_requests");

    // Another token has its own budget, and one given its own beats the default.
    let (big, id) = app.create_token(json!({"max_stored_bytes": "5k"})).await;
    for _ in 0..5 {
        created(create_with(&app, Some(&big), 1000, 300).await).await;
    }
    assert_eq!(create_with(&app, Some(&big), 1024, 300).await.status(), 429);
    let list: Vec<Value> = app
        .client
        .get(app.url("/api/v1/admin/tokens"))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = list.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(entry["max_stored_bytes"], 5120);
    let (unlimited, _) = app.create_token(json!({"max_stored_bytes": 0})).await;
    for _ in 0..3 {
        created(create_with(&app, Some(&unlimited), 1000, 300).await).await;
    }

    // Without a token: per address.
    created(create_with(&app, None, 1000, 300).await).await;
    let resp = create_with(&app, None, 1000, 300).await;
    assert_eq!(resp.status(), 429);
    assert!((1..=300).contains(&retry_after(&resp)));
    // A secret larger than the whole budget can never fit: 413, not a retry.
    let (small, _) = app.create_token(json!({"max_stored_bytes": 100})).await;
    assert_eq!(
        create_with(&app, Some(&small), 200, 300).await.status(),
        413
    );
    assert_eq!(rejected(&app, "identity_budget").await, 3);
}

/// An expired secret frees its bytes without being read (polling, no fixed sleep).
async fn expiry_frees_the_budget(b: Backend) {
    let app = spawn_app(b, |c| {
        c.max_stored_bytes = Some(1500);
        c.max_stored_bytes_per_token = 1000;
    })
    .await;
    let token = app.user_token().to_owned();
    created(create_with(&app, Some(&token), 1000, 1).await).await;
    let resp = create_with(&app, Some(&token), 1000, 300).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(retry_after(&resp), 1);
    let started = Instant::now();
    loop {
        let resp = create_with(&app, Some(&token), 1000, 300).await;
        if resp.status() == 200 {
            break;
        }
        assert_eq!(resp.status(), 429);
        assert!(started.elapsed() < Duration::from_secs(5), "never freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// N creates at once against a budget that fits exactly k: exactly k succeed, for the global
/// budget (507) and for a token's (429).
async fn concurrent_creates_pass_exactly_the_budget(b: Backend) {
    let app = spawn_app(b, |c| {
        c.max_stored_bytes = Some(5000);
        c.max_stored_bytes_per_token = 3000;
    })
    .await;
    let tokens: Vec<String> = join_all((0..4).map(|_| app.create_token(json!({}))))
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    // 4 tokens × 6 creates of 1000 bytes: the global budget fits 5.
    let statuses: Vec<u16> =
        join_all((0..24).map(|i| create_with(&app, Some(&tokens[i % 4]), 1000, 300)))
            .await
            .into_iter()
            .map(|r| r.status().as_u16())
            .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 507, 429].contains(s)),
        "{statuses:?}"
    );

    // One token alone, 12 at once, against its budget of 3000 (global room: none left, so a
    // fresh app).
    let app = spawn_app(b, |c| {
        c.max_stored_bytes = Some(0);
        c.max_stored_bytes_per_token = 3000;
    })
    .await;
    let token = app.user_token().to_owned();
    let statuses: Vec<u16> = join_all((0..12).map(|_| create_with(&app, Some(&token), 1000, 300)))
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        9,
        "{statuses:?}"
    );
}

/// A multi-request upload holds its declared size (or its limit) from the open, and the finish
/// settles it to what it stored.
async fn multi_request_uploads_reserve_at_open(b: Backend) {
    let app = spawn_app(b, |c| {
        c.max_stored_bytes = Some(0);
        c.max_stored_bytes_per_token = 10_000;
        c.upload_size_limit = 9_000;
    })
    .await;
    let token = app.user_token().to_owned();
    let open = |size: Option<u64>| {
        let body = match size {
            Some(n) => json!({"size": n}),
            None => json!({}),
        };
        let req = app
            .client
            .post(app.url("/api/v1/upload"))
            .bearer_auth(&token)
            .json(&body);
        async move { req.send().await.unwrap() }
    };
    let resp = open(Some(8000)).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let (id, creator) = (
        v["id"].as_str().unwrap().to_owned(),
        v["creator_token"].as_str().unwrap().to_owned(),
    );
    // 8000 held before a byte arrived.
    assert_eq!(
        create_with(&app, Some(&token), 4000, 300).await.status(),
        429
    );
    // Without a size, the limit (9000) is held: no room either.
    assert_eq!(open(None).await.status(), 429);
    let resp = app.upload_chunk(&id, &creator, 0, vec![1u8; 100]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.upload_finish(&id, &creator).await.status(), 200);
    // Settled to 100 bytes.
    created(create_with(&app, Some(&token), 4000, 300).await).await;
    created(create_with(&app, Some(&token), 5000, 300).await).await;
    assert_eq!(
        create_with(&app, Some(&token), 1000, 300).await.status(),
        429
    );
    // Reading the upload's secret frees its 100 bytes.
    assert_eq!(app.get_secret(&id).await.status(), 200);
    created(create_with(&app, Some(&token), 100, 300).await).await;
}

/// On Redis every budget key expires with its last reservation, and releasing the last one
/// removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_budget_keys_carry_a_ttl_and_go_with_the_last_secret() {
    let app = spawn_app(Backend::Redis, |c| {
        c.allow_anonymous = true;
        c.max_stored_bytes = Some(1 << 20);
    })
    .await;
    let (token, _) = app.create_token(json!({})).await;
    let a = created(create_with(&app, Some(&token), 1000, 300).await).await;
    let b = created(create_with(&app, None, 1000, 60).await).await;
    let client = ::redis::Client::open(app.redis.as_ref().unwrap().dsn()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let budget_keys = |mut con: ::redis::aio::MultiplexedConnection| async move {
        let keys: Vec<String> = ::redis::cmd("KEYS")
            .arg("hk:{budget}*")
            .query_async(&mut con)
            .await
            .unwrap();
        let mut out = Vec::new();
        for k in keys {
            let pttl: i64 = ::redis::cmd("PTTL")
                .arg(&k)
                .query_async(&mut con)
                .await
                .unwrap();
            out.push((k, pttl));
        }
        out
    };
    let keys = budget_keys(con.clone()).await;
    // all, sizes, total, and a set and a count per owner (token, address).
    assert_eq!(keys.len(), 7, "{keys:?}");
    for (k, pttl) in &keys {
        assert!(*pttl > 0 && *pttl <= 300_000, "{k}: {pttl}");
    }
    let total: u64 = ::redis::cmd("GET")
        .arg("hk:{budget}:total")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(total, 2000);
    assert_eq!(app.get_secret(&a.id).await.status(), 200);
    assert_eq!(app.get_secret(&b.id).await.status(), 200);
    assert_eq!(budget_keys(con).await, vec![]);
}

/// Without `--max-stored-bytes`, the global budget is half of Redis's `maxmemory`,
/// read at startup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_default_budget_is_derived_from_maxmemory() {
    let redis = crate::helpers::RedisServer::start();
    let client = ::redis::Client::open(redis.dsn()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    // Well above what Redis uses empty; the budget is half of it.
    let maxmemory: u64 = 16 << 20;
    let _: () = ::redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(maxmemory)
        .query_async(&mut con)
        .await
        .unwrap();
    let app = crate::helpers::spawn_with_redis(Some(redis), |c| {
        c.max_stored_bytes_per_token = 0;
    })
    .await;
    let token = app.user_token().to_owned();
    let budget = (maxmemory / 2) as usize;
    let mib = 1 << 20;
    for _ in 0..budget / mib {
        created(create_with(&app, Some(&token), mib, 300).await).await;
    }
    let resp = create_with(&app, Some(&token), mib, 300).await;
    assert_eq!(resp.status(), 507);
    assert_eq!(error_code(resp).await, "insufficient_storage");
}

/// A managed Redis that refuses `CONFIG` (here an ACL user without it): the server starts and
/// runs without a global budget, and `--max-stored-bytes` still gives it one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_refusing_config_runs_without_a_global_budget_unless_set() {
    let size = 6 << 20;
    for flag in [None, Some(2 * size as u64 + 100)] {
        let redis = crate::helpers::RedisServer::start();
        let client = ::redis::Client::open(redis.dsn()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        // Read, this would make a default budget of 16 MiB: the third create would not fit.
        let _: () = ::redis::cmd("CONFIG")
            .arg(&["SET", "maxmemory", "32mb"][..])
            .query_async(&mut con)
            .await
            .unwrap();
        let _: () = ::redis::cmd("ACL")
            .arg(
                &[
                    "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-config",
                ][..],
            )
            .query_async(&mut con)
            .await
            .unwrap();
        let dsn = format!("redis://app:pw@127.0.0.1:{}/0", redis.port);
        let app = crate::helpers::spawn_with_redis(Some(redis), |c| {
            c.redis_dsn = Some(dsn);
            c.max_stored_bytes = flag;
            c.max_stored_bytes_per_token = 0;
        })
        .await;
        let token = app.user_token().to_owned();
        for _ in 0..2 {
            created(create_with(&app, Some(&token), size, 300).await).await;
        }
        let third = create_with(&app, Some(&token), size, 300).await.status();
        assert_eq!(third, if flag.is_some() { 507 } else { 200 });
    }
}
