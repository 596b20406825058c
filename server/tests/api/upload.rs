//! Multi-request uploads (`/api/v1/upload`), on both stores.

use futures_util::future::join_all;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{error_code, spawn_app, Backend, TestApp};

both_stores!(
    chunks_become_one_secret_read_once,
    retried_and_misplaced_chunks_are_refused,
    chunk_and_upload_limits,
    upload_auth_and_unknown_ids,
    concurrent_chunks_at_one_offset_store_one,
    empty_chunks_are_refused,
    chunks_are_checked_before_their_body_is_read,
    open_uploads_are_capped_per_token_and_address,
    uploads_end_at_their_deadline,
);

struct Opened {
    id: String,
    creator_token: String,
}

async fn start(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/upload"))
        .bearer_auth(app.user_token())
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn open(app: &TestApp, body: Value) -> Opened {
    let resp = start(app, body).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["max_chunk"], 8 * 1024 * 1024);
    assert_eq!(v["idle_timeout"], 600);
    assert_eq!(v["deadline"], 3600);
    Opened {
        id: v["id"].as_str().unwrap().to_owned(),
        creator_token: v["creator_token"].as_str().unwrap().to_owned(),
    }
}

async fn append(app: &TestApp, up: &Opened, offset: u64, chunk: Vec<u8>) -> reqwest::Response {
    app.upload_chunk(&up.id, &up.creator_token, offset, chunk)
        .await
}

async fn finish(app: &TestApp, up: &Opened) -> reqwest::Response {
    app.upload_finish(&up.id, &up.creator_token).await
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8)
        .collect()
}

async fn offset_of(resp: reqwest::Response) -> u64 {
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["offset"].as_u64().unwrap()
}

async fn chunks_become_one_secret_read_once(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let up = open(&app, json!({"expires_in": 120, "size": 3_500_000})).await;
    let chunks = [pattern(2_000_000, 1), pattern(1, 2), pattern(1_499_999, 3)];
    let mut offset = 0;
    for chunk in &chunks {
        // Not readable (nor known) before it is finished.
        assert_eq!(app.get_secret(&up.id).await.status(), 404);
        offset = offset_of(append(&app, &up, offset, chunk.clone()).await).await;
    }
    assert_eq!(offset, 3_500_000);
    // An empty chunk is refused, and changes nothing.
    assert_eq!(append(&app, &up, offset, vec![]).await.status(), 400);

    let resp = finish(&app, &up).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["id"], up.id.as_str());

    let status: Value = app
        .client
        .get(app.url(&format!("/api/v1/secret/{}/status", up.id)))
        .header("x-creator-token", &up.creator_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "pending");

    let resp = app.get_secret(&up.id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), chunks.concat());
    assert_eq!(app.get_secret(&up.id).await.status(), 410);
    // Finished uploads take no more chunks and cannot be finished twice.
    let resp = append(&app, &up, offset, vec![1]).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "not_found");
    assert_eq!(finish(&app, &up).await.status(), 404);
}

async fn retried_and_misplaced_chunks_are_refused(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let up = open(&app, json!({})).await;
    assert_eq!(
        offset_of(append(&app, &up, 0, pattern(1000, 1)).await).await,
        1000
    );
    // The same chunk again (a client retry after a lost response) is not stored twice.
    for wrong in [0, 999, 1001, u64::MAX] {
        let resp = append(&app, &up, wrong, pattern(1000, 1)).await;
        assert_eq!(resp.status(), 409);
        assert_eq!(resp.headers()["upload-offset"], "1000");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"], "upload_offset_mismatch");
        assert!(v["details"].as_str().unwrap().contains("1000"), "{v}");
    }
    for bad in ["", "-1", "ten", "1e3"] {
        let resp = app
            .client
            .patch(app.url(&format!("/api/v1/upload/{}", up.id)))
            .header("x-creator-token", &up.creator_token)
            .header("upload-offset", bad)
            .body(vec![1u8])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "offset {bad:?}");
        assert_eq!(error_code(resp).await, "bad_request");
    }
    assert_eq!(
        offset_of(append(&app, &up, 1000, pattern(24, 2)).await).await,
        1024
    );
    assert_eq!(finish(&app, &up).await.status(), 200);
    let body = app.get_secret(&up.id).await.bytes().await.unwrap();
    assert_eq!(body.to_vec(), [pattern(1000, 1), pattern(24, 2)].concat());
}

