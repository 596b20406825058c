//! Behaviour that only exists with Redis: outages, persistence across restarts, key layout.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{earlier_forms, spawn_app, spawn_with_redis, Backend, RedisServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_answers_503_fast_and_recovers() {
    let mut app = spawn_app(Backend::Redis, |c| c.allow_anonymous = true).await;
    let s = app.create(&STANDARD.encode("before"), json!(null)).await;
    let port = app.redis.as_ref().unwrap().port;
    app.redis.as_mut().unwrap().stop();

    let timed = |fut: reqwest::RequestBuilder| async move {
        let started = Instant::now();
        let status = fut.send().await.unwrap().status().as_u16();
        eprintln!("{status} in {:?}", started.elapsed());
        (status, started.elapsed())
    };
    for _ in 0..2 {
        let (status, took) = timed(app.client.get(app.url("/healthy"))).await;
        assert_eq!(status, 503);
        assert!(took < Duration::from_secs(2), "healthy took {took:?}");
        let (status, took) = timed(
            app.client
                .post(app.url("/api/v1/secret"))
                .json(&json!({"data": STANDARD.encode("x")})),
        )
        .await;
        assert_eq!(status, 503);
        assert!(took < Duration::from_secs(2), "create took {took:?}");
        let (status, took) = timed(app.client.get(app.secret_url(&s.id))).await;
        assert_eq!(status, 503);
        assert!(took < Duration::from_secs(2), "read took {took:?}");
    }
    let resp = app.client.get(app.url("/healthy")).send().await.unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "service_unavailable");
    assert!(
        !body["details"].as_str().unwrap().contains("refused"),
        "no internals leak"
    );

    app.redis = Some(RedisServer::start_on(port));
    let restarted = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = app
            .client
            .get(app.url("/healthy"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            eprintln!("recovered {:?} after Redis came back", restarted.elapsed());
            break;
        }
        eprintln!("{status} {:?}", restarted.elapsed());
        assert!(Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = app.create(&STANDARD.encode("after"), json!(null)).await;
    let resp = app.get_secret(&s.id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), STANDARD.encode("after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_survive_restart_and_reset_replaces_them() {
    let redis = RedisServer::start();
    let dsn = redis.dsn();
    let first = spawn_with_redis(Some(redis), |_| {}).await;
    let user = first.user_token().to_owned();
    let admin = first.admin_token().to_owned();

    // A second replica on the same Redis creates nothing new and accepts the same tokens.
    let second = spawn_with_redis(None, |c| c.redis_dsn = Some(dsn.clone())).await;
    assert!(second.user_token.is_none() && second.admin_token.is_none());
    let post = |app: &crate::helpers::TestApp, token: &str| {
        app.client
            .post(app.url("/api/v1/secret"))
            .bearer_auth(token)
            .json(&json!({"data": STANDARD.encode("x")}))
            .send()
    };
    assert_eq!(post(&second, &user).await.unwrap().status(), 200);

    let mut config = crate::helpers::base_config();
    config.redis_dsn = Some(dsn.clone());
    config.reset_user_tokens = true;
    config.reset_admin_token = true;
    let new = hakanai_server::reset_tokens(&config, &hakanai_server::TokenDestination::Returned)
        .await
        .unwrap();
    let new_user = new.user.unwrap();
    let new_admin = new.admin.unwrap();
    assert_eq!(post(&second, &user).await.unwrap().status(), 403);
    assert_eq!(post(&second, &new_user).await.unwrap().status(), 200);
    let admin_get = |token: &str| {
        second
            .client
            .get(second.url("/api/v1/admin/tokens"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(admin_get(&admin).await.unwrap().status(), 403);
    assert_eq!(admin_get(&new_admin).await.unwrap().status(), 200);

    let mut memory = crate::helpers::base_config();
    memory.reset_user_tokens = true;
    assert!(
        hakanai_server::reset_tokens(&memory, &hakanai_server::TokenDestination::Returned)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_of_a_secret_expires_and_shares_a_slot() {
    let app = spawn_app(Backend::Redis, |_| {}).await;
    let client = redis::Client::open(app.redis.as_ref().unwrap().dsn()).unwrap();
    let con = client.get_multiplexed_async_connection().await.unwrap();
    let pttl = |key: String| {
        let mut con = con.clone();
        async move {
            redis::cmd("PTTL")
                .arg(key)
                .query_async::<i64>(&mut con)
                .await
                .unwrap()
        }
    };

    let verifier = "pass";
    let hash = hex::encode(Sha256::digest(verifier.as_bytes()));
    let s = app
        .create(&STANDARD.encode("x"), json!({"passphrase_hash": hash}))
        .await;
    // Keys use the base64url form of the id, as before ids were shown as ULIDs.
    let data_key = format!("hk:{{{}}}", earlier_forms(&s.id).0);
    assert!(pttl(data_key.clone()).await > 290_000);
    let resp = app
        .client
        .get(app.secret_url(&s.id))
        .header("x-secret-passphrase", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let attempts = pttl(format!("{data_key}:a")).await;
    assert!(attempts > 0 && attempts <= 300_000, "{attempts}");

    let resp = app
        .client
        .get(app.secret_url(&s.id))
        .header("x-secret-passphrase", verifier)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(pttl(data_key.clone()).await, -2, "data removed on read");
    assert_eq!(
        pttl(format!("{data_key}:a")).await,
        -2,
        "attempts removed on read"
    );
    let tomb = pttl(format!("{data_key}:t")).await;
    assert!(
        tomb > 0 && tomb <= 300_000,
        "tombstone expires with the secret: {tomb}"
    );

    // Nothing without an expiry except the token hash and the admin key.
    // KEYS is fine in a test against a private instance; the server never uses it.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut con.clone())
        .await
        .unwrap();
    for k in keys {
        if k == "hk:tokens" || k == "hk:admin" {
            continue;
        }
        assert!(pttl(k.clone()).await > 0, "{k} has no expiry");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_uploads_publish_atomically_and_clean_up() {
    let app = spawn_app(Backend::Redis, |c| c.upload_size_limit = 1024 * 1024).await;
    let client = redis::Client::open(app.redis.as_ref().unwrap().dsn()).unwrap();
    let con = client.get_multiplexed_async_connection().await.unwrap();
    let post = |n: usize| {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            (0..n / 10_000).map(|_| Ok(vec![9u8; 10_000])).collect();
        app.client
            .post(app.url("/api/v1/secret"))
            .bearer_auth(app.user_token())
            .header("content-type", "application/octet-stream")
            .header("x-secret-ttl", "90")
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send()
    };
    let resp = post(900_000).await.unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("hk:{{{}}}", earlier_forms(&id).0))
        .query_async(&mut con.clone())
        .await
        .unwrap();
    assert!(
        ttl > 80_000 && ttl <= 90_000,
        "the real TTL, not the upload's: {ttl}"
    );

    if let Ok(resp) = post(2_000_000).await {
        assert_eq!(resp.status(), 413);
    }
    // The abandoned partial upload is deleted in the background.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("hk:*:p")
            .query_async(&mut con.clone())
            .await
            .unwrap();
        if keys.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {keys:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.get_secret(&id).await.bytes().await.unwrap().len(),
        900_000
    );
}

/// What Redis keeps for a passphrase is a lock, not the value that opens the secret: read out of
/// the store and sent as the header, it is just a wrong passphrase (both kinds of client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_passphrase_locks_do_not_open_secrets() {
    let app = spawn_app(Backend::Redis, |_| {}).await;
    let client = redis::Client::open(app.redis.as_ref().unwrap().dsn()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let hakanai_sent = hex::encode(Sha256::digest(b"correct horse"));
    let ours_sent = hex::encode(Sha256::digest(b"verifier-hex"));
    for (sent, proof) in [
        (&hakanai_sent, hakanai_sent.as_str()),
        (&ours_sent, "verifier-hex"),
    ] {
        let s = app
            .create(&STANDARD.encode("locked"), json!({"passphrase_hash": sent}))
            .await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("hk:{*")
            .query_async(&mut con)
            .await
            .unwrap();
        let mut locks = Vec::new();
        for key in keys {
            let Ok(value) = redis::cmd("GET")
                .arg(&key)
                .query_async::<Vec<u8>>(&mut con)
                .await
            else {
                continue;
            };
            let text = String::from_utf8_lossy(&value);
            assert!(
                !text.contains(sent.as_str()),
                "the uploaded value is stored as sent"
            );
            if let Some(at) = text.find("\"p\":\"") {
                locks.push(text[at + 5..at + 5 + 64].to_string());
            }
        }
        assert!(!locks.is_empty(), "no passphrase lock found in Redis");
        for lock in &locks {
            let resp = app
                .client
                .get(app.secret_url(&s.id))
                .header("x-secret-passphrase", lock)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 401, "a stored lock opened the secret");
        }
        let resp = app
            .client
            .get(app.secret_url(&s.id))
            .header("x-secret-passphrase", proof)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}

/// The streamed (single-request) upload renews its upload record (`:p`, as a multi-request
/// upload's) while it streams, and never recreates one that vanished (which would have no header
/// and no expiry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_upload_keeps_its_key_alive_and_never_leaves_one_without_expiry() {
    let app = spawn_app(Backend::Redis, |c| c.upload_size_limit = 8 * 1024 * 1024).await;
    let client = redis::Client::open(app.redis.as_ref().unwrap().dsn()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let pieces = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|piece| (piece, rx))
    });
    let body = reqwest::Body::wrap_stream(pieces);
    let request = app
        .client
        .post(app.url("/api/v1/secret"))
        .bearer_auth(app.user_token())
        .header("content-type", "application/octet-stream")
        .body(body)
        .send();
    let response = tokio::spawn(request);
    let temp_key = || {
        let mut con = con.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg("hk:*:p")
                    .query_async(&mut con)
                    .await
                    .unwrap();
                if let Some(k) = keys.into_iter().next() {
                    return k;
                }
                assert!(Instant::now() < deadline, "no temporary key");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // Past one 256 KiB piece: the temporary key exists, expiring.
    tx.send(Ok(vec![1u8; 300 * 1024])).await.unwrap();
    let key = temp_key().await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(pttl > 0 && pttl <= 600_000, "{pttl}");
    // Each piece written renews the lifetime.
    let _: () = redis::cmd("PEXPIRE")
        .arg(&key)
        .arg(30_000)
        .query_async(&mut con)
        .await
        .unwrap();
    tx.send(Ok(vec![2u8; 300 * 1024])).await.unwrap();
    let renewed = Instant::now() + Duration::from_secs(5);
    loop {
        let pttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut con)
            .await
            .unwrap();
        if pttl > 60_000 {
            break;
        }
        assert!(Instant::now() < renewed, "not renewed: {pttl}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The key vanishes (as if it had expired): the next piece must not make a new one.
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    tx.send(Ok(vec![3u8; 300 * 1024])).await.unwrap();
    drop(tx);
    let resp = response.await.unwrap().unwrap();
    assert_eq!(resp.status(), 503);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut con)
        .await
        .unwrap();
    for k in keys {
        if k == "hk:tokens" || k == "hk:admin" {
            continue;
        }
        let pttl: i64 = redis::cmd("PTTL")
            .arg(&k)
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(pttl > 0, "{k} has no expiry");
    }
}

/// A multi-request upload's keys, and its owner's set of open uploads, never outlive the
/// upload's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_request_upload_keys_expire_by_the_deadline() {
    let app = spawn_app(Backend::Redis, |c| {
        c.upload_deadline = Duration::from_secs(5)
    })
    .await;
    let client = redis::Client::open(app.redis.as_ref().unwrap().dsn()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let resp = app
        .client
        .post(app.url("/api/v1/upload"))
        .bearer_auth(app.user_token())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = resp.json().await.unwrap();
    let (id, creator) = (
        v["id"].as_str().unwrap(),
        v["creator_token"].as_str().unwrap(),
    );
    assert_eq!(
        app.upload_chunk(id, creator, 0, vec![1u8; 10])
            .await
            .status(),
        200
    );
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("hk:*")
        .query_async(&mut con)
        .await
        .unwrap();
    let mut checked = 0;
    for k in keys {
        if k == "hk:tokens" || k == "hk:admin" || k.starts_with("hk:{stats}") {
            continue;
        }
        let pttl: i64 = redis::cmd("PTTL")
            .arg(&k)
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(pttl > 0 && pttl <= 5_000, "{k}: {pttl}");
        checked += 1;
    }
    // The record, its session, and the owner's set; the upload's storage reservation (all,
    // sizes, total, and the owner's set and count), held until the deadline too.
    assert_eq!(checked, 8);
}

/// A geo-restricted secret stored while the headers were configured, read after a restart
/// without them (or on a replica set up differently): it stays unread, 501, never handed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geo_restriction_without_its_header_at_read_is_501_and_keeps_the_secret() {
    let redis = RedisServer::start();
    let dsn = redis.dsn();
    let geo = spawn_with_redis(Some(redis), |c| {
        c.country_header = Some("cf-ipcountry".into());
        c.asn_header = Some("x-asn-number".into());
    })
    .await;
    let by_country = geo
        .create(&STANDARD.encode("x"), json!({"allowed_countries": ["DE"]}))
        .await;
    let by_asn = geo
        .create(&STANDARD.encode("x"), json!({"allowed_asns": [64500]}))
        .await;
    let plain = spawn_with_redis(None, |c| c.redis_dsn = Some(dsn.clone())).await;
    for id in [&by_country.id, &by_asn.id] {
        let resp = plain.get_secret(id).await;
        assert_eq!(resp.status(), 501);
        assert_eq!(crate::helpers::error_code(resp).await, "not_implemented");
    }
    let resp = geo
        .client
        .get(geo.secret_url(&by_country.id))
        .header("cf-ipcountry", "DE")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the refused read did not burn it");
}
