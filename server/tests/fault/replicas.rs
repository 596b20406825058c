//! Several replicas on one Redis: the one-time read is atomic across processes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;
use tokio::sync::Barrier;

use crate::harness;
use crate::helpers::{created, RedisServer};

const REPLICAS: usize = 3;
const READERS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reads_across_replicas_succeed_exactly_once() {
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    let redis = RedisServer::start();
    // Generous: 1000 simultaneous reads on a shared 2-core machine must not turn into 503s.
    let mut replicas = Vec::new();
    for _ in 0..REPLICAS {
        replicas.push(harness::start(&redis.dsn(), "10s", &[]).await);
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let data = STANDARD.encode("read me once, from any replica");
    let resp = client
        .post(replicas[0].url("/api/v1/secret"))
        .json(&json!({"data": data, "expires_in": 300}))
        .send()
        .await
        .unwrap();
    let id = created(resp).await.id;

    // Readers wait for each other so the reads overlap as much as the machine allows.
    let barrier = Arc::new(Barrier::new(READERS));
    let started = Instant::now();
    let tasks: Vec<_> = (0..READERS)
        .map(|i| {
            let url = replicas[i % REPLICAS].url(&format!("/api/v1/secret/{id}"));
            let (client, barrier) = (client.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let resp = client.get(url).send().await.expect("no transport error");
                let status = resp.status().as_u16();
                (i % REPLICAS, status, resp.text().await.unwrap())
            })
        })
        .collect();
    let mut ok = Vec::new();
    let mut gone = [0usize; REPLICAS];
    let mut other = Vec::new();
    for t in tasks {
        let (replica, status, body) = t.await.unwrap();
        match status {
            200 => ok.push((replica, body)),
            410 => gone[replica] += 1,
            _ => other.push((replica, status, body)),
        }
    }
    eprintln!(
        "{READERS} reads over {REPLICAS} replicas in {:?}: 200 from replica {:?}, 410 per replica {gone:?}",
        started.elapsed(),
        ok.iter().map(|(r, _)| r).collect::<Vec<_>>()
    );
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert_eq!(ok.len(), 1, "exactly one read succeeds");
    assert_eq!(ok[0].1, data, "the winner gets the secret byte for byte");
    assert_eq!(gone.iter().sum::<usize>(), READERS - 1);
    // Every replica took part, so the race really was between processes.
    for (r, n) in gone.iter().enumerate() {
        let winner = usize::from(ok[0].0 == r);
        assert_eq!(
            n + winner,
            READERS / REPLICAS + usize::from(r < READERS % REPLICAS)
        );
    }
}
