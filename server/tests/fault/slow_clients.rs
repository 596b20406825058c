//! Slow clients against the real binary with its default limits: 1,000 connections dribbling
//! request heads, and one dribbling a body, while an honest client creates and reads secrets.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness;
use crate::helpers::{created, RedisServer};

const SLOW: usize = 1000;

/// Opens a connection and sends a request head one byte per second, never finishing it;
/// returns how long after connecting the server closed it.
async fn slow_head(port: u16) -> Result<Duration, String> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let started = Instant::now();
    let (mut rd, mut wr) = stream.into_split();
    let dribble = tokio::spawn(async move {
        for b in b"POST /api/v1/secret HTTP/1.1\r\nHost: x\r\nX-Slow: "
            .iter()
            .cycle()
        {
            if wr.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    dribble.abort();
    closed.map_err(|_| "never closed".to_owned())?;
    Ok(started.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_connections_are_cut_and_honest_clients_keep_their_latency() {
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    let redis = RedisServer::start();
    let server = harness::start(&redis.dsn(), "10s", &[]).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // Baseline: honest latency with nothing else going on.
    // Create+read pairs, one after another, `n` of them or until `until`.
    let honest = |n: usize, until: Option<Instant>| {
        let client = client.clone();
        let (create_url, read_url) = (server.url("/api/v1/secret"), server.url("/api/v1/secret/"));
        async move {
            let mut times = Vec::new();
            for i in 0..n {
                if until.is_some_and(|t| Instant::now() >= t) {
                    break;
                }
                let started = Instant::now();
                let resp = client
                    .post(&create_url)
                    .json(
                        &json!({"data": STANDARD.encode(format!("honest {i}")), "expires_in": 300}),
                    )
                    .send()
                    .await
                    .unwrap();
                let id = created(resp).await.id;
                let resp = client.get(format!("{read_url}{id}")).send().await.unwrap();
                assert_eq!(resp.status(), 200);
                times.push(started.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            times.sort();
            times
        }
    };
    let baseline = honest(100, None).await;

    let rss_before = server.rss_kib();
    let opened = Instant::now();
    let slow: Vec<_> = (0..SLOW)
        .map(|_| tokio::spawn(slow_head(server.port)))
        .collect();
    // The server's memory while the slow connections are open (sampled, the highest kept).
    let mut rss_peak = rss_before;
    while opened.elapsed() < Duration::from_secs(3) {
        rss_peak = rss_peak.max(server.rss_kib());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Honest traffic for as long as the slow connections are held open (10 s by default; the
    // first 3 s, while memory was sampled, nothing else ran).
    let meanwhile = honest(usize::MAX, Some(opened + Duration::from_millis(9_500))).await;
    let mut cut_after = Vec::new();
    for t in slow {
        cut_after.push(
            t.await
                .unwrap()
                .expect("each slow connection is closed by the server"),
        );
    }
    cut_after.sort();
    let all_cut = opened.elapsed();

    // A body dribbled at 100 bytes/s, chunked so that no declared length gets it refused
    // before it is read.
    let stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = "POST /api/v1/secret HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
    wr.write_all(head.as_bytes()).await.unwrap();
    let body_started = Instant::now();
    let dribble = tokio::spawn(async move {
        while wr.write_all(b"a\r\n0123456789\r\n").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(60), rd.read(&mut buf))
            .await
            .expect("an answer to the dribbled body")
            .unwrap();
        assert!(n > 0, "closed without an answer");
        response.extend_from_slice(&buf[..n]);
    }
    let body_cut = body_started.elapsed();
    dribble.abort();

    let p = |v: &[Duration], q| percentile(v, q).as_secs_f64() * 1000.0;
    eprintln!(
        "honest create+read, idle: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} pairs)",
        p(&baseline, 0.5),
        p(&baseline, 0.99),
        p(&baseline, 1.0),
        baseline.len()
    );
    eprintln!(
        "honest create+read with {SLOW} slow-header connections open: p50 {:.1} ms, p99 {:.1} ms, \
         max {:.1} ms ({} pairs, all 200)",
        p(&meanwhile, 0.5),
        p(&meanwhile, 0.99),
        p(&meanwhile, 1.0),
        meanwhile.len()
    );
    eprintln!(
        "slow-header connections cut after: min {:.2} s, median {:.2} s, max {:.2} s; all \
         {SLOW} closed {:.2} s after the first was opened",
        cut_after[0].as_secs_f64(),
        percentile(&cut_after, 0.5).as_secs_f64(),
        cut_after[SLOW - 1].as_secs_f64(),
        all_cut.as_secs_f64()
    );
    eprintln!(
        "server memory: {} KiB before, {} KiB with the slow connections open ({:.1} KiB each)",
        rss_before,
        rss_peak,
        rss_peak.saturating_sub(rss_before) as f64 / SLOW as f64
    );
    eprintln!(
        "body dribbled at 100 B/s: {} after {:.2} s",
        String::from_utf8_lossy(&response)
            .lines()
            .next()
            .unwrap_or(""),
        body_cut.as_secs_f64()
    );

    // --header-read-timeout is 10 s: nobody is cut early, and nobody kept long after.
    assert!(
        cut_after[0] >= Duration::from_millis(9_900),
        "{:?}",
        cut_after[0]
    );
    assert!(
        cut_after[SLOW - 1] < Duration::from_secs(15),
        "{:?}",
        cut_after[SLOW - 1]
    );
    assert!(
        percentile(&meanwhile, 0.99) < Duration::from_secs(1),
        "honest p99 {:?}",
        percentile(&meanwhile, 0.99)
    );
    // --min-body-rate 1k after the 10 s grace period.
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 408"));
    assert!(
        body_cut >= Duration::from_millis(9_900) && body_cut < Duration::from_secs(15),
        "{body_cut:?}"
    );
}

/// One address tries to open 10,000 multi-request uploads: only
/// `--max-open-uploads-per-address` (10) open, every other attempt gets 429 with Retry-After,
/// and Redis holds next to nothing for the attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_uploads_from_one_address_open_only_the_cap() {
    const ATTEMPTS: usize = 10_000;
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    let redis = RedisServer::start();
    let server = harness::start(&redis.dsn(), "10s", &[]).await;
    let client = reqwest::Client::new();
    let used_memory = || {
        let dsn = redis.dsn();
        async move {
            let client = redis::Client::open(dsn).unwrap();
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            let info: String = redis::cmd("INFO")
                .arg("memory")
                .query_async(&mut con)
                .await
                .unwrap();
            info.lines()
                .find_map(|l| l.strip_prefix("used_memory:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap()
        }
    };
    let memory_before = used_memory().await;
    let started = Instant::now();
    let url = server.url("/api/v1/upload");
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut retry_after = std::collections::BTreeSet::new();
    // 16 at a time, as a client with a connection pool would.
    for batch in (0..ATTEMPTS).collect::<Vec<_>>().chunks(16) {
        let sends = batch
            .iter()
            .map(|_| client.post(&url).json(&json!({"expires_in": 300})).send());
        for resp in futures_util::future::join_all(sends).await {
            let resp = resp.expect("no transport error");
            if let Some(v) = resp.headers().get("retry-after") {
                retry_after.insert(v.to_str().unwrap().to_owned());
            }
            *statuses.entry(resp.status().as_u16()).or_default() += 1;
        }
    }
    let took = started.elapsed();
    let memory_after = used_memory().await;
    eprintln!(
        "{ATTEMPTS} upload opens from one address in {:.1} s: {statuses:?}; Retry-After values \
         {retry_after:?}; Redis used_memory {} KiB before, {} KiB after",
        took.as_secs_f64(),
        memory_before / 1024,
        memory_after / 1024
    );
    assert_eq!(statuses.get(&200), Some(&10));
    assert_eq!(statuses.get(&429), Some(&(ATTEMPTS - 10)));
    assert!(memory_after.saturating_sub(memory_before) < 1024 * 1024);
}

/// A client that declares a 1 GiB body and sends it at 1 KiB/s — exactly `--min-body-rate`, so
/// neither the idle timer nor the rate check ever fires — is cut with 408 at `--upload-deadline`
/// (20 s here, 1 h by default), and the 1 GiB it reserved in the storage budget is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gibibyte_dribbled_at_a_kibibyte_per_second_ends_at_the_deadline() {
    const DEADLINE: Duration = Duration::from_secs(20);
    let _alone = crate::ONE_AT_A_TIME.lock().await;
    let redis = RedisServer::start();
    let server = harness::start(
        &redis.dsn(),
        "10s",
        &[
            "--upload-deadline",
            "20s",
            "--upload-size-limit",
            "2g",
            "--anonymous-upload-size-limit",
            "2g",
            "--max-stored-bytes-per-address",
            "2g",
            "--max-stored-bytes",
            "4g",
        ],
    )
    .await;
    let stored_bytes = || {
        let url = server.url("/metrics");
        async move {
            let text = reqwest::get(url).await.unwrap().text().await.unwrap();
            crate::helpers::metric(&text, "hakanai_stored_bytes", &[])
        }
    };
    let rss_before = server.rss_kib();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    stream
        .write_all(
            format!(
                "POST /api/v1/secret HTTP/1.1\r\nHost: x\r\nContent-Type: \
                 application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                1u64 << 30
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let (mut rd, mut wr) = stream.into_split();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    // 128 bytes every 125 ms: 1,024 bytes a second, evenly.
    let writer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(125));
        loop {
            tick.tick().await;
            if wr.write_all(&[7u8; 128]).await.is_err() {
                return;
            }
            counter.fetch_add(128, std::sync::atomic::Ordering::Relaxed);
        }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    let reserved_meanwhile = stored_bytes().await;
    let rss_meanwhile = server.rss_kib();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(DEADLINE + Duration::from_secs(20), rd.read(&mut buf))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(n > 0, "closed without a response");
        got.extend_from_slice(&buf[..n]);
    }
    let cut = started.elapsed();
    writer.abort();
    let status = String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    let reserved_after = stored_bytes().await;
    eprintln!(
        "1 GiB declared, dribbled at 1 KiB/s: {status} after {:.2} s, {} bytes sent; budget \
         reserved {reserved_meanwhile} bytes meanwhile, {reserved_after} after; server RSS {} \
         KiB before, {} KiB meanwhile",
        cut.as_secs_f64(),
        sent.load(std::sync::atomic::Ordering::Relaxed),
        rss_before,
        rss_meanwhile
    );
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    assert!(
        cut >= DEADLINE - Duration::from_millis(100) && cut < DEADLINE + Duration::from_secs(5),
        "{cut:?}"
    );
    assert_eq!(reserved_meanwhile, (1u64 << 30) as f64);
    assert_eq!(reserved_after, 0.0);
}
