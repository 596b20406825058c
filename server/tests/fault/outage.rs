//! A single node whose Redis is killed and restarted while clients keep creating and reading.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::harness;
use crate::helpers::RedisServer;

/// `--redis-timeout` of the node under test: the bound no request may exceed by much.
const REDIS_TIMEOUT: Duration = Duration::from_millis(1000);
/// Slack over the timeout for scheduling on a busy 2-core machine.
const SLACK: Duration = Duration::from_millis(1000);
const WORKERS: usize = 16;
const OUTAGE: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Create,
    Read,
    Healthy,
}

#[derive(Debug)]
struct Sample {
    op: Op,
    start: Instant,
    took: Duration,
    /// 0 when the request itself failed (transport error or client timeout).
    status: u16,
}

impl Sample {
    fn end(&self) -> Instant {
        self.start + self.took
    }
}

async fn timed(op: Op, req: reqwest::RequestBuilder) -> (Sample, Option<reqwest::Response>) {
    let start = Instant::now();
    let resp = req.send().await.ok();
    let sample = Sample {
        op,
        start,
        took: start.elapsed(),
        status: resp.as_ref().map_or(0, |r| r.status().as_u16()),
    };
    (sample, resp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_and_restarted_under_load() {
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    let mut redis = RedisServer::start();
    let redis_port = redis.port;
    let node = Arc::new(harness::start(&redis.dsn(), "1s", &[]).await);
    // The client's own timeout is far above the server's, so a hanging server shows up as a
    // long sample instead of being hidden by the client.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let data = STANDARD.encode([0x5a; 1024]);

    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let (client, node, stop, data) = (client.clone(), node.clone(), stop.clone(), data.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let req = client
                    .post(node.url("/api/v1/secret"))
                    .json(&json!({"data": data, "expires_in": 60}));
                let (sample, resp) = timed(Op::Create, req).await;
                let created = sample.status == 200;
                samples.push(sample);
                if !created {
                    // Do not spin on a dead store faster than real clients would retry.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                let v: Value = resp.unwrap().json().await.unwrap();
                let url = node.url(&format!("/api/v1/secret/{}", v["id"].as_str().unwrap()));
                let (sample, resp) = timed(Op::Read, client.get(url)).await;
                if sample.status == 200 {
                    assert_eq!(resp.unwrap().text().await.unwrap(), data);
                }
                samples.push(sample);
            }
            samples
        }));
    }
    {
        let (client, node, stop) = (client.clone(), node.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                samples.push(timed(Op::Healthy, client.get(node.url("/healthy"))).await.0);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            samples
        }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed = Instant::now();
    redis.stop();
    tokio::time::sleep(OUTAGE).await;
    let restarted = Instant::now();
    let redis = RedisServer::start_on(redis_port);
    let restart_took = restarted.elapsed();
    // Run on until creates succeed again (bounded), then a little longer to see them stay up.
    let deadline = restarted + Duration::from_secs(15);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.unwrap());
    }
    drop(redis);

    let before: Vec<&Sample> = samples.iter().filter(|s| s.end() < killed).collect();
    let during: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.start >= killed && s.start < restarted)
        .collect();
    let first_503 = samples
        .iter()
        .filter(|s| s.start >= killed && s.status == 503 && s.op != Op::Healthy)
        .map(|s| s.end() - killed)
        .min()
        .expect("the API answered 503 during the outage");
    let max_during = during.iter().map(|s| s.took).max().unwrap();
    let recovered = samples
        .iter()
        .filter(|s| s.start >= restarted && s.op == Op::Create && s.status == 200)
        .map(|s| s.end() - restarted)
        .min()
        .expect("creates succeed again after the restart");
    let healthy_again = samples
        .iter()
        .filter(|s| s.start >= restarted && s.op == Op::Healthy && s.status == 200)
        .map(|s| s.end() - restarted)
        .min()
        .expect("/healthy reports 200 again after the restart");
    let count = |set: &[&Sample], status: u16| set.iter().filter(|s| s.status == status).count();
    eprintln!(
        "outage: {} requests before the kill ({} ok); {} during the {OUTAGE:?} outage ({} \
         answered 503); first 503 {first_503:?} after the kill; max latency during the outage \
         {max_during:?}; redis-server restarted in {restart_took:?}; first successful create \
         {recovered:?} and /healthy 200 {healthy_again:?} after the restart",
        before.len(),
        count(&before, 200),
        during.len(),
        count(&during, 503),
    );

    assert!(!before.is_empty());
    assert!(
        before.iter().all(|s| s.status == 200),
        "before the kill everything succeeds: {:?}",
        before
            .iter()
            .filter(|s| s.status != 200)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(
        during.iter().all(|s| s.status == 503 || s.status == 200),
        "only 503 (or a request that finished before the kill took effect): {:?}",
        during
            .iter()
            .filter(|s| s.status != 503 && s.status != 200)
            .collect::<Vec<_>>()
    );
    assert!(
        during
            .iter()
            .any(|s| s.op == Op::Healthy && s.status == 503),
        "/healthy reports the outage"
    );
    assert!(
        first_503 < REDIS_TIMEOUT + SLACK,
        "first 503 after {first_503:?}"
    );
    assert!(
        max_during < REDIS_TIMEOUT + SLACK,
        "a request hung for {max_during:?} (--redis-timeout 1s)"
    );
    assert!(
        recovered < deadline - restarted,
        "recovered after {recovered:?}"
    );
    // After recovery nothing fails: the pool replaced its dead connections by itself.
    let after: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.start >= restarted + recovered + restart_took)
        .collect();
    assert!(
        !after.is_empty() && after.iter().all(|s| s.status == 200),
        "after recovery: {:?}",
        after.iter().filter(|s| s.status != 200).collect::<Vec<_>>()
    );
}