async fn chunk_and_upload_limits(b: Backend) {
    let app = spawn_app(b, |c| c.upload_size_limit = 10_000_000).await;
    // Declared too large: refused before anything is stored.
    let resp = start(&app, json!({"size": 10_000_001})).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(error_code(resp).await, "payload_too_large");

    let up = open(&app, json!({})).await;
    // One chunk over the per-request maximum is refused from its Content-Length alone (only the
    // head is sent: the server answers without waiting for the body).
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "PATCH /api/v1/upload/{} HTTP/1.1\r\nHost: {}\r\nX-Creator-Token: {}\r\n\
         Upload-Offset: 0\r\nContent-Length: {}\r\n\r\n",
        up.id,
        app.addr,
        up.creator_token,
        8 * 1024 * 1024 + 1
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; 1024];
    let n = conn.read(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("payload_too_large"), "{reply}");
    drop(conn);
    // The upload survives a refused chunk...
    assert_eq!(
        offset_of(append(&app, &up, 0, vec![7u8; 6_000_000]).await).await,
        6_000_000
    );
    // ...but passing the total limit discards it, so nothing half-written can be published.
    let resp = append(&app, &up, 6_000_000, vec![7u8; 4_000_001]).await;
    assert_eq!(resp.status(), 413);
    let v: Value = resp.json().await.unwrap();
    assert!(v["details"].as_str().unwrap().contains("10000000"), "{v}");
    assert_eq!(append(&app, &up, 6_000_000, vec![1]).await.status(), 404);
    assert_eq!(finish(&app, &up).await.status(), 404);
    assert_eq!(app.get_secret(&up.id).await.status(), 404);

    // Exactly at the limit is fine.
    let up = open(&app, json!({"size": 10_000_000})).await;
    assert_eq!(
        offset_of(append(&app, &up, 0, vec![1u8; 5_000_000]).await).await,
        5_000_000
    );
    let at = append(&app, &up, 5_000_000, vec![2u8; 5_000_000]).await;
    assert_eq!(offset_of(at).await, 10_000_000);
    assert_eq!(finish(&app, &up).await.status(), 200);
    assert_eq!(
        app.get_secret(&up.id).await.bytes().await.unwrap().len(),
        10_000_000
    );

    // TTL and restrictions are validated at the start.
    let resp = start(&app, json!({"expires_in": 0})).await;
    assert_eq!(resp.status(), 400);
    let resp = start(
        &app,
        json!({"restrictions": {"allowed_ips": ["not an ip"]}}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "bad_request");
}

