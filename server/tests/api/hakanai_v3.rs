//! Hakanai v3's interface on this server: its passphrase scheme, self-service one-time tokens,
//! and `--trusted-ip-ranges` uploads without a token.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{created, error_code, spawn_app, Backend, TestApp};

both_stores!(
    hakanai_passphrase_scheme_shares_the_attempt_limit,
    one_time_tokens_are_minted_by_token_holders,
    trusted_ranges_upload_without_a_token,
    create_page_and_robots_txt,
);

/// Hakanai v3's `/create` (invite links are `/create#<token>`) is the create page, as `/` is;
/// its `/robots.txt` is served too.
async fn create_page_and_robots_txt(b: Backend) {
    let app = spawn_app(b, |_| {}).await;
    let get = |path: &'static str| {
        let client = app.client.clone();
        let url = app.url(path);
        async move { client.get(url).send().await.unwrap() }
    };
    let create = get("/create").await;
    assert_eq!(create.status(), 200);
    assert!(create.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let create = create.text().await.unwrap();
    assert_eq!(create, get("/").await.text().await.unwrap());

    // Hakanai served a robots.txt too: crawlers stay away from everything but / and /docs.
    let robots = get("/robots.txt").await;
    assert_eq!(robots.status(), 200);
    assert!(robots.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let robots = robots.text().await.unwrap();
    let rules: Vec<&str> = robots.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        rules,
        ["User-agent: *", "Allow: /$", "Allow: /docs$", "Disallow: /"]
    );
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

async fn read_with(app: &TestApp, id: &str, header: &str) -> reqwest::Response {
    app.client
        .get(app.secret_url(id))
        .header("x-secret-passphrase", header)
        .send()
        .await
        .unwrap()
}

/// Hakanai's CLI uploads `hex(SHA-256(passphrase))` and sends the same value to read.
async fn hakanai_passphrase_scheme_shares_the_attempt_limit(b: Backend) {
    let app = spawn_app(b, |c| c.max_passphrase_attempts = 3).await;
    let sent = sha256_hex("correct horse");
    let s = app
        .create(&STANDARD.encode("v3"), json!({"passphrase_hash": sent}))
        .await;
    let resp = app.get_secret(&s.id).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(error_code(resp).await, "passphrase_required");
    let resp = read_with(&app, &s.id, &sha256_hex("wrong")).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["x-passphrase-attempts-remaining"], "2");
    // The stored lock is not the header; sent as one it is just a wrong passphrase.
    let lock = hex::encode(Sha256::digest(sent.as_bytes()));
    let resp = read_with(&app, &s.id, &lock).await;
    assert_eq!(resp.headers()["x-passphrase-attempts-remaining"], "1");
    let resp = read_with(&app, &s.id, &sent).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), STANDARD.encode("v3"));

    // And the limit destroys it the same way as for our clients.
    let s = app
        .create(&STANDARD.encode("v3"), json!({"passphrase_hash": sent}))
        .await;
    for _ in 0..3 {
        read_with(&app, &s.id, "nope").await;
    }
    assert_eq!(read_with(&app, &s.id, &sent).await.status(), 410);
}

async fn mint(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.post(app.url("/api/v1/one-time-token"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn create_with(app: &TestApp, token: Option<&str>, data: &[u8]) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/v1/secret"))
        .json(&json!({"data": STANDARD.encode(data)}));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn one_time_tokens_are_minted_by_token_holders(b: Backend) {
    let app = spawn_app(b, |c| {
        c.one_time_token_ttl = std::time::Duration::from_secs(3600);
    })
    .await;
    let resp = mint(&app, None).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(mint(&app, Some("bogus")).await.status(), 403);

    let (limited, _) = app
        .create_token(json!({"upload_size_limit": 1000, "ttl_seconds": 600}))
        .await;
    let resp = mint(&app, Some(&limited)).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let invite = v["token"].as_str().unwrap().to_owned();

    // It inherits the caller's limit, is one-time, and expires after --one-time-token-ttl.
    let list: Vec<Value> = app
        .client
        .get(app.url("/api/v1/admin/tokens"))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let info = list.iter().find(|t| t["id"] == v["id"]).expect("listed");
    assert_eq!(info["one_time"], true);
    assert_eq!(info["upload_size_limit"], 1000);
    let lifetime = info["expires_at"].as_u64().unwrap() - info["created_at"].as_u64().unwrap();
    assert_eq!(lifetime, 3600);

    // A one-time token cannot mint more, and minting does not use it up.
    let resp = mint(&app, Some(&invite)).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(error_code(resp).await, "invalid_token");
    assert_eq!(
        create_with(&app, Some(&invite), &[7; 2000]).await.status(),
        413
    );
    created(create_with(&app, Some(&invite), b"once").await).await;
    assert_eq!(
        create_with(&app, Some(&invite), b"twice").await.status(),
        403
    );
}

async fn trusted_ranges_upload_without_a_token(b: Backend) {
    // Not anonymous; loopback (where the tests connect from) is trusted.
    let app = spawn_app(b, |c| {
        c.trusted_ip_ranges = vec!["127.0.0.0/8".parse().unwrap()];
        c.upload_size_limit = 64 * 1024;
    })
    .await;
    // Capped at --upload-size-limit, not the anonymous limit (32 KiB by default).
    created(create_with(&app, None, &[1; 40 * 1024]).await).await;
    assert_eq!(create_with(&app, None, &[1; 65 * 1024]).await.status(), 413);
    // A trusted client may mint one-time tokens too (with the server's limit).
    assert_eq!(mint(&app, None).await.status(), 200);

    // Outside the ranges a token is still needed; a forwarded header from an untrusted peer
    // cannot claim a trusted address (the peer is loopback, so narrow the proxies to none).
    let app = spawn_app(b, |c| {
        c.trusted_ip_ranges = vec!["10.0.0.0/8".parse().unwrap()];
        c.trusted_proxies = vec![];
    })
    .await;
    let resp = app
        .client
        .post(app.url("/api/v1/secret"))
        .header("x-forwarded-for", "10.1.2.3")
        .json(&json!({"data": STANDARD.encode("x")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
