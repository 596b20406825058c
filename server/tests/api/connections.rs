//! The server loop's limits: slow heads and bodies are cut, connections over the cap are
//! refused with 503, and refused uploads reach a client that is still sending as their status.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{metric, metrics_text, spawn_app, Backend, TestApp};

both_stores!(
    refused_uploads_reach_a_client_still_sending,
    honest_requests_pass_while_slow_connections_are_open,
);

/// Reads until the server closes the connection (or `limit` passes); returns what arrived and
/// when the close came.
async fn read_until_closed(
    stream: &mut (impl AsyncRead + Unpin),
    limit: Duration,
) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the server kept the connection open for {limit:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, started.elapsed()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads until a response head has arrived (while the client may still be sending), failing
/// if none comes within `limit`.
async fn read_head(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(limit, stream.read(&mut buf))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(n > 0, "closed without a response");
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// Status line and JSON body of a raw HTTP/1.1 response.
fn parse_response(raw: &[u8]) -> (String, String, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {text:?}"));
    let status = head.lines().next().unwrap_or_default().to_owned();
    (
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

async fn cut_count(app: &TestApp, addr: SocketAddr, reason: &str) -> f64 {
    let text = metrics_text(app, addr).await;
    metric(
        &text,
        "hakanai_connections_cut_total",
        &[("reason", reason)],
    )
}

/// A head dribbled a byte at a time is cut at `--header-read-timeout`, on the API listener and
/// on the separate metrics listener alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dribbled_headers_are_cut_at_the_timeout() {
    let app = spawn_app(Backend::Memory, |c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.metrics_listen_address = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let metrics = app.metrics_addr.unwrap();
    for addr in [app.addr, metrics] {
        let (mut rd, mut wr) = TcpStream::connect(addr).await.unwrap().into_split();
        let dribbler = tokio::spawn(async move {
            for b in b"GET /ready HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().cycle() {
                if wr.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let (got, after) = read_until_closed(&mut rd, Duration::from_secs(10)).await;
        dribbler.abort();
        assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
        assert!(
            after >= Duration::from_millis(900) && after < Duration::from_secs(3),
            "{addr}: cut after {after:?}"
        );
    }
    assert!(cut_count(&app, metrics, "header_timeout").await >= 2.0);

    // A client that connects and sends nothing is cut the same way.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    let (got, after) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    assert!(after >= Duration::from_millis(900), "{after:?}");

    // An honest keep-alive connection that goes idle is closed too, but is no cut.
    let before = cut_count(&app, metrics, "header_timeout").await;
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (got, _) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    assert_eq!(cut_count(&app, metrics, "header_timeout").await, before);
}

/// RELIABILITY.md § A 1 GiB body dribbled: a client that keeps just above `--min-body-rate` is
/// still cut at `--upload-deadline` (408), and the storage it reserved for its declared length
/// is free again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_outlasts_the_upload_deadline_gets_408() {
    let app = spawn_app(Backend::Memory, |c| {
        c.upload_deadline = Duration::from_secs(3);
        c.min_body_rate = 1024;
        c.min_body_rate_grace = Duration::from_secs(1);
        c.upload_size_limit = 2 << 30;
        c.max_stored_bytes = Some(1 << 40);
        c.max_stored_bytes_per_token = 4 << 30;
    })
    .await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/secret HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        app.user_token(),
        1u64 << 30
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut rd, mut wr) = stream.into_split();
    // 1.5 KiB/s: never idle, never below the minimum rate.
    let writer = tokio::spawn(async move {
        while wr.write_all(&[7u8; 150]).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let got = read_head(&mut rd, Duration::from_secs(15)).await;
    let elapsed = started.elapsed();
    writer.abort();
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 408"));
    assert!(
        elapsed >= Duration::from_millis(2900) && elapsed < Duration::from_secs(8),
        "{elapsed:?}"
    );
    assert_eq!(cut_count(&app, app.addr, "body_deadline").await, 1.0);
    assert_eq!(cut_count(&app, app.addr, "body_rate").await, 0.0);
    let text = metrics_text(&app, app.addr).await;
    assert_eq!(metric(&text, "hakanai_stored_bytes", &[]), 0.0);
}

/// A body that stops arriving gets 408 after `--body-idle-timeout`; one that trickles in below
/// `--min-body-rate` gets 408 once the grace period is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_and_dribbled_bodies_get_408() {
    let app = spawn_app(Backend::Memory, |c| {
        c.body_idle_timeout = Duration::from_secs(1);
        c.min_body_rate = 64 * 1024;
        c.min_body_rate_grace = Duration::from_secs(2);
    })
    .await;
    let head = |len: usize| {
        format!(
            "POST /api/v1/secret HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n",
            app.user_token()
        )
    };

    // Stalled: ten bytes of a thousand, then nothing.
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(head(1000).as_bytes()).await.unwrap();
    stream.write_all(&[7u8; 10]).await.unwrap();
    let (got, after) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let (status, headers, body) = parse_response(&got);
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    assert!(
        headers.contains("content-type: application/json"),
        "{headers}"
    );
    assert_eq!(body["error"], "request_timeout");
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(5),
        "{after:?}"
    );

    // Dribbled: 100 bytes every 100 ms (1 KB/s) never stalls for a second, but stays far
    // below 64 KiB/s; it is cut once the 2 s grace period is over.
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(head(1 << 20).as_bytes()).await.unwrap();
    let started = Instant::now();
    let (rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        while wr.write_all(&[7u8; 100]).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut rd = rd;
    let got = read_head(&mut rd, Duration::from_secs(10)).await;
    let elapsed = started.elapsed();
    writer.abort();
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 408"));
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(6),
        "{elapsed:?}"
    );
    assert_eq!(cut_count(&app, app.addr, "body_idle").await, 1.0);
    assert_eq!(cut_count(&app, app.addr, "body_rate").await, 1.0);

    // An honest upload is untouched by either.
    let resp = app
        .client
        .post(app.url("/api/v1/secret"))
        .bearer_auth(app.user_token())
        .header("content-type", "application/octet-stream")
        .body(vec![1u8; 512 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// Over `--max-connections`, a new connection gets 503 with Retry-After at once and is closed;
/// once a place is free, requests are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_get_503() {
    let app = spawn_app(Backend::Memory, |c| {
        c.max_connections = 3;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"GET /ready HTTP/1.1\r\n").await.unwrap();
        held.push(s);
    }
    // The accept loop takes the held connections in order; give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let resp = app.client.get(app.url("/ready")).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "service_unavailable");

    // A raw client sees the same answer, then the close.
    let mut raw = TcpStream::connect(app.addr).await.unwrap();
    raw.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (got, _) = read_until_closed(&mut raw, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 503"));

    // Once a place is free, requests are served again (the server notices closed connections
    // a moment after the client closed them).
    held.pop();
    let mut text = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
        if resp.status() == 200 {
            text = resp.text().await.unwrap();
            break;
        }
    }
    let refused = metric(
        &text,
        "hakanai_connections_cut_total",
        &[("reason", "over_capacity")],
    );
    assert!(refused >= 2.0, "{refused}");
    // The two still held and the scrape's own.
    let open = metric(&text, "hakanai_connections_open", &[]);
    assert_eq!(open, 3.0);
}

/// A 2 MiB body sent at a 64 KiB limit gets its 413, and one sent without a token its 401,
/// as a response rather than a reset, whether or not the length was declared.
async fn refused_uploads_reach_a_client_still_sending(b: Backend) {
    let app = spawn_app(b, |c| c.upload_size_limit = 64 * 1024).await;
    let body = vec![0x42u8; 2 << 20];
    for (token, expected) in [(Some(app.user_token()), 413), (None, 401)] {
        for content_type in ["application/octet-stream", "application/json"] {
            let mut req = app
                .client
                .post(app.url("/api/v1/secret"))
                .header("content-type", content_type)
                .body(body.clone());
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.expect("a response, not a broken pipe");
            assert_eq!(resp.status(), expected, "{content_type}");
            assert!(resp.json::<Value>().await.unwrap()["error"].is_string());
        }

        // Chunked, so the server learns the size only by reading: it answers mid-body.
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "POST /api/v1/secret HTTP/1.1\r\nHost: x\r\n{auth}\
             Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        for piece in body.chunks(64 * 1024) {
            let frame = [
                format!("{:x}\r\n", piece.len()).as_bytes(),
                piece,
                b"\r\n".as_slice(),
            ]
            .concat();
            stream
                .write_all(&frame)
                .await
                .expect("the server keeps reading until the body is sent");
        }
        stream.write_all(b"0\r\n\r\n").await.unwrap();
        let (got, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        let (status, _, body) = parse_response(&got);
        assert!(
            status.starts_with(&format!("HTTP/1.1 {expected}")),
            "{status}"
        );
        assert!(body["error"].is_string());
    }
    // Multi-request uploads: an oversized chunk.
    let resp = app
        .client
        .post(app.url("/api/v1/upload"))
        .bearer_auth(app.user_token())
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let started: Value = resp.json().await.unwrap();
    let resp = app
        .upload_chunk(
            started["id"].as_str().unwrap(),
            started["creator_token"].as_str().unwrap(),
            0,
            body.clone(),
        )
        .await;
    assert_eq!(resp.status(), 413);
}

/// Slow-header connections hold no place an honest client needs: with 200 of them open,
/// creates and reads still succeed, quickly.
async fn honest_requests_pass_while_slow_connections_are_open(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"POST /api/v1/secret HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        let created = app
            .create(
                &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [i as u8]),
                serde_json::json!(null),
            )
            .await;
        assert_eq!(app.get_secret(&created.id).await.status(), 200);
        worst = worst.max(started.elapsed());
    }
    assert!(
        worst < Duration::from_secs(1),
        "slowest create+read {worst:?}"
    );
    let open = metric(
        &metrics_text(&app, app.addr).await,
        "hakanai_connections_open",
        &[],
    );
    assert!(open >= 200.0, "{open}");
    drop(slow);
}

/// `Strict-Transport-Security` only with `--hsts-max-age`, then on pages, API answers and
/// errors alike, beside the other security headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_only_when_configured() {
    let plain = spawn_app(Backend::Memory, |_| {}).await;
    let resp = plain.client.get(plain.url("/ready")).send().await.unwrap();
    assert!(!resp.headers().contains_key("strict-transport-security"));
    assert_eq!(resp.headers()["cross-origin-opener-policy"], "same-origin");

    let app = spawn_app(Backend::Memory, |c| {
        c.hsts_max_age = Some(Duration::from_secs(365 * 86400));
    })
    .await;
    for path in ["/ready", "/", "/api/v1/secret/not-an-id", "/no-such-page"] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        let h = resp.headers();
        assert_eq!(h["strict-transport-security"], "max-age=31536000", "{path}");
        assert_eq!(h["cross-origin-resource-policy"], "same-origin", "{path}");
        assert_eq!(
            h["permissions-policy"],
            hakanai_server::PERMISSIONS_POLICY,
            "{path}"
        );
    }
}

/// A client that stops reading its response is cut after `--body-idle-timeout`, rather than
/// holding the connection (and the response) for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_left_unread_is_cut() {
    let app = spawn_app(Backend::Memory, |c| {
        c.body_idle_timeout = Duration::from_secs(1);
        c.upload_size_limit = 48 << 20;
    })
    .await;
    let resp = app
        .client
        .post(app.url("/api/v1/secret"))
        .bearer_auth(app.user_token())
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; 40 << 20])
        .send()
        .await
        .unwrap();
    let id = crate::helpers::created(resp).await.id;
    // Asks for the 40 MiB and reads nothing: the socket buffers fill, the server's writes stall.
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(format!("GET /api/v1/secret/{id} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cut_count(&app, app.addr, "response_idle").await < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the stalled response was never cut"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // What was sent before the cut is all the client gets.
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
    {
        if n == 0 {
            break;
        }
        got += n;
    }
    assert!(got < 40 << 20, "{got}");
}
