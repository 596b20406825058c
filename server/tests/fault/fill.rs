//! Filling the store to its budget: the real binary on a Redis with the compose file's
//! `maxmemory` (256 MiB, noeviction) and default limits, so the global budget is the default
//! one (half of `maxmemory`); and the embedded store in process with the same budget. What
//! creates get once it is full, that reads are still served and make room, and the memory used.

use std::time::Instant;

use serde_json::json;

use crate::harness;
use crate::helpers::{spawn_app, Backend, RedisServer};

const MAXMEMORY: u64 = 256 << 20;
/// Stored bytes per secret: base64 text of 1 MiB (768 KiB decoded).
const SECRET: usize = 1 << 20;

/// Creates 16 at a time until a whole batch is refused; returns the statuses seen and the ids
/// stored.
async fn fill(
    client: &reqwest::Client,
    url: &str,
) -> (std::collections::BTreeMap<u16, usize>, Vec<String>) {
    let body = json!({"data": "A".repeat(SECRET), "expires_in": 600});
    let mut statuses = std::collections::BTreeMap::new();
    let mut ids = Vec::new();
    loop {
        let sends = (0..16).map(|_| client.post(url).json(&body).send());
        let mut refused = 0;
        for resp in futures_util::future::join_all(sends).await {
            let resp = resp.expect("no transport error");
            let status = resp.status().as_u16();
            *statuses.entry(status).or_default() += 1;
            if status == 200 {
                let v: serde_json::Value = resp.json().await.unwrap();
                ids.push(v["id"].as_str().unwrap().to_owned());
            } else {
                let v: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(v["error"], "insufficient_storage", "{status}: {v}");
                refused += 1;
            }
        }
        if refused == 16 {
            return (statuses, ids);
        }
    }
}

/// After the fill: 10 reads are served, and make room for exactly 10 more creates.
async fn reads_still_served(client: &reqwest::Client, base: &str, ids: &[String]) {
    let started = Instant::now();
    for id in &ids[..10] {
        let resp = client
            .get(format!("{base}/api/v1/secret/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.bytes().await.unwrap().len(), SECRET);
    }
    let reads = started.elapsed();
    let body = json!({"data": "A".repeat(SECRET), "expires_in": 600});
    let url = format!("{base}/api/v1/secret");
    for _ in 0..10 {
        assert_eq!(
            client.post(&url).json(&body).send().await.unwrap().status(),
            200
        );
    }
    assert_eq!(
        client.post(&url).json(&body).send().await.unwrap().status(),
        507
    );
    eprintln!(
        "  10 reads of 1 MiB in the full store: {:.0} ms; then 10 creates 200, the 11th 507",
        reads.as_secs_f64() * 1000.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filling_the_store_refuses_creates_with_507_and_keeps_serving_reads() {
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    let client = reqwest::Client::new();

    // Redis, as in docker-compose.yml; the server's global budget is its default.
    let redis = RedisServer::start();
    let rc = redis::Client::open(redis.dsn()).unwrap();
    let mut con = rc.get_multiplexed_async_connection().await.unwrap();
    for (k, v) in [
        ("maxmemory", MAXMEMORY.to_string()),
        ("maxmemory-policy", "noeviction".into()),
    ] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(k)
            .arg(v)
            .query_async(&mut con)
            .await
            .unwrap();
    }
    let server = harness::start(
        &redis.dsn(),
        "10s",
        &[
            "--anonymous-upload-size-limit",
            "1m",
            "--max-stored-bytes-per-address",
            "0",
        ],
    )
    .await;
    let started = Instant::now();
    let (statuses, ids) = fill(&client, &server.url("/api/v1/secret")).await;
    let took = started.elapsed();
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut con)
        .await
        .unwrap();
    let used = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap();
    let total: u64 = redis::cmd("GET")
        .arg("hk:{budget}:total")
        .query_async(&mut con)
        .await
        .unwrap();
    eprintln!(
        "Redis (maxmemory {} MiB, default budget {} MiB): {statuses:?} in {:.1} s; {} secrets \
         stored, budget holds {} MiB; Redis used_memory {:.1} MiB; server RSS {} MiB",
        MAXMEMORY >> 20,
        MAXMEMORY >> 21,
        took.as_secs_f64(),
        ids.len(),
        total >> 20,
        used as f64 / (1 << 20) as f64,
        server.rss_kib() >> 10,
    );
    // The budget, not Redis's own OOM, refused them: exactly budget / secret size stored.
    assert_eq!(ids.len() as u64, (MAXMEMORY / 2) / SECRET as u64);
    assert!(used < MAXMEMORY);
    reads_still_served(&client, &server.url(""), &ids).await;
    drop(server);

    // The embedded store, in this process, with the same budget.
    let rss_before = crate::helpers::rss_kib();
    let app = spawn_app(Backend::Memory, |c| {
        c.allow_anonymous = true;
        c.anonymous_upload_size_limit = Some(1 << 20);
        c.max_stored_bytes = Some(MAXMEMORY / 2);
        c.max_stored_bytes_per_address = 0;
    })
    .await;
    let started = Instant::now();
    let (statuses, ids) = fill(&client, &app.url("/api/v1/secret")).await;
    eprintln!(
        "embedded store (budget {} MiB): {statuses:?} in {:.1} s; {} secrets stored; test \
         process RSS +{} MiB",
        MAXMEMORY >> 21,
        started.elapsed().as_secs_f64(),
        ids.len(),
        crate::helpers::rss_kib().saturating_sub(rss_before) >> 10,
    );
    assert_eq!(ids.len() as u64, (MAXMEMORY / 2) / SECRET as u64);
    reads_still_served(&client, &app.url(""), &ids).await;
}
