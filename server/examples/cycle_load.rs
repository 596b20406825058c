//! Load generator for create+read cycles, which `oha` cannot chain: each worker uploads a raw
//! secret, reads it back once, and records the cycle latency.
//!
//! `cargo run --release --example cycle_load -- http://127.0.0.1:8080 [workers] [seconds] [bytes]`
//! (anonymous uploads must be allowed, or set HAKANAI_TOKEN). Several comma-separated base URLs
//! (replicas on one Redis) spread the workers, and each worker reads from the replica after
//! the one it created on, so every read crosses processes.

use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bases: Vec<String> = args
        .get(1)
        .map_or("http://127.0.0.1:8080", String::as_str)
        .split(',')
        .map(str::to_owned)
        .collect();
    let workers: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    let seconds: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    let size: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let token = std::env::var("HAKANAI_TOKEN").ok();

    let client = reqwest::Client::new();
    let payload = bytes::Bytes::from(vec![0x5a; size]);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks = (0..workers).map(|w| {
        let base = bases[w % bases.len()].clone();
        let read_base = bases[(w + 1) % bases.len()].clone();
        let (client, payload, token) = (client.clone(), payload.clone(), token.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut req = client
                    .post(format!("{base}/api/v1/secret"))
                    .header("content-type", "application/octet-stream")
                    .body(payload.clone());
                if let Some(tok) = &token {
                    req = req.bearer_auth(tok);
                }
                let ok = async {
                    let v: serde_json::Value = req.send().await.ok()?.json().await.ok()?;
                    let id = v["id"].as_str()?.to_owned();
                    let resp = client
                        .get(format!("{read_base}/api/v1/secret/{id}"))
                        .send()
                        .await
                        .ok()?;
                    (resp.status() == 200 && resp.bytes().await.ok()?.len() == payload.len())
                        .then_some(())
                }
                .await;
                match ok {
                    Some(()) => latencies.push(t.elapsed()),
                    None => errors += 1,
                }
            }
            (latencies, errors)
        })
    });
    let mut all = Vec::new();
    let mut errors = 0;
    for t in futures_util::future::join_all(tasks).await {
        let (l, e) = t.expect("worker");
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    println!(
        "{{\"cycles\": {}, \"errors\": {errors}, \"cycles_per_sec\": {:.0}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}}}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99)
    );
}
