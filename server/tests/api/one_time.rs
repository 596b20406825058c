//! One-time tokens are spent before any body reaches the store, on every create path.

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{error_code, spawn_app, Backend};

both_stores!(
    raw_upload_spends_its_one_time_token_before_the_body,
    concurrent_raw_uploads_with_one_token_store_one_body,
);

const LIMIT: u64 = 64 * 1024;

async fn raw_upload_spends_its_one_time_token_before_the_body(b: Backend) {
    let app = spawn_app(b, |c| c.upload_size_limit = LIMIT).await;
    let (token, _) = app.create_token(json!({"one_time": true})).await;
    let raw = |body: Vec<u8>| {
        app.client
            .post(app.url("/api/v1/secret"))
            .bearer_auth(&token)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    // Refused halfway (over the limit): the token was spent when the body began.
    let resp = raw(vec![7; 2 * LIMIT as usize]).await.unwrap();
    assert_eq!(resp.status(), 413);
    let resp = raw(b"small".to_vec()).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "invalid_token");
}

async fn concurrent_raw_uploads_with_one_token_store_one_body(b: Backend) {
    let app = spawn_app(b, |c| c.upload_size_limit = LIMIT).await;
    let (token, _) = app.create_token(json!({"one_time": true})).await;
    let uploads = (0..10).map(|i| {
        let (client, url, token) = (app.client.clone(), app.url("/api/v1/secret"), token.clone());
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/octet-stream")
                .body(vec![i as u8; 32 * 1024])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let statuses: Vec<u16> = join_all(uploads)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        9,
        "{statuses:?}"
    );
}
