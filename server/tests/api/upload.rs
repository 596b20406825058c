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
    // An empty chunk is harmless.
    assert_eq!(
        offset_of(append(&app, &up, offset, vec![]).await).await,
        offset
    );

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