async fn upload_auth_and_unknown_ids(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    // Without a token (anonymous uploads are off by default).
    let resp = app
        .client
        .post(app.url("/api/v1/upload"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Not JSON.
    let resp = app
        .client
        .post(app.url("/api/v1/upload"))
        .bearer_auth(app.user_token())
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let resp = app
        .client
        .post(app.url("/api/v1/upload"))
        .bearer_auth(app.user_token())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let up = open(&app, json!({})).await;
    let stranger = Opened {
        id: up.id.clone(),
        creator_token: "not-the-creator".into(),
    };
    assert_eq!(append(&app, &stranger, 0, vec![1]).await.status(), 403);
    assert_eq!(finish(&app, &stranger).await.status(), 403);
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/upload/{}/finish", up.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let unknown = Opened {
        id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        creator_token: up.creator_token.clone(),
    };
    assert_eq!(append(&app, &unknown, 0, vec![1]).await.status(), 404);
    assert_eq!(finish(&app, &unknown).await.status(), 404);
    let malformed = Opened {
        id: "not-an-id".into(),
        creator_token: up.creator_token.clone(),
    };
    assert_eq!(append(&app, &malformed, 0, vec![1]).await.status(), 400);
    // The stranger's attempts changed nothing.
    assert_eq!(offset_of(append(&app, &up, 0, vec![5]).await).await, 1);
    assert_eq!(finish(&app, &up).await.status(), 200);

    // A one-time token opens exactly one upload.
    let (once, _) = app.create_token(json!({"one_time": true})).await;
    let opens = (0..2).map(|_| {
        app.client
            .post(app.url("/api/v1/upload"))
            .bearer_auth(&once)
            .json(&json!({}))
            .send()
    });
    let mut statuses: Vec<u16> = join_all(opens)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses, [200, 403]);
}

async fn concurrent_chunks_at_one_offset_store_one(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let up = open(&app, json!({})).await;
    let sends = (0..16u32).map(|i| append(&app, &up, 0, pattern(4096, i)));
    let statuses: Vec<u16> = join_all(sends)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );
    assert_eq!(finish(&app, &up).await.status(), 200);
    let body = app.get_secret(&up.id).await.bytes().await.unwrap();
    assert_eq!(body.len(), 4096);
    assert!((0..16).any(|i| body.to_vec() == pattern(4096, i)));
}

/// Empty appends are refused, with or without a declared length, and keep nothing alive.
async fn empty_chunks_are_refused(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let up = open(&app, json!({})).await;
    let resp = append(&app, &up, 0, vec![]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "bad_request");
    // Chunked, so the server finds the body empty only by reading it.
    let empty = futures_util::stream::iter(Vec::<Result<Vec<u8>, std::io::Error>>::new());
    let resp = app
        .upload_chunk(
            &up.id,
            &up.creator_token,
            0,
            reqwest::Body::wrap_stream(empty),
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(offset_of(append(&app, &up, 0, vec![1]).await).await, 1);
}

/// Sends only the head of a PATCH with a large declared body and returns the status line the
/// server answers with before any of the body was sent.
async fn patch_head_only(app: &TestApp, id: &str, creator: &str, offset: u64, len: u64) -> String {
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "PATCH /api/v1/upload/{id} HTTP/1.1\r\nHost: x\r\nX-Creator-Token: {creator}\r\n\
         Upload-Offset: {offset}\r\nContent-Length: {len}\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; 2048];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), conn.read(&mut reply))
        .await
        .expect("an answer before the body")
        .unwrap();
    String::from_utf8_lossy(&reply[..n]).into_owned()
}

/// `PATCH` checks the upload, the offset and the room left before it reads a byte of body.
async fn chunks_are_checked_before_their_body_is_read(b: Backend) {
    let app = spawn_app(b, |c| c.upload_size_limit = 1_000_000).await;
    let up = open(&app, json!({})).await;
    let big = 4 * 1024 * 1024;
    let unknown = patch_head_only(&app, "AAAAAAAAAAAAAAAAAAAAAA", &up.creator_token, 0, big).await;
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    let stranger = patch_head_only(&app, &up.id, "not-the-creator", 0, big).await;
    assert!(stranger.starts_with("HTTP/1.1 403"), "{stranger}");
    assert_eq!(
        offset_of(append(&app, &up, 0, vec![1u8; 600_000]).await).await,
        600_000
    );
    let misplaced = patch_head_only(&app, &up.id, &up.creator_token, 0, big).await;
    assert!(misplaced.starts_with("HTTP/1.1 409"), "{misplaced}");
    // 400,001 bytes would pass the 1,000,000-byte limit: refused from the length alone, and the
    // upload is discarded.
    let over = patch_head_only(&app, &up.id, &up.creator_token, 600_000, 400_001).await;
    assert!(over.starts_with("HTTP/1.1 413"), "{over}");
    assert_eq!(append(&app, &up, 600_000, vec![1]).await.status(), 404);

    // Without a declared length the body is read only up to the room left.
    let up = open(&app, json!({})).await;
    assert_eq!(
        offset_of(append(&app, &up, 0, vec![1u8; 999_000]).await).await,
        999_000
    );
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![2u8; 1000])).collect();
    let resp = app
        .upload_chunk(
            &up.id,
            &up.creator_token,
            999_000,
            reqwest::Body::wrap_stream(futures_util::stream::iter(pieces)),
        )
        .await;
    assert_eq!(resp.status(), 413);
    assert_eq!(finish(&app, &up).await.status(), 404);
}

/// Open uploads are capped per token and, without one, per client address; 429 carries
/// Retry-After, and finishing an upload gives its place back.
async fn open_uploads_are_capped_per_token_and_address(b: Backend) {
    let app = spawn_app(b, |c| {
        c.allow_anonymous = true;
        c.max_open_uploads_per_token = 2;
        c.max_open_uploads_per_address = 3;
    })
    .await;
    let open_with = |token: Option<String>| {
        let mut req = app.client.post(app.url("/api/v1/upload")).json(&json!({}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { req.send().await.unwrap() }
    };
    let opened = |resp: reqwest::Response| async move {
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        Opened {
            id: v["id"].as_str().unwrap().to_owned(),
            creator_token: v["creator_token"].as_str().unwrap().to_owned(),
        }
    };
    let (token, _) = app.create_token(json!({})).await;
    let first = opened(open_with(Some(token.clone())).await).await;
    let _second = opened(open_with(Some(token.clone())).await).await;
    let resp = open_with(Some(token.clone())).await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry), "{retry}");
    assert_eq!(error_code(resp).await, "too_many_requests");
    // Another token has its own places, from the same address.
    let (other, _) = app.create_token(json!({})).await;
    assert_eq!(open_with(Some(other)).await.status(), 200);
    // Finishing one frees its place.
    assert_eq!(offset_of(append(&app, &first, 0, vec![1]).await).await, 1);
    assert_eq!(finish(&app, &first).await.status(), 200);
    assert_eq!(open_with(Some(token.clone())).await.status(), 200);
    assert_eq!(open_with(Some(token)).await.status(), 429);

    // Without a token: three per address, whatever the tokens hold.
    for _ in 0..3 {
        assert_eq!(open_with(None).await.status(), 200);
    }
    let resp = open_with(None).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    // A one-time token is spent only by an upload that opens.
    let (once, _) = app.create_token(json!({"one_time": true})).await;
    assert_eq!(open_with(Some(once.clone())).await.status(), 200);
    assert_eq!(open_with(Some(once)).await.status(), 403);
}

/// An upload ends at its deadline however active it is, and its place is free again.
async fn uploads_end_at_their_deadline(b: Backend) {
    let app = spawn_app(b, |c| {
        c.upload_deadline = std::time::Duration::from_secs(2);
        c.max_open_uploads_per_token = 1;
    })
    .await;
    let resp = start(&app, json!({})).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["deadline"], 2);
    let up = Opened {
        id: v["id"].as_str().unwrap().to_owned(),
        creator_token: v["creator_token"].as_str().unwrap().to_owned(),
    };
    assert_eq!(start(&app, json!({})).await.status(), 429);
    let mut offset = 0;
    // Busy the whole time: a chunk every 300 ms.
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(1700) {
        offset = offset_of(append(&app, &up, offset, vec![1u8; 100]).await).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(2100).saturating_sub(started.elapsed()))
        .await;
    assert_eq!(append(&app, &up, offset, vec![1]).await.status(), 404);
    assert_eq!(finish(&app, &up).await.status(), 404);
    assert_eq!(start(&app, json!({})).await.status(), 200);
}
